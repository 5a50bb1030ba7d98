//! `MediaConnection`: one RTCPeerConnection carrying audio and video with a remote peer, as the
//! SDK's `peer.call` / `call` event / `answer` make it.
//!
//! The SDK munges its local SDP for `videoBandwidth`/`audioBandwidth`/`videoCodec`/`audioCodec`
//! before `setLocalDescription`. The Rust WebRTC stack refuses a modified local description, so
//! here the local description stays as created and the munged SDP is what goes to the remote
//! peer: the remote sees exactly what an SDK peer would have sent, and so caps its sending
//! bitrate by `b=AS`/`b=TIAS` and can only pick the one kept codec.

use crate::config::RtcContext;
use crate::core::{ConnectionKind, Core, Ids};
use crate::error::ConnectionError;
use crate::guard::MediaGuard;
use crate::media_options::{AnswerOptions, CallOptions};
use crate::random::connection_id;
use crate::signal::{self, Offer};
use crate::sink::Signal;
use crate::state::{self, ConnectionState};
use crate::stats::ConnectionStats;
use peer_media::sdp::Munging;
use peer_media::{LocalTrack, MediaKind, MediaStream, RemoteTrack};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use tokio::sync::{mpsc, Mutex};
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::rtp_transceiver::rtp_transceiver_direction::RTCRtpTransceiverDirection;
use webrtc::rtp_transceiver::RTCRtpTransceiverInit;

/// Events queued for the application; past this, error events are dropped (and counted), while
/// room is kept for the `Stream`/`Track` events of the remote tracks.
const EVENT_CAPACITY: usize = 64;

/// What a MediaConnection reports, in order. `Close` is the last event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MediaConnectionEvent {
    /// `stream`: the first track of a remote stream with this id arrived (once per stream id,
    /// as the SDK emits `stream`). Its tracks follow as [`MediaConnectionEvent::Track`].
    Stream(String),
    /// A remote track started: read its RTP, forward it, record it.
    Track(RemoteTrack),
    /// Something went wrong without closing the connection (a renegotiation that failed, say).
    Error(ConnectionError),
    /// The connection closed.
    Close,
}

/// The sender of one kind and the local track it currently sends.
struct SenderSlot {
    sender: Arc<RTCRtpSender>,
    track: Arc<StdMutex<LocalTrack>>,
}

/// What this kind adds to the core.
struct Inner {
    core: Arc<Core>,
    /// The SDK options applied to the SDPs this side sends.
    munging: StdMutex<Munging>,
    /// Answerer: the offer waiting for `answer()`.
    pending_offer: StdMutex<Option<String>>,
    /// The last remote offer applied (identical offers are ignored, as by the SDK).
    last_remote_offer: StdMutex<Option<String>>,
    /// One negotiation step at a time.
    negotiation: Mutex<()>,
    senders: StdMutex<HashMap<MediaKind, SenderSlot>>,
    remote_streams: StdMutex<HashSet<String>>,
    /// Remote tracks accepted so far, and the most accepted.
    remote_tracks: AtomicUsize,
    max_remote_tracks: usize,
    /// How long ICE and DTLS may take after negotiation.
    connect_timeout: std::time::Duration,
    events_tx: mpsc::Sender<MediaConnectionEvent>,
    events_rx: Mutex<(mpsc::Receiver<MediaConnectionEvent>, bool)>,
    /// Error events dropped because the application did not read its events.
    dropped_events: AtomicU64,
}

/// A media connection to one remote peer. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct MediaConnection {
    inner: Arc<Inner>,
}

/// Two handles are equal when they are the same connection (clones of one).
impl PartialEq for MediaConnection {
    fn eq(&self, other: &MediaConnection) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for MediaConnection {}

impl std::fmt::Debug for MediaConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConnection")
            .field("id", &self.id())
            .field("remote_id", &self.remote_id())
            .field("state", &self.state())
            .finish()
    }
}

