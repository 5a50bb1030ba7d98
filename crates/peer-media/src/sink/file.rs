//! Recording a [`RemoteTrack`] into a file: VP8 and VP9 into IVF, Opus into Ogg Opus.
//!
//! - IVF: frames are reassembled from RTP ([`super::vpx::VpxAssembler`]); frames with a lost
//!   packet are dropped, and writing starts at the first keyframe (whose picture size goes into
//!   the header). The timebase is 1/90000 s and each frame's pts is its RTP timestamp relative
//!   to the first frame's, so the file keeps the sender's timing. A track that ends before any
//!   keyframe leaves a valid IVF file without frames.
//! - Ogg Opus: the `webrtc` crate's `OggWriter` (48 kHz, the track's channel count), one page
//!   per packet. Duplicated or reordered packets (a timestamp not after the previous one) are
//!   dropped, so the granule positions only grow.
//!
//! The file is finalized (IVF frame count, Ogg end-of-stream page) when the track ends, on
//! [`FileSink::stop`], or when the sink is dropped.

use super::h264::H264Assembler;
use super::ivf::IvfWriter;
use super::reader::TrackReader;
use super::vpx::VpxAssembler;
use crate::codec::Codec;
use crate::error::MediaError;
use crate::remote::RemoteTrack;
use crate::source::runner::{Runner, StopSignal};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use webrtc::media::io::ogg_writer::OggWriter;
use webrtc::media::io::Writer;
use webrtc::rtp::packet::Packet;

/// The IVF timebase: RTP's 90 kHz clock.
const IVF_TIMEBASE_DEN: u32 = 90_000;
/// The largest Ogg packet `OggWriter` can put on one page (255 lacing values of 255).
const MAX_OGG_PACKET: usize = 255 * 255 - 1;

/// Counters of a [`FileSink`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSinkStats {
    /// RTP packets received.
    pub packets: u64,
    /// RTP payload bytes received.
    pub bytes: u64,
    /// Frames received (video: complete frames; audio: packets).
    pub frames: u64,
    /// Keyframes received.
    pub keyframes: u64,
    /// Frames (video) or packets (audio) written into the file.
    pub written: u64,
    /// Packets not used: malformed payloads, packets of a frame already dropped, duplicated or
    /// reordered audio.
    pub dropped_packets: u64,
    /// Video frames not written: a packet was lost, or they came before the first keyframe.
    pub dropped_frames: u64,
    /// Read errors on the track that were skipped.
    pub read_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    frames: AtomicU64,
    keyframes: AtomicU64,
    written: AtomicU64,
    dropped_packets: AtomicU64,
    dropped_frames: AtomicU64,
    read_errors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> FileSinkStats {
        FileSinkStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            keyframes: self.keyframes.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            dropped_packets: self.dropped_packets.load(Ordering::Relaxed),
            dropped_frames: self.dropped_frames.load(Ordering::Relaxed),
            read_errors: self.read_errors.load(Ordering::Relaxed),
        }
    }
}

/// Records a remote track into a file. It reads the track: do not read the same track elsewhere
/// (e.g. with a [`UdpSink`](super::UdpSink)).
///
/// Dropping the sink stops it and its task finalizes the file shortly after; before the program
/// exits, call [`FileSink::stop`] and await [`FileSink::finished`] to be sure the file is
/// complete.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    codec: Codec,
    runner: Runner<FileSinkStats>,
    counters: Arc<Counters>,
}

