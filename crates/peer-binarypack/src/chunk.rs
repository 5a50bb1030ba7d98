//! The SkyWay DataConnection chunk: one DataChannel message of the `binary` and `binary-utf8`
//! serializations, a js-binarypack map
//! `{id, type, size, totalParts, [name], [mimeType], index, data}` in exactly this key order.
//!
//! A sender packs the whole user value ([`crate::pack`]), cuts the packed bytes into slices
//! ([`split`]) and sends every [`Chunk::encode`]d slice as one binary message. skyway-js cuts
//! `16300 − sizeof(meta)` bytes per slice ([`chunk_size_for`], about 16 200); receivers do
//! not depend on the slice size. A payload always goes as at least one chunk: an empty payload
//! (which skyway-js never produces, as a packed value has at least one byte) becomes one chunk
//! with empty `data` and `totalParts` 1, since a JS receiver never completes a message of 0
//! parts.
//!
//! [`Chunk::decode`] accepts the keys in any order (the last of duplicate keys wins, as in a JS
//! object), ignores unknown keys, and takes the numbers in any integer form or as a float64
//! with an integral value.

use crate::decode::{unpack, DecodeError};
use crate::encode::{write_bin, write_len, write_str, write_uint};
use crate::value::Value;
use bytes::Bytes;
use std::fmt;

/// skyway-js's `maxChunkSize`: the budget per chunk from which it subtracts `sizeof(meta)`.
pub const JS_MAX_CHUNK_SIZE: usize = 16_300;

/// The slice size skyway-js uses for a `String`, `Number` or `Object` with a 16-character id
/// ([`chunk_size_for`]); every character of the type name more or less changes it by 2
/// (`Array` 16 202, `Boolean` 16 198, `ArrayBuffer` 16 190).
pub const DEFAULT_DATA_PER_CHUNK: usize = 16_200;

/// The largest encoded chunk [`split`] produces: the largest message the Rust `webrtc` crate
/// sends on a data channel.
pub const MAX_ENCODED_CHUNK: usize = 65_535;

/// The length of skyway-js chunk ids.
pub const CHUNK_ID_LEN: usize = 16;

/// `type` of raw bytes; a JS receiver emits an `ArrayBuffer`.
pub const TYPE_ARRAY_BUFFER: &str = "ArrayBuffer";
/// `type` of a `Uint8Array` (the receiver still emits an `ArrayBuffer`).
pub const TYPE_UINT8_ARRAY: &str = "Uint8Array";
/// `type` of a string.
pub const TYPE_STRING: &str = "String";
/// `type` of a number.
pub const TYPE_NUMBER: &str = "Number";
/// `type` of a boolean.
pub const TYPE_BOOLEAN: &str = "Boolean";
/// `type` of a plain object (map).
pub const TYPE_OBJECT: &str = "Object";
/// `type` of an array.
pub const TYPE_ARRAY: &str = "Array";
/// `type` of a `Blob` (needs `mimeType`; the receiver wraps the unpacked bytes in a `Blob`).
pub const TYPE_BLOB: &str = "Blob";
/// `type` of a `File` (needs `name` and `mimeType`).
pub const TYPE_FILE: &str = "File";

/// What every chunk of one message repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// The message id, the same in all its chunks (skyway-js: 16 base-36 characters).
    pub id: String,
    /// The JS constructor name of the sent value (`type`), e.g. [`TYPE_ARRAY_BUFFER`].
    pub type_name: String,
    /// The file name (`name`), sent by skyway-js for `File` only.
    pub name: Option<String>,
    /// The MIME type (`mimeType`), sent by skyway-js for `Blob` and `File`.
    pub mime_type: Option<String>,
}

impl ChunkMeta {
    /// A meta with no `name` and no `mimeType`.
    pub fn new(id: impl Into<String>, type_name: impl Into<String>) -> ChunkMeta {
        ChunkMeta {
            id: id.into(),
            type_name: type_name.into(),
            name: None,
            mime_type: None,
        }
    }
}

