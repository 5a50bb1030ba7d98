//! [`Core`]: what every connection is and does, whatever it carries: its ids, its
//! `RTCPeerConnection`, its signaling sink, its state, its trickle-ICE queues, and closing.
//!
//! `DataConnection` and `MediaConnection` each hold a `Core` and add only what their payload
//! needs (a data channel and its framing; tracks and SDP munging); a room's connections will be a
//! third user of it. The ICE handlers are installed here, once: local candidates wait until the
//! offer or answer went out, then go to the remote as `SEND_CANDIDATE` (with the room name for a
//! room's connection), and an ICE failure closes the connection.
//!
//! ICE trouble: while the peer connection is `disconnected` (no traffic from the remote for
//! webrtc-rs's 5 s), [`Core::ice_trouble_since`] says since when; the Peer's repair task decides
//! what to do about it (ask whether the remote is still there, restart ICE). An ICE restart is
//! an offer created with `ice_restart` ([`Core::restart_offer`]), sent by the originator only,
//! as only it renegotiates in the SDK.

use crate::candidates::{self, CandidateQueues};
use crate::error::ConnectionError;
use crate::guard::MediaGuard;
use crate::signal;
use crate::sink::Signal;
use crate::state::{self, ConnectionState};
use peer_protocol::client::ClientMessage;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Longest wait for ICE gathering before an answer goes out (host candidates take well under a
/// millisecond; STUN and TURN ones may come later and are trickled).
const ANSWER_GATHER_WAIT: Duration = Duration::from_millis(50);
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::offer_answer_options::RTCOfferOptions;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;

/// `data` or `media`, as the SDK's `connectionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionKind {
    /// A DataConnection.
    Data,
    /// A MediaConnection.
    Media,
}

impl ConnectionKind {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Data => "data",
            ConnectionKind::Media => "media",
        }
    }
}

/// What a connection is, fixed at creation from the options or the offer.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub(crate) id: String,
    pub(crate) remote_id: String,
    pub(crate) kind: ConnectionKind,
    /// The room this connection belongs to (a mesh room's member connection), if any.
    pub(crate) room: Option<String>,
    pub(crate) metadata: Option<Value>,
    pub(crate) originator: bool,
    /// The connection to an SFU room's server (`remote_id` is empty): answers and candidates
    /// go out as `SFU_ANSWER`/`SFU_CANDIDATE` for `room`, and nothing is force-closed.
    pub(crate) sfu: bool,
}

/// The shared part of a connection. See the module documentation.
pub(crate) struct Core {
    pub(crate) ids: Ids,
    pub(crate) pc: Arc<RTCPeerConnection>,
    signal: Signal,
    pub(crate) state: watch::Sender<ConnectionState>,
    /// Whether ICE and DTLS are up (data or media can flow).
    pub(crate) connected: watch::Sender<bool>,
    /// Since when the peer connection has been `disconnected`, while it is.
    trouble: watch::Sender<Option<Instant>>,
    /// ICE restarts offered so far.
    restarts: AtomicU32,
    candidates: CandidateQueues,
    /// The UDP socket guard of a media connection (closed with the connection).
    guard: Option<MediaGuard>,
}

impl Core {
    /// The core around `pc`, with its ICE and state handlers installed.
    pub(crate) fn new(
        ids: Ids,
        pc: Arc<RTCPeerConnection>,
        signal: Signal,
        guard: Option<MediaGuard>,
    ) -> Arc<Core> {
        let core = Arc::new(Core {
            ids,
            pc,
            signal,
            state: watch::channel(ConnectionState::Connecting).0,
            connected: watch::channel(false).0,
            trouble: watch::channel(None).0,
            restarts: AtomicU32::new(0),
            candidates: CandidateQueues::new(),
            guard,
        });
        core.install_handlers();
        core
    }

