//! Cluster mode's tasks (`[cluster] redis`): what joins the hub to the other nodes through
//! `peer_cluster::Node`.
//!
//! - Messages the hub could not deliver here ([`crate::hub::Output::Remote`]) are taken in
//!   order from one queue: the node holding the peer id gets them; if none does, the sender
//!   gets `peer-unavailable`.
//! - Messages from other nodes for peers here go to the hub.
//! - The ids of this node's peers are renewed every third of their expiry, so they stay
//!   this node's while the peers live and expire with the node.
//!
//! - Nodes whose liveness expired are noticed; their peers' contacts here get `LEAVE`.
//! - The open peers of this node are published with the renewals, for `listAllPeers` and
//!   `exists` across nodes.
//!
//! Built so far: peer ids unique across nodes, `OFFER`/`ANSWER`/`CANDIDATE`/`FORCE_CLOSE`/
//! `LEAVE` between peers on different nodes (also for the peers of a node that died), and the
//! REST calls across nodes. Not yet: rooms spanning nodes (see `docs/decisions.md`).

use crate::hub::RemoteMessage;
use crate::shared::Shared;
use bytes::Bytes;
use peer_cluster::message::{Frame, NodeMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Tells the sender that no node has the peer (nothing for `LEAVE`, which has no sender).
fn unavailable(shared: &Shared, msg: &RemoteMessage) {
    if let Some(from) = msg.from {
        shared.remote_unavailable(from, &msg.dst);
    }
}

/// How often the node list is checked for nodes that died.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Notices nodes whose liveness expired: their peers' contacts here get `LEAVE` (a contact
/// whose id is held by a dead node, or by none, is gone), and the node is forgotten. Bounded by
/// the node expiry (10 s) plus [`WATCH_EVERY`].
async fn watch_nodes(shared: Arc<Shared>) {
    let Some(node) = shared.cluster_node().cloned() else {
        return;
    };
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let (Ok(listed), Ok(alive)) = (node.listed_nodes().await, node.live_nodes().await) else {
            continue;
        };
        let dead: Vec<_> = listed.into_iter().filter(|n| !alive.contains(n)).collect();
        if dead.is_empty() {
            continue;
        }
        tracing::warn!(nodes = ?dead, "cluster nodes gone");
        for (app, local, contact) in shared.remote_contacts() {
            let gone = match node.owner(&app, &contact).await {
                Ok(Some(owner)) => dead.contains(&owner),
                Ok(None) => true,
                Err(_) => false,
            };
            if gone {
                let body = serde_json::to_string(&contact).unwrap_or_default();
                shared.deliver_remote(&app, &local, "LEAVE", &body);
            }
        }
        for d in &dead {
            if let Err(e) = node.forget_node(d).await {
                tracing::warn!(error = %e, node = %d, "dead node not forgotten");
            }
        }
    }
}

/// How often ids are renewed and open peers published: a third of the id expiry, at most
/// 2 s (so other nodes list a new peer within 2 s).
fn renew_every(id_ttl: Duration) -> Duration {
    (id_ttl / 3).min(Duration::from_secs(2))
}

/// Runs the cluster tasks until the receivers close or the task is aborted.
pub async fn run(
    shared: Arc<Shared>,
    mut remote: mpsc::UnboundedReceiver<RemoteMessage>,
    mut frames: mpsc::Receiver<Frame>,
    id_ttl: Duration,
) {
    let Some(node) = shared.cluster_node().cloned() else {
        return;
    };
    let outgoing = {
        let shared = shared.clone();
        let node = node.clone();
        async move {
            while let Some(msg) = remote.recv().await {
                match node.owner(&msg.app, &msg.dst).await {
                    Ok(Some(owner)) if owner != *node.id() => {
                        let sent = node
                            .send(
                                &owner,
                                NodeMessage::Deliver {
                                    app: msg.app.clone(),
                                    dst: msg.dst.clone(),
                                    event: msg.event.to_owned(),
                                    body: Bytes::from(msg.body.clone()),
                                },
                            )
                            .await;
                        if let Err(e) = sent {
                            tracing::warn!(error = %e, dst = %msg.dst, "cluster message not sent");
                            unavailable(&shared, &msg);
                        }
                    }
                    Ok(_) => unavailable(&shared, &msg),
                    Err(e) => {
                        tracing::warn!(error = %e, dst = %msg.dst, "cluster lookup failed");
                        unavailable(&shared, &msg);
                    }
                }
            }
        }
    };
    let incoming = {
        let shared = shared.clone();
        async move {
            while let Some(frame) = frames.recv().await {
                if let NodeMessage::Deliver {
                    app,
                    dst,
                    event,
                    body,
                } = frame.msg
                {
                    match std::str::from_utf8(&body) {
                        Ok(text) => shared.deliver_remote(&app, &dst, &event, text),
                        Err(_) => tracing::debug!("cluster message with a non-UTF-8 body dropped"),
                    }
                }
            }
        }
    };
    let renew = {
        let shared = shared.clone();
        async move {
            loop {
                tokio::time::sleep(renew_every(id_ttl)).await;
                let peers = shared.peer_ids();
                for (app, peer, _) in &peers {
                    match node.renew(app, peer).await {
                        Ok(true) => {}
                        // Expired (Redis was away, say): take it again if it is free.
                        Ok(false) => {
                            if let Err(e) = node.claim(app, peer).await {
                                tracing::warn!(error = %e, %peer, "peer id not claimed again");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, %peer, "peer id not renewed"),
                    }
                }
                let open: Vec<(String, String)> = peers
                    .into_iter()
                    .filter(|(_, _, open)| *open)
                    .map(|(app, peer, _)| (app, peer))
                    .collect();
                if let Err(e) = node.publish_open(&open).await {
                    tracing::warn!(error = %e, "open peers not published");
                }
            }
        }
    };
    let watch = watch_nodes(shared.clone());
    tokio::join!(outgoing, incoming, renew, watch);
}
