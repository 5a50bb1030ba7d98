//! Counting frames and keyframes in received RTP, from each packet's marker bit, timestamp and
//! payload (pure; payloads are untrusted and malformed ones are simply not keyframes).
//!
//! Keyframes are recognized from the packet that starts them:
//! - VP8 (RFC 7741): the payload descriptor has S=1 and PID=0, and the VP8 payload header's
//!   P bit (bit 0 of its first byte) is 0.
//! - VP9 (draft-ietf-payload-vp9): the descriptor's first byte has B=1 (start of a frame) and
//!   P=0 (not inter-picture predicted).
//! - H264 (RFC 6184): a single IDR NAL unit (type 5); a STAP-A (24) aggregating an IDR or an SPS
//!   (7); an FU-A (28) whose FU header has S=1 and type 5.
//! - Opus and PCMU: every packet is a frame and none is a keyframe.

use crate::codec::Codec;

/// How many recent video frames are remembered, so that late (reordered or retransmitted)
/// packets of a frame already ended are not counted as a new frame.
const RECENT_FRAMES: usize = 16;

/// The frame being received or a recent one.
#[derive(Debug, Clone, Copy)]
struct Frame {
    timestamp: u32,
    /// The frame was counted in `frames` (its marker packet came, or a later frame started).
    counted: bool,
    /// A packet of the frame was recognized as the start of a keyframe.
    key: bool,
    /// The frame was counted in `keyframes`.
    key_counted: bool,
}

/// Counts packets, payload bytes, frames and keyframes of one received track.
///
/// Video: a frame is the packets sharing one RTP timestamp. It is complete when its marker packet
/// arrives or when a packet with another timestamp starts the next frame; each timestamp counts
/// once, also if packets of a recent frame arrive late. Audio: each packet is a frame.
/// Packets with an empty payload (padding) count as packets but never as (part of) a frame.
#[derive(Debug, Clone)]
pub struct FrameCounter {
    codec: Codec,
    packets: u64,
    bytes: u64,
    frames: u64,
    keyframes: u64,
    /// The current video frame.
    current: Option<Frame>,
    /// Video frames before the current one, oldest first, at most [`RECENT_FRAMES`].
    recent: Vec<Frame>,
}

impl FrameCounter {
    /// A counter for a track of `codec`.
    pub fn new(codec: Codec) -> FrameCounter {
        FrameCounter {
            codec,
            packets: 0,
            bytes: 0,
            frames: 0,
            keyframes: 0,
            current: None,
            recent: Vec::new(),
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Feeds one RTP packet's marker bit, timestamp and payload (without padding).
    pub fn push(&mut self, marker: bool, timestamp: u32, payload: &[u8]) {
        self.packets += 1;
        self.bytes += payload.len() as u64;
        if payload.is_empty() {
            return;
        }
        if matches!(self.codec, Codec::Opus | Codec::Pcmu) {
            self.frames += 1;
            return;
        }
        let key = is_keyframe_start(self.codec, payload);
        let same_frame = matches!(self.current, Some(f) if f.timestamp == timestamp);
        if !same_frame {
            if let Some(old) = self.recent.iter_mut().find(|f| f.timestamp == timestamp) {
                // A late packet of a frame already ended: it can still reveal a keyframe.
                if key && !old.key {
                    old.key = true;
                    old.key_counted = true;
                    self.keyframes += 1;
                }
                return;
            }
            if let Some(mut previous) = self.current.take() {
                Self::complete(&mut previous, &mut self.frames, &mut self.keyframes);
                if self.recent.len() >= RECENT_FRAMES {
                    self.recent.remove(0);
                }
                self.recent.push(previous);
            }
        }
        let frame = self.current.get_or_insert(Frame {
            timestamp,
            counted: false,
            key: false,
            key_counted: false,
        });
        frame.key |= key;
        if marker || frame.counted {
            Self::complete(frame, &mut self.frames, &mut self.keyframes);
        }
    }

    /// Counts `frame` as complete (once), and as a keyframe (once) if it is one.
    fn complete(frame: &mut Frame, frames: &mut u64, keyframes: &mut u64) {
        if !frame.counted {
            frame.counted = true;
            *frames += 1;
        }
        if frame.key && !frame.key_counted {
            frame.key_counted = true;
            *keyframes += 1;
        }
    }

    /// Completed frames (video: a frame still missing its marker packet is not counted until the
    /// next frame starts).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Completed frames that are keyframes (always 0 for audio).
    pub fn keyframes(&self) -> u64 {
        self.keyframes
    }

    /// Packets fed.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Payload bytes fed.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Whether `payload` is an RTP payload of `codec` that starts a keyframe. `false` for audio and
/// for truncated or malformed payloads.
pub fn is_keyframe_start(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::Vp8 => vp8_keyframe_start(payload),
        Codec::Vp9 => vp9_keyframe_start(payload),
        Codec::H264 => h264_keyframe_start(payload),
        Codec::Opus | Codec::Pcmu => false,
    }
}

/// VP8 (RFC 7741 §4.2): skips the payload descriptor, then checks S=1, PID=0 and the payload
/// header's P bit.
fn vp8_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    let mut at = 1;
    if extended {
        let Some(&ext) = payload.get(at) else {
            return false;
        };
        at += 1;
        if ext & 0x80 != 0 {
            // PictureID: 7 bits, or 15 when the M bit is set.
            let Some(&pid) = payload.get(at) else {
                return false;
            };
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            at += 1; // TID|Y|KEYIDX
        }
    }
    if !start || partition != 0 {
        return false;
    }
    match payload.get(at) {
        Some(header) => header & 0x01 == 0,
        None => false,
    }
}

/// VP9 (draft-ietf-payload-vp9 §4.2): B=1 and P=0 in the descriptor's first byte.
fn vp9_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    if first & 0x08 == 0 || first & 0x40 != 0 {
        // Not the start of a frame, or inter-picture predicted.
        return false;
    }
    // Some senders (webrtc-rs's payloader among them) never set P: when the frame header can
    // be reached, its frame_type decides.
    match vp9_descriptor_len(payload) {
        Some(at) => match payload.get(at..).and_then(crate::headers::vp9_frame_info) {
            Some(info) => info.keyframe,
            None => true,
        },
        None => true,
    }
}

