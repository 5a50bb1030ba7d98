//! Cluster mode's tasks (`[cluster] redis`): what joins the hub to the other nodes through
//! `peer_cluster::Node`.
//!
//! - What the hub sends elsewhere ([`Outbound`]) is taken in order from one bounded queue:
//!   relayed messages go to the node holding the peer id (if none does, the sender gets
//!   `peer-unavailable`); a room operation goes to the room's home node, claimed in Redis by
//!   the first joiner's node; a room's messages for members elsewhere go to their nodes.
//! - Messages from other nodes go to the hub: relays for peers here, room operations for rooms
//!   whose home is here, room messages for members here.
//! - The ids of this node's peers and the homes of its rooms are renewed (pipelined) every
//!   third of their expiry, so they stay this node's while they live and expire with the node.
//! - Nodes whose liveness expired are noticed: their peers' contacts here get `LEAVE`, and
//!   their members leave the rooms whose home is here (`ROOM_USER_LEAVE`).
//! - The open peers of this node are published with the renewals, for `listAllPeers` and
//!   `exists` across nodes.
//! - Rooms whose home node died are noticed by their members' nodes: the members hear
//!   `ROOM_USER_LEAVE` for the members on dead nodes and join the room again, quietly, at a
//!   new home.
//! - At shutdown the node gives its ids and rooms up and deletes its liveness ([`leave`]).
//!
//! Not yet: nothing resynchronizes after messages lost while Redis was away (see
//! `docs/decisions.md`).

use crate::hub::{room_op_from_wire, room_op_to_wire, RemoteFrames, RemoteMessage, RoomRoute};
pub use crate::outbound::{Outbound, QUEUE};
use crate::shared::Shared;
use bytes::Bytes;
use peer_cluster::message::{Frame, NodeMessage, WireFrame};
use peer_cluster::{Claim, Node, NodeId};
use peer_protocol::client::{ClientMessage, RoomRef};
use std::collections::HashSet;
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
    let mut round = 0u64;
    let mut healthy_since: Option<std::time::Instant> = None;
    let mut suspects = HashSet::new();
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let (Ok(listed), Ok(alive)) = (node.listed_nodes().await, node.live_nodes().await) else {
            healthy_since = None;
            continue;
        };
        // After Redis was away, liveness keys may have expired although their nodes live:
        // each renews its own within a third of the expiry. Take none for dead before that.
        let since = *healthy_since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < SETTLE_AFTER_REDIS {
            continue;
        }
        let dead: Vec<_> = listed.into_iter().filter(|n| !alive.contains(n)).collect();
        round += 1;
        if !dead.is_empty() || round.is_multiple_of(PRUNE_EVERY) {
            prune_room_members(&shared, &node, &dead, &mut suspects).await;
        }
        if dead.is_empty() {
            continue;
        }
        tracing::warn!(nodes = ?dead, "cluster nodes gone");
        rehome_rooms(&shared, &node, &dead).await;
        let contacts = shared.remote_contacts();
        let ids: Vec<(String, String)> = contacts
            .iter()
            .map(|(app, _, contact)| (app.clone(), contact.clone()))
            .collect();
        match node.owners(&ids).await {
            Ok(owners) => {
                for ((app, local, contact), owner) in contacts.into_iter().zip(owners) {
                    if owner.is_none_or(|o| dead.contains(&o)) {
                        let body = serde_json::to_string(&contact).unwrap_or_default();
                        shared.deliver_remote(&app, &local, "LEAVE", &body);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "contacts of the nodes gone not checked"),
        }
        for d in &dead {
            if let Err(e) = node.forget_node(d).await {
                tracing::warn!(error = %e, node = %d, "dead node not forgotten");
            }
        }
    }
}

/// How long Redis must have answered the node checks before a node missing its liveness is
/// taken for dead: more than the liveness renewal (a third of the 10 s expiry), so that after
/// Redis was away every live node has renewed its key.
const SETTLE_AFTER_REDIS: Duration = Duration::from_secs(4);

/// Every how many node checks the rooms here are also checked for members whose id no node
/// holds any more (a member that went while its join was on the way).
const PRUNE_EVERY: u64 = 5;

