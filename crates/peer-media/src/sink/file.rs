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
//!
//! The recorders here only turn packets into bytes, in memory; the file itself is created,
//! written, flushed and closed on tokio's blocking thread pool by a writer task, never on a
//! runtime worker. The bytes go to it over a bounded queue: when the disk is slower than the
//! media, the sink stops reading its track until the disk catches up (backpressure), and the
//! packets are dropped in the `webrtc` stack's receive buffers as a congested network would drop
//! them; the memory a recording holds stays bounded (about 4 MiB, plus the frame being written). A
//! write error (disk full, ...) ends the recording: [`FileSink::finished`] returns it.

use super::h264::H264Assembler;
use super::ivf::{file_header, frame_header, FRAME_COUNT_OFFSET};
use super::reader::TrackReader;
use super::vpx::VpxAssembler;
use super::writer::{FileWriter, Patch};
use crate::codec::Codec;
use crate::error::MediaError;
use crate::remote::RemoteTrack;
use crate::source::runner::{Runner, StopSignal};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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
        let recorder = Recorder::new(codec, track.channels())?;
        let writer = FileWriter::create(&path).await?;
        let recording = Recording::new(recorder, writer);
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let runner = Runner::spawn(move |stop| run(track, recording, c, stop))?;
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
    mut recording: Recording,
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
        if let Err(e) = recording.push(&packet, &counters).await {
            break Err(e);
        }
    };
    // Finalize the file also after an error, so what was written stays readable.
    let finished = recording.finish().await;
    result?;
    finished?;
    Ok(counters.snapshot())
}

/// Above this, the formatting buffer is not kept between packets.
const MAX_KEPT_BUFFER: usize = 256 * 1024;

/// A recorder and the writer of its file.
struct Recording {
    recorder: Recorder,
    writer: FileWriter,
    /// The bytes of one packet, reused.
    buf: Vec<u8>,
}

impl Recording {
    fn new(recorder: Recorder, writer: FileWriter) -> Recording {
        Recording {
            recorder,
            writer,
            buf: Vec::new(),
        }
    }

