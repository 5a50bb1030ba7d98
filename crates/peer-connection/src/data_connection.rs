//! `DataConnection`: one RTCPeerConnection with one data channel to a remote peer, framed by
//! the SDK's serialization. The signaling messages it needs to send go to a
//! [`SignalSink`](crate::sink::SignalSink); the messages addressed to it come in through
//! [`DataConnection::handle_answer`], [`DataConnection::handle_candidate`] and
//! [`DataConnection::handle_remote_close`], called by the Peer's router.

use crate::candidates::{self, CandidateQueues};
use crate::config::RtcContext;
use crate::data::Data;
use crate::error::ConnectionError;
use crate::framing::{self, FrameDecoder};
use crate::random::{base36_token, connection_id};
use crate::serialization::{DcInit, Serialization};
use crate::signal::{self, Offer};
use crate::sink::Signal;
use crate::state;
use bytes::Bytes;
use peer_binarypack::{Limits, CHUNK_ID_LEN};
use peer_protocol::client::ClientMessage;
use serde_json::Value;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Mutex, Notify};
use webrtc::data::data_channel::DataChannel as RawChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::data_channel::RTCDataChannel;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;

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

/// Options of [`DataConnection::connect`] (the SDK's `peer.connect(id, options)`).
#[derive(Debug, Clone, Default, PartialEq)]
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

pub use crate::state::ConnectionState;

/// What a DataConnection reports, in order. `Close` is the last event.
#[derive(Debug, Clone, PartialEq)]
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

/// What a connection is, fixed at creation from the options or the offer.
struct Meta {
    id: String,
    remote_id: String,
    label: String,
    metadata: Option<Value>,
    serialization: Serialization,
    dc_init: DcInit,
    originator: bool,
}

struct Inner {
    meta: Meta,
    pc: Arc<RTCPeerConnection>,
    signal: Signal,
    state: watch::Sender<ConnectionState>,
    channel: StdMutex<Option<Arc<RawChannel>>>,
    candidates: CandidateQueues,
    events_tx: mpsc::Sender<DataConnectionEvent>,
    events_rx: Mutex<(mpsc::Receiver<DataConnectionEvent>, bool)>,
    send_lock: Mutex<()>,
    buffer_low: Notify,
    limits: Limits,
}

/// A data connection to one remote peer. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct DataConnection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DataConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataConnection")
            .field("id", &self.inner.meta.id)
            .field("remote_id", &self.inner.meta.remote_id)
            .field("label", &self.inner.meta.label)
            .field("serialization", &self.inner.meta.serialization)
            .field("state", &self.state())
            .finish()
    }
}

impl DataConnection {
    /// Opens a connection to `remote_id`: creates the data channel, sends `SEND_OFFER` and
    /// returns at once; [`DataConnectionEvent::Open`] follows when the channel opens. A router
    /// that must know the connection before the server can answer uses
    /// [`DataConnection::outgoing`] and [`DataConnection::offer`] instead.
    pub async fn connect(
        ctx: &RtcContext,
        signal: Signal,
        remote_id: &str,
        options: ConnectOptions,
    ) -> Result<DataConnection, ConnectionError> {
        let conn = DataConnection::outgoing(ctx, signal, remote_id, options).await?;
        conn.offer().await?;
        Ok(conn)
    }

    /// Creates the connection and its data channel without signaling anything yet.
    pub async fn outgoing(
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
        let meta = Meta {
            id,
            remote_id: remote_id.to_owned(),
            label,
            metadata: options.metadata,
            serialization,
            dc_init: options.dc_init,
            originator: true,
        };
        let conn = DataConnection::build(meta, pc, signal);
        let init = RTCDataChannelInit {
            ordered: conn.inner.meta.dc_init.ordered,
            max_packet_life_time: conn.inner.meta.dc_init.max_packet_life_time,
            max_retransmits: conn.inner.meta.dc_init.max_retransmits,
            ..Default::default()
        };
        let channel = conn
            .inner
            .pc
            .create_data_channel(&conn.inner.meta.label, Some(init))
            .await?;
        conn.attach(channel);
        Ok(conn)
    }

    /// Sends `SEND_OFFER` for a connection made by [`DataConnection::outgoing`]. On failure the
    /// connection is closed.
    pub async fn offer(&self) -> Result<(), ConnectionError> {
        let result = self.send_offer().await;
        if result.is_err() {
            self.shutdown(false).await;
        }
        result
    }

    async fn send_offer(&self) -> Result<(), ConnectionError> {
        let i = &self.inner;
        let offer = i.pc.create_offer(None).await?;
        i.pc.set_local_description(offer).await?;
        let sdp =
            i.pc.local_description()
                .await
                .map(|d| d.sdp)
                .ok_or_else(|| ConnectionError::WebRtc("no local description".into()))?;
        let dc_init =
            serde_json::to_value(&i.meta.dc_init).unwrap_or(Value::Object(Default::default()));
        let msg = signal::data_offer(
            &i.meta.remote_id,
            &i.meta.id,
            &sdp,
            i.meta.metadata.as_ref(),
            i.meta.serialization.as_str(),
            &i.meta.label,
            &dc_init,
        )?;
        self.signal(msg).await?;
        self.flush_local_candidates().await
    }

