//! What a DataConnection sends and receives: a value that tells text, bytes and JSON apart.

use bytes::Bytes;
use serde_json::Value as Json;

/// A message on a DataConnection.
///
/// What arrives depends on the sender's value and the serialization:
///
/// | sent (JS or Rust)            | `binary` / `binary-utf8` | `json`      | `none`  |
/// |------------------------------|--------------------------|-------------|---------|
/// | string                       | `Text`                   | `Text`      | `Text`  |
/// | `ArrayBuffer`, bytes         | `Bytes`                  | unsupported | `Bytes` |
/// | object, array, number, bool  | `Json`                   | `Json`      | n/a     |
/// | object holding bytes         | `Packed`                 | n/a         | n/a     |
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A string.
    Text(String),
    /// Raw bytes (`ArrayBuffer`, typed arrays, `Blob` contents).
    Bytes(Bytes),
    /// A JSON value other than a string.
    Json(Json),
    /// A js-binarypack value that JSON cannot express (bytes inside an object, say).
    Packed(peer_binarypack::Value),
}

impl Data {
    /// The text, if this is `Text`.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is `Bytes`.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Data::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The value as JSON: `Text` becomes a JSON string; `Bytes` and `Packed` give `None`.
    pub fn to_json(&self) -> Option<Json> {
        match self {
            Data::Text(s) => Some(Json::String(s.clone())),
            Data::Json(v) => Some(v.clone()),
            Data::Bytes(_) => None,
            Data::Packed(v) => v.to_json(),
        }
    }

    /// Deserializes the value into `T` (through JSON).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.to_json()?).ok()
    }

    /// A JSON value as `Data`: a JSON string becomes `Text`.
    pub fn from_json(v: Json) -> Data {
        match v {
            Json::String(s) => Data::Text(s),
            other => Data::Json(other),
        }
    }
}

impl From<String> for Data {
    fn from(s: String) -> Data {
        Data::Text(s)
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Data {
        Data::Text(s.to_owned())
    }
}

impl From<Bytes> for Data {
    fn from(b: Bytes) -> Data {
        Data::Bytes(b)
    }
}

impl From<Vec<u8>> for Data {
    fn from(b: Vec<u8>) -> Data {
        Data::Bytes(Bytes::from(b))
    }
}

impl From<&[u8]> for Data {
    fn from(b: &[u8]) -> Data {
        Data::Bytes(Bytes::copy_from_slice(b))
    }
}

impl From<Json> for Data {
    fn from(v: Json) -> Data {
        Data::from_json(v)
    }
}
