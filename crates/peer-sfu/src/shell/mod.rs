//! The tokio shell: [`Sfu::start`] binds the shared UDP socket and runs the backend task, which
//! owns the [`SfuCore`], feeds it the hub's requests ([`SfuHandle::send`]) and the sessions'
//! events, carries out its outputs, and reports offers and refusals as [`SfuEvent`]s for the
//! hub. Each member's peer connection lives in a session task of its own (`session.rs`).

mod engine;
mod loss;
mod nack_cap;
mod session;
mod stats;

use stats::Counters;
pub use stats::SfuStats;

use crate::core::{Input, MemberKey, Output, SfuCore, SfuLimits};
use crate::plan::TrackId;
use engine::Engine;
use session::{Cmd, Internal};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;

/// Requests queued for the backend; past it, [`SfuHandle::send`] refuses.
const REQUEST_CAPACITY: usize = 4096;

/// How the SFU is deployed.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The one UDP socket every SFU connection shares (port 0: any free port). Candidates are
    /// announced for this address, or for every local IPv4 address when it is unspecified.
    pub udp: SocketAddr,
    /// The address announced in candidates instead, for a server behind 1:1 NAT.
    pub public_ip: Option<IpAddr>,
    /// Limits.
    pub limits: SfuLimits,
    /// Tests only: drop this percent of the RTP sent to members whose peer id starts with this
    /// prefix (after the retransmission ring kept it, as network loss would), to exercise
    /// NACK. `None` in production.
    pub test_loss: Option<(String, u64)>,
}

impl Default for SfuConfig {
    fn default() -> SfuConfig {
        SfuConfig {
            udp: SocketAddr::from(([0, 0, 0, 0], 0)),
            public_ip: None,
            limits: SfuLimits::default(),
            test_loss: None,
        }
    }
}

/// What the SFU tells the hub.
#[derive(Debug, Clone, PartialEq)]
pub enum SfuEvent {
    /// Send `SFU_OFFER` to the member.
    Offer {
        /// The member.
        member: MemberKey,
        /// The offer's SDP, candidates included.
        sdp: String,
        /// The complete `msids` map: stream id → peer id.
        msids: BTreeMap<String, String>,
        /// How many inputs the backend had taken when it emitted this (see
        /// [`SfuHandle::send`]): an event from before the member's latest `Joined` belongs to
        /// an earlier membership of the same peer and must be dropped.
        after_input: u64,
    },
    /// Send the member `ERROR sfu-limited` with this reason.
    Refused {
        /// The member.
        member: MemberKey,
        /// Why.
        reason: String,
        /// As in `Offer`.
        after_input: u64,
    },
}

/// Where the hub sends its requests.
#[derive(Debug, Clone)]
pub struct SfuHandle {
    tx: mpsc::Sender<Input>,
    local_addr: SocketAddr,
    counters: Arc<Counters>,
    /// Inputs queued so far.
    sent: Arc<AtomicU64>,
}

impl SfuHandle {
    /// Queues an input from the hub (`Joined`, `Left`, `OfferWanted`, `Answer`, `Candidate`);
    /// `false` when the backend is overloaded or gone (the caller refuses the member).
    pub fn send(&self, input: Input) -> bool {
        self.send_numbered(input).is_some()
    }

