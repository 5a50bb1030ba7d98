//! [`TurnServer`]: the tokio shell around `turn` 0.17.2's request handling, on UDP and on a
//! TCP listener on the same port (`tcp.rs`).
//!
//! UDP: with a specific `listen` IP, one socket. With an unspecified one (`0.0.0.0`), one
//! socket per local IPv4 address, all on one port, each with its own allocation manager whose
//! relays are bound to, and announced at, that address (unless `public_ip`): a socket bound to
//! the wildcard answers from the address of the route back, which on a host with several
//! addresses is not always the one the client sent to, and browsers drop such answers.
//! Addresses that appear after the start are not served.
//!
//! The crate's own `Server` cannot refuse peers or count allocations, so this runs its own
//! read loops and checks each client message (`handler.rs`) before
//! `turn::server::request::Request` handles it:
//! - an authenticated Allocate past the user's or the server's quota gets 486;
//! - CreatePermission or ChannelBind naming a refused peer address gets 403 (every
//!   XOR-PEER-ADDRESS is checked, not only the first the crate would install);
//! - a Send indication to a refused peer is dropped.
//!
//! Each allocation's relay socket is wrapped ([`GuardedRelay`]): it refuses refused peers a
//! second time and holds relayed bytes, both ways, to the allocation's byte budget.
//! Credentials are the TURN REST ones of `peer_auth::turn`. The nonce map the crate keeps per
//! unauthenticated request is pruned on a timer.

use crate::handler::{released, Ctx, Shared, TurnStats};
use crate::policy::{IpRange, RelayPolicy};
use crate::quota::{Allocations, ByteBudget};
use async_trait::async_trait;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use turn::allocation::allocation_manager::{Manager, ManagerConfig};
use turn::auth::{generate_auth_key, AuthHandler};
use turn::relay::RelayAddressGenerator;
use webrtc_util::Conn;

/// How the TURN server runs.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// The UDP address it listens on.
    pub listen: SocketAddr,
    /// The realm of its credentials.
    pub realm: String,
    /// The shared secret of its credentials (`peer_auth::turn`).
    pub secret: Vec<u8>,
    /// The address relay candidates announce (a public IP behind 1:1 NAT). Default: the
    /// address relay sockets are bound to.
    pub public_ip: Option<IpAddr>,
    /// Where relay sockets are bound. Default: the address the client reached (the `listen`
    /// IP, or with an unspecified one the local address of that UDP socket; for TCP clients
    /// the first non-loopback local address).
    pub relay_ip: Option<IpAddr>,
    /// Peer ranges let through although refused by default.
    pub relay_allow: Vec<IpRange>,
    /// Allocations one user (`<key>$<peerId>`) may hold.
    pub max_allocations_per_user: usize,
    /// Allocations the server holds at most.
    pub max_allocations: usize,
    /// Relayed bytes per second per allocation, each way.
    pub bytes_per_second: u64,
    /// Also serve TURN over TCP on the same address (browsers behind UDP-blocking firewalls).
    pub tcp: bool,
    /// TCP connections held at most; past it new ones are closed at once.
    pub max_tcp_connections: usize,
}

impl Default for TurnConfig {
    fn default() -> TurnConfig {
        TurnConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 3478)),
            realm: "peer".to_owned(),
            secret: Vec::new(),
            public_ip: None,
            relay_ip: None,
            relay_allow: Vec::new(),
            max_allocations_per_user: 10,
            max_allocations: 10_000,
            bytes_per_second: 2_500_000,
            tcp: true,
            max_tcp_connections: 10_000,
        }
    }
}

/// Why the server did not start.
#[derive(Debug)]
pub enum TurnError {
    /// The UDP socket could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The configuration cannot work (an empty secret, say).
    Config(String),
}

impl std::fmt::Display for TurnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TurnError::Bind(a, e) => write!(f, "cannot bind the TURN socket {a}: {e}"),
            TurnError::Config(e) => write!(f, "TURN configuration: {e}"),
        }
    }
}

