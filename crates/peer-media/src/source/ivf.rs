//! IVF files (the container `vpxenc` and `ffmpeg -f ivf` write for VP8 and VP9): a pure parser
//! over a byte slice, with no I/O, so it can be fuzzed.
//!
//! Layout (all little-endian): a file header of 32 bytes (`DKIF`, version u16, header size u16,
//! fourcc, width u16, height u16, timebase denominator u32, timebase numerator u32, frame count
//! u32, unused u32), then frames, each a 12-byte header (size u32, pts u64) and `size` bytes. A
//! pts counts timebase units of `numerator / denominator` seconds.

use crate::codec::Codec;
use crate::error::MediaError;

/// The size of the IVF file header.
pub const FILE_HEADER_LEN: usize = 32;
/// The size of an IVF frame header.
pub const FRAME_HEADER_LEN: usize = 12;
/// The largest frame accepted (a larger size field means a corrupt file).
pub const MAX_FRAME_LEN: usize = 32 * 1024 * 1024;

/// The IVF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// The codec fourcc (`VP80`, `VP90`, `AV01`, ...).
    pub fourcc: [u8; 4],
    /// The header size the file declares (32, or more with extra bytes to skip).
    pub header_len: u16,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Timebase denominator (units per second when the numerator is 1; e.g. 30).
    pub timebase_den: u32,
    /// Timebase numerator (e.g. 1).
    pub timebase_num: u32,
    /// The frame count the header declares (writers do not always fill it in).
    pub frame_count: u32,
}

impl IvfHeader {
    /// Parses the file header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<IvfHeader, MediaError> {
        let Some(h) = data.get(..FILE_HEADER_LEN) else {
            return Err(invalid(format!(
                "IVF file header truncated: {} of {FILE_HEADER_LEN} bytes",
                data.len()
            )));
        };
        if &h[0..4] != b"DKIF" {
            return Err(invalid("not an IVF file (no DKIF signature)"));
        }
        let header_len = u16_at(h, 6);
        if usize::from(header_len) < FILE_HEADER_LEN {
            return Err(invalid(format!("IVF header size {header_len} is below 32")));
        }
        let header = IvfHeader {
            fourcc: [h[8], h[9], h[10], h[11]],
            header_len,
            width: u16_at(h, 12),
            height: u16_at(h, 14),
            timebase_den: u32_at(h, 16),
            timebase_num: u32_at(h, 20),
            frame_count: u32_at(h, 24),
        };
        if header.timebase_den == 0 || header.timebase_num == 0 {
            return Err(invalid(format!(
                "IVF timebase {}/{} is invalid",
                header.timebase_num, header.timebase_den
            )));
        }
        Ok(header)
    }

    /// The codec of the fourcc, if it is VP8 or VP9.
    pub fn codec(&self) -> Option<Codec> {
        match &self.fourcc {
            b"VP80" => Some(Codec::Vp8),
            b"VP90" => Some(Codec::Vp9),
            _ => None,
        }
    }

    /// The fourcc as text (non-ASCII bytes replaced), for messages.
    pub fn fourcc_str(&self) -> String {
        self.fourcc
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() {
                    char::from(b)
                } else {
                    '?'
                }
            })
            .collect()
    }

    /// Converts a pts in timebase units to ticks of a `clock_rate` clock (e.g. 90 kHz),
    /// rounding down; saturates instead of overflowing.
    pub fn pts_to_clock(&self, pts: u64, clock_rate: u32) -> u64 {
        let ticks = u128::from(pts) * u128::from(self.timebase_num) * u128::from(clock_rate)
            / u128::from(self.timebase_den);
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }
}

/// One IVF frame, borrowed from the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfFrame<'a> {
    /// Presentation timestamp in timebase units.
    pub pts: u64,
    /// The compressed frame.
    pub data: &'a [u8],
}

/// Reads the frames of an IVF file held in memory.
///
/// ```
/// # use peer_media::source::ivf::IvfReader;
/// let mut file = b"DKIF\0\0\x20\0VP80\x40\x01\xf0\0\x1e\0\0\0\x01\0\0\0\x01\0\0\0\0\0\0\0".to_vec();
/// file.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x02, 0x9d]);
/// let mut reader = IvfReader::new(&file).unwrap();
/// assert_eq!(reader.header().width, 320);
/// let frame = reader.next_frame().unwrap().unwrap();
/// assert_eq!((frame.pts, frame.data.len()), (0, 3));
/// assert!(reader.next_frame().unwrap().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct IvfReader<'a> {
    header: IvfHeader,
    data: &'a [u8],
    pos: usize,
}

