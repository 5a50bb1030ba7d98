//! The trickle-ICE queues every connection keeps, whatever it carries: local candidates held
//! until the offer or answer went out (so the remote never sees a `CANDIDATE` before the
//! `OFFER`), and remote candidates held until the remote description is set.

use crate::error::ConnectionError;
use crate::signal;
use crate::sink::Signal;
use tokio::sync::Mutex;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::peer_connection::RTCPeerConnection;

/// Remote candidates kept before the remote description is set; more are dropped.
const MAX_HELD_REMOTE: usize = 256;

/// The two queues; each is `None` once released and candidates then pass straight through.
pub(crate) struct CandidateQueues {
    local: Mutex<Option<Vec<RTCIceCandidateInit>>>,
    remote: Mutex<Option<Vec<RTCIceCandidateInit>>>,
}

impl CandidateQueues {
    /// Both queues holding.
    pub(crate) fn new() -> CandidateQueues {
        CandidateQueues {
            local: Mutex::new(Some(Vec::new())),
            remote: Mutex::new(Some(Vec::new())),
        }
    }

    /// A local candidate: held (`None`) while the offer or answer has not gone out, else
    /// returned to be sent now.
    pub(crate) async fn local(&self, c: RTCIceCandidateInit) -> Option<RTCIceCandidateInit> {
        match self.local.lock().await.as_mut() {
            Some(held) => {
                held.push(c);
                None
            }
            None => Some(c),
        }
    }

    /// Holds local candidates again (a renegotiation that restarts ICE gathers anew: its
    /// candidates must not reach the remote before the description that they belong to).
    pub(crate) async fn hold_local(&self) {
        self.local.lock().await.get_or_insert_with(Vec::new);
    }

    /// Stops holding local candidates; returns those held, to be sent.
    pub(crate) async fn release_local(&self) -> Vec<RTCIceCandidateInit> {
        self.local.lock().await.take().unwrap_or_default()
    }

    /// Holds remote candidates again until [`CandidateQueues::release_remote`]: a
    /// renegotiation offer is about to be applied (it may restart ICE, which would drop the
    /// candidates of its new session added before it).
    pub(crate) async fn hold_remote(&self) {
        self.remote.lock().await.get_or_insert_with(Vec::new);
    }

    /// A remote candidate: held until [`CandidateQueues::release_remote`], else added to `pc`.
    pub(crate) async fn remote(
        &self,
        pc: &RTCPeerConnection,
        c: RTCIceCandidateInit,
    ) -> Result<(), ConnectionError> {
        {
            let mut held = self.remote.lock().await;
            if let Some(list) = held.as_mut() {
                if list.len() < MAX_HELD_REMOTE {
                    list.push(c);
                }
                return Ok(());
            }
        }
        pc.add_ice_candidate(c)
            .await
            .map_err(|e| ConnectionError::InvalidSignal(e.to_string()))
    }

    /// The remote description is set: adds the held remote candidates to `pc` and stops
    /// holding.
    pub(crate) async fn release_remote(&self, pc: &RTCPeerConnection) {
        let held = self.remote.lock().await.take().unwrap_or_default();
        for c in held {
            if let Err(e) = pc.add_ice_candidate(c).await {
                tracing::debug!(error = %e, "remote candidate rejected");
            }
        }
    }
}

/// Sends `SEND_CANDIDATE` for connection `id` (of `connection_type`, in `room` if any) to
/// `remote_id`; a candidate that cannot be encoded, or a closed signaling channel, is only
/// logged.
pub(crate) async fn send(
    signal: &Signal,
    remote_id: &str,
    id: &str,
    connection_type: &str,
    room: Option<&str>,
    c: &RTCIceCandidateInit,
) {
    match signal::candidate_message(remote_id, id, connection_type, room, c) {
        Ok(msg) => {
            if let Err(e) = signal.send(msg).await {
                tracing::debug!(error = %e, "candidate not sent");
            }
        }
        Err(e) => tracing::debug!(error = %e, "candidate not sent"),
    }
}
