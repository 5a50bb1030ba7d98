//! Paced playback of a media file into a [`LocalTrack`], in real time.
//!
//! The format follows the track's codec and is checked against the file:
//!
//! | codec | file |
//! |---|---|
//! | VP8, VP9 | IVF (fourcc `VP80` / `VP90`), paced by each frame's pts |
//! | H264 | Annex-B byte stream (`.h264`), paced at [`FileOptions::fps`] (default 30) |
//! | Opus | Ogg Opus (`.ogg`, `.opus`), paced by each packet's duration (its TOC byte) |
//! | PCMU | raw G.711 µ-law, 8 kHz mono (`.ulaw`, `.pcmu`), 20 ms per packet |
//!
//! The file is read and split into frames when the source starts (a damaged tail is skipped and
//! counted in [`FileSourceStats::skipped`]); each frame is sent at `start + media time`, absolute
//! deadlines so that delays do not accumulate. With [`FileOptions::looped`], playback restarts
//! at the end with continuous RTP timestamps and sequence numbers.

use super::annexb;
use super::ivf::IvfReader;
use super::ogg::OggPackets;
use super::opus::{packet_samples, OpusHead};
use super::packetizer::RtpPacketizer;
use super::runner::{Runner, StopSignal};
use crate::codec::Codec;
use crate::error::MediaError;
use crate::track::LocalTrack;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How a file is played.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// Restart at the end, forever (until stopped).
    pub looped: bool,
    /// Frames per second of an H264 Annex-B file (which carries no timing); 30 when `None`.
    /// Ignored for the other formats.
    pub fps: Option<u32>,
}

/// The container a [`FileSource`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// IVF with VP8 or VP9 frames.
    Ivf,
    /// H.264 Annex-B byte stream.
    AnnexB,
    /// Ogg Opus.
    OggOpus,
    /// Raw G.711 µ-law samples.
    Mulaw,
}

impl FileFormat {
    /// The format a track of `codec` plays.
    pub fn for_codec(codec: Codec) -> FileFormat {
        match codec {
            Codec::Vp8 | Codec::Vp9 => FileFormat::Ivf,
            Codec::H264 => FileFormat::AnnexB,
            Codec::Opus => FileFormat::OggOpus,
            Codec::Pcmu => FileFormat::Mulaw,
        }
    }
}

/// Counters of a [`FileSource`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSourceStats {
    /// Frames (video) or audio packets sent.
    pub frames: u64,
    /// RTP packets written to the track.
    pub packets: u64,
    /// RTP payload bytes written.
    pub bytes: u64,
    /// Passes over the file completed.
    pub loops: u64,
    /// Damaged or unusable parts of the file skipped when it was loaded (a truncated last
    /// frame, an Ogg page with a bad CRC, an access unit without a slice, ...).
    pub skipped: u64,
    /// Packets the track refused to send.
    pub write_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
    loops: AtomicU64,
    skipped: AtomicU64,
    write_errors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> FileSourceStats {
        FileSourceStats {
            frames: self.frames.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            loops: self.loops.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }
}

/// One frame (video) or packet (audio) to send.
#[derive(Debug, Clone)]
struct Unit {
    payload: Bytes,
    /// Media time in ticks of the codec's clock since the start of the file.
    time: u64,
}

/// A file split into units.
#[derive(Debug, Clone)]
struct Playlist {
    units: Vec<Unit>,
    /// The length of one pass, in clock ticks (where the next pass starts).
    duration: u64,
    /// Damaged or unusable parts skipped.
    skipped: u64,
}

/// Plays a file into a track in real time. Stops at the end of the file (unless looped), on
/// [`FileSource::stop`], or when dropped.
#[derive(Debug)]
pub struct FileSource {
    runner: Runner<FileSourceStats>,
    counters: Arc<Counters>,
    format: FileFormat,
    codec: Codec,
    frames_per_pass: usize,
    duration: Duration,
}

