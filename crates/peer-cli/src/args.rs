//! Command-line parsing by hand: the subcommands, their flags and the `--help` texts.
//!
//! Flags take their value as the next argument (`--port 9001`) or after `=` (`--port=9001`).
//! Common flags may come before or after the subcommand; subcommand flags only after it.
//! `--` ends the flags, so a file named `-x` can be sent with `send bob -- -x`.

use peer::{Codec, MediaKind, Serialization};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The development API key of `peer-server` when it runs without a configuration file.
pub const DEV_KEY: &str = "peerdev0-0000-0000-0000-000000000000";

/// Options every subcommand shares: where the server is and who this peer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// Signaling server host (`--host`).
    pub host: String,
    /// Signaling server port (`--port`).
    pub port: u16,
    /// API key (`--key`).
    pub key: String,
    /// Own peer id (`--id`); the server assigns one when `None`.
    pub id: Option<String>,
    /// `wss`/`https` instead of `ws`/`http` (`--secure`).
    pub secure: bool,
    /// Log level 0-3 (`--debug`).
    pub debug: u8,
    /// Gather loopback ICE candidates too (`--loopback`), for peers on the same machine.
    pub loopback: bool,
}

impl Default for Common {
    fn default() -> Common {
        Common {
            host: "127.0.0.1".into(),
            port: 9000,
            key: DEV_KEY.into(),
            id: None,
            secure: false,
            debug: 0,
            loopback: false,
        }
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Line-based chat with one peer.
    Chat {
        /// The peer to connect to; `None` with `--listen`.
        remote: Option<String>,
        /// The framing used when connecting.
        serialization: Serialization,
    },
    /// Send one file.
    Send {
        /// The receiving peer.
        remote: String,
        /// The file to send.
        file: PathBuf,
        /// `binary` or `binary-utf8`.
        serialization: Serialization,
    },
    /// Receive files.
    Receive {
        /// The directory files are written to.
        out: PathBuf,
        /// Exit after the first transfer.
        once: bool,
    },
    /// Call a peer with audio and video.
    Call {
        /// The peer to call.
        remote: String,
        /// What to send and receive.
        media: Box<MediaArgs>,
        /// `--metadata`: JSON the remote side sees with the call.
        metadata: Option<serde_json::Value>,
    },
    /// Wait for a call and answer it.
    Answer {
        /// What to send and receive.
        media: Box<MediaArgs>,
    },
    /// Join a mesh room.
    Room {
        /// The room name.
        name: String,
        /// What to send (files or RTP; the output flags are refused: see `record_dir`).
        media: Box<MediaArgs>,
        /// `--record-dir`: each member's media recorded into its own files there.
        record_dir: Option<PathBuf>,
        /// `--sfu`: an SFU room (media through the server) instead of a mesh room.
        sfu: bool,
    },
    /// Print the open peers of the API key.
    List,
    /// Echo every message of every incoming connection.
    Echo,
}

/// Where a sent track's RTP comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// RTP datagrams arriving on this UDP address (`--video-rtp`, `--audio-rtp`); port 0 binds
    /// any free port.
    Rtp(SocketAddr),
    /// A media file played in real time (`--video-file`, `--audio-file`).
    File(PathBuf),
}

/// One kind this side sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSpec {
    /// `--video-codec`/`--audio-codec`; `None` when not given (see
    /// [`crate::media::resolve_codec`] for the default).
    pub codec: Option<Codec>,
    /// Where the media comes from.
    pub source: Source,
}

/// Where a received track goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Its RTP is forwarded to this UDP address (`--video-out`, `--audio-out`).
    Udp(SocketAddr),
    /// It is recorded into this file (`--record-video`: IVF for VP8/VP9, Annex-B for H264;
    /// `--record-audio`: Ogg for Opus, raw µ-law for PCMU).
    File(PathBuf),
}

/// The media options of one kind (audio or video).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindArgs {
    /// What is sent, if anything.
    pub send: Option<SendSpec>,
    /// Where the received track goes; `None` discards it.
    pub output: Option<Output>,
    /// Whether to receive this kind when not sending it (`false` with `--no-video`/`--no-audio`,
    /// `call` only).
    pub receive: bool,
    /// `--video-bandwidth`/`--audio-bandwidth` in kbps (the SDK's `videoBandwidth`/
    /// `audioBandwidth`).
    pub bandwidth: Option<u32>,
    /// `--force-video-codec`/`--force-audio-codec` (the SDK's `videoCodec`/`audioCodec`).
    pub force_codec: Option<Codec>,
}

impl Default for KindArgs {
    fn default() -> KindArgs {
        KindArgs {
            send: None,
            output: None,
            receive: true,
            bandwidth: None,
            force_codec: None,
        }
    }
}

/// The media options of `call` and `answer`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaArgs {
    /// The video options.
    pub video: KindArgs,
    /// The audio options.
    pub audio: KindArgs,
    /// `--loop`: play files again and again.
    pub looped: bool,
    /// `--fps`: the frame rate of an H264 Annex-B video file.
    pub fps: Option<u32>,
    /// `--sdp-dir`: where `video.sdp`/`audio.sdp` describing the forwarded RTP are written.
    pub sdp_dir: Option<PathBuf>,
}

impl MediaArgs {
    /// The options of `kind`.
    pub fn kind(&self, kind: MediaKind) -> &KindArgs {
        match kind {
            MediaKind::Video => &self.video,
            MediaKind::Audio => &self.audio,
        }
    }

    fn kind_mut(&mut self, kind: MediaKind) -> &mut KindArgs {
        match kind {
            MediaKind::Video => &mut self.video,
            MediaKind::Audio => &mut self.audio,
        }
    }
}

/// A complete, valid command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The shared options.
    pub common: Common,
    /// The subcommand and its options.
    pub command: Command,
}

/// The outcome of parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run this.
    Run(Invocation),
    /// Print this help text on stdout and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
}

/// The subcommand names, for help texts and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// `chat`
    Chat,
    /// `send`
    Send,
    /// `receive`
    Receive,
    /// `call`
    Call,
    /// `answer`
    Answer,
    /// `list`
    List,
    /// `echo`
    Echo,
    /// `room`
    Room,
}

