//! `peer-server`: a self-hosted signaling server for the unmodified `skyway-js@4.4.5` SDK.
//!
//! Layout:
//! - [`config`]: the TOML configuration and its defaults.
//! - [`hub`]: the signaling state machine (peers, rooms, credentials); pure, no I/O.
//! - [`engine`]: the Engine.IO v3 transport shell (sessions, long-polling, WebSocket).
//! - [`shared`]: glue between transports and the hub.
//! - [`http`] and [`rest`]: routing, CORS and the REST API.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let server = peer_server::Server::bind(peer_server::config::Config::development()).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod http;
pub mod hub;
pub mod rest;
pub mod shared;

use config::Config;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use shared::Shared;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};

/// Length of the kernel's accept queue (capped by `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// A bound server, ready to run.
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
}

impl Server {
    /// Binds the configured address.
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let socket = if config.listen.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(config.listen)?;
        // A deep accept queue: thousands of peers may (re)connect at once after a restart.
        let listener = socket.listen(LISTEN_BACKLOG)?;
        Ok(Server {
            shared: Arc::new(Shared::new(config)),
            listener,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.shared.config.listen)
    }

    /// Serves until `shutdown` completes, then closes every session.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Server { shared, listener } = self;
        let ticker = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(500));
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    interval.tick().await;
                    shared.tick();
                }
            })
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req| http::handle(shared.clone(), req));
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(Duration::from_secs(30))
                            .max_buf_size(64 * 1024)
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades();
                        if let Err(e) = conn.await {
                            tracing::trace!(error = %e, "http connection ended");
                        }
                    });
                }
            }
        }
        tracing::info!("shutting down");
        ticker.abort();
        shared.close_all();
        // Give connection tasks a moment to flush close frames.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }
}
