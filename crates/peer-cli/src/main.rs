//! `peer-cli`: a command-line SkyWay peer for `peer-server`, built on the `peer` crate. It
//! talks to other `peer-cli`s, to Rust programs using `peer`, and to browsers running
//! `skyway-js@4.4.5`: chat, file transfer, and audio/video calls wired to UDP ports and files.
//!
//! Start a server first (`cargo run -p peer-server` listens on 127.0.0.1:9000 with the
//! development key `peerdev0-0000-0000-0000-000000000000`, which is `peer-cli`'s default).
//! On one machine, give both peers `--loopback` so that WebRTC may use 127.0.0.1.
//!
//! # Subcommands
//!
//! ## `chat`
//!
//! Line-based chat: every stdin line is sent as text; received text is printed on stdout as
//! `<remote-id>: <line>`, JSON values as JSON and bytes as `<N bytes>`. Status lines go to
//! stderr. Ctrl-D (end of stdin) closes the connection (with force); when the remote side
//! closes, a line says so and `peer-cli` exits 0. `--listen` waits for the first incoming
//! connection instead and prints who connected; `--serialization` picks the framing
//! (`binary`, `binary-utf8`, `json`, `none`).
//!
//! ```text
//! peer-cli chat --listen --id bob --loopback
//! peer-cli chat bob --loopback
//! ```
//!
//! ## `send` and `receive`
//!
//! File transfer. `receive` writes each file into `--out DIR` (default `.`) and prints the
//! saved path on stdout; `--once` exits after the first transfer. `send` sends one file and
//! exits 0 once the receiver confirmed it. Both draw a progress bar on stderr (percentage,
//! bytes, MB/s) when stderr is a terminal, and print a summary line at the end.
//!
//! ```text
//! peer-cli receive --id inbox --out ~/Downloads --loopback
//! peer-cli send inbox ./report.pdf --loopback
//! ```
//!
//! The protocol (see [`protocol`]):
//!
//! 1. The sender connects with `metadata = {"file": {"name": "<basename>", "size": N}}` and
//!    serialization `binary` (or `binary-utf8`).
//! 2. It sends the file as bytes in pieces of 1 MiB (the library chunks each piece).
//! 3. It sends the JSON `{"done": true, "size": N}`.
//! 4. The receiver writes to `DIR/<name>`, where the name is stripped of any directory part
//!    (`..`, empty and dot-only names are refused, an existing file is never overwritten),
//!    verifies that exactly N bytes arrived and answers `{"received": N}`, or
//!    `{"error": "<why>"}` on failure. The sender waits for that answer before closing.
//!
//! There is no checksum: the data channel is reliable and DTLS-authenticated, and the size is
//! checked. A browser can send to `peer-cli receive` with the same protocol:
//!
//! ```js
//! const conn = peer.connect('inbox', { metadata: { file: { name: f.name, size: f.size } } });
//! conn.on('open', async () => {
//!   conn.send(await f.arrayBuffer());
//!   conn.send({ done: true, size: f.size });
//! });
//! conn.on('data', (reply) => console.log(reply)); // { received: N }
//! ```
//!
//! ## `call` and `answer`
//!
//! Audio and video calls for GStreamer and ffmpeg users (see [`media`]). `call <remote-id>`
//! calls a peer; `answer` waits for the first call to its `--id` and answers it (later calls
//! and data connections are refused). Both run until the call closes, Ctrl-C or the end of
//! stdin; then they close the call (with force) and exit 0.
//!
//! What this side sends comes from a UDP port that receives RTP (`--video-rtp ADDR`,
//! `--audio-rtp ADDR`; any payload type and SSRC, rewritten per connection) or from a file
//! played in real time (`--video-file` IVF VP8/VP9 or `.h264`, `--audio-file` Ogg Opus or raw
//! µ-law; `--loop`). `--video-codec VP8|VP9|H264` and `--audio-codec opus|PCMU` name the
//! codec (default VP8 and Opus, or the file's own). What arrives goes to a UDP address
//! (`--video-out`, `--audio-out`, with `--sdp-dir DIR` for ffplay's SDP files), into a file
//! (`--record-video`: IVF for VP8/VP9, Annex-B for H264; `--record-audio`: Ogg for Opus, raw
//! µ-law for PCMU), or is discarded. Without anything to send,
//! a call only receives, audio and video unless `--no-audio`/`--no-video` (the SDK's
//! `audioReceiveEnabled`/`videoReceiveEnabled`). The SDK's `videoBandwidth`, `audioBandwidth`,
//! `videoCodec` and `audioCodec` options are `--video-bandwidth KBPS`,
//! `--audio-bandwidth KBPS`, `--force-video-codec C` and `--force-audio-codec C`;
//! `--metadata JSON` goes with a call.
//!
//! stdout gets one line per source (its bound address, so port 0 can be used) and one line per
//! remote track, telling how to consume it:
//!
//! ```text
//! sending video from udp 127.0.0.1:5004 (VP8)
//! video VP8 pt=96 -> udp 127.0.0.1:6004 caps="application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000" sdp=./video.sdp
//! audio opus pt=111 -> file bob.ogg
//! ```
//!
//! For example, a GStreamer test picture from one side to a window on the other:
//!
//! ```text
//! peer-cli answer --id bob --loopback --video-out 127.0.0.1:6004 --sdp-dir .
//! peer-cli call bob --loopback --video-rtp 127.0.0.1:5004
//! gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=640,height=480,framerate=30/1 \
//!   ! vp8enc deadline=1 keyframe-max-dist=60 ! rtpvp8pay pt=96 mtu=1200 \
//!   ! udpsink host=127.0.0.1 port=5004
//! gst-launch-1.0 udpsrc port=6004 caps="application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000" \
//!   ! rtpjitterbuffer ! rtpvp8depay ! vp8dec ! videoconvert ! autovideosink
//! ```
//!
//! or with ffmpeg (keep RTP packets at most 1200 bytes: WebRTC stacks drop larger ones once
//! encrypted, and ffmpeg's default is 1472):
//!
//! ```text
//! ffmpeg -re -f lavfi -i testsrc=size=640x480:rate=30 -c:v libvpx -deadline realtime \
//!   -g 60 -b:v 1M -f rtp -pkt_size 1200 rtp://127.0.0.1:5004
//! ffplay -protocol_whitelist file,udp,rtp -i video.sdp
//! ```
//!
//! Files cannot answer keyframe requests, and the first frames played may be lost while the
//! call connects: loop files that have a keyframe every second or two.
//!
//! ## `room`
//!
//! `room <name>` joins a mesh room shared with `skyway-js` pages (`joinRoom(name, {mode:
//! 'mesh'})`) and other Rust peers. stdout gets `members: a, b` once joined, `join <id>`,
//! `leave <id>`, `<id>: <data>` for room data from the others (text as it is, JSON as JSON,
//! bytes as `<N bytes>`) and one line per recorded track. Every stdin line is sent to the room
//! as text (the SDK's pace: one send per 100 ms); a member never sees its own data. The media
//! options are those of `call` for what this side sends (files or RTP ports; nothing: it only
//! receives); what arrives is recorded per member with `--record-dir DIR`
//! (`DIR/<id>-video.ivf`, `<id>-audio.ogg`, ...; a member that comes back gets `-2` files) or
//! discarded. At the end of stdin or on Ctrl-C it sends what is queued, leaves, finishes its
//! files and exits 0.
//!
//! ```text
//! peer-cli room lobby --id robot --loopback --video-file clip.ivf --audio-file music.ogg --loop
//! peer-cli room lobby --loopback --record-dir recordings
//! ```
//!
//! `--sfu` joins an SFU room instead (`joinRoom(name, {mode: 'sfu'})`): the media goes once to
//! the server, which forwards it to every member; everything else is the same.
//!
//! ## `list`
//!
//! Prints the open peers of the API key, one per line (without its own temporary peer).
//! `list-error` means the server's REST API is disabled for the key (`rest_api = false`).
//!
//! ## `echo`
//!
//! Accepts every incoming connection and sends every message back; prints one line per
//! connection and per close. Handy as the other end when testing a client.
//!
//! # Common options
//!
//! `--host`, `--port`, `--key` (default: the development key), `--id` (own peer id; default:
//! assigned by the server), `--secure` (TLS), `--debug 0-3` (logs on stderr: none, error,
//! warn, debug), `--loopback` (use loopback addresses for WebRTC).
//!
//! # Exit codes
//!
//! 0 success, 1 runtime failure (the message is on stderr, e.g.
//! `error: peer-unavailable: peer "x" is not available`), 2 usage error, 130 interrupted
//! (`call` and `answer` exit 0 on Ctrl-C after closing the call; a second Ctrl-C exits 130).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod chat;
pub mod echo;
pub mod list;
pub mod logging;
pub mod media;
pub mod progress;
pub mod protocol;
pub mod room;
pub mod session;
pub mod transfer;

