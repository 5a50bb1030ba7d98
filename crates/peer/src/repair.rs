//! Repairing P2P connections whose ICE went quiet: the decisions ([`Watch`], pure), and the
//! Peer's task that carries them out ([`run`]).
//!
//! webrtc-rs reports a connection `disconnected` after 5 s without traffic from the remote and
//! `failed` (which closes it) after 25 s more. In between, the remote is either gone (its
//! process died: the server holds its id for the reconnect grace but no longer lists it) or
//! still online behind a path that stopped working (a changed address, a NAT binding that
//! expired). The Peer asks the server whether the remote is there (`exists`, REST):
//!
//! - absent twice in a row: the connection closes now instead of 25 s later;
//! - present, and this side made the connection: ICE restart (a new offer with fresh ICE
//!   credentials, which gathers and checks again), repeated while ICE stays down, at most
//!   [`Policy::max_restarts`] times;
//! - present, and the remote made it: the remote restarts (a browser on the SDK never does;
//!   its connection then fails and closes as the SDK's does).
//!
//! Mesh-room calls and the SFU connection are not repaired here.

use crate::inner::{Inner, Life};
use peer_connection::{Connection, ConnectionState};
use std::collections::HashMap;
use std::sync::Weak;
use std::time::{Duration, Instant};

/// How the repair paces itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Time since ICE went quiet before anything is done.
    pub(crate) act_after: Duration,
    /// Between two `exists` probes of one connection.
    pub(crate) probe_every: Duration,
    /// Between two ICE restarts of one connection.
    pub(crate) restart_every: Duration,
    /// ICE restarts per quiet spell.
    pub(crate) max_restarts: u32,
    /// Probes in a row that must find the remote absent before the connection closes.
    pub(crate) absent_probes: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            act_after: Duration::from_secs(1),
            probe_every: Duration::from_secs(2),
            restart_every: Duration::from_secs(5),
            max_restarts: 5,
            absent_probes: 2,
        }
    }
}

/// What to do for one connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing yet.
    Wait,
    /// Ask the server whether the remote is there, then report with [`Watch::probed`].
    Probe,
    /// Restart ICE (this side made the connection and the remote is there).
    Restart,
    /// The remote is gone: close the connection.
    Close,
}

/// One quiet spell of one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Watch {
    last_probe: Option<Instant>,
    absent_in_a_row: u32,
    present: bool,
    last_restart: Option<Instant>,
    restarts: u32,
}

impl Watch {
    /// The next step for a connection quiet since `since`.
    pub(crate) fn next(
        &mut self,
        policy: &Policy,
        now: Instant,
        since: Instant,
        originator: bool,
    ) -> Step {
        if now < since + policy.act_after {
            return Step::Wait;
        }
        if self.absent_in_a_row >= policy.absent_probes {
            return Step::Close;
        }
        if self
            .last_probe
            .is_none_or(|at| now >= at + policy.probe_every)
        {
            self.last_probe = Some(now);
            return Step::Probe;
        }
        let restart_due = self
            .last_restart
            .is_none_or(|at| now >= at + policy.restart_every);
        if originator && self.present && self.restarts < policy.max_restarts && restart_due {
            self.last_restart = Some(now);
            self.restarts += 1;
            return Step::Restart;
        }
        Step::Wait
    }

    /// The answer of a probe: whether the server lists the remote (`None`: no answer).
    pub(crate) fn probed(&mut self, exists: Option<bool>) {
        match exists {
            Some(true) => {
                self.present = true;
                self.absent_in_a_row = 0;
            }
            Some(false) => {
                self.present = false;
                self.absent_in_a_row += 1;
            }
            None => {}
        }
    }
}

/// How often the task looks at the connections.
const TICK: Duration = Duration::from_millis(500);

