//! The WebRTC objects that signaling messages carry, typed: a session description and an ICE
//! candidate, as the browser's `RTCSessionDescription` and `RTCIceCandidate` serialize them.

use serde::{Deserialize, Serialize};

/// `{type, sdp}`: an offer or an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    /// `offer` or `answer`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The SDP text.
    pub sdp: String,
}

impl SessionDescription {
    /// An offer with `sdp`.
    pub fn offer(sdp: impl Into<String>) -> SessionDescription {
        SessionDescription {
            kind: "offer".into(),
            sdp: sdp.into(),
        }
    }

    /// An answer with `sdp`.
    pub fn answer(sdp: impl Into<String>) -> SessionDescription {
        SessionDescription {
            kind: "answer".into(),
            sdp: sdp.into(),
        }
    }
}

/// `{candidate, sdpMid, sdpMLineIndex, usernameFragment?}`; an empty `candidate` marks the end
/// of candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// The `candidate:...` line (without `a=`).
    pub candidate: String,
    /// The media section's `mid`.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// The media section's index.
    #[serde(rename = "sdpMLineIndex", default)]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE username fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_browser_forms() {
        let c: IceCandidate = serde_json::from_str(
            r#"{"candidate":"candidate:1 1 udp 1 192.0.2.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}"#,
        )
        .unwrap();
        assert_eq!(c.sdp_m_line_index, Some(0));
        let c: IceCandidate =
            serde_json::from_str(r#"{"candidate":"","sdpMid":null,"sdpMLineIndex":null}"#).unwrap();
        assert_eq!((c.sdp_mid, c.username_fragment), (None, None));
        let d: SessionDescription =
            serde_json::from_str(r#"{"type":"answer","sdp":"v=0"}"#).unwrap();
        assert_eq!(d, SessionDescription::answer("v=0"));
    }
}
