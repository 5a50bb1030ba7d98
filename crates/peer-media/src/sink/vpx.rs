//! VP8 and VP9 frames from RTP (pure): reassembly with the `webrtc` crate's depacketizers; the
//! keyframe flag and picture size come from [`crate::headers`] (re-exported here).
//!
//! Reassembly is strict: a frame is written only if all its packets arrived in sequence, from
//! the packet that starts it (VP8: S=1 and partition 0; VP9: B=1) to the marker packet; frames
//! with a lost packet are dropped, as a decoder could not use them. One frame per RTP timestamp
//! (no VP9 spatial layers).

use crate::codec::Codec;
use crate::error::MediaError;
use bytes::Bytes;
use webrtc::rtp::codecs::vp8::Vp8Packet;
use webrtc::rtp::codecs::vp9::Vp9Packet;
use webrtc::rtp::packet::Packet;
use webrtc::rtp::packetizer::Depacketizer;

/// The largest frame reassembled; larger ones are dropped.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

pub use crate::headers::{frame_info, vp8_frame_info, vp9_frame_info, FrameInfo};

/// A reassembled frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The RTP timestamp.
    pub timestamp: u32,
    /// The compressed frame.
    pub data: Vec<u8>,
    /// From the frame header (`keyframe: false` if the header could not be parsed).
    pub info: FrameInfo,
}

/// The frame being reassembled.
#[derive(Debug, Clone)]
struct Partial {
    timestamp: u32,
    last_sequence: u16,
    data: Vec<u8>,
}

/// Reassembles VP8 or VP9 frames from RTP packets.
#[derive(Debug, Clone)]
pub struct VpxAssembler {
    codec: Codec,
    current: Option<Partial>,
    dropped_packets: u64,
    dropped_frames: u64,
}

impl VpxAssembler {
    /// An assembler for `codec` (VP8 or VP9; other codecs are an error).
    pub fn new(codec: Codec) -> Result<VpxAssembler, MediaError> {
        match codec {
            Codec::Vp8 | Codec::Vp9 => Ok(VpxAssembler {
                codec,
                current: None,
                dropped_packets: 0,
                dropped_frames: 0,
            }),
            other => Err(MediaError::UnsupportedCodec(format!(
                "{other} is not VP8 or VP9"
            ))),
        }
    }

    /// Packets that could not be used: malformed payload descriptors, empty payloads, packets
    /// of no frame being assembled.
    pub fn dropped_packets(&self) -> u64 {
        self.dropped_packets
    }

    /// Frames started but dropped: a packet was lost, or the frame was too large.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// Depacketizes `payload`; returns the frame data and whether it starts a frame.
    fn depacketize(&self, payload: &Bytes) -> Option<(Bytes, bool)> {
        match self.codec {
            Codec::Vp8 => {
                let mut d = Vp8Packet::default();
                let data = d.depacketize(payload).ok()?;
                Some((data, d.s == 1 && d.pid == 0))
            }
            _ => {
                let mut d = Vp9Packet::default();
                let data = d.depacketize(payload).ok()?;
                Some((data, d.b))
            }
        }
    }

