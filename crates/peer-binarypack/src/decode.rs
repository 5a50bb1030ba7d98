//! The decoder: [`unpack`] reads what js-binarypack 0.0.9 writes (and what [`crate::pack`]
//! writes), with hard limits so hostile input cannot exhaust memory or the stack.
//!
//! Limits and policies:
//! - Nesting: arrays and maps deeper than [`DecodeOptions::max_depth`] (default
//!   [`DEFAULT_MAX_DEPTH`], 256) are a [`DecodeError::TooDeep`].
//! - Declared lengths are checked against the bytes left before anything is allocated: a string
//!   or byte string needs its length, an array one byte per item, a map two per entry. Arrays and
//!   maps also start with a small capacity and grow as items actually decode, so memory stays
//!   proportional to the input.
//! - Trailing bytes after the value are an error ([`DecodeError::TrailingBytes`]) unless
//!   [`DecodeOptions::allow_trailing_bytes`] is set. js-binarypack ignores them;
//!   [`unpack_prefix`] does the same and reports how many bytes the value used.
//! - Type codes js-binarypack never writes and has no payload for (`0xc4`–`0xc9`,
//!   `0xd4`–`0xd7`) are a [`DecodeError::ReservedType`]; js-binarypack would return
//!   `undefined` for them. `0xc1` is [`Value::Undefined`].
//! - Integers decode to [`Value::Int`], or [`Value::UInt`] above `i64::MAX`; float32 (`0xca`)
//!   and float64 (`0xcb`) to [`Value::Float`] with their exact bits, also for integral values (js-binarypack's float
//!   decoder is wrong for zero, subnormals, infinities and NaN; its NaN encoding, `0xcb` and
//!   eight zero bytes, reads as `0.0` here).
//!
//! # Strings
//!
//! Bytes are UTF-8, plus CESU-8 (a UTF-16 surrogate as its own 3-byte sequence, which is what
//! [`crate::pack`] writes for astral characters): a high surrogate followed by a low one
//! combine into one character, and a lone surrogate becomes U+FFFD. Overlong forms and other
//! invalid sequences are a [`DecodeError::InvalidString`].
//!
//! The announced length `L` is not always the byte length. For strings of up to 600 UTF-16
//! units, js-binarypack announces 1, 2 or 3 bytes per UTF-16 unit (so 6 per astral character)
//! but writes real UTF-8 (4 bytes per astral character); above 600 units it announces the real
//! UTF-8 length. So the string is read as follows:
//! 1. If the `L` bytes are a valid string and hold either no 4-byte sequence, or more than 600
//!    UTF-16 units, they are the string (the honest length, which covers every string without
//!    astral characters and all of js-binarypack's long strings).
//! 2. Otherwise characters are read one at a time, counting what JS announces for each (1, 2, 3
//!    and 6 for 1- to 4-byte sequences), until that count reaches `L` exactly; if it does, the
//!    string has at most 600 UTF-16 units and it contains a 4-byte sequence, that is the string
//!    (the JS quirk) and decoding continues after the bytes actually read.
//! 3. Otherwise, if the `L` bytes are a valid string, they are the string (an honest short
//!    string with 4-byte sequences, from another encoder).
//! 4. Otherwise the input is invalid ([`DecodeError::InvalidString`], or
//!    [`DecodeError::Truncated`] when the `L` bytes are not there).
//!
//! The rule can misread one rare JS-produced shape: a string of at most 600 UTF-16 units with
//! astral characters, followed by bytes that happen to extend it into a valid string of more
//! than 600 units (step 1 then wins). Such input has no unambiguous reading.

use crate::value::Value;
use bytes::Bytes;
use std::fmt;

/// The default maximum nesting depth of arrays and maps.
pub const DEFAULT_MAX_DEPTH: usize = 256;

/// Strings of up to this many UTF-16 units get js-binarypack's counted (not measured) length.
pub const JS_COUNTED_LENGTH_MAX_UNITS: usize = 600;

/// Arrays and maps start with at most this capacity, then grow with the items that decode.
const MAX_INITIAL_CAPACITY: usize = 64;

/// Options for [`unpack_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Maximum nesting depth of arrays and maps (a top-level array is depth 1).
    pub max_depth: usize,
    /// Whether bytes after the value are ignored (as js-binarypack does) instead of an error.
    pub allow_trailing_bytes: bool,
}

impl Default for DecodeOptions {
    fn default() -> DecodeOptions {
        DecodeOptions {
            max_depth: DEFAULT_MAX_DEPTH,
            allow_trailing_bytes: false,
        }
    }
}

