//! The properties the cargo-fuzz targets check, as plain functions of the fuzz input.
//!
//! Every function must never panic on any input; where a decode succeeds, re-encoding it and
//! decoding again must give the same value. Each target in `fuzz_targets/` calls one of these.

use bytes::Bytes;
use peer_auth::Credential;
use peer_binarypack::{Chunk, Limits, Reassembler, Value as PackValue};
use peer_protocol::engineio::{self, Frame, Packet, CONTENT_TYPE_BINARY, CONTENT_TYPE_TEXT};
use peer_protocol::handshake::HandshakeQuery;
use peer_protocol::socketio::{self, Decoder, Event};
use peer_protocol::{ids, ClientMessage};
use serde_json::Value;

mod hub_driver;
mod room_data_driver;
mod room_send_data_driver;
mod sfu_answer_driver;
mod sfu_core_driver;
mod wsframe_driver;

pub use hub_driver::hub;
pub use wsframe_driver::wsframe;

/// The attachment limit the Socket.IO targets decode with.
pub const MAX_ATTACHMENTS: usize = 8;
/// The secret the credential target verifies with.
pub const SECRET: &[u8] = b"fuzz-secret";
/// The "current time" the credential target verifies at.
pub const NOW: u64 = 1_700_000_000;

/// Decodes `frame` (as a WebSocket would deliver it) back into a packet.
fn decode_frame(frame: &Frame) -> Result<Packet, engineio::DecodeError> {
    match frame {
        Frame::Text(b) => {
            let text = std::str::from_utf8(b).expect("Frame::Text holds UTF-8");
            Packet::decode_text(text)
        }
        Frame::Binary(b) => Packet::decode_binary(b),
    }
}

/// Re-encodes decoded packets as one polling body and checks that it decodes to the same packets.
pub fn check_payload_round_trip(packets: &[Packet]) {
    let frames: Vec<Frame> = packets.iter().map(Packet::encode).collect();
    let encoded = engineio::encode_payload(&frames);
    let binary = match encoded.content_type {
        CONTENT_TYPE_BINARY => true,
        CONTENT_TYPE_TEXT => false,
        other => panic!("unknown content type {other:?}"),
    };
    assert_eq!(
        binary,
        frames.iter().any(|f| matches!(f, Frame::Binary(_))),
        "content type does not match the frames"
    );
    let again = engineio::decode_payload(&encoded.body, binary)
        .unwrap_or_else(|e| panic!("re-encoded payload does not decode: {e:?} {encoded:?}"));
    assert_eq!(again, packets, "payload round trip changed the packets");
}

/// Checks that a single decoded packet survives `encode` then decode.
pub fn check_packet_round_trip(packet: &Packet) {
    let frame = packet.encode();
    assert!(!frame.is_empty(), "encoded frame is empty");
    let again = decode_frame(&frame)
        .unwrap_or_else(|e| panic!("re-encoded packet does not decode: {e:?} {frame:?}"));
    assert_eq!(&again, packet, "packet round trip changed the packet");
}

