// The Chromium anchor of `cargo xtask bench room`: mesh rooms of N members, each member the
// unmodified skyway-js@4.4.5 in its own headless Chromium (Debian's /usr/bin/chromium, launched
// with the flags of conformance/browser.mjs), so that each member's CPU time and memory can be
// read from its own process tree in /proc.
//
// Each member sends its fake camera (getUserMedia constrained to 320x240 at 30 fps, the size and
// rate of the VP8 file the Rust members send) and no audio. For each size N and each round, all
// members call `peer.joinRoom(room, {mode: 'mesh', stream})` at once; a member's time is from
// that call until video RTP from each of the other N - 1 members has arrived (`inbound-rtp`
// `packetsReceived > 0` on one of its calls with that member, polled every 10 ms), as the Rust members
// count it (a remote track with its first packet). After the last round, and 2 s of warm-up,
// each browser's CPU time (all processes of its tree, from /proc/<pid>/stat) is read over
// BENCH_SECONDS, and its memory at the end (sum of RSS, and of PSS from smaps_rollup, which
// counts pages shared between Chromium's processes once).
//
// Prints one JSON object per size on stdout:
//   {"case":"chromium","size":N,"times":[ms...],"incomplete":K,"cpu":[% of a core per member],
//    "rss_mib":[...],"pss_mib":[...],"pps":[video packets received per second per member]}
// Progress and browser errors go to stderr.
//
// Uses `playwright-core` and `skyway-js` from conformance/node_modules.
//
// Environment: PEER_SERVER_PORT (required), BENCH_KEY, BENCH_SIZES (2,3), BENCH_ROUNDS (5),
// BENCH_SECONDS (10), CHROMIUM_PATH (/usr/bin/chromium).

import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { launchChromiumProcess, serveSdkPage } from '../conformance/browser.mjs';

const PORT = Number(process.env.PEER_SERVER_PORT);
const KEY = process.env.BENCH_KEY ?? '11111111-2222-3333-4444-555555555555';
const SIZES = (process.env.BENCH_SIZES ?? '2,3').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const FLOWING_TIMEOUT_MS = 60000;

if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('PEER_SERVER_PORT must be the port of a running peer-server');
  process.exit(2);
}

const PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>bench room</title>' +
  '<script src="/skyway.js"></script></head><body></body></html>';

const TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const RUN = Math.random().toString(36).slice(2, 8);

/** Every process below `root` (itself included), from the parent ids in /proc. */
function tree(root) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(d));
  }
  const out = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU ticks (user + system) of the processes `pids` (gone ones count 0). */
function ticks(pids) {
  let t = 0;
  for (const p of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return t;
}

/** Sum of a `kB` field (`VmRSS:` in status, `Pss:` in smaps_rollup) over `pids`, in MiB. */
function sumKib(pids, file, field) {
  let kib = 0;
  for (const p of pids) {
    try {
      const line = fs
        .readFileSync(`/proc/${p}/${file}`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(field));
      if (line) kib += Number(line.slice(field.length).trim().split(/\s+/)[0]);
    } catch {}
  }
  return kib / 1024;
}

/** Runs in the page: opens the Peer and the camera; installs `join`, `leave`, `packets`. */
async function setup({ port, key, id }) {
  const opts = { key, host: '127.0.0.1', port, secure: false, turn: false, config: { iceServers: [] }, debug: 1 };
  const peer = await new Promise((resolve, reject) => {
    const p = new Peer(id, opts);
    const timer = setTimeout(() => reject(new Error(`peer ${id} did not open`)), 20000);
    p.on('open', () => {
      clearTimeout(timer);
      resolve(p);
    });
    p.on('error', (e) => console.error(`peer ${id}: ${e.type}: ${e.message}`));
  });
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 320, height: 240, frameRate: 30 },
    audio: false,
  });
  window.B = { peer, stream, room: null };
  /** Video packets received on `pc` (0 before any). */
  const videoPackets = async (pc) => {
    let n = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') n = Math.max(n, r.packetsReceived ?? 0);
    });
    return n;
  };
  // Every call of the room per member. When two members join at once, both call each other and
  // the SDK answers only one of the calls (its glare rule), leaving the other unanswered in
  // `room.connections`; `room.getPeerConnections()` gives the first call, which may be that one.
  const peerConnections = (room) => {
    const out = {};
    for (const [remote, conns] of Object.entries(room.connections)) {
      out[remote] = conns.map((c) => c.getPeerConnection()).filter((pc) => pc);
    }
    return out;
  };
  window.join = async (name, size, timeoutMs) => {
    const t0 = performance.now();
    const room = B.peer.joinRoom(name, { mode: 'mesh', stream: B.stream });
    B.room = room;
    room.on('error', (e) => console.error(`room ${name}: ${e.type}: ${e.message}`));
    const flowing = new Set();
    while (flowing.size < size - 1) {
      if (performance.now() - t0 > timeoutMs) return { ms: null, have: flowing.size };
      for (const [remote, pcs] of Object.entries(peerConnections(room))) {
        for (const pc of pcs) {
          if (!flowing.has(remote) && (await videoPackets(pc)) > 0) flowing.add(remote);
        }
      }
      if (flowing.size < size - 1) await new Promise((r) => setTimeout(r, 10));
    }
    return { ms: performance.now() - t0 };
  };
  window.packets = async () => {
    let n = 0;
    for (const pcs of Object.values(B.room ? peerConnections(B.room) : {})) {
      for (const pc of pcs) n += await videoPackets(pc);
    }
    return n;
  };
  window.leave = async () => {
    const room = B.room;
    B.room = null;
    if (!room) return;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 3000);
      room.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      room.close();
    });
  };
}