    fn install_handlers(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        self.pc.on_ice_candidate(Box::new(move |c| {
            let weak: Weak<Core> = weak.clone();
            Box::pin(async move {
                let (Some(c), Some(core)) = (c, weak.upgrade()) else {
                    return;
                };
                match c.to_json() {
                    Ok(init) => core.local_candidate(init).await,
                    Err(e) => tracing::debug!(error = %e, "unusable local candidate"),
                }
            })
        }));
        let weak = Arc::downgrade(self);
        self.pc.on_peer_connection_state_change(Box::new(move |s| {
            if let Some(core) = weak.upgrade() {
                match s {
                    RTCPeerConnectionState::Connected => {
                        core.connected.send_replace(true);
                        core.trouble.send_replace(None);
                    }
                    RTCPeerConnectionState::Disconnected => {
                        tracing::info!(id = %core.ids.id, "peer connection disconnected");
                        core.trouble.send_if_modified(|t| {
                            let was = t.is_none();
                            t.get_or_insert_with(Instant::now);
                            was
                        });
                    }
                    RTCPeerConnectionState::Failed => {
                        tracing::info!(id = %core.ids.id, "peer connection failed");
                        core.close_now();
                    }
                    _ => {}
                }
            }
            Box::pin(async {})
        }));
    }

    async fn local_candidate(&self, c: RTCIceCandidateInit) {
        if let Some(c) = self.candidates.local(c).await {
            self.send_candidate(&c).await;
        }
    }

    async fn send_candidate(&self, c: &RTCIceCandidateInit) {
        let i = &self.ids;
        if i.sfu {
            let room = i.room.as_deref().unwrap_or_default();
            if let Err(e) = self.signal.send(signal::sfu_candidate(room, c)).await {
                tracing::debug!(error = %e, "SFU candidate not sent");
            }
            return;
        }
        candidates::send(
            &self.signal,
            &i.remote_id,
            &i.id,
            i.kind.as_str(),
            i.room.as_deref(),
            c,
        )
        .await;
    }

    /// The offer or answer went out: sends the local candidates held until now.
    pub(crate) async fn flush_local_candidates(&self) {
        for c in self.candidates.release_local().await {
            self.send_candidate(&c).await;
        }
    }

    /// The description `sdp` went out: sends the local candidates held until now that it does
    /// not already carry.
    pub(crate) async fn flush_local_candidates_not_in(&self, sdp: &str) {
        for c in self.candidates.release_local().await {
            if !sdp.contains(&format!("a={}\r\n", c.candidate)) {
                self.send_candidate(&c).await;
            }
        }
    }

    /// Sets `answer` as the local description after waiting (at most [`ANSWER_GATHER_WAIT`])
    /// for ICE gathering, so the answer sent carries this side's candidates.
    ///
    /// Trickled after the answer, a candidate can reach the offerer after this side's first
    /// connectivity check does: the offerer then learns this address as a peer-reflexive
    /// candidate, credits every later response from it to that candidate, and webrtc-ice 0.17.2
    /// nominates the pair only on its next 200 ms check tick (one connection in seven to ten
    /// opened 200 ms late; `docs/benchmarks.md`).
    pub(crate) async fn set_answer_gathered(
        &self,
        answer: webrtc::peer_connection::sdp::session_description::RTCSessionDescription,
    ) -> Result<(), ConnectionError> {
        let mut gathered = self.pc.gathering_complete_promise().await;
        self.pc.set_local_description(answer).await?;
        let _ = tokio::time::timeout(ANSWER_GATHER_WAIT, gathered.recv()).await;
        Ok(())
    }

