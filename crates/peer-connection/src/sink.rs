//! Where a connection's signaling messages go: the [`SignalSink`] the Peer provides.

use crate::error::ConnectionError;
use async_trait::async_trait;
use peer_protocol::client::ClientMessage;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Sends a connection's `SEND_OFFER`/`SEND_ANSWER`/`SEND_CANDIDATE`/`SEND_FORCE_CLOSE` to the
/// signaling server. `send` returns once the message is queued on the socket, in call order, so
/// a later close of the socket cannot overtake it.
#[async_trait]
pub trait SignalSink: Send + Sync + 'static {
    /// Queues `msg` for the server.
    async fn send(&self, msg: ClientMessage) -> Result<(), ConnectionError>;
}

/// A shared sink.
pub type Signal = Arc<dyn SignalSink>;

/// A channel is a sink (for tests and custom routers).
#[async_trait]
impl SignalSink for mpsc::Sender<ClientMessage> {
    async fn send(&self, msg: ClientMessage) -> Result<(), ConnectionError> {
        mpsc::Sender::send(self, msg)
            .await
            .map_err(|_| ConnectionError::SignalingClosed)
    }
}
