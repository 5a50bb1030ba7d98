//! [`Value`]: the tree that js-binarypack encodes, with conversions from Rust types and JSON.
//!
//! JavaScript has a single number type (a double). js-binarypack writes a number whose value is
//! integral as an integer and any other number as a float64, so the integer/float split here is
//! a property of the *encoding*, not of the JavaScript value: [`Value::number`] applies the JS
//! rule to an `f64`, and [`Value::from_json`] uses it for every JSON number (`3.0` becomes
//! `Int(3)`, `-0.0` becomes `Int(0)`). `Value::from(3.0_f64)` keeps the explicit
//! [`Value::Float`], and [`crate::pack`] applies the same rule when it writes it, so it goes out
//! as the integer `3`, as js-binarypack would write that number (and comes back as `Int(3)`).
//!
//! Equality is structural and exact: floats compare by their bits (so `NaN == NaN` for the same
//! NaN, and `0.0 != -0.0`), and [`Value::Int`] and [`Value::UInt`] compare by numeric value.

use bytes::Bytes;
use serde_json::Number;

/// A js-binarypack value.
#[derive(Clone, Debug)]
pub enum Value {
    /// `null` (type code `0xc0`). JS `undefined` also packs as `0xc0`.
    Nil,
    /// `undefined`, decoded from type code `0xc1`. It packs as `0xc0`, like JS packs `undefined`,
    /// so it comes back as [`Value::Nil`].
    Undefined,
    /// `false` / `true`.
    Bool(bool),
    /// An integer in the `i64` range.
    Int(i64),
    /// An integer above `i64::MAX` (type code `0xcf`). Smaller values belong in [`Value::Int`];
    /// a smaller `UInt` still packs correctly and equals the same `Int`.
    UInt(u64),
    /// A float. It packs by the JS number rule of [`Value::number`]: integral values as
    /// integers, everything else (including NaN and the infinities) as float64 (`0xcb`).
    /// Decoding float32 or float64 always gives a `Float`.
    Float(f64),
    /// A string.
    Str(String),
    /// Raw bytes (JS `ArrayBuffer`, typed arrays, `Blob`, `File`).
    Bin(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// A map, in insertion order. Keys are any values (strings in practice); duplicates are
    /// kept as they are.
    Map(Vec<(Value, Value)>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Nil, Nil) | (Undefined, Undefined) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (UInt(a), UInt(b)) => a == b,
            (Int(a), UInt(b)) | (UInt(b), Int(a)) => u64::try_from(*a) == Ok(*b),
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (Bin(a), Bin(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

/// 2^63 as an `f64` (exact).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2^64 as an `f64` (exact).
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

impl Value {
    /// A JS number: integral values in the 64-bit range become [`Value::Int`] (or
    /// [`Value::UInt`] above `i64::MAX`), everything else [`Value::Float`], which is how
    /// js-binarypack chooses between integer and float64 encodings. `-0.0` becomes `Int(0)`.
    ///
    /// Integral values outside `-2^63..2^64` stay floats (js-binarypack throws
    /// `Invalid integer` on them), as do NaN and the infinities.
    pub fn number(n: f64) -> Value {
        if n.is_finite() && n.trunc() == n {
            if (-TWO_POW_63..TWO_POW_63).contains(&n) {
                // In range and integral: the cast is exact.
                return Value::Int(n as i64);
            }
            if (TWO_POW_63..TWO_POW_64).contains(&n) {
                return Value::UInt(n as u64);
            }
        }
        Value::Float(n)
    }

    /// The value `unpack(&pack(self))` returns: `undefined` packs as nil and an integral float
    /// as an integer (see [`Value::number`]); everything else is kept.
    pub fn packed_form(&self) -> Value {
        match self {
            Value::Undefined => Value::Nil,
            Value::Float(f) => Value::number(*f),
            Value::Array(items) => Value::Array(items.iter().map(Value::packed_form).collect()),
            Value::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.packed_form(), v.packed_form()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Converts JSON: `null`, booleans, strings, arrays and objects map one to one; numbers go
    /// through the JS rule of [`Value::number`] (integers that serde_json holds exactly stay
    /// exact). Object entries come in serde_json's iteration order.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::number(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON, or `None` when the value holds something JSON cannot express
    /// faithfully: [`Value::Bin`], [`Value::Undefined`] (anywhere), a NaN or infinite float, or
    /// a map key that is not a string. Integral floats stay floats (`3.0`). Duplicate map keys
    /// collapse to the last value, as in `JSON.parse`.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Nil => serde_json::Value::Null,
            Value::Undefined | Value::Bin(_) => return None,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::Number((*i).into()),
            Value::UInt(u) => serde_json::Value::Number((*u).into()),
            Value::Float(f) => serde_json::Value::Number(Number::from_f64(*f)?),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect::<Option<_>>()?)
            }
            Value::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    let Value::Str(k) = k else { return None };
                    map.insert(k.clone(), v.to_json()?);
                }
                serde_json::Value::Object(map)
            }
        })
    }

    /// Whether this is [`Value::Nil`] or [`Value::Undefined`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil | Value::Undefined)
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    /// The integer as `u64`, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::UInt(u) => Some(*u),
            _ => None,
        }
    }

    /// A non-negative integral number as `u64`, from any integer form or from a float with an
    /// integral value (how JS numbers may arrive from other encoders).
    pub fn as_integral_u64(&self) -> Option<u64> {
        match self {
            Value::Float(f) => match Value::number(*f) {
                Value::Float(_) => None,
                v => v.as_u64(),
            },
            v => v.as_u64(),
        }
    }

    /// The number as `f64` (integers converted, possibly rounding).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is [`Value::Bin`].
    pub fn as_bin(&self) -> Option<&Bytes> {
        match self {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of the **last** entry whose key is the string `key`, if this is a map (a JS
    /// object keeps the last of duplicate keys).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

macro_rules! from_small_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Int(i64::from(n))
            }
        }
    )*};
}
from_small_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        match i64::try_from(n) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(n),
        }
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::from(n as u64)
    }
}

