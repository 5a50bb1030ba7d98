//! `call` and `answer`: one MediaConnection whose local tracks are fed from UDP ports (RTP from
//! GStreamer or ffmpeg) or files, and whose remote tracks go to UDP ports or files.
//!
//! The order of things:
//!
//! 1. Before going online, every source is prepared so that mistakes are reported first: RTP
//!    sockets are bound (their addresses printed on stdout) and files are read and parsed.
//! 2. The call is made (or the first incoming call answered).
//! 3. When the call is open, file playback starts (RTP sources forward from the start; packets
//!    that arrive before the connection is up are dropped, as a camera's frames would be).
//! 4. Each remote track gets its sink as it starts, and a line on stdout says how to consume it.
//! 5. The call ends when the remote side closes it, on Ctrl-C or at the end of stdin (then this
//!    side closes it with force). Sinks are stopped and their files finalized, and a summary
//!    goes to stderr.

use crate::args::{Common, KindArgs, MediaArgs, Output, SendSpec, Source};
use crate::session;
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use peer::media::sink::{FileSink, UdpSink};
use peer::media::source::ivf::IvfHeader;
use peer::media::source::{FileOptions, FileSource, RtpUdpSource};
use peer::media::MediaError;
use peer::{
    AnswerOptions, CallOptions, Codec, LocalTrack, MediaConnection, MediaConnectionEvent,
    MediaKind, MediaStream, Peer, RemoteTrack,
};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long the sinks may take to finalize their files at the end.
const FINISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the error that explains a call closed before it opened.
const ERROR_GRACE: Duration = Duration::from_secs(2);

/// Why the command ends on this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// The end of stdin.
    EndOfInput,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Interrupted => "interrupted",
            Stop::EndOfInput => "end of input",
        })
    }
}

/// Watches Ctrl-C and the end of stdin. A second Ctrl-C exits at once (130).
fn stop_signals() -> watch::Receiver<Option<Stop>> {
    let (tx, rx) = watch::channel(None);
    let tx = Arc::new(tx);
    let set = |tx: &watch::Sender<Option<Stop>>, why: Stop| {
        tx.send_if_modified(|s| match s {
            None => {
                *s = Some(why);
                true
            }
            Some(_) => false,
        });
    };
    let ctrl_c = tx.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        set(&ctrl_c, Stop::Interrupted);
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted");
            std::process::exit(130);
        }
    });
    // A thread of its own: a blocking read must not hold up the runtime's shutdown.
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match input.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("warning: reading stdin: {e}");
                    break;
                }
            }
        }
        set(&tx, Stop::EndOfInput);
    });
    rx
}

/// Resolves once Ctrl-C was pressed or stdin ended.
async fn stopped(rx: &mut watch::Receiver<Option<Stop>>) -> Stop {
    let why = match rx.wait_for(Option::is_some).await {
        Ok(v) => *v,
        Err(_) => None,
    };
    match why {
        Some(why) => why,
        None => std::future::pending().await,
    }
}

/// Writes one line on stdout (where the consumable lines go) and flushes it.
fn out(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|_| stdout.flush())
        .context("writing to stdout")
}

/// The codec a source sends: `--video-codec`/`--audio-codec` (or the forced codec, which the
/// parser already put there); else, for a file, the file's own (an IVF file's fourcc, `.h264`,
/// `.ulaw`/`.pcmu`); else VP8 or Opus.
pub fn resolve_codec(kind: MediaKind, spec: &SendSpec, head: &[u8]) -> Codec {
    if let Some(c) = spec.codec {
        return c;
    }
    let ext = match &spec.source {
        Source::File(p) => p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase()),
        Source::Rtp(_) => None,
    };
    match kind {
        MediaKind::Video => {
            if head.starts_with(b"DKIF") {
                if let Some(c) = IvfHeader::parse(head).ok().and_then(|h| h.codec()) {
                    return c;
                }
            }
            match ext.as_deref() {
                Some("h264" | "264") => Codec::H264,
                _ => Codec::Vp8,
            }
        }
        MediaKind::Audio => match ext.as_deref() {
            Some("ulaw" | "pcmu" | "mulaw" | "ul") => Codec::Pcmu,
            _ => Codec::Opus,
        },
    }
}

/// The `videoReceiveEnabled`/`audioReceiveEnabled` option of a kind: unset when the kind is
/// sent (it is then received anyway), else whether to receive it.
pub fn receive_enabled(k: &KindArgs) -> Option<bool> {
    match k.send {
        Some(_) => None,
        None => Some(k.receive),
    }
}