/// `engineio_payload`: both payload formats and both single-packet decoders.
pub fn engineio_payload(data: &[u8]) {
    for binary in [false, true] {
        if let Ok(packets) = engineio::decode_payload(data, binary) {
            assert!(!packets.is_empty(), "a successful decode yields packets");
            check_payload_round_trip(&packets);
            for p in &packets {
                check_packet_round_trip(p);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = Packet::decode_text(text) {
            check_packet_round_trip(&p);
            check_payload_round_trip(std::slice::from_ref(&p));
        }
    }
    let from_slice = Packet::decode_binary(data);
    let from_bytes = Packet::decode_binary_bytes(Bytes::copy_from_slice(data));
    assert_eq!(
        from_slice, from_bytes,
        "decode_binary and decode_binary_bytes differ"
    );
    if let Ok(p) = from_slice {
        check_packet_round_trip(&p);
    }
}

/// Splits fuzz input into engine messages: chunks separated by `0xFF` (never in UTF-8); a chunk
/// starting with `0x00` is a binary message (the rest), anything else is text (lossy UTF-8).
pub fn split_messages(data: &[u8]) -> Vec<Message> {
    data.split(|&b| b == 0xff)
        .map(|chunk| match chunk.split_first() {
            Some((0, rest)) => Message::Binary(Bytes::copy_from_slice(rest)),
            _ => Message::Text(String::from_utf8_lossy(chunk).into_owned()),
        })
        .collect()
}

/// One engine message as the Socket.IO layer sees it.
#[derive(Debug, Clone)]
pub enum Message {
    /// A text message (the engine `4` prefix already stripped).
    Text(String),
    /// A binary attachment (the engine `0x04` prefix already stripped).
    Binary(Bytes),
}

/// Checks that an event survives `encode_event` and a fresh [`Decoder`]: same name, same
/// attachments, the payload's text unchanged.
pub fn check_event_round_trip(event: &Event) {
    let payload: Box<serde_json::value::RawValue> =
        serde_json::from_str(event.payload_json()).expect("an event's payload is JSON");
    let frames = socketio::encode_event(&event.name, &payload, &event.attachments);
    let mut decoder = Decoder::new(MAX_ATTACHMENTS.max(event.attachments.len()));
    let mut done = None;
    for (i, frame) in frames.iter().enumerate() {
        assert!(done.is_none(), "decoder finished before the last frame");
        let packet = decode_frame(frame).expect("encode_event frames decode");
        let fed = match packet {
            Packet::Message(text) => decoder.feed_text(text),
            Packet::BinaryMessage(b) => decoder.feed_binary(b),
            other => panic!("encode_event produced {other:?} at frame {i}"),
        };
        done = fed.unwrap_or_else(|e| panic!("re-encoded event does not decode: {e:?} {frames:?}"));
    }
    let packet = done.expect("decoder completes on the last frame");
    let again = packet.into_event().expect("re-encoded event is an event");
    assert!(
        again.name == event.name
            && again.attachments == event.attachments
            && again.payload_json() == event.payload_json(),
        "event round trip changed {event:?} into {again:?}"
    );
}

/// JSON equality, exact: with serde_json's `float_roundtrip` feature (enabled by the workspace)
/// every number survives a parse/serialize round trip bit for bit.
pub fn same_json(a: &Value, b: &Value) -> bool {
    a == b
}

/// `socketio_decoder`: messages through [`Decoder`], then [`socketio::SioPacket::into_event`]
/// and [`ClientMessage::parse`].
pub fn socketio_decoder(data: &[u8]) {
    let mut decoder = Decoder::new(MAX_ATTACHMENTS);
    // Whether the decoder holds a binary packet waiting for attachments.
    let mut waiting = false;
    for message in split_messages(data) {
        let fed = match message {
            Message::Text(text) => {
                let fed = decoder.feed_text(text.as_str());
                if !waiting {
                    // With nothing pending, the decoder is the one-shot parser.
                    let parsed = socketio::parse_packet(&text, MAX_ATTACHMENTS)
                        .map(|(p, n)| (n == 0).then_some(p));
                    assert_eq!(fed, parsed, "Decoder and parse_packet disagree on {text:?}");
                }
                fed
            }
            Message::Binary(b) => decoder.feed_binary(b),
        };
        waiting = matches!(fed, Ok(None));
        if !waiting {
            assert_eq!(decoder.pending_bytes(), 0, "nothing may stay pending");
        }
        let Ok(Some(packet)) = fed else { continue };
        assert!(packet.attachments.len() <= MAX_ATTACHMENTS);
        if let Ok(event) = packet.into_event() {
            check_event_round_trip(&event);
            if let Ok(msg) = ClientMessage::parse(event.clone()) {
                check_relay(&event, &msg);
            }
        }
    }
}

/// A relay keeps every top-level field of its payload but `src`, value for value, and its text
/// with `src` spliced in is JSON whose `src` is the server's.
pub fn check_relay(event: &Event, msg: &ClientMessage) {
    let (ClientMessage::SendOffer(r)
    | ClientMessage::SendAnswer(r)
    | ClientMessage::SendCandidate(r)) = msg
    else {
        return;
    };
    let mut expected: Value = serde_json::from_str(event.payload_json()).expect("payload is JSON");
    if let Some(obj) = expected.as_object_mut() {
        obj.remove("src");
    }
    let body: Value = serde_json::from_str(&r.body).expect("relay body is JSON");
    assert!(
        same_json(&body, &expected),
        "relay of {event:?} kept {body}"
    );
    let relayed: Value = serde_json::from_str(r.with_src("s").get()).expect("relayed text is JSON");
    assert_eq!(relayed["src"], "s");
}

/// `handshake_query`: [`HandshakeQuery::parse`] on arbitrary UTF-8, then the id rules and the
/// credential parser on what it found.
pub fn handshake_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let q = HandshakeQuery::parse(&text);
    let _ = q.transport_kind();
    if let Some(id) = &q.peer_id {
        assert!(!id.is_empty(), "an empty peerId must be absent");
        let _ = ids::is_valid_peer_id(id);
    }
    if let Some(key) = &q.api_key {
        let _ = ids::is_valid_api_key(key);
    }
    if let Some(c) = &q.credential {
        credential(c.as_bytes());
    }
}

/// `credential`: [`Credential::from_json`] then [`Credential::verify`] with a fixed secret; a
/// credential issued for the parsed timestamp and ttl must verify exactly when they are in range.
pub fn credential(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(c) = Credential::from_json(&text) else {
        return;
    };
    for peer in ["alice", "", "peer with space"] {
        for (now, skew) in [(NOW, 30), (0, 0), (u64::MAX, u64::MAX)] {
            let presented = c.verify(SECRET, peer, now, skew);
            let issued = Credential::issue(SECRET, peer, c.timestamp, c.ttl);
            let expected_ok = (peer_auth::MIN_TTL..=peer_auth::MAX_TTL).contains(&c.ttl)
                && c.timestamp <= now.saturating_add(skew)
                && c.timestamp.saturating_add(c.ttl) > now;
            let result = issued.verify(SECRET, peer, now, skew);
            assert_eq!(
                result.is_ok(),
                expected_ok,
                "issued credential {issued:?} at now={now} skew={skew}: {result:?}"
            );
            if let Ok(exp) = result {
                assert_eq!(exp, issued.expires_at());
            }
            if presented.is_ok() {
                // Only a token equal (after base64) to the issued one can verify.
                assert!(expected_ok, "verified a credential outside its window");
            }
        }
    }
}

/// Checks that a decoded value packs and unpacks to itself (modulo [`PackValue::packed_form`]).
fn check_binarypack_round_trip(v: &PackValue) {
    let bytes = peer_binarypack::pack(v);
    let again = peer_binarypack::unpack(&bytes)
        .unwrap_or_else(|e| panic!("packed value does not unpack: {e} {v:?}"));
    assert_eq!(again, v.packed_form(), "pack/unpack changed the value");
}

/// The limits the `binarypack` target reassembles with (small, so the fuzzer reaches them).
pub const BINARYPACK_LIMITS: Limits = Limits {
    max_message_bytes: 4096,
    max_total_bytes: 16384,
    max_pending_messages: 8,
    max_parts: 64,
};

/// `binarypack`: [`peer_binarypack::unpack`] and `unpack_prefix` of the input, [`Chunk::decode`]
/// of it, and the input as a sequence of chunk messages (each prefixed by a one-byte length)
/// fed to a [`Reassembler`]. No panic; every decoded value packs and unpacks to itself (modulo
/// `undefined` → nil and integral floats → integers); the prefix decoder agrees with the whole-input decoder on what it consumed; a decoded chunk
/// re-encodes and decodes to itself; the reassembler stays within its limits and returns
/// complete messages of at most `max_message_bytes`.
pub fn binarypack(data: &[u8]) {
    let whole = peer_binarypack::unpack(data);
    if let Ok(v) = &whole {
        check_binarypack_round_trip(v);
    }
    if let Ok((v, used)) = peer_binarypack::unpack_prefix(data) {
        assert!(used <= data.len() && used > 0, "prefix used {used} bytes");
        assert_eq!(
            peer_binarypack::unpack(&data[..used]).as_ref(),
            Ok(&v),
            "the prefix alone decodes differently"
        );
        if used == data.len() {
            assert_eq!(whole.as_ref(), Ok(&v), "unpack and unpack_prefix differ");
        }
        check_binarypack_round_trip(&v);
    } else {
        assert!(
            whole.is_err(),
            "unpack succeeded where unpack_prefix failed"
        );
    }
    if let Ok(c) = Chunk::decode(data) {
        assert_eq!(
            Chunk::decode(&c.encode()).as_ref(),
            Ok(&c),
            "chunk round trip"
        );
    }

    let mut r = Reassembler::new(BINARYPACK_LIMITS);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (message, tail) = tail.split_at(len);
        rest = tail;
        if let Ok(chunk) = Chunk::decode(message) {
            let total_parts = chunk.total_parts;
            if let Ok(Some(done)) = r.push(chunk) {
                assert!(done.payload.len() <= BINARYPACK_LIMITS.max_message_bytes);
                assert!(total_parts >= 1);
            }
        }
        assert!(r.buffered_bytes() <= BINARYPACK_LIMITS.max_total_bytes);
        assert!(r.pending_messages() <= BINARYPACK_LIMITS.max_pending_messages);
        if message.first() == Some(&0xff) {
            r.tick();
            let _ = r.evict_stale(2);
        }
    }
    while r.evict_oldest().is_some() {}
    assert_eq!(
        r.buffered_bytes(),
        0,
        "buffered bytes leak after evicting everything"
    );
}