impl std::error::Error for TurnError {}

/// A running TURN server; stops on drop.
pub struct TurnServer {
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    /// The allocations of UDP clients, and of TCP clients when TCP is on.
    managers: Vec<Arc<Manager>>,
    shared: Arc<Shared>,
}

impl Drop for TurnServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl TurnServer {
    /// Binds the socket and starts serving.
    pub async fn start(config: TurnConfig) -> Result<TurnServer, TurnError> {
        if config.secret.is_empty() {
            return Err(TurnError::Config("the secret is empty".into()));
        }
        let bound = bind(config.listen, config.tcp).await?;
        let local_addr = bound.local_addr;
        let policy = Arc::new(RelayPolicy::new(config.relay_allow.clone()));
        let relayed = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            quota: Mutex::new(Allocations::new(
                config.max_allocations_per_user,
                config.max_allocations,
            )),
            owners: Mutex::new(HashMap::new()),
            stats: Mutex::new(TurnStats::default()),
            relayed_bytes: relayed.clone(),
        });
        let nonces = Arc::new(tokio::sync::Mutex::new(HashMap::new()));
        let ctx = Arc::new(Ctx {
            nonces: nonces.clone(),
            auth: Arc::new(RestAuth {
                secret: config.secret.clone(),
            }),
            realm: config.realm.clone(),
            policy: policy.clone(),
            shared: shared.clone(),
        });
        let mut tasks = vec![tokio::spawn(prune_nonces(nonces))];
        let mut managers = Vec::new();
        // The address relays of TCP clients use: the first non-loopback one bound.
        let primary = bound
            .udp
            .iter()
            .map(|(_, a)| a.ip())
            .find(|ip| !ip.is_loopback())
            .or_else(|| bound.udp.first().map(|(_, a)| a.ip()))
            .unwrap_or(local_addr.ip());
        for (socket, addr) in bound.udp {
            // Relays of this socket's clients sit at the address they reached.
            let relay_ip = config.relay_ip.unwrap_or(addr.ip());
            let (notify_tx, notify_rx) = mpsc::channel(64);
            let manager = Arc::new(Manager::new(ManagerConfig {
                relay_addr_generator: Box::new(relays(&config, relay_ip, policy.clone(), &relayed)),
                alloc_close_notify: Some(notify_tx),
            }));
            let socket: Arc<dyn Conn + Send + Sync> = Arc::new(socket);
            tasks.push(tokio::spawn(udp_loop(
                socket,
                addr,
                manager.clone(),
                ctx.clone(),
            )));
            tasks.push(tokio::spawn(released(notify_rx, shared.clone(), "udp")));
            managers.push(manager);
        }
        let relay_ip = config.relay_ip.unwrap_or(primary);
        let tcp = bound.tcp;
        if let Some(tcp) = tcp {
            // TCP clients have their own allocation manager: their five-tuples are built as
            // UDP ones by the crate and must not meet UDP clients'.
            let (tcp_notify_tx, tcp_notify_rx) = mpsc::channel(64);
            let tcp_manager = Arc::new(Manager::new(ManagerConfig {
                relay_addr_generator: Box::new(relays(
                    &config,
                    relay_ip,
                    ctx.policy.clone(),
                    &shared.relayed_bytes,
                )),
                alloc_close_notify: Some(tcp_notify_tx),
            }));
            tasks.push(tokio::spawn(released(tcp_notify_rx, shared.clone(), "tcp")));
            managers.push(tcp_manager.clone());
            tasks.push(tokio::spawn(crate::tcp::accept_loop(
                tcp,
                tcp_manager,
                ctx,
                config.max_tcp_connections,
            )));
        }
        tracing::info!(%local_addr, tcp = config.tcp, "TURN server listening");
        Ok(TurnServer {
            local_addr,
            tasks,
            managers,
            shared,
        })
    }

    /// The address it listens on (UDP, and TCP when on).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What it holds and refused so far.
    pub fn stats(&self) -> TurnStats {
        let mut s = self.shared.stats.lock().map(|s| *s).unwrap_or_default();
        s.allocations = self.shared.quota.lock().map(|q| q.held()).unwrap_or(0);
        s.relayed_bytes = self.shared.relayed_bytes.load(Ordering::Relaxed);
        s
    }

    /// Allocations `turn` holds now, UDP and TCP clients' (the quota's count follows them as
    /// they end).
    pub async fn live_allocations(&self) -> usize {
        let mut n = 0;
        for m in &self.managers {
            n += m.get_allocations_info(None).await.len();
        }
        n
    }

    /// Stops serving and closes every allocation.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        for m in &self.managers {
            if let Err(e) = m.close().await {
                tracing::debug!(error = %e, "closing TURN allocations");
            }
        }
    }
}

