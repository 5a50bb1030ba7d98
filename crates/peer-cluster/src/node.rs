//! [`Node`]: one `peer-server` node's connection to the cluster's Redis, the thin shell around
//! [`crate::keys`] and [`crate::message`]:
//!
//! - liveness: `<prefix>:node:<id>` renewed every third of its expiry, and the node listed in
//!   `<prefix>:nodes`;
//! - peer ids: [`Node::claim`] (`SET NX PX`, so one node holds an id), [`Node::renew`],
//!   [`Node::release`] (compare-and-delete), [`Node::owner`];
//! - messages: [`Node::send`] (and [`Node::send_many`], pipelined) to one node's channel,
//!   [`Node::broadcast`] to all; one lock numbers them per channel and publishes, so a node's
//!   messages arrive in the order it sent them, and a receiver counts the numbers it never saw
//!   (lost while its subscription was down); what arrives for this node comes out of the receiver [`Node::connect`] returns,
//!   decoded (a frame that does not decode is dropped and logged).
//!
//! The connection is `redis`'s `ConnectionManager` over RESP3: it reconnects by itself and
//! subscribes again. Redis keeps no messages for a node that was away: they are counted as
//! lost ([`crate::stats::StatsSnapshot::lost`]), and nothing resends them (later work). Every Redis call has a deadline ([`ClusterConfig::timeout`]).

use crate::keys::{Keys, NodeId};
use crate::message::{Frame, NodeMessage};
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushKind, Value};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

/// How a node uses Redis.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://host:port/db` (RESP3 is asked for).
    pub redis: String,
    /// Prefix of every key and channel.
    pub prefix: String,
    /// How long a node is believed alive without renewing.
    pub node_ttl: Duration,
    /// How long a peer id stays claimed without renewing.
    pub id_ttl: Duration,
    /// Deadline of every Redis call, and of connecting.
    pub timeout: Duration,
}

impl ClusterConfig {
    /// Defaults for `redis`: prefix `peer`, nodes 10 s, ids 15 s, calls 5 s.
    pub fn new(redis: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            redis: redis.into(),
            prefix: "peer".into(),
            node_ttl: Duration::from_secs(10),
            id_ttl: Duration::from_secs(15),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What went wrong with Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// The URL is not one `redis` understands.
    BadUrl(String),
    /// Redis did not answer in time.
    Timeout,
    /// Redis answered with an error, or the connection failed.
    Redis(String),
    /// The message could not be encoded.
    Encode(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::BadUrl(e) => write!(f, "invalid [cluster] redis URL: {e}"),
            ClusterError::Timeout => write!(f, "Redis did not answer in time"),
            ClusterError::Redis(e) => write!(f, "Redis: {e}"),
            ClusterError::Encode(e) => write!(f, "cluster message: {e}"),
        }
    }
}

impl std::error::Error for ClusterError {}

impl From<redis::RedisError> for ClusterError {
    fn from(e: redis::RedisError) -> ClusterError {
        ClusterError::Redis(e.to_string())
    }
}

/// The result of [`Node::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node holds the id now.
    Claimed,
    /// Another node holds it.
    HeldBy(NodeId),
}

/// Deletes a key only if it still holds this node's id.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
/// Renews a key's expiry only if it still holds this node's id.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Gives a key held by a dead node to this one, only if the dead node still holds it.
const TAKE_OVER: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end";

/// Keys per pipelined batch (renewals, releases, lookups).
const BATCH: usize = 512;

/// Frames for this node, waiting to be read; past this the oldest are dropped (logged).
const INBOX: usize = 4096;

/// One node's connection to the cluster. See the module documentation.
pub struct Node {
    id: NodeId,
    keys: Keys,
    config: ClusterConfig,
    con: ConnectionManager,
    /// The next sequence number per channel (a receiver sees them one after another, so a gap
    /// is a lost message), under the lock that also orders publishing.
    seq: Mutex<HashMap<String, u64>>,
    stats: std::sync::Arc<crate::stats::NodeStats>,
    liveness: JoinHandle<()>,
    reader: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.liveness.abort();
        self.reader.abort();
    }
}