impl FileSource {
    /// Reads `path` as the format of `track`'s codec (see the [module docs](self)) and starts
    /// sending it. Errors: the file cannot be read, is not in that format, holds another codec
    /// (an IVF of VP9 for a VP8 track), or has no frame; `options.fps` is `Some(0)`.
    pub async fn start(
        path: impl AsRef<Path>,
        track: LocalTrack,
        options: FileOptions,
    ) -> Result<FileSource, MediaError> {
        let path: PathBuf = path.as_ref().to_owned();
        let codec = track.codec();
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| MediaError::Io(format!("no tokio runtime: {e}")))?;
        let loaded = runtime
            .spawn_blocking(move || {
                let data = std::fs::read(&path)
                    .map_err(|e| MediaError::Io(format!("{}: {e}", path.display())))?;
                load(codec, Bytes::from(data), &options)
            })
            .await
            .map_err(|e| MediaError::Io(format!("loading the file: {e}")))??;
        FileSource::play(loaded, track, options)
    }

    /// Like [`FileSource::start`], with the file's contents in memory.
    pub fn start_bytes(
        data: impl Into<Bytes>,
        track: LocalTrack,
        options: FileOptions,
    ) -> Result<FileSource, MediaError> {
        let playlist = load(track.codec(), data.into(), &options)?;
        FileSource::play(playlist, track, options)
    }

    fn play(
        playlist: Playlist,
        track: LocalTrack,
        options: FileOptions,
    ) -> Result<FileSource, MediaError> {
        let codec = track.codec();
        let counters = Arc::new(Counters::default());
        counters.skipped.store(playlist.skipped, Ordering::Relaxed);
        let frames_per_pass = playlist.units.len();
        let duration = ticks_to_duration(playlist.duration, codec.clock_rate());
        let c = counters.clone();
        let runner = Runner::spawn(move |stop| run(track, playlist, options.looped, c, stop))?;
        Ok(FileSource {
            runner,
            counters,
            format: FileFormat::for_codec(codec),
            codec,
            frames_per_pass,
            duration,
        })
    }

    /// The file's format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The codec sent.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Frames (video) or packets (audio) in one pass over the file.
    pub fn frames_per_pass(&self) -> usize {
        self.frames_per_pass
    }

    /// The playing time of one pass over the file.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The counters so far.
    pub fn stats(&self) -> FileSourceStats {
        self.counters.snapshot()
    }

    /// Stops playback (the packets of the current frame are still sent).
    pub fn stop(&self) {
        self.runner.stop();
    }

    /// Whether playback has ended.
    pub fn is_finished(&self) -> bool {
        self.runner.is_finished()
    }

    /// Waits until playback ends (the end of the file, or [`FileSource::stop`]) and returns the
    /// final counters.
    pub async fn finished(&self) -> Result<FileSourceStats, MediaError> {
        self.runner.finished().await
    }
}

/// The playback loop.
async fn run(
    track: LocalTrack,
    playlist: Playlist,
    looped: bool,
    counters: Arc<Counters>,
    mut stop: StopSignal,
) -> Result<FileSourceStats, MediaError> {
    let codec = track.codec();
    let clock = codec.clock_rate();
    let mut packetizer = RtpPacketizer::new(codec);
    let start = Instant::now();
    let mut offset: u64 = 0;
    loop {
        for unit in &playlist.units {
            let time = offset.saturating_add(unit.time);
            let deadline = start + ticks_to_duration(time, clock);
            tokio::select! {
                biased;
                _ = stop.stopped() => return Ok(counters.snapshot()),
                _ = tokio::time::sleep_until(deadline) => {}
            }
            let packets = match packetizer.packetize(&unit.payload, time) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(%e, "file source: frame not packetized");
                    counters.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            for packet in &packets {
                match track.write_rtp(packet).await {
                    Ok(()) => {
                        counters.packets.fetch_add(1, Ordering::Relaxed);
                        counters
                            .bytes
                            .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if counters.write_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                            tracing::warn!(%e, "file source: writing to the track failed");
                        }
                    }
                }
            }
            counters.frames.fetch_add(1, Ordering::Relaxed);
        }
        counters.loops.fetch_add(1, Ordering::Relaxed);
        if !looped || playlist.units.is_empty() {
            return Ok(counters.snapshot());
        }
        offset = offset.saturating_add(playlist.duration);
    }
}

