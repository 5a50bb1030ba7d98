// The Chromium side of `cargo xtask bench data`: two skyway-js@4.4.5 Peers in one headless
// Chromium page (Debian's /usr/bin/chromium, launched as conformance/skyway.test.mjs does) talk
// through a running peer-server. For each serialization it measures
//
//   - connect-to-open: from `peer.connect()` to the `open` event of the connecting side, median
//     of BENCH_CONNECTS connections;
//   - throughput: BENCH_BROWSER_MIB MiB of payload sent with `conn.send()` in one go, paced by the
//     SDK's own queue (one `RTCDataChannel.send` per 1 ms `setInterval` tick), timed from the
//     first `send()` to the last byte counted by the receiver's `data` handler. Messages: `none`
//     65,535-byte ArrayBuffers, `binary` 1 MiB ArrayBuffers (chunked by the SDK into ~16 KB
//     parts), `json` 60,000-character strings.
//
// Prints one JSON object per line on stdout (`{"case":"chromium-binary", ...}`); progress and
// browser errors go to stderr. Uses `playwright-core` and `skyway-js` from conformance/node_modules.
//
// Environment: PEER_SERVER_PORT (required), BENCH_KEY, BENCH_BROWSER_MIB (16), BENCH_CONNECTS (20),
// BENCH_BROWSER_CASES (binary,json,none), CHROMIUM_PATH (/usr/bin/chromium).

import { launchChromium, serveSdkPage } from '../conformance/browser.mjs';

const PORT = Number(process.env.PEER_SERVER_PORT);
const KEY = process.env.BENCH_KEY ?? '11111111-2222-3333-4444-555555555555';
const MIB = Number(process.env.BENCH_BROWSER_MIB ?? 16);
const CONNECTS = Number(process.env.BENCH_CONNECTS ?? 20);
const CASES = (process.env.BENCH_BROWSER_CASES ?? 'binary,json,none').split(',').map((s) => s.trim());

if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('PEER_SERVER_PORT must be the port of a running peer-server');
  process.exit(2);
}

const PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>bench</title>' +
  '<script src="/skyway.js"></script></head><body></body></html>';

/** Runs in the page: counts every RTCDataChannel.send, without touching the SDK. */
function installSendCounter() {
  window.dcSends = 0;
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    window.dcSends++;
    return send.call(this, data);
  };
}

/** Runs in the page: opens two Peers and keeps them in `window.B`. */
async function openPeers({ port, key, run }) {
  const opts = {
    key,
    host: '127.0.0.1',
    port,
    secure: false,
    turn: false,
    config: { iceServers: [] },
    debug: 1,
  };
  const open = (id) =>
    new Promise((resolve, reject) => {
      const p = new Peer(id, opts);
      const timer = setTimeout(() => reject(new Error(`peer ${id} did not open`)), 15000);
      p.once('open', () => {
        clearTimeout(timer);
        resolve(p);
      });
      p.on('error', (e) => console.error(`peer ${id}: ${e.type} ${e.message}`));
    });
  const [alice, bob] = await Promise.all([open(`bench-ca-${run}`), open(`bench-cb-${run}`)]);
  window.B = { alice, bob };
}

/** Runs in the page: the measurements of one serialization. */
async function measure({ serialization, connects, total }) {
  const { alice, bob } = window.B;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const once = (emitter, event, what, ms = 15000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      emitter.once(event, (arg) => {
        clearTimeout(timer);
        resolve(arg);
      });
    });
  // Both ends of a new connection, open; `took` is the connecting side's connect-to-open.
  const connect = async () => {
    const incoming = once(bob, 'connection', 'the connection at bob');
    const t0 = performance.now();
    const conn = alice.connect(bob.id, { serialization });
    await once(conn, 'open', 'open');
    const took = performance.now() - t0;
    const remote = await incoming;
    if (!remote.open) await once(remote, 'open', 'open at bob');
    return { conn, remote, took };
  };
  const close = async ({ conn, remote }) => {
    const closed = remote.open ? once(remote, 'close', 'close at bob', 5000).catch(() => {}) : null;
    conn.close(true);
    await closed;
  };

  await close(await connect()); // warm-up, not counted
  const opens = [];
  for (let i = 0; i < connects; i++) {
    const c = await connect();
    opens.push(c.took);
    await close(c);
    await sleep(20);
  }

  let message;
  let size;
  if (serialization === 'json') {
    size = 60000;
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    message = Array.from({ length: size }, (_, i) => letters[i % 26]).join('');
  } else {
    size = serialization === 'none' ? 65535 : 1 << 20;
    const a = new Uint8Array(size);
    for (let i = 0; i < size; i++) a[i] = (i * 7 + (i >> 8) + 3) & 0xff;
    message = a.buffer;
  }
  const count = Math.ceil(total / size);
  const bytes = count * size;
  const c = await connect();
  let got = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  c.remote.on('data', (d) => {
    got += typeof d === 'string' ? d.length : d.byteLength ?? d.size ?? 0;
    if (got >= bytes) done(performance.now());
  });
  const sends0 = window.dcSends;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) c.conn.send(message);
  const sendCalls = performance.now() - t0;
  const end = await Promise.race([finished, sleep(600000).then(() => NaN)]);
  const secs = (end - t0) / 1000;
  const dcSends = window.dcSends - sends0;
  await close(c);
  return {
    bytes,
    got,
    secs,
    mbps: bytes / secs / 1e6,
    message_bytes: size,
    dc_sends: dcSends,
    ms_per_dc_send: (secs * 1000) / dcSends,
    send_calls_ms: sendCalls,
    opens,
  };
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const { server, url: pageUrl } = await serveSdkPage(PAGE);
const browser = await launchChromium();
let failed = false;
try {
  const version = browser.version();
  console.error(`chromium ${version}`);
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`  [browser] ${msg.text().split('\n')[0].slice(0, 200)}`);
  });
  page.on('pageerror', (e) => console.error(`  [page error] ${e.message}`));
  await page.addInitScript(installSendCounter);
  await page.goto(pageUrl);
  const run = Math.random().toString(36).slice(2, 8);
  await page.evaluate(openPeers, { port: PORT, key: KEY, run });
  for (const serialization of CASES) {
    const r = await page.evaluate(measure, { serialization, connects: CONNECTS, total: MIB * 1024 * 1024 });
    const open = median(r.opens);
    console.error(
      `chromium ${serialization}: ${r.mbps.toFixed(1)} MB/s (${r.ms_per_dc_send.toFixed(2)} ms per ` +
        `RTCDataChannel.send), connect-to-open median ${open.toFixed(1)} ms`,
    );
    const { opens, ...rest } = r;
    console.log(
      JSON.stringify({
        case: `chromium-${serialization}`,
        chromium: version,
        ...rest,
        open_ms_median: open,
        open_ms: opens.map((x) => Math.round(x * 100) / 100),
      }),
    );
  }
  await context.close();
} catch (e) {
  console.error(`data-browser: ${e.stack ?? e}`);
  failed = true;
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
