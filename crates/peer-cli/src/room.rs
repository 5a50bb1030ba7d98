//! `room`: joins a mesh room; prints members, joins, leaves and data; sends stdin lines as room
//! data; sends media from files or RTP; records each member's media into its own files.

use crate::args::{Common, MediaArgs};
use crate::chat::stdin_lines;
use crate::{media, session};
use anyhow::{anyhow, Context, Result};
use peer::media::FileSink;
use peer::{Codec, MediaKind, Peer, RemoteTrack, Room, RoomEvent, RoomOptions, RoomPayload};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the recordings may take to be finalized at the end.
const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes one line on stdout and flushes it.
fn out(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|_| stdout.flush())
        .context("writing to stdout")
}

/// Room data as one line: text as it is, bytes as `<N bytes>`, anything else as its JSON
/// (with each binary part as `<N bytes>`).
pub fn format_data(src: &str, data: &RoomPayload) -> String {
    if let Some(s) = data.as_text() {
        return format!("{src}: {s}");
    }
    if let Some(b) = data.as_bytes() {
        return format!("{src}: <{} bytes>", b.len());
    }
    let mut line = format!("{src}: {}", data.raw_json());
    if !data.attachments().is_empty() {
        let sizes: Vec<String> = data
            .attachments()
            .iter()
            .map(|b| format!("<{} bytes>", b.len()))
            .collect();
        line.push_str(&format!(" (binary parts: {})", sizes.join(", ")));
    }
    line
}

/// The file extension a recording of `codec` gets.
fn extension(codec: Codec) -> &'static str {
    match codec {
        Codec::Vp8 | Codec::Vp9 => "ivf",
        Codec::H264 => "h264",
        Codec::Opus => "ogg",
        Codec::Pcmu => "ulaw",
    }
}

/// `DIR/<id>-<kind>.<ext>`, or with `-2`, `-3`, ... when that file exists already (a member
/// that left and came back, or a second track).
fn record_path(dir: &Path, peer: &str, kind: MediaKind, ext: &str) -> PathBuf {
    let mut n = 1;
    loop {
        let name = match n {
            1 => format!("{peer}-{kind}.{ext}"),
            n => format!("{peer}-{kind}-{n}.{ext}"),
        };
        let path = dir.join(name);
        if !path.exists() {
            return path;
        }
        n += 1;
    }
}

/// Where a member's track goes.
enum Sink {
    File(FileSink),
    /// Read and dropped, so that nothing piles up in the stack.
    Discard(tokio::task::JoinHandle<()>),
}

/// Records `track` of `peer` into `dir`, or discards it without a directory.
async fn start_sink(track: RemoteTrack, peer: &str, dir: Option<&Path>) -> Result<Sink> {
    let kind = track.kind();
    let head = format!("{peer} {kind} {}", track.encoding_name());
    let (Some(dir), Some(codec)) = (dir, track.codec()) else {
        if dir.is_some() {
            out(&format!("{head} -> not recorded (no file format for it)"))?;
        }
        return Ok(Sink::Discard(tokio::spawn(async move {
            while track.read_rtp().await.is_ok() {}
        })));
    };
    let path = record_path(dir, peer, kind, extension(codec));
    let sink = FileSink::start(track, &path)
        .await
        .map_err(|e| anyhow!("cannot record {head} to {}: {e}", path.display()))?;
    out(&format!("{head} -> file {}", path.display()))?;
    Ok(Sink::File(sink))
}

