// Page-side helpers of the browser conformance suites (skyway.test.mjs, cluster.test.mjs).
// Each function is handed to playwright (`page.addInitScript` or `page.evaluate`), which
// serializes it: they are self-contained and refer only to the page's globals.

/**
 * Helpers installed into every page (serialized by playwright, so self-contained). They are the
 * only thing the scenarios below share on the browser side.
 */
export function pageHelpers(cfg) {
  const T = {
    cfg,
    peers: [],
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),

    /** Peer options for app `app` (a key of cfg.keys), merged with `extra`. */
    opts(app = 'open', extra = {}) {
      return Object.assign(
        {
          key: cfg.keys[app],
          host: '127.0.0.1',
          port: cfg.port,
          secure: false,
          turn: false,
          config: { iceServers: [] },
          debug: cfg.sdkDebug,
        },
        extra,
      );
    },

    /** Resolves with the first argument of the next `event` on `emitter`, or rejects after `ms`. */
    wait(emitter, event, what, ms = 15000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out after ${ms} ms waiting for ${what} (${event})`)),
          ms,
        );
        emitter.once(event, (arg) => {
          clearTimeout(timer);
          resolve(arg);
        });
      });
    },

    /**
     * Resolves once `cond()` is truthy (polled), or rejects after `ms` with `what` (a string,
     * or a function evaluated at timeout so the message can describe the state).
     */
    async until(cond, what, ms = 15000) {
      const end = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > end) {
          const desc = typeof what === 'function' ? what() : what;
          throw new Error(`timed out after ${ms} ms waiting for ${desc}`);
        }
        await T.sleep(50);
      }
    },

    /**
     * Creates a Peer (id may be undefined for a server-assigned one) and records everything it
     * emits at the Peer level in `peer.rec` ({openIds, errors, expiresin}).
     */
    create(id, app = 'open', extra = {}) {
      const peer = id === undefined ? new Peer(T.opts(app, extra)) : new Peer(id, T.opts(app, extra));
      peer.rec = { openIds: [], errors: [], expiresin: [] };
      peer.on('open', (pid) => peer.rec.openIds.push(pid));
      peer.on('error', (e) => peer.rec.errors.push({ type: e.type, message: String(e.message) }));
      peer.on('expiresin', (sec) => peer.rec.expiresin.push(sec));
      T.peers.push(peer);
      return peer;
    },

    /** Creates a Peer and waits for `open`; an `error` first rejects with its type. */
    open(id, app = 'open', extra = {}, ms = 15000) {
      const peer = T.create(id, app, extra);
      const what = `peer ${id ?? '(server-assigned)'} to open`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
        peer.once('open', (pid) => {
          clearTimeout(timer);
          peer.openId = pid;
          resolve(peer);
        });
        peer.once('error', (e) => {
          clearTimeout(timer);
          reject(new Error(`${what}: got error type=${e.type}: ${e.message}`));
        });
      });
    },

    /** Creates a Peer expected to fail: waits for its first `error`, then `settleMs` more. */
    async failing(id, app, extra = {}, settleMs = 1000, ms = 15000) {
      const peer = T.create(id, app, extra);
      await T.until(() => peer.rec.errors.length > 0, `an error on peer ${id}`, ms);
      await T.sleep(settleMs);
      return { errors: peer.rec.errors, openIds: peer.rec.openIds, open: peer.open === true };
    },

    /** An ArrayBuffer of `n` bytes with a position-dependent pattern. */
    pattern(n, seed = 7) {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) a[i] = (i * seed + (i >> 8) + 3) & 0xff;
      return a.buffer;
    },

    /** Describes a received value so Node can assert on it (ArrayBuffers are checked here). */
    describe(value, seed = 7) {
      if (value instanceof ArrayBuffer) {
        const a = new Uint8Array(value);
        let firstBad = -1;
        for (let i = 0; i < a.length; i++) {
          if (a[i] !== ((i * seed + (i >> 8) + 3) & 0xff)) {
            firstBad = i;
            break;
          }
        }
        return { kind: 'ArrayBuffer', length: a.length, firstBad };
      }
      if (typeof value === 'string') return { kind: 'string', value };
      const kind = value === null ? 'null' : value && value.constructor ? value.constructor.name : typeof value;
      return { kind, value: JSON.parse(JSON.stringify(value ?? null)) };
    },

    /** Streams' video track counts, for assertions in Node. */
    videoTracks: (stream) => (stream ? stream.getVideoTracks().length : 0),

    /**
     * What arrived on `pc` so far, from its `inbound-rtp` stats, by kind:
     * `{video: {packetsReceived, framesDecoded, keyFramesDecoded, mimeType}, audio: {...}}`
     * (the receiver of a kind with the most packets; a kind nothing arrived for is absent).
     */
    async inbound(pc) {
      const stats = await pc.getStats();
      const out = {};
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        const codec = r.codecId ? stats.get(r.codecId) : undefined;
        const s = {
          packetsReceived: r.packetsReceived ?? 0,
          framesDecoded: r.framesDecoded ?? 0,
          keyFramesDecoded: r.keyFramesDecoded ?? 0,
          mimeType: codec?.mimeType ?? null,
        };
        if (!out[r.kind] || out[r.kind].packetsReceived < s.packetsReceived) out[r.kind] = s;
      });
      return out;
    },

    /** The `targetBitrate` (bps) of `pc`'s video `outbound-rtp` stats, or null. */
    async videoTargetBitrate(pc) {
      let target = null;
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'outbound-rtp' && r.kind === 'video' && typeof r.targetBitrate === 'number') {
          target = Math.max(target ?? 0, r.targetBitrate);
        }
      });
      return target;
    },

    /** Polls T.inbound(pc) until `cond(stats)` holds; resolves with those stats. */
    async untilInbound(pc, cond, what, ms = 30000) {
      const end = Date.now() + ms;
      for (;;) {
        const s = await T.inbound(pc);
        if (cond(s)) return s;
        if (Date.now() > end) {
          throw new Error(`timed out after ${ms} ms waiting for ${what}; inbound: ${JSON.stringify(s)}`);
        }
        await T.sleep(250);
      }
    },

    /**
     * The media sections of an SDP: `[{kind, port, direction, codecs: [encoding names by
     * payload type order], bandwidth: ['AS:300', ...]}]`.
     */
    sections(sdp) {
      const out = [];
      for (const line of sdp.split(/\r?\n/)) {
        if (line.startsWith('m=')) {
          const [kind, port, , ...pts] = line.slice(2).split(' ');
          out.push({ kind, port: Number(port), pts, names: {}, bandwidth: [], direction: 'sendrecv' });
          continue;
        }
        const m = out[out.length - 1];
        if (!m) continue;
        const rtpmap = /^a=rtpmap:(\d+) ([^/]+)/.exec(line);
        if (rtpmap) m.names[rtpmap[1]] = rtpmap[2];
        if (line.startsWith('b=')) m.bandwidth.push(line.slice(2));
        if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) m.direction = line.slice(2);
      }
      return out.map(({ kind, port, pts, names, bandwidth, direction }) => ({
        kind,
        port,
        direction,
        codecs: pts.map((pt) => names[pt] ?? pt),
        bandwidth,
      }));
    },

    /** The fake camera and microphone (Chromium's --use-fake-device-for-media-stream). */
    camera: (audio = true) => navigator.mediaDevices.getUserMedia({ video: true, audio }),
  };
  // Chromium re-serializes `pc.remoteDescription` from its parsed form, which keeps one `b=`
  // line per section (of `b=AS` and `b=TIAS`, the last); T.remoteSdp gives the text as applied.
  const setRemoteDescription = RTCPeerConnection.prototype.setRemoteDescription;
  const applied = new WeakMap();
  RTCPeerConnection.prototype.setRemoteDescription = function (desc, ...rest) {
    if (desc && typeof desc.sdp === 'string') applied.set(this, desc.sdp);
    return setRemoteDescription.call(this, desc, ...rest);
  };
  /** The SDP text last given to `pc.setRemoteDescription` (by the SDK), unparsed. */
  T.remoteSdp = (pc) => applied.get(pc) ?? null;
  window.T = T;
}

/**
 * SFU room helpers for one page (`page.evaluate(sfuPageHelpers, { room })`): `S[id]` records
 * each member's room, streams, joins, leaves and data; `sfuJoin(id, extra)`,
 * `sfuInbound(id, remote)` and `sfuUntilFrames(id, remote, min, ms)`.
 */
export function sfuPageHelpers({ room }) {
  window.S = {};
  /** Opens peer `id` (or reuses it, to rejoin after leaving) and joins the SFU room; `extra`
   * goes to the Peer's options (another node's `port`, say). */
  window.sfuJoin = async (id, extra = {}) => {
    const peer = S[id]?.peer ?? (await T.open(id, 'open', extra));
    // A rejoiner's old stream is over: the others count frames of its next one.
    for (const other of Object.values(S)) delete other.streams[id];
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
    const t0 = Date.now();
    const r = peer.joinRoom(room, { mode: 'sfu', stream });
    const s = { peer, room: r, t0, streams: {}, joins: [], leaves: [], data: [] };
    r.on('stream', (st) => (s.streams[st.peerId] = st));
    r.on('peerJoin', (p) => s.joins.push(p));
    r.on('peerLeave', (p) => s.leaves.push(p));
    r.on('data', (m) => s.data.push({ src: m.src, d: T.describe(m.data, 11) }));
    S[id] = s;
    await T.wait(r, 'open', `SFU room open for ${id}`);
  };
  /** Video frames `id` decoded of `remote`'s stream (with the NACKs it sent and the packets it
   * counts lost for it), and audio packets received. */
  window.sfuInbound = async (id, remote) => {
    const s = S[id];
    const st = s.streams[remote];
    const pc = s.room.getPeerConnection();
    if (!st || !pc) return { frames: 0, audio: 0, nacks: 0, lost: 0 };
    const v = st.getVideoTracks()[0]?.id;
    const a = st.getAudioTracks()[0]?.id;
    let frames = 0;
    let audio = 0;
    let nacks = 0;
    let lost = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp') return;
      if (r.kind === 'video' && r.trackIdentifier === v) {
        frames = r.framesDecoded ?? 0;
        nacks = r.nackCount ?? 0;
        lost = r.packetsLost ?? 0;
      }
      if (r.kind === 'audio' && r.trackIdentifier === a) audio = r.packetsReceived ?? 0;
    });
    return { frames, audio, nacks, lost };
  };
  /** Waits until `id` decoded `min` frames of `remote`; resolves with ms since its join. */
  window.sfuUntilFrames = async (id, remote, min, ms) => {
    const end = Date.now() + ms;
    let x;
    while ((x = await sfuInbound(id, remote)).frames < min) {
      if (Date.now() > end) {
        throw new Error(`${id} decoded ${x.frames} frames of ${remote} in ${ms} ms; streams: ${Object.keys(S[id].streams)}`);
      }
      await T.sleep(50);
    }
    return { ms: Date.now() - S[id].t0, ...x };
  };
}
