//! The signaling payloads of P2P connections: parsing relayed `OFFER`/`ANSWER`/`CANDIDATE`
//! and building `SEND_*` messages, field for field as `skyway-js@4.4.5` does.

use crate::error::ConnectionError;
use peer_protocol::client::{ClientMessage, ForceCloseRequest, Relay, SfuAnswer, SfuCandidate};
use peer_protocol::rtc::{IceCandidate, SessionDescription};
use serde_json::{json, Map, Value};
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;

/// A remote ICE candidate as relayed (the `webrtc` crate's `RTCIceCandidateInit`).
pub type CandidateInit = RTCIceCandidateInit;

/// The fields of a relayed `OFFER` this crate uses; `raw` keeps the whole payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// The offering peer.
    pub src: String,
    /// The connection id chosen by the offerer.
    pub connection_id: String,
    /// `data` or `media`.
    pub connection_type: String,
    /// The room the offer belongs to (a mesh room's member connection), if any: such an offer
    /// goes to the room, never to the Peer as a P2P `call`.
    pub room_name: Option<String>,
    /// The SDP.
    pub sdp: String,
    /// The whole payload as received.
    pub raw: Map<String, Value>,
}

/// A relayed `ANSWER` or `CANDIDATE` addressed to one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// The sending peer.
    pub src: String,
    /// The connection.
    pub connection_id: String,
    /// The room the message belongs to, if any.
    pub room_name: Option<String>,
    /// The whole payload as received.
    pub raw: Map<String, Value>,
}

fn object(v: Value) -> Result<Map<String, Value>, ConnectionError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ConnectionError::InvalidSignal(
            "payload is not an object".into(),
        )),
    }
}

fn room_name(m: &Map<String, Value>) -> Option<String> {
    m.get("roomName").and_then(Value::as_str).map(str::to_owned)
}

fn string(m: &Map<String, Value>, key: &str) -> Result<String, ConnectionError> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ConnectionError::InvalidSignal(format!("`{key}` is missing")))
}

/// Parses an `OFFER` payload.
pub fn parse_offer(v: Value) -> Result<Offer, ConnectionError> {
    let raw = object(v)?;
    let sdp = raw
        .get("offer")
        .and_then(|o| o.get("sdp"))
        .and_then(Value::as_str)
        .ok_or_else(|| ConnectionError::InvalidSignal("`offer.sdp` is missing".into()))?
        .to_owned();
    Ok(Offer {
        src: string(&raw, "src")?,
        connection_id: string(&raw, "connectionId")?,
        connection_type: string(&raw, "connectionType")?,
        room_name: room_name(&raw),
        sdp,
        raw,
    })
}

/// Parses an `ANSWER` or `CANDIDATE` payload.
pub fn parse_routed(v: Value) -> Result<Routed, ConnectionError> {
    let raw = object(v)?;
    Ok(Routed {
        src: string(&raw, "src")?,
        connection_id: string(&raw, "connectionId")?,
        room_name: room_name(&raw),
        raw,
    })
}

/// The SDP of an `ANSWER` payload.
pub fn answer_sdp(raw: &Map<String, Value>) -> Result<String, ConnectionError> {
    raw.get("answer")
        .and_then(|a| a.get("sdp"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ConnectionError::InvalidSignal("`answer.sdp` is missing".into()))
}

/// The candidate of a `CANDIDATE` payload; `None` for an end-of-candidates marker.
pub fn candidate(raw: &Map<String, Value>) -> Result<Option<RTCIceCandidateInit>, ConnectionError> {
    let c = raw
        .get("candidate")
        .ok_or_else(|| ConnectionError::InvalidSignal("`candidate` is missing".into()))?;
    let text = c.get("candidate").and_then(Value::as_str).unwrap_or("");
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(RTCIceCandidateInit {
        candidate: text.to_owned(),
        sdp_mid: c.get("sdpMid").and_then(Value::as_str).map(str::to_owned),
        sdp_mline_index: c
            .get("sdpMLineIndex")
            .and_then(Value::as_u64)
            .and_then(|i| u16::try_from(i).ok()),
        username_fragment: c
            .get("usernameFragment")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }))
}

fn relay(
    kind: fn(Relay) -> ClientMessage,
    mut body: Value,
    room: Option<&str>,
) -> Result<ClientMessage, ConnectionError> {
    if let (Some(room), Some(obj)) = (room, body.as_object_mut()) {
        obj.insert("roomName".into(), Value::from(room));
    }
    Relay::from_payload(&body)
        .map(kind)
        .ok_or_else(|| ConnectionError::InvalidSignal("relay without dst".into()))
}

/// `SEND_OFFER` for a data connection: `{offer, dst, connectionId, connectionType:"data",
/// metadata, serialization, label, dcInit}`.
pub fn data_offer(
    dst: &str,
    connection_id: &str,
    sdp: &str,
    metadata: Option<&Value>,
    serialization: &str,
    label: &str,
    dc_init: &Value,
) -> Result<ClientMessage, ConnectionError> {
    let mut body = json!({
        "offer": {"type": "offer", "sdp": sdp},
        "dst": dst,
        "connectionId": connection_id,
        "connectionType": "data",
    });
    if let (Some(m), Some(obj)) = (metadata, body.as_object_mut()) {
        obj.insert("metadata".into(), m.clone());
    }
    if let Some(obj) = body.as_object_mut() {
        obj.insert("serialization".into(), Value::from(serialization));
        obj.insert("label".into(), Value::from(label));
        obj.insert("dcInit".into(), dc_init.clone());
    }
    relay(ClientMessage::SendOffer, body, None)
}