/// The SDK options of `call`.
pub fn call_options(media: &MediaArgs, metadata: Option<serde_json::Value>) -> CallOptions {
    let mut options = CallOptions::new();
    options.metadata = metadata;
    options.video_bandwidth = media.video.bandwidth;
    options.audio_bandwidth = media.audio.bandwidth;
    options.video_codec = media.video.force_codec.map(|c| c.rtpmap_name().to_owned());
    options.audio_codec = media.audio.force_codec.map(|c| c.rtpmap_name().to_owned());
    options.video_receive_enabled = receive_enabled(&media.video);
    options.audio_receive_enabled = receive_enabled(&media.audio);
    options
}

/// The SDK options of `answer`.
pub fn answer_options(media: &MediaArgs) -> AnswerOptions {
    let mut options = AnswerOptions::new();
    options.video_bandwidth = media.video.bandwidth;
    options.audio_bandwidth = media.audio.bandwidth;
    options.video_codec = media.video.force_codec.map(|c| c.rtpmap_name().to_owned());
    options.audio_codec = media.audio.force_codec.map(|c| c.rtpmap_name().to_owned());
    options
}

/// A source ready to send, prepared before going online.
enum Prepared {
    /// A bound RTP socket, already forwarding to the track.
    Rtp(RtpUdpSource),
    /// A file read and checked, played once the call is open.
    File {
        path: PathBuf,
        data: Bytes,
        options: FileOptions,
    },
}

/// One kind this side sends.
struct Sending {
    kind: MediaKind,
    track: LocalTrack,
    prepared: Prepared,
}

/// What this side sends: the stream for the call and its sources.
pub(crate) struct Outgoing {
    stream: MediaStream,
    sending: Vec<Sending>,
}

impl Outgoing {
    /// The stream to call or answer with; `None` when nothing is sent (a receive-only call).
    pub(crate) fn stream(&self) -> Option<&MediaStream> {
        (!self.sending.is_empty()).then_some(&self.stream)
    }
}

/// Binds the RTP sources, reads and checks the files, creates `--sdp-dir` and checks where
/// recordings go; prints a line per source on stdout.
pub(crate) async fn prepare(media: &MediaArgs) -> Result<Outgoing> {
    let mut stream = MediaStream::new();
    let mut sending = Vec::new();
    for kind in [MediaKind::Video, MediaKind::Audio] {
        let k = media.kind(kind);
        if let Some(Output::File(path)) = &k.output {
            check_writable(path)
                .with_context(|| format!("cannot record {kind} to {}", path.display()))?;
        }
        let Some(spec) = &k.send else {
            continue;
        };
        match &spec.source {
            Source::Rtp(addr) => {
                let codec = resolve_codec(kind, spec, &[]);
                let track = stream.add_track(codec);
                let source = RtpUdpSource::bind(*addr, track.clone())
                    .await
                    .map_err(|e| anyhow!("cannot receive the {kind} RTP on {addr}: {e}"))?;
                out(&format!(
                    "sending {kind} from udp {} ({codec})",
                    source.local_addr()
                ))?;
                sending.push(Sending {
                    kind,
                    track,
                    prepared: Prepared::Rtp(source),
                });
            }
            Source::File(path) => {
                let data = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let data = Bytes::from(data);
                let codec = resolve_codec(kind, spec, &data);
                let options = FileOptions {
                    looped: media.looped,
                    fps: media.fps,
                };
                // Parse it now, on a track that is bound to nothing: a bad file is reported
                // before the call is made.
                let probe =
                    FileSource::start_bytes(data.clone(), LocalTrack::new(codec, "probe"), options)
                        .map_err(|e| anyhow!("cannot send {} as {codec}: {e}", path.display()))?;
                probe.stop();
                out(&format!(
                    "sending {kind} from file {} ({codec}, {} {} of {:.2} s{})",
                    path.display(),
                    probe.frames_per_pass(),
                    if kind == MediaKind::Video {
                        "frames"
                    } else {
                        "packets"
                    },
                    probe.duration().as_secs_f64(),
                    if media.looped { ", looped" } else { "" }
                ))?;
                let track = stream.add_track(codec);
                sending.push(Sending {
                    kind,
                    track,
                    prepared: Prepared::File {
                        path: path.clone(),
                        data,
                        options,
                    },
                });
            }
        }
    }
    if let Some(dir) = &media.sdp_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the --sdp-dir {}", dir.display()))?;
    }
    Ok(Outgoing { stream, sending })
}