/// Why a byte string is not a js-binarypack value. Every variant carries the byte offset where
/// the problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends early: the item at `offset` needs `needed` more bytes (a declared length,
    /// or a fixed-size payload) but only `available` remain.
    Truncated {
        /// Offset of the first byte that is missing or of the data a length announced.
        offset: usize,
        /// Bytes needed from `offset`.
        needed: u64,
        /// Bytes left from `offset`.
        available: usize,
    },
    /// A type code js-binarypack does not define a payload for.
    ReservedType {
        /// Offset of the type byte.
        offset: usize,
        /// The type byte.
        byte: u8,
    },
    /// A string whose bytes are not valid UTF-8/CESU-8 under any reading of its length.
    InvalidString {
        /// Offset of the string's type byte.
        offset: usize,
    },
    /// Arrays and maps nest deeper than the limit.
    TooDeep {
        /// Offset of the container that is one level too deep.
        offset: usize,
        /// The limit.
        max_depth: usize,
    },
    /// Bytes follow the value.
    TrailingBytes {
        /// Offset of the first byte after the value.
        offset: usize,
    },
}

impl DecodeError {
    /// The byte offset the error refers to.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::ReservedType { offset, .. }
            | DecodeError::InvalidString { offset }
            | DecodeError::TooDeep { offset, .. }
            | DecodeError::TrailingBytes { offset } => *offset,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated {
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated at byte {offset}: {needed} bytes needed, {available} left"
            ),
            DecodeError::ReservedType { offset, byte } => {
                write!(f, "unsupported type code 0x{byte:02x} at byte {offset}")
            }
            DecodeError::InvalidString { offset } => {
                write!(f, "invalid string at byte {offset}")
            }
            DecodeError::TooDeep { offset, max_depth } => {
                write!(f, "nesting deeper than {max_depth} at byte {offset}")
            }
            DecodeError::TrailingBytes { offset } => {
                write!(f, "trailing bytes from byte {offset}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one value that must span all of `bytes`, with the default options.
pub fn unpack(bytes: &[u8]) -> Result<Value, DecodeError> {
    unpack_with(bytes, &DecodeOptions::default())
}

/// Decodes one value from the start of `bytes` and returns it with the number of bytes it used;
/// whatever follows is ignored, as js-binarypack does.
pub fn unpack_prefix(bytes: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut d = Decoder {
        buf: bytes,
        pos: 0,
        max_depth: DEFAULT_MAX_DEPTH,
    };
    let value = d.value(0)?;
    Ok((value, d.pos))
}

/// Decodes one value with explicit options.
pub fn unpack_with(bytes: &[u8], options: &DecodeOptions) -> Result<Value, DecodeError> {
    let mut d = Decoder {
        buf: bytes,
        pos: 0,
        max_depth: options.max_depth,
    };
    let value = d.value(0)?;
    if d.pos != bytes.len() && !options.allow_trailing_bytes {
        return Err(DecodeError::TrailingBytes { offset: d.pos });
    }
    Ok(value)
}

/// A cursor over the input.
struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Decoder<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.remaining();
        if n > available {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n as u64,
                available,
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        // A u32 always fits the address space of the platforms this crate builds for; where it
        // would not, the saturated length fails the bounds checks.
        Ok(usize::try_from(u32::from_be_bytes(self.array()?)).unwrap_or(usize::MAX))
    }

    /// Checks that `count` items of at least `min_size` bytes each can still follow.
    fn check_count(&self, count: usize, min_size: usize) -> Result<(), DecodeError> {
        let needed = count as u64 * min_size as u64;
        if needed > self.remaining() as u64 {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed,
                available: self.remaining(),
            });
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let start = self.pos;
        let t = self.u8()?;
        Ok(match t {
            0x00..=0x7f => Value::Int(i64::from(t)),
            0xe0..=0xff => Value::Int(i64::from(t as i8)),
            0x80..=0x8f => self.map(usize::from(t & 0x0f), start, depth)?,
            0x90..=0x9f => self.array_value(usize::from(t & 0x0f), start, depth)?,
            0xa0..=0xaf => self.raw(usize::from(t & 0x0f))?,
            0xb0..=0xbf => self.string(usize::from(t & 0x0f), start)?,
            0xc0 => Value::Nil,
            0xc1 => Value::Undefined,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xca => Value::Float(f64::from(f32::from_bits(u32::from_be_bytes(self.array()?)))),
            0xcb => Value::Float(f64::from_bits(u64::from_be_bytes(self.array()?))),
            0xcc => Value::Int(i64::from(self.u8()?)),
            0xcd => Value::Int(i64::from(u16::from_be_bytes(self.array()?))),
            0xce => Value::Int(i64::from(u32::from_be_bytes(self.array()?))),
            0xcf => Value::from(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::Int(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Value::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Value::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Value::Int(i64::from_be_bytes(self.array()?)),
            0xd8 => {
                let len = self.u16()?;
                self.string(len, start)?
            }
            0xd9 => {
                let len = self.u32()?;
                self.string(len, start)?
            }
            0xda => {
                let len = self.u16()?;
                self.raw(len)?
            }
            0xdb => {
                let len = self.u32()?;
                self.raw(len)?
            }
            0xdc => {
                let n = self.u16()?;
                self.array_value(n, start, depth)?
            }
            0xdd => {
                let n = self.u32()?;
                self.array_value(n, start, depth)?
            }
            0xde => {
                let n = self.u16()?;
                self.map(n, start, depth)?
            }
            0xdf => {
                let n = self.u32()?;
                self.map(n, start, depth)?
            }
            0xc4..=0xc9 | 0xd4..=0xd7 => {
                return Err(DecodeError::ReservedType {
                    offset: start,
                    byte: t,
                })
            }
        })
    }

    fn enter(&self, start: usize, depth: usize) -> Result<(), DecodeError> {
        if depth >= self.max_depth {
            return Err(DecodeError::TooDeep {
                offset: start,
                max_depth: self.max_depth,
            });
        }
        Ok(())
    }

    fn array_value(&mut self, n: usize, start: usize, depth: usize) -> Result<Value, DecodeError> {
        self.enter(start, depth)?;
        self.check_count(n, 1)?;
        let mut items = Vec::with_capacity(n.min(MAX_INITIAL_CAPACITY));
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, n: usize, start: usize, depth: usize) -> Result<Value, DecodeError> {
        self.enter(start, depth)?;
        self.check_count(n, 2)?;
        let mut entries = Vec::with_capacity(n.min(MAX_INITIAL_CAPACITY));
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }

    fn raw(&mut self, len: usize) -> Result<Value, DecodeError> {
        Ok(Value::Bin(Bytes::copy_from_slice(self.take(len)?)))
    }

    /// Reads a string whose header (at `start`) announced `len` bytes; see the module doc.
    fn string(&mut self, len: usize, start: usize) -> Result<Value, DecodeError> {
        let rest = &self.buf[self.pos..];
        let honest = match rest.get(..len).and_then(decode_exact) {
            Some(h) if !h.has_four_byte || h.utf16_units > JS_COUNTED_LENGTH_MAX_UNITS => {
                self.pos += len;
                return Ok(Value::Str(h.text));
            }
            other => other,
        };
        if let Some((text, used)) = decode_js_counted(rest, len) {
            self.pos += used;
            return Ok(Value::Str(text));
        }
        if let Some(h) = honest {
            self.pos += len;
            return Ok(Value::Str(h.text));
        }
        if len > rest.len() {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: len as u64,
                available: rest.len(),
            });
        }
        Err(DecodeError::InvalidString { offset: start })
    }
}

/// A string decoded from exactly its announced bytes.
struct Decoded {
    text: String,
    utf16_units: usize,
    has_four_byte: bool,
}

/// Decodes `bytes` as a whole (UTF-8 with CESU-8 surrogates), or `None` if invalid.
fn decode_exact(bytes: &[u8]) -> Option<Decoded> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        let four = bytes.iter().filter(|&&b| b >= 0xf0).count();
        let chars = bytes.iter().filter(|&&b| (b & 0xc0) != 0x80).count();
        return Some(Decoded {
            text: s.to_owned(),
            utf16_units: chars + four,
            has_four_byte: four > 0,
        });
    }
    let mut text = TextBuilder::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let (seq, n) = next_sequence(&bytes[i..])?;
        text.push(seq, n);
        i += n;
    }
    let has_four_byte = text.has_four_byte;
    let utf16_units = text.utf16_units;
    Some(Decoded {
        text: text.finish(),
        utf16_units,
        has_four_byte,
    })
}

