//! One member's peer connection, in a task of its own: the backend sends it [`Cmd`]s and hears
//! back through [`Internal`] events, so a slow negotiation never holds up other members.
//!
//! - Upstream: one recvonly audio and one recvonly video section, created first so that the
//!   client's `addTrack`s bind to them. Each arriving track gets a forwarding track
//!   (`TrackLocalStaticRTP` under the member's stream id) that every subscriber's sender shares;
//!   a task reads the upstream RTP and writes it there, unchanged but for the SSRC and payload
//!   type each binding sets.
//! - Downstream: one sendonly section per forwarded track; a track that goes is made inactive
//!   (webrtc 0.17.2 never reuses a section). Each sender's RTCP is read: PLI and FIR become
//!   keyframe requests for the core; NACKs are answered by the stack's responder.
//! - Every task a session starts is in its [`Tasks`]: a removed track's reader is aborted with
//!   it, and all of them when the session ends, before its connection is closed (once).

use crate::core::{Input, MemberKey};
use crate::plan::{Kind, OfferPlan, TrackId};
use crate::sdp::answer_problem;
use crate::shell::loss::LossTargets;
use crate::shell::stats::Counters;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use webrtc::api::API;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtp_transceiver::rtp_codec::RTPCodecType;
use webrtc::rtp_transceiver::rtp_sender::RTCRtpSender;
use webrtc::rtp_transceiver::rtp_transceiver_direction::RTCRtpTransceiverDirection;
use webrtc::rtp_transceiver::RTCRtpTransceiverInit;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::{TrackLocal, TrackLocalWriter};
use webrtc::util::MarshalSize;

/// How long an offer may wait for its candidates (host candidates on one socket: at once).
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// The least time between two keyframe requests one subscriber's sender passes on.
const FEEDBACK_INTERVAL: Duration = Duration::from_millis(100);
/// Commands queued per session.
pub(crate) const CMD_CAPACITY: usize = 64;

/// What the backend asks of a session.
pub(crate) enum Cmd {
    /// Bring the downstream sections to the plan and make an offer.
    Offer(OfferPlan, Vec<(TrackId, Arc<TrackLocalStaticRTP>)>),
    /// Apply the answer.
    Answer(String),
    /// Add a remote candidate (the client's JSON).
    Candidate(String),
    /// Ask for a keyframe of an upstream track.
    Keyframe(TrackId),
    /// Close and end.
    Close,
}

/// What a session tells the backend. The `u64` is the session's number: what a session that
/// was closed or replaced says is dropped (it could reach the backend after the member left,
/// or joined again under the same key).
pub(crate) enum Internal {
    /// An input for the core from the backend itself.
    Input(Input),
    /// An input for the core from a member's session.
    Session(MemberKey, u64, Input),
    /// An offer is ready: send it as `SFU_OFFER`.
    Offer(MemberKey, u64, String, BTreeMap<String, String>),
    /// An upstream track's forwarding track; `Input::TrackArrived` follows.
    Forwarder(u64, TrackId, MemberKey, Arc<TrackLocalStaticRTP>),
}

/// The tasks of one session: its upstream tracks' readers, its forwarded tracks' feedback
/// readers. [`Tasks::end`] aborts those still running and refuses new ones, so that none
/// outlives the session, whatever webrtc does: an `RTCRtpSender::read_rtcp` that is not
/// waiting at the moment its sender stops (a `Notify::notify_waiters`, which wakes only the
/// waiters already there) may never return, holding the sender and, through it, the closed
/// connection's transports and interceptors.
#[derive(Clone, Default)]
pub(crate) struct Tasks(Arc<Mutex<TaskSet>>);

#[derive(Default)]
struct TaskSet {
    ended: bool,
    running: Vec<AbortHandle>,
}

