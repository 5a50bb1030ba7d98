//! The `peer-server` binary: reads the configuration, binds, serves until SIGINT or SIGTERM.

use anyhow::{bail, Context, Result};
use peer_server::config::{Config, DEV_API_KEY};
use peer_server::Server;
use std::io::Write;

const USAGE: &str = "usage: peer-server [--config FILE]

Serves skyway-js 4.4.5 signaling (Socket.IO at /socket.io/) and its REST API.
Without --config it listens on 127.0.0.1:9000 with one development app.
Logging: RUST_LOG (e.g. RUST_LOG=peer_server=debug).";

fn main() -> Result<()> {
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
        let server = Server::bind(config).await.context("binding the listen address")?;
        let addr = server.local_addr();
        let mut out = std::io::stdout();
        writeln!(out, "peer-server listening on http://{addr}")?;
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