impl<'a> IvfReader<'a> {
    /// Parses the file header of `data` and positions the reader at the first frame.
    pub fn new(data: &'a [u8]) -> Result<IvfReader<'a>, MediaError> {
        let header = IvfHeader::parse(data)?;
        let pos = usize::from(header.header_len);
        if pos > data.len() {
            return Err(invalid(format!(
                "IVF header declares {pos} bytes but the file has {}",
                data.len()
            )));
        }
        Ok(IvfReader { header, data, pos })
    }

    /// The file header.
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// The offset of the next frame header.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next frame; `Ok(None)` at the end of the file, an error for a truncated or oversized
    /// frame (the reader then stays at that frame).
    pub fn next_frame(&mut self) -> Result<Option<IvfFrame<'a>>, MediaError> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(h) = rest.get(..FRAME_HEADER_LEN) else {
            return Err(invalid(format!(
                "IVF frame header truncated at offset {}",
                self.pos
            )));
        };
        let size = usize::try_from(u32_at(h, 0)).unwrap_or(usize::MAX);
        let pts = u64::from(u32_at(h, 4)) | (u64::from(u32_at(h, 8)) << 32);
        if size > MAX_FRAME_LEN {
            return Err(invalid(format!(
                "IVF frame of {size} bytes at offset {} is too large",
                self.pos
            )));
        }
        let Some(data) = rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + size) else {
            return Err(invalid(format!(
                "IVF frame at offset {} truncated: {} of {size} bytes",
                self.pos,
                rest.len() - FRAME_HEADER_LEN
            )));
        };
        self.pos += FRAME_HEADER_LEN + size;
        Ok(Some(IvfFrame { pts, data }))
    }
}

fn invalid(msg: impl Into<String>) -> MediaError {
    MediaError::InvalidFormat(msg.into())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    const VP8: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp8.ivf");
    const VP9: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp9.ivf");

    fn frames(data: &[u8]) -> Result<Vec<IvfFrame<'_>>, MediaError> {
        let mut r = IvfReader::new(data)?;
        let mut out = Vec::new();
        while let Some(f) = r.next_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn fixtures() {
        for (data, codec) in [(VP8, Codec::Vp8), (VP9, Codec::Vp9)] {
            let r = IvfReader::new(data).unwrap();
            let h = *r.header();
            assert_eq!(h.codec(), Some(codec));
            assert_eq!((h.width, h.height), (320, 240));
            assert_eq!((h.timebase_num, h.timebase_den), (1, 30));
            let f = frames(data).unwrap();
            assert_eq!(f.len(), 60);
            assert_eq!(f[0].pts, 0);
            assert_eq!(f[59].pts, 59);
            assert_eq!(h.pts_to_clock(f[30].pts, 90_000), 90_000);
        }
        // VP8 frame tag: bit 0 is 0 for keyframes; frames 0 and 30 are keyframes.
        let f = frames(VP8).unwrap();
        let keys: Vec<usize> = (0..f.len()).filter(|&i| f[i].data[0] & 1 == 0).collect();
        assert_eq!(keys, vec![0, 30]);
    }

    #[test]
    fn header_errors() {
        assert!(matches!(
            IvfReader::new(&VP8[..31]),
            Err(MediaError::InvalidFormat(_))
        ));
        let mut bad = VP8.to_vec();
        bad[0] = b'X';
        assert!(IvfReader::new(&bad).is_err());
        let mut bad = VP8.to_vec();
        bad[16..20].copy_from_slice(&[0, 0, 0, 0]);
        assert!(IvfReader::new(&bad).is_err());
        let mut bad = VP8.to_vec();
        bad[6] = 8;
        assert!(IvfReader::new(&bad).is_err());
        // A header size beyond the end of the file.
        let mut bad = VP8[..32].to_vec();
        bad[6..8].copy_from_slice(&64u16.to_le_bytes());
        assert!(IvfReader::new(&bad).is_err());
        let mut other = VP8.to_vec();
        other[8..12].copy_from_slice(b"AV01");
        let r = IvfReader::new(&other).unwrap();
        assert_eq!(r.header().codec(), None);
        assert_eq!(r.header().fourcc_str(), "AV01");
    }

    #[test]
    fn truncation_gives_errors_not_panics() {
        let all = frames(VP8).unwrap();
        for cut in (32..VP8.len()).step_by(97).chain([VP8.len() - 1, 33, 43]) {
            let mut r = IvfReader::new(&VP8[..cut]).unwrap();
            let mut n = 0;
            let end = loop {
                match r.next_frame() {
                    Ok(Some(_)) => n += 1,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            assert!(n < all.len());
            // Cut exactly at a frame boundary is a clean end; anywhere else an error.
            if end.is_ok() {
                assert_eq!(r.position(), cut);
            }
        }
    }

    #[test]
    fn oversized_frame() {
        let mut bad = VP8[..44].to_vec();
        bad[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = IvfReader::new(&bad).unwrap();
        assert!(r.next_frame().is_err());
        assert!(r.next_frame().is_err());
    }

    #[test]
    fn random_bytes() {
        let mut rng = peer_testkit::Rng::new(0x1234_5678);
        for len in 0..300 {
            let mut data = rng.bytes(len);
            let _ = frames(&data);
            if data.len() >= 32 {
                data[..4].copy_from_slice(b"DKIF");
                data[6..8].copy_from_slice(&32u16.to_le_bytes());
                let _ = frames(&data);
            }
        }
    }

    #[test]
    fn pts_conversion_saturates() {
        let h = IvfHeader::parse(VP8).unwrap();
        assert_eq!(h.pts_to_clock(1, 90_000), 3000);
        let h = IvfHeader {
            timebase_num: u32::MAX,
            timebase_den: 1,
            ..h
        };
        assert_eq!(h.pts_to_clock(u64::MAX, 90_000), u64::MAX);
    }
}
