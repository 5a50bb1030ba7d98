//! Room state: members in join order, the room type and a bounded event log.

use peer_protocol::client::RoomType;
use serde_json::{json, Value};
use std::collections::VecDeque;

/// Largest JSON text of room data kept verbatim in the log.
const MAX_LOGGED_DATA: usize = 4096;

/// One room of one app.
#[derive(Debug)]
pub struct Room {
    /// `mesh` or `sfu`, fixed by the first joiner.
    pub kind: RoomType,
    /// Member peer ids in join order.
    pub members: Vec<String>,
    log: VecDeque<String>,
    log_capacity: usize,
}

impl Room {
    /// An empty room.
    pub fn new(kind: RoomType, log_capacity: usize) -> Room {
        Room {
            kind,
            members: Vec::new(),
            log: VecDeque::new(),
            log_capacity,
        }
    }

    /// Whether `peer` is a member.
    pub fn has(&self, peer: &str) -> bool {
        self.members.iter().any(|m| m == peer)
    }

    /// Removes `peer`; true if it was a member.
    pub fn remove(&mut self, peer: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|m| m != peer);
        self.members.len() != before
    }

    /// Appends a log entry `{"messageType","message","timestamp"}`.
    pub fn log_event(&mut self, message_type: &str, message: Value, now_ms: u64) {
        if self.log_capacity == 0 {
            return;
        }
        if self.log.len() == self.log_capacity {
            self.log.pop_front();
        }
        let entry = json!({"messageType": message_type, "message": message, "timestamp": now_ms});
        self.log.push_back(entry.to_string());
    }

    /// The log entries, oldest first.
    pub fn log(&self) -> Vec<String> {
        self.log.iter().cloned().collect()
    }
}

/// The form of room data kept in the log: binary placeholders become
/// `{"_binary":true,"byteLength":N}`, and data whose JSON exceeds 4 KiB becomes
/// `{"_omitted":true,"byteLength":N}`.
pub fn loggable_data(data: &Value, attachment_lens: &[usize]) -> Value {
    fn replace(v: &Value, lens: &[usize]) -> Value {
        match v {
            Value::Array(items) => Value::Array(items.iter().map(|i| replace(i, lens)).collect()),
            Value::Object(map) => {
                if map.get("_placeholder") == Some(&Value::Bool(true)) {
                    let n = map.get("num").and_then(Value::as_u64).unwrap_or(0) as usize;
                    return json!({"_binary": true, "byteLength": lens.get(n).copied().unwrap_or(0)});
                }
                Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), replace(v, lens)))
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }
    let text_len = serde_json::to_string(data)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if text_len > MAX_LOGGED_DATA {
        return json!({"_omitted": true, "byteLength": text_len + attachment_lens.iter().sum::<usize>()});
    }
    replace(data, attachment_lens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_bounded_and_ordered() {
        let mut r = Room::new(RoomType::Mesh, 2);
        for i in 0..3 {
            r.log_event("ROOM_DATA", json!(i), i);
        }
        let log = r.log();
        assert_eq!(log.len(), 2);
        assert!(log[0].contains("\"message\":1"));
    }

    #[test]
    fn binary_and_large_data_are_summarised() {
        let d = json!({"a": {"_placeholder": true, "num": 0}});
        assert_eq!(
            loggable_data(&d, &[10]),
            json!({"a": {"_binary": true, "byteLength": 10}})
        );
        let big = Value::String("x".repeat(5000));
        assert_eq!(loggable_data(&big, &[])["_omitted"], json!(true));
    }
}