/// What [`bind`] bound.
struct Bound {
    /// The UDP sockets with their addresses.
    udp: Vec<(UdpSocket, SocketAddr)>,
    /// `listen` with the port chosen.
    local_addr: SocketAddr,
    tcp: Option<tokio::net::TcpListener>,
}

/// The local IPv4 addresses, loopback included, in interface order, without repeats.
fn local_ipv4() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for iface in webrtc_util::ifaces::ifaces().unwrap_or_default() {
        if let Some(SocketAddr::V4(a)) = iface.addr {
            let ip = IpAddr::V4(*a.ip());
            if !ip.is_unspecified() && !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// Binds the UDP sockets (one per local IPv4 address when `listen`'s IP is unspecified, see
/// the module docs) and, with `tcp`, a TCP listener on the same port and `listen`'s IP. With
/// port 0 the first socket's free port may be taken elsewhere: then another port is tried (a
/// few times).
async fn bind(listen: SocketAddr, tcp: bool) -> Result<Bound, TurnError> {
    let ips = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => {
            let found = local_ipv4();
            if found.is_empty() {
                vec![listen.ip()]
            } else {
                found
            }
        }
        ip => vec![ip],
    };
    let attempts = if listen.port() == 0 { 10 } else { 1 };
    let mut last = None;
    'attempt: for _ in 0..attempts {
        let mut port = listen.port();
        let mut udp = Vec::new();
        for ip in &ips {
            let at = SocketAddr::new(*ip, port);
            let socket = match UdpSocket::bind(at).await {
                Ok(s) => s,
                Err(e) if listen.port() == 0 && port != 0 => {
                    last = Some(TurnError::Bind(at, e));
                    continue 'attempt;
                }
                Err(e) => return Err(TurnError::Bind(at, e)),
            };
            let addr = socket.local_addr().map_err(|e| TurnError::Bind(at, e))?;
            port = addr.port();
            udp.push((socket, addr));
        }
        let local_addr = SocketAddr::new(listen.ip(), port);
        if !tcp {
            return Ok(Bound {
                udp,
                local_addr,
                tcp: None,
            });
        }
        match tokio::net::TcpListener::bind(local_addr).await {
            Ok(l) => {
                return Ok(Bound {
                    udp,
                    local_addr,
                    tcp: Some(l),
                })
            }
            Err(e) if listen.port() == 0 => last = Some(TurnError::Bind(local_addr, e)),
            Err(e) => return Err(TurnError::Bind(local_addr, e)),
        }
    }
    Err(last.unwrap_or_else(|| TurnError::Config("no port".into())))
}

/// TURN REST credentials: the key of `username` if it is well formed and not expired.
struct RestAuth {
    secret: Vec<u8>,
}

impl AuthHandler for RestAuth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        _src: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match peer_auth::turn::check_turn_username(&self.secret, username, now) {
            Ok((_, password)) => Ok(generate_auth_key(username, realm, &password)),
            Err(e) => Err(turn::Error::Other(e.to_string())),
        }
    }
}

