//! Room state: members in join order, the room type and a log bounded by entries and bytes whose
//! `ROOM_LOGS` answer is encoded once per change and shared by every request until the next.

use peer_protocol::client::RoomType;
use peer_protocol::engineio::Frame;
use peer_protocol::server::event::ROOM_LOGS;
use peer_protocol::socketio::encode_event;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Arc;

/// Largest JSON text of room data kept verbatim in the log.
const MAX_LOGGED_DATA: usize = 4096;

/// How much a room's log may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Most entries.
    pub entries: usize,
    /// Most bytes of entry text.
    pub bytes: usize,
}

/// One room of one app.
#[derive(Debug)]
pub struct Room {
    /// `mesh` or `sfu`, fixed by the first joiner.
    pub kind: RoomType,
    /// Member peer ids in join order.
    pub members: Vec<String>,
    log: VecDeque<String>,
    log_bytes: usize,
    limits: LogLimits,
    /// The `ROOM_LOGS` frames for the current log, built on the first request after a change.
    encoded: Option<Arc<[Frame]>>,
}

impl Room {
    /// An empty room.
    pub fn new(kind: RoomType, limits: LogLimits) -> Room {
        Room {
            kind,
            members: Vec::new(),
            log: VecDeque::new(),
            log_bytes: 0,
            limits,
            encoded: None,
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

    /// Appends a log entry `{"messageType","message","timestamp"}`, dropping the oldest entries
    /// past the entry and byte limits.
    pub fn log_event(&mut self, message_type: &str, message: Value, now_ms: u64) {
        if self.limits.entries == 0 || self.limits.bytes == 0 {
            return;
        }
        let entry = json!({"messageType": message_type, "message": message, "timestamp": now_ms})
            .to_string();
        if entry.len() > self.limits.bytes {
            return;
        }
        self.log_bytes += entry.len();
        self.log.push_back(entry);
        while self.log.len() > self.limits.entries || self.log_bytes > self.limits.bytes {
            match self.log.pop_front() {
                Some(old) => self.log_bytes -= old.len(),
                None => break,
            }
        }
        self.encoded = None;
    }

    /// The log entries, oldest first.
    #[cfg(test)]
    pub fn log(&self) -> Vec<String> {
        self.log.iter().cloned().collect()
    }

    /// Bytes of entry text in the log.
    #[cfg(test)]
    pub fn log_bytes(&self) -> usize {
        self.log_bytes
    }

    /// The `ROOM_LOGS {roomName, log}` frames for this room, encoded once per change of the log.
    pub fn logs_frames(&mut self, room_name: &str) -> Arc<[Frame]> {
        if let Some(frames) = &self.encoded {
            return frames.clone();
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Logs<'a> {
            room_name: &'a str,
            log: &'a VecDeque<String>,
        }
        let frames: Arc<[Frame]> = encode_event(
            ROOM_LOGS,
            &Logs {
                room_name,
                log: &self.log,
            },
            &[],
        )
        .into();
        self.encoded = Some(frames.clone());
        frames
    }
}

/// The form of room data kept in the log: binary placeholders become
/// `{"_binary":true,"byteLength":N}`, and data whose JSON exceeds 4 KiB becomes
/// `{"_omitted":true,"byteLength":N}` (N counting the JSON text and the attachments). Only data
/// of at most 4 KiB of text is ever parsed.
pub fn loggable_data(data_json: &str, attachment_lens: &[usize]) -> Value {
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
    if data_json.len() > MAX_LOGGED_DATA {
        return json!({"_omitted": true, "byteLength": data_json.len() + attachment_lens.iter().sum::<usize>()});
    }
    match serde_json::from_str::<Value>(data_json) {
        Ok(data) => replace(&data, attachment_lens),
        Err(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, bytes: usize) -> LogLimits {
        LogLimits { entries, bytes }
    }

    #[test]
    fn log_is_bounded_by_entries_and_ordered() {
        let mut r = Room::new(RoomType::Mesh, limits(2, 1 << 20));
        for i in 0..3 {
            r.log_event("ROOM_DATA", json!(i), i);
        }
        let log = r.log();
        assert_eq!(log.len(), 2);
        assert!(log[0].contains("\"message\":1"));
    }

    #[test]
    fn log_is_bounded_by_bytes() {
        let mut r = Room::new(RoomType::Mesh, limits(1000, 500));
        for i in 0..100 {
            r.log_event("ROOM_DATA", json!("x".repeat(100)), i);
        }
        assert!(r.log_bytes() <= 500, "{}", r.log_bytes());
        assert_eq!(r.log().len(), r.log_bytes() / r.log()[0].len());
        assert_eq!(
            r.log_bytes(),
            r.log().iter().map(String::len).sum::<usize>()
        );
        // An entry larger than the whole budget is not kept, and keeps nothing out.
        r.log_event("ROOM_DATA", json!("y".repeat(1000)), 200);
        assert!(r.log().last().is_some_and(|e| e.contains("xxx")));
    }

    #[test]
    fn logs_are_encoded_once_per_change() {
        let mut r = Room::new(RoomType::Mesh, limits(10, 1 << 20));
        r.log_event("ROOM_DATA", json!(1), 1);
        let a = r.logs_frames("room");
        let b = r.logs_frames("room");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            a[0].as_bytes(),
            br#"42["ROOM_LOGS",{"roomName":"room","log":["{\"message\":1,\"messageType\":\"ROOM_DATA\",\"timestamp\":1}"]}]"#
        );
        r.log_event("ROOM_DATA", json!(2), 2);
        assert!(!Arc::ptr_eq(&a, &r.logs_frames("room")));
    }

    #[test]
    fn binary_and_large_data_are_summarised() {
        let d = r#"{"a": {"_placeholder": true, "num": 0}}"#;
        assert_eq!(
            loggable_data(d, &[10]),
            json!({"a": {"_binary": true, "byteLength": 10}})
        );
        let big = serde_json::to_string(&"x".repeat(5000)).unwrap();
        assert_eq!(
            loggable_data(&big, &[3]),
            json!({"_omitted": true, "byteLength": 5005})
        );
    }
}