    /// Feeds one packet; returns the frame it completes, if any.
    pub fn push(&mut self, packet: &Packet) -> Option<Frame> {
        let h = &packet.header;
        let Some((data, start)) = self
            .depacketize(&packet.payload)
            .filter(|(d, _)| !d.is_empty())
        else {
            self.dropped_packets += 1;
            return None;
        };
        if start {
            if self.current.take().is_some() {
                self.dropped_frames += 1;
            }
            self.current = Some(Partial {
                timestamp: h.timestamp,
                last_sequence: h.sequence_number,
                data: data.to_vec(),
            });
        } else {
            match &mut self.current {
                Some(c)
                    if c.timestamp == h.timestamp
                        && c.last_sequence.wrapping_add(1) == h.sequence_number =>
                {
                    c.last_sequence = h.sequence_number;
                    c.data.extend_from_slice(&data);
                }
                Some(_) => {
                    self.current = None;
                    self.dropped_frames += 1;
                    self.dropped_packets += 1;
                    return None;
                }
                None => {
                    self.dropped_packets += 1;
                    return None;
                }
            }
        }
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.data.len() > MAX_FRAME_LEN)
        {
            self.current = None;
            self.dropped_frames += 1;
            return None;
        }
        if !h.marker {
            return None;
        }
        let c = self.current.take()?;
        let info = frame_info(self.codec, &c.data).unwrap_or(FrameInfo {
            keyframe: false,
            size: None,
        });
        Some(Frame {
            timestamp: c.timestamp,
            data: c.data,
            info,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ivf::IvfReader;
    use webrtc::rtp::header::Header;
    use webrtc::rtp::packetizer::Payloader;

    const VP8: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp8.ivf");
    const VP9: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp9.ivf");

    fn frames(data: &[u8]) -> Vec<Vec<u8>> {
        let mut r = IvfReader::new(data).unwrap();
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            out.push(f.data.to_vec());
        }
        out
    }

    /// Packetizes frames with the `webrtc` payloaders, 3000 ticks apart.
    fn packets(codec: Codec, frames: &[Vec<u8>], mtu: usize) -> Vec<Packet> {
        let mut payloader: Box<dyn Payloader> = match codec {
            Codec::Vp8 => {
                let mut p = webrtc::rtp::codecs::vp8::Vp8Payloader::default();
                p.enable_picture_id = true;
                Box::new(p)
            }
            _ => Box::<webrtc::rtp::codecs::vp9::Vp9Payloader>::default(),
        };
        let mut seq = 65_000u16;
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let payloads = payloader.payload(mtu, &Bytes::from(f.clone())).unwrap();
            let n = payloads.len();
            for (j, p) in payloads.into_iter().enumerate() {
                out.push(Packet {
                    header: Header {
                        version: 2,
                        marker: j + 1 == n,
                        sequence_number: seq,
                        timestamp: (i as u32).wrapping_mul(3000).wrapping_add(u32::MAX - 9000),
                        ..Default::default()
                    },
                    payload: p,
                });
                seq = seq.wrapping_add(1);
            }
        }
        out
    }

    #[test]
    fn fixture_frame_headers() {
        for (codec, data) in [(Codec::Vp8, VP8), (Codec::Vp9, VP9)] {
            let f = frames(data);
            let keys: Vec<usize> = (0..f.len())
                .filter(|&i| frame_info(codec, &f[i]).unwrap().keyframe)
                .collect();
            assert_eq!(keys, vec![0, 30], "{codec}");
            assert_eq!(frame_info(codec, &f[0]).unwrap().size, Some((320, 240)));
            assert_eq!(frame_info(codec, &f[1]).unwrap().size, None);
        }
    }

    #[test]
    fn reassembles_every_frame() {
        for (codec, data) in [(Codec::Vp8, VP8), (Codec::Vp9, VP9)] {
            let f = frames(data);
            let mut a = VpxAssembler::new(codec).unwrap();
            let out: Vec<Frame> = packets(codec, &f, 500)
                .iter()
                .filter_map(|p| a.push(p))
                .collect();
            assert_eq!(out.len(), f.len());
            for (got, want) in out.iter().zip(&f) {
                assert_eq!(&got.data, want);
            }
            assert_eq!(a.dropped_packets(), 0);
            assert_eq!(a.dropped_frames(), 0);
            assert_eq!(out.iter().filter(|x| x.info.keyframe).count(), 2);
        }
    }

    #[test]
    fn lost_packets_drop_their_frame() {
        let f = frames(VP8);
        let mut pk = packets(Codec::Vp8, &f[..10], 300);
        // Frame 0 (the keyframe) spans many packets: lose its second one.
        assert!(!pk[0].header.marker);
        pk.remove(1);
        let mut a = VpxAssembler::new(Codec::Vp8).unwrap();
        let out: Vec<Frame> = pk.iter().filter_map(|p| a.push(p)).collect();
        assert_eq!(out.len(), 9);
        assert_eq!(a.dropped_frames(), 1);
        assert!(a.dropped_packets() > 0);
    }

    #[test]
    fn malformed_payloads() {
        let mut a = VpxAssembler::new(Codec::Vp9).unwrap();
        // A descriptor only: depacketizes to nothing.
        let p = Packet {
            header: Header {
                marker: true,
                ..Default::default()
            },
            payload: Bytes::from_static(&[0x88]),
        };
        assert!(a.push(&p).is_none());
        assert_eq!(a.dropped_packets(), 1);
        assert!(VpxAssembler::new(Codec::H264).is_err());
        let mut rng = peer_testkit::Rng::new(99);
        for codec in [Codec::Vp8, Codec::Vp9] {
            let mut a = VpxAssembler::new(codec).unwrap();
            for i in 0..5000u32 {
                let payload = rng.bytes((i % 40) as usize);
                let _ = frame_info(codec, &payload);
                let _ = a.push(&Packet {
                    header: Header {
                        marker: rng.chance(2),
                        sequence_number: i as u16,
                        timestamp: i / 3,
                        ..Default::default()
                    },
                    payload: Bytes::from(payload),
                });
            }
        }
    }
}