/// One chunk: a slice of a packed message and its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The message id (`id`).
    pub id: String,
    /// The JS constructor name of the sent value (`type`).
    pub type_name: String,
    /// The byte length of the whole packed message (`size`). Receivers do not check it.
    pub size: u64,
    /// The number of chunks of the message (`totalParts`).
    pub total_parts: u32,
    /// `name`, if present.
    pub name: Option<String>,
    /// `mimeType`, if present.
    pub mime_type: Option<String>,
    /// This chunk's position, `0..total_parts` (`index`).
    pub index: u32,
    /// This chunk's slice of the packed message (`data`).
    pub data: Bytes,
}

impl Chunk {
    /// Encodes the chunk map, keys in skyway-js's order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 64 + self.id.len());
        self.encode_into(&mut out);
        out
    }

    /// Encodes the chunk map, appending to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let entries = 6 + usize::from(self.name.is_some()) + usize::from(self.mime_type.is_some());
        write_len(entries, 0x80, 0xde, 0xdf, out);
        write_str("id", out);
        write_str(&self.id, out);
        write_str("type", out);
        write_str(&self.type_name, out);
        write_str("size", out);
        write_uint(self.size, out);
        write_str("totalParts", out);
        write_uint(u64::from(self.total_parts), out);
        if let Some(name) = &self.name {
            write_str("name", out);
            write_str(name, out);
        }
        if let Some(mime_type) = &self.mime_type {
            write_str("mimeType", out);
            write_str(mime_type, out);
        }
        write_str("index", out);
        write_uint(u64::from(self.index), out);
        write_str("data", out);
        write_bin(&self.data, out);
    }

    /// Decodes one DataChannel message into a chunk.
    pub fn decode(bytes: &[u8]) -> Result<Chunk, ChunkError> {
        Chunk::from_value(unpack(bytes).map_err(ChunkError::Decode)?)
    }

    /// Reads a chunk from an already decoded map.
    pub fn from_value(value: Value) -> Result<Chunk, ChunkError> {
        let Value::Map(entries) = value else {
            return Err(ChunkError::NotAMap);
        };
        let mut id = None;
        let mut type_name = None;
        let mut size = None;
        let mut total_parts = None;
        let mut name = None;
        let mut mime_type = None;
        let mut index = None;
        let mut data = None;
        for (k, v) in entries {
            let Value::Str(k) = k else { continue };
            match k.as_str() {
                "id" => id = Some(string(v, "id")?),
                "type" => type_name = Some(string(v, "type")?),
                "size" => {
                    size = Some(
                        v.as_integral_u64()
                            .ok_or(ChunkError::InvalidField("size"))?,
                    )
                }
                "totalParts" => total_parts = Some(small(&v, "totalParts")?),
                "name" => name = Some(optional_string(v, "name")?),
                "mimeType" => mime_type = Some(optional_string(v, "mimeType")?),
                "index" => index = Some(small(&v, "index")?),
                "data" => match v {
                    Value::Bin(b) => data = Some(b),
                    _ => return Err(ChunkError::InvalidField("data")),
                },
                _ => {}
            }
        }
        Ok(Chunk {
            id: id.ok_or(ChunkError::MissingField("id"))?,
            type_name: type_name.ok_or(ChunkError::MissingField("type"))?,
            size: size.ok_or(ChunkError::MissingField("size"))?,
            total_parts: total_parts.ok_or(ChunkError::MissingField("totalParts"))?,
            name: name.flatten(),
            mime_type: mime_type.flatten(),
            index: index.ok_or(ChunkError::MissingField("index"))?,
            data: data.ok_or(ChunkError::MissingField("data"))?,
        })
    }
}

fn string(v: Value, field: &'static str) -> Result<String, ChunkError> {
    match v {
        Value::Str(s) => Ok(s),
        _ => Err(ChunkError::InvalidField(field)),
    }
}