/// `ticks` of a `clock_rate` clock as a duration (saturating).
fn ticks_to_duration(ticks: u64, clock_rate: u32) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(clock_rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Splits a file's contents into units for a track of `codec`.
fn load(codec: Codec, data: Bytes, options: &FileOptions) -> Result<Playlist, MediaError> {
    let playlist = match FileFormat::for_codec(codec) {
        FileFormat::Ivf => load_ivf(codec, &data)?,
        FileFormat::AnnexB => load_annexb(&data, options.fps.unwrap_or(30))?,
        FileFormat::OggOpus => load_ogg_opus(&data)?,
        FileFormat::Mulaw => load_mulaw(&data)?,
    };
    if playlist.skipped > 0 {
        tracing::warn!(
            skipped = playlist.skipped,
            "file source: damaged or unusable parts of the file skipped"
        );
    }
    Ok(playlist)
}

/// Rejects files that are obviously of another format, with a message naming it.
fn check_not_other(data: &[u8], expected: &str) -> Result<(), MediaError> {
    let other = if data.starts_with(b"DKIF") {
        Some("an IVF file")
    } else if data.starts_with(b"OggS") {
        Some("an Ogg file")
    } else if data.starts_with(b"RIFF") {
        Some("a RIFF (WAV/AVI) file")
    } else if data.get(4..8) == Some(b"ftyp") {
        Some("an MP4 file")
    } else if data.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("a Matroska/WebM file")
    } else {
        None
    };
    match other {
        Some(o) => Err(MediaError::InvalidFormat(format!(
            "expected {expected}, found {o}"
        ))),
        None => Ok(()),
    }
}

fn load_ivf(codec: Codec, data: &Bytes) -> Result<Playlist, MediaError> {
    let mut reader = IvfReader::new(data)?;
    let header = *reader.header();
    match header.codec() {
        Some(c) if c == codec => {}
        Some(c) => {
            return Err(MediaError::InvalidFormat(format!(
                "the IVF file holds {c} (fourcc {}) but the track sends {codec}",
                header.fourcc_str()
            )))
        }
        None => {
            return Err(MediaError::InvalidFormat(format!(
                "the IVF file's fourcc {} is neither VP80 nor VP90 (the track sends {codec})",
                header.fourcc_str()
            )))
        }
    }
    let clock = codec.clock_rate();
    let mut units: Vec<Unit> = Vec::new();
    let mut skipped = 0;
    let mut first_pts = None;
    let mut last_time = 0;
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                let first = *first_pts.get_or_insert(frame.pts);
                // Keep media time monotonic even if the pts go backwards.
                let time = header
                    .pts_to_clock(frame.pts.saturating_sub(first), clock)
                    .max(last_time);
                last_time = time;
                if frame.data.is_empty() {
                    skipped += 1;
                    continue;
                }
                units.push(Unit {
                    payload: data.slice_ref(frame.data),
                    time,
                });
            }
            Ok(None) => break,
            Err(e) if !units.is_empty() => {
                tracing::warn!(%e, "file source: IVF file damaged; playing the frames before");
                skipped += 1;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if units.is_empty() {
        return Err(MediaError::InvalidFormat(
            "the IVF file has no frames".into(),
        ));
    }
    // One pass lasts until one frame interval after the last frame.
    let one_unit = header.pts_to_clock(1, clock).max(1);
    let interval = match units.len() {
        0 | 1 => one_unit,
        n => (last_time / (n as u64 - 1)).max(1),
    };
    Ok(Playlist {
        units,
        duration: last_time + interval,
        skipped,
    })
}