/// Reads characters from `bytes` until the length js-binarypack would announce for them
/// reaches `announced` exactly. Succeeds only for the quirk case: the result has at most
/// [`JS_COUNTED_LENGTH_MAX_UNITS`] UTF-16 units and contains a 4-byte sequence. Returns the
/// string and the bytes read.
fn decode_js_counted(bytes: &[u8], announced: usize) -> Option<(String, usize)> {
    let mut text = TextBuilder::with_capacity(announced.min(bytes.len()));
    let mut counted = 0usize;
    let mut i = 0;
    while counted < announced {
        let (seq, n) = next_sequence(bytes.get(i..)?)?;
        counted += if n == 4 { 6 } else { n };
        text.push(seq, n);
        i += n;
        if text.utf16_units > JS_COUNTED_LENGTH_MAX_UNITS {
            return None;
        }
    }
    (counted == announced && text.has_four_byte).then(|| (text.finish(), i))
}

/// One decoded byte sequence.
#[derive(Clone, Copy)]
enum Sequence {
    /// A character (1–4 bytes of UTF-8).
    Char(char),
    /// A UTF-16 surrogate written as a 3-byte sequence (CESU-8).
    Surrogate(u16),
}

/// Decodes the sequence at the start of `b`: the sequence and its length in bytes, or `None`
/// if `b` is empty or does not start with a valid (shortest-form) sequence.
fn next_sequence(b: &[u8]) -> Option<(Sequence, usize)> {
    let cont = |i: usize| -> Option<u32> {
        let x = *b.get(i)?;
        ((x & 0xc0) == 0x80).then_some(u32::from(x & 0x3f))
    };
    let lead = *b.first()?;
    let (code, n) = match lead {
        0x00..=0x7f => (u32::from(lead), 1),
        0xc2..=0xdf => ((u32::from(lead & 0x1f) << 6) | cont(1)?, 2),
        0xe0..=0xef => {
            let code = (u32::from(lead & 0x0f) << 12) | (cont(1)? << 6) | cont(2)?;
            if code < 0x800 {
                return None;
            }
            if (0xd800..=0xdfff).contains(&code) {
                return Some((Sequence::Surrogate(code as u16), 3));
            }
            (code, 3)
        }
        0xf0..=0xf4 => {
            let code =
                (u32::from(lead & 0x07) << 18) | (cont(1)? << 12) | (cont(2)? << 6) | cont(3)?;
            if !(0x1_0000..=0x10_ffff).contains(&code) {
                return None;
            }
            (code, 4)
        }
        _ => return None,
    };
    Some((Sequence::Char(char::from_u32(code)?), n))
}

