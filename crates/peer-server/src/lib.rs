//! `peer-server`: a self-hosted signaling server for the unmodified `skyway-js@4.4.5` SDK.
//!
//! Layout, each layer using only the ones above it:
//! - [`config`]: the TOML configuration and its defaults.
//! - [`hub`]: the signaling state machine (peers, rooms, credentials, deadlines); pure, no I/O.
//! - [`admission`]: connection, session and inbound-byte limits; [`session`]: one Engine.IO
//!   session's bounded outbox and transport state.
//! - [`shared`]: glue between transports and the hub.
//! - [`response`]: HTTP responses and CORS; [`deadline_io`]: the socket under hyper, with write
//!   and request-head deadlines.
//! - [`engine`]: the Engine.IO v3 transports (long-polling, WebSocket); [`rest`]: the REST API.
//! - [`http`]: routing; [`listener`]: the accept loop.
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

pub mod admission;
pub mod capacity;
pub mod cluster;
pub mod config;
pub mod deadline_io;
pub mod engine;
pub mod http;
pub mod hub;
pub mod listener;
pub mod metrics;
pub mod ops;
pub mod outbound;
pub mod response;
pub mod rest;
pub mod session;
pub mod shared;

use config::Config;
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
    /// The operations listener (`[metrics] listen`), when configured.
    ops: Option<TcpListener>,
    /// Cluster mode: the queue of messages for other nodes and this node's inbox.
    cluster: Option<ClusterQueues>,
    /// The SFU's offers and refusals, for the hub (when the SFU is enabled).
    sfu_events: Option<tokio::sync::mpsc::Receiver<peer_sfu::SfuEvent>>,
}

/// What the cluster task reads (see [`cluster::run`]).
struct ClusterQueues {
    remote: tokio::sync::mpsc::Receiver<cluster::Outbound>,
    frames: tokio::sync::mpsc::Receiver<peer_cluster::message::Frame>,
    id_ttl: Duration,
}

/// SFU events queued for the hub.
const SFU_EVENT_CAPACITY: usize = 4096;

/// How often sessions are checked for silence and unread queues.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

impl Server {
    /// Binds the configured address. The connection limit is derived from the process's
    /// file-descriptor limit (see [`admission::connection_limit`]).
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
        let fd_limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024);
        let max_connections = admission::connection_limit(fd_limit, config.limits.max_connections);
        tracing::info!(
            fd_limit,
            max_connections,
            max_sessions = config.limits.max_sessions.min(max_connections),
            "limits"
        );
        for app in &config.apps {
            if app.allowed_origins.is_empty() {
                tracing::warn!(
                    app = %app.key,
                    "app accepts any Origin: any web page can use its key and read its peer list; set allowed_origins"
                );
            }
        }
        let ops = match config.metrics.listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("[metrics] listen {addr}: {e}"))
            })?),
            None => None,
        };
        let mut shared = Shared::new(config, max_connections);
        let sfu_events = if shared.config.sfu.enabled {
            let (tx, rx) = tokio::sync::mpsc::channel(SFU_EVENT_CAPACITY);
            let sfu = &shared.config.sfu;
            let config = peer_sfu::SfuConfig {
                udp: sfu.udp.unwrap_or(shared.config.listen),
                public_ip: sfu.public_ip,
                limits: peer_sfu::SfuLimits {
                    max_members_per_room: sfu.max_members_per_room,
                    max_forwarded_tracks: sfu.max_forwarded_tracks,
                    max_sections_per_member: sfu.max_sections_per_member,
                    max_retransmits_per_track_per_second: sfu.max_retransmits_per_track_per_second,
                    ..peer_sfu::SfuLimits::default()
                },
                test_loss: (sfu.test_loss_percent > 0 && !sfu.test_loss_peer_prefix.is_empty())
                    .then(|| (sfu.test_loss_peer_prefix.clone(), sfu.test_loss_percent)),
            };
            let handle = peer_sfu::Sfu::start(config, tx)
                .await
                .map_err(std::io::Error::other)?;
            tracing::info!(udp = %handle.local_addr(), "SFU media");
            shared.attach_sfu(handle);
            Some(rx)
        } else {
            None
        };
        if shared.config.turn.enabled {
            start_turn(&mut shared).await?;
        }
        let cluster = match shared.config.cluster.redis.clone() {
            Some(url) => {
                let mut config = peer_cluster::ClusterConfig::new(url.clone());
                config.prefix = shared.config.cluster.prefix.clone();
                let id_ttl = config.id_ttl;
                let mut random = [0u8; 16];
                getrandom::fill(&mut random)
                    .map_err(|e| std::io::Error::other(format!("no random node id: {e}")))?;
                let id = peer_cluster::NodeId::from_random(random);
                let (node, frames) = peer_cluster::Node::connect(config, id.clone())
                    .await
                    .map_err(|e| {
                        let url = peer_cluster::node::redacted(&url);
                        std::io::Error::other(format!("[cluster] redis {url}: {e}"))
                    })?;
                tracing::info!(node = %id, "cluster node");
                let remote = shared.attach_cluster(Arc::new(node));
                Some(ClusterQueues {
                    remote,
                    frames,
                    id_ttl,
                })
            }
            None => None,
        };
        Ok(Server {
            shared: Arc::new(shared),
            listener,
            ops,
            cluster,
            sfu_events,
        })
    }

    /// The TURN server's address (UDP and TCP), when it runs.
    pub fn turn_addr(&self) -> Option<SocketAddr> {
        self.shared.turn_addr()
    }

    /// The operations listener's address (`/metrics`, `/healthz`, `/readyz`), when configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The SFU's UDP address, when the SFU is enabled.
    pub fn sfu_addr(&self) -> Option<SocketAddr> {
        self.shared.sfu_addr()
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.shared.config.listen)
    }

    /// Sets the function that returns the allocator's freed memory to the system once the load
    /// falls from a peak (see [`shared::MemoryRelease`]; the `peer-server` binary passes glibc's
    /// `malloc_trim`).
    pub fn with_memory_release(self, release: shared::MemoryRelease) -> Server {
        self.shared.set_memory_release(release);
        self
    }

    /// The shared state (for embedding and tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves until `shutdown` completes, then closes every session.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Server {
            shared,
            listener,
            ops,
            cluster,
            sfu_events,
        } = self;
        let cluster = cluster
            .map(|q| tokio::spawn(cluster::run(shared.clone(), q.remote, q.frames, q.id_ttl)));
        let ops = ops.map(|l| tokio::spawn(ops::serve(shared.clone(), l)));
        let timers = tokio::spawn(hub_timers(shared.clone()));
        let sfu = sfu_events.map(|mut events| {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    shared.sfu_event(event);
                }
            })
        });
        let sweeper = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(SWEEP_INTERVAL);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    interval.tick().await;
                    shared.sweep();
                }
            })
        };
        shared.set_ready(true);
        tokio::select! {
            _ = shutdown => {}
            _ = listener::accept_loop(shared.clone(), listener) => {}
        }
        shared.set_ready(false);
        tracing::info!("shutting down");
        timers.abort();
        sweeper.abort();
        if let Some(sfu) = sfu {
            sfu.abort();
        }
        if let Some(ops) = ops {
            ops.abort();
        }
        shared.close_all();
        // Give connection tasks a moment to flush close frames (and the cluster task to send
        // what their ends queued for other nodes).
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(cluster) = cluster {
            // Give ids and rooms up, so the peers can reconnect through another node at once.
            let _ = tokio::time::timeout(Duration::from_secs(3), cluster::leave(&shared)).await;
            cluster.abort();
        }
        Ok(())
    }
}