/// Fails if `path` cannot become a file: it is a directory, or its directory does not exist.
fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("it is a directory");
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!("the directory {} does not exist", dir.display());
    }
    Ok(())
}

/// `peer-cli call`: calls `remote` and runs the call until it ends.
pub async fn call(
    common: &Common,
    remote: &str,
    media: &MediaArgs,
    metadata: Option<serde_json::Value>,
) -> Result<()> {
    let mut stop = stop_signals();
    let outgoing = prepare(media).await?;
    let peer = tokio::select! {
        p = session::open_peer(common) => p?,
        why = stopped(&mut stop) => {
            eprintln!("{why}; not calling");
            return Ok(());
        }
    };
    let result = run_call(&peer, remote, media, metadata, outgoing, &mut stop).await;
    session::destroy(&peer).await;
    result
}

async fn run_call(
    peer: &Peer,
    remote: &str,
    media: &MediaArgs,
    metadata: Option<serde_json::Value>,
    outgoing: Outgoing,
    stop: &mut watch::Receiver<Option<Stop>>,
) -> Result<()> {
    eprintln!("calling \"{remote}\" as \"{}\"...", peer.id());
    let options = call_options(media, metadata);
    let conn = peer.call(remote, outgoing.stream(), options).await?;
    tokio::select! {
        r = wait_answered(peer, &conn, remote) => r?,
        why = stopped(stop) => {
            conn.close(true).await;
            eprintln!("{why}; call cancelled");
            return Ok(());
        }
    }
    session::drain_events(peer.clone());
    eprintln!("call with \"{remote}\" open ({})", conn.id());
    run_media(&conn, media, outgoing, stop).await
}

/// Waits until the remote side answered `conn`. An unknown peer fails with the server's
/// `peer-unavailable` error.
async fn wait_answered(peer: &Peer, conn: &MediaConnection, remote: &str) -> Result<()> {
    tokio::select! {
        r = conn.wait_open() => match r {
            Ok(()) => Ok(()),
            // A `peer-unavailable` closes the call just before its error event.
            Err(_) => Err(match tokio::time::timeout(ERROR_GRACE, session::next_error(peer)).await {
                Ok(e) => e,
                Err(_) => anyhow!("the call to \"{remote}\" closed before it was answered"),
            }),
        },
        e = session::next_error(peer) => {
            conn.close(true).await;
            Err(e)
        }
    }
}

/// `peer-cli answer`: waits for the first call, answers it and runs it until it ends.
pub async fn answer(common: &Common, media: &MediaArgs) -> Result<()> {
    let mut stop = stop_signals();
    let outgoing = prepare(media).await?;
    let peer = tokio::select! {
        p = session::open_peer(common) => p?,
        why = stopped(&mut stop) => {
            eprintln!("{why}; not answering");
            return Ok(());
        }
    };
    let result = run_answer(&peer, media, outgoing, &mut stop).await;
    session::destroy(&peer).await;
    result
}

async fn run_answer(
    peer: &Peer,
    media: &MediaArgs,
    outgoing: Outgoing,
    stop: &mut watch::Receiver<Option<Stop>>,
) -> Result<()> {
    eprintln!("listening as \"{}\"; waiting for a call", peer.id());
    let conn = tokio::select! {
        c = session::next_call(peer) => c?,
        why = stopped(stop) => {
            eprintln!("{why}; no call answered");
            return Ok(());
        }
    };
    let remote = conn.remote_id().to_owned();
    eprintln!("incoming call from \"{remote}\" ({})", conn.id());
    if let Some(m) = conn.metadata() {
        eprintln!("metadata: {m}");
    }
    if let Err(e) = conn.answer(outgoing.stream(), answer_options(media)).await {
        // Tell the caller, if the connection is not closed already.
        conn.close(true).await;
        return Err(e).with_context(|| format!("cannot answer the call from \"{remote}\""));
    }
    session::drain_events(peer.clone());
    eprintln!("answered the call from \"{remote}\"");
    run_media(&conn, media, outgoing, stop).await
}

/// A source that is sending.
pub(crate) enum Running {
    Rtp(RtpUdpSource),
    File { path: PathBuf, source: FileSource },
}