/// A string, or `None` for nil/undefined.
fn optional_string(v: Value, field: &'static str) -> Result<Option<String>, ChunkError> {
    match v {
        Value::Str(s) => Ok(Some(s)),
        Value::Nil | Value::Undefined => Ok(None),
        _ => Err(ChunkError::InvalidField(field)),
    }
}

/// A non-negative integral number that fits a `u32`.
fn small(v: &Value, field: &'static str) -> Result<u32, ChunkError> {
    v.as_integral_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(ChunkError::InvalidField(field))
}

/// Why a DataChannel message is not a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The message is not valid js-binarypack.
    Decode(DecodeError),
    /// The message is not a map.
    NotAMap,
    /// A required key is missing.
    MissingField(&'static str),
    /// A key holds the wrong type (or a number out of range).
    InvalidField(&'static str),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::Decode(e) => write!(f, "chunk: {e}"),
            ChunkError::NotAMap => f.write_str("chunk: not a map"),
            ChunkError::MissingField(k) => write!(f, "chunk: missing {k}"),
            ChunkError::InvalidField(k) => write!(f, "chunk: invalid {k}"),
        }
    }
}

impl std::error::Error for ChunkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ChunkError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a payload cannot be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// The meta alone is so large that a chunk with even one byte of data would exceed
    /// [`MAX_ENCODED_CHUNK`].
    MetaTooLarge {
        /// Encoded size of a chunk with this meta and no data (numbers at their widest).
        overhead: usize,
    },
    /// The payload needs more than `u32::MAX` chunks at this chunk size.
    TooManyParts {
        /// The number of chunks it would need.
        parts: u64,
    },
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::MetaTooLarge { overhead } => write!(
                f,
                "chunk metadata takes {overhead} bytes, no room for data under {MAX_ENCODED_CHUNK}"
            ),
            SplitError::TooManyParts { parts } => {
                write!(f, "payload needs {parts} chunks, more than u32::MAX")
            }
        }
    }
}

impl std::error::Error for SplitError {}

/// The slice size skyway-js 4.4.5 uses for `meta`: `16300 − sizeof(meta)`, where
/// `object-sizeof` counts 2 bytes per UTF-16 unit of every key and string value and 8 per
/// number, over `{id, type, size, totalParts[, name][, mimeType]}`. With a 16-character id that
/// is `16300 − (88 + 2·len(type) [+ 8 + 2·len(name)] [+ 16 + 2·len(mimeType)])`.
///
/// Where JS would get zero or less (absurdly long names), this returns 1.
pub fn chunk_size_for(meta: &ChunkMeta) -> usize {
    let units = |s: &str| s.encode_utf16().count();
    let mut size = 2 * units("id") + 2 * units(&meta.id);
    size += 2 * units("type") + 2 * units(&meta.type_name);
    size += 2 * units("size") + 8;
    size += 2 * units("totalParts") + 8;
    if let Some(name) = &meta.name {
        size += 2 * units("name") + 2 * units(name);
    }
    if let Some(mime_type) = &meta.mime_type {
        size += 2 * units("mimeType") + 2 * units(mime_type);
    }
    JS_MAX_CHUNK_SIZE.saturating_sub(size).max(1)
}

/// A chunk id from 16 random bytes: 16 base-36 characters (`0-9a-z`), like skyway-js's
/// `randomId()`. The caller supplies the randomness.
pub fn random_chunk_id(rng_bytes: [u8; 16]) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    rng_bytes
        .iter()
        .map(|&b| char::from(DIGITS[usize::from(b) % 36]))
        .collect()
}