fn load_annexb(data: &Bytes, fps: u32) -> Result<Playlist, MediaError> {
    if fps == 0 {
        return Err(MediaError::InvalidFormat(
            "H264 frame rate must be above 0".into(),
        ));
    }
    check_not_other(data, "an H264 Annex-B stream")?;
    let clock = u64::from(Codec::H264.clock_rate());
    let aus = annexb::access_units(data);
    let mut skipped = u64::from(aus.leading_garbage() > 0);
    let mut units = Vec::new();
    for au in aus {
        if !au.has_picture() {
            skipped += 1;
            continue;
        }
        let n = units.len() as u64;
        units.push(Unit {
            payload: data.slice_ref(au.data),
            time: n * clock / u64::from(fps),
        });
    }
    if units.is_empty() {
        return Err(MediaError::InvalidFormat(
            "no H264 pictures found (not an Annex-B byte stream?)".into(),
        ));
    }
    Ok(Playlist {
        duration: units.len() as u64 * clock / u64::from(fps),
        units,
        skipped,
    })
}

fn load_ogg_opus(data: &Bytes) -> Result<Playlist, MediaError> {
    if !data.starts_with(b"OggS") {
        check_not_other(data, "an Ogg Opus file")?;
    }
    let mut packets = OggPackets::new(data);
    let Some(head) = packets.next() else {
        return Err(MediaError::InvalidFormat(
            "not an Ogg file: no valid Ogg page".into(),
        ));
    };
    OpusHead::parse(&head)?;
    let mut units = Vec::new();
    let mut skipped = 0;
    let mut time = 0u64;
    for (i, packet) in packets.by_ref().enumerate() {
        if i == 0 && packet.starts_with(b"OpusTags") {
            continue;
        }
        match packet_samples(&packet) {
            Ok(samples) => {
                units.push(Unit {
                    payload: Bytes::from(packet),
                    time,
                });
                time += u64::from(samples);
            }
            Err(e) => {
                tracing::debug!(%e, "file source: Opus packet skipped");
                skipped += 1;
            }
        }
    }
    let st = packets.stats();
    skipped += st.bad_pages + st.dropped_packets;
    if units.is_empty() {
        return Err(MediaError::InvalidFormat(
            "the Ogg Opus file has no audio packets".into(),
        ));
    }
    Ok(Playlist {
        units,
        duration: time,
        skipped,
    })
}

/// 20 ms of 8 kHz µ-law.
const MULAW_PACKET: usize = 160;

