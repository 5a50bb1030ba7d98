//! [`RawJson`]: JSON text carried as it is, never built into a tree by the server.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;

/// JSON text sent and received as it is (relayed payloads, room data), compared by its text.
#[derive(Clone)]
pub struct RawJson(pub Box<RawValue>);

impl RawJson {
    /// The JSON `null`.
    pub fn null() -> RawJson {
        RawJson::from_text("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
    }

    /// Checks `text` as JSON and keeps it as it is.
    pub fn from_text(text: String) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text).map(RawJson)
    }

    /// Encodes a value.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<RawJson, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawJson)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value as a tree (builds all of it).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.get())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.get())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawJson, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(RawJson)
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> RawJson {
        RawJson(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_text_and_compares_by_it() {
        let a = RawJson::from_text("{\"b\":1, \"a\":2.50}".into()).unwrap();
        assert_eq!(a.get(), "{\"b\":1, \"a\":2.50}");
        assert_ne!(
            a,
            RawJson::from_text("{\"b\":1,\"a\":2.50}".into()).unwrap()
        );
        assert!(RawJson::from_text("{".into()).is_err());
        assert_eq!(RawJson::null().get(), "null");
        let back: RawJson = serde_json::from_str(" [1, 2] ").unwrap();
        assert_eq!(back.get(), "[1, 2]");
    }
}