impl Name {
    fn parse(s: &str) -> Option<Name> {
        Some(match s {
            "chat" => Name::Chat,
            "send" => Name::Send,
            "receive" | "recv" => Name::Receive,
            "call" => Name::Call,
            "answer" => Name::Answer,
            "list" | "ls" => Name::List,
            "echo" => Name::Echo,
            "room" => Name::Room,
            _ => return None,
        })
    }

    /// The one-line usage of the subcommand.
    pub fn usage(self) -> &'static str {
        match self {
            Name::Chat => "usage: peer-cli chat <remote-id> [--serialization S] [options]\n       peer-cli chat --listen [options]",
            Name::Send => "usage: peer-cli send <remote-id> <file> [--serialization binary|binary-utf8] [options]",
            Name::Receive => "usage: peer-cli receive [--out DIR] [--once] [options]",
            Name::Call => "usage: peer-cli call <remote-id> [media options] [--metadata JSON] [--no-video] [--no-audio] [options]",
            Name::Answer => "usage: peer-cli answer [--id ID] [media options] [options]",
            Name::List => "usage: peer-cli list [options]",
            Name::Echo => "usage: peer-cli echo [options]",
            Name::Room => "usage: peer-cli room <name> [--sfu] [--video-file F | --video-rtp ADDR] [--audio-file F | --audio-rtp ADDR] [--loop] [--record-dir DIR] [options]",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Name::Chat => "chat",
            Name::Send => "send",
            Name::Receive => "receive",
            Name::Call => "call",
            Name::Answer => "answer",
            Name::List => "list",
            Name::Echo => "echo",
            Name::Room => "room",
        }
    }

    fn help(self) -> String {
        let body = match self {
            Name::Chat => CHAT_HELP,
            Name::Send => SEND_HELP,
            Name::Receive => RECEIVE_HELP,
            Name::Call => CALL_HELP,
            Name::Answer => ANSWER_HELP,
            Name::List => LIST_HELP,
            Name::Echo => ECHO_HELP,
            Name::Room => ROOM_HELP,
        };
        match self {
            Name::Call | Name::Answer => format!(
                "{}\n\n{body}\n{MEDIA_HELP}\n{MEDIA_EXAMPLES}\n{COMMON_HELP}",
                self.usage()
            ),
            _ => format!("{}\n\n{body}\n{COMMON_HELP}", self.usage()),
        }
    }
}

/// A command line that cannot be run; exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What is wrong.
    pub message: String,
    /// The subcommand it concerns, if known.
    pub command: Option<Name>,
}

impl UsageError {
    fn new(message: impl Into<String>, command: Option<Name>) -> UsageError {
        UsageError {
            message: message.into(),
            command,
        }
    }

