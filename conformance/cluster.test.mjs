// Browser conformance across two cluster nodes: the unmodified skyway-js@4.4.5 SDK in headless
// Chromium, with some Peers on node A and some on node B of a cluster of two `peer-server`
// processes sharing one real `redis-server`. Run by `cargo xtask conformance`, or by hand:
//
//   PEER_SERVER_BIN=target/debug/peer-server node --test conformance/cluster.test.mjs
//
// Environment:
//   PEER_SERVER_BIN   the peer-server binary (the scenarios are skipped without it)
//   REDIS_SERVER      the redis-server binary (default /usr/bin/redis-server)
//   CHROMIUM_PATH     browser binary (default /usr/bin/chromium)
//
// Each scenario's Peers live in one page; a Peer on node B is given node B's `port`. The test
// starts and stops its own Redis and nodes.

import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { launchChromium, serveSdkPage } from './browser.mjs';
import { pageHelpers, sfuPageHelpers } from './page.mjs';

const SERVER_BIN = process.env.PEER_SERVER_BIN;
const REDIS = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const KEY = '44444444-2222-3333-4444-555555555555';
const RUN = Math.random().toString(36).slice(2, 8);
let counter = 0;
const uid = (name) => `${name}-${RUN}${(counter++).toString(36)}`;

