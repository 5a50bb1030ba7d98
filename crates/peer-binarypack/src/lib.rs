//! The js-binarypack 0.0.9 codec and the chunk framing of skyway-js 4.4.5 DataConnections
//! (`binary` and `binary-utf8` serializations), as pure functions: no I/O, no clock, no
//! randomness (the caller provides chunk ids).
//!
//! - [`value`]: [`Value`], the encoded tree, with conversions from Rust types and JSON.
//! - [`encode`]: [`pack`], byte-exact with js-binarypack except for astral characters (written
//!   as CESU-8 so that the JS decoder reads them back) and floats (exact IEEE bits).
//! - [`decode`]: [`unpack`], with depth and length limits, tolerant of js-binarypack's string
//!   length quirk.
//! - [`chunk`]: the chunk map `{id, type, size, totalParts, [name], [mimeType], index, data}`,
//!   [`split`] and skyway-js's chunk size ([`chunk_size_for`]).
//! - [`reassembly`]: [`Reassembler`], which collects interleaved, reordered chunks with bounded
//!   memory.
//!
//! Sending a value and receiving it on the other side:
//!
//! ```
//! use peer_binarypack::{pack, random_chunk_id, split, unpack, Chunk, ChunkMeta, Limits,
//!     Reassembler, Value, TYPE_OBJECT, chunk_size_for};
//!
//! let value = Value::Map(vec![
//!     ("text".into(), "hello 😀".into()),
//!     ("bytes".into(), Value::from(vec![0u8; 40_000])),
//! ]);
//! let meta = ChunkMeta::new(random_chunk_id([7; 16]), TYPE_OBJECT);
//! let payload = pack(&value);
//!
//! // Sender: one DataChannel message per chunk.
//! let messages: Vec<Vec<u8>> = split(payload, &meta, chunk_size_for(&meta))?
//!     .map(|chunk| chunk.encode())
//!     .collect();
//! assert_eq!(messages.len(), 3);
//!
//! // Receiver: chunks may arrive in any order.
//! let mut reassembler = Reassembler::new(Limits::default());
//! let mut done = None;
//! for message in messages.iter().rev() {
//!     if let Some(assembled) = reassembler.push(Chunk::decode(message)?)? {
//!         done = Some(assembled);
//!     }
//! }
//! let assembled = done.expect("all parts arrived");
//! assert_eq!(assembled.type_name, "Object");
//! assert_eq!(unpack(&assembled.payload)?, value);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chunk;
pub mod decode;
pub mod encode;
pub mod reassembly;
pub mod value;

pub use chunk::{
    chunk_size_for, random_chunk_id, split, Chunk, ChunkError, ChunkMeta, Split, SplitError,
    CHUNK_ID_LEN, DEFAULT_DATA_PER_CHUNK, JS_MAX_CHUNK_SIZE, MAX_ENCODED_CHUNK, TYPE_ARRAY,
    TYPE_ARRAY_BUFFER, TYPE_BLOB, TYPE_BOOLEAN, TYPE_FILE, TYPE_NUMBER, TYPE_OBJECT, TYPE_STRING,
    TYPE_UINT8_ARRAY,
};
pub use decode::{
    unpack, unpack_prefix, unpack_with, DecodeError, DecodeOptions, DEFAULT_MAX_DEPTH,
    JS_COUNTED_LENGTH_MAX_UNITS,
};
pub use encode::{pack, pack_into, try_pack};
pub use reassembly::{Assembled, Limits, Reassembler, ReassemblyError, ReassemblyErrorKind};
pub use value::Value;