/// `peer-cli room NAME`.
pub async fn run(
    common: &Common,
    name: &str,
    media_args: &MediaArgs,
    record_dir: Option<&Path>,
    sfu: bool,
) -> Result<()> {
    if let Some(dir) = record_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the --record-dir {}", dir.display()))?;
    }
    // Read stdin from the start, so that lines piped in while joining are kept.
    let mut lines = stdin_lines();
    let outgoing = media::prepare(media_args).await?;
    let peer = session::open_peer(common).await?;
    let mut options = RoomOptions::new();
    if sfu {
        options = options.mode(peer::RoomMode::Sfu);
    }
    options.stream = outgoing.stream().cloned();
    options.video_bandwidth = media_args.video.bandwidth;
    options.audio_bandwidth = media_args.audio.bandwidth;
    options.video_codec = media_args
        .video
        .force_codec
        .map(|c| c.rtpmap_name().to_owned());
    options.audio_codec = media_args
        .audio
        .force_codec
        .map(|c| c.rtpmap_name().to_owned());
    let result = async {
        let room = peer
            .join_room(name, options)
            .await
            .map_err(|e| anyhow!("cannot join room \"{name}\": {e}"))?;
        eprintln!("joining room \"{name}\" as \"{}\"...", peer.id());
        let sources = media::start_sources(outgoing)?;
        let result = run_room(&peer, &room, &mut lines, record_dir).await;
        for (_, s) in &sources {
            s.stop();
        }
        result
    }
    .await;
    session::destroy(&peer).await;
    result
}

/// Runs until stdin ends, Ctrl-C, or the room closes; then leaves and finishes the recordings.
async fn run_room(
    peer: &Peer,
    room: &Room,
    lines: &mut tokio::sync::mpsc::Receiver<String>,
    record_dir: Option<&Path>,
) -> Result<()> {
    let mut sinks: Vec<(String, Sink)> = Vec::new();
    let mut streams: HashSet<(String, String)> = HashSet::new();
    let result: Result<()> = loop {
        tokio::select! {
            ev = room.next_event() => match ev {
                Some(RoomEvent::Open) => {
                    let members = room.members();
                    out(&format!("members: {}", members.join(", ")))?;
                    eprintln!("joined as \"{}\"; type lines to send, Ctrl-D to leave", peer.id());
                }
                Some(RoomEvent::PeerJoin(p)) => out(&format!("join {p}"))?,
                Some(RoomEvent::PeerLeave(p)) => {
                    out(&format!("leave {p}"))?;
                    for (who, s) in &sinks {
                        if *who == p {
                            if let Sink::File(f) = s {
                                f.stop();
                            }
                        }
                    }
                }
                Some(RoomEvent::Stream { peer_id, stream }) => {
                    if streams.insert((peer_id.clone(), stream.clone())) {
                        eprintln!("stream {stream} from {peer_id}");
                    }
                }
                Some(RoomEvent::Track { peer_id, track }) => {
                    let sink = start_sink(track, &peer_id, record_dir).await?;
                    sinks.push((peer_id, sink));
                }
                Some(RoomEvent::Data { src, data }) => out(&format_data(&src, &data))?,
                Some(RoomEvent::Log(log)) => {
                    for entry in log {
                        out(&format!("log {entry}"))?;
                    }
                }
                Some(RoomEvent::Error(e)) => eprintln!("warning: {e}"),
                Some(RoomEvent::Close) | None => {
                    eprintln!("the room closed");
                    break Ok(());
                }
                Some(_) => {}
            },
            line = lines.recv() => match line {
                Some(line) => {
                    if let Err(e) = room.send(line).await {
                        break Err(anyhow!("sending to the room failed: {e}"));
                    }
                }
                None => {
                    eprintln!("end of input; leaving the room");
                    break Ok(());
                }
            },
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted; leaving the room");
                break Ok(());
            }
        }
    };
    // Lines sent just before the end still go out (sends are 100 ms apart).
    let _ = tokio::time::timeout(Duration::from_secs(2), room.flush()).await;
    room.close().await;
    for (who, s) in &sinks {
        match s {
            Sink::File(f) => {
                f.stop();
                match tokio::time::timeout(FINISH_TIMEOUT, f.finished()).await {
                    Ok(Ok(st)) => eprintln!(
                        "recorded {} {} of {who} to {}",
                        st.written,
                        if f.codec().kind() == MediaKind::Video {
                            "frames"
                        } else {
                            "packets"
                        },
                        f.path().display()
                    ),
                    Ok(Err(e)) => eprintln!("warning: recording of {who}: {e}"),
                    Err(_) => {
                        eprintln!("warning: the recording of {who} was not finalized in time")
                    }
                }
            }
            Sink::Discard(h) => h.abort(),
        }
    }
    result
}
