//! One pass over JSON text that builds nothing: syntax, nesting depth and Socket.IO binary
//! placeholders are checked with memory that does not grow with the input (beyond serde_json's
//! scratch buffer for one escaped string).
//!
//! Every message from a client goes through [`scan`] before anything looks inside it, so a
//! value nested 100,000 deep, or 20 MB of tiny objects, costs one linear pass and no tree. The
//! parsers after it (typed structs, borrowed [`RawValue`](serde_json::value::RawValue)s) then
//! never see input that [`scan`] refused, and all of them decide the same way.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The deepest nesting of arrays and objects accepted. serde_json's own recursion limit is 128;
/// this one is lower so that [`scan`] always reports depth itself, with a typed error.
pub const MAX_DEPTH: usize = 100;

/// What [`scan`] learned about a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Number of JSON values (scalars, arrays and objects, the outermost included).
    pub values: u64,
    /// Deepest nesting of arrays and objects (a scalar is 0, `[]` is 1).
    pub depth: usize,
    /// Number of binary placeholders `{"_placeholder":true,"num":N}`.
    pub placeholders: u64,
}

/// Why [`scan`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Not JSON (or trailing characters after the value).
    Syntax(String),
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A placeholder whose `num` is not an attachment index below the attachment count.
    BadPlaceholder,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Syntax(e) => write!(f, "invalid JSON: {e}"),
            ScanError::TooDeep => write!(f, "JSON nested deeper than {MAX_DEPTH} levels"),
            ScanError::BadPlaceholder => f.write_str("placeholder refers to a missing attachment"),
        }
    }
}

impl std::error::Error for ScanError {}

/// Checks `text` as one JSON value. Placeholder objects (`"_placeholder": true`, keys compared
/// after unescaping) must carry an integer `num` below `attachments`; with `attachments == 0`
/// any placeholder is refused, as a plain event carries none.
pub fn scan(text: &str, attachments: usize) -> Result<Shape, ScanError> {
    let mut state = State {
        shape: Shape::default(),
        depth: 0,
        attachments: attachments as u64,
        error: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Node { state: &mut state }.deserialize(&mut de);
    let result = result.and_then(|_| de.end());
    match (state.error, result) {
        (Some(e), _) => Err(e),
        (None, Ok(())) => Ok(state.shape),
        (None, Err(e)) => Err(ScanError::Syntax(e.to_string())),
    }
}

struct State {
    shape: Shape,
    depth: usize,
    attachments: u64,
    /// Set before a serde error is raised, so the caller gets the typed reason.
    error: Option<ScanError>,
}

impl State {
    fn fail<E: de::Error>(&mut self, e: ScanError) -> E {
        let message = e.to_string();
        self.error = Some(e);
        E::custom(message)
    }
}

/// What a value was, as far as placeholder objects care.
enum Kind {
    True,
    Integer(u64),
    Other,
}

struct Node<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Kind;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl Node<'_> {
    fn scalar(self, kind: Kind) -> Kind {
        self.state.shape.values += 1;
        kind
    }

    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        self.state.shape.values += 1;
        self.state.depth += 1;
        if self.state.depth > MAX_DEPTH {
            return Err(self.state.fail(ScanError::TooDeep));
        }
        self.state.shape.depth = self.state.shape.depth.max(self.state.depth);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(self.scalar(if v { Kind::True } else { Kind::Other }))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
        Ok(self.scalar(Kind::Other))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(self.scalar(Kind::Integer(v)))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
        Ok(self.scalar(Kind::Other))
    }

    fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
        Ok(self.scalar(Kind::Other))
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(self.scalar(Kind::Other))
    }

    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(self.scalar(Kind::Other))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Kind, A::Error> {
        self.enter()?;
        while seq
            .next_element_seed(Node {
                state: &mut *self.state,
            })?
            .is_some()
        {}
        self.state.depth -= 1;
        Ok(Kind::Other)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Kind, A::Error> {
        self.enter()?;
        let mut placeholder = false;
        let mut num = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(Node {
                state: &mut *self.state,
            })?;
            match (key, value) {
                (Key::Placeholder, Kind::True) => placeholder = true,
                (Key::Placeholder, _) => placeholder = false,
                (Key::Num, Kind::Integer(n)) => num = Some(n),
                (Key::Num, _) => num = None,
                (Key::Other, _) => {}
            }
        }
        self.state.depth -= 1;
        if placeholder {
            match num {
                Some(n) if n < self.state.attachments => self.state.shape.placeholders += 1,
                _ => return Err(self.state.fail(ScanError::BadPlaceholder)),
            }
        }
        Ok(Kind::Other)
    }
}

/// An object key, as far as placeholders care.
enum Key {
    Placeholder,
    Num,
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(match v {
            "_placeholder" => Key::Placeholder,
            "num" => Key::Num,
            _ => Key::Other,
        })
    }
}

/// Skips the rest of a sequence without looking at it (for elements past the ones a caller
/// reads). Only for text that [`scan`] accepted.
pub(crate) fn skip_rest<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_values_and_depth() {
        let s = scan(r#"{"a":[1,2,{"b":null}],"c":"x"}"#, 0).unwrap();
        assert_eq!(s.values, 7);
        assert_eq!(s.depth, 3);
        assert_eq!(scan("5", 0).unwrap().depth, 0);
    }

    #[test]
    fn refuses_deep_nesting_without_recursing_far() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(scan(&ok, 0).unwrap().depth, MAX_DEPTH);
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(scan(&deep, 0), Err(ScanError::TooDeep));
        let deep_obj = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(scan(&deep_obj, 0), Err(ScanError::TooDeep));
    }

    #[test]
    fn checks_placeholders_after_unescaping_keys() {
        let p = r#"{"d":{"_placeholder":true,"num":0}}"#;
        assert_eq!(scan(p, 1).unwrap().placeholders, 1);
        assert_eq!(scan(p, 0), Err(ScanError::BadPlaceholder));
        let escaped = r#"[{"\u005fplaceholder":true,"n\u0075m":3}]"#;
        assert_eq!(scan(escaped, 3), Err(ScanError::BadPlaceholder));
        assert_eq!(scan(escaped, 4).unwrap().placeholders, 1);
        for bad in [
            r#"{"_placeholder":true}"#,
            r#"{"_placeholder":true,"num":-1}"#,
            r#"{"_placeholder":true,"num":0.5}"#,
            r#"{"_placeholder":true,"num":"0"}"#,
        ] {
            assert_eq!(scan(bad, 8), Err(ScanError::BadPlaceholder), "{bad}");
        }
        assert_eq!(
            scan(r#"{"_placeholder":false,"num":9}"#, 0)
                .unwrap()
                .placeholders,
            0
        );
    }

    #[test]
    fn syntax_errors_are_typed() {
        for bad in ["", "[", "{\"a\":}", "1 2", "[1,]", "nul"] {
            assert!(matches!(scan(bad, 0), Err(ScanError::Syntax(_))), "{bad}");
        }
    }
}