async function member(url, i, size) {
  const { server, browser, pid } = await launchChromiumProcess();
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`browser ${i}: ${m.text()}`);
  });
  page.on('pageerror', (e) => console.error(`browser ${i} page error: ${e.message}`));
  await page.goto(url);
  const id = `broom-${RUN}-${size}-${i}`;
  await page.evaluate(setup, { port: PORT, key: KEY, id });
  return { server, browser, page, pid, id };
}

async function runSize(url, size) {
  const members = [];
  try {
    for (let i = 0; i < size; i++) members.push(await member(url, i, size));
    const times = [];
    let incomplete = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const room = `broom-${RUN}-${size}-${r}`;
      const res = await Promise.all(
        members.map((m) => m.page.evaluate(([n, s, t]) => window.join(n, s, t), [room, size, FLOWING_TIMEOUT_MS])),
      );
      for (const x of res) {
        if (x.ms === null) incomplete++;
        else times.push(x.ms);
      }
      console.error(`   chromium ${size}: round ${r + 1}: ${res.map((x) => (x.ms === null ? `incomplete(${x.have})` : x.ms.toFixed(0))).join(', ')} ms`);
      if (r === ROUNDS - 1) break;
      await Promise.all(members.map((m) => m.page.evaluate(() => window.leave())));
      await new Promise((r) => setTimeout(r, 1000));
    }
    // The window: the last room stays up.
    await new Promise((r) => setTimeout(r, 2000));
    const trees = members.map((m) => tree(m.pid));
    const t0 = process.hrtime.bigint();
    const c0 = trees.map(ticks);
    const p0 = await Promise.all(members.map((m) => m.page.evaluate(() => window.packets())));
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const p1 = await Promise.all(members.map((m) => m.page.evaluate(() => window.packets())));
    const trees1 = members.map((m) => tree(m.pid));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const c1 = trees1.map(ticks);
    const cpu = c1.map((c, i) => ((c - c0[i]) / TCK / secs) * 100);
    const rss = trees1.map((t) => sumKib(t, 'status', 'VmRSS:'));
    const pss = trees1.map((t) => sumKib(t, 'smaps_rollup', 'Pss:'));
    const pps = p1.map((p, i) => (p - p0[i]) / secs);
    await Promise.all(members.map((m) => m.page.evaluate(() => window.leave())));
    return { case: 'chromium', size, times, incomplete, cpu, rss_mib: rss, pss_mib: pss, pps, processes: trees1.map((t) => t.length) };
  } finally {
    for (const m of members) {
      await m.browser.close().catch(() => {});
      await m.server.close().catch(() => {});
    }
  }
}

const { server, url } = await serveSdkPage(PAGE);
try {
  for (const size of SIZES) {
    console.error(`== Chromium room of ${size}`);
    console.log(JSON.stringify(await runSize(url, size)));
  }
} finally {
  server.close();
}
