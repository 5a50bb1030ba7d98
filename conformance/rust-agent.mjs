// The Rust side of the interop scenarios: spawns the `interop-agent` binary of the
// `peer-harness` crate (a Rust Peer driven by JSON lines; see crates/peer-harness/src/bin/interop-agent.rs) and
// collects the events it prints.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';

export class RustAgent {
  /**
   * Starts the agent binary `bin` as peer `id` on the server at `host` (default 127.0.0.1):`port`;
   * inside network namespace `netns` when given (`ip netns exec`), with `args` appended.
   */
  constructor(bin, { port, key, id, host, netns, args = [] }) {
    this.events = [];
    this.waiters = [];
    this.stderr = '';
    const argv = ['--port', String(port), '--key', key, '--id', id, ...args];
    if (host) argv.push('--host', host);
    const [program, programArgs] = netns
      ? ['ip', ['netns', 'exec', netns, bin, ...argv]]
      : [bin, argv];
    this.child = spawn(program, programArgs, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    });
    // AGENT_LOG_DIR: keep each agent's whole log there as ID.log (RUST_LOG sets what it logs).
    const logFile = process.env.AGENT_LOG_DIR ? `${process.env.AGENT_LOG_DIR}/${id}.log` : null;
    this.child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
      if (logFile) fs.appendFileSync(logFile, d);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', resolve));
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        ev = { event: 'unparsed', line };
      }
      if (process.env.CONFORMANCE_VERBOSE) console.log(`    [rust] ${line.slice(0, 300)}`);
      this.events.push(ev);
      this.waiters = this.waiters.filter((w) => !w());
    });
  }

  /** Sends one command. */
  command(cmd) {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Resolves with the first event (from index `from`) matching `pred`, or rejects after `ms`. */
  waitFor(pred, what, ms = 20000, from = 0) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.slice(from).find(pred);
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        const errors = this.events.filter((e) => e.event === 'error');
        reject(
          new Error(
            `timed out after ${ms} ms waiting for the Rust peer: ${what}; errors: ` +
              `${JSON.stringify(errors)}; stderr: ${this.stderr.slice(-800)}`,
          ),
        );
      }, ms);
      if (!check()) this.waiters.push(check);
    });
  }

  /** Kills the process. */
  async stop() {
    if (this.child.exitCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
