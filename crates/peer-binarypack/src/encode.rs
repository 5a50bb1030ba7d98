//! The encoder: [`pack`] writes a [`Value`] exactly as js-binarypack 0.0.9 packs the
//! corresponding JavaScript value, with two deliberate differences that keep the output readable
//! by the JS decoder (see below).
//!
//! Forms, all big-endian:
//! - integers take the first form that fits, in js-binarypack's order: fixint (`-32..=127`),
//!   `0xcc` u8, `0xd0` i8, `0xcd` u16, `0xd1` i16, `0xce` u32, `0xd2` i32, `0xd3` i64, and `0xcf`
//!   u64 for values above `i64::MAX`;
//! - [`Value::Float`] follows the JS number rule: an integral value in `-2^63..2^64` (including
//!   `-0.0`) is written as an integer, like js-binarypack writes the JS number it stands for;
//!   anything else is float64 (`0xcb`). So `Float(3.0)` comes back as `Int(3)`. This also keeps
//!   zero away from float64, which the JS decoder misreads (as `2^-1023`);
//! - strings `0xb0+n` / `0xd8` u16 / `0xd9` u32, raw bytes `0xa0+n` / `0xda` / `0xdb`, arrays
//!   `0x90+n` / `0xdc` / `0xdd`, maps `0x80+n` / `0xde` / `0xdf`;
//! - [`Value::Nil`] and [`Value::Undefined`] are `0xc0` (JS packs `undefined` as nil), booleans
//!   `0xc2` / `0xc3`.
//!
//! Differences from the JS encoder, both on purpose:
//! - **Astral characters** (U+10000 and up, e.g. emoji) are written as CESU-8: each UTF-16
//!   surrogate as its own 3-byte sequence, and the announced length is the number of bytes
//!   written. js-binarypack writes real 4-byte UTF-8 but announces 6 bytes per astral character
//!   for strings of up to 600 UTF-16 units, and its decoder understands only 1–3-byte sequences;
//!   so JS's own output does not decode in JS, while ours decodes to the same string there.
//! - **Floats** are written as their exact IEEE 754 bits. js-binarypack computes the exponent
//!   with `Math.log`, which is wrong for some values near powers of two and for subnormals, it
//!   writes NaN as `0xcb` followed by zeros, and it throws on ±Infinity and on integral numbers
//!   outside `-2^63..=2^64`. Ours are plain float64. The JS decoder reads normal floats (and so
//!   `1e20`) and the infinities correctly, NaN as an infinity, and subnormals wrongly.
//!
//! Lengths above `u32::MAX` cannot be expressed in the format; see [`pack`].

use crate::value::Value;

/// Packs `value` into a new buffer.
///
/// # Panics
///
/// If a string, byte string, array or map in `value` is longer than `u32::MAX` (bytes or
/// items), which the format cannot express (js-binarypack throws `Invalid length`). Decoded
/// values never are.
pub fn pack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    pack_into(value, &mut out);
    out
}

/// Packs `value` into a new buffer, or returns the first length the format cannot express
/// (above `u32::MAX` bytes or items) instead of panicking. For values from users.
pub fn try_pack(value: &Value) -> Result<Vec<u8>, usize> {
    match longest_length(value) {
        n if n > u32::MAX as usize => Err(n),
        _ => Ok(pack(value)),
    }
}

/// The largest length header `value` needs (bytes of a string or byte string, items of an
/// array or map).
fn longest_length(value: &Value) -> usize {
    match value {
        Value::Str(s) => s.len() + 2 * astral_count(s),
        Value::Bin(b) => b.len(),
        Value::Array(items) => items
            .iter()
            .map(longest_length)
            .fold(items.len(), usize::max),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| longest_length(k).max(longest_length(v)))
            .fold(entries.len(), usize::max),
        _ => 0,
    }
}

/// Packs `value`, appending to `out`.
///
/// # Panics
///
/// As [`pack`].
pub fn pack_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Nil | Value::Undefined => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Int(i) => write_int(*i, out),
        Value::UInt(u) => write_uint(*u, out),
        Value::Float(f) => match Value::number(*f) {
            Value::Int(i) => write_int(i, out),
            Value::UInt(u) => write_uint(u, out),
            _ => {
                out.push(0xcb);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
        },
        Value::Str(s) => write_str(s, out),
        Value::Bin(b) => write_bin(b, out),
        Value::Array(items) => {
            write_len(items.len(), 0x90, 0xdc, 0xdd, out);
            for item in items {
                pack_into(item, out);
            }
        }
        Value::Map(entries) => {
            write_len(entries.len(), 0x80, 0xde, 0xdf, out);
            for (k, v) in entries {
                pack_into(k, out);
                pack_into(v, out);
            }
        }
    }
}

