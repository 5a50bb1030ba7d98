//! [`Reassembler`]: collects the chunks of interleaved messages and returns each message's
//! packed payload once all its parts are there, with bounded memory.
//!
//! Chunks are grouped by `id` and placed by `index`, so they may arrive in any order and
//! messages may interleave (skyway-js can reorder chunks). The first chunk of a message fixes
//! its `totalParts`, `type`, `name` and `mimeType`; later chunks must agree on `totalParts`
//! (other metadata differences are ignored, as in skyway-js). `size` is not checked against the
//! data, as in skyway-js, except that a declared `size` above the message limit fails early.
//!
//! Policies:
//! - A **duplicate index** is ignored: the first copy is kept and `push` returns `Ok(None)`.
//!   (skyway-js would count it as a new part and complete the message with a hole.)
//! - **Every error drops that message**: its buffered parts are freed and its id is remembered
//!   (the last [`FAILED_IDS_REMEMBERED`] ids of up to [`FAILED_ID_MAX_LEN`] bytes), so its
//!   remaining chunks get [`ReassemblyErrorKind::Discarded`] instead of starting it over. Other
//!   messages are unaffected.
//! - **Memory**: each buffered part counts its data plus [`PART_OVERHEAD`] bytes, and each
//!   pending message its metadata strings, against [`Limits::max_total_bytes`]; a message's data
//!   is limited by [`Limits::max_message_bytes`] and its part count by [`Limits::max_parts`],
//!   and at most [`Limits::max_pending_messages`] messages are open at once (a new one beyond
//!   that is refused, the open ones keep going). The chunk that completes a message is never
//!   refused for the total (completing frees the message's buffers), so a flood of partial
//!   messages cannot block messages already under way. Part storage grows with the parts
//!   received, never with the announced `totalParts`.
//! - **Staleness**: there is no clock. The caller calls [`Reassembler::tick`] periodically and
//!   [`Reassembler::evict_stale`] to drop messages that received nothing for some ticks, or
//!   [`Reassembler::evict_oldest`] to make room. Evicted ids are remembered like failed ones.

use crate::chunk::Chunk;
use bytes::Bytes;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

/// Bytes counted per buffered part on top of its data (map node, handle).
pub const PART_OVERHEAD: usize = 64;

/// How many dropped message ids are remembered.
pub const FAILED_IDS_REMEMBERED: usize = 256;

/// Ids longer than this are not remembered when their message is dropped.
pub const FAILED_ID_MAX_LEN: usize = 64;

/// Resource limits of a [`Reassembler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum packed payload of one message, in bytes. Default 64 MiB.
    pub max_message_bytes: usize,
    /// Maximum bytes buffered over all pending messages (data plus overheads). Default 128 MiB.
    pub max_total_bytes: usize,
    /// Maximum number of messages being reassembled at once. Default 1024.
    pub max_pending_messages: usize,
    /// Maximum `totalParts` of a message. Default 65 536 (skyway-js needs about 4 150 for
    /// 64 MiB).
    pub max_parts: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 64 << 20,
            max_total_bytes: 128 << 20,
            max_pending_messages: 1024,
            max_parts: 1 << 16,
        }
    }
}

/// A complete message: its metadata and the packed payload (pass it to [`crate::unpack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    /// The message id.
    pub id: String,
    /// `type` of the first chunk (the JS constructor name).
    pub type_name: String,
    /// `name` of the first chunk.
    pub name: Option<String>,
    /// `mimeType` of the first chunk.
    pub mime_type: Option<String>,
    /// The parts' data, concatenated in index order.
    pub payload: Vec<u8>,
}

/// A chunk was refused; the message it belongs to has been dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReassemblyError {
    /// The message id.
    pub id: String,
    /// What went wrong.
    pub kind: ReassemblyErrorKind,
}

/// The reasons a chunk is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReassemblyErrorKind {
    /// `totalParts` is 0.
    ZeroParts,
    /// `index >= totalParts`.
    IndexOutOfRange {
        /// The chunk's index.
        index: u32,
        /// The message's `totalParts`.
        total_parts: u32,
    },
    /// `totalParts` differs from the message's first chunk.
    TotalPartsMismatch {
        /// `totalParts` of the first chunk.
        expected: u32,
        /// `totalParts` of this chunk.
        got: u32,
    },
    /// `totalParts` is above [`Limits::max_parts`].
    TooManyParts {
        /// The chunk's `totalParts`.
        total_parts: u32,
        /// The limit.
        max: u32,
    },
    /// The message's declared `size` or its received data is above
    /// [`Limits::max_message_bytes`].
    MessageTooLarge {
        /// The declared size or the data received so far including this chunk.
        bytes: u64,
        /// The limit.
        max: usize,
    },
    /// Buffering this chunk would take all messages above [`Limits::max_total_bytes`].
    TotalBytesExceeded {
        /// The total that buffering it would reach.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A new message would exceed [`Limits::max_pending_messages`].
    TooManyPending {
        /// The limit.
        max: usize,
    },
    /// The message was dropped earlier (by an error or an eviction).
    Discarded,
}