    /// The usage line and a pointer to `--help`, printed after the message.
    pub fn hint(&self) -> String {
        match self.command {
            Some(c) => format!(
                "{}\nRun 'peer-cli {} --help' for more.",
                c.usage(),
                c.as_str()
            ),
            None => format!("{TOP_USAGE}\nRun 'peer-cli --help' for more."),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

const TOP_USAGE: &str = "usage: peer-cli <chat|send|receive|call|answer|room|list|echo> [options]";

const TOP_HELP: &str = "\
A command-line SkyWay peer for peer-server (skyway-js@4.4.5 compatible).

Subcommands:
  chat <remote-id>       line-based chat with a peer
  chat --listen          wait for a peer to chat with
  send <remote-id> <file>
                         send a file to a peer running 'receive'
  receive                receive files into a directory
  call <remote-id>       call a peer with audio/video from UDP ports or files
  answer                 wait for a call and answer it
  room <name>            join a mesh room: members, data from stdin, media
  list                   print the open peers of the API key
  echo                   echo back every message of every connection

Run 'peer-cli <subcommand> --help' for the subcommand's options.

Examples (with 'cargo run -p peer-server' on this machine):
  peer-cli receive --id inbox --loopback --out ~/Downloads
  peer-cli send inbox report.pdf --loopback
  peer-cli chat --listen --id bob --loopback
  peer-cli chat bob --loopback
  peer-cli answer --id bob --loopback --video-out 127.0.0.1:6004
  peer-cli call bob --loopback --video-file clip.ivf --loop
";

const COMMON_HELP: &str = "\
Common options:
  --host HOST            signaling server host [default: 127.0.0.1]
  --port PORT            signaling server port [default: 9000]
  --key KEY              API key [default: peerdev0-0000-0000-0000-000000000000,
                         peer-server's development key]
  --id ID                own peer id [default: assigned by the server]
  --secure               use wss:// and https:// (TLS)
  --debug 0-3            log level on stderr: 0 none, 1 error, 2 warn, 3 debug [default: 0]
  --loopback             also use loopback addresses for WebRTC (peers on one machine)
  -h, --help             print this help

Exit codes: 0 success, 1 runtime failure, 2 usage error.
";

const CHAT_HELP: &str = "\
Line-based chat. Every line typed on stdin is sent as text; what arrives is printed
on stdout as '<remote-id>: <line>' (JSON values as JSON, bytes as '<N bytes>').
Status lines go to stderr. Ctrl-D (end of stdin) closes the connection; when the
other side closes, peer-cli says so and exits 0.

With --listen, peer-cli waits for the first incoming connection and chats with it;
later connections are refused.

Options:
  --listen               wait for a connection instead of connecting
  --serialization S      binary, binary-utf8, json or none [default: binary]

Examples:
  peer-cli chat --listen --id bob --loopback
  peer-cli chat bob --loopback
  echo 'hello' | peer-cli chat bob
";

const SEND_HELP: &str = "\
Sends one file to a peer running 'peer-cli receive' (or a browser speaking the same
protocol). Progress is shown on stderr when it is a terminal.

Options:
  --serialization S      binary or binary-utf8 [default: binary]

Protocol:
  1. connect with metadata {\"file\": {\"name\": \"<basename>\", \"size\": N}}
  2. send the file as bytes in pieces of 1 MiB
  3. send the JSON {\"done\": true, \"size\": N}
  4. wait for the receiver's reply {\"received\": N} (or {\"error\": \"...\"}), then close

A skyway-js page can send to 'peer-cli receive' the same way:
  const conn = peer.connect(id, {metadata: {file: {name: f.name, size: f.size}}});
  conn.on('open', async () => { conn.send(await f.arrayBuffer());
                                conn.send({done: true, size: f.size}); });

Example:
  peer-cli send inbox ./report.pdf --loopback
";

const RECEIVE_HELP: &str = "\
Receives files sent with 'peer-cli send' (see 'peer-cli send --help' for the
protocol). Each file is written to DIR under the sender's base name, stripped of
any directory part; '..', empty and dot-only names are refused, and an
existing file is never overwritten ('name (1).ext' is used instead). The size is
verified before the file is kept and the sender is answered {\"received\": N}.
Transfers are handled one at a time; the saved path is printed on stdout.

Options:
  --out DIR              directory to write to [default: .]
  --once                 exit after the first transfer (exit 1 if it failed)

Example:
  peer-cli receive --id inbox --out ~/Downloads --loopback
";

const ROOM_HELP: &str = "\
Joins a mesh room shared with skyway-js pages and other peers (the SDK's
joinRoom(name, {mode: 'mesh'})): this side calls every member, sends them the
media given below (or only receives), and answers their calls.

stdout gets one line per event: 'members: a, b' once joined, 'join <id>',
'leave <id>', '<id>: <data>' for room data from others (text as it is, JSON as
JSON, bytes as '<N bytes>'), and one line per recorded track. Every stdin line is
sent to the room as text (at most one send per 100 ms, as the SDK does); what this
side sends is never printed back. At the end of stdin (Ctrl-D) or on Ctrl-C it
leaves the room, finishes its recordings and exits 0.

Options:
  --sfu                  an SFU room (joinRoom(name, {mode: 'sfu'})): media goes once to
                         the server, which forwards it to every member (VP8 and Opus)
  --video-file FILE      send an IVF (VP8/VP9) or H264 Annex-B file
  --audio-file FILE      send an Ogg Opus or raw mu-law file
  --video-rtp IP:PORT    send the RTP a pipeline sends to this UDP port
  --audio-rtp IP:PORT    (see 'peer-cli call --help' for GStreamer and ffmpeg)
  --video-codec C, --audio-codec C
                         the codec of an RTP source [default: VP8, opus]
  --loop                 play files again and again
  --fps N                frame rate of an H264 Annex-B file
  --record-dir DIR       record each member's media: DIR/<id>-video.ivf (VP8/VP9),
                         <id>-video.h264, <id>-audio.ogg (Opus), <id>-audio.ulaw
                         (a member that rejoins gets '-2', '-3', ... files)
  --video-bandwidth KBPS, --audio-bandwidth KBPS, --force-video-codec C,
  --force-audio-codec C  the SDK's room options

Example:
  peer-cli room lobby --id alice --loopback --video-file clip.ivf --loop --record-dir rec
";

const LIST_HELP: &str = "\
Prints the open peers of the API key, one per line (without this command's own
temporary peer). Fails with 'list-error' when the server's REST API is disabled
for the key (rest_api = false in the server configuration).

Example:
  peer-cli list --host signaling.example.com --port 443 --secure --key KEY
";

const ECHO_HELP: &str = "\
Accepts every incoming connection and sends every message back as it came. Prints
one line per connection and per close. Runs until interrupted (Ctrl-C).

Example:
  peer-cli echo --id echo --loopback
  peer-cli chat echo --loopback
";

const CALL_HELP: &str = "\
Calls a peer (a skyway-js page, 'peer-cli answer', a Rust program using 'peer')
and exchanges audio and video with it: what is sent comes from UDP ports (RTP from
GStreamer or ffmpeg) or files; what is received goes to UDP ports or files.
Without a source the call only receives (audio and video, unless --no-audio or
--no-video).

Runs until the call closes, Ctrl-C or the end of stdin (Ctrl-D); then it closes
the call and exits 0. A call that cannot be made (e.g. peer-unavailable) exits 1.
Without a terminal, keep stdin open: sleep infinity | peer-cli call ...

Call options:
  --metadata JSON        JSON the remote side sees with the call (its 'metadata')
  --no-video             do not receive video (only when not sending video)
  --no-audio             do not receive audio (only when not sending audio)
";

const ANSWER_HELP: &str = "\
Waits for the first call to this peer (give it a name with --id) and answers it
with the given media; later calls and data connections are refused. The caller
decides which kinds the call carries: a kind the caller neither sends nor wants
to receive is not sent. Status lines (who calls, with which metadata) go to stderr.

Runs until the call closes, Ctrl-C or the end of stdin (Ctrl-D); then it closes
the call and exits 0. Without a terminal, keep stdin open:
sleep infinity | peer-cli answer ...
";

const MEDIA_HELP: &str = "\
Sending (one video and one audio source at most):
  --video-rtp ADDR       bind ADDR (UDP) and send the RTP packets arriving there;
                         any payload type and SSRC (they are rewritten)
  --video-file PATH      play an IVF (VP8, VP9) or H264 Annex-B (.h264) file in
                         real time
  --video-codec C        the source's codec: VP8, VP9 or H264 [default: VP8;
                         for a file, the file's codec]
  --audio-rtp ADDR       bind ADDR (UDP) and send the RTP packets arriving there
  --audio-file PATH      play an Ogg Opus (.ogg, .opus) or raw µ-law, 8 kHz mono
                         (.ulaw, .pcmu) file in real time
  --audio-codec C        opus or PCMU [default: opus; PCMU for .ulaw/.pcmu files]
  --loop                 play the files again and again (files cannot answer
                         keyframe requests; the first frames may be lost while
                         the call connects, so loop files with keyframes)
  --fps N                frame rate of an .h264 file [default: 30]

Receiving:
  --video-out ADDR       forward the received video RTP to ADDR (UDP)
  --audio-out ADDR       forward the received audio RTP to ADDR (UDP)
  --record-video PATH    record the received video: IVF (VP8, VP9), Annex-B (H264)
  --record-audio PATH    record the received audio: Ogg (Opus), raw µ-law (PCMU)
  --sdp-dir DIR          write video.sdp / audio.sdp describing the forwarded RTP
                         into DIR (for ffplay and ffmpeg)

skyway-js call/answer options (sent to the remote side in the SDP):
  --video-bandwidth KBPS videoBandwidth: the most video the remote side may send
  --audio-bandwidth KBPS audioBandwidth
  --force-video-codec C  videoCodec: negotiate only this video codec (VP8, VP9,
                         H264); the default source codec becomes C
  --force-audio-codec C  audioCodec: only this audio codec (opus, PCMU)

ADDR is IP:PORT, or a port alone for 127.0.0.1. A source address with port 0
binds a free port. Codec names are case-insensitive. Keep the RTP packets sent
to peer-cli at most 1200 bytes (ffmpeg: -pkt_size 1200; GStreamer payloaders:
mtu=1200): WebRTC stacks drop larger ones after encryption.

Output: stdout gets one line per source and, when a remote track starts, one
line per track telling how to consume it:
  sending video from udp 127.0.0.1:5004 (VP8)
  video VP8 pt=96 -> udp 127.0.0.1:6004 caps=\"application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000\" sdp=./video.sdp
Status lines and a summary at the end go to stderr.
";

const MEDIA_EXAMPLES: &str = "\
Examples (peer-server on this machine; give both sides --loopback):
  peer-cli answer --id bob --loopback --video-out 6004 --audio-out 6006 --sdp-dir .
  peer-cli call bob --loopback --video-rtp 5004 --audio-rtp 5006
  peer-cli call bob --loopback --video-file clip.ivf --audio-file music.ogg --loop
  peer-cli answer --id bob --loopback --record-video bob.ivf --record-audio bob.ogg

  Sending into --video-rtp 5004 and --audio-rtp 5006:
  gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=640,height=480,framerate=30/1 \\
    ! vp8enc deadline=1 keyframe-max-dist=60 ! rtpvp8pay pt=96 mtu=1200 \\
    ! udpsink host=127.0.0.1 port=5004
  gst-launch-1.0 audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample \\
    ! opusenc ! rtpopuspay pt=111 ! udpsink host=127.0.0.1 port=5006
  ffmpeg -re -f lavfi -i testsrc=size=640x480:rate=30 -c:v libvpx -deadline realtime \\
    -g 60 -b:v 1M -f rtp -pkt_size 1200 rtp://127.0.0.1:5004

  Receiving from --video-out 6004 and --audio-out 6006 (use the caps peer-cli prints):
  gst-launch-1.0 udpsrc port=6004 caps=\"application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000\" \\
    ! rtpjitterbuffer ! rtpvp8depay ! vp8dec ! videoconvert ! autovideosink
  gst-launch-1.0 udpsrc port=6006 caps=\"application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2\" \\
    ! rtpjitterbuffer ! rtpopusdepay ! opusdec ! audioconvert ! autoaudiosink
  ffplay -protocol_whitelist file,udp,rtp -i video.sdp     (with --sdp-dir .)
  ffmpeg -protocol_whitelist file,udp,rtp -i video.sdp -c copy received.mkv
";

/// Parses the arguments after the program name.
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Parsed, UsageError> {
    let mut common = Common::default();
    let mut name: Option<Name> = None;
    let mut positionals: Vec<String> = Vec::new();
    let mut listen = false;
    let mut once = false;
    let mut out: Option<PathBuf> = None;
    let mut serialization: Option<String> = None;
    let mut raw_video = RawKind::default();
    let mut raw_audio = RawKind::default();
    let mut looped = false;
    let mut fps: Option<u32> = None;
    let mut sdp_dir: Option<PathBuf> = None;
    let mut metadata: Option<serde_json::Value> = None;
    let mut record_dir: Option<PathBuf> = None;
    let mut sfu = false;
    let mut flags_done = false;

    let mut it = args.iter().map(AsRef::as_ref);
    while let Some(arg) = it.next() {
        if flags_done || !arg.starts_with('-') || arg == "-" {
            match name {
                None if !flags_done => match Name::parse(arg) {
                    Some(n) => name = Some(n),
                    None if arg == "help" => return Ok(Parsed::Help(top_help())),
                    None => {
                        return Err(UsageError::new(format!("unknown subcommand '{arg}'"), None))
                    }
                },
                _ => positionals.push(arg.to_owned()),
            }
            continue;
        }
        if arg == "--" {
            flags_done = true;
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            match inline.clone().or_else(|| it.next().map(str::to_owned)) {
                Some(v) => Ok(v),
                None => Err(UsageError::new(format!("{flag} needs {what}"), name)),
            }
        };
        let switch = |inline: &Option<String>| -> Result<(), UsageError> {
            match inline {
                Some(_) => Err(UsageError::new(format!("{flag} takes no value"), name)),
                None => Ok(()),
            }
        };
        match flag {
            "-h" | "--help" => {
                return Ok(Parsed::Help(match name {
                    Some(n) => n.help(),
                    None => top_help(),
                }))
            }
            "-V" | "--version" if name.is_none() => return Ok(Parsed::Version),
            "--host" => {
                let v = value("a host name")?;
                if v.is_empty() {
                    return Err(UsageError::new("--host must not be empty", name));
                }
                common.host = v;
            }
            "--port" => {
                let v = value("a port number")?;
                common.port = match v.parse::<u16>() {
                    Ok(p) if p > 0 => p,
                    _ => {
                        return Err(UsageError::new(
                            format!("--port: '{v}' is not a port number (1-65535)"),
                            name,
                        ))
                    }
                };
            }
            "--key" => common.key = value("an API key")?,
            "--id" => {
                let v = value("a peer id")?;
                if v.is_empty() {
                    return Err(UsageError::new("--id must not be empty", name));
                }
                common.id = Some(v);
            }
            "--secure" => {
                switch(&inline)?;
                common.secure = true;
            }
            "--loopback" => {
                switch(&inline)?;
                common.loopback = true;
            }
            "--debug" => {
                let v = value("a level 0-3")?;
                common.debug = match v.parse::<u8>() {
                    Ok(d) if d <= 3 => d,
                    _ => {
                        return Err(UsageError::new(
                            format!("--debug: '{v}' is not a level 0-3"),
                            name,
                        ))
                    }
                };
            }
            "--listen" if name == Some(Name::Chat) => {
                switch(&inline)?;
                listen = true;
            }
            "--serialization" if matches!(name, Some(Name::Chat | Name::Send)) => {
                serialization = Some(value("a serialization")?);
            }
            "--out" | "-o" if name == Some(Name::Receive) => {
                let v = value("a directory")?;
                if v.is_empty() {
                    return Err(UsageError::new("--out must not be empty", name));
                }
                out = Some(PathBuf::from(v));
            }
            "--once" if name == Some(Name::Receive) => {
                switch(&inline)?;
                once = true;
            }
            _ if is_media(name) && media_flag_kind(flag).is_some() => {
                let kind = media_flag_kind(flag).unwrap_or(MediaKind::Video);
                let raw = match kind {
                    MediaKind::Video => &mut raw_video,
                    MediaKind::Audio => &mut raw_audio,
                };
                let bad = |m: String| UsageError::new(m, name);
                match flag {
                    "--video-codec" | "--audio-codec" => {
                        raw.codec =
                            Some(parse_codec(flag, &value("a codec name")?, kind).map_err(bad)?);
                    }
                    "--force-video-codec" | "--force-audio-codec" => {
                        raw.force =
                            Some(parse_codec(flag, &value("a codec name")?, kind).map_err(bad)?);
                    }
                    "--video-rtp" | "--audio-rtp" => {
                        raw.rtp = Some(
                            parse_addr(flag, &value("an address (IP:PORT)")?, true).map_err(bad)?,
                        );
                    }
                    "--video-out" | "--audio-out" => {
                        raw.out = Some(
                            parse_addr(flag, &value("an address (IP:PORT)")?, false)
                                .map_err(bad)?,
                        );
                    }
                    "--video-file" | "--audio-file" => {
                        raw.file = Some(parse_path(flag, value("a file")?).map_err(bad)?);
                    }
                    "--record-video" | "--record-audio" => {
                        raw.record = Some(parse_path(flag, value("a file")?).map_err(bad)?);
                    }
                    "--video-bandwidth" | "--audio-bandwidth" => {
                        let v = value("a bandwidth in kbps")?;
                        raw.bandwidth =
                            Some(parse_positive(flag, &v, "a bandwidth in kbps").map_err(bad)?);
                    }
                    // --no-video, --no-audio
                    _ => {
                        if name != Some(Name::Call) {
                            return Err(UsageError::new(
                                format!("{flag} is an option of 'call' (the caller decides what the call carries)"),
                                name,
                            ));
                        }
                        switch(&inline)?;
                        raw.no = true;
                    }
                }
            }
            "--loop" if is_media(name) => {
                switch(&inline)?;
                looped = true;
            }
            "--fps" if is_media(name) => {
                let v = value("a frame rate")?;
                fps = Some(
                    parse_positive(flag, &v, "a frame rate")
                        .map_err(|m| UsageError::new(m, name))?,
                );
            }
            "--sdp-dir" if is_media(name) => {
                sdp_dir = Some(
                    parse_path(flag, value("a directory")?)
                        .map_err(|m| UsageError::new(m, name))?,
                );
            }
            "--sfu" if name == Some(Name::Room) => sfu = true,
            "--record-dir" if name == Some(Name::Room) => {
                record_dir = Some(
                    parse_path(flag, value("a directory")?)
                        .map_err(|m| UsageError::new(m, name))?,
                );
            }
            "--metadata" if name == Some(Name::Call) => {
                let v = value("a JSON value")?;
                metadata = Some(serde_json::from_str(&v).map_err(|e| {
                    UsageError::new(format!("--metadata: '{v}' is not JSON ({e})"), name)
                })?);
            }
            _ => {
                let what = match name {
                    Some(n) => format!("unknown option '{flag}' for '{}'", n.as_str()),
                    None => format!("unknown option '{flag}'"),
                };
                return Err(UsageError::new(what, name));
            }
        }
    }

    let Some(name) = name else {
        return Err(UsageError::new("no subcommand given", None));
    };
    let err = |m: String| UsageError::new(m, Some(name));
    let extra = |n: usize, positionals: &[String]| -> Result<(), UsageError> {
        match positionals.get(n) {
            Some(p) => Err(err(format!("unexpected argument '{p}'"))),
            None => Ok(()),
        }
    };
    let command = match name {
        Name::Chat => {
            let serialization = match serialization {
                None => Serialization::Binary,
                Some(s) => s.parse().map_err(|_| {
                    err(format!(
                        "--serialization: '{s}' is not one of binary, binary-utf8, json, none"
                    ))
                })?,
            };
            let remote = match (listen, positionals.first()) {
                (true, Some(r)) => {
                    return Err(err(format!(
                        "give either a remote id ('{r}') or --listen, not both"
                    )))
                }
                (true, None) => None,
                (false, Some(r)) => Some(r.clone()),
                (false, None) => return Err(err("missing <remote-id> (or --listen)".into())),
            };
            extra(1, &positionals)?;
            Command::Chat {
                remote,
                serialization,
            }
        }
        Name::Send => {
            let serialization = match serialization.as_deref() {
                None | Some("binary") => Serialization::Binary,
                Some("binary-utf8") => Serialization::BinaryUtf8,
                Some(s) => {
                    return Err(err(format!(
                        "--serialization: '{s}' cannot carry files; use binary or binary-utf8"
                    )))
                }
            };
            let (Some(remote), Some(file)) = (positionals.first(), positionals.get(1)) else {
                return Err(err(match positionals.len() {
                    0 => "missing <remote-id> and <file>".into(),
                    _ => "missing <file>".into(),
                }));
            };
            extra(2, &positionals)?;
            Command::Send {
                remote: remote.clone(),
                file: PathBuf::from(file),
                serialization,
            }
        }
        Name::Receive => {
            extra(0, &positionals)?;
            Command::Receive {
                out: out.unwrap_or_else(|| PathBuf::from(".")),
                once,
            }
        }
        Name::Call => {
            let media = media_args(raw_video, raw_audio, looped, fps, sdp_dir).map_err(err)?;
            let Some(remote) = positionals.first() else {
                return Err(err("missing <remote-id>".into()));
            };
            extra(1, &positionals)?;
            Command::Call {
                remote: remote.clone(),
                media: Box::new(media),
                metadata,
            }
        }
        Name::Answer => {
            let media = media_args(raw_video, raw_audio, looped, fps, sdp_dir).map_err(err)?;
            extra(0, &positionals)?;
            Command::Answer {
                media: Box::new(media),
            }
        }
        Name::Room => {
            let media = media_args(raw_video, raw_audio, looped, fps, sdp_dir).map_err(err)?;
            if media.video.output.is_some() || media.audio.output.is_some() {
                return Err(err(
                    "a room has many members: record them with --record-dir instead of \
                     --video-out/--audio-out/--record-video/--record-audio"
                        .into(),
                ));
            }
            let Some(room) = positionals.first() else {
                return Err(err("missing <name>".into()));
            };
            extra(1, &positionals)?;
            Command::Room {
                name: room.clone(),
                media: Box::new(media),
                record_dir,
                sfu,
            }
        }
        Name::List => {
            extra(0, &positionals)?;
            Command::List
        }
        Name::Echo => {
            extra(0, &positionals)?;
            Command::Echo
        }
    };
    Ok(Parsed::Run(Invocation { common, command }))
}

/// Whether the subcommand takes the media flags.
fn is_media(name: Option<Name>) -> bool {
    matches!(name, Some(Name::Call | Name::Answer | Name::Room))
}

/// The kind of a per-kind media flag (`--video-rtp`, `--no-audio`, ...), `None` for others.
fn media_flag_kind(flag: &str) -> Option<MediaKind> {
    const VIDEO: &[&str] = &[
        "--video-codec",
        "--force-video-codec",
        "--video-rtp",
        "--video-out",
        "--video-file",
        "--record-video",
        "--video-bandwidth",
        "--no-video",
    ];
    const AUDIO: &[&str] = &[
        "--audio-codec",
        "--force-audio-codec",
        "--audio-rtp",
        "--audio-out",
        "--audio-file",
        "--record-audio",
        "--audio-bandwidth",
        "--no-audio",
    ];
    if VIDEO.contains(&flag) {
        Some(MediaKind::Video)
    } else if AUDIO.contains(&flag) {
        Some(MediaKind::Audio)
    } else {
        None
    }
}

/// The codec names of a kind, for messages.
fn codec_names(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Video => "VP8, VP9, H264",
        MediaKind::Audio => "opus, PCMU",
    }
}

/// Parses a codec name of `kind` (case-insensitive).
fn parse_codec(flag: &str, v: &str, kind: MediaKind) -> Result<Codec, String> {
    let names = codec_names(kind);
    match v.parse::<Codec>() {
        Ok(c) if c.kind() == kind => Ok(c),
        Ok(c) => Err(format!(
            "{flag}: {c} is not {} codec ({names})",
            match kind {
                MediaKind::Video => "a video",
                MediaKind::Audio => "an audio",
            }
        )),
        Err(_) => Err(format!("{flag}: '{v}' is not one of {names}")),
    }
}

/// Parses `IP:PORT`, `localhost:PORT` or a port alone (on 127.0.0.1). A destination
/// (`bind == false`) needs a port above 0.
pub fn parse_addr(flag: &str, v: &str, bind: bool) -> Result<SocketAddr, String> {
    let port_only = |p: &str| -> Option<SocketAddr> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u16>()
            .ok()
            .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    };
    let addr = v
        .parse::<SocketAddr>()
        .ok()
        .or_else(|| v.strip_prefix("localhost:").and_then(port_only))
        .or_else(|| port_only(v))
        .ok_or_else(|| {
            format!("{flag}: '{v}' is not an address (IP:PORT such as 127.0.0.1:5004, or a port)")
        })?;
    if !bind && addr.port() == 0 {
        return Err(format!("{flag}: cannot send to port 0"));
    }
    Ok(addr)
}

fn parse_path(flag: &str, v: String) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err(format!("{flag} must not be empty"));
    }
    Ok(PathBuf::from(v))
}