/// Writes a signed integer in the first form that fits, in js-binarypack's order.
pub(crate) fn write_int(i: i64, out: &mut Vec<u8>) {
    // Each arm's range check makes its narrowing cast exact.
    if (-0x20..=0x7f).contains(&i) {
        out.push(i as u8);
    } else if (0..=0xff).contains(&i) {
        out.extend_from_slice(&[0xcc, i as u8]);
    } else if (-0x80..=0x7f).contains(&i) {
        out.extend_from_slice(&[0xd0, i as u8]);
    } else if (0..=0xffff).contains(&i) {
        out.push(0xcd);
        out.extend_from_slice(&(i as u16).to_be_bytes());
    } else if (-0x8000..=0x7fff).contains(&i) {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if (0..=0xffff_ffff).contains(&i) {
        out.push(0xce);
        out.extend_from_slice(&(i as u32).to_be_bytes());
    } else if (-0x8000_0000..=0x7fff_ffff).contains(&i) {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// Writes an unsigned integer: as [`write_int`] up to `i64::MAX`, `0xcf` above.
pub(crate) fn write_uint(u: u64, out: &mut Vec<u8>) {
    match i64::try_from(u) {
        Ok(i) => write_int(i, out),
        Err(_) => {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    }
}

/// The number of characters above U+FFFF (4-byte UTF-8 lead bytes).
fn astral_count(s: &str) -> usize {
    s.bytes().filter(|&b| b >= 0xf0).count()
}

/// Writes a string: header with the CESU-8 length, then the CESU-8 bytes.
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    // Every 4-byte UTF-8 sequence becomes two 3-byte sequences.
    let astral = astral_count(s);
    write_len(s.len() + 2 * astral, 0xb0, 0xd8, 0xd9, out);
    if astral == 0 {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut buf = [0u8; 4];
    for c in s.chars() {
        if u32::from(c) > 0xffff {
            let mut units = [0u16; 2];
            for &unit in c.encode_utf16(&mut units).iter() {
                out.extend_from_slice(&[
                    0xe0 | (unit >> 12) as u8,
                    0x80 | ((unit >> 6) & 0x3f) as u8,
                    0x80 | (unit & 0x3f) as u8,
                ]);
            }
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// Writes raw bytes: header, then the bytes.
pub(crate) fn write_bin(b: &[u8], out: &mut Vec<u8>) {
    write_len(b.len(), 0xa0, 0xda, 0xdb, out);
    out.extend_from_slice(b);
}

/// Writes a length header: `small + len` up to 15, else `code16` + u16, else `code32` + u32.
pub(crate) fn write_len(len: usize, small: u8, code16: u8, code32: u8, out: &mut Vec<u8>) {
    if len <= 0x0f {
        out.push(small + len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(code16);
        out.extend_from_slice(&len.to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        out.push(code32);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        // tidy: allow(panic): `pack`'s documented precondition; `try_pack` checks it for users.
        panic!("js-binarypack cannot express a length of {len} (above u32::MAX)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_pack_packs_what_pack_does() {
        let v = Value::Array(vec![
            Value::Str("é😀".into()),
            Value::Bin(vec![1, 2].into()),
        ]);
        assert_eq!(try_pack(&v), Ok(pack(&v)));
        // "é😀" in CESU-8: 2 + 6 bytes.
        assert_eq!(longest_length(&v), 8);
    }

    fn hex(v: impl Into<Value>) -> String {
        pack(&v.into()).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn integer_forms() {
        assert_eq!(hex(0), "00");
        assert_eq!(hex(127), "7f");
        assert_eq!(hex(-32), "e0");
        assert_eq!(hex(-1), "ff");
        assert_eq!(hex(128), "cc80");
        assert_eq!(hex(255), "ccff");
        assert_eq!(hex(-33), "d0df");
        assert_eq!(hex(-128), "d080");
        assert_eq!(hex(256), "cd0100");
        assert_eq!(hex(-129), "d1ff7f");
        assert_eq!(hex(65536), "ce00010000");
        assert_eq!(hex(-32769), "d2ffff7fff");
        assert_eq!(hex(1_i64 << 32), "d30000000100000000");
        assert_eq!(hex(i64::MIN), "d38000000000000000");
        assert_eq!(hex(u64::MAX), "cfffffffffffffffff");
    }

    #[test]
    fn floats_follow_the_js_number_rule() {
        assert_eq!(hex(3.0), "03");
        assert_eq!(hex(-0.0), "00");
        assert_eq!(hex(65536.0), "ce00010000");
        assert_eq!(hex(9_223_372_036_854_775_808.0), "cf8000000000000000");
        assert_eq!(hex(0.5), "cb3fe0000000000000");
        assert_eq!(hex(1e20), "cb4415af1d78b58c40");
        assert_eq!(hex(f64::INFINITY), "cb7ff0000000000000");
    }

    #[test]
    fn astral_characters_are_cesu8() {
        // U+1F600 = D83D DE00.
        assert_eq!(hex("\u{1F600}"), "b6eda0bdedb880");
        assert_eq!(
            hex("a\u{1F600}é"),
            "b9 61 eda0bd edb880 c3a9".replace(' ', "")
        );
    }
}
