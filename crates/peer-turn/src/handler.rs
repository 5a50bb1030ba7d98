//! How one client message is handled, whatever listener it came from: the checks before
//! `turn` sees it (quotas: 486; refused peers: 403 or dropped), `turn`'s `Request`, and the
//! allocation accounting that follows (the quota counts an allocation once `turn` made it,
//! and gives it back on its close notification).

use crate::peek::{self, method, Class};
use crate::policy::RelayPolicy;
use crate::quota::Allocations;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use turn::allocation::allocation_manager::Manager;
use turn::allocation::five_tuple::FiveTuple;
use turn::allocation::AllocationInfo;
use turn::auth::AuthHandler;
use turn::server::request::Request;
use webrtc_util::Conn;

/// Counters of what the server refused, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TurnStats {
    /// Allocations held now.
    pub allocations: usize,
    /// Allocate requests refused with 486.
    pub quota_refusals: u64,
    /// Requests refused with 403, and Send indications dropped, for refused peers.
    pub peer_refusals: u64,
    /// Bytes relayed between clients and peers, both ways (what the budgets dropped not
    /// counted).
    pub relayed_bytes: u64,
}

/// What the listeners and the notifiers share.
pub(crate) struct Shared {
    pub(crate) quota: Mutex<Allocations>,
    /// The user of each allocation, by its five-tuple.
    pub(crate) owners: Mutex<HashMap<String, String>>,
    pub(crate) stats: Mutex<TurnStats>,
    /// Bytes the relay sockets passed, both ways.
    pub(crate) relayed_bytes: Arc<std::sync::atomic::AtomicU64>,
}

/// An allocation's key in the owners map: the listener's transport and the five-tuple.
fn key(transport: &str, ft: &FiveTuple) -> String {
    format!("{transport} {}>{}", ft.src_addr, ft.dst_addr)
}

/// What every listener's messages are handled with.
pub(crate) struct Ctx {
    pub(crate) nonces: Arc<tokio::sync::Mutex<HashMap<String, tokio::time::Instant>>>,
    pub(crate) auth: Arc<dyn AuthHandler + Send + Sync>,
    pub(crate) realm: String,
    pub(crate) policy: Arc<RelayPolicy>,
    pub(crate) shared: Arc<Shared>,
}

impl Ctx {
    /// Checks one client message and hands it to `turn`; replies go out on `conn`.
    pub(crate) async fn handle(
        &self,
        transport: &'static str,
        conn: &Arc<dyn Conn + Send + Sync>,
        manager: &Arc<Manager>,
        local_addr: SocketAddr,
        src: SocketAddr,
        data: &[u8],
    ) {
        let ft = FiveTuple {
            src_addr: src,
            dst_addr: local_addr,
            ..Default::default()
        };
        // Checks before `turn` sees the message.
        let mut allocating: Option<String> = None;
        if let Some(p) = peek::peek(data) {
            let refuse = |code: u16, reason: &str| peek::error_response(&p, code, reason);
            match (p.method, p.class) {
                (method::ALLOCATE, Class::Request) => {
                    let user = p
                        .username
                        .as_deref()
                        .and_then(|u| peer_auth::turn::parse_turn_username(u).ok())
                        .map(|u| u.user.to_owned());
                    if let Some(user) = user {
                        let existing = manager.get_allocation(&ft).await.is_some();
                        let full = self
                            .shared
                            .quota
                            .lock()
                            .map_or(true, |q| q.check(&user).is_err());
                        if full && !existing {
                            if let Ok(mut s) = self.shared.stats.lock() {
                                s.quota_refusals += 1;
                            }
                            tracing::debug!(%src, %user, "TURN allocation refused: quota");
                            let _ = conn
                                .send_to(&refuse(486, "Allocation Quota Reached"), src)
                                .await;
                            return;
                        }
                        allocating = (!existing).then_some(user);
                    }
                }
                (method::CREATE_PERMISSION | method::CHANNEL_BIND, Class::Request)
                | (method::SEND, Class::Indication) => {
                    if let Some(bad) = p.peers.iter().find_map(|a| self.policy.check(a.ip()).err())
                    {
                        if let Ok(mut s) = self.shared.stats.lock() {
                            s.peer_refusals += 1;
                        }
                        tracing::debug!(%src, "{bad}");
                        if p.class == Class::Request {
                            let _ = conn.send_to(&refuse(403, "Forbidden"), src).await;
                        }
                        return;
                    }
                }
                _ => {}
            }
        }
        let mut req = Request {
            conn: conn.clone(),
            src_addr: src,
            buff: data.to_vec(),
            allocation_manager: manager.clone(),
            nonces: self.nonces.clone(),
            auth_handler: self.auth.clone(),
            realm: self.realm.clone(),
            // Zero would expire bindings at once (the crate's `Server` defaults it to 600 s).
            channel_bind_timeout: Duration::from_secs(600),
        };
        if let Err(e) = req.handle_request().await {
            tracing::debug!(%src, error = %e, "TURN request");
        }
        if let Some(user) = allocating {
            if manager.get_allocation(&ft).await.is_some() {
                let counted = self
                    .shared
                    .quota
                    .lock()
                    .map(|mut q| q.acquire(&user).is_ok());
                if let (Ok(true), Ok(mut owners)) = (counted, self.shared.owners.lock()) {
                    owners.insert(key(transport, &ft), user);
                }
            }
        }
    }
}

/// Gives an ended allocation's quota back.
pub(crate) async fn released(
    mut rx: mpsc::Receiver<AllocationInfo>,
    shared: Arc<Shared>,
    transport: &'static str,
) {
    while let Some(info) = rx.recv().await {
        let user = shared
            .owners
            .lock()
            .ok()
            .and_then(|mut o| o.remove(&key(transport, &info.five_tuple)));
        if let (Some(user), Ok(mut q)) = (user, shared.quota.lock()) {
            q.release(&user);
        }
    }
}
