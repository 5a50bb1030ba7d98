//! The `peer-server` binary: reads the configuration, binds, serves until SIGINT or SIGTERM.
//!
//! On glibc it also tunes the allocator for a server whose load comes in bursts: large buffers
//! are mapped on their own ([`MALLOC_TUNABLES`]), and freed heap memory goes back to the system
//! when the load falls from a peak ([`release_memory`], the one `unsafe` call of the project).

#![deny(unsafe_code)]

use anyhow::{bail, Context, Result};
use peer_server::config::{Config, DEV_API_KEY};
use peer_server::Server;
use std::io::Write;

const USAGE: &str = "usage: peer-server [--config FILE]

Serves skyway-js 4.4.5 signaling (Socket.IO at /socket.io/) and its REST API.
Without --config it listens on 127.0.0.1:9000 with one development app.
Logging: RUST_LOG (e.g. RUST_LOG=peer_server=debug).";

/// glibc's malloc settings the server runs with:
/// - allocations of 128 KiB and more (large messages, queued room data) are mapped on their
///   own and go back to the system when freed. glibc's default raises that threshold after
///   each large free, so a burst of large messages would stay in the process's resident
///   memory after the messages are gone;
/// - each thread's cache keeps 2 freed chunks per size instead of 7: the cached chunks are
///   scattered over the heaps and keep their pages resident through `malloc_trim` (after SFU
///   churn, 1 to 2 MiB; the soak measured +8.5% RSS instead of +12.8%, for no CPU it could
///   tell apart, see `docs/benchmarks.md`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TUNABLES: &str = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072:glibc.malloc.tcache_count=2";

/// Starts the process again with [`MALLOC_TUNABLES`] unless `GLIBC_TUNABLES` is already set
/// (by this function, or by an operator who chose otherwise). glibc reads it only at start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn with_malloc_tunables() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", MALLOC_TUNABLES)
        .exec();
    // Only reached when exec failed: run as we are.
    eprintln!("peer-server: could not restart with malloc tunables: {error}");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn with_malloc_tunables() {}

/// Gives the allocator's free memory back to the system: glibc keeps freed small chunks (the
/// buffers of thousands of connections that are gone) in its heaps otherwise.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_memory() {
    // SAFETY: `malloc_trim` takes a plain integer, touches only the allocator's own state, and
    // is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_memory() {}

fn main() -> Result<()> {
    with_malloc_tunables();
    let mut args = std::env::args().skip(1);
    let mut config_path = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => config_path = Some(args.next().context("--config needs a file")?),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--version" | "-V" => {
                println!("peer-server {}", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Each peer holds a socket: raise the soft file-descriptor limit to the hard limit.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
    let (config, development) = match &config_path {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            (
                Config::from_toml(&text)
                    .with_context(|| format!("invalid configuration in {path}"))?,
                false,
            )
        }
        None => (Config::development(), true),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let server = Server::bind(config)
            .await
            .context("binding the listen address")?
            .with_memory_release(std::sync::Arc::new(release_memory));
        let addr = server.local_addr();
        let mut out = std::io::stdout();
        writeln!(out, "peer-server listening on http://{addr}")?;
        if let Some(metrics) = server.metrics_addr() {
            writeln!(
                out,
                "peer-server metrics on http://{metrics}/metrics (and /healthz, /readyz)"
            )?;
        }
        if development {
            writeln!(out, "development app key: {DEV_API_KEY} (no credential required, REST API on)")?;
            writeln!(
                out,
                "skyway-js: new Peer({{ key: '{DEV_API_KEY}', host: '{}', port: {}, secure: false, turn: false }})",
                addr.ip(),
                addr.port()
            )?;
        }
        out.flush()?;
        server.run(shutdown_signal()).await.context("serving")?;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
