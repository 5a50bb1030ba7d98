//! Data-channel framing per serialization, pure: [`encode`] turns a [`Data`] into channel
//! messages, [`FrameDecoder`] turns channel messages back into [`Data`] (reassembling
//! js-binarypack chunks with bounded buffers).

use crate::data::Data;
use crate::error::ConnectionError;
use crate::serialization::Serialization;
use bytes::Bytes;
use peer_binarypack::{
    Chunk, ChunkMeta, Limits, Reassembler, Value, TYPE_ARRAY, TYPE_ARRAY_BUFFER, TYPE_BOOLEAN,
    TYPE_NUMBER, TYPE_OBJECT, TYPE_STRING,
};

/// One data-channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    /// A string message (PPI 51) rather than binary.
    pub is_string: bool,
    /// The message bytes (UTF-8 for strings).
    pub data: Bytes,
}

/// The js-binarypack `type` name the SDK would put in a chunk for this value.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Str(_) => TYPE_STRING,
        Value::Bin(_) => TYPE_ARRAY_BUFFER,
        Value::Array(_) => TYPE_ARRAY,
        Value::Bool(_) => TYPE_BOOLEAN,
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => TYPE_NUMBER,
        _ => TYPE_OBJECT,
    }
}

/// Encodes `data` for `serialization`. `chunk_id` names the chunks of one binary message (16
/// base-36 characters in the SDK); `max_message` is the largest single message the channel
/// carries (checked for `json` and `none`, which are not chunked).
pub fn encode(
    serialization: Serialization,
    data: &Data,
    chunk_id: &str,
    max_message: usize,
) -> Result<Vec<ChannelMessage>, ConnectionError> {
    let single = |is_string: bool, data: Bytes| {
        if data.len() > max_message {
            Err(ConnectionError::MessageTooLarge {
                size: data.len(),
                max: max_message,
            })
        } else {
            Ok(vec![ChannelMessage { is_string, data }])
        }
    };
    match serialization {
        Serialization::None => match data {
            Data::Text(s) => single(true, Bytes::copy_from_slice(s.as_bytes())),
            Data::Bytes(b) => single(false, b.clone()),
            Data::Json(_) | Data::Packed(_) => Err(ConnectionError::Unsupported(
                "serialization `none` sends only text and bytes".into(),
            )),
        },
        Serialization::Json => {
            let json = data.to_json().ok_or_else(|| {
                ConnectionError::Unsupported("serialization `json` cannot carry bytes".into())
            })?;
            let text = serde_json::to_string(&json)
                .map_err(|e| ConnectionError::Unsupported(e.to_string()))?;
            single(true, Bytes::from(text))
        }
        Serialization::Binary | Serialization::BinaryUtf8 => {
            let value = match data {
                Data::Text(s) => Value::Str(s.clone()),
                Data::Bytes(b) => Value::Bin(b.clone()),
                Data::Json(v) => Value::from_json(v),
                Data::Packed(v) => v.clone(),
            };
            // A length above u32::MAX cannot be expressed in js-binarypack.
            let payload = peer_binarypack::try_pack(&value).map_err(|size| {
                ConnectionError::MessageTooLarge {
                    size,
                    max: u32::MAX as usize,
                }
            })?;
            let meta = ChunkMeta {
                id: chunk_id.to_owned(),
                type_name: type_name(&value).to_owned(),
                name: None,
                mime_type: None,
            };
            let per_chunk = peer_binarypack::chunk_size_for(&meta);
            Ok(peer_binarypack::split(payload, &meta, per_chunk)
                .map_err(|e| ConnectionError::Unsupported(e.to_string()))?
                .map(|chunk| ChannelMessage {
                    is_string: false,
                    data: Bytes::from(chunk.encode()),
                })
                .collect())
        }
    }
}

/// Decodes channel messages of one DataConnection.
#[derive(Debug)]
pub struct FrameDecoder {
    serialization: Serialization,
    reassembler: Reassembler,
}

impl FrameDecoder {
    /// A decoder with the given reassembly limits (used by `binary` only).
    pub fn new(serialization: Serialization, limits: Limits) -> FrameDecoder {
        FrameDecoder {
            serialization,
            reassembler: Reassembler::new(limits),
        }
    }

    /// One tick of the staleness clock: drops partial messages that received no chunk in the
    /// last `max_age` ticks; returns how many were dropped.
    pub fn tick(&mut self, max_age: u64) -> usize {
        self.reassembler.tick();
        if self.reassembler.pending_messages() == 0 {
            return 0;
        }
        self.reassembler.evict_stale(max_age).len()
    }

    /// Bytes held for partial messages.
    pub fn pending_bytes(&self) -> usize {
        self.reassembler.buffered_bytes()
    }