impl fmt::Display for ReassemblyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message {:?}: ", self.id)?;
        match &self.kind {
            ReassemblyErrorKind::ZeroParts => f.write_str("totalParts is 0"),
            ReassemblyErrorKind::IndexOutOfRange { index, total_parts } => {
                write!(f, "index {index} out of range for {total_parts} parts")
            }
            ReassemblyErrorKind::TotalPartsMismatch { expected, got } => {
                write!(
                    f,
                    "totalParts {got} differs from the first chunk's {expected}"
                )
            }
            ReassemblyErrorKind::TooManyParts { total_parts, max } => {
                write!(f, "totalParts {total_parts} above the limit {max}")
            }
            ReassemblyErrorKind::MessageTooLarge { bytes, max } => {
                write!(f, "{bytes} bytes above the message limit {max}")
            }
            ReassemblyErrorKind::TotalBytesExceeded { bytes, max } => {
                write!(f, "{bytes} buffered bytes above the limit {max}")
            }
            ReassemblyErrorKind::TooManyPending { max } => {
                write!(f, "more than {max} messages pending")
            }
            ReassemblyErrorKind::Discarded => f.write_str("dropped earlier"),
        }
    }
}

impl std::error::Error for ReassemblyError {}

/// A message being reassembled.
#[derive(Debug)]
struct Partial {
    total_parts: u32,
    type_name: String,
    name: Option<String>,
    mime_type: Option<String>,
    parts: BTreeMap<u32, Bytes>,
    /// Data bytes received.
    data_bytes: usize,
    /// Bytes counted against `max_total_bytes`.
    accounted: usize,
    /// Generation of the last chunk received.
    generation: u64,
    /// Sequence number of the last chunk received (orders eviction).
    seq: u64,
}

/// Reassembles chunked messages; see the module doc for the policies.
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: Limits,
    pending: HashMap<String, Partial>,
    buffered: usize,
    generation: u64,
    seq: u64,
    failed: VecDeque<String>,
    failed_set: HashSet<String>,
}

impl Reassembler {
    /// A reassembler with the given limits.
    pub fn new(limits: Limits) -> Reassembler {
        Reassembler {
            limits,
            ..Reassembler::default()
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The number of messages being reassembled.
    pub fn pending_messages(&self) -> usize {
        self.pending.len()
    }

    /// The bytes counted against [`Limits::max_total_bytes`] now.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// The current generation (see [`Reassembler::tick`]).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Advances the generation; call it periodically (e.g. every second).
    pub fn tick(&mut self) {
        self.generation += 1;
    }

    /// Drops the messages that received no chunk in the last `max_age` generations (those
    /// whose last chunk came at generation `g` with `g + max_age < generation()`), returning
    /// their ids.
    pub fn evict_stale(&mut self, max_age: u64) -> Vec<String> {
        let now = self.generation;
        let stale: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.generation.saturating_add(max_age) < now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &stale {
            self.drop_message(id);
        }
        stale
    }

    /// Drops the message that received a chunk least recently, returning its id.
    pub fn evict_oldest(&mut self) -> Option<String> {
        let id = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.seq)
            .map(|(id, _)| id.clone())?;
        self.drop_message(&id);
        Some(id)
    }

    /// Drops every pending message (without remembering their ids).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.buffered = 0;
    }

    /// Takes one chunk. Returns the message when this chunk completes it, `Ok(None)` while it
    /// is incomplete (or the chunk was a duplicate), and an error when the chunk is refused, in
    /// which case its message is dropped.
    pub fn push(&mut self, chunk: Chunk) -> Result<Option<Assembled>, ReassemblyError> {
        match self.place(chunk) {
            Ok(done) => Ok(done),
            Err((id, kind)) => {
                if kind != ReassemblyErrorKind::Discarded {
                    self.drop_message(&id);
                }
                Err(ReassemblyError { id, kind })
            }
        }
    }