/// Checks that the codec options agree with the tracks: a VP8 track cannot be sent on a call
/// limited to H264.
fn check_codecs(stream: Option<&MediaStream>, m: &Munging) -> Result<(), ConnectionError> {
    let Some(stream) = stream else {
        return Ok(());
    };
    for (kind, wanted) in [
        (MediaKind::Video, &m.video_codec),
        (MediaKind::Audio, &m.audio_codec),
    ] {
        if let (Some(track), Some(wanted)) = (stream.track(kind), wanted) {
            if track.codec().rtpmap_name() != wanted {
                return Err(ConnectionError::Unsupported(format!(
                    "the {kind} track is {} but the {kind} codec option is {wanted}",
                    track.codec()
                )));
            }
        }
    }
    Ok(())
}

impl MediaConnection {
    /// Creates the calling side with its transceivers, without signaling anything yet. As in
    /// the SDK: the stream's video track, then its audio track; a receive-only transceiver for a
    /// kind the stream lacks when `video_receive_enabled`/`audio_receive_enabled` is set; and
    /// without a stream and without those options, receive-only audio and video.
    pub(crate) async fn outgoing(
        ctx: &RtcContext,
        signal: Signal,
        remote_id: &str,
        stream: Option<&MediaStream>,
        options: CallOptions,
        room: Option<String>,
    ) -> Result<MediaConnection, ConnectionError> {
        let munging = options.munging();
        check_codecs(stream, &munging)?;
        let (pc, guard) = ctx.media_peer_connection().await?;
        let ids = Ids {
            id: options
                .connection_id
                .clone()
                .unwrap_or_else(|| connection_id("mc_")),
            remote_id: remote_id.to_owned(),
            kind: ConnectionKind::Media,
            room,
            metadata: options.metadata.clone(),
            originator: true,
            sfu: false,
        };
        let max = ctx.limits.max_remote_tracks;
        let conn = MediaConnection::build(ctx, ids, Arc::new(pc), signal, guard, munging, max);
        let recv_only = || RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            send_encodings: vec![],
        };
        let result = async {
            match stream {
                Some(stream) => {
                    for track in stream.tracks() {
                        conn.add_sender(track).await?;
                    }
                    for (kind, wanted) in [
                        (MediaKind::Video, options.video_receive_enabled),
                        (MediaKind::Audio, options.audio_receive_enabled),
                    ] {
                        if stream.track(kind).is_none() && wanted == Some(true) {
                            conn.pc()
                                .add_transceiver_from_kind(kind.rtp_codec_type(), Some(recv_only()))
                                .await?;
                        }
                    }
                }
                None => {
                    let legacy = options.video_receive_enabled.is_none()
                        && options.audio_receive_enabled.is_none();
                    for (kind, wanted) in [
                        (MediaKind::Audio, options.audio_receive_enabled),
                        (MediaKind::Video, options.video_receive_enabled),
                    ] {
                        if legacy || wanted == Some(true) {
                            conn.pc()
                                .add_transceiver_from_kind(kind.rtp_codec_type(), Some(recv_only()))
                                .await?;
                        }
                    }
                }
            }
            Ok::<(), ConnectionError>(())
        }
        .await;
        if let Err(e) = result {
            conn.shutdown();
            return Err(e);
        }
        Ok(conn)
    }

    /// Sends `SEND_OFFER` for a connection made by [`MediaConnection::outgoing`]. On failure
    /// the connection is closed.
    pub(crate) async fn offer(&self) -> Result<(), ConnectionError> {
        let result = self.send_offer(false).await;
        if result.is_err() {
            self.shutdown();
        }
        result
    }

    async fn send_offer(&self, ice_restart: bool) -> Result<(), ConnectionError> {
        let _step = self.inner.negotiation.lock().await;
        let core = &self.inner.core;
        core.set_local_offer(ice_restart).await?;
        let sdp = self.local_sdp().await?;
        let msg = signal::media_offer(
            &core.ids.remote_id,
            &core.ids.id,
            &sdp,
            core.ids.metadata.as_ref(),
            core.ids.room.as_deref(),
        )?;
        core.signal(msg).await?;
        core.flush_local_candidates().await;
        Ok(())
    }

    /// The local description as sent: munged by the SDK options.
    async fn local_sdp(&self) -> Result<String, ConnectionError> {
        let sdp = self.inner.core.local_sdp().await?;
        let munging = self
            .inner
            .munging
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        munging
            .apply(&sdp)
            .map_err(|e| ConnectionError::Unsupported(e.to_string()))
    }

    /// Accepts a media `OFFER`: the connection is created but not answered (the Peer emits
    /// `call`; the application calls [`MediaConnection::answer`]). Candidates that arrive
    /// before the answer are kept.
    pub(crate) async fn from_offer(
        ctx: &RtcContext,
        signal: Signal,
        offer: &Offer,
    ) -> Result<MediaConnection, ConnectionError> {
        let metadata = offer.raw.get("metadata").cloned().filter(|m| !m.is_null());
        let ids = Ids {
            id: offer.connection_id.clone(),
            remote_id: offer.src.clone(),
            kind: ConnectionKind::Media,
            room: offer.room_name.clone(),
            metadata,
            originator: false,
            sfu: false,
        };
        let max = ctx.limits.max_remote_tracks;
        MediaConnection::answering(ctx, signal, ids, &offer.sdp, max).await
    }

    /// The connection of an SFU room member to the server, from the server's first
    /// `SFU_OFFER` (the SDK's SFU negotiator): answered with [`MediaConnection::answer`];
    /// later offers renegotiate it ([`MediaConnection::handle_offer`]); answers and
    /// candidates go out as `SFU_ANSWER`/`SFU_CANDIDATE` for `room`. It accepts
    /// `max_remote_tracks` tracks (two per other member).
    pub async fn for_sfu(
        ctx: &RtcContext,
        signal: Signal,
        room: &str,
        offer_sdp: &str,
        max_remote_tracks: usize,
    ) -> Result<MediaConnection, ConnectionError> {
        let ids = Ids {
            id: format!("sfu_{room}"),
            remote_id: String::new(),
            kind: ConnectionKind::Media,
            room: Some(room.to_owned()),
            metadata: None,
            originator: false,
            sfu: true,
        };
        MediaConnection::answering(ctx, signal, ids, offer_sdp, max_remote_tracks).await
    }

    /// The answering side of a connection `ids`, with `offer_sdp` waiting for
    /// [`MediaConnection::answer`].
    async fn answering(
        ctx: &RtcContext,
        signal: Signal,
        ids: Ids,
        offer_sdp: &str,
        max_remote_tracks: usize,
    ) -> Result<MediaConnection, ConnectionError> {
        let (pc, guard) = ctx.media_peer_connection().await?;
        let conn = MediaConnection::build(
            ctx,
            ids,
            Arc::new(pc),
            signal,
            guard,
            Munging::default(),
            max_remote_tracks,
        );
        if let Ok(mut p) = conn.inner.pending_offer.lock() {
            *p = Some(offer_sdp.to_owned());
        }
        Ok(conn)
    }

    /// Answers the call (the SDK's `mc.answer(stream, options)`): the stream's tracks are sent
    /// (video, then audio); without a stream the call only receives. On failure the connection
    /// is closed.
    pub async fn answer(
        &self,
        stream: Option<&MediaStream>,
        options: AnswerOptions,
    ) -> Result<(), ConnectionError> {
        let munging = options.munging();
        check_codecs(stream, &munging)?;
        let Some(offer) = self
            .inner
            .pending_offer
            .lock()
            .ok()
            .and_then(|mut p| p.take())
        else {
            return Err(ConnectionError::Unsupported(
                "this call was already answered, or it is not an incoming call".into(),
            ));
        };
        if let Ok(mut m) = self.inner.munging.lock() {
            *m = munging;
        }
        let result = self.answer_inner(&offer, stream).await;
        match &result {
            Ok(()) => {
                state::mark_open(&self.inner.core.state);
            }
            Err(_) => self.shutdown(),
        }
        result
    }

    async fn answer_inner(
        &self,
        offer: &str,
        stream: Option<&MediaStream>,
    ) -> Result<(), ConnectionError> {
        let _step = self.inner.negotiation.lock().await;
        // As the SDK: the tracks first, then the remote offer; the stack pairs each track's
        // transceiver with the offer's section of its kind.
        if let Some(stream) = stream {
            for track in stream.tracks() {
                self.add_sender(track).await?;
            }
        }
        self.apply_remote_offer(offer).await?;
        let sdp = self.send_answer().await?;
        self.inner.core.flush_local_candidates_not_in(&sdp).await;
        self.inner.core.watch_connect(self.inner.connect_timeout);
        Ok(())
    }

    async fn apply_remote_offer(&self, sdp: &str) -> Result<(), ConnectionError> {
        let desc = RTCSessionDescription::offer(sdp.to_owned())
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        self.pc()
            .set_remote_description(desc)
            .await
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        if let Ok(mut last) = self.inner.last_remote_offer.lock() {
            *last = Some(sdp.to_owned());
        }
        self.inner.core.flush_remote_candidates().await;
        Ok(())
    }

    /// Creates and sends the answer (with this side's candidates, see
    /// `Core::set_answer_gathered`); returns the SDP sent.
    async fn send_answer(&self) -> Result<String, ConnectionError> {
        let core = &self.inner.core;
        let answer = core.pc.create_answer(None).await?;
        core.set_answer_gathered(answer).await?;
        let sdp = self.local_sdp().await?;
        if core.ids.sfu {
            let room = core.ids.room.as_deref().unwrap_or_default();
            core.signal(signal::sfu_answer(room, &sdp)).await?;
            return Ok(sdp);
        }
        core.signal(signal::answer(
            &core.ids.remote_id,
            &core.ids.id,
            "media",
            &sdp,
            core.ids.room.as_deref(),
        )?)
        .await?;
        Ok(sdp)
    }

    /// Adds `track` as the sender of its kind and reads the sender's RTCP.
    async fn add_sender(&self, track: LocalTrack) -> Result<(), ConnectionError> {
        let sender = self.pc().add_track(track.webrtc_track()).await?;
        // Sequence numbers stay continuous when `replace_stream` swaps in a track whose source
        // numbers its packets from elsewhere; receivers' jitter buffers see no jump.
        if let Err(e) = sender.enable_seq_transformer() {
            tracing::debug!(error = %e, "sequence numbers not rewritten");
        }
        let slot = Arc::new(StdMutex::new(track.clone()));
        if let Ok(mut s) = self.inner.senders.lock() {
            s.insert(
                track.kind(),
                SenderSlot {
                    sender: sender.clone(),
                    track: slot.clone(),
                },
            );
        }
        tokio::spawn(read_rtcp(sender, slot));
        Ok(())
    }

    /// The connection around `pc`, with its track handler installed and its guard (if any)
    /// told to close it on a malformed datagram.
    fn build(
        ctx: &RtcContext,
        ids: Ids,
        pc: Arc<RTCPeerConnection>,
        signal: Signal,
        guard: Option<MediaGuard>,
        munging: Munging,
        max_remote_tracks: usize,
    ) -> MediaConnection {
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let conn = MediaConnection {
            inner: Arc::new(Inner {
                core: Core::new(ids, pc, signal, guard.clone()),
                munging: StdMutex::new(munging),
                pending_offer: StdMutex::new(None),
                last_remote_offer: StdMutex::new(None),
                negotiation: Mutex::new(()),
                senders: StdMutex::new(HashMap::new()),
                remote_streams: StdMutex::new(HashSet::new()),
                remote_tracks: AtomicUsize::new(0),
                max_remote_tracks,
                connect_timeout: ctx.limits.connect_timeout,
                events_tx,
                events_rx: Mutex::new((events_rx, false)),
                dropped_events: AtomicU64::new(0),
            }),
        };
        if let Some(guard) = guard {
            let weak = Arc::downgrade(&conn.inner);
            guard.on_malformed(move |from, why| {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                if inner.core.state() == ConnectionState::Closed {
                    return;
                }
                let conn = MediaConnection { inner };
                tokio::spawn(async move { conn.malformed_from(from, why).await });
            });
        }
        conn.install_track_handler();
        conn
    }

    /// The underlying `webrtc` peer connection (the SDK's `getPeerConnection()`): for stats,
    /// RTCP and settings this library does not wrap. Closing it by hand ends this connection.
    pub fn peer_connection(&self) -> Arc<RTCPeerConnection> {
        self.pc().clone()
    }

    fn pc(&self) -> &Arc<RTCPeerConnection> {
        &self.inner.core.pc
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    /// Queues an error event, unless the queue is so full that the room kept for track events
    /// would go (then it is counted in [`MediaConnection::dropped_events`] instead).
    fn error_event(&self, error: ConnectionError) {
        let keep_for_tracks = 2 * self.inner.max_remote_tracks + 1;
        if self.inner.events_tx.capacity() <= keep_for_tracks
            || self
                .inner
                .events_tx
                .try_send(MediaConnectionEvent::Error(error))
                .is_err()
        {
            self.inner.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A datagram that would have crashed the stack was dropped. If it came from the remote
    /// peer (the selected candidate pair's remote address), the call ends with an error; from
    /// anywhere else (an off-path sender, which ICE would not have let through either) it is
    /// only dropped, so a stranger cannot end calls.
    async fn malformed_from(&self, from: std::net::SocketAddr, why: &'static str) {
        let pair = self
            .pc()
            .dtls_transport()
            .ice_transport()
            .get_selected_candidate_pair()
            .await;
        let from_remote = pair.is_some_and(|p| {
            p.remote.port == from.port()
                && p.remote.address.parse::<std::net::IpAddr>().ok() == Some(from.ip())
        });
        if !from_remote {
            tracing::debug!(id = %self.id(), %from, why, "malformed datagram from an unknown address dropped");
            return;
        }
        if self.state() == ConnectionState::Closed {
            return;
        }
        self.error_event(ConnectionError::MalformedMedia(format!(
            "{why} (from {from})"
        )));
        self.shutdown();
    }

    fn install_track_handler(&self) {
        let weak = Arc::downgrade(&self.inner);
        let pc: Weak<RTCPeerConnection> = Arc::downgrade(self.pc());
        self.pc()
            .on_track(Box::new(move |track, _receiver, _transceiver| {
                if let Some(inner) = weak.upgrade() {
                    let remote = RemoteTrack::new(track, pc.clone());
                    MediaConnection { inner }.remote_track(remote);
                }
                Box::pin(async {})
            }));
    }

    fn remote_track(&self, track: RemoteTrack) {
        let accepted = self.inner.remote_tracks.fetch_add(1, Ordering::AcqRel);
        if accepted >= self.inner.max_remote_tracks {
            tracing::warn!(id = %self.id(), max = self.inner.max_remote_tracks, "remote track ignored: too many");
            return;
        }
        let stream_id = track.stream_id();
        let first = self
            .inner
            .remote_streams
            .lock()
            .map(|mut s| s.insert(stream_id.clone()))
            .unwrap_or(false);
        tracing::debug!(id = %self.id(), ?track, "remote track");
        // Room for these is kept in the queue (see `error_event`): at most two per track.
        if first {
            let _ = self
                .inner
                .events_tx
                .try_send(MediaConnectionEvent::Stream(stream_id));
        }
        let _ = self
            .inner
            .events_tx
            .try_send(MediaConnectionEvent::Track(track));
    }

    /// Applies a relayed `ANSWER` (caller side), to the first offer or to a renegotiation.
    pub(crate) async fn handle_answer(&self, sdp: &str) -> Result<(), ConnectionError> {
        if !self.is_originator() {
            return Err(ConnectionError::InvalidSignal(
                "an answer for a call this peer did not make".into(),
            ));
        }
        let _step = self.inner.negotiation.lock().await;
        let answer = RTCSessionDescription::answer(sdp.to_owned())
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        self.pc()
            .set_remote_description(answer)
            .await
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        self.inner.core.flush_remote_candidates().await;
        state::mark_open(&self.inner.core.state);
        self.inner.core.watch_connect(self.inner.connect_timeout);
        Ok(())
    }

    /// Applies a relayed `OFFER` for this existing connection: the caller renegotiates (after
    /// its `replace_stream` added or removed a kind). An offer identical to the last one is
    /// ignored; otherwise `SEND_ANSWER` goes back. A renegotiation that fails is also reported
    /// as [`MediaConnectionEvent::Error`]; the call keeps what was negotiated before.
    pub(crate) async fn handle_offer(&self, sdp: &str) -> Result<(), ConnectionError> {
        if self.is_originator() {
            return Err(ConnectionError::InvalidSignal(
                "an offer for a call this peer made".into(),
            ));
        }
        if let Ok(mut pending) = self.inner.pending_offer.lock() {
            if pending.is_some() {
                // Not answered yet: the newer offer replaces the one waiting for `answer()`.
                *pending = Some(sdp.to_owned());
                return Ok(());
            }
        }
        let same = self
            .inner
            .last_remote_offer
            .lock()
            .map(|l| l.as_deref() == Some(sdp))
            .unwrap_or(false);
        if same || self.state() == ConnectionState::Closed {
            return Ok(());
        }
        let _step = self.inner.negotiation.lock().await;
        let core = &self.inner.core;
        core.hold_local_candidates().await;
        let result = match self.apply_remote_offer(sdp).await {
            Ok(()) => self.send_answer().await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(answer) => core.flush_local_candidates_not_in(answer).await,
            Err(_) => core.flush_local_candidates().await,
        }
        let result = result.map(|_| ());
        if let Err(e) = &result {
            // The call goes on with what was negotiated before; the application hears of it.
            self.error_event(e.clone());
        }
        result
    }

    /// Restarts ICE: a new offer with fresh ICE credentials (same connection id), after which
    /// both sides gather and check again; media resumes on the new path. Only the caller may
    /// (the SDK renegotiates from the originator only, and accepts such an offer as an update);
    /// on the answering side this is [`ConnectionError::Unsupported`]. A Peer does it by
    /// itself when ICE stays disconnected while the remote is still online.
    pub async fn restart_ice(&self) -> Result<(), ConnectionError> {
        if self.state() == ConnectionState::Closed {
            return Err(ConnectionError::Closed);
        }
        self.send_offer(true).await
    }

    /// ICE restarts this side offered so far.
    pub fn ice_restarts(&self) -> u32 {
        self.inner.core.ice_restarts()
    }

    /// Replaces the stream sent (the SDK's `replaceStream`), kind by kind: the track of a kind
    /// already sent is swapped in place (no renegotiation); a kind that is new is added and a
    /// kind the new stream lacks is removed, which needs a renegotiation. As in the SDK only
    /// the caller renegotiates (a new `SEND_OFFER` with the same connection id); on the
    /// answering side such a change is refused with [`ConnectionError::Unsupported`].
    pub async fn replace_stream(&self, stream: &MediaStream) -> Result<(), ConnectionError> {
        if self.state() == ConnectionState::Closed {
            return Err(ConnectionError::Closed);
        }
        check_codecs(
            Some(stream),
            &self
                .inner
                .munging
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
        )?;
        let mut renegotiate = false;
        for kind in [MediaKind::Video, MediaKind::Audio] {
            let current = self.inner.senders.lock().ok().and_then(|s| {
                s.get(&kind)
                    .map(|slot| (slot.sender.clone(), slot.track.clone()))
            });
            match (current, stream.track(kind)) {
                (Some((sender, slot)), Some(track)) => {
                    sender.replace_track(Some(track.webrtc_track())).await?;
                    if let Ok(mut t) = slot.lock() {
                        *t = track.clone();
                    }
                }
                (Some((sender, _)), None) => {
                    if !self.is_originator() {
                        return Err(ConnectionError::Unsupported(
                            "removing a kind needs a renegotiation, which only the caller starts"
                                .into(),
                        ));
                    }
                    self.pc().remove_track(&sender).await?;
                    if let Ok(mut s) = self.inner.senders.lock() {
                        s.remove(&kind);
                    }
                    renegotiate = true;
                }
                (None, Some(track)) => {
                    if !self.is_originator() {
                        return Err(ConnectionError::Unsupported(
                            "adding a kind needs a renegotiation, which only the caller starts"
                                .into(),
                        ));
                    }
                    self.add_sender(track.clone()).await?;
                    renegotiate = true;
                }
                (None, None) => {}
            }
        }
        if renegotiate {
            self.send_offer(false).await?;
        }
        Ok(())
    }

    /// The connection id.
    pub fn id(&self) -> &str {
        &self.inner.core.ids.id
    }

    /// The remote peer's id (the SDK's `remoteId`).
    pub fn remote_id(&self) -> &str {
        &self.inner.core.ids.remote_id
    }

    /// The metadata given by the caller.
    pub fn metadata(&self) -> Option<&Value> {
        self.inner.core.ids.metadata.as_ref()
    }

    /// Whether this side made the call.
    pub fn is_originator(&self) -> bool {
        self.inner.core.ids.originator
    }

    /// The room this call belongs to (a mesh room's member connection), if any.
    pub fn room_name(&self) -> Option<&str> {
        self.inner.core.ids.room.as_deref()
    }

    /// The current state: `Open` once answered (answerer) or once the answer is applied
    /// (caller), as the SDK's `open`.
    pub fn state(&self) -> ConnectionState {
        self.inner.core.state()
    }

    /// Whether the call is open (the SDK's `open`).
    pub fn is_open(&self) -> bool {
        self.state() == ConnectionState::Open
    }

    /// Error events dropped because the application did not read this call's events.
    pub fn dropped_events(&self) -> u64 {
        self.inner.dropped_events.load(Ordering::Relaxed)
    }

    /// Bytes and packets sent and received, and the round-trip time, of the call's selected
    /// candidate pair.
    pub async fn stats(&self) -> ConnectionStats {
        ConnectionStats::of(self.pc()).await
    }

    /// The local tracks currently sent, video first.
    pub fn local_tracks(&self) -> Vec<LocalTrack> {
        let Ok(s) = self.inner.senders.lock() else {
            return Vec::new();
        };
        [MediaKind::Video, MediaKind::Audio]
            .iter()
            .filter_map(|k| {
                s.get(k)
                    .and_then(|slot| slot.track.lock().ok().map(|t| t.clone()))
            })
            .collect()
    }

    /// Waits until the call is open; fails if it closes first.
    pub async fn wait_open(&self) -> Result<(), ConnectionError> {
        self.inner.core.wait_open().await
    }

    /// Waits until media can flow (ICE and DTLS are up); fails if the call closes first. A
    /// source started before this point loses its first packets, as a camera's frames are lost
    /// before a call connects: start file playback after it to send the file from its start.
    pub async fn wait_connected(&self) -> Result<(), ConnectionError> {
        self.inner.core.wait_connected().await
    }

    /// Whether media can flow (ICE and DTLS are up).
    pub fn is_connected(&self) -> bool {
        *self.inner.core.connected.borrow()
    }

    /// Waits until the connection is closed.
    pub async fn closed(&self) {
        self.inner.core.closed().await
    }

    /// The next event; `None` after [`MediaConnectionEvent::Close`].
    #[must_use = "an event taken and dropped is lost"]
    pub async fn next_event(&self) -> Option<MediaConnectionEvent> {
        let mut guard = self.inner.events_rx.lock().await;
        let (rx, close_reported) = &mut *guard;
        state::next_event(
            rx,
            close_reported,
            &self.inner.core.state,
            MediaConnectionEvent::Close,
        )
        .await
    }

    /// The events as a stream (the same events as [`MediaConnection::next_event`]; use one or
    /// the other).
    pub fn events(&self) -> impl futures::Stream<Item = MediaConnectionEvent> + Send + 'static {
        futures::stream::unfold(self.clone(), |conn| async move {
            let ev = conn.next_event().await?;
            Some((ev, conn))
        })
    }

    /// Waits for the next remote track, skipping other events; `None` once closed.
    #[must_use = "a track taken and dropped is not read"]
    pub async fn next_track(&self) -> Option<RemoteTrack> {
        loop {
            match self.next_event().await? {
                MediaConnectionEvent::Track(t) => return Some(t),
                MediaConnectionEvent::Close => return None,
                _ => {}
            }
        }
    }

    /// Closes the call. With `force`, the remote side is told through `SEND_FORCE_CLOSE` and
    /// closes at once; without, it notices when ICE fails.
    pub async fn close(&self, force: bool) {
        if force {
            self.inner.core.send_force_close().await;
        }
        self.shutdown();
    }

    /// The remote side closed (`FORCE_CLOSE`, or `LEAVE` of the remote peer).
    pub(crate) fn handle_remote_close(&self) {
        self.shutdown();
    }

    fn shutdown(&self) {
        self.inner.core.close_now();
    }
}

/// Reads a sender's RTCP so the interceptors make progress, and passes keyframe requests (PLI,
/// FIR) on to the track being sent.
async fn read_rtcp(sender: Arc<RTCRtpSender>, track: Arc<StdMutex<LocalTrack>>) {
    while let Ok((packets, _)) = sender.read_rtcp().await {
        for p in packets {
            let any = p.as_any();
            if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                if let Ok(t) = track.lock() {
                    t.note_keyframe_request();
                }
            }
        }
    }
}
