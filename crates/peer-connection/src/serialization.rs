//! The DataConnection options carried in the offer: serialization and `dcInit`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a DataConnection frames messages (the SDK's `serialization` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Serialization {
    /// js-binarypack in chunks of about 16 KB; any value, any size. The SDK's default.
    #[default]
    #[serde(rename = "binary")]
    Binary,
    /// The same wire format as `binary`.
    #[serde(rename = "binary-utf8")]
    BinaryUtf8,
    /// `JSON.stringify` text, one message per value.
    #[serde(rename = "json")]
    Json,
    /// Strings and bytes as they are, one message per value.
    #[serde(rename = "none")]
    None,
}

impl Serialization {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Serialization::Binary => "binary",
            Serialization::BinaryUtf8 => "binary-utf8",
            Serialization::Json => "json",
            Serialization::None => "none",
        }
    }

    /// Whether messages are js-binarypack chunks.
    pub fn is_binary(self) -> bool {
        matches!(self, Serialization::Binary | Serialization::BinaryUtf8)
    }

    /// Every serialization, in the SDK's order.
    pub const ALL: [Serialization; 4] = [
        Serialization::Binary,
        Serialization::BinaryUtf8,
        Serialization::Json,
        Serialization::None,
    ];
}

impl fmt::Display for Serialization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The serialization string is not one of the four the SDK accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSerialization(pub String);

impl fmt::Display for InvalidSerialization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid serialization {:?}", self.0)
    }
}

impl std::error::Error for InvalidSerialization {}

impl FromStr for Serialization {
    type Err = InvalidSerialization;
    fn from_str(s: &str) -> Result<Serialization, InvalidSerialization> {
        Serialization::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| InvalidSerialization(s.to_owned()))
    }
}

/// The data channel's reliability (the SDK's `dcInit`, an `RTCDataChannelInit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DcInit {
    /// In-order delivery; `true` unless set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordered: Option<bool>,
    /// Retransmissions before a message is dropped (unreliable mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retransmits: Option<u16>,
    /// Milliseconds before a message is dropped (unreliable mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_packet_life_time: Option<u16>,
}

impl DcInit {
    /// A reliable, ordered channel (the default).
    pub fn reliable() -> DcInit {
        DcInit::default()
    }

    /// Sets in-order delivery.
    #[must_use]
    pub fn ordered(mut self, ordered: bool) -> DcInit {
        self.ordered = Some(ordered);
        self
    }

    /// Drops a message after this many retransmissions (unreliable).
    #[must_use]
    pub fn max_retransmits(mut self, n: u16) -> DcInit {
        self.max_retransmits = Some(n);
        self
    }

    /// Drops a message after this many milliseconds (unreliable).
    #[must_use]
    pub fn max_packet_life_time(mut self, ms: u16) -> DcInit {
        self.max_packet_life_time = Some(ms);
        self
    }

    /// Whether messages may be lost; the SDK then forces `binary` serialization.
    pub fn is_unreliable(&self) -> bool {
        self.max_retransmits.is_some() || self.max_packet_life_time.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sdk_strings() {
        for s in Serialization::ALL {
            assert_eq!(s.as_str().parse::<Serialization>(), Ok(s));
        }
        assert!("msgpack".parse::<Serialization>().is_err());
    }

    #[test]
    fn dc_init_uses_sdk_names() {
        let d: DcInit = serde_json::from_str(r#"{"maxPacketLifeTime":5,"ordered":false}"#).unwrap();
        assert!(d.is_unreliable());
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"ordered":false,"maxPacketLifeTime":5}"#
        );
        assert_eq!(serde_json::to_string(&DcInit::default()).unwrap(), "{}");
    }
}
