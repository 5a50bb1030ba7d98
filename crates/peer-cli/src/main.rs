//! `peer-cli`: a command-line SkyWay peer for `peer-server`, built on the `peer` crate. It
//! talks to other `peer-cli`s, to Rust programs using `peer`, and to browsers running
//! `skyway-js@4.4.5`.
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
//! `error: peer-unavailable: peer "x" is not available`), 2 usage error, 130 interrupted.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod chat;
pub mod echo;
pub mod list;
pub mod logging;
pub mod progress;
pub mod protocol;
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
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted");
                ExitCode::from(130)
            }
        }
    });
    // Background closes and the stdin reader must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
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
        Command::List => session::with_peer(common, list::run).await,
        Command::Echo => session::with_peer(common, echo::run).await,
    }
}