fn parse_positive(flag: &str, v: &str, what: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{flag}: '{v}' is not {what} (a whole number above 0)"
        )),
    }
}

/// The per-kind media flags as given, before they are checked against each other.
#[derive(Debug, Default)]
struct RawKind {
    codec: Option<Codec>,
    force: Option<Codec>,
    rtp: Option<SocketAddr>,
    file: Option<PathBuf>,
    out: Option<SocketAddr>,
    record: Option<PathBuf>,
    bandwidth: Option<u32>,
    no: bool,
}

impl RawKind {
    /// Checks the flags of one kind against each other.
    fn build(self, kind: MediaKind) -> Result<KindArgs, String> {
        let (k, rec) = match kind {
            MediaKind::Video => ("video", "--record-video"),
            MediaKind::Audio => ("audio", "--record-audio"),
        };
        let source = match (self.rtp, self.file) {
            (Some(_), Some(_)) => {
                return Err(format!("give --{k}-rtp or --{k}-file, not both"));
            }
            (Some(a), None) => Some(Source::Rtp(a)),
            (None, Some(f)) => Some(Source::File(f)),
            (None, None) => None,
        };
        if let (Some(c), Some(f)) = (self.codec, self.force) {
            if c != f {
                return Err(format!(
                    "--{k}-codec {c} contradicts --force-{k}-codec {f} (the {k} sent must be the \
                     negotiated codec)"
                ));
            }
        }
        let send = match (source, self.codec) {
            (Some(source), codec) => Some(SendSpec { codec, source }),
            (None, Some(_)) => {
                return Err(format!("--{k}-codec needs --{k}-rtp or --{k}-file"));
            }
            (None, None) => None,
        };
        let output = match (self.out, self.record) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "give --{k}-out or {rec}, not both (a received track has one reader)"
                ));
            }
            (Some(a), None) => Some(Output::Udp(a)),
            (None, Some(p)) => Some(Output::File(p)),
            (None, None) => None,
        };
        if self.no {
            if send.is_some() {
                return Err(format!(
                    "--no-{k} cannot be combined with --{k}-rtp or --{k}-file (a call that sends \
                     {k} receives it too)"
                ));
            }
            if output.is_some() {
                return Err(format!("--no-{k} contradicts --{k}-out and {rec}"));
            }
        }
        Ok(KindArgs {
            send,
            output,
            receive: !self.no,
            bandwidth: self.bandwidth,
            force_codec: self.force,
        })
    }
}