/// `media_files`: the pure file parsers of `peer-media` (IVF, Ogg with Opus packet durations,
/// H264 Annex-B access units, OpusHead) on arbitrary bytes. No panic; every frame, packet and
/// access unit lies within the input.
pub fn media_files(data: &[u8]) {
    use peer_media::source::{annexb, ivf, ogg, opus};
    let _ = ivf::IvfHeader::parse(data);
    if let Ok(mut reader) = ivf::IvfReader::new(data) {
        let mut total = 0usize;
        while let Ok(Some(frame)) = reader.next_frame() {
            total += frame.data.len();
            assert!(total <= data.len(), "IVF frames exceed the input");
        }
    }
    let mut total = 0usize;
    for packet in ogg::OggPackets::new(data) {
        total += packet.len();
        assert!(total <= data.len(), "Ogg packets exceed the input");
        if let Ok(samples) = opus::packet_samples(&packet) {
            assert!(samples <= 5760, "an Opus packet is at most 120 ms");
        }
        let _ = opus::OpusHead::parse(&packet);
    }
    let mut total = 0usize;
    for au in annexb::access_units(data) {
        total += au.data.len();
        assert!(total <= data.len(), "access units exceed the input");
        let _ = au.is_keyframe();
    }
    for nal in annexb::nal_units(data) {
        let _ = (nal.nal_type(), nal.starts_picture());
    }
}