/// Cuts a packed payload into chunks of at most `max_data_per_chunk` data bytes (use
/// [`chunk_size_for`] for skyway-js's sizes). The size is lowered where needed so that every
/// encoded chunk stays within [`MAX_ENCODED_CHUNK`]; 0 counts as 1. An empty payload gives one
/// chunk with empty data.
pub fn split(
    payload: impl Into<Bytes>,
    meta: &ChunkMeta,
    max_data_per_chunk: usize,
) -> Result<Split, SplitError> {
    let payload = payload.into();
    let overhead = Chunk {
        id: meta.id.clone(),
        type_name: meta.type_name.clone(),
        size: u64::MAX,
        total_parts: u32::MAX,
        name: meta.name.clone(),
        mime_type: meta.mime_type.clone(),
        index: u32::MAX,
        data: Bytes::new(),
    }
    .encode()
    .len()
        // The raw header grows from 1 byte (empty) to at most 5.
        + 4;
    let room = MAX_ENCODED_CHUNK.saturating_sub(overhead);
    if room == 0 {
        return Err(SplitError::MetaTooLarge { overhead });
    }
    let chunk_size = max_data_per_chunk.clamp(1, room);
    let parts = (payload.len() as u64).div_ceil(chunk_size as u64).max(1);
    let total_parts = u32::try_from(parts).map_err(|_| SplitError::TooManyParts { parts })?;
    Ok(Split {
        size: payload.len() as u64,
        payload,
        meta: meta.clone(),
        chunk_size,
        total_parts,
        next: 0,
    })
}

/// The chunks of one payload, in index order (from [`split`]).
#[derive(Clone, Debug)]
pub struct Split {
    payload: Bytes,
    size: u64,
    meta: ChunkMeta,
    chunk_size: usize,
    total_parts: u32,
    next: u32,
}

impl Split {
    /// The number of chunks (`totalParts`).
    pub fn total_parts(&self) -> u32 {
        self.total_parts
    }

    /// The data bytes per chunk (the last one may hold fewer).
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }
}

impl Iterator for Split {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        if self.next >= self.total_parts {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let start = (index as usize).saturating_mul(self.chunk_size);
        let end = start
            .saturating_add(self.chunk_size)
            .min(self.payload.len());
        let data = self.payload.slice(start.min(end)..end);
        Some(Chunk {
            id: self.meta.id.clone(),
            type_name: self.meta.type_name.clone(),
            size: self.size,
            total_parts: self.total_parts,
            name: self.meta.name.clone(),
            mime_type: self.meta.mime_type.clone(),
            index,
            data,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.total_parts - self.next) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Split {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_chunk_sizes() {
        let id = "abcdefghij012345";
        assert_eq!(
            chunk_size_for(&ChunkMeta::new(id, TYPE_STRING)),
            DEFAULT_DATA_PER_CHUNK
        );
        assert_eq!(chunk_size_for(&ChunkMeta::new(id, TYPE_OBJECT)), 16_200);
        assert_eq!(
            chunk_size_for(&ChunkMeta::new(id, TYPE_ARRAY_BUFFER)),
            16_190
        );
        assert_eq!(
            chunk_size_for(&ChunkMeta::new(id, TYPE_UINT8_ARRAY)),
            16_192
        );
        let file = ChunkMeta {
            name: Some("a.txt".into()),
            mime_type: Some("text/plain".into()),
            ..ChunkMeta::new(id, TYPE_FILE)
        };
        assert_eq!(
            chunk_size_for(&file),
            16_300 - (88 + 8) - (8 + 10) - (16 + 20)
        );
    }

    #[test]
    fn random_ids_are_base36() {
        let id = random_chunk_id([0, 35, 36, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(id.len(), CHUNK_ID_LEN);
        assert!(id.starts_with("0z03"));
    }

    #[test]
    fn empty_payload_is_one_chunk() {
        let chunks: Vec<Chunk> = split(Bytes::new(), &ChunkMeta::new("x", "ArrayBuffer"), 10)
            .expect("splits")
            .collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].total_parts, 1);
        assert!(chunks[0].data.is_empty());
    }
}