/// Builds a string from sequences, pairing CESU-8 surrogates.
struct TextBuilder {
    text: String,
    high: Option<u16>,
    utf16_units: usize,
    has_four_byte: bool,
}

impl TextBuilder {
    fn with_capacity(n: usize) -> TextBuilder {
        TextBuilder {
            text: String::with_capacity(n),
            high: None,
            utf16_units: 0,
            has_four_byte: false,
        }
    }

    fn push(&mut self, seq: Sequence, len: usize) {
        match seq {
            Sequence::Char(c) => {
                self.flush_high();
                self.text.push(c);
                self.utf16_units += c.len_utf16();
                self.has_four_byte |= len == 4;
            }
            Sequence::Surrogate(s) if s < 0xdc00 => {
                self.flush_high();
                self.high = Some(s);
                self.utf16_units += 1;
            }
            Sequence::Surrogate(low) => {
                self.utf16_units += 1;
                match self.high.take() {
                    Some(high) => {
                        let code = 0x1_0000
                            + ((u32::from(high) - 0xd800) << 10)
                            + (u32::from(low) - 0xdc00);
                        self.text
                            .push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    None => self.text.push(char::REPLACEMENT_CHARACTER),
                }
            }
        }
    }

    /// A high surrogate with no low one after it becomes U+FFFD.
    fn flush_high(&mut self) {
        if self.high.take().is_some() {
            self.text.push(char::REPLACEMENT_CHARACTER);
        }
    }

    fn finish(mut self) -> String {
        self.flush_high();
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn js_emoji_quirk() {
        // js-binarypack: pack({a: "😀", b: 1}) announces 6 bytes for the 4-byte emoji.
        let v = unpack(&unhex("82b161b6f09f9880b16201")).expect("decodes");
        assert_eq!(
            v,
            Value::Map(vec![
                ("a".into(), "\u{1F600}".into()),
                ("b".into(), 1.into())
            ])
        );
        // pack("😀") alone: 5 bytes, announcing 6.
        assert_eq!(unpack(&unhex("b6f09f9880")), Ok("\u{1F600}".into()));
    }

    #[test]
    fn cesu8_and_lone_surrogates() {
        assert_eq!(unpack(&unhex("b6eda0bdedb880")), Ok("\u{1F600}".into()));
        assert_eq!(unpack(&unhex("b3eda0bd")), Ok("\u{FFFD}".into()));
        assert_eq!(unpack(&unhex("b3edb880")), Ok("\u{FFFD}".into()));
        assert_eq!(unpack(&unhex("b4eda0bd61")), Ok("\u{FFFD}a".into()));
        assert_eq!(
            unpack(&unhex("b2c080")),
            Err(DecodeError::InvalidString { offset: 0 })
        );
    }

    #[test]
    fn reserved_and_trailing() {
        assert_eq!(
            unpack(&[0xd4]),
            Err(DecodeError::ReservedType {
                offset: 0,
                byte: 0xd4
            })
        );
        assert_eq!(
            unpack(&[0x01, 0x02]),
            Err(DecodeError::TrailingBytes { offset: 1 })
        );
        assert_eq!(unpack_prefix(&[0x01, 0x02]), Ok((Value::Int(1), 1)));
        assert_eq!(unpack(&[0xc1]), Ok(Value::Undefined));
    }
}