/// `sdp_munging`: the SDK's SDP munging on arbitrary text, with options from the first byte.
/// No panic; munging is idempotent; after a codec is kept, every non-rejected section of that
/// kind lists only that codec.
pub fn sdp_munging(data: &[u8]) {
    use peer_media::sdp::{keep_codec, negotiated_codecs, Munging};
    use peer_media::MediaKind;
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let sdp = String::from_utf8_lossy(rest);
    let names = ["VP8", "H264", "opus", "rtx"];
    let m = Munging {
        audio_bandwidth: (flags & 1 != 0).then_some(u32::from(flags)),
        video_bandwidth: (flags & 2 != 0).then_some(u32::from(flags) * 1000),
        audio_codec: (flags & 4 != 0).then(|| names[usize::from(flags >> 6)].to_owned()),
        video_codec: (flags & 8 != 0).then(|| names[usize::from((flags >> 4) & 3)].to_owned()),
    };
    let _ = negotiated_codecs(&sdp);
    if let Ok(once) = m.apply(&sdp) {
        if !m.is_empty() {
            let twice = m.apply(&once).expect("munged SDP munges again");
            assert_eq!(once, twice, "munging is idempotent");
        }
    }
    let name = names[usize::from(flags & 3)];
    if let Ok(kept) = keep_codec(&sdp, MediaKind::Video, name) {
        for (kind, codecs) in negotiated_codecs(&kept) {
            if kind == MediaKind::Video {
                assert!(
                    codecs.iter().all(|(_, n)| n == name),
                    "only {name} is left: {codecs:?}"
                );
            }
        }
    }
}