    /// Accepts a data `OFFER` the way the SDK does: the connection is created from the offer's
    /// `connectionId`, `label`, `metadata`, `serialization` and `dcInit`, and answered at once.
    /// The returned connection is registered by the caller before any `CANDIDATE` is routed;
    /// call [`DataConnection::answer`] next.
    pub async fn from_offer(
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
        let meta = Meta {
            id: offer.connection_id.clone(),
            remote_id: offer.src.clone(),
            label,
            metadata,
            serialization,
            dc_init,
            originator: false,
        };
        let conn = DataConnection::build(meta, pc, signal);
        let weak = Arc::downgrade(&conn.inner);
        conn.inner.pc.on_data_channel(Box::new(move |channel| {
            if let Some(inner) = weak.upgrade() {
                DataConnection { inner }.attach(channel);
            }
            Box::pin(async {})
        }));
        Ok(conn)
    }

    /// Applies the offer `sdp` and sends `SEND_ANSWER`.
    pub async fn answer(&self, sdp: &str) -> Result<(), ConnectionError> {
        let result = self.answer_inner(sdp).await;
        if result.is_err() {
            self.shutdown(false).await;
        }
        result
    }

    async fn answer_inner(&self, sdp: &str) -> Result<(), ConnectionError> {
        let i = &self.inner;
        let offer = RTCSessionDescription::offer(sdp.to_owned())
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        i.pc.set_remote_description(offer)
            .await
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        self.flush_remote_candidates().await;
        let answer = i.pc.create_answer(None).await?;
        i.pc.set_local_description(answer).await?;
        let sdp =
            i.pc.local_description()
                .await
                .map(|d| d.sdp)
                .ok_or_else(|| ConnectionError::WebRtc("no local description".into()))?;
        self.signal(signal::answer(&i.meta.remote_id, &i.meta.id, "data", &sdp)?)
            .await?;
        self.flush_local_candidates().await
    }

    /// The connection around `pc`, with its ICE and state handlers installed.
    fn build(meta: Meta, pc: Arc<RTCPeerConnection>, signal: Signal) -> DataConnection {
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let conn = DataConnection {
            inner: Arc::new(Inner {
                meta,
                pc,
                signal,
                state: watch::channel(ConnectionState::Connecting).0,
                channel: StdMutex::new(None),
                candidates: CandidateQueues::new(),
                events_tx,
                events_rx: Mutex::new((events_rx, false)),
                send_lock: Mutex::new(()),
                buffer_low: Notify::new(),
                limits: Limits::default(),
            }),
        };
        conn.install_handlers();
        conn
    }

    fn install_handlers(&self) {
        let weak = Arc::downgrade(&self.inner);
        self.inner.pc.on_ice_candidate(Box::new(move |c| {
            let weak = weak.clone();
            Box::pin(async move {
                let (Some(c), Some(inner)) = (c, weak.upgrade()) else {
                    return;
                };
                match c.to_json() {
                    Ok(init) => DataConnection { inner }.local_candidate(init).await,
                    Err(e) => tracing::debug!(error = %e, "unusable local candidate"),
                }
            })
        }));
        let weak = Arc::downgrade(&self.inner);
        self.inner
            .pc
            .on_peer_connection_state_change(Box::new(move |s| {
                let weak = weak.clone();
                Box::pin(async move {
                    if matches!(s, RTCPeerConnectionState::Failed) {
                        if let Some(inner) = weak.upgrade() {
                            tracing::info!(id = %inner.meta.id, "peer connection failed");
                            DataConnection { inner }.shutdown(false).await;
                        }
                    }
                })
            }));
    }

    async fn local_candidate(&self, c: RTCIceCandidateInit) {
        if let Some(c) = self.inner.candidates.local(c).await {
            self.send_candidate(&c).await;
        }
    }

    async fn send_candidate(&self, c: &RTCIceCandidateInit) {
        let i = &self.inner;
        candidates::send(&i.signal, &i.meta.remote_id, &i.meta.id, "data", c).await;
    }

    async fn flush_local_candidates(&self) -> Result<(), ConnectionError> {
        for c in self.inner.candidates.release_local().await {
            self.send_candidate(&c).await;
        }
        Ok(())
    }

    async fn flush_remote_candidates(&self) {
        self.inner.candidates.release_remote(&self.inner.pc).await;
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
        if *self.inner.state.borrow() == ConnectionState::Closed {
            let _ = raw.close().await;
            return;
        }
        self.inner.state.send_replace(ConnectionState::Open);
        let _ = self.inner.events_tx.send(DataConnectionEvent::Open).await;
        let conn = self.clone();
        tokio::spawn(async move { conn.read_loop(raw).await });
    }