/// Sleeps until the hub's next deadline (or until an earlier one is set), then lets the hub
/// handle what is due.
async fn hub_timers(shared: Arc<Shared>) {
    let mut next = shared.deadline_watch();
    loop {
        let at = *next.borrow_and_update();
        let sleep = async {
            match at {
                Some(at_ms) => {
                    let wait = at_ms.saturating_sub(shared::now_ms());
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => shared.handle_timeout(),
            changed = next.changed() => if changed.is_err() { return },
        }
    }
}

/// Starts the embedded TURN server and lets the hub issue its credentials. With `[turn]
/// listen` left to its default, a port in use only disables TURN (logged); a configured one
/// that cannot be bound is an error.
async fn start_turn(shared: &mut Shared) -> std::io::Result<()> {
    let t = shared.config.turn.clone();
    let default_listen = SocketAddr::new(shared.config.listen.ip(), 3478);
    let listen = t.listen.unwrap_or(default_listen);
    let secret = match &t.secret {
        Some(s) => s.clone().into_bytes(),
        None => {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|e| {
                std::io::Error::other(format!("no random TURN secret: {e}; set [turn] secret"))
            })?;
            b.to_vec()
        }
    };
    let relay_allow = t
        .relay_allow
        .iter()
        .map(|r| r.parse().map_err(std::io::Error::other))
        .collect::<std::io::Result<Vec<_>>>()?;
    let config = peer_turn::TurnConfig {
        listen,
        realm: t.realm.clone(),
        secret: secret.clone(),
        public_ip: t.public_ip,
        relay_ip: None,
        relay_allow,
        max_allocations_per_user: t.max_allocations_per_user,
        max_allocations: t.max_allocations,
        bytes_per_second: t.bytes_per_second,
        tcp: t.tcp,
        max_tcp_connections: t.max_tcp_connections,
    };
    let server = match peer_turn::TurnServer::start(config).await {
        Ok(s) => s,
        Err(e) if t.listen.is_none() => {
            tracing::error!(error = %e, "TURN is off: set [turn] listen, or enabled = false");
            return Ok(());
        }
        Err(e) => return Err(std::io::Error::other(e.to_string())),
    };
    let addr = server.local_addr();
    // The address clients reach: the public IP, else the bound one (unless unspecified).
    let host = t
        .public_ip
        .or_else(|| (!addr.ip().is_unspecified()).then_some(addr.ip()));
    let urls = match host {
        Some(ip) => {
            let at = SocketAddr::new(ip, addr.port());
            let mut urls = vec![format!("turn:{at}?transport=udp")];
            if t.tcp {
                urls.push(format!("turn:{at}?transport=tcp"));
            }
            urls
        }
        None => Vec::new(),
    };
    tracing::info!(%addr, tcp = t.tcp, urls = ?urls, "TURN server");
    shared.attach_turn(
        server,
        hub::TurnIssuer {
            secret,
            ttl_secs: t.credential_ttl,
            urls,
            to_every_peer: t.credential_to_browsers,
        },
    );
    Ok(())
}