/// `SEND_OFFER` for a media connection: `{offer, dst, connectionId, connectionType:"media",
/// metadata, roomName?}`.
pub fn media_offer(
    dst: &str,
    connection_id: &str,
    sdp: &str,
    metadata: Option<&Value>,
    room: Option<&str>,
) -> Result<ClientMessage, ConnectionError> {
    let mut body = json!({
        "offer": {"type": "offer", "sdp": sdp},
        "dst": dst,
        "connectionId": connection_id,
        "connectionType": "media",
    });
    if let (Some(m), Some(obj)) = (metadata, body.as_object_mut()) {
        obj.insert("metadata".into(), m.clone());
    }
    relay(ClientMessage::SendOffer, body, room)
}

/// `SEND_ANSWER {answer, dst, connectionId, connectionType, roomName?}`.
pub fn answer(
    dst: &str,
    connection_id: &str,
    connection_type: &str,
    sdp: &str,
    room: Option<&str>,
) -> Result<ClientMessage, ConnectionError> {
    relay(
        ClientMessage::SendAnswer,
        json!({
            "answer": {"type": "answer", "sdp": sdp},
            "dst": dst,
            "connectionId": connection_id,
            "connectionType": connection_type,
        }),
        room,
    )
}

/// `SFU_ANSWER {roomName, answer: {type: "answer", sdp}}`.
pub fn sfu_answer(room: &str, sdp: &str) -> ClientMessage {
    ClientMessage::SfuAnswer(SfuAnswer {
        room_name: room.to_owned(),
        answer: SessionDescription::answer(sdp),
    })
}

/// `SFU_CANDIDATE {roomName, candidate: {candidate, sdpMid, sdpMLineIndex, usernameFragment}}`.
pub fn sfu_candidate(room: &str, c: &RTCIceCandidateInit) -> ClientMessage {
    ClientMessage::SfuCandidate(SfuCandidate {
        room_name: room.to_owned(),
        candidate: IceCandidate {
            candidate: c.candidate.clone(),
            sdp_mid: c.sdp_mid.clone(),
            sdp_m_line_index: c.sdp_mline_index,
            username_fragment: c.username_fragment.clone(),
        },
    })
}

/// `SEND_CANDIDATE {candidate: {candidate, sdpMid, sdpMLineIndex, usernameFragment}, dst,
/// connectionId, connectionType, roomName?}`.
pub fn candidate_message(
    dst: &str,
    connection_id: &str,
    connection_type: &str,
    room: Option<&str>,
    c: &RTCIceCandidateInit,
) -> Result<ClientMessage, ConnectionError> {
    let mut cand = json!({
        "candidate": c.candidate,
        "sdpMid": c.sdp_mid,
        "sdpMLineIndex": c.sdp_mline_index,
    });
    if let (Some(u), Some(obj)) = (&c.username_fragment, cand.as_object_mut()) {
        obj.insert("usernameFragment".into(), Value::from(u.as_str()));
    }
    relay(
        ClientMessage::SendCandidate,
        json!({
            "candidate": cand,
            "dst": dst,
            "connectionId": connection_id,
            "connectionType": connection_type,
        }),
        room,
    )
}

/// `SEND_FORCE_CLOSE {dst, connectionId}`.
pub fn force_close(dst: &str, connection_id: &str) -> ClientMessage {
    ClientMessage::SendForceClose(ForceCloseRequest {
        dst: dst.to_owned(),
        connection_id: Some(connection_id.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_matches_sdk_shape() {
        let m = data_offer(
            "bob",
            "dc_1",
            "v=0",
            Some(&json!({"a": 1})),
            "binary",
            "dc_1",
            &json!({}),
        )
        .unwrap();
        assert_eq!(
            m.payload(),
            json!({"offer": {"type": "offer", "sdp": "v=0"}, "dst": "bob", "connectionId": "dc_1",
                "connectionType": "data", "metadata": {"a": 1}, "serialization": "binary",
                "label": "dc_1", "dcInit": {}})
        );
    }

    #[test]
    fn parses_trace_candidate() {
        let v = json!({"candidate":{"candidate":"candidate:3193916399 1 udp 2122194687 192.0.2.2 39874 typ host generation 0 ufrag EOjx network-id 1","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"EOjx"},"dst":"bob","connectionId":"dc_lt99an8lnro","connectionType":"data","src":"alice"});
        let r = parse_routed(v).unwrap();
        let c = candidate(&r.raw).unwrap().unwrap();
        assert_eq!(c.sdp_mline_index, Some(0));
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        let back = candidate_message("alice", "dc_lt99an8lnro", "data", None, &c).unwrap();
        assert_eq!(back.payload()["candidate"]["sdpMLineIndex"], json!(0));
        assert!(back.payload().get("roomName").is_none());
        let in_room = candidate_message("alice", "mc_1", "media", Some("r"), &c).unwrap();
        assert_eq!(in_room.payload()["roomName"], json!("r"));
        let ClientMessage::SendCandidate(relay) = in_room else {
            panic!("not a candidate")
        };
        assert_eq!(relay.room_name.as_deref(), Some("r"));
        let routed =
            parse_routed(json!({"src": "a", "connectionId": "x", "roomName": "r"})).unwrap();
        assert_eq!(routed.room_name.as_deref(), Some("r"));
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert!(parse_offer(json!({"src": "a"})).is_err());
        assert!(parse_offer(json!([1])).is_err());
        assert!(parse_routed(json!({"connectionId": "x"})).is_err());
        let r =
            parse_routed(json!({"src": "a", "connectionId": "x", "candidate": {"candidate": ""}}))
                .unwrap();
        assert_eq!(candidate(&r.raw).unwrap(), None);
    }
}