/// Watches the Peer's P2P connections until the Peer is gone or destroyed.
pub(crate) async fn run(peer: Weak<Inner>, policy: Policy) {
    let mut watches: HashMap<String, Watch> = HashMap::new();
    loop {
        tokio::time::sleep(TICK).await;
        let Some(inner) = peer.upgrade() else {
            return;
        };
        if inner.life() == Life::Destroyed {
            return;
        }
        let conns: Vec<Connection> = inner.all_connections();
        watches.retain(|id, _| {
            conns
                .iter()
                .any(|c| c.id() == id && c.ice_trouble_since().is_some())
        });
        let now = Instant::now();
        for conn in conns {
            let Some(since) = conn.ice_trouble_since() else {
                continue;
            };
            if conn.state() == ConnectionState::Closed || conn.room_name().is_some() {
                continue;
            }
            let watch = watches.entry(conn.id().to_owned()).or_default();
            match watch.next(&policy, now, since, conn.is_originator()) {
                Step::Wait => {}
                Step::Probe => {
                    let exists = if inner.life() == Life::Open {
                        inner.remote_exists(conn.remote_id()).await
                    } else {
                        None
                    };
                    watch.probed(exists);
                }
                Step::Restart => {
                    if inner.logs(2) {
                        tracing::warn!(id = %conn.id(), remote = %conn.remote_id(), "ICE is down while the remote is online; restarting ICE");
                    }
                    if let Err(e) = conn.restart_ice().await {
                        if inner.logs(2) {
                            tracing::warn!(id = %conn.id(), error = %e, "ICE restart failed");
                        }
                    }
                }
                Step::Close => {
                    if inner.logs(2) {
                        tracing::warn!(id = %conn.id(), remote = %conn.remote_id(), "the remote is gone; closing the connection");
                    }
                    conn.close(false).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn waits_then_probes_then_restarts_while_the_remote_is_there() {
        let p = Policy::default();
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert_eq!(w.next(&p, at(t0, 500), t0, true), Step::Wait);
        assert_eq!(w.next(&p, at(t0, 1000), t0, true), Step::Probe);
        w.probed(Some(true));
        assert_eq!(w.next(&p, at(t0, 1500), t0, true), Step::Restart);
        // The next restart waits restart_every; probes go on meanwhile.
        assert_eq!(w.next(&p, at(t0, 2000), t0, true), Step::Wait);
        assert_eq!(w.next(&p, at(t0, 3000), t0, true), Step::Probe);
        w.probed(Some(true));
        assert_eq!(w.next(&p, at(t0, 3500), t0, true), Step::Wait);
        // A due probe goes first; the restart follows on the next tick.
        assert_eq!(w.next(&p, at(t0, 6500), t0, true), Step::Probe);
        w.probed(Some(true));
        assert_eq!(w.next(&p, at(t0, 7000), t0, true), Step::Restart);
    }

    #[test]
    fn the_answering_side_only_probes() {
        let p = Policy::default();
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert_eq!(w.next(&p, at(t0, 1000), t0, false), Step::Probe);
        w.probed(Some(true));
        for ms in [1500, 2000, 2500] {
            assert_eq!(w.next(&p, at(t0, ms), t0, false), Step::Wait);
        }
    }

    #[test]
    fn closes_after_two_absent_answers_in_a_row_only() {
        let p = Policy::default();
        let t0 = Instant::now();
        let mut w = Watch::default();
        assert_eq!(w.next(&p, at(t0, 1000), t0, true), Step::Probe);
        w.probed(Some(false));
        // Absent: no restart (an offer to an absent peer only earns an error).
        assert_eq!(w.next(&p, at(t0, 1500), t0, true), Step::Wait);
        assert_eq!(w.next(&p, at(t0, 3000), t0, true), Step::Probe);
        // Back (it reconnected): the count starts over.
        w.probed(Some(true));
        assert_eq!(w.next(&p, at(t0, 5000), t0, true), Step::Probe);
        w.probed(Some(false));
        assert_eq!(w.next(&p, at(t0, 7000), t0, true), Step::Probe);
        w.probed(None); // no answer (server unreachable) decides nothing
        assert_eq!(w.next(&p, at(t0, 9000), t0, true), Step::Probe);
        w.probed(Some(false));
        assert_eq!(w.next(&p, at(t0, 9500), t0, true), Step::Close);
    }

    #[test]
    fn restarts_are_bounded() {
        let p = Policy::default();
        let t0 = Instant::now();
        let mut w = Watch::default();
        let mut restarts = 0;
        for s in 1..120u64 {
            match w.next(&p, at(t0, s * 500), t0, true) {
                Step::Probe => w.probed(Some(true)),
                Step::Restart => restarts += 1,
                _ => {}
            }
        }
        assert_eq!(restarts, p.max_restarts);
    }
}