/// Takes out of the rooms here the members on other nodes whose node is in `dead`, or whose id
/// no node held at this check and the last one (`suspects` carries them from one check to the
/// next: right after a Redis restart no id is held until the nodes renew them). The rooms'
/// other members get `ROOM_USER_LEAVE`.
async fn prune_room_members(
    shared: &Shared,
    node: &Node,
    dead: &[NodeId],
    suspects: &mut HashSet<(String, String, String)>,
) {
    let members = shared.remote_room_members();
    if members.is_empty() {
        suspects.clear();
        return;
    }
    let ids: Vec<(String, String)> = members
        .iter()
        .map(|(app, _, m)| (app.clone(), m.clone()))
        .collect();
    let owners = match node.owners(&ids).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "room members not checked");
            return;
        }
    };
    let mut next = HashSet::new();
    for (key, owner) in members.into_iter().zip(owners) {
        let gone = match owner {
            Some(o) => dead.contains(&o),
            None => {
                let twice = suspects.contains(&key);
                next.insert(key.clone());
                twice
            }
        };
        if gone {
            let (app, room, member) = key;
            tracing::debug!(%app, %room, %member, "a member on a node that is gone leaves");
            let leave = ClientMessage::RoomLeave(RoomRef { room_name: room });
            shared.room_input(&app, &member, None, leave);
        }
    }
    *suspects = next;
}

/// Sends a room operation to its room's home: this node when the room lives here, or when
/// no node is its home and this one claims it (a join) or none is needed (anything else: the
/// hub answers that the peer is not a member); otherwise the home node.
async fn route_room(shared: &Shared, node: &Node, r: RoomRoute) {
    if shared.has_room(&r.app, &r.room) {
        here(shared, r);
        return;
    }
    let home = if matches!(r.msg, ClientMessage::RoomJoin(_)) {
        // A join claims the home if there is none, or takes it over from a dead node.
        match node.claim_room(&r.app, &r.room).await {
            Ok(Claim::Claimed) => None,
            Ok(Claim::HeldBy(home)) => Some(home),
            Err(e) => {
                // Redis is away: the room lives here, on its own, until it is back.
                tracing::warn!(error = %e, room = %r.room, "room home not claimed");
                None
            }
        }
    } else {
        match node.room_home(&r.app, &r.room).await {
            Ok(home) => home,
            Err(e) => {
                tracing::warn!(error = %e, room = %r.room, "room home not found");
                None
            }
        }
    };
    let Some(home) = home.filter(|h| h != node.id()) else {
        here(shared, r);
        return;
    };
    let Some((event, body, attachments)) = room_op_to_wire(&r.msg) else {
        return;
    };
    let event = if r.rejoin { REJOIN } else { event };
    let sent = node
        .send(
            &home,
            NodeMessage::RoomInput {
                app: r.app,
                room: r.room.clone(),
                peer: r.peer,
                event: event.to_owned(),
                body: Bytes::from(body),
                attachments,
            },
        )
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, room = %r.room, "room operation not sent to its home");
    }
}

/// A room operation for a room whose home is this node.
fn here(shared: &Shared, r: RoomRoute) {
    match (r.rejoin, r.msg) {
        (true, ClientMessage::RoomJoin(join)) => shared.room_rejoin(&r.app, &r.peer, join),
        (_, msg) => shared.room_input(&r.app, &r.peer, r.session, msg),
    }
}

/// The event name a quiet rejoin ([`RoomRoute::rejoin`]) travels under between nodes; never
/// one a client sends (clients' events do not reach [`receive`]).
const REJOIN: &str = "ROOM_REJOIN";

/// Rooms whose home died, for the members here: they hear `ROOM_USER_LEAVE` for the members
/// on dead nodes and join the room again at a new home (see [`crate::hub::Hub::home_lost`]).
async fn rehome_rooms(shared: &Shared, node: &Node, dead: &[NodeId]) {
    for (app, room, members) in shared.remote_homed_rooms() {
        let home = match node.room_home(&app, &room).await {
            Ok(home) => home,
            Err(e) => {
                tracing::warn!(error = %e, %room, "room home not checked");
                continue;
            }
        };
        // Only a home known dead: a home missing from Redis may be one not renewed yet after a
        // Redis restart.
        if !home.is_some_and(|h| dead.contains(&h)) {
            continue;
        }
        let ids: Vec<(String, String)> = members.iter().map(|m| (app.clone(), m.clone())).collect();
        let Ok(owners) = node.owners(&ids).await else {
            continue;
        };
        let gone: Vec<String> = members
            .into_iter()
            .zip(owners)
            .filter(|(_, o)| o.as_ref().is_none_or(|o| dead.contains(o)))
            .map(|(m, _)| m)
            .collect();
        tracing::warn!(%app, %room, ?gone, "the room's home node is gone; its members here join it again");
        shared.home_lost(&app, &room, &gone);
    }
}

