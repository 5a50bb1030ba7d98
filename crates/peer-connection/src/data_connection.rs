//! `DataConnection`: one RTCPeerConnection with one data channel to a remote peer, framed by
//! the SDK's serialization, over the shared connection [`Core`](crate::core). Signaling
//! messages go out through the core's sink; those addressed to this connection come in through
//! [`crate::router`], which the Peer's router calls.

use crate::config::RtcContext;
use crate::core::{ConnectionKind, Core, Ids};
use crate::data::Data;
use crate::error::ConnectionError;
use crate::framing::{self, FrameDecoder};
use crate::limits::ConnectionLimits;
use crate::random::{base36_token, connection_id};
use crate::serialization::{DcInit, Serialization};
use crate::signal::{self, Offer};
use crate::sink::Signal;
use crate::state;
use crate::stats::ConnectionStats;
use bytes::Bytes;
use peer_binarypack::CHUNK_ID_LEN;
use serde_json::Value;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, Mutex, Notify};
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::data_channel::RTCDataChannel;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

/// Largest `json`/`none` message sent: the Rust WebRTC stack's receive limit is 65,535 bytes.
pub const MAX_UNCHUNKED_MESSAGE: usize = 65_535;
/// Read buffer of the data channel: Chromium's `max-message-size` (262,144) plus one.
const READ_BUFFER: usize = 262_145;
/// `send` waits while more than this many bytes wait in the channel's send buffer.
const HIGH_WATER: usize = 1024 * 1024;
/// ... until the buffer drains below this.
const LOW_WATER: usize = 256 * 1024;
/// Received messages buffered before the reader stops reading (backpressure on the sender).
const EVENT_CAPACITY: usize = 64;
/// How often partial messages are checked for staleness.
const STALE_CHECK: Duration = Duration::from_secs(1);

/// Options of a new DataConnection (the SDK's `peer.connect(id, options)`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The connection id; `dc_` plus a random token when `None`.
    pub connection_id: Option<String>,
    /// The data channel label; the connection id when `None`.
    pub label: Option<String>,
    /// Any JSON the remote side sees as `metadata`.
    pub metadata: Option<Value>,
    /// The framing; `binary` by default, and forced to `binary` when `dc_init` is unreliable.
    pub serialization: Serialization,
    /// Reliability of the channel.
    pub dc_init: DcInit,
}

impl ConnectOptions {
    /// The default options: `binary`, reliable, a random connection id.
    pub fn new() -> ConnectOptions {
        ConnectOptions::default()
    }

    /// Sets the connection id.
    #[must_use]
    pub fn connection_id(mut self, id: impl Into<String>) -> ConnectOptions {
        self.connection_id = Some(id.into());
        self
    }

    /// Sets the data channel label.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> ConnectOptions {
        self.label = Some(label.into());
        self
    }

    /// Sets the metadata the remote side sees.
    #[must_use]
    pub fn metadata(mut self, metadata: Value) -> ConnectOptions {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the serialization.
    #[must_use]
    pub fn serialization(mut self, serialization: Serialization) -> ConnectOptions {
        self.serialization = serialization;
        self
    }

    /// Sets the channel's reliability.
    #[must_use]
    pub fn dc_init(mut self, dc_init: DcInit) -> ConnectOptions {
        self.dc_init = dc_init;
        self
    }
}

pub use crate::state::ConnectionState;

/// What a DataConnection reports, in order. `Close` is the last event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataConnectionEvent {
    /// The data channel opened; `send` works from now on.
    Open,
    /// A message arrived.
    Data(Data),
    /// Something went wrong without closing the connection (undecodable data, say).
    Error(ConnectionError),
    /// The connection closed.
    Close,
}

/// What this kind adds to the core.
struct Inner {
    core: Arc<Core>,
    label: String,
    serialization: Serialization,
    dc_init: DcInit,
    channel: StdMutex<Option<Arc<RawChannel>>>,
    events_tx: mpsc::Sender<DataConnectionEvent>,
    events_rx: Mutex<(mpsc::Receiver<DataConnectionEvent>, bool)>,
    send_lock: Mutex<()>,
    /// One offer or answer at a time (the first, and renegotiations such as ICE restarts).
    negotiation: Mutex<()>,
    buffer_low: Notify,
    limits: ConnectionLimits,
}