/// `rtp_media`: a datagram as the RTP/UDP source classifies it, then its payload through the
/// frame counter, the VP8/VP9 reassembly of the IVF recorder and the H264 one of the Annex-B
/// recorder, for every codec. No panic;
/// counters stay consistent.
pub fn rtp_media(data: &[u8]) {
    use peer_media::frames::{is_keyframe_start, FrameCounter};
    use peer_media::sink::h264::H264Assembler;
    use peer_media::sink::vpx::{frame_info, VpxAssembler};
    use peer_media::source::rtp_udp::{classify, Datagram};
    use peer_media::Codec;
    for codec in Codec::ALL {
        let _ = is_keyframe_start(codec, data);
        let _ = frame_info(codec, data);
    }
    if let Datagram::Rtp(packet) = classify(data) {
        let mut h264 = H264Assembler::new();
        let first = h264.push(&packet);
        let mut next = packet.clone();
        next.header.sequence_number = next.header.sequence_number.wrapping_add(1);
        next.header.marker = true;
        if let Some(au) = first.or_else(|| h264.push(&next)) {
            assert!(
                au.data.starts_with(&[0, 0, 0, 1]),
                "Annex-B starts with a start code"
            );
        }
        for codec in Codec::ALL {
            let mut counter = FrameCounter::new(codec);
            counter.push(
                packet.header.marker,
                packet.header.timestamp,
                &packet.payload,
            );
            counter.push(
                true,
                packet.header.timestamp.wrapping_add(1),
                &packet.payload,
            );
            assert!(counter.keyframes() <= counter.frames());
            assert!(counter.frames() <= counter.packets());
            if let Ok(mut assembler) = VpxAssembler::new(codec) {
                let _ = assembler.push(&packet);
                let mut next = packet.clone();
                next.header.sequence_number = next.header.sequence_number.wrapping_add(1);
                next.header.marker = true;
                let _ = assembler.push(&next);
            }
        }
    }
}

