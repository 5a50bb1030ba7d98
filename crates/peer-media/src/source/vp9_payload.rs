//! A VP9 RTP payloader (draft-ietf-payload-vp9, flexible mode) that marks inter frames.
//!
//! webrtc 0.17.2's `Vp9Payloader` never sets the P bit ("inter-picture predicted"), so a
//! receiver takes every frame for a keyframe: Chromium's `keyFramesDecoded` then equals
//! `framesDecoded`, and after a loss it would decode a delta frame as if it were independent
//! instead of asking for a keyframe. This payloader reads each frame's uncompressed header and
//! writes P=1 with one reference (the previous picture, P_DIFF=1) for inter frames.

use crate::headers::vp9_frame_info;
use bytes::{BufMut, Bytes, BytesMut};
use webrtc::rtp::packetizer::Payloader;

/// Picture ids are 15 bits.
const PICTURE_ID_MASK: u16 = 0x7fff;

/// The payloader; keeps the running picture id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vp9FlexiblePayloader {
    picture_id: u16,
}

impl Vp9FlexiblePayloader {
    /// The payloads of one frame, each at most `mtu` bytes, descriptor included. Empty for an
    /// empty frame or an `mtu` too small to carry any data.
    pub(crate) fn payload_frame(&mut self, mtu: usize, frame: &[u8]) -> Vec<Bytes> {
        // A header that cannot be parsed is sent as independent, as webrtc-rs would.
        let inter = vp9_frame_info(frame).is_some_and(|i| !i.keyframe);
        let descriptor_len = if inter { 4 } else { 3 };
        if frame.is_empty() || mtu <= descriptor_len {
            return Vec::new();
        }
        let room = mtu - descriptor_len;
        let count = frame.len().div_ceil(room);
        let pid = self.picture_id;
        self.picture_id = (self.picture_id + 1) & PICTURE_ID_MASK;
        frame
            .chunks(room)
            .enumerate()
            .map(|(i, chunk)| {
                let mut first = 0x80 | 0x10; // I (picture id present), F (flexible mode)
                if inter {
                    first |= 0x40; // P
                }
                if i == 0 {
                    first |= 0x08; // B: start of the frame
                }
                if i + 1 == count {
                    first |= 0x04; // E: end of the frame
                }
                let mut out = BytesMut::with_capacity(descriptor_len + chunk.len());
                out.put_u8(first);
                // M=1: a 15-bit picture id.
                out.put_u8(0x80 | (pid >> 8) as u8);
                out.put_u8((pid & 0xff) as u8);
                if inter {
                    // P_DIFF = 1 (the previous picture), N = 0 (no more references).
                    out.put_u8(1 << 1);
                }
                out.put_slice(chunk);
                out.freeze()
            })
            .collect()
    }
}

impl Payloader for Vp9FlexiblePayloader {
    fn payload(&mut self, mtu: usize, b: &Bytes) -> Result<Vec<Bytes>, webrtc::rtp::Error> {
        Ok(self.payload_frame(mtu, b))
    }

    fn clone_to(&self) -> Box<dyn Payloader + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::is_keyframe_start;
    use crate::Codec;

    const KEY: [u8; 9] = [0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0];

    #[test]
    fn keyframes_and_inter_frames_are_marked() {
        let mut p = Vp9FlexiblePayloader::default();
        let mut key = KEY.to_vec();
        key.resize(2500, 0xaa);
        let a = p.payload_frame(1000, &key);
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|x| x.len() <= 1000));
        assert_eq!(a[0][0], 0x80 | 0x10 | 0x08);
        assert_eq!(a[1][0], 0x80 | 0x10);
        assert_eq!(a[2][0], 0x80 | 0x10 | 0x04);
        assert!(is_keyframe_start(Codec::Vp9, &a[0]));
        assert_eq!(
            a.iter().map(|x| x.len() - 3).sum::<usize>(),
            2500,
            "every byte sent once"
        );

        let inter = [0x86, 0x00, 0x40, 0x92];
        let b = p.payload_frame(1000, &inter);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0][0], 0x80 | 0x40 | 0x10 | 0x08 | 0x04);
        assert_eq!(&b[0][1..4], &[0x80, 0x01, 0x02], "picture id 1, P_DIFF 1");
        assert_eq!(&b[0][4..], &inter);
        assert!(!is_keyframe_start(Codec::Vp9, &b[0]));
    }

    #[test]
    fn picture_id_wraps_and_odd_inputs_are_safe() {
        let mut p = Vp9FlexiblePayloader {
            picture_id: PICTURE_ID_MASK,
        };
        let a = p.payload_frame(100, &[0x86]);
        assert_eq!(&a[0][1..3], &[0xff, 0xff]);
        let b = p.payload_frame(100, &[0x86]);
        assert_eq!(&b[0][1..3], &[0x80, 0x00]);
        assert!(p.payload_frame(100, &[]).is_empty());
        assert!(p.payload_frame(3, &KEY).is_empty());
        assert_eq!(p.payload_frame(4, &KEY).len(), KEY.len());
    }
}