/// Checks the media flags of `call`/`answer` together.
fn media_args(
    video: RawKind,
    audio: RawKind,
    looped: bool,
    fps: Option<u32>,
    sdp_dir: Option<PathBuf>,
) -> Result<MediaArgs, String> {
    let has_video_file = video.file.is_some();
    let mut media = MediaArgs {
        video: video.build(MediaKind::Video)?,
        audio: audio.build(MediaKind::Audio)?,
        looped,
        fps,
        sdp_dir,
    };
    if !media.video.receive && !media.audio.receive {
        return Err("--no-video and --no-audio: the call would carry nothing".into());
    }
    let is_file = |k: &KindArgs| {
        matches!(
            k.send,
            Some(SendSpec {
                source: Source::File(_),
                ..
            })
        )
    };
    if looped && !is_file(&media.video) && !is_file(&media.audio) {
        return Err("--loop needs --video-file or --audio-file".into());
    }
    if fps.is_some() && !has_video_file {
        return Err("--fps needs --video-file (an H264 .h264 file)".into());
    }
    let has_out = |k: &KindArgs| matches!(k.output, Some(Output::Udp(_)));
    if media.sdp_dir.is_some() && !has_out(&media.video) && !has_out(&media.audio) {
        return Err("--sdp-dir needs --video-out or --audio-out".into());
    }
    // A forced codec is also the default codec of the source.
    for kind in [MediaKind::Video, MediaKind::Audio] {
        let k = media.kind_mut(kind);
        if let (Some(send), Some(force)) = (k.send.as_mut(), k.force_codec) {
            send.codec.get_or_insert(force);
        }
    }
    Ok(media)
}

