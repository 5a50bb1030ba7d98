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

use crate::core::{Input, MemberKey};
use crate::plan::{Kind, OfferPlan, TrackId};
use crate::sdp::answer_problem;
use crate::shell::loss::LossTargets;
use crate::shell::stats::Counters;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
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

/// What a session tells the backend.
pub(crate) enum Internal {
    /// An input for the core.
    Input(Input),
    /// An offer is ready: send it as `SFU_OFFER`.
    /// (The number is the session's: an offer of a session that was replaced is dropped.)
    Offer(MemberKey, u64, String, BTreeMap<String, String>),
    /// An upstream track's forwarding track; `Input::TrackArrived` follows.
    Forwarder(TrackId, MemberKey, Arc<TrackLocalStaticRTP>),
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
        pc.add_transceiver_from_kind(
            kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                send_encodings: Vec::new(),
            }),
        )
        .await
        .map_err(|e| format!("cannot add the upstream sections: {e}"))?;
    }
    let closed = Arc::new(AtomicBool::new(false));
    let upstream: Arc<Mutex<HashMap<TrackId, u32>>> = Arc::default();
    let counters = shared.counters.clone();
    {
        let member = member.clone();
        let internal = internal.clone();
        let closed = closed.clone();
        let upstream = upstream.clone();
        pc.on_track(Box::new(move |track, receiver, _| {
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
            let _ = internal.send(Internal::Forwarder(id, member.clone(), local.clone()));
            let _ = internal.send(Internal::Input(Input::TrackArrived(
                member.clone(),
                id,
                kind,
            )));
            // RTCP from the publisher (sender reports): read so that receiver reports carry
            // their timing.
            tokio::spawn(async move { while receiver.read_rtcp().await.is_ok() {} });
            let (member, internal, closed) = (member.clone(), internal.clone(), closed.clone());
            let counters = shared.counters.clone();
            tokio::spawn(async move {
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
                            if closed.load(Ordering::Relaxed) || errors > 64 {
                                tracing::debug!(peer = %member.peer, error = %e, "upstream track ended");
                                break;
                            }
                        }
                    }
                }
                let _ = internal.send(Internal::Input(Input::TrackEnded(member, id)));
            });
            Box::pin(async {})
        }));
    }
    {
        let member = member.clone();
        let internal = internal.clone();
        let closed = closed.clone();
        let weak = Arc::downgrade(&pc);
        pc.on_peer_connection_state_change(Box::new(move |state| {
            if state == RTCPeerConnectionState::Connected && !closed.load(Ordering::Relaxed) {
                let _ = internal.send(Internal::Input(Input::Connected(member.clone())));
            }
            if let (RTCPeerConnectionState::Connected, Some(loss)) = (state, lossy.clone()) {
                // Tests only: this member's address joins the loss injector's targets.
                let weak = weak.clone();
                tokio::spawn(async move {
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
            ) && !closed.load(Ordering::Relaxed)
            {
                let _ = internal.send(Internal::Input(Input::SessionFailed(
                    member.clone(),
                    format!("the SFU connection {state}"),
                )));
            }
            Box::pin(async {})
        }));
    }
    let (tx, rx) = mpsc::channel(CMD_CAPACITY);
    let serial = shared.serial;
    tokio::spawn(run(
        Run {
            pc,
            member,
            internal,
            closed,
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
    closed: Arc<AtomicBool>,
    upstream: Arc<Mutex<HashMap<TrackId, u32>>>,
    counters: Arc<Counters>,
    serial: u64,
}

/// The session's command loop.
async fn run(r: Run, mut cmds: mpsc::Receiver<Cmd>) {
    let Run {
        pc,
        member,
        internal,
        closed,
        upstream,
        counters,
        serial,
    } = r;
    let mut senders: HashMap<TrackId, Arc<RTCRtpSender>> = HashMap::new();
    let fail = |why: String| {
        let _ = internal.send(Internal::Input(Input::SessionFailed(member.clone(), why)));
    };
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            Cmd::Offer(plan, locals) => {
                match offer(&pc, &plan, locals, &mut senders, &internal).await {
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
                        let _ =
                            internal.send(Internal::Input(Input::AnswerApplied(member.clone())));
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
    closed.store(true, Ordering::Relaxed);
    if let Err(e) = pc.close().await {
        tracing::debug!(peer = %member.peer, error = %e, "closing an SFU connection");
    }
}

/// Syncs the downstream sections with `plan` and returns the offer with its candidates.
async fn offer(
    pc: &Arc<RTCPeerConnection>,
    plan: &OfferPlan,
    locals: Vec<(TrackId, Arc<TrackLocalStaticRTP>)>,
    senders: &mut HashMap<TrackId, Arc<RTCRtpSender>>,
    internal: &mpsc::UnboundedSender<Internal>,
) -> Result<String, String> {
    let gone: Vec<TrackId> = senders.keys().filter(|t| !plan.has(**t)).copied().collect();
    for t in gone {
        if let Some(sender) = senders.remove(&t) {
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
        tokio::spawn(read_feedback(sender.clone(), t, internal.clone()));
        senders.insert(t, sender);
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
            .send(Internal::Input(Input::KeyframeWanted(track)))
            .is_err()
        {
            break;
        }
    }
}