/// The length of a VP9 payload descriptor (draft-ietf-payload-vp9) without a scalability
/// structure; `None` when it carries one (V=1) or is truncated.
fn vp9_descriptor_len(payload: &[u8]) -> Option<usize> {
    let first = *payload.first()?;
    let (i, p, l, f, v) = (
        first & 0x80 != 0,
        first & 0x40 != 0,
        first & 0x20 != 0,
        first & 0x10 != 0,
        first & 0x02 != 0,
    );
    if v {
        return None;
    }
    let mut at = 1;
    if i {
        let pid = *payload.get(at)?;
        at += if pid & 0x80 != 0 { 2 } else { 1 };
    }
    if l {
        at += if f { 1 } else { 2 };
    }
    if f && p {
        for _ in 0..3 {
            let diff = *payload.get(at)?;
            at += 1;
            if diff & 0x01 == 0 {
                break;
            }
        }
    }
    (at <= payload.len()).then_some(at)
}

/// H264 NAL unit types this module looks at.
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// The type of the NAL unit whose header is `header`, or `None` if the forbidden bit is set.
fn nal_type(header: u8) -> Option<u8> {
    (header & 0x80 == 0).then_some(header & 0x1f)
}

/// H264 (RFC 6184 §5): single NAL unit, STAP-A and FU-A packets.
fn h264_keyframe_start(payload: &[u8]) -> bool {
    let Some(kind) = payload.first().and_then(|h| nal_type(*h)) else {
        return false;
    };
    match kind {
        NAL_IDR => true,
        NAL_STAP_A => stap_a_has_keyframe(payload.get(1..).unwrap_or_default()),
        NAL_FU_A => match payload.get(1) {
            Some(fu) => payload.len() > 2 && fu & 0x80 != 0 && fu & 0x1f == NAL_IDR,
            None => false,
        },
        _ => false,
    }
}

