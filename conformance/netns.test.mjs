// Relay scenarios: peers that cannot reach each other, only the server, connect through the
// embedded TURN server. Three network namespaces, created here and removed afterwards:
//
//   peer-relay-a (10.210.1.2) ── veth ── peer-relay-s (10.210.1.1, 10.210.2.1) ── veth ── peer-relay-b (10.210.2.2)
//
// The server namespace runs peer-server (signaling on 9000; TURN on port 3478 of both its
// addresses, announcing 10.210.1.1, which b reaches through the server's other link) and
// forwards nothing, so a and b each reach the server and nothing else. Rust
// peers are the interop agent (`ip netns exec`), the browser is Debian's Chromium run inside b.
// `[turn] relay_allow` lets relays reach 10.210.1.1 (the other side's relay) and nothing else
// private, so a relay towards a peer's own address (10.210.2.2) is refused.
//
// Run by `cargo xtask conformance` (which sets the environment below); needs root (ip netns).
//   PEER_SERVER_BIN   the peer-server binary
//   PEER_AGENT_BIN    the interop agent (crates/peer-harness/src/bin/interop-agent)
//   CHROMIUM_PATH     browser binary (default /usr/bin/chromium)

import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './browser.mjs';
import { RustAgent } from './rust-agent.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER_BIN = process.env.PEER_SERVER_BIN;
const AGENT_BIN = process.env.PEER_AGENT_BIN;

const NS = { server: 'peer-relay-s', a: 'peer-relay-a', b: 'peer-relay-b' };
/** Per side: the server's address on that side's link, and the peer's. */
const NET = {
  a: { server: '10.210.1.1', peer: '10.210.1.2' },
  b: { server: '10.210.2.1', peer: '10.210.2.2' },
};
const PORT = 9000;
const TURN_PORT = 3478;
const KEY = '11111111-2222-3333-4444-555555555555';
const TURN_SECRET = 'netns-relay-turn-secret';
const T90 = { timeout: 90_000 };

const RUN = Math.random().toString(36).slice(2, 8);
let counter = 0;
const uid = (name) => `${name}-${RUN}${(counter++).toString(36)}`;
const short = (x) => JSON.stringify(x).slice(0, 300);
const VP8 = {
  codec: 'VP8',
  file: path.resolve(here, '../crates/peer-media/tests/fixtures/testsrc-vp8.ivf'),
};
const OPUS = { codec: 'opus', file: path.resolve(here, '../crates/peer-media/tests/fixtures/sine.ogg') };

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function removeNamespaces() {
  for (const ns of Object.values(NS)) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // not there
    }
  }
}