impl Running {
    pub(crate) fn stop(&self) {
        match self {
            Running::Rtp(s) => s.stop(),
            Running::File { source, .. } => source.stop(),
        }
    }

    /// Waits until the source ends; what it sent.
    pub(crate) async fn finished(&self) -> Result<String, MediaError> {
        Ok(match self {
            Running::Rtp(s) => {
                let st = s.finished().await?;
                let mut line = format!(
                    "sent {} RTP packets received on udp {}",
                    st.packets,
                    s.local_addr()
                );
                if st.malformed > 0 {
                    line.push_str(&format!(" ({} datagrams were not RTP)", st.malformed));
                }
                line
            }
            Running::File { path, source } => {
                let st = source.finished().await?;
                format!(
                    "sent {} {} of {} ({} complete passes)",
                    st.frames,
                    if source.codec().kind() == MediaKind::Video {
                        "frames"
                    } else {
                        "packets"
                    },
                    path.display(),
                    st.loops
                )
            }
        })
    }
}

/// Where a remote track goes.
enum Sink {
    Udp(UdpSink, MediaKind),
    File(FileSink),
    /// Read and dropped, so that nothing piles up in the stack.
    Discard(tokio::task::JoinHandle<u64>),
}

impl Sink {
    fn stop(&self) {
        match self {
            Sink::Udp(s, _) => s.stop(),
            Sink::File(s) => s.stop(),
            Sink::Discard(h) => h.abort(),
        }
    }

    /// Waits until the sink ends (its file is then complete); what it did, if anything.
    async fn finished(&self) -> Result<Option<String>, MediaError> {
        Ok(match self {
            Sink::Udp(s, kind) => {
                let st = s.finished().await?;
                let frames = match kind {
                    MediaKind::Video => {
                        format!(" ({} frames, {} keyframes)", st.frames, st.keyframes)
                    }
                    MediaKind::Audio => String::new(),
                };
                Some(format!(
                    "forwarded {} RTP packets{frames} to udp {}",
                    st.packets,
                    s.to()
                ))
            }
            Sink::File(s) => {
                let st = s.finished().await?;
                let unit = if s.codec().kind() == MediaKind::Video {
                    "frames"
                } else {
                    "packets"
                };
                Some(format!(
                    "recorded {} {unit} to {}",
                    st.written,
                    s.path().display()
                ))
            }
            Sink::Discard(_) => None,
        })
    }
}

/// What the watchers of sources and sinks report.
enum Ended {
    Source(MediaKind, Result<String, MediaError>),
    Sink(MediaKind, Result<Option<String>, MediaError>),
}

