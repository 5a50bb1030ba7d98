//! Writing IVF files (the layout is described in [`crate::source::ivf`]). Generic over
//! `Write + Seek`, no tokio; the header layout is also available as plain byte arrays for the
//! file sink, which formats in memory and writes elsewhere.
//!
//! The header field at offset 24 holds the frame count, as libvpx's `vpxenc` and WebRTC's IVF
//! writer fill it. (ffmpeg's IVF muxer stores the duration in timebase units there instead, and
//! its demuxer reports that field as the stream duration: with a 1/90000 timebase, `ffprobe`
//! shows a tiny `duration` for these files, while the frames' pts are right.)

use std::io::{self, Seek, SeekFrom, Write};

/// Where the frame count (`u32`, little-endian) sits in the file header.
pub(crate) const FRAME_COUNT_OFFSET: u64 = 24;

/// The 32-byte file header with a frame count of 0 (see [`IvfWriter::new`]).
pub(crate) fn file_header(
    fourcc: [u8; 4],
    width: u16,
    height: u16,
    timebase_den: u32,
    timebase_num: u32,
) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[0..4].copy_from_slice(b"DKIF");
    h[4..6].copy_from_slice(&0u16.to_le_bytes());
    h[6..8].copy_from_slice(&32u16.to_le_bytes());
    h[8..12].copy_from_slice(&fourcc);
    h[12..14].copy_from_slice(&width.to_le_bytes());
    h[14..16].copy_from_slice(&height.to_le_bytes());
    h[16..20].copy_from_slice(&timebase_den.to_le_bytes());
    h[20..24].copy_from_slice(&timebase_num.to_le_bytes());
    // 24..28: the frame count, written when the file is finished; 28..32 unused.
    h
}

/// The 12-byte header before a frame of `len` bytes with presentation time `pts`.
pub(crate) fn frame_header(pts: u64, len: usize) -> io::Result<[u8; 12]> {
    let size = u32::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "IVF frame over 4 GiB"))?;
    let mut h = [0u8; 12];
    h[0..4].copy_from_slice(&size.to_le_bytes());
    h[4..12].copy_from_slice(&pts.to_le_bytes());
    Ok(h)
}

/// Writes an IVF file: the header at creation, frames as they come, and the frame count when
/// finished.
#[derive(Debug)]
pub struct IvfWriter<W: Write + Seek> {
    out: W,
    frames: u32,
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Writes the file header: `fourcc` (`VP80`, `VP90`), the picture size, and the timebase
    /// `timebase_num / timebase_den` seconds per pts unit (1/90000 for RTP timestamps).
    pub fn new(
        mut out: W,
        fourcc: [u8; 4],
        width: u16,
        height: u16,
        timebase_den: u32,
        timebase_num: u32,
    ) -> io::Result<IvfWriter<W>> {
        out.write_all(&file_header(
            fourcc,
            width,
            height,
            timebase_den,
            timebase_num,
        ))?;
        Ok(IvfWriter { out, frames: 0 })
    }

    /// Appends a frame with presentation time `pts` (timebase units).
    pub fn write_frame(&mut self, pts: u64, frame: &[u8]) -> io::Result<()> {
        let h = frame_header(pts, frame.len())?;
        self.out.write_all(&h)?;
        self.out.write_all(frame)?;
        self.frames = self.frames.saturating_add(1);
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Writes the frame count into the header, flushes, and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(FRAME_COUNT_OFFSET))?;
        self.out.write_all(&self.frames.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ivf::IvfReader;
    use crate::Codec;
    use std::io::Cursor;

    #[test]
    fn round_trip_with_the_reader() {
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), *b"VP90", 640, 480, 90_000, 1).unwrap();
        w.write_frame(0, &[1, 2, 3]).unwrap();
        w.write_frame(3000, &[4]).unwrap();
        assert_eq!(w.frames(), 2);
        let data = w.finish().unwrap().into_inner();
        assert_eq!(data.len(), 32 + 12 + 3 + 12 + 1);
        let mut r = IvfReader::new(&data).unwrap();
        let h = *r.header();
        assert_eq!(h.codec(), Some(Codec::Vp9));
        assert_eq!((h.width, h.height, h.frame_count), (640, 480, 2));
        assert_eq!(h.pts_to_clock(3000, 90_000), 3000);
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!((f.pts, f.data), (0, &[1u8, 2, 3][..]));
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!((f.pts, f.data), (3000, &[4u8][..]));
        assert!(r.next_frame().unwrap().is_none());
    }
}