use anyhow::{Context, Result};
use args::{Command, Invocation, Parsed};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let invocation = match args::parse(&argv) {
        Ok(Parsed::Run(inv)) => inv,
        Ok(Parsed::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("peer-cli {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{}", e.hint());
            return ExitCode::from(2);
        }
    };
    logging::init(invocation.common.debug);
    // `call` and `answer` handle Ctrl-C themselves: they close the call and exit 0.
    let own_ctrl_c = matches!(
        invocation.command,
        Command::Call { .. } | Command::Answer { .. } | Command::Room { .. }
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            result = run(invocation) => match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            },
            _ = interrupted(own_ctrl_c) => {
                eprintln!("interrupted");
                ExitCode::from(130)
            }
        }
    });
    // Background closes and the stdin reader must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// Resolves on Ctrl-C, unless the command handles it (`handled_by_command`).
async fn interrupted(handled_by_command: bool) {
    if handled_by_command || tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs a parsed command line.
async fn run(inv: Invocation) -> Result<()> {
    let common = &inv.common;
    match inv.command {
        Command::Chat {
            remote,
            serialization,
        } => session::with_peer(common, |peer| chat::run(peer, remote, serialization)).await,
        Command::Send {
            remote,
            file,
            serialization,
        } => transfer::send(common, &remote, &file, serialization).await,
        Command::Receive { out, once } => transfer::receive(common, &out, once).await,
        Command::Call {
            remote,
            media,
            metadata,
        } => media::call(common, &remote, &media, metadata).await,
        Command::Answer { media } => media::answer(common, &media).await,
        Command::Room {
            name,
            media,
            record_dir,
            sfu,
        } => room::run(common, &name, &media, record_dir.as_deref(), sfu).await,
        Command::List => session::with_peer(common, list::run).await,
        Command::Echo => session::with_peer(common, echo::run).await,
    }
}