    /// Closes the connection if ICE and DTLS are not up within `limit` from now (negotiation
    /// is done; webrtc-rs can stay "connecting" forever when DTLS starts before ICE reports).
    pub(crate) fn watch_connect(self: &Arc<Self>, limit: Duration) {
        if *self.connected.borrow() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let waited = {
                let Some(core) = weak.upgrade() else {
                    return;
                };
                let mut connected = core.connected.subscribe();
                let mut state = core.state.subscribe();
                drop(core);
                tokio::time::timeout(limit, async {
                    loop {
                        if *connected.borrow_and_update()
                            || *state.borrow_and_update() == ConnectionState::Closed
                        {
                            return;
                        }
                        tokio::select! {
                            r = connected.changed() => if r.is_err() { return },
                            r = state.changed() => if r.is_err() { return },
                        }
                    }
                })
                .await
            };
            if waited.is_err() {
                if let Some(core) = weak.upgrade() {
                    tracing::info!(id = %core.ids.id, ?limit, "not connected in time; closing");
                    core.close_now();
                }
            }
        });
    }

    /// Since when ICE has been disconnected (no traffic from the remote), while it is.
    pub(crate) fn ice_trouble_since(&self) -> Option<Instant> {
        *self.trouble.borrow()
    }

    /// ICE restarts offered so far.
    pub(crate) fn ice_restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Creates and sets a local offer; with `ice_restart`, one with fresh ICE credentials
    /// that gathers again (an ICE restart).
    pub(crate) async fn set_local_offer(&self, ice_restart: bool) -> Result<(), ConnectionError> {
        let options = ice_restart.then(|| RTCOfferOptions {
            ice_restart: true,
            ..Default::default()
        });
        if ice_restart {
            if !self.ids.originator {
                return Err(ConnectionError::Unsupported(
                    "only the side that made the connection restarts ICE (it alone renegotiates)"
                        .into(),
                ));
            }
            self.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::info!(id = %self.ids.id, "restarting ICE");
            // The new candidates go out after the offer (the caller flushes them).
            self.candidates.hold_local().await;
        }
        let result = async {
            let offer: RTCSessionDescription = self.pc.create_offer(options).await?;
            self.pc.set_local_description(offer).await?;
            Ok(())
        }
        .await;
        if result.is_err() && ice_restart {
            self.flush_local_candidates().await;
        }
        result
    }

    /// Holds local candidates until the answer to a renegotiation went out (it may restart
    /// ICE, which gathers anew); the caller flushes them.
    pub(crate) async fn hold_local_candidates(&self) {
        self.candidates.hold_local().await;
    }

    /// The remote description is set: adds the remote candidates held until now.
    pub(crate) async fn flush_remote_candidates(&self) {
        self.candidates.release_remote(&self.pc).await;
    }

    /// A renegotiation offer was received and will be applied: remote candidates wait for it.
    pub(crate) async fn hold_remote_candidates(&self) {
        self.candidates.hold_remote().await;
    }

    /// A relayed remote candidate: added, or kept until the remote description is set.
    pub(crate) async fn handle_candidate(
        &self,
        c: RTCIceCandidateInit,
    ) -> Result<(), ConnectionError> {
        self.candidates.remote(&self.pc, c).await
    }

    /// The local description's SDP, as set.
    pub(crate) async fn local_sdp(&self) -> Result<String, ConnectionError> {
        self.pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| ConnectionError::stack("no local description"))
    }

    /// Sends a signaling message for this connection.
    pub(crate) async fn signal(&self, msg: ClientMessage) -> Result<(), ConnectionError> {
        self.signal.send(msg).await
    }

    /// Tells the remote to close this connection (`SEND_FORCE_CLOSE`), unless already closed.
    pub(crate) async fn send_force_close(&self) {
        if self.state() != ConnectionState::Closed && !self.ids.sfu {
            let msg = signal::force_close(&self.ids.remote_id, &self.ids.id);
            let _ = self.signal(msg).await;
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// Marks the connection closed; true if it was not closed before (the caller then frees
    /// what it holds and calls [`Core::close_transport`]).
    pub(crate) fn begin_close(&self) -> bool {
        self.state.send_replace(ConnectionState::Closed) != ConnectionState::Closed
    }

    /// Closes the peer connection (and the media guard's socket) aside: closing waits on DTLS,
    /// SCTP and the RTP loops, and a handler that closes must never wait on itself.
    pub(crate) fn close_transport(&self) {
        let pc = self.pc.clone();
        let guard = self.guard.clone();
        tokio::spawn(async move {
            let _ = pc.close().await;
            if let Some(guard) = guard {
                guard.close().await;
            }
        });
    }

    /// Closes at once (ICE failed, the remote left, or a malformed packet).
    pub(crate) fn close_now(&self) {
        if self.begin_close() {
            tracing::debug!(id = %self.ids.id, "closing connection");
            self.close_transport();
        }
    }

    /// Waits until the state leaves `Connecting`.
    pub(crate) async fn wait_open(&self) -> Result<(), ConnectionError> {
        state::wait_open(&self.state).await
    }

    /// Waits until the connection is closed.
    pub(crate) async fn closed(&self) {
        state::closed(&self.state).await
    }

    /// Waits until ICE and DTLS are up; fails if the connection closes first.
    pub(crate) async fn wait_connected(&self) -> Result<(), ConnectionError> {
        let mut connected = self.connected.subscribe();
        let mut state = self.state.subscribe();
        loop {
            if *connected.borrow_and_update() {
                return Ok(());
            }
            if *state.borrow_and_update() == ConnectionState::Closed {
                return Err(ConnectionError::Closed);
            }
            tokio::select! {
                r = connected.changed() => if r.is_err() { return Err(ConnectionError::Closed) },
                r = state.changed() => if r.is_err() { return Err(ConnectionError::Closed) },
            }
        }
    }
}