/** A free TCP port on 127.0.0.1 (bound and released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts a process; resolves with it and the first output line matching `ready`. */
function startUntil(program, args, ready, what, ms = 30000) {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready in ${ms} ms: ${tail}`)), ms);
    child.on('exit', (code) => reject(new Error(`${what} exited (${code}): ${tail}`)));
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        tail = (tail + line + '\n').slice(-4000);
        const m = ready.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ child, match: m });
        }
      });
    }
  });
}

async function stop(child) {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

let redis;
let nodes = [];
let pageServer;
let pageUrl;
let browser;
let context;

const BLANK_PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>cluster</title>' +
  '<script src="/skyway.js"></script></head><body></body></html>';

/** A fresh page whose Peers open on node A by default (`T.opts('open', { port: B })` for B). */
async function newPage() {
  await context?.close().catch(() => {});
  context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (process.env.CONFORMANCE_VERBOSE || msg.type() === 'error') {
      console.log(`    [browser ${msg.type()}] ${msg.text().split('\n')[0].slice(0, 200)}`);
    }
  });
  await page.addInitScript(pageHelpers, { port: nodes[0].port, keys: { open: KEY }, sdkDebug: 2 });
  await page.goto(pageUrl);
  return page;
}

const skip =
  (!SERVER_BIN && 'PEER_SERVER_BIN is not set') ||
  (!fs.existsSync(REDIS) && `${REDIS} is not installed (cargo xtask test installs it)`);

describe('two cluster nodes sharing one Redis', { skip }, () => {
  before(async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-cluster-'));
    const redisPort = await freePort();
    redis = (
      await startUntil(
        REDIS,
        ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp],
        /Ready to accept connections/,
        'redis-server',
      )
    ).child;
    for (const name of ['a', 'b']) {
      const config = path.join(tmp, `${name}.toml`);
      fs.writeFileSync(
        config,
        `listen = "127.0.0.1:0"

[[apps]]
key = "${KEY}"
secret = "cluster-conformance-secret"

[cluster]
redis = "redis://127.0.0.1:${redisPort}"

[turn]
enabled = false
`,
      );
      const { child, match } = await startUntil(
        SERVER_BIN,
        ['--config', config],
        /listening on http:\/\/127\.0\.0\.1:(\d+)/,
        `peer-server ${name}`,
      );
      nodes.push({ child, port: Number(match[1]) });
    }
    ({ server: pageServer, url: pageUrl } = await serveSdkPage(BLANK_PAGE));
    browser = await launchChromium();
  });

  afterEach(async () => {
    await context?.close().catch(() => {});
    context = undefined;
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await new Promise((resolve) => (pageServer ? pageServer.close(resolve) : resolve()));
    for (const n of nodes) await stop(n.child);
    await stop(redis);
  });

  it('a peer on each node: both listed by both, a data connection and a call across the nodes', { timeout: 60_000 }, async () => {
    const page = await newPage();
    const ids = { a: uid('ca'), b: uid('cb') };
    const r = await page.evaluate(
      async ({ ids, portB }) => {
        const a = await T.open(ids.a);
        const b = await T.open(ids.b, 'open', { port: portB });
        // Each node publishes its open peers every 2 s.
        const list = (p) => new Promise((resolve) => p.listAllPeers(resolve));
        let listed = [];
        const end = Date.now() + 5000;
        while (Date.now() < end) {
          listed = [await list(a), await list(b)];
          if (listed.every((l) => l.includes(ids.a) && l.includes(ids.b))) break;
          await T.sleep(250);
        }
        const exists = await Promise.all([a.fetchPeerExists(ids.b), b.fetchPeerExists(ids.a)]);

        // Data both ways.
        const conn = a.connect(ids.b, { metadata: { across: true } });
        const [bconn] = await Promise.all([T.wait(b, 'connection', 'connection at b'), T.wait(conn, 'open', 'a-side open')]);
        await T.wait(bconn, 'open', 'b-side open');
        const atB = [];
        const atA = [];
        bconn.on('data', (d) => atB.push(T.describe(d)));
        conn.on('data', (d) => atA.push(T.describe(d)));
        conn.send('across ✓');
        conn.send(T.pattern(100 * 1024));
        bconn.send({ back: [1, 2] });
        await T.until(() => atB.length >= 2 && atA.length >= 1, 'data both ways');

        // A call: camera both ways, decoded on both sides.
        const call = a.call(ids.b, await T.camera(false));
        const incoming = await T.wait(b, 'call', 'call at b');
        incoming.answer(await T.camera(false));
        const cond = (s) => (s.video?.framesDecoded ?? 0) >= 10;
        await T.until(() => call.getPeerConnection() && incoming.getPeerConnection(), 'peer connections');
        const va = await T.untilInbound(call.getPeerConnection(), cond, 'video at a');
        const vb = await T.untilInbound(incoming.getPeerConnection(), cond, 'video at b');
        call.close(true);
        await T.wait(incoming, 'close', 'the call closing at b');
        return { listed, exists, metadata: bconn.metadata, atB, atA, va: va.video.framesDecoded, vb: vb.video.framesDecoded, errors: T.peers.flatMap((p) => p.rec.errors) };
      },
      { ids, portB: nodes[1].port },
    );
    for (const l of r.listed) {
      assert.ok(l.includes(ids.a) && l.includes(ids.b), `both listed: ${JSON.stringify(r.listed)}`);
    }
    assert.deepEqual(r.exists, [true, true]);
    assert.deepEqual(r.metadata, { across: true });
    assert.deepEqual(r.atB, [
      { kind: 'string', value: 'across ✓' },
      { kind: 'ArrayBuffer', length: 100 * 1024, firstBad: -1 },
    ]);
    assert.deepEqual(r.atA, [{ kind: 'Object', value: { back: [1, 2] } }]);
    assert.ok(r.va >= 10 && r.vb >= 10, `video decoded both ways: ${r.va}, ${r.vb}`);
    assert.deepEqual(r.errors, []);
  });

  it('a mesh room on both nodes: members see each other, stream, exchange data and hear leaves', { timeout: 90_000 }, async () => {
    const page = await newPage();
    const ids = { a: uid('ma'), b: uid('mb'), c: uid('mc') };
    const roomName = uid('mesh');
    const r = await page.evaluate(
      async ({ ids, roomName, portB }) => {
        // a and c on node A (the room's home, a joining first), b on node B.
        const where = { a: {}, b: { port: portB }, c: {} };
        const seen = {};
        const rooms = {};
        for (const n of ['a', 'b', 'c']) {
          const peer = await T.open(ids[n], 'open', where[n]);
          const room = peer.joinRoom(roomName, { mode: 'mesh', stream: await T.camera(false) });
          rooms[n] = room;
          seen[n] = { streams: [], joins: [], leaves: [], data: [] };
          room.on('stream', (s) => seen[n].streams.push(s.peerId));
          room.on('peerJoin', (id) => seen[n].joins.push(id));
          room.on('peerLeave', (id) => seen[n].leaves.push(id));
          room.on('data', (m) => seen[n].data.push({ src: m.src, d: T.describe(m.data, 11) }));
          await T.wait(room, 'open', `room open for ${n}`);
        }
        await T.until(() => ['a', 'b', 'c'].every((n) => seen[n].streams.length >= 2), () => `streams: ${JSON.stringify(seen)}`, 30000);
        // Video decoded across the nodes: b of a, a of b.
        const cond = (s) => (s.video?.framesDecoded ?? 0) >= 10;
        await T.untilInbound(rooms.b.getPeerConnections()[ids.a], cond, 'b decodes a');
        await T.untilInbound(rooms.a.getPeerConnections()[ids.b], cond, 'a decodes b');
        rooms.b.send('from b on node B');
        rooms.b.send(T.pattern(4096, 11));
        rooms.a.send({ from: 'a' });
        await T.until(() => seen.a.data.length >= 2 && seen.c.data.length >= 3 && seen.b.data.length >= 1, () => `data: ${JSON.stringify(seen)}`);
        rooms.b.close();
        await T.until(() => seen.a.leaves.includes(ids.b) && seen.c.leaves.includes(ids.b), 'peerLeave(b) on node A');
        rooms.c.close();
        await T.until(() => seen.a.leaves.includes(ids.c), 'peerLeave(c)');
        return { seen, errors: T.peers.flatMap((p) => p.rec.errors) };
      },
      { ids, roomName, portB: nodes[1].port },
    );
    const { seen } = r;
    assert.deepEqual(seen.a.streams.sort(), [ids.b, ids.c].sort());
    assert.deepEqual(seen.b.streams.sort(), [ids.a, ids.c].sort());
    assert.deepEqual(seen.a.joins, [ids.b, ids.c], 'a hears b (node B) and c join');
    assert.deepEqual(seen.b.joins, [ids.c], 'b, on node B, hears c join');
    // In order per sender (b's two messages cross the nodes; a's does not).
    const fromB = seen.c.data.filter((m) => m.src === ids.b).map((m) => m.d);
    assert.deepEqual(fromB, [
      { kind: 'string', value: 'from b on node B' },
      { kind: 'ArrayBuffer', length: 4096, firstBad: -1 },
    ]);
    assert.deepEqual(seen.c.data.filter((m) => m.src === ids.a).map((m) => m.d), [{ kind: 'Object', value: { from: 'a' } }]);
    assert.deepEqual(seen.b.data, [{ src: ids.a, d: { kind: 'Object', value: { from: 'a' } } }]);
    assert.deepEqual(r.errors, []);
  });

  it("an SFU room on both nodes: members on node B send and receive through node A's SFU", { timeout: 90_000 }, async () => {
    const page = await newPage();
    const room = uid('sfu');
    await page.evaluate(sfuPageHelpers, { room });
    const [a, b, c] = [uid('sa'), uid('sb'), uid('sc')];
    const portB = nodes[1].port;
    await page.evaluate((a) => sfuJoin(a), a);
    await page.evaluate(([b, portB]) => sfuJoin(b, { port: portB }), [b, portB]);
    await page.evaluate(([c, portB]) => sfuJoin(c, { port: portB }), [c, portB]);
    for (const [x, y] of [[a, b], [a, c], [b, a], [b, c], [c, a], [c, b]]) {
      const got = await page.evaluate(([x, y]) => sfuUntilFrames(x, y, 15, 30000), [x, y]);
      assert.ok(got.frames >= 15, `${x} decodes ${y}`);
    }
    await page.evaluate((b) => S[b].room.send('sfu data from node B'), b);
    await page.evaluate(([a, c]) => T.until(() => S[a].data.length >= 1 && S[c].data.length >= 1, 'SFU room data'), [a, c]);
    const data = await page.evaluate(([a, c]) => [S[a].data, S[c].data], [a, c]);
    for (const d of data) assert.deepEqual(d, [{ src: b, d: { kind: 'string', value: 'sfu data from node B' } }]);
    await page.evaluate((c) => S[c].room.close(), c);
    await page.evaluate(([a, b, c]) => T.until(() => S[a].leaves.includes(c) && S[b].leaves.includes(c), 'peerLeave(c)'), [a, b, c]);
    const errors = await page.evaluate(() => Object.values(S).flatMap((s) => s.peer.rec.errors));
    assert.deepEqual(errors, []);
  });
});