impl From<isize> for Value {
    fn from(n: isize) -> Value {
        Value::Int(n as i64)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Value {
        Value::Float(f64::from(f))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Value {
        Value::Bin(b)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bin(Bytes::from(b))
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Value {
        Value::Bin(Bytes::copy_from_slice(b))
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

impl From<Vec<(Value, Value)>> for Value {
    fn from(entries: Vec<(Value, Value)>) -> Value {
        Value::Map(entries)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

impl From<&serde_json::Value> for Value {
    fn from(json: &serde_json::Value) -> Value {
        Value::from_json(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_follows_the_js_rule() {
        assert_eq!(Value::number(3.0), Value::Int(3));
        assert_eq!(Value::number(-0.0), Value::Int(0));
        assert_eq!(Value::number(-TWO_POW_63), Value::Int(i64::MIN));
        assert_eq!(Value::number(TWO_POW_63), Value::UInt(1 << 63));
        assert_eq!(Value::number(TWO_POW_64), Value::Float(TWO_POW_64));
        assert_eq!(Value::number(0.5), Value::Float(0.5));
        assert!(matches!(Value::number(f64::NAN), Value::Float(f) if f.is_nan()));
    }

    #[test]
    fn json_round_trip() {
        let json: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,2.5,3.0,null,true,"x"],"b":18446744073709551615}"#)
                .expect("json");
        let v = Value::from_json(&json);
        assert_eq!(v.get("b"), Some(&Value::UInt(u64::MAX)));
        assert_eq!(
            v.get("a").and_then(|a| a.as_array()).map(|a| a[2].clone()),
            Some(Value::Int(3))
        );
        let back = v.to_json().expect("expressible");
        let expected: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,2.5,3,null,true,"x"],"b":18446744073709551615}"#)
                .expect("json");
        assert_eq!(back, expected);
        assert_eq!(Value::Bin(Bytes::new()).to_json(), None);
        assert_eq!(Value::Array(vec![Value::Undefined]).to_json(), None);
        assert_eq!(Value::Map(vec![(1.into(), 2.into())]).to_json(), None);
        assert_eq!(Value::Float(f64::INFINITY).to_json(), None);
    }

    #[test]
    fn equality_is_exact() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
        assert_ne!(Value::Float(1.0), Value::Int(1));
        assert_eq!(Value::UInt(5), Value::Int(5));
        assert_ne!(Value::Int(-1), Value::UInt(u64::MAX));
    }
}