impl Tasks {
    fn set(&self) -> MutexGuard<'_, TaskSet> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns `task`, unless the session ended; the handle aborts it alone.
    pub(crate) fn spawn<F>(&self, task: F) -> Option<AbortHandle>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut set = self.set();
        if set.ended {
            return None;
        }
        set.running.retain(|h| !h.is_finished());
        let handle = tokio::spawn(task).abort_handle();
        set.running.push(handle.clone());
        Some(handle)
    }

    /// Whether the session ended.
    pub(crate) fn ended(&self) -> bool {
        self.set().ended
    }

    /// Ends the session's tasks: those running are aborted, later ones never start.
    pub(crate) fn end(&self) {
        let running = {
            let mut set = self.set();
            set.ended = true;
            std::mem::take(&mut set.running)
        };
        for h in running {
            h.abort();
        }
    }

    /// Tasks not finished yet.
    #[cfg(test)]
    fn running(&self) -> usize {
        self.set()
            .running
            .iter()
            .filter(|h| !h.is_finished())
            .count()
    }
}

/// What every member's session shares: the track id counter and the SFU's counters.
pub(crate) struct Shared {
    pub(crate) track_ids: Arc<AtomicU64>,
    pub(crate) counters: Arc<Counters>,
    /// This session's number (unique in the backend).
    pub(crate) serial: u64,
}

/// Starts the session task of `member`; returns its command queue.
pub(crate) async fn start(
    api: &API,
    member: MemberKey,
    stream_id: String,
    shared: Shared,
    internal: mpsc::UnboundedSender<Internal>,
    lossy: Option<Arc<LossTargets>>,
    max_tracks: usize,
) -> Result<mpsc::Sender<Cmd>, String> {
    let pc = Arc::new(
        api.new_peer_connection(RTCConfiguration::default())
            .await
            .map_err(|e| format!("cannot create the SFU connection: {e}"))?,
    );
    for kind in [RTPCodecType::Audio, RTPCodecType::Video] {
        let added = pc
            .add_transceiver_from_kind(
                kind,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    send_encodings: Vec::new(),
                }),
            )
            .await;
        if let Err(e) = added {
            close(&pc, &member).await;
            return Err(format!("cannot add the upstream sections: {e}"));
        }
    }
    let tasks = Tasks::default();
    let serial = shared.serial;
    let upstream: Arc<Mutex<HashMap<TrackId, u32>>> = Arc::default();
    let counters = shared.counters.clone();
    {
        let member = member.clone();
        let internal = internal.clone();
        let tasks = tasks.clone();
        let upstream = upstream.clone();
        pc.on_track(Box::new(move |track, receiver, _| {
            // A track that arrives as the session ends gets nothing.
            if tasks.ended() {
                return Box::pin(async {});
            }
            // Past the member's track limit nothing is created for a track (the core would
            // not forward it either): no forwarding track, no reader tasks.
            if upstream.lock().map(|u| u.len() >= max_tracks).unwrap_or(true) {
                tracing::debug!(peer = %member.peer, "an upstream track past the member's limit is ignored");
                return Box::pin(async {});
            }
            let id = TrackId(shared.track_ids.fetch_add(1, Ordering::Relaxed));
            let kind = match track.kind() {
                RTPCodecType::Audio => Kind::Audio,
                _ => Kind::Video,
            };
            let local = Arc::new(TrackLocalStaticRTP::new(
                track.codec().capability,
                format!("{}-{}", kind.as_str(), id.0),
                stream_id.clone(),
            ));
            if let Ok(mut u) = upstream.lock() {
                u.insert(id, track.ssrc());
            }
            let _ = internal.send(Internal::Forwarder(
                serial,
                id,
                member.clone(),
                local.clone(),
            ));
            let _ = internal.send(Internal::Session(
                member.clone(),
                serial,
                Input::TrackArrived(member.clone(), id, kind),
            ));
            // RTCP from the publisher (sender reports): read so that receiver reports carry
            // their timing.
            tasks.spawn(async move { while receiver.read_rtcp().await.is_ok() {} });
            let (member, internal) = (member.clone(), internal.clone());
            let counters = shared.counters.clone();
            tasks.spawn(async move {
                let mut errors = 0u32;
                loop {
                    match track.read_rtp().await {
                        Ok((packet, _)) => {
                            errors = 0;
                            let size = packet.marshal_size() as u64;
                            Counters::add(&counters.received_packets, 1);
                            Counters::add(&counters.received_bytes, size);
                            // A subscriber's failure (not bound yet, closed) is not the
                            // publisher's: the other bindings are written regardless. The
                            // bytes written are summed over the subscribers.
                            if let Ok(sent) = local.write_rtp(&packet).await {
                                let sent = sent as u64;
                                Counters::add(&counters.forwarded_bytes, sent);
                                Counters::add(&counters.forwarded_packets, sent / size.max(1));
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            if errors > 64 {
                                tracing::debug!(peer = %member.peer, error = %e, "upstream track ended");
                                break;
                            }
                        }
                    }
                }
                let ended = Input::TrackEnded(member.clone(), id);
                let _ = internal.send(Internal::Session(member, serial, ended));
            });
            Box::pin(async {})
        }));
    }
    {
        let member = member.clone();
        let internal = internal.clone();
        let tasks = tasks.clone();
        let weak = Arc::downgrade(&pc);
        pc.on_peer_connection_state_change(Box::new(move |state| {
            if state == RTCPeerConnectionState::Connected && !tasks.ended() {
                let up = Input::Connected(member.clone());
                let _ = internal.send(Internal::Session(member.clone(), serial, up));
            }
            if let (RTCPeerConnectionState::Connected, Some(loss)) = (state, lossy.clone()) {
                // Tests only: this member's address joins the loss injector's targets.
                let weak = weak.clone();
                tasks.spawn(async move {
                    let Some(pc) = weak.upgrade() else { return };
                    let pair = pc
                        .dtls_transport()
                        .ice_transport()
                        .get_selected_candidate_pair()
                        .await;
                    if let Some(addr) = pair.and_then(|p| {
                        Some(std::net::SocketAddr::new(
                            p.remote.address.parse().ok()?,
                            p.remote.port,
                        ))
                    }) {
                        loss.add(addr);
                    }
                });
            }
            if matches!(
                state,
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
            ) && !tasks.ended()
            {
                let failed =
                    Input::SessionFailed(member.clone(), format!("the SFU connection {state}"));
                let _ = internal.send(Internal::Session(member.clone(), serial, failed));
            }
            Box::pin(async {})
        }));
    }
    let (tx, rx) = mpsc::channel(CMD_CAPACITY);
    tokio::spawn(run(
        Run {
            pc,
            member,
            internal,
            tasks,
            upstream,
            counters,
            serial,
        },
        rx,
    ));
    Ok(tx)
}