/// A message from node `from`, for the hub.
fn receive(shared: &Arc<Shared>, from: NodeId, msg: NodeMessage) {
    match msg {
        NodeMessage::HandOver {
            app,
            peer,
            token,
            request,
        } => {
            let handed = shared.hand_over(&app, &peer, &token);
            let shared = shared.clone();
            // Answered off the incoming loop: giving the id up is a Redis round trip.
            tokio::spawn(async move {
                let Some(node) = shared.cluster_node() else {
                    return;
                };
                if handed.is_some() {
                    if let Err(e) = node.release(&app, &peer).await {
                        tracing::warn!(error = %e, %peer, "handed-over id not given up");
                    }
                }
                let (contacts, rooms) = handed
                    .as_ref()
                    .map(|h| (h.contacts.clone(), h.rooms.clone()))
                    .unwrap_or_default();
                let answer = NodeMessage::HandedOver {
                    request,
                    ok: handed.is_some(),
                    contacts,
                    rooms,
                };
                if let Err(e) = node.send(&from, answer).await {
                    tracing::warn!(error = %e, %peer, "hand-over answer not sent");
                }
            });
        }
        NodeMessage::HandedOver {
            request,
            ok,
            contacts,
            rooms,
        } => {
            let imported = ok.then_some(crate::hub::Imported { contacts, rooms });
            shared.handed_over(request, imported);
        }
        NodeMessage::Deliver {
            app,
            dst,
            event,
            body,
        } => match std::str::from_utf8(&body) {
            Ok(text) => shared.deliver_remote(&app, &dst, &event, text),
            Err(_) => tracing::debug!("cluster message with a non-UTF-8 body dropped"),
        },
        NodeMessage::RoomInput {
            app,
            room,
            peer,
            event,
            body,
            attachments,
        } => {
            let rejoin = event == REJOIN;
            let event = if rejoin { "ROOM_JOIN" } else { event.as_str() };
            let op = std::str::from_utf8(&body)
                .ok()
                .and_then(|text| room_op_from_wire(event, text, attachments));
            match (rejoin, op) {
                (true, Some(ClientMessage::RoomJoin(join))) => {
                    shared.room_rejoin(&app, &peer, join)
                }
                (false, Some(op)) => shared.room_input(&app, &peer, None, op),
                _ => tracing::debug!(%event, %room, "malformed room operation dropped"),
            }
        }
        NodeMessage::Frames {
            app,
            dst,
            event,
            frames,
            note,
        } => {
            let frames = frames
                .into_iter()
                .map(|f| {
                    if f.binary {
                        peer_protocol::engineio::Frame::Binary(f.data)
                    } else {
                        peer_protocol::engineio::Frame::Text(f.data)
                    }
                })
                .collect();
            shared.deliver_frames(&app, &dst, &event, frames, note);
        }
    }
}

/// Gives this node's ids and rooms up and deletes its liveness (at shutdown, after the
/// sessions were closed), so other nodes take them at once.
pub async fn leave(shared: &Shared) {
    let Some(node) = shared.cluster_node() else {
        return;
    };
    let ids: Vec<(String, String)> = shared
        .peer_ids()
        .into_iter()
        .map(|(app, peer, _)| (app, peer))
        .collect();
    let rooms = shared.room_names();
    if let Err(e) = node.release_all(&ids, &rooms).await {
        tracing::warn!(error = %e, "peer ids and rooms not given up at shutdown");
    }
    if let Err(e) = node.leave().await {
        tracing::warn!(error = %e, "cluster not left at shutdown");
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
    mut outbound: mpsc::Receiver<Outbound>,
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
            let mut taken = Vec::with_capacity(BATCH);
            let mut batch = Vec::new();
            let mut released = Vec::new();
            while outbound.recv_many(&mut taken, BATCH).await > 0 {
                for out in taken.drain(..) {
                    match out {
                        // Relays and room messages go out in batches (one lookup round trip
                        // and one publishing round trip for all), released ids too; a room
                        // operation waits for what came before it, so the order holds.
                        Outbound::Relay(_) | Outbound::Frames(_) => batch.push(out),
                        Outbound::Release { app, peer } => released.push((app, peer)),
                        Outbound::Room(route) => {
                            send_batch(&shared, &node, std::mem::take(&mut batch)).await;
                            release(&shared, &node, std::mem::take(&mut released)).await;
                            route_room(&shared, &node, route).await;
                        }
                    }
                }
                send_batch(&shared, &node, std::mem::take(&mut batch)).await;
                release(&shared, &node, std::mem::take(&mut released)).await;
            }
        }
    };
    let incoming = {
        let shared = shared.clone();
        async move {
            while let Some(frame) = frames.recv().await {
                receive(&shared, frame.from, frame.msg);
            }
        }
    };
    let renew = {
        let shared = shared.clone();
        async move {
            loop {
                tokio::time::sleep(renew_every(id_ttl)).await;
                renew(&shared, &node).await;
            }
        }
    };
    let watch = watch_nodes(shared.clone());
    tokio::join!(outgoing, incoming, renew, watch);
}

