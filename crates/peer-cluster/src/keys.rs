//! The Redis key and channel layout. Every name starts with a prefix (default `peer`), so
//! several deployments can share one Redis; app keys and peer ids are written as they are
//! (peer ids are `[A-Za-z0-9_ -]`, app keys hexadecimal and dashes, so `:` cannot occur in
//! them).

use std::fmt;

/// A node's id: random, fresh at every start (a restarted node is a new node; its old ids
/// expire with the old liveness).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    /// A node id from 16 random bytes (hexadecimal, 32 characters).
    pub fn from_random(bytes: [u8; 16]) -> NodeId {
        let mut s = String::with_capacity(32);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        NodeId(s)
    }

    /// A node id read back from Redis or a message; `None` unless it is 1 to 64 characters of
    /// `[0-9a-z]`.
    pub fn parse(s: &str) -> Option<NodeId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        ok.then(|| NodeId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The names one deployment uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    fn default() -> Keys {
        Keys::new("peer")
    }
}

impl Keys {
    /// Names under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Keys {
        Keys {
            prefix: prefix.into(),
        }
    }

    /// `<prefix>:id:<app>:<peer>` → the node holding that peer id (`SET NX PX`, renewed by its
    /// node while the peer lives, its reconnect grace included).
    pub fn peer_id(&self, app: &str, peer: &str) -> String {
        format!("{}:id:{app}:{peer}", self.prefix)
    }

    /// `<prefix>:room:<app>:<room>` → the room's home node, where its state (and an SFU
    /// room's media) lives (`SET NX PX`, renewed by the home while the room has members).
    pub fn room_home(&self, app: &str, room: &str) -> String {
        format!("{}:room:{app}:{room}", self.prefix)
    }

    /// `<prefix>:node:<node>` → present while the node lives (`SET PX`, renewed).
    pub fn node_alive(&self, node: &NodeId) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    /// `<prefix>:nodes`: the set of nodes that registered (a node whose liveness key is gone
    /// is removed by whichever node notices first).
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// `<prefix>:open:<node>`: the set of `<app>\t<peer>` open on a node (for `listAllPeers`
    /// and `exists` across the cluster).
    pub fn open_peers(&self, node: &NodeId) -> String {
        format!("{}:open:{node}", self.prefix)
    }

    /// `<prefix>:to:<node>`: the channel a node receives its messages on.
    pub fn node_channel(&self, node: &NodeId) -> String {
        format!("{}:to:{node}", self.prefix)
    }

    /// `<prefix>:all`: the channel every node receives (room membership, node departures).
    pub fn broadcast_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// The node a channel name addresses, if it is one of [`Keys::node_channel`]'s.
    pub fn node_of_channel(&self, channel: &str) -> Option<NodeId> {
        let rest = channel.strip_prefix(&self.prefix)?.strip_prefix(":to:")?;
        NodeId::parse(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_node_ids() {
        let node = NodeId::from_random([0xab; 16]);
        assert_eq!(node.as_str().len(), 32);
        assert_eq!(NodeId::parse(node.as_str()), Some(node.clone()));
        for bad in ["", "ABC", "a:b", &"a".repeat(65)] {
            assert_eq!(NodeId::parse(bad), None, "{bad:?}");
        }
        let k = Keys::default();
        assert_eq!(k.peer_id("key-1", "alice"), "peer:id:key-1:alice");
        assert_eq!(k.room_home("key-1", "a:b"), "peer:room:key-1:a:b");
        let channel = k.node_channel(&node);
        assert_eq!(k.node_of_channel(&channel), Some(node.clone()));
        assert_eq!(k.node_of_channel(&k.broadcast_channel()), None);
        assert_eq!(Keys::new("x").node_of_channel(&channel), None);
    }
}