fn load_mulaw(data: &Bytes) -> Result<Playlist, MediaError> {
    check_not_other(data, "raw µ-law samples")?;
    if data.is_empty() {
        return Err(MediaError::InvalidFormat("the µ-law file is empty".into()));
    }
    let units = (0..data.len())
        .step_by(MULAW_PACKET)
        .map(|at| Unit {
            payload: data.slice(at..(at + MULAW_PACKET).min(data.len())),
            time: at as u64,
        })
        .collect();
    Ok(Playlist {
        units,
        duration: data.len() as u64,
        skipped: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VP8: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp8.ivf");
    const VP9: &[u8] = include_bytes!("../../tests/fixtures/testsrc-vp9.ivf");
    const H264: &[u8] = include_bytes!("../../tests/fixtures/testsrc.h264");
    const OGG: &[u8] = include_bytes!("../../tests/fixtures/sine.ogg");
    const ULAW: &[u8] = include_bytes!("../../tests/fixtures/sine.ulaw");

    fn load_static(codec: Codec, data: &'static [u8]) -> Result<Playlist, MediaError> {
        load(codec, Bytes::from_static(data), &FileOptions::default())
    }

    #[test]
    fn fixtures_load_with_two_second_passes() {
        for (codec, data, units) in [
            (Codec::Vp8, VP8, 60),
            (Codec::Vp9, VP9, 60),
            (Codec::H264, H264, 60),
            (Codec::Pcmu, ULAW, 100),
        ] {
            let p = load_static(codec, data).unwrap();
            assert_eq!(p.units.len(), units, "{codec}");
            assert_eq!(p.skipped, 0, "{codec}");
            assert_eq!(
                ticks_to_duration(p.duration, codec.clock_rate()),
                Duration::from_secs(2),
                "{codec}"
            );
            assert!(p.units.windows(2).all(|w| w[0].time < w[1].time));
        }
        let p = load_static(Codec::Opus, OGG).unwrap();
        assert_eq!(p.units.len(), 101);
        assert_eq!(p.units[1].time, 960);
        assert_eq!(p.duration, 101 * 960);
    }

    #[test]
    fn h264_fps_option() {
        let opts = FileOptions {
            fps: Some(15),
            ..Default::default()
        };
        let p = load(Codec::H264, Bytes::from_static(H264), &opts).unwrap();
        assert_eq!(p.units[1].time, 6000);
        assert_eq!(p.duration, 60 * 6000);
        let zero = FileOptions {
            fps: Some(0),
            ..Default::default()
        };
        assert!(load(Codec::H264, Bytes::from_static(H264), &zero).is_err());
    }

    #[test]
    fn codec_must_match_the_file() {
        let e = load_static(Codec::Vp8, VP9).unwrap_err();
        assert!(
            matches!(&e, MediaError::InvalidFormat(m) if m.contains("VP90")),
            "{e}"
        );
        assert!(load_static(Codec::Vp9, VP8).is_err());
        assert!(load_static(Codec::H264, VP8).is_err());
        assert!(load_static(Codec::H264, OGG).is_err());
        assert!(load_static(Codec::Opus, VP8).is_err());
        assert!(load_static(Codec::Opus, H264).is_err());
        assert!(load_static(Codec::Pcmu, OGG).is_err());
        assert!(load_static(Codec::Vp8, H264).is_err());
    }

    #[test]
    fn truncated_files_play_what_is_complete() {
        let p = load(
            Codec::Vp8,
            Bytes::from_static(&VP8[..VP8.len() - 5]),
            &FileOptions::default(),
        )
        .unwrap();
        assert_eq!(p.units.len(), 59);
        assert_eq!(p.skipped, 1);
        assert!(load(
            Codec::Vp8,
            Bytes::from_static(&VP8[..40]),
            &FileOptions::default()
        )
        .is_err());
        assert!(load(
            Codec::Vp8,
            Bytes::from_static(&VP8[..20]),
            &FileOptions::default()
        )
        .is_err());
        let p = load(
            Codec::Opus,
            Bytes::from_static(&OGG[..OGG.len() / 2]),
            &FileOptions::default(),
        )
        .unwrap();
        assert!(p.units.len() > 30 && p.units.len() < 101);
        assert!(load(
            Codec::Opus,
            Bytes::from_static(&OGG[..50]),
            &FileOptions::default()
        )
        .is_err());
        let p = load(
            Codec::H264,
            Bytes::from_static(&H264[..H264.len() / 2]),
            &FileOptions::default(),
        )
        .unwrap();
        assert!(p.units.len() < 60);
        assert!(load(Codec::Pcmu, Bytes::new(), &FileOptions::default()).is_err());
        let p = load(
            Codec::Pcmu,
            Bytes::from_static(&ULAW[..200]),
            &FileOptions::default(),
        )
        .unwrap();
        assert_eq!(p.units.len(), 2);
        assert_eq!(p.units[1].payload.len(), 40);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = peer_testkit::Rng::new(0x0123_4567_89ab_cdef);
        for len in [0usize, 1, 4, 12, 31, 32, 33, 44, 100, 1000, 5000] {
            let data = rng.bytes(len);
            for codec in Codec::ALL {
                let _ = load(codec, Bytes::from(data.clone()), &FileOptions::default());
                let mut prefixed = match codec {
                    Codec::Vp8 | Codec::Vp9 => VP8[..32].to_vec(),
                    Codec::Opus => OGG[..200].to_vec(),
                    Codec::H264 => vec![0, 0, 0, 1, 0x65],
                    Codec::Pcmu => vec![],
                };
                prefixed.extend_from_slice(&data);
                let _ = load(codec, Bytes::from(prefixed), &FileOptions::default());
            }
        }
    }

    #[test]
    fn ticks() {
        assert_eq!(ticks_to_duration(90_000, 90_000), Duration::from_secs(1));
        assert_eq!(ticks_to_duration(960, 48_000), Duration::from_millis(20));
        assert_eq!(
            ticks_to_duration(u64::MAX, 1),
            Duration::from_nanos(u64::MAX)
        );
    }
}