    /// Formats one packet and hands the bytes to the writer (waiting while its queue is full).
    async fn push(&mut self, packet: &Packet, counters: &Counters) -> Result<(), MediaError> {
        self.buf.clear();
        self.recorder.write(packet, counters, &mut self.buf)?;
        if !self.buf.is_empty() {
            self.writer.write(&self.buf).await?;
        }
        if self.buf.capacity() > MAX_KEPT_BUFFER {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Writes the end of the file, finalizes and closes it.
    async fn finish(self) -> Result<(), MediaError> {
        let Recording {
            recorder,
            mut writer,
            mut buf,
        } = self;
        buf.clear();
        match recorder.finish(&mut buf) {
            Ok(patch) => {
                writer.write(&buf).await?;
                writer.finish(patch).await
            }
            Err(e) => {
                let _ = writer.finish(None).await;
                Err(e)
            }
        }
    }
}

/// Turns packets into the bytes of a file (pure: no I/O).
enum Recorder {
    Ivf(IvfRecorder),
    /// Boxed: `OggWriter` holds its CRC table.
    Ogg(Box<OggRecorder>),
    H264(H264Recorder),
    Mulaw(MulawRecorder),
}

impl Recorder {
    /// A recorder for `codec`; `channels` is the track's channel count (Opus).
    fn new(codec: Codec, channels: u16) -> Result<Recorder, MediaError> {
        Ok(match codec {
            Codec::Opus => Recorder::Ogg(Box::new(OggRecorder::new(channels)?)),
            Codec::H264 => Recorder::H264(H264Recorder::new()),
            Codec::Pcmu => Recorder::Mulaw(MulawRecorder { last: None }),
            Codec::Vp8 | Codec::Vp9 => Recorder::Ivf(IvfRecorder::new(codec)?),
        })
    }

    /// Appends to `out` the bytes `packet` adds to the file (often none).
    fn write(
        &mut self,
        packet: &Packet,
        counters: &Counters,
        out: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        match self {
            Recorder::Ivf(r) => r.write(packet, counters, out),
            Recorder::Ogg(r) => r.write(packet, counters, out),
            Recorder::H264(r) => r.write(packet, counters, out),
            Recorder::Mulaw(r) => r.write(packet, counters, out),
        }
    }

    /// Appends to `out` the end of the file; returns what to overwrite earlier in the file.
    fn finish(self, out: &mut Vec<u8>) -> Result<Option<Patch>, MediaError> {
        match self {
            Recorder::Ivf(r) => Ok(r.finish(out)),
            Recorder::Ogg(r) => r.finish(out).map(|()| None),
            Recorder::H264(_) | Recorder::Mulaw(_) => Ok(None),
        }
    }
}

/// Where a video recording starts: at the first keyframe, the frames before it dropped.
#[derive(Debug, Default)]
struct KeyframeStart {
    /// Whether the first keyframe came.
    started: bool,
    /// Frames dropped because no keyframe had come yet.
    before: u64,
}

impl KeyframeStart {
    /// Whether a complete frame (a `keyframe` or not) is recorded: from the first keyframe on,
    /// every one is; the ones before are counted as dropped.
    fn admit(&mut self, keyframe: bool) -> bool {
        self.started |= keyframe;
        if !self.started {
            self.before += 1;
        }
        self.started
    }

    /// Stores the dropped packets and frames in `counters`: the assembler's (a lost packet), and
    /// the frames before the first keyframe.
    fn store_drops(&self, counters: &Counters, dropped_packets: u64, dropped_frames: u64) {
        counters
            .dropped_packets
            .store(dropped_packets, Ordering::Relaxed);
        counters
            .dropped_frames
            .store(dropped_frames + self.before, Ordering::Relaxed);
    }
}

/// VP8/VP9 into IVF.
struct IvfRecorder {
    codec: Codec,
    assembler: VpxAssembler,
    /// The first keyframe, which starts the file (its header gives the picture size).
    start: KeyframeStart,
    /// Frames written.
    frames: u32,
    /// The last frame written: (RTP timestamp, pts).
    last: Option<(u32, u64)>,
}

impl IvfRecorder {
    fn new(codec: Codec) -> Result<IvfRecorder, MediaError> {
        Ok(IvfRecorder {
            codec,
            assembler: VpxAssembler::new(codec)?,
            start: KeyframeStart::default(),
            frames: 0,
            last: None,
        })
    }

    fn fourcc(&self) -> [u8; 4] {
        match self.codec {
            Codec::Vp9 => *b"VP90",
            _ => *b"VP80",
        }
    }

    fn write(
        &mut self,
        packet: &Packet,
        counters: &Counters,
        out: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        let first = !self.start.started;
        let frame = self
            .assembler
            .push(packet)
            .filter(|f| self.start.admit(f.info.keyframe));
        self.start.store_drops(
            counters,
            self.assembler.dropped_packets(),
            self.assembler.dropped_frames(),
        );
        let Some(frame) = frame else {
            return Ok(());
        };
        if first {
            let (w, h) = frame.info.size.unwrap_or((0, 0));
            out.extend_from_slice(&file_header(self.fourcc(), w, h, IVF_TIMEBASE_DEN, 1));
        }
        // pts: the RTP timestamp since the first frame written, unwrapped; never backwards.
        let pts = match self.last {
            None => 0,
            Some((ts, pts)) => {
                let delta = frame.timestamp.wrapping_sub(ts) as i32;
                pts + u64::try_from(delta).unwrap_or(0)
            }
        };
        let header = frame_header(pts, frame.data.len())?;
        self.last = Some((frame.timestamp, pts));
        out.extend_from_slice(&header);
        out.extend_from_slice(&frame.data);
        self.frames = self.frames.saturating_add(1);
        counters.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The header if no keyframe came (an empty but valid file), and the frame count.
    fn finish(self, out: &mut Vec<u8>) -> Option<Patch> {
        if !self.start.started {
            out.extend_from_slice(&file_header(self.fourcc(), 0, 0, IVF_TIMEBASE_DEN, 1));
        }
        (self.frames > 0).then(|| Patch {
            offset: FRAME_COUNT_OFFSET,
            bytes: self.frames.to_le_bytes().to_vec(),
        })
    }
}

/// A byte buffer `OggWriter` writes into while the recorder takes the bytes out.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Moves the bytes written so far to the end of `out`.
    fn take_into(&self, out: &mut Vec<u8>) {
        let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        out.append(&mut buf);
    }
}

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opus into Ogg.
struct OggRecorder {
    writer: OggWriter<SharedBuf>,
    /// What `writer` wrote and was not taken yet.
    written: SharedBuf,
    /// The last RTP timestamp received and the timestamp given to the writer for it.
    last: Option<(u32, u64)>,
}

/// Where the timestamps given to `OggWriter` start (it treats 1 specially).
const OGG_FIRST_TIMESTAMP: u64 = 1000;

impl OggRecorder {
    /// A recorder whose first output holds the Ogg Opus headers.
    fn new(channels: u16) -> Result<OggRecorder, MediaError> {
        let channels = u8::try_from(channels.clamp(1, 2)).unwrap_or(2);
        let written = SharedBuf::default();
        let writer = OggWriter::new(written.clone(), 48_000, channels)
            .map_err(|e| MediaError::Io(format!("writing the Ogg headers: {e}")))?;
        Ok(OggRecorder {
            writer,
            written,
            last: None,
        })
    }

    fn write(
        &mut self,
        packet: &Packet,
        counters: &Counters,
        out: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        let result = self.write_page(packet, counters);
        self.written.take_into(out);
        result
    }

    fn write_page(&mut self, packet: &Packet, counters: &Counters) -> Result<(), MediaError> {
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

    /// The end-of-stream page.
    fn finish(mut self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        let closed = self
            .writer
            .close()
            .map_err(|e| MediaError::Io(format!("closing the Ogg file: {e}")));
        self.written.take_into(out);
        closed
    }
}

/// H264 into an Annex-B elementary stream, from the first keyframe on.
struct H264Recorder {
    assembler: H264Assembler,
    start: KeyframeStart,
}

impl H264Recorder {
    fn new() -> H264Recorder {
        H264Recorder {
            assembler: H264Assembler::new(),
            start: KeyframeStart::default(),
        }
    }

    fn write(
        &mut self,
        packet: &Packet,
        counters: &Counters,
        out: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        let au = self
            .assembler
            .push(packet)
            .filter(|au| self.start.admit(au.keyframe));
        self.start.store_drops(
            counters,
            self.assembler.dropped_packets(),
            self.assembler.dropped_frames(),
        );
        if let Some(au) = au {
            out.extend_from_slice(&au.data);
            counters.written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// PCMU payloads, concatenated: raw µ-law at 8 kHz. Duplicated or reordered packets are
/// dropped.
struct MulawRecorder {
    /// The last sequence number written.
    last: Option<u16>,
}

impl MulawRecorder {
    fn write(
        &mut self,
        packet: &Packet,
        counters: &Counters,
        out: &mut Vec<u8>,
    ) -> Result<(), MediaError> {
        let seq = packet.header.sequence_number;
        if let Some(last) = self.last {
            if (seq.wrapping_sub(last) as i16) <= 0 {
                counters.dropped_packets.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        self.last = Some(seq);
        out.extend_from_slice(&packet.payload);
        counters.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::ivf::IvfWriter;
    use crate::source::annexb::access_units;
    use crate::source::ivf::IvfReader;
    use crate::source::ogg::{parse_page, OggPackets};
    use crate::source::packetizer::RtpPacketizer;
    use bytes::Bytes;
    use std::io::Cursor;

    const VP8: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp8.ivf");
    const VP9: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp9.ivf");
    const H264: &[u8] = include_bytes!("../../tests/fixtures/testsrc.h264");
    const OGG: &[u8] = include_bytes!("../../tests/fixtures/sine.ogg");
    const ULAW: &[u8] = include_bytes!("../../tests/fixtures/sine.ulaw");

    fn temp_path(name: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("peer-media-unit-{}-{n}-{name}", std::process::id()))
    }

    /// Packetizes `(frame, media time)` units as a source would.
    fn packetize(codec: Codec, units: &[(Vec<u8>, u64)]) -> Vec<Packet> {
        let mut p = RtpPacketizer::new(codec);
        units
            .iter()
            .flat_map(|(f, t)| p.packetize(&Bytes::from(f.clone()), *t).unwrap())
            .collect()
    }

    /// What a `FileSink` makes of `packets`: its recorder and its writer, into a real file.
    async fn record(codec: Codec, packets: &[Packet]) -> (Vec<u8>, FileSinkStats) {
        let path = temp_path(&format!("{codec}"));
        let writer = FileWriter::create(&path).await.unwrap();
        let mut recording = Recording::new(Recorder::new(codec, 2).unwrap(), writer);
        let counters = Counters::default();
        for p in packets {
            recording.push(p, &counters).await.unwrap();
        }
        recording.finish().await.unwrap();
        let data = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        (data, counters.snapshot())
    }

    /// The µ-law fixture as PCMU packets of 20 ms (160 samples).
    fn pcmu_packets() -> Vec<Packet> {
        let units: Vec<(Vec<u8>, u64)> = ULAW
            .chunks(160)
            .enumerate()
            .map(|(i, c)| (c.to_vec(), i as u64 * 160))
            .collect();
        packetize(Codec::Pcmu, &units)
    }

    /// IVF frames and their pts on the 90 kHz clock.
    fn ivf_units(data: &[u8]) -> Vec<(Vec<u8>, u64)> {
        let mut r = IvfReader::new(data).unwrap();
        let h = *r.header();
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            out.push((f.data.to_vec(), h.pts_to_clock(f.pts, 90_000)));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ivf_recordings_are_what_the_ivf_writer_writes() {
        for (codec, data, fourcc) in [(Codec::Vp8, VP8, *b"VP80"), (Codec::Vp9, VP9, *b"VP90")] {
            let units = ivf_units(data);
            let (got, stats) = record(codec, &packetize(codec, &units)).await;
            let mut want =
                IvfWriter::new(Cursor::new(Vec::new()), fourcc, 320, 240, 90_000, 1).unwrap();
            for (frame, t) in &units {
                want.write_frame(t - units[0].1, frame).unwrap();
            }
            let want = want.finish().unwrap().into_inner();
            assert_eq!(got, want, "{codec}");
            assert_eq!(stats.written, 60, "{codec}");
            assert_eq!((stats.dropped_frames, stats.dropped_packets), (0, 0));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ivf_without_a_keyframe_is_an_empty_valid_file() {
        let units = ivf_units(VP8);
        let (got, stats) = record(Codec::Vp8, &packetize(Codec::Vp8, &units[1..20])).await;
        let want = IvfWriter::new(Cursor::new(Vec::new()), *b"VP80", 0, 0, 90_000, 1)
            .unwrap()
            .finish()
            .unwrap()
            .into_inner();
        assert_eq!(got, want);
        assert_eq!((stats.written, stats.dropped_frames), (0, 19));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn h264_and_pcmu_recordings_are_byte_exact() {
        let units: Vec<(Vec<u8>, u64)> = access_units(H264)
            .filter(|au| au.has_picture())
            .enumerate()
            .map(|(i, au)| (au.data.to_vec(), i as u64 * 3000))
            .collect();
        let packets = packetize(Codec::H264, &units);
        let (got, stats) = record(Codec::H264, &packets).await;
        let mut assembler = H264Assembler::new();
        let want: Vec<u8> = packets
            .iter()
            .filter_map(|p| assembler.push(p))
            .flat_map(|au| au.data)
            .collect();
        assert_eq!(got, want);
        assert_eq!(stats.written, 60);
        assert_eq!(access_units(&got).filter(|a| a.has_picture()).count(), 60);

        let (got, stats) = record(Codec::Pcmu, &pcmu_packets()).await;
        assert_eq!(got, ULAW);
        assert_eq!(stats.written, 100);
    }

    /// The Ogg pages with their serial number and CRC zeroed (the serial is random).
    fn without_serials(data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        let mut at = 0;
        while at < out.len() {
            let (_, len) = parse_page(&data[at..]).unwrap();
            out[at + 14..at + 18].fill(0);
            out[at + 22..at + 26].fill(0);
            at += len;
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ogg_recordings_are_what_the_ogg_writer_writes() {
        let mut units = Vec::new();
        for (i, p) in OggPackets::new(OGG).skip(2).enumerate() {
            units.push((p, i as u64 * 960));
        }
        assert_eq!(units.len(), 101);
        let packets = packetize(Codec::Opus, &units);
        let (got, stats) = record(Codec::Opus, &packets).await;
        assert_eq!(stats.written, 101);
        let buf = SharedBuf::default();
        let mut want = OggWriter::new(buf.clone(), 48_000, 2).unwrap();
        for p in &packets {
            let mut p = p.clone();
            p.header.timestamp = (OGG_FIRST_TIMESTAMP as u32)
                .wrapping_add(p.header.timestamp - packets[0].header.timestamp);
            want.write_rtp(&p).unwrap();
        }
        want.close().unwrap();
        let mut want_bytes = Vec::new();
        buf.take_into(&mut want_bytes);
        assert_eq!(without_serials(&got), without_serials(&want_bytes));
        let mut read = OggPackets::new(&got);
        let audio: Vec<Vec<u8>> = read.by_ref().skip(2).collect();
        assert_eq!(audio.len(), 102);
        assert_eq!(read.stats().bad_pages, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_ends_the_recording_with_an_error() {
        let path = Path::new("/dev/full");
        if !path.exists() {
            eprintln!("skipped: no /dev/full");
            return;
        }
        let packets = pcmu_packets();
        let writer = FileWriter::create(path).await.unwrap();
        let mut recording = Recording::new(Recorder::new(Codec::Pcmu, 1).unwrap(), writer);
        let counters = Counters::default();
        let mut error = None;
        for p in &packets {
            if let Err(e) = recording.push(p, &counters).await {
                error = Some(e);
                break;
            }
            // Let the writer task fail.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let finished = recording.finish().await;
        let e = error.unwrap_or_else(|| finished.clone().unwrap_err());
        assert!(
            matches!(&e, MediaError::Io(m) if m.contains("/dev/full")),
            "{e:?}"
        );
        assert_eq!(finished, Err(e));
    }
}