/// The TURN server's decoders of remote bytes: a STUN message peeked before `turn` sees it (and
/// the server's error response to it), a TURN-over-TCP stream cut into messages, and a TURN
/// REST username. Nothing panics; an error response peeks back as an error of the same method
/// and transaction; every frame is a whole message no longer than [`MAX_FRAME`]; a parsed
/// username's user part is what follows its first `:`.
///
/// [`MAX_FRAME`]: peer_turn::framing::MAX_FRAME
pub fn turn(data: &[u8]) {
    use peer_turn::framing::{TcpFramer, MAX_FRAME};
    use peer_turn::peek::{error_response, peek, Class};
    if let Some(p) = peek(data) {
        if p.class == Class::Request {
            let e = error_response(&p, 403, "Forbidden");
            let back = peek(&e).expect("the server's error response is STUN");
            assert_eq!((back.method, back.class), (p.method, Class::Error));
            assert_eq!(back.transaction, p.transaction);
        }
    }
    // The same bytes as a TCP stream, in pieces whose sizes the first byte picks.
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = TcpFramer::new();
    let mut consumed = 0usize;
    let mut framed = 0usize;
    for piece in data.chunks(step) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = framer.push(rest);
            consumed += n;
            rest = &rest[n..];
            loop {
                match framer.next_frame() {
                    Ok(Some(f)) => {
                        assert!(f.bytes().len() <= MAX_FRAME);
                        framed += f.bytes().len();
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            if n == 0 {
                return;
            }
        }
    }
    assert!(framed <= consumed, "frames {framed} > bytes {consumed}");
    let text = String::from_utf8_lossy(data);
    if let Ok(u) = peer_auth::turn::parse_turn_username(&text) {
        let (_, user) = text.split_once(':').expect("a parsed username has ':'");
        assert_eq!(u.user, user);
        assert_eq!(format!("{}${}", u.key, u.peer_id), user);
    }
}

/// webrtc's parse of a remote answer, the step of `peer-sfu`'s shell after
/// `answer_problem` (`RTCSessionDescription::answer`; setting it on a peer connection is not
/// fuzzed: that needs a running connection).
fn webrtc_answer(sdp: &str) -> Result<(), String> {
    use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
    RTCSessionDescription::answer(sdp.to_owned())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// `sfu_answer`: every decoder of a client's SFU answer. The input as the WebSocket text frame
/// of an `SFU_ANSWER` and, whole, as the SDP of one, through `peer-server` (engine packet,
/// Socket.IO packet, [`ClientMessage`], the hub handing it to the SFU backend:
/// `src/sfu_answer_driver.rs`), then each answer that reached the backend through `peer-sfu`
/// (its sans-IO core, `answer_problem` and webrtc's SDP parse, as the shell runs them:
/// `src/sfu_core_driver.rs`). No panic; a decoded answer re-encodes to itself and reaches the
/// SFU unchanged exactly when its sender is a member of that SFU room; the core's state stays
/// consistent whether the answer is applied or refused.
pub fn sfu_answer(data: &[u8]) {
    for answer in sfu_answer_driver::sfu_answer(data) {
        sfu_core_driver::sfu_core(&answer.room_name, &answer.answer.sdp, webrtc_answer);
    }
}

/// The input split as [`split_messages`] splits it, as the engine frames that carry the
/// messages (`4` before a text, `0x04` before an attachment).
pub fn frames(data: &[u8]) -> Vec<Frame> {
    split_messages(data)
        .into_iter()
        .map(|m| match m {
            Message::Text(text) => Frame::text(format!("4{text}")),
            Message::Binary(data) => Frame::binary_message(&data),
        })
        .collect()
}

/// `room_data`: room data with attachments as both sides decode it. The input as engine frames
/// ([`frames`]) from a client to `peer-server` (`ROOM_SEND_DATA`, relayed by the hub:
/// `src/room_send_data_driver.rs`) and from a server to a Rust peer (`ROOM_DATA`, then the
/// room's [`peer_room::RoomPayload`]: `src/room_data_driver.rs`); then every relay as the
/// receiving peer decodes it. No panic; decoded data re-encodes to itself on both sides; the
/// receiver's payload is the sender's JSON text and attachments, from the sender.
pub fn room_data(data: &[u8]) {
    let frames = frames(data);
    room_data_driver::room_data(&frames);
    for (sent, relayed) in room_send_data_driver::room_send_data(&frames) {
        let got = room_data_driver::room_data(&relayed);
        let [(room, src, payload)] = got.as_slice() else {
            panic!("one relay decoded as {got:?}");
        };
        assert_eq!(
            (
                room,
                src.as_str(),
                payload.raw_json(),
                payload.attachments()
            ),
            (
                &sent.room_name,
                room_send_data_driver::PEERS[0],
                sent.data.get(),
                sent.attachments.as_slice()
            ),
            "the receiver got other data than was sent"
        );
    }
}

/// A frame between cluster nodes as a node decodes it from Redis: nothing panics, and what
/// decodes encodes back to the same bytes.
pub fn cluster_frame(data: &[u8]) {
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok(frame) = peer_cluster::message::Frame::decode(&bytes) {
        let again = frame.encode().expect("a decoded frame encodes");
        assert_eq!(again, bytes, "re-encoding changed the frame");
    }
}