/// A data connection to one remote peer. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct DataConnection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DataConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataConnection")
            .field("id", &self.id())
            .field("remote_id", &self.remote_id())
            .field("label", &self.inner.label)
            .field("serialization", &self.inner.serialization)
            .field("state", &self.state())
            .finish()
    }
}

impl DataConnection {
    /// Creates the connection and its data channel without signaling anything yet (see
    /// [`crate::router::connect`]).
    pub(crate) async fn outgoing(
        ctx: &RtcContext,
        signal: Signal,
        remote_id: &str,
        options: ConnectOptions,
    ) -> Result<DataConnection, ConnectionError> {
        let id = options
            .connection_id
            .unwrap_or_else(|| connection_id("dc_"));
        let label = options.label.unwrap_or_else(|| id.clone());
        let serialization = if options.dc_init.is_unreliable() {
            Serialization::Binary
        } else {
            options.serialization
        };
        let pc = Arc::new(ctx.api.new_peer_connection(ctx.config.clone()).await?);
        let ids = Ids {
            id,
            remote_id: remote_id.to_owned(),
            kind: ConnectionKind::Data,
            room: None,
            metadata: options.metadata,
            originator: true,
            sfu: false,
        };
        let conn = DataConnection::build(
            Core::new(ids, pc, signal, None),
            label,
            serialization,
            options.dc_init,
            ctx.limits.clone(),
        );
        let init = RTCDataChannelInit {
            ordered: conn.inner.dc_init.ordered,
            max_packet_life_time: conn.inner.dc_init.max_packet_life_time,
            max_retransmits: conn.inner.dc_init.max_retransmits,
            ..Default::default()
        };
        let channel = conn
            .inner
            .core
            .pc
            .create_data_channel(&conn.inner.label, Some(init))
            .await?;
        conn.attach(channel);
        Ok(conn)
    }

    /// Sends `SEND_OFFER` for a connection made by [`DataConnection::outgoing`]. On failure the
    /// connection is closed.
    pub(crate) async fn offer(&self) -> Result<(), ConnectionError> {
        let result = self.send_offer(false).await;
        if result.is_err() {
            self.shutdown(false).await;
        }
        result
    }

    async fn send_offer(&self, ice_restart: bool) -> Result<(), ConnectionError> {
        let _step = self.inner.negotiation.lock().await;
        let core = &self.inner.core;
        core.set_local_offer(ice_restart).await?;
        let sdp = core.local_sdp().await?;
        let dc_init =
            serde_json::to_value(&self.inner.dc_init).unwrap_or(Value::Object(Default::default()));
        let msg = signal::data_offer(
            &core.ids.remote_id,
            &core.ids.id,
            &sdp,
            core.ids.metadata.as_ref(),
            self.inner.serialization.as_str(),
            &self.inner.label,
            &dc_init,
        )?;
        core.signal(msg).await?;
        core.flush_local_candidates().await;
        Ok(())
    }

    /// Creates the connection the SDK's way from a data `OFFER`: the offer's `connectionId`,
    /// `label`, `metadata`, `serialization` and `dcInit`. The caller registers it before any
    /// `CANDIDATE` is routed, then calls [`DataConnection::accept`].
    pub(crate) async fn from_offer(
        ctx: &RtcContext,
        signal: Signal,
        offer: &Offer,
    ) -> Result<DataConnection, ConnectionError> {
        let raw = &offer.raw;
        let label = raw
            .get("label")
            .and_then(Value::as_str)
            .unwrap_or(&offer.connection_id)
            .to_owned();
        let serialization = match raw.get("serialization").and_then(Value::as_str) {
            None => Serialization::Binary,
            Some(s) => s
                .parse()
                .map_err(|e: crate::serialization::InvalidSerialization| {
                    ConnectionError::InvalidSignal(e.to_string())
                })?,
        };
        let dc_init: DcInit = raw
            .get("dcInit")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let metadata = raw.get("metadata").cloned().filter(|m| !m.is_null());
        let pc = Arc::new(ctx.api.new_peer_connection(ctx.config.clone()).await?);
        let ids = Ids {
            id: offer.connection_id.clone(),
            remote_id: offer.src.clone(),
            kind: ConnectionKind::Data,
            room: offer.room_name.clone(),
            metadata,
            originator: false,
            sfu: false,
        };
        let conn = DataConnection::build(
            Core::new(ids, pc, signal, None),
            label,
            serialization,
            dc_init,
            ctx.limits.clone(),
        );
        let weak = Arc::downgrade(&conn.inner);
        conn.inner.core.pc.on_data_channel(Box::new(move |channel| {
            if let Some(inner) = weak.upgrade() {
                DataConnection { inner }.attach(channel);
            }
            Box::pin(async {})
        }));
        Ok(conn)
    }