    async fn read_loop(self, raw: Arc<RawChannel>) {
        let mut buf = vec![0u8; READ_BUFFER];
        let mut decoder = FrameDecoder::new(self.inner.meta.serialization, self.inner.limits);
        loop {
            let before = raw.messages_received();
            let (n, is_string) = match raw.read_data_channel(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(id = %self.inner.meta.id, error = %e, "data channel read ended");
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
                    tracing::warn!(id = %self.inner.meta.id, error = %e, "dropping undecodable data");
                    DataConnectionEvent::Error(e)
                }
            };
            if self.inner.events_tx.send(event).await.is_err() {
                break;
            }
        }
        self.shutdown(false).await;
    }

    async fn signal(&self, msg: ClientMessage) -> Result<(), ConnectionError> {
        self.inner.signal.send(msg).await
    }

    /// Applies a relayed `ANSWER` (originator side).
    pub async fn handle_answer(&self, sdp: &str) -> Result<(), ConnectionError> {
        if !self.inner.meta.originator {
            return Err(ConnectionError::InvalidSignal(
                "an answer for a connection this peer did not offer".into(),
            ));
        }
        let answer = RTCSessionDescription::answer(sdp.to_owned())
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        self.inner
            .pc
            .set_remote_description(answer)
            .await
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))?;
        self.flush_remote_candidates().await;
        Ok(())
    }

    /// Adds a relayed remote candidate, or keeps it until the remote description is set.
    pub async fn handle_candidate(&self, c: RTCIceCandidateInit) -> Result<(), ConnectionError> {
        self.inner.candidates.remote(&self.inner.pc, c).await
    }

    /// The remote side closed (`FORCE_CLOSE`, or `LEAVE` of the remote peer).
    pub async fn handle_remote_close(&self) {
        self.shutdown(false).await;
    }

    /// The connection id.
    pub fn id(&self) -> &str {
        &self.inner.meta.id
    }

    /// The remote peer's id (the SDK's `remoteId`).
    pub fn remote_id(&self) -> &str {
        &self.inner.meta.remote_id
    }

    /// The data channel label.
    pub fn label(&self) -> &str {
        &self.inner.meta.label
    }

    /// The metadata given by the offerer.
    pub fn metadata(&self) -> Option<&Value> {
        self.inner.meta.metadata.as_ref()
    }

    /// The serialization.
    pub fn serialization(&self) -> Serialization {
        self.inner.meta.serialization
    }

    /// The channel's reliability options.
    pub fn dc_init(&self) -> &DcInit {
        &self.inner.meta.dc_init
    }

    /// Whether this side sent the offer.
    pub fn is_originator(&self) -> bool {
        self.inner.meta.originator
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        *self.inner.state.borrow()
    }

    /// Whether the data channel is open (the SDK's `open`).
    pub fn is_open(&self) -> bool {
        self.state() == ConnectionState::Open
    }

    /// Waits until the channel is open; fails if it closes first.
    pub async fn wait_open(&self) -> Result<(), ConnectionError> {
        state::wait_open(&self.inner.state).await
    }

    /// Waits until the connection is closed.
    pub async fn closed(&self) {
        state::closed(&self.inner.state).await
    }

    /// The next event; `None` after [`DataConnectionEvent::Close`]. Received data queue up to a
    /// small bound, after which the remote sender is slowed down: read events promptly.
    pub async fn next_event(&self) -> Option<DataConnectionEvent> {
        let mut guard = self.inner.events_rx.lock().await;
        let (rx, close_reported) = &mut *guard;
        state::next_event(
            rx,
            close_reported,
            &self.inner.state,
            DataConnectionEvent::Close,
        )
        .await
    }

    /// Waits for the next message, skipping `Open` and `Error` events; `None` once closed.
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
        let chunk_id = if self.inner.meta.serialization.is_binary() {
            base36_token(CHUNK_ID_LEN)
        } else {
            String::new()
        };
        let messages = framing::encode(
            self.inner.meta.serialization,
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
                _ => ConnectionError::WebRtc(e.to_string()),
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
        if force && self.state() != ConnectionState::Closed {
            let msg = signal::force_close(&self.inner.meta.remote_id, &self.inner.meta.id);
            let _ = self.signal(msg).await;
        }
        self.shutdown(true).await;
    }

    async fn shutdown(&self, graceful: bool) {
        let previous = self.inner.state.send_replace(ConnectionState::Closed);
        if previous == ConnectionState::Closed {
            return;
        }
        tracing::debug!(id = %self.inner.meta.id, graceful, "closing data connection");
        let raw = self.inner.channel.lock().ok().and_then(|mut c| c.take());
        let pc = self.inner.pc.clone();
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
            let _ = pc.close().await;
        });
    }
}