    /// [`Reassembler::push`] without the clean-up on error.
    fn place(&mut self, chunk: Chunk) -> Result<Option<Assembled>, (String, ReassemblyErrorKind)> {
        use ReassemblyErrorKind as K;
        let limits = self.limits;
        if self.failed_set.contains(&chunk.id) {
            return Err((chunk.id, K::Discarded));
        }
        let total_parts = chunk.total_parts;
        let existing = self.pending.get(&chunk.id);
        if let Some(p) = existing {
            if p.total_parts != total_parts {
                let expected = p.total_parts;
                return Err((
                    chunk.id,
                    K::TotalPartsMismatch {
                        expected,
                        got: total_parts,
                    },
                ));
            }
        } else {
            if total_parts == 0 {
                return Err((chunk.id, K::ZeroParts));
            }
            if total_parts > limits.max_parts {
                let max = limits.max_parts;
                return Err((chunk.id, K::TooManyParts { total_parts, max }));
            }
            if chunk.size > limits.max_message_bytes as u64 {
                let max = limits.max_message_bytes;
                let bytes = chunk.size;
                return Err((chunk.id, K::MessageTooLarge { bytes, max }));
            }
        }
        if chunk.index >= total_parts {
            let index = chunk.index;
            return Err((chunk.id, K::IndexOutOfRange { index, total_parts }));
        }
        let data_len = chunk.data.len();
        let data_bytes = existing.map_or(0, |p| p.data_bytes) + data_len;
        if data_bytes > limits.max_message_bytes {
            let max = limits.max_message_bytes;
            return Err((
                chunk.id,
                K::MessageTooLarge {
                    bytes: data_bytes as u64,
                    max,
                },
            ));
        }

        if existing.is_none() && total_parts == 1 {
            // Single-part message: nothing to buffer.
            return Ok(Some(Assembled {
                id: chunk.id,
                type_name: chunk.type_name,
                name: chunk.name,
                mime_type: chunk.mime_type,
                payload: Vec::from(chunk.data),
            }));
        }
        if existing.is_some_and(|p| p.parts.contains_key(&chunk.index)) {
            return Ok(None);
        }

        let mut added = data_len + PART_OVERHEAD;
        if existing.is_none() {
            if self.pending.len() >= limits.max_pending_messages {
                let max = limits.max_pending_messages;
                return Err((chunk.id, K::TooManyPending { max }));
            }
            added += meta_bytes(&chunk);
        }
        let total = self.buffered + added;
        // A completing chunk is never refused for the total: completing frees the buffers.
        let completes = existing.map_or(0, |p| p.parts.len()) + 1 == total_parts as usize;
        if total > limits.max_total_bytes && !completes {
            let max = limits.max_total_bytes;
            return Err((chunk.id, K::TotalBytesExceeded { bytes: total, max }));
        }

        self.seq += 1;
        let (seq, generation) = (self.seq, self.generation);
        self.buffered = total;
        let Chunk {
            id,
            type_name,
            name,
            mime_type,
            index,
            data,
            ..
        } = chunk;
        let mut entry = match self.pending.entry(id) {
            Entry::Occupied(o) => o,
            Entry::Vacant(v) => v.insert_entry(Partial {
                total_parts,
                type_name,
                name,
                mime_type,
                parts: BTreeMap::new(),
                data_bytes: 0,
                accounted: 0,
                generation,
                seq,
            }),
        };
        let partial = entry.get_mut();
        partial.parts.insert(index, data);
        partial.data_bytes = data_bytes;
        partial.accounted += added;
        partial.generation = generation;
        partial.seq = seq;
        if partial.parts.len() < total_parts as usize {
            return Ok(None);
        }
        let (id, p) = entry.remove_entry();
        self.buffered -= p.accounted;
        let mut payload = Vec::with_capacity(p.data_bytes);
        for part in p.parts.values() {
            payload.extend_from_slice(part);
        }
        Ok(Some(Assembled {
            id,
            type_name: p.type_name,
            name: p.name,
            mime_type: p.mime_type,
            payload,
        }))
    }

    /// Frees a message's state and remembers its id as dropped.
    fn drop_message(&mut self, id: &str) {
        if let Some(p) = self.pending.remove(id) {
            self.buffered -= p.accounted;
        }
        if id.len() <= FAILED_ID_MAX_LEN && !self.failed_set.contains(id) {
            if self.failed.len() >= FAILED_IDS_REMEMBERED {
                if let Some(old) = self.failed.pop_front() {
                    self.failed_set.remove(&old);
                }
            }
            self.failed.push_back(id.to_owned());
            self.failed_set.insert(id.to_owned());
        }
    }
}

/// Bytes a pending message's metadata takes.
fn meta_bytes(chunk: &Chunk) -> usize {
    chunk.id.len()
        + chunk.type_name.len()
        + chunk.name.as_ref().map_or(0, String::len)
        + chunk.mime_type.as_ref().map_or(0, String::len)
}
