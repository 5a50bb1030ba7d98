//! The file-transfer protocol of `send` and `receive`: the connection metadata, the control
//! messages, and the sanitizing of the sender's file name. Pure; no I/O.
//!
//! 1. The sender connects with `metadata = {"file": {"name": "<basename>", "size": N}}`
//!    (an optional `"sha256"` field from other senders is ignored).
//! 2. It sends the file as bytes, [`PIECE_SIZE`] at a time (the library chunks each piece).
//! 3. It sends the JSON `{"done": true, "size": N}`.
//! 4. The receiver checks that exactly N bytes arrived, keeps the file and answers
//!    `{"received": N}`; on failure it answers `{"error": "<why>"}` instead and closes. The
//!    sender closes the connection once it has the answer.

use serde_json::{json, Value};

/// Bytes per `send` of the file.
pub const PIECE_SIZE: usize = 1024 * 1024;

/// Longest file name kept, in bytes (leaves room for the `.part` name and a ` (n)` suffix).
pub const MAX_NAME_BYTES: usize = 200;

/// What the sender announces in the connection metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOffer {
    /// The file name, already sanitized by [`sanitize_name`]; safe to join to a directory.
    pub name: String,
    /// The file size in bytes.
    pub size: u64,
}

/// A control message of the protocol (JSON on the data connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Sender to receiver: the whole file was sent; `size` repeats the announced size.
    Done {
        /// The size the sender claims to have sent, if given.
        size: Option<u64>,
    },
    /// Receiver to sender: the file was kept with this many bytes.
    Received {
        /// Bytes written.
        size: u64,
    },
    /// Either way: the transfer failed for this reason.
    Error(String),
}

/// The connection metadata announcing a file.
pub fn offer_metadata(name: &str, size: u64) -> Value {
    json!({"file": {"name": name, "size": size}})
}

/// The sender's final message.
pub fn done_message(size: u64) -> Value {
    json!({"done": true, "size": size})
}

/// The receiver's confirmation.
pub fn received_message(size: u64) -> Value {
    json!({"received": size})
}

/// A failure report.
pub fn error_message(why: &str) -> Value {
    json!({ "error": why })
}

/// Reads the announced file out of a connection's metadata; the error says why the
/// connection is not an acceptable file transfer.
pub fn parse_offer(metadata: Option<&Value>) -> Result<FileOffer, String> {
    let file = metadata
        .and_then(|m| m.get("file"))
        .ok_or("not a file transfer (no \"file\" in the connection metadata)")?;
    let raw_name = file
        .get("name")
        .and_then(Value::as_str)
        .ok_or("the file metadata has no \"name\" string")?;
    let size = file
        .get("size")
        .and_then(as_size)
        .ok_or("the file metadata has no \"size\" (a non-negative integer)")?;
    let name = sanitize_name(raw_name)?;
    Ok(FileOffer { name, size })
}

/// Reads a control message; `None` for anything else.
pub fn parse_control(v: &Value) -> Option<Control> {
    let obj = v.as_object()?;
    if let Some(why) = obj.get("error") {
        return Some(Control::Error(match why {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    if obj.get("done").and_then(Value::as_bool) == Some(true) {
        return Some(Control::Done {
            size: obj.get("size").and_then(as_size),
        });
    }
    obj.get("received")
        .and_then(as_size)
        .map(|size| Control::Received { size })
}

/// A non-negative integer, also when a JavaScript sender encoded it as a float.
fn as_size(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f <= 9_007_199_254_740_992.0)
            .map(|f| f as u64)
    })
}

/// Makes the sender's file name safe to create inside the output directory: only the part
/// after the last `/` or `\` is kept, control characters are dropped, characters that are
/// invalid on common file systems (`<>:"|?*`) become `_`, surrounding white space is trimmed
/// and the result is cut to [`MAX_NAME_BYTES`]. Empty names and names made only of dots
/// (`.`, `..`) are refused.
pub fn sanitize_name(raw: &str) -> Result<String, String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let mut name = cleaned.trim().to_owned();
    if name.len() > MAX_NAME_BYTES {
        let mut cut = MAX_NAME_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name = name.trim_end().to_owned();
    }
    if name.is_empty() {
        return Err(format!("unusable file name {raw:?} (empty)"));
    }
    if name.chars().all(|c| c == '.') {
        return Err(format!("unusable file name {raw:?}"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_round_trip() {
        let m = offer_metadata("a b.txt", 3 << 20);
        assert_eq!(m, json!({"file": {"name": "a b.txt", "size": 3145728}}));
        assert_eq!(
            parse_offer(Some(&m)),
            Ok(FileOffer {
                name: "a b.txt".into(),
                size: 3 << 20
            })
        );
    }

    #[test]
    fn offers_from_browsers() {
        let m = json!({"file": {"name": "photo.jpg", "size": 1234.0, "sha256": "ab"}});
        assert_eq!(parse_offer(Some(&m)).unwrap().size, 1234);
        assert!(parse_offer(None).is_err());
        assert!(parse_offer(Some(&json!({"chat": true}))).is_err());
        assert!(parse_offer(Some(&json!({"file": {"name": "x"}}))).is_err());
        assert!(parse_offer(Some(&json!({"file": {"name": "x", "size": -1}}))).is_err());
        assert!(parse_offer(Some(&json!({"file": {"name": "x", "size": 1.5}}))).is_err());
        assert!(parse_offer(Some(&json!({"file": {"name": 7, "size": 1}}))).is_err());
        assert!(parse_offer(Some(&json!({"file": {"name": "..", "size": 1}}))).is_err());
    }

    #[test]
    fn control_messages() {
        assert_eq!(
            parse_control(&done_message(5)),
            Some(Control::Done { size: Some(5) })
        );
        assert_eq!(
            parse_control(&json!({"done": true})),
            Some(Control::Done { size: None })
        );
        assert_eq!(
            parse_control(&received_message(5)),
            Some(Control::Received { size: 5 })
        );
        assert_eq!(
            parse_control(&error_message("disk full")),
            Some(Control::Error("disk full".into()))
        );
        assert_eq!(parse_control(&json!({"done": false})), None);
        assert_eq!(parse_control(&json!("done")), None);
        assert_eq!(parse_control(&json!([1])), None);
    }

    #[test]
    fn names_lose_their_directories() {
        assert_eq!(sanitize_name("report.pdf").unwrap(), "report.pdf");
        assert_eq!(sanitize_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(sanitize_name("/abs/path/x.bin").unwrap(), "x.bin");
        assert_eq!(sanitize_name("C:\\Users\\me\\a.txt").unwrap(), "a.txt");
        assert_eq!(sanitize_name("C:a.txt").unwrap(), "C_a.txt");
        assert_eq!(sanitize_name(" spaced name ").unwrap(), "spaced name");
        assert_eq!(sanitize_name("tab\there\u{0}.txt").unwrap(), "tabhere.txt");
        assert_eq!(sanitize_name(".hidden").unwrap(), ".hidden");
        assert_eq!(sanitize_name("日本語.txt").unwrap(), "日本語.txt");
    }

    #[test]
    fn unusable_names_are_refused() {
        for bad in [
            "", " ", ".", "..", "...", "a/..", "a/", "..\\", "\u{1}", "x/ .. ",
        ] {
            assert!(sanitize_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary() {
        let long = "é".repeat(300);
        let name = sanitize_name(&long).unwrap();
        assert!(name.len() <= MAX_NAME_BYTES);
        assert_eq!(name, "é".repeat(MAX_NAME_BYTES / 2));
    }
}
