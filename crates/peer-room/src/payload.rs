//! [`RoomPayload`]: what room data carries, as the SDK's `room.send(data)` makes it: any JSON
//! value, with binary parts (an `ArrayBuffer`, alone or inside an object) as Socket.IO
//! attachments that the JSON refers to by placeholders (`{"_placeholder":true,"num":N}`).
//!
//! The JSON stays text as it travels; a tree is built only when the application asks for one.

use crate::error::RoomError;
use bytes::Bytes;
use peer_protocol::server::RawJson;
use serde_json::{json, Value};

/// The most a room carries in one send: 20 MiB, as the SDK checks it.
pub const MAX_ROOM_DATA: usize = 20 * 1024 * 1024;

/// Room data: JSON text and the binary attachments its placeholders refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomPayload {
    json: RawJson,
    attachments: Vec<Bytes>,
}

/// The Socket.IO placeholder for attachment `num`.
fn placeholder(num: usize) -> Value {
    json!({"_placeholder": true, "num": num})
}

/// The attachment number `v` stands for, if it is a placeholder.
fn placeholder_num(v: &Value) -> Option<usize> {
    let obj = v.as_object()?;
    if obj.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    usize::try_from(obj.get("num")?.as_u64()?).ok()
}

/// Checks that every placeholder in `v` names one of `count` attachments.
fn check_placeholders(v: &Value, count: usize) -> Result<(), RoomError> {
    if let Some(num) = placeholder_num(v) {
        return if num < count {
            Ok(())
        } else {
            Err(RoomError::InvalidData(format!(
                "placeholder {num} names no attachment ({count} given)"
            )))
        };
    }
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| check_placeholders(i, count)),
        Value::Object(map) => map.values().try_for_each(|i| check_placeholders(i, count)),
        _ => Ok(()),
    }
}

impl RoomPayload {
    /// A string (arrives in browsers as a string).
    pub fn text(s: impl Into<String>) -> RoomPayload {
        RoomPayload::json(&Value::String(s.into()))
    }

    /// Bytes (arrive in browsers as an `ArrayBuffer`).
    pub fn bytes(b: impl Into<Bytes>) -> RoomPayload {
        RoomPayload::from_parts(&placeholder(0), vec![b.into()])
    }

    /// A JSON value (any: object, array, number, string, bool, null).
    pub fn json(v: &Value) -> RoomPayload {
        RoomPayload::from_parts(v, Vec::new())
    }

    /// JSON holding binary parts: `value` refers to `attachments[n]` by the placeholder
    /// `{"_placeholder":true,"num":n}` (see [`RoomPayload::placeholder`]), as the SDK sends an
    /// object with an `ArrayBuffer` inside.
    pub fn with_attachments(
        value: &Value,
        attachments: Vec<Bytes>,
    ) -> Result<RoomPayload, RoomError> {
        check_placeholders(value, attachments.len())?;
        Ok(RoomPayload::from_parts(value, attachments))
    }

    /// The placeholder that stands for attachment `num` inside a value given to
    /// [`RoomPayload::with_attachments`].
    pub fn placeholder(num: usize) -> Value {
        placeholder(num)
    }

    fn from_parts(value: &Value, attachments: Vec<Bytes>) -> RoomPayload {
        RoomPayload {
            json: RawJson::from_value(value).unwrap_or_else(|_| RawJson::null()),
            attachments,
        }
    }

    /// Room data as received (`ROOM_DATA`'s `data` and attachments).
    pub fn from_wire(json: RawJson, attachments: Vec<Bytes>) -> RoomPayload {
        RoomPayload { json, attachments }
    }

    /// The JSON text and the attachments, to send.
    pub fn into_wire(self) -> (RawJson, Vec<Bytes>) {
        (self.json, self.attachments)
    }

    /// The JSON text, placeholders included.
    pub fn raw_json(&self) -> &str {
        self.json.get()
    }