    /// Applies the offer `sdp` and sends `SEND_ANSWER`. On failure the connection is closed.
    pub(crate) async fn accept(&self, sdp: &str) -> Result<(), ConnectionError> {
        let result = self.accept_inner(sdp).await;
        if result.is_err() {
            self.shutdown(false).await;
        }
        result
    }

    async fn accept_inner(&self, sdp: &str) -> Result<(), ConnectionError> {
        let _step = self.inner.negotiation.lock().await;
        let core = &self.inner.core;
        let offer = RTCSessionDescription::offer(sdp.to_owned())
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        core.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        core.flush_remote_candidates().await;
        let answer = core.pc.create_answer(None).await?;
        core.set_answer_gathered(answer).await?;
        let sdp = core.local_sdp().await?;
        core.signal(signal::answer(
            &core.ids.remote_id,
            &core.ids.id,
            "data",
            &sdp,
            core.ids.room.as_deref(),
        )?)
        .await?;
        core.flush_local_candidates_not_in(&sdp).await;
        core.watch_connect(self.inner.limits.connect_timeout);
        Ok(())
    }

    fn build(
        core: Arc<Core>,
        label: String,
        serialization: Serialization,
        dc_init: DcInit,
        limits: ConnectionLimits,
    ) -> DataConnection {
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        DataConnection {
            inner: Arc::new(Inner {
                core,
                label,
                serialization,
                dc_init,
                channel: StdMutex::new(None),
                events_tx,
                events_rx: Mutex::new((events_rx, false)),
                send_lock: Mutex::new(()),
                negotiation: Mutex::new(()),
                buffer_low: Notify::new(),
                limits,
            }),
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    fn attach(&self, channel: Arc<RTCDataChannel>) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let ch = channel.clone();
        channel.on_open(Box::new(move || {
            Box::pin(async move {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let conn = DataConnection { inner };
                match ch.detach().await {
                    Ok(raw) => conn.opened(raw).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot detach the data channel");
                        conn.shutdown(false).await;
                    }
                }
            })
        }));
    }