    /// Decodes one channel message: `Ok(None)` while a chunked message is incomplete.
    pub fn decode(
        &mut self,
        is_string: bool,
        data: &[u8],
    ) -> Result<Option<Data>, ConnectionError> {
        let text = |data: &[u8]| {
            String::from_utf8(data.to_vec())
                .map_err(|_| ConnectionError::InvalidData("a string message is not UTF-8".into()))
        };
        match self.serialization {
            Serialization::None => Ok(Some(if is_string {
                Data::Text(text(data)?)
            } else {
                Data::Bytes(Bytes::copy_from_slice(data))
            })),
            Serialization::Json => {
                if !is_string {
                    return Ok(Some(Data::Bytes(Bytes::copy_from_slice(data))));
                }
                let v: serde_json::Value = serde_json::from_slice(data)
                    .map_err(|e| ConnectionError::InvalidData(format!("bad JSON: {e}")))?;
                Ok(Some(Data::from_json(v)))
            }
            Serialization::Binary | Serialization::BinaryUtf8 => {
                if is_string {
                    return Ok(Some(Data::Text(text(data)?)));
                }
                let chunk = Chunk::decode(data)
                    .map_err(|e| ConnectionError::InvalidData(format!("bad chunk: {e}")))?;
                let Some(done) = self
                    .reassembler
                    .push(chunk)
                    .map_err(|e| ConnectionError::InvalidData(e.to_string()))?
                else {
                    return Ok(None);
                };
                let value = peer_binarypack::unpack(&done.payload)
                    .map_err(|e| ConnectionError::InvalidData(format!("bad js-binarypack: {e}")))?;
                Ok(Some(from_value(value)))
            }
        }
    }
}

/// A js-binarypack value as `Data`.
fn from_value(value: Value) -> Data {
    match value {
        Value::Str(s) => Data::Text(s),
        Value::Bin(b) => Data::Bytes(b),
        other => match other.to_json() {
            Some(json) => Data::Json(json),
            None => Data::Packed(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(s: Serialization, data: Data) -> Data {
        let msgs = encode(s, &data, "abcdefghij012345", 65_535).unwrap();
        let mut dec = FrameDecoder::new(s, Limits::default());
        let mut out = None;
        for m in msgs.iter().rev() {
            assert!(m.data.len() <= 65_535);
            if let Some(d) = dec.decode(m.is_string, &m.data).unwrap() {
                out = Some(d);
            }
        }
        out.unwrap()
    }

    #[test]
    fn partial_messages_are_dropped_after_their_stale_ticks_and_others_go_on() {
        let big = Data::Bytes(Bytes::from(vec![7u8; 100_000]));
        let msgs = encode(Serialization::Binary, &big, "stale0000000000a", 65_535).unwrap();
        assert!(msgs.len() > 2);
        let mut dec = FrameDecoder::new(Serialization::Binary, Limits::default());
        // All but the last chunk, then silence.
        for m in &msgs[..msgs.len() - 1] {
            assert_eq!(dec.decode(m.is_string, &m.data).unwrap(), None);
        }
        let held = dec.pending_bytes();
        assert!(held > 80_000);
        assert_eq!(dec.tick(3), 0);
        assert_eq!(dec.tick(3), 0);
        assert_eq!(dec.tick(3), 0);
        assert_eq!(dec.tick(3), 1, "dropped after 3 silent ticks");
        assert_eq!(dec.pending_bytes(), 0);
        // Its last chunk is then refused, not the start of a new message.
        let last = &msgs[msgs.len() - 1];
        assert!(dec.decode(last.is_string, &last.data).is_err());
        // A message under way keeps going while ticks pass.
        let other = encode(Serialization::Binary, &big, "fresh0000000000b", 65_535).unwrap();
        let mut done = None;
        for m in &other {
            dec.tick(3);
            if let Some(d) = dec.decode(m.is_string, &m.data).unwrap() {
                done = Some(d);
            }
        }
        assert_eq!(done, Some(big));
    }

    #[test]
    fn every_serialization_roundtrips_what_it_supports() {
        let text = Data::Text("héllo 😀".into());
        let obj = Data::Json(json!({"a": [1, 2.5, null, true], "b": "x"}));
        let bytes = Data::Bytes(Bytes::from(
            (0..200_000u32).map(|i| i as u8).collect::<Vec<_>>(),
        ));
        for s in Serialization::ALL {
            assert_eq!(roundtrip(s, text.clone()), text, "{s}");
        }
        for s in [
            Serialization::Binary,
            Serialization::BinaryUtf8,
            Serialization::Json,
        ] {
            assert_eq!(roundtrip(s, obj.clone()), obj, "{s}");
        }
        for s in [Serialization::Binary, Serialization::BinaryUtf8] {
            assert_eq!(roundtrip(s, bytes.clone()), bytes, "{s}");
        }
        assert_eq!(
            roundtrip(Serialization::None, Data::Bytes(Bytes::new())),
            Data::Bytes(Bytes::new())
        );
    }

    #[test]
    fn unsupported_and_oversized_are_errors() {
        let big = Data::Bytes(Bytes::from(vec![0u8; 70_000]));
        assert!(matches!(
            encode(Serialization::None, &big, "x", 65_535),
            Err(ConnectionError::MessageTooLarge { size: 70_000, .. })
        ));
        assert!(encode(Serialization::Json, &big, "x", 65_535).is_err());
        assert!(encode(Serialization::None, &Data::Json(json!({})), "x", 65_535).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut dec = FrameDecoder::new(Serialization::Binary, Limits::default());
        assert!(dec.decode(false, b"\xff\x00").is_err());
        let mut dec = FrameDecoder::new(Serialization::Json, Limits::default());
        assert!(dec.decode(true, b"{").is_err());
        assert!(dec.decode(true, b"\xff").is_err());
    }
}