/// Whether the aggregated NAL units of a STAP-A (after its header byte) are well formed and one
/// of them is an IDR slice or an SPS.
fn stap_a_has_keyframe(mut units: &[u8]) -> bool {
    let mut found = false;
    while !units.is_empty() {
        let [hi, lo, rest @ ..] = units else {
            return false;
        };
        let size = usize::from(u16::from_be_bytes([*hi, *lo]));
        if size == 0 || size > rest.len() {
            return false;
        }
        let (unit, next) = rest.split_at(size);
        match unit.first().and_then(|h| nal_type(*h)) {
            Some(NAL_IDR | NAL_SPS) => found = true,
            Some(_) => {}
            None => return false,
        }
        units = next;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_descriptors() {
        // Minimal descriptor, S=1 PID=0, keyframe payload header (P=0).
        assert!(is_keyframe_start(Codec::Vp8, &[0x10, 0x50, 0x02, 0x00]));
        // Interframe (P=1).
        assert!(!is_keyframe_start(Codec::Vp8, &[0x10, 0x51, 0x02, 0x00]));
        // Not the start of a partition, or not partition 0.
        assert!(!is_keyframe_start(Codec::Vp8, &[0x00, 0x50]));
        assert!(!is_keyframe_start(Codec::Vp8, &[0x11, 0x50]));
        // X=1, I=1 with a 15-bit PictureID (M=1), L=1, T=1: 1 + 1 + 2 + 1 + 1 bytes.
        let key = [0x90, 0xe0, 0x81, 0x23, 0x07, 0x40, 0x50, 0x9d, 0x01, 0x2a];
        assert!(is_keyframe_start(Codec::Vp8, &key));
        let mut inter = key;
        inter[6] = 0x51;
        assert!(!is_keyframe_start(Codec::Vp8, &inter));
        // X=1, I=1 with a 7-bit PictureID, K=1 only.
        assert!(is_keyframe_start(
            Codec::Vp8,
            &[0x90, 0x90, 0x05, 0x1f, 0x50]
        ));
        assert!(!is_keyframe_start(
            Codec::Vp8,
            &[0x90, 0x90, 0x05, 0x1f, 0x51]
        ));
        // Truncated: the payload header is missing.
        assert!(!is_keyframe_start(Codec::Vp8, &key[..6]));
        assert!(!is_keyframe_start(Codec::Vp8, &[0x10]));
        assert!(!is_keyframe_start(Codec::Vp8, &[0x90]));
        assert!(!is_keyframe_start(Codec::Vp8, &[0x90, 0x80]));
        assert!(!is_keyframe_start(Codec::Vp8, &[]));
    }

    #[test]
    fn vp9_frame_header_decides_when_present() {
        // webrtc-rs's payloader leaves P=0 on every frame: the frame header says inter frame.
        assert!(!is_keyframe_start(Codec::Vp9, &[0x0c, 0x86]));
        let key = [0x0c, 0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0];
        assert!(is_keyframe_start(Codec::Vp9, &key));
        // With a picture id (I=1, 15 bits) before the header.
        assert!(!is_keyframe_start(Codec::Vp9, &[0x8c, 0x80, 0x01, 0x86]));
        // A scalability structure (V=1) is not parsed: the descriptor alone decides.
        assert!(is_keyframe_start(Codec::Vp9, &[0x0e, 0x00]));
    }

    #[test]
    fn vp9_descriptors() {
        // I=1, B=1, E=1, P=0 (flexible mode off, picture ID follows).
        assert!(is_keyframe_start(Codec::Vp9, &[0x8c, 0x80, 0x01, 0x00]));
        // P=1: inter-picture predicted.
        assert!(!is_keyframe_start(Codec::Vp9, &[0xcc, 0x80, 0x01]));
        // B=0: a later packet of a key picture.
        assert!(!is_keyframe_start(Codec::Vp9, &[0x84, 0x80, 0x01]));
        // Flexible mode with B=1 and P=0 (only the first byte matters).
        assert!(is_keyframe_start(Codec::Vp9, &[0x18]));
        assert!(!is_keyframe_start(Codec::Vp9, &[]));
    }

    #[test]
    fn h264_packets() {
        // Single NAL units: IDR slice (nal_ref_idc 3), non-IDR slice, SPS.
        assert!(is_keyframe_start(Codec::H264, &[0x65, 0x88, 0x84]));
        assert!(!is_keyframe_start(Codec::H264, &[0x41, 0x9a]));
        assert!(!is_keyframe_start(Codec::H264, &[0x67, 0x42]));
        // Forbidden bit set.
        assert!(!is_keyframe_start(Codec::H264, &[0xe5, 0x88]));
        // STAP-A with SPS (3 bytes) and PPS (2 bytes).
        let stap = [0x78, 0x00, 0x03, 0x67, 0x42, 0xc0, 0x00, 0x02, 0x68, 0xce];
        assert!(is_keyframe_start(Codec::H264, &stap));
        // STAP-A with PPS then IDR.
        let stap_idr = [0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88];
        assert!(is_keyframe_start(Codec::H264, &stap_idr));
        // STAP-A with only non-IDR slices.
        let stap_p = [0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x01, 0x41];
        assert!(!is_keyframe_start(Codec::H264, &stap_p));
        // Truncated or malformed STAP-A: size beyond the end, dangling size byte, size 0.
        assert!(!is_keyframe_start(Codec::H264, &stap[..9]));
        assert!(!is_keyframe_start(
            Codec::H264,
            &[0x78, 0x00, 0x03, 0x67, 0x42, 0xc0, 0x00]
        ));
        assert!(!is_keyframe_start(
            Codec::H264,
            &[0x78, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88]
        ));
        assert!(!is_keyframe_start(Codec::H264, &[0x78]));
        // FU-A: start of an IDR, middle of an IDR, start of a non-IDR slice, truncated.
        assert!(is_keyframe_start(Codec::H264, &[0x7c, 0x85, 0x88]));
        assert!(!is_keyframe_start(Codec::H264, &[0x7c, 0x05, 0x88]));
        assert!(!is_keyframe_start(Codec::H264, &[0x7c, 0x81, 0x9a]));
        assert!(!is_keyframe_start(Codec::H264, &[0x7c, 0x85]));
        assert!(!is_keyframe_start(Codec::H264, &[0x7c]));
        assert!(!is_keyframe_start(Codec::H264, &[]));
    }

    #[test]
    fn audio_packets_are_frames() {
        for codec in [Codec::Opus, Codec::Pcmu] {
            let mut c = FrameCounter::new(codec);
            for i in 0..5u32 {
                c.push(i == 0, i * 960, &[0x65, 0x10, 0x00]);
            }
            c.push(false, 5 * 960, &[]);
            assert_eq!(c.packets(), 6);
            assert_eq!(c.bytes(), 15);
            assert_eq!(c.frames(), 5);
            assert_eq!(c.keyframes(), 0);
            assert_eq!(c.codec(), codec);
        }
    }

    #[test]
    fn video_frames_end_with_marker_or_new_timestamp() {
        let mut c = FrameCounter::new(Codec::Vp8);
        let key_start = [0x10, 0x50, 0x02, 0x00];
        let cont = [0x00, 0xaa, 0xbb];
        let inter_start = [0x10, 0x51, 0x02];
        // Keyframe in three packets, marker on the last.
        c.push(false, 1000, &key_start);
        c.push(false, 1000, &cont);
        assert_eq!((c.frames(), c.keyframes()), (0, 0));
        c.push(true, 1000, &cont);
        assert_eq!((c.frames(), c.keyframes()), (1, 1));
        // A retransmitted packet of that frame counts nothing more.
        c.push(true, 1000, &cont);
        c.push(false, 1000, &key_start);
        assert_eq!((c.frames(), c.keyframes()), (1, 1));
        // An interframe whose marker packet is lost: ended by the next timestamp.
        c.push(false, 4000, &inter_start);
        assert_eq!(c.frames(), 1);
        c.push(true, 7000, &inter_start);
        assert_eq!((c.frames(), c.keyframes()), (3, 1));
        // A late packet of the frame at 4000 is not a new frame.
        c.push(false, 4000, &cont);
        assert_eq!(c.frames(), 3);
        // Padding is not a frame.
        c.push(false, 9000, &[]);
        assert_eq!(c.frames(), 3);
        // A keyframe whose start packet arrives after its marker packet.
        c.push(true, 10_000, &cont);
        assert_eq!((c.frames(), c.keyframes()), (4, 1));
        c.push(false, 10_000, &key_start);
        assert_eq!((c.frames(), c.keyframes()), (4, 2));
        assert_eq!(c.packets(), 11);
        assert_eq!(
            c.bytes(),
            (3 * key_start.len() + 5 * cont.len() + 2 * inter_start.len()) as u64
        );
    }

    #[test]
    fn h264_keyframe_split_over_packets() {
        let mut c = FrameCounter::new(Codec::H264);
        // SPS+PPS in a STAP-A, then the IDR in FU-A fragments.
        c.push(
            false,
            0,
            &[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce],
        );
        c.push(false, 0, &[0x7c, 0x85, 0x88]);
        c.push(true, 0, &[0x7c, 0x45, 0x00]);
        // A P frame as FU-A.
        c.push(false, 3000, &[0x7c, 0x81, 0x9a]);
        c.push(true, 3000, &[0x7c, 0x41, 0x00]);
        assert_eq!((c.frames(), c.keyframes()), (2, 1));
    }

    #[test]
    fn vp9_frames() {
        let mut c = FrameCounter::new(Codec::Vp9);
        c.push(false, 0, &[0x88, 0x01]);
        c.push(true, 0, &[0x84, 0x01]);
        c.push(true, 3000, &[0xcc, 0x02]);
        assert_eq!((c.frames(), c.keyframes()), (2, 1));
    }

    #[test]
    fn timestamps_wrap_and_many_frames() {
        let mut c = FrameCounter::new(Codec::Vp8);
        let mut ts = u32::MAX - 6000;
        for _ in 0..100 {
            c.push(true, ts, &[0x10, 0x51]);
            ts = ts.wrapping_add(3000);
        }
        assert_eq!((c.frames(), c.keyframes()), (100, 0));
    }

    #[test]
    fn random_payloads_never_panic() {
        let mut rng = peer_testkit::Rng::new(0x9e37_79b9_7f4a_7c15);
        for codec in Codec::ALL {
            let mut c = FrameCounter::new(codec);
            for _ in 0..20_000 {
                let r = rng.next();
                let len = (r % 24) as usize;
                let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let _ = is_keyframe_start(codec, &payload);
                c.push(r & 0x100 != 0, ((r >> 16) % 8) as u32 * 3000, &payload);
            }
            assert_eq!(c.packets(), 20_000);
            assert!(c.keyframes() <= c.frames());
            assert!(c.frames() <= c.packets());
        }
    }
}