    async fn opened(&self, raw: Arc<RawChannel>) {
        raw.set_buffered_amount_low_threshold(LOW_WATER);
        let weak = Arc::downgrade(&self.inner);
        raw.on_buffered_amount_low(Box::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.buffer_low.notify_one();
            }
            Box::pin(async {})
        }));
        if let Ok(mut c) = self.inner.channel.lock() {
            *c = Some(raw.clone());
        }
        if self.state() == ConnectionState::Closed {
            let _ = raw.close().await;
            return;
        }
        state::mark_open(&self.inner.core.state);
        let _ = self.inner.events_tx.send(DataConnectionEvent::Open).await;
        let conn = self.clone();
        tokio::spawn(async move { conn.read_loop(raw).await });
    }

    async fn read_loop(self, raw: Arc<RawChannel>) {
        let mut buf = vec![0u8; READ_BUFFER];
        let limits = &self.inner.limits;
        let mut decoder = FrameDecoder::new(self.inner.serialization, limits.reassembly());
        let stale_ticks = limits.stale_after.as_secs().max(1);
        let mut tick = tokio::time::interval(STALE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let before = raw.messages_received();
            let read = tokio::select! {
                read = raw.read_data_channel(&mut buf) => read,
                _ = tick.tick() => {
                    // Partial messages that received nothing for `stale_after` are dropped.
                    let dropped = decoder.tick(stale_ticks);
                    if dropped > 0 {
                        tracing::debug!(id = %self.id(), dropped, "stale partial messages dropped");
                    }
                    continue;
                }
            };
            let (n, is_string) = match read {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(id = %self.id(), error = %e, "data channel read ended");
                    break;
                }
            };
            if n == 0 && !is_string && raw.messages_received() == before {
                // The stream was reset: the remote closed the channel.
                break;
            }
            let event = match decoder.decode(is_string, &buf[..n]) {
                Ok(Some(data)) => DataConnectionEvent::Data(data),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(id = %self.id(), error = %e, "dropping undecodable data");
                    DataConnectionEvent::Error(e)
                }
            };
            if self.inner.events_tx.send(event).await.is_err() {
                break;
            }
        }
        self.shutdown(false).await;
    }

    /// Applies a relayed `ANSWER` (originator side).
    pub(crate) async fn handle_answer(&self, sdp: &str) -> Result<(), ConnectionError> {
        let core = &self.inner.core;
        if !core.ids.originator {
            return Err(ConnectionError::InvalidSignal(
                "an answer for a connection this peer did not offer".into(),
            ));
        }
        let answer = RTCSessionDescription::answer(sdp.to_owned())
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        core.pc
            .set_remote_description(answer)
            .await
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        core.flush_remote_candidates().await;
        core.watch_connect(self.inner.limits.connect_timeout);
        Ok(())
    }

    /// A relayed `OFFER` for this open connection (answerer side): the originator renegotiates,
    /// as it does to restart ICE; applied and answered. A failure is reported as an error
    /// event and the connection goes on with what it had.
    pub(crate) async fn handle_offer(&self, sdp: &str) -> Result<(), ConnectionError> {
        if self.is_originator() {
            return Err(ConnectionError::InvalidSignal(
                "an offer for a connection this peer made".into(),
            ));
        }
        if self.state() == ConnectionState::Closed {
            return Ok(());
        }
        self.inner.core.hold_local_candidates().await;
        let result = self.accept_inner(sdp).await;
        if let Err(e) = &result {
            self.inner.core.flush_local_candidates().await;
            let _ = self
                .inner
                .events_tx
                .try_send(DataConnectionEvent::Error(e.clone()));
        }
        result
    }

    /// Restarts ICE: a new offer with fresh ICE credentials (same connection id), after which
    /// both sides gather and check again; the data channel goes on over the new path. Only the
    /// side that connected may (the SDK renegotiates from the originator only, and accepts such
    /// an offer as an update); on the other side this is [`ConnectionError::Unsupported`]. A
    /// Peer does it by itself when ICE stays disconnected while the remote is still online.
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

    /// The remote side closed (`FORCE_CLOSE`, or `LEAVE` of the remote peer).
    pub(crate) async fn handle_remote_close(&self) {
        self.shutdown(false).await;
    }

    /// The connection id.
    pub fn id(&self) -> &str {
        &self.inner.core.ids.id
    }

    /// The remote peer's id (the SDK's `remoteId`).
    pub fn remote_id(&self) -> &str {
        &self.inner.core.ids.remote_id
    }

    /// The data channel label.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The metadata given by the offerer.
    pub fn metadata(&self) -> Option<&Value> {
        self.inner.core.ids.metadata.as_ref()
    }

    /// The serialization.
    pub fn serialization(&self) -> Serialization {
        self.inner.serialization
    }

    /// The channel's reliability options.
    pub fn dc_init(&self) -> &DcInit {
        &self.inner.dc_init
    }

    /// Whether this side sent the offer.
    pub fn is_originator(&self) -> bool {
        self.inner.core.ids.originator
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        self.inner.core.state()
    }

    /// Whether the data channel is open (the SDK's `open`).
    pub fn is_open(&self) -> bool {
        self.state() == ConnectionState::Open
    }

    /// Waits until the channel is open; fails if it closes first.
    pub async fn wait_open(&self) -> Result<(), ConnectionError> {
        self.inner.core.wait_open().await
    }

    /// Waits until the connection is closed.
    pub async fn closed(&self) {
        self.inner.core.closed().await
    }

    /// Bytes and packets sent and received, and the round-trip time, of the connection's
    /// selected candidate pair.
    pub async fn stats(&self) -> ConnectionStats {
        ConnectionStats::of(&self.inner.core.pc).await
    }

    /// The next event; `None` after [`DataConnectionEvent::Close`]. Received data queue up to a
    /// small bound, after which the remote sender is slowed down: read events promptly.
    #[must_use = "an event taken and dropped is lost"]
    pub async fn next_event(&self) -> Option<DataConnectionEvent> {
        let mut guard = self.inner.events_rx.lock().await;
        let (rx, close_reported) = &mut *guard;
        state::next_event(
            rx,
            close_reported,
            &self.inner.core.state,
            DataConnectionEvent::Close,
        )
        .await
    }

    /// The events as a stream (the same events as [`DataConnection::next_event`]; use one or
    /// the other).
    pub fn events(&self) -> impl futures::Stream<Item = DataConnectionEvent> + Send + 'static {
        futures::stream::unfold(self.clone(), |conn| async move {
            let ev = conn.next_event().await?;
            Some((ev, conn))
        })
    }

    /// Waits for the next message, skipping `Open` and `Error` events; `None` once closed.
    #[must_use = "a message taken and dropped is lost"]
    pub async fn recv(&self) -> Option<Data> {
        loop {
            match self.next_event().await? {
                DataConnectionEvent::Data(d) => return Some(d),
                DataConnectionEvent::Close => return None,
                _ => {}
            }
        }
    }

    fn raw_channel(&self) -> Result<Arc<RawChannel>, ConnectionError> {
        match self.state() {
            ConnectionState::Connecting => return Err(ConnectionError::NotOpen),
            ConnectionState::Closed => return Err(ConnectionError::Closed),
            ConnectionState::Open => {}
        }
        self.inner
            .channel
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .ok_or(ConnectionError::NotOpen)
    }

    /// Sends a value: text, bytes or JSON (see [`Data`] for what each serialization carries).
    /// Waits while the channel's send buffer is above 1 MiB, so a fast sender cannot grow memory
    /// without bound. Messages of one connection are sent in call order.
    pub async fn send(&self, data: impl Into<Data>) -> Result<(), ConnectionError> {
        let data = data.into();
        let raw = self.raw_channel()?;
        // Only chunked messages carry an id; `json` and `none` skip the random bytes.
        let chunk_id = if self.inner.serialization.is_binary() {
            base36_token(CHUNK_ID_LEN)
        } else {
            String::new()
        };
        let messages = framing::encode(
            self.inner.serialization,
            &data,
            &chunk_id,
            MAX_UNCHUNKED_MESSAGE,
        )?;
        let _order = self.inner.send_lock.lock().await;
        for m in messages {
            self.write(&raw, &m.data, m.is_string).await?;
        }
        Ok(())
    }

    /// Sends any serde value as JSON (an object for `binary`, text for `json`).
    pub async fn send_json<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(), ConnectionError> {
        let v =
            serde_json::to_value(value).map_err(|e| ConnectionError::Unsupported(e.to_string()))?;
        self.send(Data::from_json(v)).await
    }

    async fn write(
        &self,
        raw: &RawChannel,
        data: &Bytes,
        is_string: bool,
    ) -> Result<(), ConnectionError> {
        while raw.buffered_amount() > HIGH_WATER {
            if self.state() == ConnectionState::Closed {
                return Err(ConnectionError::Closed);
            }
            // The timeout covers a wake-up that raced with the check above.
            let _ =
                tokio::time::timeout(Duration::from_millis(50), self.inner.buffer_low.notified())
                    .await;
        }
        // SCTP may never free its queue once the remote is gone: stop waiting on close.
        tokio::select! {
            r = raw.write_data_channel(data, is_string) => r.map(|_| ()).map_err(|e| match self.state() {
                ConnectionState::Closed => ConnectionError::Closed,
                _ => ConnectionError::from(e),
            }),
            _ = self.closed() => Err(ConnectionError::Closed),
        }
    }

    /// Bytes waiting in the channel's send buffer.
    pub fn buffered_amount(&self) -> usize {
        self.raw_channel().map(|r| r.buffered_amount()).unwrap_or(0)
    }

    /// Closes the connection. With `force`, the remote side is told through `SEND_FORCE_CLOSE`
    /// and closes at once; without, it notices when the channel closes.
    pub async fn close(&self, force: bool) {
        if force {
            self.inner.core.send_force_close().await;
        }
        self.shutdown(true).await;
    }

    async fn shutdown(&self, graceful: bool) {
        let first = self.inner.core.begin_close();
        let raw = self.inner.channel.lock().ok().and_then(|mut c| c.take());
        if !first && raw.is_none() {
            return;
        }
        tracing::debug!(id = %self.id(), graceful, "closing data connection");
        let core = self.inner.core.clone();
        // Closing the channel and the peer connection waits on SCTP and DTLS; do it aside so
        // that a read loop or an event handler calling this never waits on itself.
        tokio::spawn(async move {
            if let Some(raw) = raw {
                if graceful {
                    // Give queued data a moment to leave before the stream reset.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                    while raw.buffered_amount() > 0 && tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                let _ = raw.close().await;
            }
            core.close_transport();
        });
    }
}