    /// The JSON as a tree, placeholders included; `None` if the text is not JSON (data
    /// received from a server is checked JSON).
    pub fn to_json(&self) -> Option<Value> {
        serde_json::from_str(self.json.get()).ok()
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The string, if the data is a string.
    pub fn as_text(&self) -> Option<String> {
        if !self.json.get().trim_start().starts_with('"') {
            return None;
        }
        serde_json::from_str(self.json.get()).ok()
    }

    /// The bytes, if the data is bytes alone (an `ArrayBuffer` in the browser).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        if !self.json.get().trim_start().starts_with('{') || self.attachments.is_empty() {
            return None;
        }
        self.attachments.get(placeholder_num(&self.to_json()?)?)
    }

    /// The size the SDK checks against [`MAX_ROOM_DATA`]: for data without binary parts, the
    /// length (in UTF-16 code units, as JavaScript counts) of the Socket.IO text packet
    /// `2[<data>]`; with binary parts, the byte length of the first attachment.
    pub fn sdk_size(&self) -> usize {
        match self.attachments.first() {
            Some(first) => first.len(),
            None => 3 + self.json.get().encode_utf16().count(),
        }
    }

    /// Checks [`RoomPayload::sdk_size`] against [`MAX_ROOM_DATA`].
    pub fn check_size(&self) -> Result<(), RoomError> {
        let size = self.sdk_size();
        if size > MAX_ROOM_DATA {
            return Err(RoomError::TooLarge {
                size,
                limit: MAX_ROOM_DATA,
            });
        }
        Ok(())
    }
}

impl From<&str> for RoomPayload {
    fn from(s: &str) -> RoomPayload {
        RoomPayload::text(s)
    }
}

impl From<String> for RoomPayload {
    fn from(s: String) -> RoomPayload {
        RoomPayload::text(s)
    }
}

impl From<Bytes> for RoomPayload {
    fn from(b: Bytes) -> RoomPayload {
        RoomPayload::bytes(b)
    }
}

impl From<Vec<u8>> for RoomPayload {
    fn from(b: Vec<u8>) -> RoomPayload {
        RoomPayload::bytes(b)
    }
}

impl From<&[u8]> for RoomPayload {
    fn from(b: &[u8]) -> RoomPayload {
        RoomPayload::bytes(Bytes::copy_from_slice(b))
    }
}

impl From<Value> for RoomPayload {
    fn from(v: Value) -> RoomPayload {
        RoomPayload::json(&v)
    }
}

impl From<&Value> for RoomPayload {
    fn from(v: &Value) -> RoomPayload {
        RoomPayload::json(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back() {
        assert_eq!(RoomPayload::from("hé").as_text().as_deref(), Some("hé"));
        assert_eq!(RoomPayload::from("hé").as_bytes(), None);
        let b = RoomPayload::from(vec![1u8, 2, 3]);
        assert_eq!(b.as_bytes().map(|b| b.to_vec()), Some(vec![1, 2, 3]));
        assert_eq!(b.as_text(), None);
        assert_eq!(b.raw_json(), r#"{"_placeholder":true,"num":0}"#);
        let j = RoomPayload::from(json!({"a": [1, 2.5, null]}));
        assert_eq!(j.to_json(), Some(json!({"a": [1, 2.5, null]})));
        assert_eq!((j.as_text(), j.as_bytes()), (None, None));
    }

    #[test]
    fn attachments_must_be_named() {
        let v = json!({"file": RoomPayload::placeholder(1), "n": 1});
        assert!(matches!(
            RoomPayload::with_attachments(&v, vec![Bytes::from_static(b"x")]),
            Err(RoomError::InvalidData(_))
        ));
        let two = vec![Bytes::from_static(b"x"), Bytes::from_static(b"yy")];
        let p = RoomPayload::with_attachments(&v, two).expect("valid");
        assert_eq!(p.attachments().len(), 2);
        assert_eq!(
            p.as_bytes(),
            None,
            "bytes inside an object are not bytes alone"
        );
    }

    #[test]
    fn size_is_measured_as_the_sdk_measures_it() {
        // `2["ab"]` is 7 characters; "😀" is two UTF-16 units.
        assert_eq!(RoomPayload::text("ab").sdk_size(), 7);
        assert_eq!(RoomPayload::text("😀").sdk_size(), 3 + 4);
        let big = RoomPayload::bytes(vec![0u8; MAX_ROOM_DATA]);
        assert!(big.check_size().is_ok());
        let over = RoomPayload::bytes(vec![0u8; MAX_ROOM_DATA + 1]);
        assert_eq!(
            over.check_size(),
            Err(RoomError::TooLarge {
                size: MAX_ROOM_DATA + 1,
                limit: MAX_ROOM_DATA
            })
        );
        // `2["a…a"]`: five characters around the text.
        let text = RoomPayload::text("a".repeat(MAX_ROOM_DATA - 5));
        assert!(text.check_size().is_ok());
        assert!(RoomPayload::text("a".repeat(MAX_ROOM_DATA - 4))
            .check_size()
            .is_err());
    }
}
