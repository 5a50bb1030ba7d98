//! [`Room`]: a joined room as the application holds it (the SDK's `MeshRoom`; `SfuRoom` when
//! the SFU lands): members, room data, the log, the stream sent, events, and closing.
//!
//! What every room kind shares lives here once: the name and mode, the event queue, the
//! room-data outbox ([`crate::send_queue`]), the join deadline, and detaching from the Peer on
//! close. A mesh room's calls and decisions are in [`crate::mesh`] and [`crate::mesh_core`].

use crate::error::RoomError;
use crate::event::RoomEvent;
use crate::input::RoomInput;
use crate::mesh_core::{MeshCore, Phase};
use crate::options::{RoomMode, RoomOptions};
use crate::payload::RoomPayload;
use crate::room_core::RoomCore;
use crate::send_queue::SendQueue;
use crate::sfu_core::SfuRoomCore;
use peer_connection::{MediaConnection, MediaStream, RtcContext, Signal};
use peer_protocol::client::{ClientMessage, RoomRef};
use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::{mpsc, watch, Mutex};

/// Capacity of a room's event queue; when the application does not read its events the
/// Peer's signaling backs up behind them (and the server ends a session that stops reading).
const EVENT_CAPACITY: usize = 256;

/// What a room needs from its Peer.
#[derive(Clone)]
#[non_exhaustive]
pub struct RoomContext {
    /// The Peer's id.
    pub local_id: String,
    /// The Peer's WebRTC context (members' calls are made with it).
    pub rtc: RtcContext,
    /// The Peer's signaling.
    pub signal: Signal,
}

impl RoomContext {
    /// The context of a Peer with id `local_id`.
    pub fn new(local_id: impl Into<String>, rtc: RtcContext, signal: Signal) -> RoomContext {
        RoomContext {
            local_id: local_id.into(),
            rtc,
            signal,
        }
    }
}

/// Called once when the room closes (the Peer forgets it).
pub(crate) type Detach = Box<dyn FnOnce() + Send>;

pub(crate) struct RoomInner {
    pub(crate) name: String,
    pub(crate) mode: RoomMode,
    pub(crate) ctx: RoomContext,
    pub(crate) options: StdMutex<RoomOptions>,
    pub(crate) core: StdMutex<RoomCore>,
    /// SFU rooms: the connection with the server, once its first offer came.
    pub(crate) sfu: StdMutex<Option<MediaConnection>>,
    /// The members' calls by connection id.
    pub(crate) calls: StdMutex<HashMap<String, MediaConnection>>,
    /// One input (or close) at a time, outputs included.
    pub(crate) steps: Mutex<()>,
    pub(crate) phase: watch::Sender<Phase>,
    pub(crate) events_tx: mpsc::Sender<RoomEvent>,
    events_rx: Mutex<mpsc::Receiver<RoomEvent>>,
    pub(crate) outbox: SendQueue,
    pub(crate) detach: StdMutex<Option<Detach>>,
}

/// A joined room. Cheap to clone; clones share the room. See the [crate documentation](crate).
#[derive(Clone)]
pub struct Room {
    pub(crate) inner: Arc<RoomInner>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("name", &self.inner.name)
            .field("mode", &self.inner.mode)
            .field("open", &self.is_open())
            .finish()
    }
}

/// Two handles are equal when they are the same room (clones of one join).
impl PartialEq for Room {
    fn eq(&self, other: &Room) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Room {}

impl Room {
    /// A room being joined; nothing is sent yet.
    pub(crate) fn new(ctx: RoomContext, name: &str, options: RoomOptions, detach: Detach) -> Room {
        let prefix = format!("mc_{}", peer_connection::random::base36_token(8));
        let core = match options.mode {
            RoomMode::Mesh => RoomCore::Mesh(MeshCore::new(
                &ctx.local_id,
                name,
                options.max_members,
                &prefix,
            )),
            RoomMode::Sfu => RoomCore::Sfu(SfuRoomCore::new(&ctx.local_id, name)),
        };
        let (phase, phase_rx) = watch::channel(Phase::Joining);
        let outbox = SendQueue::start(
            name.to_owned(),
            ctx.signal.clone(),
            phase_rx,
            options.send_queue,
        );
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        Room {
            inner: Arc::new(RoomInner {
                name: name.to_owned(),
                mode: options.mode,
                ctx,
                options: StdMutex::new(options),
                core: StdMutex::new(core),
                sfu: StdMutex::new(None),
                calls: StdMutex::new(HashMap::new()),
                steps: Mutex::new(()),
                phase,
                events_tx,
                events_rx: Mutex::new(events_rx),
                outbox,
                detach: StdMutex::new(Some(detach)),
            }),
        }
    }

