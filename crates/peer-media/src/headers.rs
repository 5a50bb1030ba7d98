//! VP8 and VP9 frame headers (pure): the keyframe flag and the picture size (VP8: RFC 6386
//! §9.1; VP9: the uncompressed header of the bitstream specification, §6.2). Used to count
//! keyframes ([`crate::frames`]), to record ([`crate::sink`]) and to payload VP9
//! ([`crate::source`]).

use crate::codec::Codec;

/// What a frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// An intra frame a decoder can start from.
    pub keyframe: bool,
    /// Width and height in pixels (keyframes only, when the header is complete).
    pub size: Option<(u16, u16)>,
}

/// Parses the start of a VP8 frame; `None` if it is empty.
///
/// ```
/// # use peer_media::headers::vp8_frame_info;
/// // A keyframe tag, the start code and 320x240.
/// let key = [0x50, 0x2e, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
/// let info = vp8_frame_info(&key).unwrap();
/// assert!(info.keyframe);
/// assert_eq!(info.size, Some((320, 240)));
/// assert!(!vp8_frame_info(&[0x51, 0x2e, 0x00]).unwrap().keyframe);
/// ```
pub fn vp8_frame_info(frame: &[u8]) -> Option<FrameInfo> {
    let tag = *frame.first()?;
    let keyframe = tag & 0x01 == 0;
    let size = match frame.get(3..10) {
        Some([0x9d, 0x01, 0x2a, w0, w1, h0, h1]) if keyframe => Some((
            u16::from_le_bytes([*w0, *w1]) & 0x3fff,
            u16::from_le_bytes([*h0, *h1]) & 0x3fff,
        )),
        _ => None,
    };
    Some(FrameInfo { keyframe, size })
}

/// Reads bits, most significant first.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

/// Parses the uncompressed header at the start of a VP9 frame (or superframe); `None` if it is
/// not a VP9 frame header or too short to tell whether it is a keyframe.
///
/// ```
/// # use peer_media::headers::vp9_frame_info;
/// // Profile 0 keyframe, shown: frame marker, sync code, BT.601, 320x240.
/// let key = [0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0];
/// let info = vp9_frame_info(&key).unwrap();
/// assert!(info.keyframe);
/// assert_eq!(info.size, Some((320, 240)));
/// assert!(!vp9_frame_info(&[0x86]).unwrap().keyframe);
/// ```
pub fn vp9_frame_info(frame: &[u8]) -> Option<FrameInfo> {
    let mut b = Bits {
        data: frame,
        pos: 0,
    };
    if b.read(2)? != 2 {
        return None;
    }
    let low = b.read(1)?;
    let high = b.read(1)?;
    let profile = (high << 1) | low;
    if profile == 3 {
        b.read(1)?;
    }
    let not_key = FrameInfo {
        keyframe: false,
        size: None,
    };
    if b.read(1)? == 1 {
        // show_existing_frame: shows an earlier frame, codes nothing.
        return Some(not_key);
    }
    if b.read(1)? != 0 {
        return Some(not_key);
    }
    let size = (|| {
        b.read(2)?; // show_frame, error_resilient_mode
        if b.read(24)? != 0x49_83_42 {
            return None;
        }
        if profile >= 2 {
            b.read(1)?; // ten_or_twelve_bit
        }
        let color_space = b.read(3)?;
        let subsampling_bits = if profile == 1 || profile == 3 { 3 } else { 0 };
        if color_space != 7 {
            b.read(1 + subsampling_bits)?; // color_range, subsampling_x/y, reserved
        } else if subsampling_bits > 0 {
            b.read(1)?;
        }
        let w = b.read(16)? + 1;
        let h = b.read(16)? + 1;
        Some((u16::try_from(w).ok()?, u16::try_from(h).ok()?))
    })();
    Some(FrameInfo {
        keyframe: true,
        size,
    })
}

/// [`vp8_frame_info`] or [`vp9_frame_info`].
pub fn frame_info(codec: Codec, frame: &[u8]) -> Option<FrameInfo> {
    match codec {
        Codec::Vp8 => vp8_frame_info(frame),
        Codec::Vp9 => vp9_frame_info(frame),
        _ => None,
    }
}