/// Reads client datagrams and handles them one by one.
async fn udp_loop(
    conn: Arc<dyn Conn + Send + Sync>,
    local_addr: SocketAddr,
    manager: Arc<Manager>,
    ctx: Arc<Ctx>,
) {
    let mut buf = vec![0u8; 1600];
    loop {
        let (n, src) = match conn.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "TURN socket read failed; the server stops");
                return;
            }
        };
        ctx.handle("udp", &conn, &manager, local_addr, src, &buf[..n])
            .await;
    }
}

/// Drops nonces older than the crate's lifetime, and all of them past a bound (clients then
/// get 438 Stale Nonce and retry with a fresh one).
async fn prune_nonces(nonces: Arc<tokio::sync::Mutex<HashMap<String, tokio::time::Instant>>>) {
    const MAX_NONCES: usize = 100_000;
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let mut n = nonces.lock().await;
        let now = tokio::time::Instant::now();
        n.retain(|_, t| now.duration_since(*t) < Duration::from_secs(3600));
        if n.len() > MAX_NONCES {
            tracing::warn!(nonces = n.len(), "TURN nonce map over its bound: cleared");
            n.clear();
        }
    }
}

fn relays(
    config: &TurnConfig,
    relay_ip: IpAddr,
    policy: Arc<RelayPolicy>,
    relayed: &Arc<AtomicU64>,
) -> Relays {
    Relays {
        bind_ip: relay_ip,
        announce: config.public_ip.unwrap_or(relay_ip),
        policy,
        bytes_per_second: config.bytes_per_second,
        relayed: relayed.clone(),
    }
}

/// Makes each allocation's relay socket.
struct Relays {
    bind_ip: IpAddr,
    announce: IpAddr,
    policy: Arc<RelayPolicy>,
    bytes_per_second: u64,
    relayed: Arc<AtomicU64>,
}

#[async_trait]
impl RelayAddressGenerator for Relays {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if !use_ipv4 {
            return Err(turn::Error::Other("only IPv4 relays".into()));
        }
        let socket = UdpSocket::bind(SocketAddr::new(self.bind_ip, requested_port))
            .await
            .map_err(|e| turn::Error::Other(e.to_string()))?;
        let local = socket
            .local_addr()
            .map_err(|e| turn::Error::Other(e.to_string()))?;
        let conn = GuardedRelay {
            socket,
            policy: self.policy.clone(),
            to_peer: Mutex::new(ByteBudget::new(self.bytes_per_second)),
            from_peer: Mutex::new(ByteBudget::new(self.bytes_per_second)),
            relayed: self.relayed.clone(),
        };
        Ok((Arc::new(conn), SocketAddr::new(self.announce, local.port())))
    }
}

/// An allocation's relay socket, with the peer policy and the byte budget.
pub struct GuardedRelay {
    socket: UdpSocket,
    policy: Arc<RelayPolicy>,
    to_peer: Mutex<ByteBudget>,
    from_peer: Mutex<ByteBudget>,
    relayed: Arc<AtomicU64>,
}

fn admit(budget: &Mutex<ByteBudget>, n: usize) -> bool {
    budget.lock().is_ok_and(|mut b| b.admit(Instant::now(), n))
}

#[async_trait]
impl Conn for GuardedRelay {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            // From refused peers, or over the budget: dropped, as the network would.
            if self.policy.check(from.ip()).is_ok() && admit(&self.from_peer, n) {
                self.relayed.fetch_add(n as u64, Ordering::Relaxed);
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        Ok(self.socket.send(buf).await?)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if self.policy.check(target.ip()).is_err() || !admit(&self.to_peer, buf.len()) {
            // Dropped; the sender sees it sent, as with network loss.
            return Ok(buf.len());
        }
        let n = self.socket.send_to(buf, target).await?;
        self.relayed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