fn top_help() -> String {
    format!("{TOP_USAGE}\n\n{TOP_HELP}\n{COMMON_HELP}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Invocation {
        match parse(args) {
            Ok(Parsed::Run(inv)) => inv,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> UsageError {
        match parse(args) {
            Err(e) => e,
            other => panic!("{args:?} should fail: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let inv = run(&["list"]);
        assert_eq!(inv.common, Common::default());
        assert_eq!(inv.common.key, DEV_KEY);
        assert_eq!(inv.command, Command::List);
    }

    #[test]
    fn common_flags_before_and_after_the_subcommand() {
        let inv = run(&[
            "--host",
            "example.org",
            "send",
            "bob",
            "f.bin",
            "--port=443",
            "--secure",
            "--id",
            "alice",
            "--debug",
            "3",
            "--loopback",
            "--key",
            "k",
        ]);
        assert_eq!(
            inv.common,
            Common {
                host: "example.org".into(),
                port: 443,
                key: "k".into(),
                id: Some("alice".into()),
                secure: true,
                debug: 3,
                loopback: true,
            }
        );
        assert_eq!(
            inv.command,
            Command::Send {
                remote: "bob".into(),
                file: "f.bin".into(),
                serialization: Serialization::Binary
            }
        );
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            run(&["chat", "bob", "--serialization", "json"]).command,
            Command::Chat {
                remote: Some("bob".into()),
                serialization: Serialization::Json
            }
        );
        assert_eq!(
            run(&["chat", "--listen"]).command,
            Command::Chat {
                remote: None,
                serialization: Serialization::Binary
            }
        );
        assert_eq!(
            run(&["receive", "--out", "/tmp/x", "--once"]).command,
            Command::Receive {
                out: "/tmp/x".into(),
                once: true
            }
        );
        assert_eq!(
            run(&["receive"]).command,
            Command::Receive {
                out: ".".into(),
                once: false
            }
        );
        assert_eq!(run(&["echo"]).command, Command::Echo);
        assert_eq!(
            run(&[
                "send",
                "bob",
                "--serialization=binary-utf8",
                "--",
                "-odd name"
            ])
            .command,
            Command::Send {
                remote: "bob".into(),
                file: "-odd name".into(),
                serialization: Serialization::BinaryUtf8
            }
        );
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help(h)) if h.contains("Subcommands")));
        assert!(matches!(parse(&["help"]), Ok(Parsed::Help(_))));
        assert!(
            matches!(parse(&["send", "-h"]), Ok(Parsed::Help(h)) if h.contains("{\"done\": true"))
        );
        assert!(
            matches!(parse(&["receive", "--help"]), Ok(Parsed::Help(h)) if h.contains("--once"))
        );
        assert_eq!(parse(&["--version"]), Ok(Parsed::Version));
    }

    fn media_of(args: &[&str]) -> MediaArgs {
        match run(args).command {
            Command::Call { media, .. } | Command::Answer { media } => *media,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn call_and_answer_media_flags() {
        let inv = run(&[
            "call",
            "bob",
            "--video-rtp",
            "127.0.0.1:5004",
            "--video-codec",
            "h264",
            "--audio-file=music.ogg",
            "--loop",
            "--video-out",
            "6004",
            "--record-audio",
            "bob.ogg",
            "--sdp-dir",
            "sdp",
            "--video-bandwidth",
            "800",
            "--audio-bandwidth=32",
            "--force-audio-codec",
            "OPUS",
            "--metadata",
            r#"{"room": [1, "a"]}"#,
        ]);
        let Command::Call {
            remote,
            media,
            metadata,
        } = inv.command
        else {
            panic!("not a call")
        };
        assert_eq!(remote, "bob");
        assert_eq!(metadata, Some(serde_json::json!({"room": [1, "a"]})));
        assert_eq!(
            media.video,
            KindArgs {
                send: Some(SendSpec {
                    codec: Some(Codec::H264),
                    source: Source::Rtp("127.0.0.1:5004".parse().unwrap()),
                }),
                output: Some(Output::Udp("127.0.0.1:6004".parse().unwrap())),
                receive: true,
                bandwidth: Some(800),
                force_codec: None,
            }
        );
        assert_eq!(
            media.audio,
            KindArgs {
                // The forced codec is the source's default codec.
                send: Some(SendSpec {
                    codec: Some(Codec::Opus),
                    source: Source::File("music.ogg".into()),
                }),
                output: Some(Output::File("bob.ogg".into())),
                receive: true,
                bandwidth: Some(32),
                force_codec: Some(Codec::Opus),
            }
        );
        assert!(media.looped);
        assert_eq!(media.sdp_dir, Some("sdp".into()));

        // Receive-only: nothing sent, both kinds received unless told otherwise.
        let m = media_of(&["call", "bob"]);
        assert_eq!(m, MediaArgs::default());
        assert!(m.video.receive && m.audio.receive);
        let m = media_of(&["call", "bob", "--no-video", "--audio-out", "[::1]:7000"]);
        assert!(!m.video.receive && m.audio.receive);
        assert_eq!(
            m.audio.output,
            Some(Output::Udp("[::1]:7000".parse().unwrap()))
        );
        let m = media_of(&[
            "call",
            "bob",
            "--no-audio",
            "--video-file",
            "a.h264",
            "--fps",
            "25",
        ]);
        assert!(!m.audio.receive);
        assert_eq!(m.fps, Some(25));
        assert_eq!(
            m.video.send,
            Some(SendSpec {
                codec: None,
                source: Source::File("a.h264".into())
            })
        );

        let m = media_of(&[
            "answer",
            "--id",
            "bob",
            "--audio-rtp",
            "localhost:0",
            "--audio-codec",
            "pcmu",
            "--record-video",
            "v.ivf",
            "--force-video-codec",
            "vp9",
        ]);
        assert_eq!(
            m.audio.send,
            Some(SendSpec {
                codec: Some(Codec::Pcmu),
                source: Source::Rtp("127.0.0.1:0".parse().unwrap()),
            })
        );
        assert_eq!(m.video.output, Some(Output::File("v.ivf".into())));
        assert_eq!(m.video.force_codec, Some(Codec::Vp9));
        assert!(
            matches!(parse(&["call", "--help"]), Ok(Parsed::Help(h)) if h.contains("--force-video-codec"))
        );
        assert!(
            matches!(parse(&["answer", "-h"]), Ok(Parsed::Help(h)) if h.contains("rtpvp8depay"))
        );
    }

    #[test]
    fn media_usage_errors() {
        let msg = |args: &[&str]| {
            let e = usage_error(args);
            assert_eq!(e.command, Some(Name::parse(args[0]).unwrap()), "{args:?}");
            e.message
        };
        // Bad codec names, and codecs of the wrong kind.
        assert_eq!(
            msg(&["call", "bob", "--video-rtp", "5004", "--video-codec", "AV1"]),
            "--video-codec: 'AV1' is not one of VP8, VP9, H264"
        );
        assert_eq!(
            msg(&["call", "bob", "--audio-rtp", "5004", "--audio-codec", "VP8"]),
            "--audio-codec: VP8 is not an audio codec (opus, PCMU)"
        );
        assert!(msg(&["answer", "--force-video-codec", "opus"]).contains("not a video codec"));
        assert!(msg(&["answer", "--force-audio-codec", "G722"]).contains("'G722'"));
        // Bad addresses.
        for bad in [
            "nowhere",
            "127.0.0.1",
            "127.0.0.1:99999",
            "host:5004",
            "",
            "-5",
        ] {
            let m = msg(&["call", "bob", "--video-rtp", bad]);
            assert!(m.starts_with("--video-rtp: '"), "{bad}: {m}");
        }
        assert_eq!(
            msg(&["answer", "--audio-out", "127.0.0.1:0"]),
            "--audio-out: cannot send to port 0"
        );
        assert!(msg(&["answer", "--video-out"]).contains("needs an address"));
        // Numbers.
        assert!(msg(&["call", "bob", "--video-bandwidth", "0"]).contains("above 0"));
        assert!(msg(&["call", "bob", "--audio-bandwidth", "-1"]).contains("above 0"));
        assert!(msg(&["call", "bob", "--video-file", "a.h264", "--fps", "x"]).contains("--fps"));
        // Combinations.
        assert!(
            msg(&["call", "bob", "--video-rtp", "1", "--video-file", "f"]).contains("not both")
        );
        assert!(msg(&["call", "bob", "--video-codec", "VP8"]).contains("needs --video-rtp"));
        assert!(msg(&[
            "call",
            "bob",
            "--video-rtp",
            "1",
            "--video-codec",
            "VP8",
            "--force-video-codec",
            "H264"
        ])
        .contains("contradicts"));
        assert!(
            msg(&["answer", "--video-out", "1", "--record-video", "v.ivf"]).contains("not both")
        );
        assert!(msg(&["call", "bob", "--no-video", "--video-rtp", "1"]).contains("--no-video"));
        assert!(
            msg(&["call", "bob", "--no-audio", "--record-audio", "a.ogg"]).contains("contradicts")
        );
        assert!(msg(&["call", "bob", "--no-audio", "--no-video"]).contains("nothing"));
        assert!(msg(&["call", "bob", "--loop"]).contains("--loop"));
        assert!(msg(&["call", "bob", "--video-rtp", "1", "--loop"]).contains("--loop"));
        assert!(msg(&["call", "bob", "--fps", "30"]).contains("--fps"));
        assert!(msg(&["call", "bob", "--sdp-dir", "d"]).contains("--sdp-dir"));
        assert!(
            msg(&["call", "bob", "--record-video", "v.ivf", "--sdp-dir", "d"])
                .contains("--sdp-dir")
        );
        assert!(msg(&["call", "bob", "--metadata", "{oops"]).contains("is not JSON"));
        assert!(msg(&["call", "bob", "--no-video=yes"]).contains("takes no value"));
        assert!(msg(&["answer", "--no-audio"]).contains("an option of 'call'"));
        assert!(msg(&["answer", "--metadata", "{}"]).contains("unknown option"));
        assert_eq!(msg(&["call"]), "missing <remote-id>");
        assert!(msg(&["call", "bob", "carol"]).contains("'carol'"));
        assert!(msg(&["answer", "bob"]).contains("'bob'"));
        // Media flags belong to call and answer only.
        assert!(usage_error(&["chat", "bob", "--video-out", "6004"])
            .message
            .contains("unknown option"));
        assert!(usage_error(&["--video-rtp", "5004", "call", "bob"])
            .message
            .contains("unknown option"));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(usage_error(&[]).message, "no subcommand given");
        assert_eq!(usage_error(&["frob"]).command, None);
        let e = usage_error(&["send", "bob", "f", "--frob"]);
        assert_eq!(e.command, Some(Name::Send));
        assert!(e.message.contains("--frob"), "{e}");
        assert!(e.hint().contains("peer-cli send --help"));
        usage_error(&["send", "bob"]);
        usage_error(&["send", "bob", "f", "extra"]);
        usage_error(&["send", "bob", "f", "--serialization", "json"]);
        usage_error(&["chat"]);
        usage_error(&["chat", "bob", "--listen"]);
        usage_error(&["chat", "bob", "--serialization", "msgpack"]);
        usage_error(&["list", "--port", "70000"]);
        usage_error(&["list", "--port", "0"]);
        usage_error(&["list", "--debug", "4"]);
        usage_error(&["list", "--port"]);
        usage_error(&["list", "--secure=yes"]);
        usage_error(&["list", "--once"]);
        usage_error(&["echo", "extra"]);
        usage_error(&["--listen", "chat"]);
    }
}