/// Runs an open call: starts the file sources, gives each remote track its sink, and waits
/// for the end.
async fn run_media(
    conn: &MediaConnection,
    media: &MediaArgs,
    outgoing: Outgoing,
    stop: &mut watch::Receiver<Option<Stop>>,
) -> Result<()> {
    let remote = conn.remote_id().to_owned();
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let mut sources: Vec<(MediaKind, Arc<Running>)> = Vec::new();
    let mut sinks: Vec<(MediaKind, Arc<Sink>)> = Vec::new();
    let result: Result<()> = async {
        // Files play from their start once media can flow: frames written before the call
        // is connected are lost, the first keyframe with them.
        if outgoing
            .sending
            .iter()
            .any(|s| matches!(s.prepared, Prepared::File { .. }))
        {
            tokio::select! {
                r = conn.wait_connected() => {
                    r.map_err(|_| anyhow!("the call closed before media could flow"))?
                }
                why = stopped(stop) => {
                    conn.close(true).await;
                    eprintln!("{why}; call closed");
                    return Ok(());
                }
            }
        }
        for (kind, running) in start_sources(outgoing)? {
            let (r, tx) = (running.clone(), ended_tx.clone());
            tokio::spawn(async move {
                let _ = tx.send(Ended::Source(kind, r.finished().await));
            });
            sources.push((kind, running));
        }
        loop {
            tokio::select! {
                ev = conn.next_event() => match ev {
                    Some(MediaConnectionEvent::Stream(id)) => eprintln!("remote stream {id}"),
                    Some(MediaConnectionEvent::Track(track)) => {
                        let kind = track.kind();
                        // A new track of a kind replaces the previous one (a renegotiation).
                        for (_, old) in sinks.iter().filter(|(k, _)| *k == kind) {
                            old.stop();
                        }
                        let (sink, line) = start_sink(track, media).await?;
                        out(&line)?;
                        let sink = Arc::new(sink);
                        let (s, tx) = (sink.clone(), ended_tx.clone());
                        tokio::spawn(async move {
                            let _ = tx.send(Ended::Sink(kind, s.finished().await));
                        });
                        sinks.push((kind, sink));
                    }
                    Some(MediaConnectionEvent::Error(e)) => eprintln!("warning: {e}"),
                    Some(MediaConnectionEvent::Close) | None => {
                        eprintln!("\"{remote}\" closed the call");
                        return Ok(());
                    }
                    Some(_) => {}
                },
                why = stopped(stop) => {
                    conn.close(true).await;
                    eprintln!("{why}; closed the call with \"{remote}\"");
                    return Ok(());
                }
                Some(ended) = ended_rx.recv() => match ended {
                    Ended::Source(kind, Ok(line)) => eprintln!("{kind}: the file ended ({line})"),
                    Ended::Source(kind, Err(e)) => bail!("sending {kind} failed: {e}"),
                    Ended::Sink(kind, Err(e)) => bail!("receiving {kind} failed: {e}"),
                    Ended::Sink(..) => {}
                },
            }
        }
    }
    .await;
    if result.is_err() {
        conn.close(true).await;
    }
    for (_, s) in &sources {
        s.stop();
    }
    for (_, s) in &sinks {
        s.stop();
    }
    // Summaries; waiting for the sinks finalizes their files.
    for (kind, s) in &sources {
        match tokio::time::timeout(FINISH_TIMEOUT, s.finished()).await {
            Ok(Ok(line)) => eprintln!("{kind}: {line}"),
            Ok(Err(e)) => eprintln!("warning: {kind}: {e}"),
            Err(_) => eprintln!("warning: {kind}: the source did not stop"),
        }
    }
    for (kind, s) in &sinks {
        match tokio::time::timeout(FINISH_TIMEOUT, s.finished()).await {
            Ok(Ok(Some(line))) => eprintln!("{kind}: {line}"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => eprintln!("warning: {kind}: {e}"),
            Err(_) => eprintln!("warning: {kind}: the output was not finalized in time"),
        }
    }
    result
}

/// Starts playing what [`prepare`] made ready (RTP sources are already receiving).
pub(crate) fn start_sources(outgoing: Outgoing) -> Result<Vec<(MediaKind, Arc<Running>)>> {
    let mut started = Vec::new();
    for s in outgoing.sending {
        let running = match s.prepared {
            Prepared::Rtp(source) => Running::Rtp(source),
            Prepared::File {
                path,
                data,
                options,
            } => {
                let source = FileSource::start_bytes(data, s.track, options)
                    .map_err(|e| anyhow!("cannot play {}: {e}", path.display()))?;
                Running::File { path, source }
            }
        };
        started.push((s.kind, Arc::new(running)));
    }
    Ok(started)
}

/// Starts the sink `media` asks for, for a remote track; the line telling how to consume it.
async fn start_sink(track: RemoteTrack, media: &MediaArgs) -> Result<(Sink, String)> {
    let kind = track.kind();
    let head = format!(
        "{kind} {} pt={}",
        track.encoding_name(),
        track.payload_type()
    );
    match &media.kind(kind).output {
        Some(Output::Udp(to)) => {
            let sink = UdpSink::start(track, *to)
                .await
                .map_err(|e| anyhow!("cannot forward the {kind} to {to}: {e}"))?;
            let mut line = format!("{head} -> udp {to} caps=\"{}\"", sink.caps());
            if let Some(dir) = &media.sdp_dir {
                let path = write_sdp(dir, kind, sink.sdp())?;
                line.push_str(&format!(" sdp={}", path.display()));
            }
            Ok((Sink::Udp(sink, kind), line))
        }
        Some(Output::File(path)) => {
            let codec = track.encoding_name();
            let sink = FileSink::start(track, path).await.map_err(|e| match e {
                MediaError::UnsupportedCodec(_) => anyhow!(
                    "cannot record the {kind} to {}: the call carries {codec}, and {} (use \
                     --{kind}-out instead; a browser can be asked for {} with \
                     --force-{kind}-codec)",
                    path.display(),
                    match kind {
                        MediaKind::Video =>
                            "--record-video writes VP8 and VP9 into IVF and H264 into Annex-B",
                        MediaKind::Audio => "--record-audio writes Opus into Ogg and PCMU raw",
                    },
                    match kind {
                        MediaKind::Video => "VP8",
                        MediaKind::Audio => "opus",
                    }
                ),
                e => anyhow!("cannot record the {kind} to {}: {e}", path.display()),
            })?;
            Ok((
                Sink::File(sink),
                format!("{head} -> file {}", path.display()),
            ))
        }
        None => {
            let reader = tokio::spawn(async move {
                let mut n = 0u64;
                while track.read_rtp().await.is_ok() {
                    n += 1;
                }
                n
            });
            Ok((
                Sink::Discard(reader),
                format!("{head} -> discarded (no --{kind}-out or --record-{kind})"),
            ))
        }
    }
}

/// Writes `DIR/<kind>.sdp`; its path.
fn write_sdp(dir: &Path, kind: MediaKind, sdp: &str) -> Result<PathBuf> {
    let path = dir.join(format!("{kind}.sdp"));
    std::fs::write(&path, sdp).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, codec: Option<Codec>) -> SendSpec {
        SendSpec {
            codec,
            source: Source::File(path.into()),
        }
    }

    #[test]
    fn codecs_are_resolved_from_flags_then_files() {
        let rtp = SendSpec {
            codec: None,
            source: Source::Rtp("127.0.0.1:5004".parse().unwrap()),
        };
        assert_eq!(resolve_codec(MediaKind::Video, &rtp, &[]), Codec::Vp8);
        assert_eq!(resolve_codec(MediaKind::Audio, &rtp, &[]), Codec::Opus);
        let vp9 = include_bytes!("../../peer-media/tests/fixtures/testsrc-vp9.ivf");
        let vp8 = include_bytes!("../../peer-media/tests/fixtures/testsrc-vp8.ivf");
        assert_eq!(
            resolve_codec(MediaKind::Video, &file("a.ivf", None), vp9),
            Codec::Vp9
        );
        assert_eq!(
            resolve_codec(MediaKind::Video, &file("a.ivf", None), vp8),
            Codec::Vp8
        );
        // The flag wins over the file.
        assert_eq!(
            resolve_codec(MediaKind::Video, &file("a.ivf", Some(Codec::Vp8)), vp9),
            Codec::Vp8
        );
        assert_eq!(
            resolve_codec(MediaKind::Video, &file("clip.H264", None), b"\0\0\0\x01"),
            Codec::H264
        );
        assert_eq!(
            resolve_codec(MediaKind::Video, &file("clip.bin", None), b"DKIF"),
            Codec::Vp8
        );
        assert_eq!(
            resolve_codec(MediaKind::Audio, &file("tone.ulaw", None), &[0xff; 8]),
            Codec::Pcmu
        );
        assert_eq!(
            resolve_codec(MediaKind::Audio, &file("music.ogg", None), b"OggS"),
            Codec::Opus
        );
    }

    #[test]
    fn sdk_options() {
        let mut media = MediaArgs::default();
        // Receive-only call: both kinds received.
        let o = call_options(&media, None);
        assert_eq!(
            (o.video_receive_enabled, o.audio_receive_enabled),
            (Some(true), Some(true))
        );
        media.video.receive = false;
        media.audio.send = Some(SendSpec {
            codec: Some(Codec::Pcmu),
            source: Source::Rtp("127.0.0.1:0".parse().unwrap()),
        });
        media.audio.force_codec = Some(Codec::Pcmu);
        media.video.bandwidth = Some(500);
        let o = call_options(&media, Some(serde_json::json!({"a": 1})));
        assert_eq!(
            (o.video_receive_enabled, o.audio_receive_enabled),
            (Some(false), None)
        );
        assert_eq!(o.audio_codec.as_deref(), Some("PCMU"));
        assert_eq!(o.video_codec, None);
        assert_eq!(o.video_bandwidth, Some(500));
        assert_eq!(o.metadata, Some(serde_json::json!({"a": 1})));
        let a = answer_options(&media);
        assert_eq!(a.audio_codec.as_deref(), Some("PCMU"));
        assert_eq!(a.video_bandwidth, Some(500));
    }

    #[test]
    fn recording_paths_are_checked() {
        let dir = std::env::temp_dir();
        assert!(check_writable(&dir.join("x.ivf")).is_ok());
        assert!(check_writable(&dir).is_err());
        assert!(check_writable(&dir.join("no-such-dir-peer-cli/x.ivf")).is_err());
        assert!(check_writable(Path::new("x.ivf")).is_ok());
    }
}
