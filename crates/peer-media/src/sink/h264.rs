//! Reassembling H264 access units from RTP (RFC 6184: single NAL units, STAP-A, FU-A) into
//! Annex-B, for recording into `.h264` files. Pure: no I/O.
//!
//! Packets are grouped by RTP timestamp; an access unit with a missing packet (a gap in the
//! sequence numbers, an FU-A continuation without its start, a malformed payload) is dropped
//! whole, so what is written always decodes up to the next keyframe.

use webrtc::rtp::packet::Packet;

/// The Annex-B start code written before every NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// NAL unit types this module handles.
const NAL_IDR: u8 = 5;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// A complete access unit in Annex-B form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// The RTP timestamp (90 kHz).
    pub timestamp: u32,
    /// Start code + NAL unit, for each NAL unit.
    pub data: Vec<u8>,
    /// Whether it holds an IDR slice.
    pub keyframe: bool,
}

#[derive(Debug)]
struct Partial {
    timestamp: u32,
    next_seq: u16,
    data: Vec<u8>,
    keyframe: bool,
    /// Inside an FU-A whose start was seen.
    in_fragment: bool,
    broken: bool,
}

/// Reassembles access units from the packets of one track, in arrival order.
#[derive(Debug, Default)]
pub struct H264Assembler {
    current: Option<Partial>,
    dropped_packets: u64,
    dropped_frames: u64,
}

impl H264Assembler {
    /// An empty assembler.
    pub fn new() -> H264Assembler {
        H264Assembler::default()
    }

    /// Feeds one packet; returns the access unit it completes (marker bit), if complete and
    /// intact.
    pub fn push(&mut self, packet: &Packet) -> Option<AccessUnit> {
        let h = &packet.header;
        if self
            .current
            .as_ref()
            .is_some_and(|p| p.timestamp != h.timestamp)
        {
            // The previous access unit never saw its marker bit.
            self.current = None;
            self.dropped_frames += 1;
        }
        let partial = self.current.get_or_insert_with(|| Partial {
            timestamp: h.timestamp,
            next_seq: h.sequence_number,
            data: Vec::new(),
            keyframe: false,
            in_fragment: false,
            broken: false,
        });
        if h.sequence_number != partial.next_seq {
            partial.broken = true;
        }
        partial.next_seq = h.sequence_number.wrapping_add(1);
        if !partial.broken && !depacketize(&packet.payload, partial) {
            partial.broken = true;
            self.dropped_packets += 1;
        }
        if !h.marker {
            return None;
        }
        let done = self.current.take()?;
        if done.broken || done.data.is_empty() {
            self.dropped_frames += 1;
            return None;
        }
        Some(AccessUnit {
            timestamp: done.timestamp,
            data: done.data,
            keyframe: done.keyframe,
        })
    }

    /// Packets that could not be depacketized.
    pub fn dropped_packets(&self) -> u64 {
        self.dropped_packets
    }

    /// Access units dropped because a packet was missing or malformed.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }
}

/// Appends the NAL units of one RTP payload to `p`; false if the payload is malformed or
/// unsupported (STAP-B, MTAP, FU-B).
fn depacketize(payload: &[u8], p: &mut Partial) -> bool {
    let Some(&header) = payload.first() else {
        return false;
    };
    if header & 0x80 != 0 {
        return false;
    }
    let kind = header & 0x1f;
    match kind {
        1..=23 => {
            if p.in_fragment {
                return false;
            }
            p.keyframe |= kind == NAL_IDR;
            p.data.extend_from_slice(&START_CODE);
            p.data.extend_from_slice(payload);
            true
        }
        NAL_STAP_A => {
            if p.in_fragment {
                return false;
            }
            let mut rest = &payload[1..];
            let mut any = false;
            while !rest.is_empty() {
                let [hi, lo, tail @ ..] = rest else {
                    return false;
                };
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                if len == 0 || len > tail.len() {
                    return false;
                }
                let nal = &tail[..len];
                p.keyframe |= nal[0] & 0x1f == NAL_IDR;
                p.data.extend_from_slice(&START_CODE);
                p.data.extend_from_slice(nal);
                rest = &tail[len..];
                any = true;
            }
            any
        }
        NAL_FU_A => {
            let [_, fu, data @ ..] = payload else {
                return false;
            };
            let (start, end, nal_type) = (fu & 0x80 != 0, fu & 0x40 != 0, fu & 0x1f);
            if start {
                if p.in_fragment {
                    return false;
                }
                p.keyframe |= nal_type == NAL_IDR;
                p.data.extend_from_slice(&START_CODE);
                p.data.push((header & 0xe0) | nal_type);
                p.in_fragment = true;
            } else if !p.in_fragment {
                return false;
            }
            p.data.extend_from_slice(data);
            if end {
                p.in_fragment = false;
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc::rtp::header::Header;

    fn packet(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Packet {
        Packet {
            header: Header {
                version: 2,
                sequence_number: seq,
                timestamp: ts,
                marker,
                ..Default::default()
            },
            payload: payload.to_vec().into(),
        }
    }

    #[test]
    fn stap_a_and_fu_a_become_annex_b() {
        let mut a = H264Assembler::new();
        // STAP-A with SPS (0x67) and PPS (0x68).
        let stap = [24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce];
        assert_eq!(a.push(&packet(10, 90, false, &stap)), None);
        // An IDR (0x65) in three FU-A fragments.
        assert_eq!(a.push(&packet(11, 90, false, &[0x7c, 0x85, 1, 2])), None);
        assert_eq!(a.push(&packet(12, 90, false, &[0x7c, 0x05, 3])), None);
        let au = a.push(&packet(13, 90, true, &[0x7c, 0x45, 4])).unwrap();
        assert!(au.keyframe);
        assert_eq!(
            au.data,
            [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 1, 2, 3, 4]
        );
        // A single NAL unit (non-IDR slice).
        let au = a.push(&packet(14, 180, true, &[0x41, 9, 9])).unwrap();
        assert!(!au.keyframe);
        assert_eq!(au.data, [0, 0, 0, 1, 0x41, 9, 9]);
        assert_eq!((a.dropped_frames(), a.dropped_packets()), (0, 0));
    }

    #[test]
    fn gaps_and_malformed_payloads_drop_the_access_unit() {
        let mut a = H264Assembler::new();
        assert_eq!(a.push(&packet(1, 90, false, &[0x7c, 0x85, 1])), None);
        // Sequence 2 lost.
        assert_eq!(a.push(&packet(3, 90, true, &[0x7c, 0x45, 3])), None);
        assert_eq!(a.dropped_frames(), 1);
        // An FU-A continuation without its start.
        assert_eq!(a.push(&packet(4, 180, true, &[0x7c, 0x45, 3])), None);
        // A STAP-A whose length runs past the end; then a frame without its marker, replaced.
        assert_eq!(a.push(&packet(5, 270, true, &[24, 0, 9, 0x67])), None);
        assert_eq!(a.push(&packet(6, 360, false, &[0x41, 1])), None);
        let au = a.push(&packet(7, 450, true, &[0x65, 1])).unwrap();
        assert!(au.keyframe);
        assert_eq!(a.dropped_frames(), 4);
        assert_eq!(a.dropped_packets(), 2);
        for p in [&[][..], &[0x80], &[25, 1], &[28], &[24], &[24, 0, 0]] {
            assert_eq!(a.push(&packet(8, 540, true, p)), None, "{p:?}");
        }
    }
}