impl Node {
    /// Connects as node `id`, registers it, subscribes to its channel and the broadcast one,
    /// and starts renewing its liveness. A Redis that cannot be reached within the timeout is
    /// an error (a clear one at startup).
    pub async fn connect(
        config: ClusterConfig,
        id: NodeId,
    ) -> Result<(Node, mpsc::Receiver<Frame>), ClusterError> {
        let url = if config.redis.contains("protocol=") {
            config.redis.clone()
        } else if config.redis.contains('?') {
            format!("{}&protocol=resp3", config.redis)
        } else {
            format!("{}?protocol=resp3", config.redis)
        };
        let client = redis::Client::open(url).map_err(|e| ClusterError::BadUrl(e.to_string()))?;
        let (push_tx, mut push_rx) = tokio::sync::mpsc::unbounded_channel();
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_push_sender(push_tx)
            .set_automatic_resubscription();
        let mut con = tokio::time::timeout(
            config.timeout,
            client.get_connection_manager_with_config(manager_config),
        )
        .await
        .map_err(|_| ClusterError::Timeout)??;
        let keys = Keys::new(config.prefix.clone());
        within(config.timeout, con.subscribe(keys.node_channel(&id))).await?;
        within(config.timeout, con.subscribe(keys.broadcast_channel())).await?;
        let (frames_tx, frames_rx) = mpsc::channel(INBOX);
        let stats = std::sync::Arc::new(crate::stats::NodeStats::default());
        let reader_stats = stats.clone();
        let reader = tokio::spawn(async move {
            let stats = reader_stats;
            let mut gaps = crate::stats::Gaps::default();
            while let Some(push) = push_rx.recv().await {
                if push.kind != PushKind::Message {
                    continue;
                }
                let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                    (push.data.first(), push.data.get(1))
                else {
                    continue;
                };
                match Frame::decode(&Bytes::copy_from_slice(payload)) {
                    Ok(frame) => {
                        stats.received(&frame.msg);
                        let missed = gaps.see(&frame.from, channel, frame.seq);
                        if missed > 0 {
                            stats.lost(missed);
                            tracing::warn!(from = %frame.from, missed, "cluster messages lost");
                        }
                        if frames_tx.try_send(frame).is_err() {
                            stats.dropped();
                            tracing::warn!("cluster inbox full: a message dropped");
                        }
                    }
                    Err(e) => {
                        stats.dropped();
                        tracing::warn!(error = %e, "cluster frame dropped")
                    }
                }
            }
        });
        let liveness = tokio::spawn(renew_liveness(
            con.clone(),
            keys.clone(),
            id.clone(),
            config.node_ttl,
            config.timeout,
        ));
        let node = Node {
            id,
            keys,
            config,
            con,
            seq: Mutex::new(HashMap::new()),
            stats,
            liveness,
            reader,
        };
        node.beat().await?;
        Ok((node, frames_rx))
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// What this node's link has done so far (messages, Redis latency).
    pub fn stats(&self) -> crate::stats::StatsSnapshot {
        self.stats.snapshot()
    }

    /// Renews the liveness now (done on a timer anyway).
    pub async fn beat(&self) -> Result<(), ClusterError> {
        beat(
            &mut self.con.clone(),
            &self.keys,
            &self.id,
            self.config.node_ttl,
            self.config.timeout,
        )
        .await
    }

    /// Claims `peer` of `app` for this node (unless another node holds it).
    pub async fn claim(&self, app: &str, peer: &str) -> Result<Claim, ClusterError> {
        self.claim_key(&self.keys.peer_id(app, peer)).await
    }

    /// Claims `room` of `app` for this node as its home (unless another node is its home).
    pub async fn claim_room(&self, app: &str, room: &str) -> Result<Claim, ClusterError> {
        self.claim_key(&self.keys.room_home(app, room)).await
    }

    async fn claim_key(&self, key: &str) -> Result<Claim, ClusterError> {
        for _ in 0..3 {
            let mut con = self.con.clone();
            let set: Option<String> = self
                .timed(within(
                    self.config.timeout,
                    redis::cmd("SET")
                        .arg(key)
                        .arg(self.id.as_str())
                        .arg("NX")
                        .arg("PX")
                        .arg(self.config.id_ttl.as_millis() as u64)
                        .query_async(&mut con),
                ))
                .await?;
            if set.is_some() {
                return Ok(Claim::Claimed);
            }
            match self.holder(key).await? {
                Some(node) if node == self.id => return Ok(Claim::Claimed),
                Some(node) => {
                    // A node whose liveness is gone holds it no more: take it over (its peer
                    // reconnecting here, say) instead of waiting for the claim to expire.
                    if self.is_alive(&node).await? || !self.take_over(key, &node).await? {
                        return Ok(Claim::HeldBy(node));
                    }
                    return Ok(Claim::Claimed);
                }
                // It expired in between: try again.
                None => {}
            }
        }
        Err(ClusterError::Redis(format!(
            "{key} changed hands three times"
        )))
    }

    /// Whether node `node`'s liveness key is present.
    async fn is_alive(&self, node: &NodeId) -> Result<bool, ClusterError> {
        let mut con = self.con.clone();
        self.timed(within(
            self.config.timeout,
            con.exists(self.keys.node_alive(node)),
        ))
        .await
    }

    /// Replaces `dead`'s claim `key` with this node's; false if `key` changed meanwhile.
    async fn take_over(&self, key: &str, dead: &NodeId) -> Result<bool, ClusterError> {
        let mut con = self.con.clone();
        let n: i64 = self
            .timed(within(
                self.config.timeout,
                redis::Script::new(TAKE_OVER)
                    .key(key)
                    .arg(dead.as_str())
                    .arg(self.id.as_str())
                    .arg(self.config.id_ttl.as_millis() as u64)
                    .invoke_async(&mut con),
            ))
            .await?;
        Ok(n == 1)
    }

    /// Renews this node's claim of `peer`; `false` if it no longer holds it.
    pub async fn renew(&self, app: &str, peer: &str) -> Result<bool, ClusterError> {
        let key = self.keys.peer_id(app, peer);
        Ok(self.renew_keys(&[key]).await?.first() == Some(&true))
    }

    /// Renews, in pipelined batches, this node's claims of the peer ids `ids` and of the
    /// rooms `rooms` (both `(app, name)`); for each, whether this node still held it.
    pub async fn renew_all(
        &self,
        ids: &[(String, String)],
        rooms: &[(String, String)],
    ) -> Result<(Vec<bool>, Vec<bool>), ClusterError> {
        let id_keys: Vec<String> = ids.iter().map(|(a, p)| self.keys.peer_id(a, p)).collect();
        let room_keys: Vec<String> = rooms
            .iter()
            .map(|(a, r)| self.keys.room_home(a, r))
            .collect();
        Ok((
            self.renew_keys(&id_keys).await?,
            self.renew_keys(&room_keys).await?,
        ))
    }

    async fn renew_keys(&self, keys: &[String]) -> Result<Vec<bool>, ClusterError> {
        let mut out = Vec::with_capacity(keys.len());
        let ttl = self.config.id_ttl.as_millis() as u64;
        for chunk in keys.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("EVAL")
                    .arg(RENEW)
                    .arg(1)
                    .arg(key)
                    .arg(self.id.as_str())
                    .arg(ttl);
            }
            let mut con = self.con.clone();
            let renewed: Vec<i64> = self
                .timed(within(self.config.timeout, pipe.query_async(&mut con)))
                .await?;
            out.extend(renewed.into_iter().map(|n| n == 1));
        }
        Ok(out)
    }

    /// Gives `peer` up, if this node holds it.
    pub async fn release(&self, app: &str, peer: &str) -> Result<(), ClusterError> {
        self.release_keys(&[self.keys.peer_id(app, peer)]).await
    }

    /// Gives up, in pipelined batches, the peer ids `ids` and the room homes `rooms` (both
    /// `(app, name)`) that this node holds (at shutdown, so other nodes may take them at once).
    pub async fn release_all(
        &self,
        ids: &[(String, String)],
        rooms: &[(String, String)],
    ) -> Result<(), ClusterError> {
        let keys: Vec<String> = ids
            .iter()
            .map(|(a, p)| self.keys.peer_id(a, p))
            .chain(rooms.iter().map(|(a, r)| self.keys.room_home(a, r)))
            .collect();
        self.release_keys(&keys).await
    }

    async fn release_keys(&self, keys: &[String]) -> Result<(), ClusterError> {
        for chunk in keys.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(key)
                    .arg(self.id.as_str())
                    .ignore();
            }
            let mut con = self.con.clone();
            let _: () = within(self.config.timeout, pipe.query_async(&mut con)).await?;
        }
        Ok(())
    }

    /// Leaves the cluster at shutdown: stops renewing this node's liveness and deletes it, so
    /// the others see the node gone at their next check (and tell its peers' contacts and
    /// rooms) rather than after the liveness expiry.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        self.liveness.abort();
        let mut con = self.con.clone();
        let _: i64 = within(self.config.timeout, con.del(self.keys.node_alive(&self.id))).await?;
        Ok(())
    }

    /// The node holding `peer` of `app`, if any.
    pub async fn owner(&self, app: &str, peer: &str) -> Result<Option<NodeId>, ClusterError> {
        self.holder(&self.keys.peer_id(app, peer)).await
    }

    /// The nodes holding each of `peers` (`(app, peer)`), in one pipelined batch per 512.
    pub async fn owners(
        &self,
        peers: &[(String, String)],
    ) -> Result<Vec<Option<NodeId>>, ClusterError> {
        let mut out = Vec::with_capacity(peers.len());
        for chunk in peers.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for (app, peer) in chunk {
                pipe.cmd("GET").arg(self.keys.peer_id(app, peer));
            }
            let mut con = self.con.clone();
            let got: Vec<Option<String>> =
                within(self.config.timeout, pipe.query_async(&mut con)).await?;
            out.extend(got.iter().map(|v| v.as_deref().and_then(NodeId::parse)));
        }
        Ok(out)
    }

    /// The home node of `room` of `app`, if it has one.
    pub async fn room_home(&self, app: &str, room: &str) -> Result<Option<NodeId>, ClusterError> {
        self.holder(&self.keys.room_home(app, room)).await
    }

    /// Times a Redis call for the latency histogram.
    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, ClusterError> {
        let started = std::time::Instant::now();
        let r = f.await;
        self.stats.redis_call(started.elapsed(), r.is_ok());
        r
    }

    async fn holder(&self, key: &str) -> Result<Option<NodeId>, ClusterError> {
        let mut con = self.con.clone();
        let v: Option<String> = self
            .timed(within(self.config.timeout, con.get(key)))
            .await?;
        Ok(v.as_deref().and_then(NodeId::parse))
    }

    /// Publishes which peers are open on this node now (`(app, peer)`), replacing the last
    /// list; it expires with the node's liveness unless published again.
    pub async fn publish_open(&self, peers: &[(String, String)]) -> Result<(), ClusterError> {
        let key = self.keys.open_peers(&self.id);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(&key).ignore();
        if !peers.is_empty() {
            let members: Vec<String> = peers.iter().map(|(a, p)| member(a, p)).collect();
            pipe.cmd("SADD").arg(&key).arg(members).ignore();
            pipe.cmd("PEXPIRE")
                .arg(&key)
                .arg(self.config.node_ttl.as_millis() as u64)
                .ignore();
        }
        let mut con = self.con.clone();
        let _: () = within(self.config.timeout, pipe.query_async(&mut con)).await?;
        Ok(())
    }

    /// Whether `peer` of `app` is open on the node that holds its id (a peer in its
    /// reconnect grace holds its id but is not open).
    pub async fn is_open(&self, app: &str, peer: &str) -> Result<bool, ClusterError> {
        let Some(node) = self.owner(app, peer).await? else {
            return Ok(false);
        };
        let mut con = self.con.clone();
        within(
            self.config.timeout,
            con.sismember(self.keys.open_peers(&node), member(app, peer)),
        )
        .await
    }

    /// The peers of `app` open on any live node, sorted.
    pub async fn open_peers(&self, app: &str) -> Result<Vec<String>, ClusterError> {
        let mut out = Vec::new();
        let prefix = format!("{app}\t");
        for node in self.live_nodes().await? {
            let mut con = self.con.clone();
            let members: Vec<String> = within(
                self.config.timeout,
                con.smembers(self.keys.open_peers(&node)),
            )
            .await?;
            out.extend(
                members
                    .iter()
                    .filter_map(|m| m.strip_prefix(&prefix).map(str::to_owned)),
            );
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The nodes alive now (registered, with their liveness key present).
    pub async fn live_nodes(&self) -> Result<Vec<NodeId>, ClusterError> {
        let mut con = self.con.clone();
        let listed: Vec<String> =
            within(self.config.timeout, con.smembers(self.keys.nodes())).await?;
        let mut alive = Vec::new();
        for n in listed.iter().filter_map(|n| NodeId::parse(n)) {
            let here: bool =
                within(self.config.timeout, con.exists(self.keys.node_alive(&n))).await?;
            if here {
                alive.push(n);
            }
        }
        alive.sort();
        Ok(alive)
    }

    /// Forgets node `gone` (whose liveness expired): drops it from the node list and its open
    /// peers. Any node may do it; doing it twice is harmless.
    pub async fn forget_node(&self, gone: &NodeId) -> Result<(), ClusterError> {
        let mut con = self.con.clone();
        let _: () = within(
            self.config.timeout,
            redis::pipe()
                .cmd("SREM")
                .arg(self.keys.nodes())
                .arg(gone.as_str())
                .ignore()
                .cmd("DEL")
                .arg(self.keys.open_peers(gone))
                .ignore()
                .query_async(&mut con),
        )
        .await?;
        Ok(())
    }

    /// The nodes listed, alive or not (see [`Node::live_nodes`]).
    pub async fn listed_nodes(&self) -> Result<Vec<NodeId>, ClusterError> {
        let mut con = self.con.clone();
        let listed: Vec<String> =
            within(self.config.timeout, con.smembers(self.keys.nodes())).await?;
        Ok(listed.iter().filter_map(|n| NodeId::parse(n)).collect())
    }

    /// Sends `msg` to node `to`.
    pub async fn send(&self, to: &NodeId, msg: NodeMessage) -> Result<(), ClusterError> {
        self.publish(self.keys.node_channel(to), msg).await
    }

    /// Sends `msg` to every node, this one included.
    pub async fn broadcast(&self, msg: NodeMessage) -> Result<(), ClusterError> {
        self.publish(self.keys.broadcast_channel(), msg).await
    }

    /// Sends each message to its node, in order, in pipelined batches: one round trip per
    /// [`BATCH`] messages instead of one each. A message that cannot be encoded is skipped
    /// (logged); the error is the batch's.
    pub async fn send_many(&self, msgs: Vec<(NodeId, NodeMessage)>) -> Result<(), ClusterError> {
        let mut seqs = self.seq.lock().await;
        let mut msgs = msgs.into_iter().peekable();
        while msgs.peek().is_some() {
            let mut pipe = redis::pipe();
            let mut sent = Vec::new();
            // The batch's numbers, kept only once it is published.
            let mut next = HashMap::new();
            for (to, msg) in msgs.by_ref().take(BATCH) {
                let channel = self.keys.node_channel(&to);
                let seq = *next
                    .entry(channel.clone())
                    .or_insert_with(|| seqs.get(&channel).copied().unwrap_or(0));
                let frame = Frame {
                    from: self.id.clone(),
                    seq,
                    msg,
                };
                match frame.encode() {
                    Ok(bytes) => {
                        pipe.cmd("PUBLISH")
                            .arg(&channel)
                            .arg(bytes.as_ref())
                            .ignore();
                        next.insert(channel, seq + 1);
                        sent.push(frame.msg);
                    }
                    Err(e) => tracing::warn!(error = %e, "cluster message not encoded"),
                }
            }
            if sent.is_empty() {
                continue;
            }
            let mut con = self.con.clone();
            let _: () = self
                .timed(within(self.config.timeout, pipe.query_async(&mut con)))
                .await?;
            seqs.extend(next);
            for msg in &sent {
                self.stats.sent(msg);
            }
        }
        Ok(())
    }

    async fn publish(&self, channel: String, msg: NodeMessage) -> Result<(), ClusterError> {
        let mut seqs = self.seq.lock().await;
        let seq = seqs.get(&channel).copied().unwrap_or(0);
        let frame = Frame {
            from: self.id.clone(),
            seq,
            msg,
        };
        let bytes = frame
            .encode()
            .map_err(|e| ClusterError::Encode(e.to_string()))?;
        let mut con = self.con.clone();
        let _: i64 = self
            .timed(within(
                self.config.timeout,
                con.publish(&channel, bytes.as_ref()),
            ))
            .await?;
        self.stats.sent(&frame.msg);
        seqs.insert(channel, seq + 1);
        Ok(())
    }
}

/// `url` with its password, if any, replaced by `***` (for logs and errors).
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((auth, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// A member of a node's open set.
fn member(app: &str, peer: &str) -> String {
    format!("{app}\t{peer}")
}

/// `f` within `limit`, its Redis error converted.
async fn within<T>(
    limit: Duration,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, ClusterError> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| ClusterError::Timeout)?
        .map_err(ClusterError::from)
}

async fn beat(
    con: &mut ConnectionManager,
    keys: &Keys,
    id: &NodeId,
    ttl: Duration,
    timeout: Duration,
) -> Result<(), ClusterError> {
    let _: () = within(
        timeout,
        redis::pipe()
            .cmd("SET")
            .arg(keys.node_alive(id))
            .arg("1")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(keys.nodes())
            .arg(id.as_str())
            .ignore()
            .query_async(con),
    )
    .await?;
    Ok(())
}

/// Renews the liveness every third of its expiry until aborted; failures are logged (Redis
/// being away for longer than the expiry makes the others believe this node gone).
async fn renew_liveness(
    mut con: ConnectionManager,
    keys: Keys,
    id: NodeId,
    ttl: Duration,
    timeout: Duration,
) {
    let every = ttl / 3;
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = beat(&mut con, &keys, &id, ttl, timeout).await {
            tracing::warn!(error = %e, "cluster liveness not renewed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redacted("redis://:pw@10.0.0.9:6379"),
            "redis://:***@10.0.0.9:6379"
        );
        assert_eq!(redacted("redis://u:p@w@h/1"), "redis://u:***@h/1");
        assert_eq!(redacted("redis://10.0.0.9:6379"), "redis://10.0.0.9:6379");
        assert_eq!(redacted("redis://user@h"), "redis://user@h");
        assert_eq!(redacted("nonsense"), "nonsense");
    }
}