/// What the session's command loop works with.
struct Run {
    pc: Arc<RTCPeerConnection>,
    member: MemberKey,
    internal: mpsc::UnboundedSender<Internal>,
    tasks: Tasks,
    upstream: Arc<Mutex<HashMap<TrackId, u32>>>,
    counters: Arc<Counters>,
    serial: u64,
}

/// A forwarded track's sender and the task reading its RTCP.
type Downstream = (Arc<RTCRtpSender>, Option<AbortHandle>);

/// The session's command loop. It ends on `Cmd::Close` or when the backend drops its queue
/// (the member left, or the backend ended); then the session's tasks end and its connection
/// is closed.
async fn run(r: Run, mut cmds: mpsc::Receiver<Cmd>) {
    let Run {
        pc,
        member,
        internal,
        tasks,
        upstream,
        counters,
        serial,
    } = r;
    let mut senders: HashMap<TrackId, Downstream> = HashMap::new();
    let fail = |why: String| {
        let failed = Input::SessionFailed(member.clone(), why);
        let _ = internal.send(Internal::Session(member.clone(), serial, failed));
    };
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            Cmd::Offer(plan, locals) => {
                match offer(
                    &pc,
                    &plan,
                    locals,
                    &mut senders,
                    &tasks,
                    &internal,
                    (&member, serial),
                )
                .await
                {
                    Ok(sdp) => {
                        let _ = internal.send(Internal::Offer(
                            member.clone(),
                            serial,
                            sdp,
                            plan.msids(),
                        ));
                    }
                    Err(e) => fail(e),
                }
            }
            Cmd::Answer(sdp) => {
                if let Some(problem) = answer_problem(&sdp) {
                    fail(problem.to_owned());
                    continue;
                }
                let applied = match RTCSessionDescription::answer(sdp) {
                    Ok(answer) => pc.set_remote_description(answer).await,
                    Err(e) => Err(e),
                };
                match applied {
                    Ok(()) => {
                        let applied = Input::AnswerApplied(member.clone());
                        let _ = internal.send(Internal::Session(member.clone(), serial, applied));
                    }
                    Err(e) => fail(format!("the SFU answer was refused: {e}")),
                }
            }
            Cmd::Candidate(json) => match serde_json::from_str::<RTCIceCandidateInit>(&json) {
                Ok(c) => {
                    if let Err(e) = pc.add_ice_candidate(c).await {
                        tracing::debug!(peer = %member.peer, error = %e, "SFU candidate not added");
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = %member.peer, error = %e, "malformed SFU candidate")
                }
            },
            Cmd::Keyframe(track) => {
                let ssrc = upstream.lock().ok().and_then(|u| u.get(&track).copied());
                if let Some(ssrc) = ssrc {
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: ssrc,
                    };
                    if pc.write_rtcp(&[Box::new(pli)]).await.is_ok() {
                        Counters::add(&counters.plis, 1);
                    }
                }
            }
            Cmd::Close => break,
        }
    }
    tasks.end();
    close(&pc, &member).await;
}