impl FileSink {
    /// Creates (or truncates) `path` and starts recording `track` into it: IVF for VP8 and VP9,
    /// Ogg Opus for Opus, an H264 Annex-B elementary stream (`.h264`) for H264 and raw µ-law
    /// (`.ulaw`, 8 kHz mono) for PCMU; other codecs are [`MediaError::UnsupportedCodec`]. Video
    /// starts at the first keyframe, which is requested at once (and every second until one
    /// arrives, at most ten times).
    pub async fn start(track: RemoteTrack, path: impl AsRef<Path>) -> Result<FileSink, MediaError> {
        let path = path.as_ref().to_owned();
        let codec = match track.codec() {
            Some(c) => c,
            None => {
                return Err(MediaError::UnsupportedCodec(format!(
                    "recording {} to a file (VP8, VP9, H264, Opus and PCMU are supported)",
                    track.mime_type()
                )))
            }
        };
        let file =
            File::create(&path).map_err(|e| MediaError::Io(format!("{}: {e}", path.display())))?;
        let out = BufWriter::new(file);
        let recorder = match codec {
            Codec::Opus => Recorder::Ogg(Box::new(OggRecorder::new(out, track.channels())?)),
            Codec::H264 => Recorder::H264(H264Recorder::new(out)),
            Codec::Pcmu => Recorder::Mulaw(MulawRecorder { out, last: None }),
            Codec::Vp8 | Codec::Vp9 => Recorder::Ivf(IvfRecorder::new(out, codec)?),
        };
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let runner = Runner::spawn(move |stop| run(track, recorder, c, stop))?;
        Ok(FileSink {
            path,
            codec,
            runner,
            counters,
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The codec recorded.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The counters so far.
    pub fn stats(&self) -> FileSinkStats {
        self.counters.snapshot()
    }

    /// Stops recording and finalizes the file.
    pub fn stop(&self) {
        self.runner.stop();
    }

    /// Whether recording has ended (the file is then complete).
    pub fn is_finished(&self) -> bool {
        self.runner.is_finished()
    }

    /// Waits until recording ends (the track ended, or [`FileSink::stop`]) and the file is
    /// finalized; returns the final counters, or the error that ended recording (e.g. the disk
    /// is full).
    pub async fn finished(&self) -> Result<FileSinkStats, MediaError> {
        self.runner.finished().await
    }
}

async fn run(
    track: RemoteTrack,
    mut recorder: Recorder,
    counters: Arc<Counters>,
    mut stop: StopSignal,
) -> Result<FileSinkStats, MediaError> {
    let mut reader = TrackReader::new(track);
    let result = loop {
        let packet = match reader.next(&mut stop).await {
            Ok(Some(p)) => p,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if let Some(c) = reader.counter() {
            counters.packets.store(c.packets(), Ordering::Relaxed);
            counters.bytes.store(c.bytes(), Ordering::Relaxed);
            counters.frames.store(c.frames(), Ordering::Relaxed);
            counters.keyframes.store(c.keyframes(), Ordering::Relaxed);
        }
        counters
            .read_errors
            .store(reader.read_errors(), Ordering::Relaxed);
        if let Err(e) = recorder.write(&packet, &counters) {
            break Err(e);
        }
    };
    // Finalize the file also after an error, so what was written stays readable.
    let finished = recorder.finish();
    result?;
    finished?;
    Ok(counters.snapshot())
}

/// The file being written.
enum Recorder {
    Ivf(IvfRecorder),
    /// Boxed: `OggWriter` holds its CRC table.
    Ogg(Box<OggRecorder>),
    H264(H264Recorder),
    Mulaw(MulawRecorder),
}

impl Recorder {
    fn write(&mut self, packet: &Packet, counters: &Counters) -> Result<(), MediaError> {
        match self {
            Recorder::Ivf(r) => r.write(packet, counters),
            Recorder::Ogg(r) => r.write(packet, counters),
            Recorder::H264(r) => r.write(packet, counters),
            Recorder::Mulaw(r) => r.write(packet, counters),
        }
    }

    fn finish(self) -> Result<(), MediaError> {
        match self {
            Recorder::Ivf(r) => r.finish(),
            Recorder::Ogg(r) => r.finish(),
            Recorder::H264(mut r) => r.out.flush().map_err(io_error),
            Recorder::Mulaw(mut r) => r.out.flush().map_err(io_error),
        }
    }
}

/// VP8/VP9 into IVF.
struct IvfRecorder {
    codec: Codec,
    assembler: VpxAssembler,
    /// The output until the first keyframe, when the header can be written.
    pending: Option<BufWriter<File>>,
    writer: Option<IvfWriter<BufWriter<File>>>,
    /// The last frame written: (RTP timestamp, pts).
    last: Option<(u32, u64)>,
    /// Frames dropped because no keyframe had come yet.
    before_keyframe: u64,
}

impl IvfRecorder {
    fn new(out: BufWriter<File>, codec: Codec) -> Result<IvfRecorder, MediaError> {
        Ok(IvfRecorder {
            codec,
            assembler: VpxAssembler::new(codec)?,
            pending: Some(out),
            writer: None,
            last: None,
            before_keyframe: 0,
        })
    }

    fn fourcc(&self) -> [u8; 4] {
        match self.codec {
            Codec::Vp9 => *b"VP90",
            _ => *b"VP80",
        }
    }

    fn write(&mut self, packet: &Packet, counters: &Counters) -> Result<(), MediaError> {
        let frame = self.assembler.push(packet);
        if let Some(f) = &frame {
            if self.writer.is_none() && !f.info.keyframe {
                self.before_keyframe += 1;
            }
        }
        counters
            .dropped_packets
            .store(self.assembler.dropped_packets(), Ordering::Relaxed);
        counters.dropped_frames.store(
            self.assembler.dropped_frames() + self.before_keyframe,
            Ordering::Relaxed,
        );
        let Some(frame) = frame else {
            return Ok(());
        };
        if self.writer.is_none() {
            if !frame.info.keyframe {
                return Ok(());
            }
            if let Some(out) = self.pending.take() {
                let (w, h) = frame.info.size.unwrap_or((0, 0));
                let fourcc = self.fourcc();
                self.writer = Some(IvfWriter::new(out, fourcc, w, h, IVF_TIMEBASE_DEN, 1)?);
            }
        }
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        // pts: the RTP timestamp since the first frame written, unwrapped; never backwards.
        let pts = match self.last {
            None => 0,
            Some((ts, pts)) => {
                let delta = frame.timestamp.wrapping_sub(ts) as i32;
                pts + u64::try_from(delta).unwrap_or(0)
            }
        };
        self.last = Some((frame.timestamp, pts));
        writer.write_frame(pts, &frame.data)?;
        counters.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn finish(mut self) -> Result<(), MediaError> {
        if let Some(out) = self.pending.take() {
            // No keyframe came: an empty but valid file.
            let fourcc = self.fourcc();
            self.writer = Some(IvfWriter::new(out, fourcc, 0, 0, IVF_TIMEBASE_DEN, 1)?);
        }
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        Ok(())
    }
}

/// Opus into Ogg.
struct OggRecorder {
    writer: OggWriter<BufWriter<File>>,
    /// The last RTP timestamp received and the timestamp given to the writer for it.
    last: Option<(u32, u64)>,
}

/// Where the timestamps given to `OggWriter` start (it treats 1 specially).
const OGG_FIRST_TIMESTAMP: u64 = 1000;

impl OggRecorder {
    fn new(out: BufWriter<File>, channels: u16) -> Result<OggRecorder, MediaError> {
        let channels = u8::try_from(channels.clamp(1, 2)).unwrap_or(2);
        let writer = OggWriter::new(out, 48_000, channels)
            .map_err(|e| MediaError::Io(format!("writing the Ogg headers: {e}")))?;
        Ok(OggRecorder { writer, last: None })
    }

    fn write(&mut self, packet: &Packet, counters: &Counters) -> Result<(), MediaError> {
        let len = packet.payload.len();
        if len == 0 || len > MAX_OGG_PACKET {
            counters.dropped_packets.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        // `OggWriter` derives granule positions from timestamp differences, which must grow:
        // feed it our own, unwrapped, strictly increasing timestamps.
        let ts = packet.header.timestamp;
        let out = match self.last {
            None => OGG_FIRST_TIMESTAMP,
            Some((prev, out)) => {
                let delta = ts.wrapping_sub(prev) as i32;
                if delta <= 0 {
                    counters.dropped_packets.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                out + delta as u64
            }
        };
        let Ok(out32) = u32::try_from(out) else {
            return Err(MediaError::Io(
                "Ogg recording too long (over 24 hours at 48 kHz)".into(),
            ));
        };
        self.last = Some((ts, out));
        let mut p = packet.clone();
        p.header.timestamp = out32;
        self.writer
            .write_rtp(&p)
            .map_err(|e| MediaError::Io(format!("writing an Ogg page: {e}")))?;
        counters.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn finish(mut self) -> Result<(), MediaError> {
        self.writer
            .close()
            .map_err(|e| MediaError::Io(format!("closing the Ogg file: {e}")))
    }
}

fn io_error(e: std::io::Error) -> MediaError {
    MediaError::Io(format!("writing the recording: {e}"))
}

/// H264 into an Annex-B elementary stream, from the first keyframe on.
struct H264Recorder {
    out: BufWriter<File>,
    assembler: H264Assembler,
    started: bool,
    before_keyframe: u64,
}

impl H264Recorder {
    fn new(out: BufWriter<File>) -> H264Recorder {
        H264Recorder {
            out,
            assembler: H264Assembler::new(),
            started: false,
            before_keyframe: 0,
        }
    }

    fn write(&mut self, packet: &Packet, counters: &Counters) -> Result<(), MediaError> {
        let au = self.assembler.push(packet);
        if let Some(au) = &au {
            self.started |= au.keyframe;
            if !self.started {
                self.before_keyframe += 1;
            }
        }
        counters
            .dropped_packets
            .store(self.assembler.dropped_packets(), Ordering::Relaxed);
        counters.dropped_frames.store(
            self.assembler.dropped_frames() + self.before_keyframe,
            Ordering::Relaxed,
        );
        match au {
            Some(au) if self.started => {
                self.out.write_all(&au.data).map_err(io_error)?;
                counters.written.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// PCMU payloads, concatenated: raw µ-law at 8 kHz. Duplicated or reordered packets are
/// dropped.
struct MulawRecorder {
    out: BufWriter<File>,
    /// The last sequence number written.
    last: Option<u16>,
}

impl MulawRecorder {
    fn write(&mut self, packet: &Packet, counters: &Counters) -> Result<(), MediaError> {
        let seq = packet.header.sequence_number;
        if let Some(last) = self.last {
            if (seq.wrapping_sub(last) as i16) <= 0 {
                counters.dropped_packets.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        self.last = Some(seq);
        self.out.write_all(&packet.payload).map_err(io_error)?;
        counters.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