/// Messages taken from the queue at once, at most.
const BATCH: usize = 256;

/// Gives up the ids of peers gone from this node, unless they came back in the meantime
/// (their claims are this node's again), in one pipelined batch.
async fn release(shared: &Shared, node: &Node, ids: Vec<(String, String)>) {
    let ids: Vec<(String, String)> = ids
        .into_iter()
        .filter(|(app, peer)| !shared.has_peer(app, peer))
        .collect();
    if ids.is_empty() {
        return;
    }
    if let Err(e) = node.release_all(&ids, &[]).await {
        tracing::debug!(error = %e, "peer ids not given up");
    }
}

/// Sends relays and room messages, in order: one pipelined lookup of their peers' nodes, then
/// one pipelined publishing (see [`Node::send_many`]). A relay whose peer no node holds (or
/// whose lookup or publishing failed) tells its sender; a room message for a member that turns
/// out to be here goes to the hub.
async fn send_batch(shared: &Shared, node: &Node, batch: Vec<Outbound>) {
    if batch.is_empty() {
        return;
    }
    let ids: Vec<(String, String)> = batch
        .iter()
        .map(|o| match o {
            Outbound::Relay(m) => (m.app.clone(), m.dst.clone()),
            Outbound::Frames(f) => (f.app.clone(), f.dst.clone()),
            _ => (String::new(), String::new()),
        })
        .collect();
    let owners = match node.owners(&ids).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "cluster lookups failed");
            for o in batch {
                if let Outbound::Relay(m) = o {
                    unavailable(shared, &m);
                }
            }
            return;
        }
    };
    let mut sends = Vec::with_capacity(batch.len());
    let mut senders = Vec::new();
    for (o, owner) in batch.into_iter().zip(owners) {
        match (o, owner) {
            (Outbound::Relay(m), Some(owner)) if owner != *node.id() => {
                sends.push((owner, deliver(&m)));
                senders.push(m);
            }
            (Outbound::Relay(m), _) => unavailable(shared, &m),
            (Outbound::Frames(f), Some(owner)) if owner == *node.id() => {
                shared.deliver_frames(&f.app, &f.dst, f.event, f.frames.to_vec(), f.note);
            }
            (Outbound::Frames(f), Some(owner)) => sends.push((owner, frames_message(f))),
            _ => {}
        }
    }
    if let Err(e) = node.send_many(sends).await {
        tracing::warn!(error = %e, "cluster messages not sent");
        for m in senders {
            unavailable(shared, &m);
        }
    }
}

/// A relayed message as it travels.
fn deliver(msg: &RemoteMessage) -> NodeMessage {
    NodeMessage::Deliver {
        app: msg.app.clone(),
        dst: msg.dst.clone(),
        event: msg.event.to_owned(),
        body: Bytes::from(msg.body.clone()),
    }
}

/// A room's message for a member elsewhere, as it travels.
fn frames_message(f: RemoteFrames) -> NodeMessage {
    let frames = f
        .frames
        .iter()
        .map(|frame| match frame {
            peer_protocol::engineio::Frame::Text(b) => WireFrame {
                binary: false,
                data: b.clone(),
            },
            peer_protocol::engineio::Frame::Binary(b) => WireFrame {
                binary: true,
                data: b.clone(),
            },
        })
        .collect();
    NodeMessage::Frames {
        app: f.app,
        dst: f.dst,
        event: f.event.to_owned(),
        frames,
        note: f.note,
    }
}

/// Renews this node's peer ids and room homes in pipelined batches (claiming again what
/// expired, after Redis was away say), then publishes its open peers.
async fn renew(shared: &Shared, node: &Node) {
    let peers = shared.peer_ids();
    let ids: Vec<(String, String)> = peers
        .iter()
        .map(|(app, peer, _)| (app.clone(), peer.clone()))
        .collect();
    let rooms = shared.room_names();
    match node.renew_all(&ids, &rooms).await {
        Ok((ids_held, rooms_held)) => {
            for ((app, peer), held) in ids.iter().zip(ids_held) {
                if !held {
                    if let Err(e) = node.claim(app, peer).await {
                        tracing::warn!(error = %e, %peer, "peer id not claimed again");
                    }
                }
            }
            for ((app, room), held) in rooms.iter().zip(rooms_held) {
                if held {
                    continue;
                }
                match node.claim_room(app, room).await {
                    Ok(Claim::Claimed) => {}
                    Ok(Claim::HeldBy(other)) => {
                        tracing::warn!(%room, node = %other, "another node took this room's home")
                    }
                    Err(e) => tracing::warn!(error = %e, %room, "room home not claimed again"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "peer ids and rooms not renewed"),
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