    /// The room name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `mesh` or `sfu`.
    pub fn mode(&self) -> RoomMode {
        self.inner.mode
    }

    /// Whether the server confirmed the join and the room is not closed.
    pub fn is_open(&self) -> bool {
        *self.inner.phase.borrow() == Phase::Open
    }

    /// Whether the room is closed.
    pub fn is_closed(&self) -> bool {
        *self.inner.phase.borrow() == Phase::Closed
    }

    /// Waits until the join is confirmed; [`RoomError::Timeout`] if it was not within the join
    /// timeout, [`RoomError::Closed`] if the room closed first.
    pub async fn wait_open(&self) -> Result<(), RoomError> {
        let mut rx = self.inner.phase.subscribe();
        let deadline = self.options().join_timeout;
        let wait = async {
            loop {
                match *rx.borrow_and_update() {
                    Phase::Open => return Ok(()),
                    Phase::Closed => return Err(RoomError::Closed),
                    Phase::Joining => {}
                }
                if rx.changed().await.is_err() {
                    return Err(RoomError::Closed);
                }
            }
        };
        tokio::time::timeout(deadline, wait)
            .await
            .unwrap_or(Err(RoomError::Timeout))
    }

    /// The other members, in the order this side learned of them (the SDK's `members`).
    pub fn members(&self) -> Vec<String> {
        self.inner
            .core
            .lock()
            .map(|c| c.members().to_vec())
            .unwrap_or_default()
    }

    /// An SFU room's one connection with the server, once its first offer arrived (`None` in
    /// mesh rooms). Its [`MediaConnection::peer_connection`] is the SDK's
    /// `SfuRoom.getPeerConnection()`.
    pub fn sfu_connection(&self) -> Option<MediaConnection> {
        self.inner.sfu.lock().ok().and_then(|c| c.clone())
    }

    /// The calls with members (the SDK's `connections`), by member id.
    pub fn connections(&self) -> HashMap<String, Vec<MediaConnection>> {
        let mut out: HashMap<String, Vec<MediaConnection>> = HashMap::new();
        if let Ok(calls) = self.inner.calls.lock() {
            for c in calls.values() {
                out.entry(c.remote_id().to_owned())
                    .or_default()
                    .push(c.clone());
            }
        }
        out
    }

    /// The options the room was joined with (the stream as last replaced).
    pub fn options(&self) -> RoomOptions {
        self.inner
            .options
            .lock()
            .map(|o| o.clone())
            .unwrap_or_default()
    }

    /// Sends room data to every other member (the SDK's `room.send`): strings, JSON values,
    /// bytes, or JSON holding bytes ([`RoomPayload`]). Data over 20 MiB (as the SDK measures
    /// it) is refused with [`RoomError::TooLarge`]. Sends leave at least 100 ms apart, once the
    /// room is open; this waits while 16 (`send_queue`) are queued, and drops nothing.
    pub async fn send(&self, data: impl Into<RoomPayload>) -> Result<(), RoomError> {
        let data = data.into();
        data.check_size()?;
        if self.is_closed() {
            return Err(RoomError::Closed);
        }
        self.inner.outbox.push(data).await
    }

    /// Waits until every message given to [`Room::send`] so far has gone to the server (or
    /// the room closed; what was still queued then is dropped).
    pub async fn flush(&self) {
        self.inner.outbox.flush().await;
    }