/// Closes a session's connection (once: the command loop's end, or a failed start).
async fn close(pc: &RTCPeerConnection, member: &MemberKey) {
    if let Err(e) = pc.close().await {
        tracing::debug!(peer = %member.peer, error = %e, "closing an SFU connection");
    }
}

/// Syncs the downstream sections with `plan` and returns the offer with its candidates.
async fn offer(
    pc: &Arc<RTCPeerConnection>,
    plan: &OfferPlan,
    locals: Vec<(TrackId, Arc<TrackLocalStaticRTP>)>,
    senders: &mut HashMap<TrackId, Downstream>,
    tasks: &Tasks,
    internal: &mpsc::UnboundedSender<Internal>,
    (member, serial): (&MemberKey, u64),
) -> Result<String, String> {
    let gone: Vec<TrackId> = senders.keys().filter(|t| !plan.has(**t)).copied().collect();
    for t in gone {
        if let Some((sender, reader)) = senders.remove(&t) {
            // Its reader may miss the sender's stop (see `Tasks`): it ends here.
            if let Some(reader) = reader {
                reader.abort();
            }
            let _ = pc.remove_track(&sender).await;
        }
    }
    for (t, local) in locals {
        if senders.contains_key(&t) {
            continue;
        }
        let track: Arc<dyn TrackLocal + Send + Sync> = local;
        let transceiver = pc
            .add_transceiver_from_track(
                track,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    send_encodings: Vec::new(),
                }),
            )
            .await
            .map_err(|e| format!("cannot add a forwarded track: {e}"))?;
        let sender = transceiver.sender().await;
        let reader = tasks.spawn(read_feedback(
            sender.clone(),
            t,
            internal.clone(),
            member.clone(),
            serial,
        ));
        senders.insert(t, (sender, reader));
    }
    let offer = pc
        .create_offer(None)
        .await
        .map_err(|e| format!("cannot create the SFU offer: {e}"))?;
    let mut gathered = pc.gathering_complete_promise().await;
    pc.set_local_description(offer)
        .await
        .map_err(|e| format!("cannot set the SFU offer: {e}"))?;
    let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.recv()).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| "the SFU offer vanished".to_owned())
}

/// Reads a subscriber's RTCP for one forwarded track: PLI and FIR become keyframe requests.
/// (NACKs are answered inside the stack, which reads them on this path too.)
async fn read_feedback(
    sender: Arc<RTCRtpSender>,
    track: TrackId,
    internal: mpsc::UnboundedSender<Internal>,
    member: MemberKey,
    serial: u64,
) {
    // At most one request per 100 ms goes to the backend: a subscriber's PLI flood costs the
    // backend nothing (the core throttles per track again, at 500 ms).
    let mut last: Option<tokio::time::Instant> = None;
    while let Ok((packets, _)) = sender.read_rtcp().await {
        let wants_keyframe = packets.iter().any(|p| {
            let any = p.as_any();
            any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
        });
        if !wants_keyframe || last.is_some_and(|l| l.elapsed() < FEEDBACK_INTERVAL) {
            continue;
        }
        last = Some(tokio::time::Instant::now());
        if internal
            .send(Internal::Session(
                member.clone(),
                serial,
                Input::KeyframeWanted(track),
            ))
            .is_err()
        {
            break;
        }
    }
}

#[cfg(test)]
mod tests;