function createNamespaces() {
  removeNamespaces();
  for (const ns of Object.values(NS)) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  for (const side of ['a', 'b']) {
    const [outer, inner] = [`prs-${side}`, `pr-${side}`];
    ip('-n', NS.server, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', NS[side]);
    ip('-n', NS.server, 'addr', 'add', `${NET[side].server}/24`, 'dev', outer);
    ip('-n', NS.server, 'link', 'set', outer, 'up');
    ip('-n', NS[side], 'addr', 'add', `${NET[side].peer}/24`, 'dev', inner);
    ip('-n', NS[side], 'link', 'set', inner, 'up');
    ip('-n', NS[side], 'route', 'add', 'default', 'via', NET[side].server);
  }
  // A fresh namespace forwards nothing; say so rather than assume it.
  const forward = execFileSync('ip', ['netns', 'exec', NS.server, 'cat', '/proc/sys/net/ipv4/ip_forward'])
    .toString()
    .trim();
  assert.equal(forward, '0', 'the server namespace must not route between the peers');
}

/** A TURN REST credential for `peerId`, as an app's backend would issue it (README). */
function turnCredential(peerId, ttl = 3600, secret = TURN_SECRET) {
  const username = `${Math.floor(Date.now() / 1000) + ttl}:${KEY}$${peerId}`;
  const credential = crypto.createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/** The TURN entry of `config.iceServers` for a browser in b. */
function iceServer(cred) {
  const host = NET.a.server;
  return {
    urls: [`turn:${host}:${TURN_PORT}?transport=udp`, `turn:${host}:${TURN_PORT}?transport=tcp`],
    ...cred,
  };
}

/** Starts a process and resolves with it once its stdout printed a line matching `ready`. */
function startUntil(program, args, ready, what, ms = 30000) {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready in ${ms} ms: ${stderr}`)), ms);
    child.on('exit', (code) => reject(new Error(`${what} exited (${code}): ${stderr}`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (ready.test(line)) {
        clearTimeout(timer);
        resolve({ child, line, stderr: () => stderr });
      }
    });
  });
}

async function stop(child) {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

/** The local ports of every UDP socket in namespace `ns` (only the agent's run there). */
function udpPorts(ns) {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'ss', '-Huan']).toString();
  const ports = new Set();
  for (const line of out.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const port = Number(local?.slice(local.lastIndexOf(':') + 1));
    if (port > 0) ports.add(port);
  }
  return [...ports];
}

/** Rule priority of the blackholes below. */
const BLACKHOLE_PREF = '100';

/**
 * Breaks the paths in use, both ways: every UDP socket open in `ns` now can neither send nor
 * receive (policy routing blackholes by source and destination port, ahead of the local table,
 * which moves behind them), while TCP (signaling) and sockets opened later (an ICE restart
 * gathers on new ones) go through. Without a restart the connections could not recover.
 */
function blackholeCurrentUdp(ns) {
  const ports = udpPorts(ns);
  assert.ok(ports.length > 0, 'the agent has UDP sockets');
  ip('-n', ns, 'rule', 'add', 'pref', '1000', 'lookup', 'local');
  ip('-n', ns, 'rule', 'del', 'pref', '0', 'lookup', 'local');
  for (const port of ports) {
    for (const dir of ['sport', 'dport']) {
      ip('-n', ns, 'rule', 'add', 'pref', BLACKHOLE_PREF, 'ipproto', 'udp', dir, String(port), 'blackhole');
    }
  }
  return ports.length;
}

function clearBlackholes(ns) {
  for (;;) {
    try {
      execFileSync('ip', ['-n', ns, 'rule', 'del', 'pref', BLACKHOLE_PREF], { stdio: 'ignore' });
    } catch {
      break;
    }
  }
  try {
    ip('-n', ns, 'rule', 'add', 'pref', '0', 'lookup', 'local');
    ip('-n', ns, 'rule', 'del', 'pref', '1000', 'lookup', 'local');
  } catch {
    // never moved
  }
}

/** The agent's `ice` report for `conn`. */
async function iceReport(a, conn) {
  const from = a.events.length;
  a.command({ cmd: 'ice', conn });
  return a.waitFor((e) => e.event === 'ice' && e.conn === conn, `ice report of ${conn}`, 5000, from);
}

let server;
let pageServer;
let pageUrl;
let browser;
let configPath;
let chromiumWrapper;
const agents = [];

/** An interop agent as `id` in namespace `side`, open. */
async function agent(side, id, args = []) {
  const a = new RustAgent(AGENT_BIN, {
    port: PORT,
    key: KEY,
    id,
    host: NET[side].server,
    netns: NS[side],
    args,
  });
  agents.push(a);
  await a.waitFor((e) => e.event === 'open' || e.event === 'error', `${id} open`);
  assert.equal(a.events.find((e) => e.event === 'open')?.id, id, short(a.events));
  return a;
}

/** The first `media-stats` of `conn` and `kind` with at least `n` packets. */
const mediaStats = (a, conn, kind, n, what) =>
  a.waitFor(
    (e) => e.event === 'media-stats' && e.conn === conn && e.kind === kind && e.packets >= n,
    what,
    30000,
  );

const skip = (!SERVER_BIN || !AGENT_BIN) && 'PEER_SERVER_BIN and PEER_AGENT_BIN are not set';

describe('relay through TURN between network namespaces', { skip }, () => {
  before(async () => {
    createNamespaces();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-relay-'));
    configPath = path.join(tmp, 'peer-server.toml');
    fs.writeFileSync(
      configPath,
      `listen = "0.0.0.0:${PORT}"

[[apps]]
key = "${KEY}"
secret = "netns-relay-app-secret"

[turn]
listen = "0.0.0.0:${TURN_PORT}"
secret = "${TURN_SECRET}"
public_ip = "${NET.a.server}"
relay_allow = ["${NET.a.server}/32"]
`,
    );
    server = await startUntil(
      'ip',
      ['netns', 'exec', NS.server, SERVER_BIN, '--config', configPath],
      /listening on/,
      'peer-server',
    );
    pageServer = await startUntil(
      'ip',
      ['netns', 'exec', NS.b, process.execPath, path.join(here, 'serve-page.mjs')],
      /^http:/,
      'the page server',
    );
    pageUrl = pageServer.line.trim();
    chromiumWrapper = path.join(tmp, 'chromium-in-b');
    fs.writeFileSync(chromiumWrapper, `#!/bin/sh\nexec ip netns exec ${NS.b} ${CHROMIUM} "$@"\n`, {
      mode: 0o755,
    });
    browser = await chromium.launch({
      executablePath: chromiumWrapper,
      // Real addresses in candidates (not mDNS names), so the refused-range case is meaningful.
      args: [...CHROMIUM_ARGS, '--disable-features=WebRtcHideLocalIpsWithMdns'],
    });
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await browser?.close().catch(() => {});
    await stop(pageServer?.child);
    await stop(server?.child);
    removeNamespaces();
    if (configPath) fs.rmSync(path.dirname(configPath), { recursive: true, force: true });
  });

  afterEach(async () => {
    while (agents.length) await agents.pop().stop();
  });

  async function newPage() {
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.log(`    [browser pageerror] ${err.message}`));
    await page.goto(pageUrl);
    return page;
  }

  it('without TURN, peers in a and b cannot connect (no route between them)', T90, async () => {
    const a = await agent('a', uid('noturn-a'), ['--no-turn']);
    const bId = uid('noturn-b');
    await agent('b', bId, ['--no-turn']);
    a.command({ cmd: 'connect', peer: bId, conn: 'dc_direct', serialization: 'binary' });
    await assert.rejects(
      a.waitFor((e) => e.event === 'conn-open', 'a direct connection', 15000),
      /timed out/,
      'a and b must not reach each other directly',
    );
  });

  it('Rust in a and Rust in b: data and media through the relay', T90, async () => {
    const a = await agent('a', uid('rust-a'));
    const bId = uid('rust-b');
    const b = await agent('b', bId);
    a.command({ cmd: 'connect', peer: bId, conn: 'dc_relay', serialization: 'binary' });
    await a.waitFor((e) => e.event === 'conn-open' && e.conn === 'dc_relay', 'data connection open', 30000);
    a.command({ cmd: 'send', conn: 'dc_relay', data: { kind: 'text', value: 'through the relay' } });
    a.command({ cmd: 'send', conn: 'dc_relay', data: { kind: 'bytes', length: 1 << 20 } });
    const echoes = async () => {
      await a.waitFor(
        (e) => e.event === 'data' && e.data.kind === 'bytes' && e.data.length === 1 << 20,
        '1 MiB echoed',
        30000,
      );
      return a.events.filter((e) => e.event === 'data').map((e) => e.data);
    };
    assert.deepEqual(await echoes(), [
      { kind: 'text', value: 'through the relay' },
      { kind: 'bytes', length: 1 << 20, firstBad: -1 },
    ]);
    a.command({ cmd: 'call', peer: bId, conn: 'mc_relay', video: VP8, audio: OPUS });
    await b.waitFor((e) => e.event === 'call' && e.conn === 'mc_relay', 'the call');
    b.command({ cmd: 'answer', conn: 'mc_relay', video: VP8, audio: OPUS });
    await mediaStats(b, 'mc_relay', 'video', 60, 'video a -> b');
    await mediaStats(b, 'mc_relay', 'audio', 60, 'audio a -> b');
    await mediaStats(a, 'mc_relay', 'video', 60, 'video b -> a');
    await mediaStats(a, 'mc_relay', 'audio', 60, 'audio b -> a');
  });

  it('browser in b and Rust in a: data and media through the relay', T90, async () => {
    const rustId = uid('rust');
    const rust = await agent('a', rustId);
    const page = await newPage();
    const bid = uid('browser');
    const started = await page.evaluate(
      async ({ bid, rustId, key, host, port, iceServer }) => {
        const wait = (emitter, ev, what, ms = 30000) =>
          new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
            emitter.once(ev, (x) => (clearTimeout(t), resolve(x)));
          });
        const until = async (cond, what, ms = 30000) => {
          const end = Date.now() + ms;
          while (!cond()) {
            if (Date.now() > end) throw new Error(`timed out: ${what}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        };
        // The app passes the TURN credential its backend issued (README, first way).
        const peer = new Peer(bid, {
          key,
          host,
          port,
          secure: false,
          turn: false,
          config: { iceServers: [iceServer] },
          debug: 1,
        });
        await wait(peer, 'open', 'browser peer open');
        const conn = peer.connect(rustId, { serialization: 'binary' });
        await wait(conn, 'open', 'data connection open');
        const got = [];
        conn.on('data', (d) => got.push(d));
        conn.send('from the browser');
        const bytes = new Uint8Array(256 * 1024).map((_, i) => (i * 7 + (i >> 8) + 3) & 0xff);
        conn.send(bytes.buffer);
        await until(() => got.length >= 2, 'the echoes');
        const echoedBytes = new Uint8Array(got[1]);
        const bytesOk = echoedBytes.length === bytes.length && echoedBytes.every((v, i) => v === bytes[i]);
        // The pair the data connection uses: relayed on this side.
        let localType = null;
        const stats = await conn.getPeerConnection().getStats();
        stats.forEach((r) => {
          if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.nominated) {
            localType = stats.get(r.localCandidateId)?.candidateType ?? localType;
          }
        });
        const local = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
        window.call = peer.call(rustId, local);
        return { text: got[0], bytesOk, localType, conn: conn.id, call: window.call.id };
      },
      {
        bid,
        rustId,
        key: KEY,
        host: NET.b.server,
        port: PORT,
        iceServer: iceServer(turnCredential(bid)),
      },
    );
    assert.equal(started.text, 'from the browser');
    assert.equal(started.bytesOk, true, '256 KiB echoed intact');
    assert.equal(started.localType, 'relay', 'the browser side of the pair is its relay');
    await rust.waitFor((e) => e.event === 'call' && e.conn === started.call, 'the call');
    rust.command({ cmd: 'answer', conn: started.call, video: VP8, audio: OPUS });
    await mediaStats(rust, started.call, 'video', 60, 'browser video at Rust');
    await mediaStats(rust, started.call, 'audio', 60, 'browser audio at Rust');
    const inbound = await page.evaluate(async () => {
      const end = Date.now() + 30000;
      for (;;) {
        const out = {};
        const pc = window.call.getPeerConnection();
        if (pc) {
          (await pc.getStats()).forEach((r) => {
            if (r.type === 'inbound-rtp') out[r.kind] = Math.max(out[r.kind] ?? 0, r.packetsReceived ?? 0);
          });
        }
        if ((out.video ?? 0) >= 60 && (out.audio ?? 0) >= 60) return out;
        if (Date.now() > end) return out;
        await new Promise((r) => setTimeout(r, 250));
      }
    });
    assert.ok(inbound.video >= 60 && inbound.audio >= 60, `Rust media at the browser: ${short(inbound)}`);
    await page.close();
  });

  it('ICE restart repairs a broken path between Rust peers (data and media)', T90, async () => {
    const a = await agent('a', uid('restart-a'));
    const bId = uid('restart-b');
    const b = await agent('b', bId);
    a.command({ cmd: 'connect', peer: bId, conn: 'dc_restart', serialization: 'binary' });
    await a.waitFor((e) => e.event === 'conn-open' && e.conn === 'dc_restart', 'data connection open', 30000);
    a.command({ cmd: 'call', peer: bId, conn: 'mc_restart', video: VP8 });
    await b.waitFor((e) => e.event === 'call' && e.conn === 'mc_restart', 'the call');
    b.command({ cmd: 'answer', conn: 'mc_restart', video: VP8 });
    await mediaStats(b, 'mc_restart', 'video', 30, 'video before the break');
    try {
      blackholeCurrentUdp(NS.a);
      // ICE notices (5 s), the Peer finds b online and restarts ICE on new sockets.
      const before = b.events.filter((e) => e.event === 'media-stats').at(-1).packets;
      await mediaStats(b, 'mc_restart', 'video', before + 60, 'video after the ICE restart');
      const from = a.events.length;
      a.command({ cmd: 'send', conn: 'dc_restart', data: { kind: 'text', value: 'after the restart' } });
      await a.waitFor(
        (e) => e.event === 'data' && e.data.value === 'after the restart',
        'echo after the ICE restart',
        30000,
        from,
      );
      for (const conn of ['dc_restart', 'mc_restart']) {
        const r = await iceReport(a, conn);
        assert.ok(r.restarts >= 1, `${conn} was repaired by an ICE restart: ${short(r)}`);
        assert.equal(r.troubled, false, `${conn} is fine again`);
      }
      assert.ok(!a.events.some((e) => e.event === 'close'), 'nothing closed');
    } finally {
      clearBlackholes(NS.a);
    }
  });

  it('ICE restart from Rust repairs a connection with a browser (the SDK accepts the offer)', T90, async () => {
    const rustId = uid('restart-rust');
    const rust = await agent('a', rustId);
    const page = await newPage();
    const bid = uid('restart-browser');
    await page.evaluate(
      async ({ bid, key, host, port, iceServer }) => {
        window.peer = new Peer(bid, { key, host, port, secure: false, turn: false, config: { iceServers: [iceServer] }, debug: 1 });
        window.got = [];
        window.closedIds = [];
        window.peer.on('connection', (c) => {
          window.conn = c;
          c.on('data', (d) => window.got.push(d));
          c.on('close', () => window.closedIds.push(c.id));
        });
        window.peer.on('call', async (call) => {
          window.call = call;
          call.on('close', () => window.closedIds.push(call.id));
          call.answer(await navigator.mediaDevices.getUserMedia({ video: true }));
        });
        await new Promise((resolve, reject) => {
          window.peer.once('open', resolve);
          window.peer.once('error', (e) => reject(new Error(e.message)));
        });
      },
      { bid, key: KEY, host: NET.b.server, port: PORT, iceServer: iceServer(turnCredential(bid)) },
    );
    rust.command({ cmd: 'connect', peer: bid, conn: 'dc_rb', serialization: 'binary' });
    await rust.waitFor((e) => e.event === 'conn-open' && e.conn === 'dc_rb', 'data connection open', 30000);
    rust.command({ cmd: 'call', peer: bid, conn: 'mc_rb', video: VP8 });
    await mediaStats(rust, 'mc_rb', 'video', 30, 'browser video before the break');
    const packets = () =>
      page.evaluate(async () => {
        const pc = window.call?.getPeerConnection();
        let n = 0;
        if (pc) (await pc.getStats()).forEach((r) => r.type === 'inbound-rtp' && (n = Math.max(n, r.packetsReceived ?? 0)));
        return n;
      });
    try {
      blackholeCurrentUdp(NS.a);
      const base = await packets();
      const before = rust.events.filter((e) => e.event === 'media-stats').at(-1).packets;
      await mediaStats(rust, 'mc_rb', 'video', before + 60, 'browser video after the ICE restart');
      rust.command({ cmd: 'send', conn: 'dc_rb', data: { kind: 'text', value: 'after the restart' } });
      const r = await page.evaluate(async () => {
        const end = Date.now() + 30000;
        while (!window.got.includes('after the restart') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        return { got: window.got, closed: window.closedIds };
      });
      assert.ok(r.got.includes('after the restart'), `the browser got data after the restart: ${short(r)}`);
      assert.deepEqual(r.closed, [], `the browser closed nothing: ${short(r)}`);
      let after = await packets();
      for (let i = 0; i < 60 && after < base + 60; i++) {
        await new Promise((r) => setTimeout(r, 250));
        after = await packets();
      }
      assert.ok(after >= base + 60, `Rust video reaches the browser again: ${base} -> ${after}`);
      for (const conn of ['dc_rb', 'mc_rb']) {
        const rep = await iceReport(rust, conn);
        assert.ok(rep.restarts >= 1, `${conn} was repaired by an ICE restart: ${short(rep)}`);
      }
    } finally {
      clearBlackholes(NS.a);
      await page.close();
    }
  });

  it('TURN gives relay candidates for a valid credential only; a refused range gets no relay', T90, async () => {
    const page = await newPage();
    const good = iceServer(turnCredential('gatherer'));
    const wrong = { ...iceServer(turnCredential('gatherer')), credential: 'd3Jvbmc=' };
    const expired = iceServer(turnCredential('gatherer', -60));
    const r = await page.evaluate(
      async ({ good, wrong, expired }) => {
        const until = async (cond, ms) => {
          const end = Date.now() + ms;
          while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
          return cond();
        };
        // Real host addresses in candidates (granted media makes Chromium show them).
        (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((t) => t.stop());
        const relays = async (server) => {
          const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: 'relay' });
          pc.createDataChannel('probe');
          const found = [];
          pc.onicecandidate = (e) => e.candidate && found.push(e.candidate.candidate);
          await pc.setLocalDescription(await pc.createOffer());
          await until(() => pc.iceGatheringState === 'complete', 20000);
          pc.close();
          return found.filter((c) => / typ relay /.test(c)).length;
        };
        // Two connections in this page, exchanging descriptions and candidates directly.
        const pair = async (configA, configB, ms) => {
          const [x, y] = [new RTCPeerConnection(configA), new RTCPeerConnection(configB)];
          const candidates = [];
          x.onicecandidate = (e) => e.candidate && y.addIceCandidate(e.candidate).catch(() => {});
          y.onicecandidate = (e) => {
            if (e.candidate) {
              candidates.push(e.candidate.candidate);
              x.addIceCandidate(e.candidate).catch(() => {});
            }
          };
          x.createDataChannel('pair');
          await x.setLocalDescription(await x.createOffer());
          await y.setRemoteDescription(x.localDescription);
          await y.setLocalDescription(await y.createAnswer());
          await x.setRemoteDescription(y.localDescription);
          const ok = await until(() => ['connected', 'completed'].includes(x.iceConnectionState), ms);
          const state = x.iceConnectionState;
          x.close();
          y.close();
          return { ok, state, candidates };
        };
        const relayOnly = { iceServers: [good], iceTransportPolicy: 'relay' };
        const timed = async (f) => {
          const t0 = performance.now();
          const value = await f();
          return { value, ms: Math.round(performance.now() - t0) };
        };
        const [g, w, e, rr, rh] = await Promise.all([
          timed(() => relays(good)),
          timed(() => relays(wrong)),
          timed(() => relays(expired)),
          // Relay to relay: both relays sit at the allowed 10.210.1.1.
          timed(() => pair(relayOnly, relayOnly, 20000)),
          // Relay to a host address in 10.210.2.0/24: private and not allowed, so the relay
          // gets no permission for it and nothing connects.
          timed(() => pair(relayOnly, { iceServers: [] }, 10000)),
        ]);
        return {
          good: g.value,
          wrong: w.value,
          expired: e.value,
          relayToRelay: rr.value,
          relayToHost: rh.value,
          ms: [g.ms, w.ms, e.ms, rr.ms, rh.ms],
        };
      },
      { good, wrong, expired },
    );
    if (process.env.CONFORMANCE_VERBOSE) console.log(`    gathering and pairing took ${r.ms} ms`);
    assert.ok(r.good > 0, `relay candidates with a valid credential: ${short(r)}`);
    assert.equal(r.wrong, 0, 'no relay candidate with a wrong password');
    assert.equal(r.expired, 0, 'no relay candidate with an expired username');
    assert.equal(r.relayToRelay.ok, true, `relay to relay connects: ${short(r.relayToRelay)}`);
    assert.ok(
      r.relayToHost.candidates.some((c) => c.includes(NET.b.peer)),
      `the host side offered its real address: ${short(r.relayToHost.candidates)}`,
    );
    assert.equal(r.relayToHost.ok, false, `relay to a refused range must not connect: ${short(r.relayToHost)}`);
    await page.close();
  });
});