    /// Asks the server for the room's log (the SDK's `getLog`); it arrives as
    /// [`RoomEvent::Log`].
    pub async fn get_log(&self) -> Result<(), RoomError> {
        if self.is_closed() {
            return Err(RoomError::Closed);
        }
        self.inner
            .ctx
            .signal
            .send(ClientMessage::RoomGetLogs(RoomRef {
                room_name: self.inner.name.clone(),
            }))
            .await
            .map_err(RoomError::from)
    }

    /// Sends `stream` instead of the current one on every member's call (the SDK's
    /// `replaceStream`), and to members who join later. The first failure is returned; the
    /// other calls are still updated.
    pub async fn replace_stream(&self, stream: MediaStream) -> Result<(), RoomError> {
        if let Ok(mut o) = self.inner.options.lock() {
            o.stream = Some(stream.clone());
        }
        let mut calls: Vec<MediaConnection> = self
            .inner
            .calls
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        if let Some(sfu) = self.inner.sfu.lock().ok().and_then(|s| s.clone()) {
            calls.push(sfu);
        }
        let mut first = Ok(());
        for call in calls {
            if let Err(e) = call.replace_stream(&stream).await {
                if first.is_ok() {
                    first = Err(RoomError::from(e));
                }
            }
        }
        first
    }

    /// Leaves the room (the SDK's `room.close`): the calls close locally, `ROOM_LEAVE` goes to
    /// the server, [`RoomEvent::Close`] is the last event, and the Peer forgets the room.
    pub async fn close(&self) {
        self.inner.close().await;
    }

    /// The next event; `None` once [`RoomEvent::Close`] was read.
    #[must_use = "an event taken and dropped is lost"]
    pub async fn next_event(&self) -> Option<RoomEvent> {
        self.inner.next_event().await
    }

    /// The events as a stream (the same events as [`Room::next_event`]; use one or the other).
    pub fn events(&self) -> impl futures::Stream<Item = RoomEvent> + Send + 'static {
        futures::stream::unfold(self.inner.clone(), |inner| async move {
            let ev = inner.next_event().await?;
            Some((ev, inner))
        })
    }

    /// One input from the Peer's router.
    pub(crate) async fn deliver(&self, input: RoomInput) {
        let _step = self.inner.steps.lock().await;
        if let Ok(mut core) = self.inner.core.lock() {
            core.handle_input(input);
        }
        self.inner.run_outputs().await;
    }
}

impl RoomInner {
    pub(crate) async fn close(self: &Arc<Self>) {
        let _step = self.steps.lock().await;
        if let Ok(mut core) = self.core.lock() {
            core.close();
        }
        self.run_outputs().await;
    }

    pub(crate) async fn join_timed_out(self: &Arc<Self>) {
        let _step = self.steps.lock().await;
        if let Ok(mut core) = self.core.lock() {
            core.join_timed_out();
        }
        self.run_outputs().await;
    }

    async fn next_event(&self) -> Option<RoomEvent> {
        let mut rx = self.events_rx.lock().await;
        if *self.phase.borrow() == Phase::Closed {
            return rx.try_recv().ok();
        }
        rx.recv().await
    }

    /// Reports `ev`; `Open` and `Close` also move the room's phase (and `Close` detaches it
    /// from the Peer and stops its outbox).
    pub(crate) async fn emit(&self, ev: RoomEvent) {
        if *self.phase.borrow() == Phase::Closed {
            return;
        }
        match ev {
            RoomEvent::Open => {
                self.phase.send_replace(Phase::Open);
            }
            RoomEvent::Close => {
                self.outbox.close();
                if let Some(detach) = self.detach.lock().ok().and_then(|mut d| d.take()) {
                    detach();
                }
                // Never wait on an application that stopped reading: `close()` must end.
                if let Err(mpsc::error::TrySendError::Full(ev)) = self.events_tx.try_send(ev) {
                    let tx = self.events_tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(ev).await;
                    });
                }
                self.phase.send_replace(Phase::Closed);
                return;
            }
            _ => {}
        }
        let _ = self.events_tx.send(ev).await;
    }
}