    /// [`SfuHandle::send`], returning the input's number (1 for the first): events the
    /// backend emits carry how many inputs it had taken (`after_input`), so an event emitted
    /// before this input was taken compares lower. Callers that send from several tasks must
    /// serialize their sends for the numbers to match the queue's order.
    pub fn send_numbered(&self, input: Input) -> Option<u64> {
        self.tx.try_send(input).ok()?;
        Some(self.sent.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// The address of the shared UDP socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the SFU has forwarded so far, and forwards now.
    pub fn stats(&self) -> SfuStats {
        self.counters.snapshot()
    }
}

/// The SFU backend.
pub struct Sfu;

impl Sfu {
    /// Binds the UDP socket and starts the backend on the current runtime. Events go to
    /// `events`; the backend ends when every [`SfuHandle`] is dropped.
    pub async fn start(
        config: SfuConfig,
        events: mpsc::Sender<SfuEvent>,
    ) -> Result<SfuHandle, String> {
        let counters = Arc::new(Counters::default());
        let engine = Engine::new(&config, counters.clone()).await?;
        let local_addr = engine.local_addr;
        let (tx, rx) = mpsc::channel(REQUEST_CAPACITY);
        let backend = Backend {
            core: SfuCore::new(config.limits),
            engine,
            sessions: HashMap::new(),
            next_serial: 1,
            forwarders: HashMap::new(),
            track_ids: Arc::new(AtomicU64::new(1)),
            counters: counters.clone(),
            taken: 0,
            events,
            max_tracks: config.limits.max_tracks_per_member,
        };
        tokio::spawn(backend.run(rx));
        Ok(SfuHandle {
            tx,
            local_addr,
            counters,
            sent: Arc::new(AtomicU64::new(0)),
        })
    }
}

struct Backend {
    core: SfuCore,
    engine: Engine,
    /// Each member's session: its number and command queue.
    sessions: HashMap<MemberKey, (u64, mpsc::Sender<Cmd>)>,
    /// The next session number.
    next_serial: u64,
    /// Every upstream track's forwarding track, with its publisher.
    forwarders: HashMap<TrackId, (MemberKey, Arc<TrackLocalStaticRTP>)>,
    track_ids: Arc<AtomicU64>,
    counters: Arc<Counters>,
    /// Inputs taken from the hub so far.
    taken: u64,
    events: mpsc::Sender<SfuEvent>,
    /// Upstream tracks a member's connection may create.
    max_tracks: usize,
}

impl Backend {
    async fn run(mut self, mut requests: mpsc::Receiver<Input>) {
        let (internal_tx, mut internal) = mpsc::unbounded_channel::<Internal>();
        loop {
            let deadline = self.core.poll_timeout();
            let outputs = tokio::select! {
                request = requests.recv() => match request {
                    Some(input) => {
                        self.taken += 1;
                        self.core.handle(input, Instant::now())
                    }
                    None => break,
                },
                Some(ev) = internal.recv() => match ev {
                    Internal::Input(input) => self.core.handle(input, Instant::now()),
                    Internal::Session(member, serial, input)
                        if self.session_serial(&member) == Some(serial) =>
                    {
                        self.core.handle(input, Instant::now())
                    }
                    Internal::Session(member, ..) => {
                        tracing::debug!(peer = %member.peer, "event of an ended SFU session dropped");
                        Vec::new()
                    }
                    Internal::Offer(member, serial, _, _)
                        if self.session_serial(&member) != Some(serial) =>
                    {
                        tracing::debug!(peer = %member.peer, "offer of a replaced SFU session dropped");
                        Vec::new()
                    }
                    Internal::Offer(member, _, sdp, msids) => {
                        tracing::debug!(
                            peer = %member.peer,
                            room = %member.room.room,
                            bytes = sdp.len(),
                            sections = sdp.matches("\nm=").count(),
                            "SFU offer"
                        );
                        let after_input = self.taken;
                        self.emit(SfuEvent::Offer {
                            member,
                            sdp,
                            msids,
                            after_input,
                        });
                        Vec::new()
                    }
                    Internal::Forwarder(serial, track, member, local) => {
                        // A forwarder of an ended session would stay here for good.
                        if self.session_serial(&member) == Some(serial) {
                            self.forwarders.insert(track, (member, local));
                        }
                        Vec::new()
                    }
                },
                _ = sleep_until(deadline) => self.core.handle_timeout(Instant::now()),
            };
            for output in outputs {
                self.execute(output, &internal_tx).await;
            }
            let c = &self.counters;
            c.forwarded_tracks
                .store(self.core.forwarded_tracks() as u64, Ordering::Relaxed);
            c.members
                .store(self.core.members() as u64, Ordering::Relaxed);
        }
        for (_, (_, s)) in self.sessions.drain() {
            let _ = s.try_send(Cmd::Close);
        }
        self.engine.close().await;
    }

    /// The number of the member's session, if it has one.
    fn session_serial(&self, member: &MemberKey) -> Option<u64> {
        self.sessions.get(member).map(|(s, _)| *s)
    }

    fn emit(&self, event: SfuEvent) {
        if self.events.try_send(event).is_err() {
            tracing::warn!("the hub does not take SFU events: one dropped");
        }
    }

    async fn execute(&mut self, output: Output, internal: &mpsc::UnboundedSender<Internal>) {
        match output {
            Output::CreateSession(member, stream_id) => {
                let serial = self.next_serial;
                self.next_serial += 1;
                let lossy = self
                    .engine
                    .loss
                    .clone()
                    .filter(|l| l.applies_to(&member.peer));
                match session::start(
                    &self.engine.api,
                    member.clone(),
                    stream_id,
                    session::Shared {
                        serial,
                        track_ids: self.track_ids.clone(),
                        counters: self.counters.clone(),
                    },
                    internal.clone(),
                    lossy,
                    self.max_tracks,
                )
                .await
                {
                    Ok(tx) => {
                        self.sessions.insert(member, (serial, tx));
                    }
                    Err(e) => {
                        let _ = internal.send(Internal::Input(Input::SessionFailed(member, e)));
                    }
                }
            }
            Output::Offer(member, plan) => {
                let locals = plan
                    .downstream
                    .iter()
                    .filter_map(|d| {
                        self.forwarders
                            .get(&d.track)
                            .map(|(_, l)| (d.track, l.clone()))
                    })
                    .collect();
                self.command(&member, Cmd::Offer(plan, locals), internal);
            }
            Output::ApplyAnswer(member, sdp) => self.command(&member, Cmd::Answer(sdp), internal),
            Output::AddCandidate(member, c) => self.command(&member, Cmd::Candidate(c), internal),
            Output::RequestKeyframe(track) => {
                if let Some((owner, _)) = self.forwarders.get(&track) {
                    let owner = owner.clone();
                    self.command(&owner, Cmd::Keyframe(track), internal);
                }
            }
            Output::CloseSession(member) => {
                if let Some((_, s)) = self.sessions.remove(&member) {
                    // The session ends when it reads this, or when its queue is dropped.
                    let _ = s.try_send(Cmd::Close);
                }
                self.forwarders.retain(|_, (owner, _)| *owner != member);
            }
            Output::Refuse(member, reason) => {
                let after_input = self.taken;
                self.emit(SfuEvent::Refused {
                    member,
                    reason,
                    after_input,
                })
            }
        }
    }

    /// Queues `cmd` for the member's session; a full queue ends the session.
    fn command(
        &mut self,
        member: &MemberKey,
        cmd: Cmd,
        internal: &mpsc::UnboundedSender<Internal>,
    ) {
        let Some((_, s)) = self.sessions.get(member) else {
            return;
        };
        if s.try_send(cmd).is_err() {
            let _ = internal.send(Internal::Input(Input::SessionFailed(
                member.clone(),
                "the SFU connection fell behind".into(),
            )));
        }
    }
}

/// Sleeps until `at`; forever without it.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
