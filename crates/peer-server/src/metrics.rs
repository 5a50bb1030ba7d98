//! `/metrics`: what the server holds and has done, in the Prometheus text format (0.0.4), built
//! at each scrape from the numbers the parts keep anyway: the hub's counts and [`Counters`]
//! (plain numbers of the state machine), the sessions and connections, the SFU's and the TURN
//! server's statistics. Nothing is measured on a hot path for it beyond one atomic add.
//!
//! Every name starts with `peer_`; label values come from bounded sets (event names, error
//! types, transports, room kinds), never from peer or room ids.
//!
//! [`Counters`]: crate::hub::Counters

use crate::shared::Shared;
use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Vec<(String, String)>;

/// One gauge.
fn gauge(r: &mut Registry, name: &str, help: &str, value: u64) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    r.register(name, help, g);
}

/// One gauge per value of `label`.
fn gauges(r: &mut Registry, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
    let family: Family<Labels, Gauge> = Family::default();
    for (v, n) in values {
        family
            .get_or_create(&vec![(label.to_owned(), (*v).to_owned())])
            .set(i64::try_from(*n).unwrap_or(i64::MAX));
    }
    r.register(name, help, family);
}

/// One counter (its name gets `_total`).
fn counter(r: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    r.register(name, help, c);
}

/// One counter per value of `label`.
fn counters<'a>(
    r: &mut Registry,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) {
    let family: Family<Labels, Counter> = Family::default();
    for (v, n) in values {
        family
            .get_or_create(&vec![(label.to_owned(), v.to_owned())])
            .inc_by(n);
    }
    r.register(name, help, family);
}

/// The whole exposition, now.
pub fn render(shared: &Shared) -> String {
    let stats = shared.stats();
    let (counts, done) = shared.hub_numbers();
    let mut r = Registry::with_prefix("peer");

    let polling = stats.sessions.saturating_sub(stats.websocket_sessions) as u64;
    gauges(
        &mut r,
        "sessions",
        "Engine.IO sessions, by transport.",
        "transport",
        &[
            ("websocket", stats.websocket_sessions as u64),
            ("polling", polling),
        ],
    );
    let open = counts.sessions as u64;
    gauges(
        &mut r,
        "peers",
        "Peers: open, or in their reconnect grace.",
        "state",
        &[
            ("open", open),
            ("grace", (counts.peers as u64).saturating_sub(open)),
        ],
    );
    gauge(
        &mut r,
        "connections",
        "Open TCP connections of the public listener.",
        stats.open_connections as u64,
    );
    counter(
        &mut r,
        "connections_refused",
        "Connections and requests refused for lack of room (503).",
        stats.refused,
    );
    gauge(
        &mut r,
        "queued_bytes",
        "Bytes queued for clients.",
        stats.queued_bytes as u64,
    );
    gauge(
        &mut r,
        "tasks",
        "Tasks alive in the runtime.",
        stats.tasks as u64,
    );
    counters(
        &mut r,
        "messages_relayed",
        "Messages relayed between peers, by type.",
        "type",
        done.relayed.iter().map(|(k, v)| (*k, *v)),
    );
    counters(
        &mut r,
        "errors_sent",
        "ERROR messages sent to clients, by type.",
        "type",
        done.errors_sent.iter().map(|(k, v)| (*k, *v)),
    );
    counter(
        &mut r,
        "rate_limited",
        "Messages dropped by the per-session rate limits.",
        done.rate_limited,
    );
    gauges(
        &mut r,
        "rooms",
        "Rooms, by kind.",
        "kind",
        &[
            ("mesh", counts.mesh_rooms as u64),
            ("sfu", counts.sfu_rooms as u64),
        ],
    );
    gauges(
        &mut r,
        "room_members",
        "Room memberships, by room kind.",
        "kind",
        &[
            ("mesh", counts.mesh_members as u64),
            ("sfu", counts.sfu_members as u64),
        ],
    );
    counter(
        &mut r,
        "room_data_bytes",
        "Room data accepted from members (text and attachments).",
        done.room_data_bytes,
    );
    if let Some(sfu) = shared.sfu_stats() {
        gauge(
            &mut r,
            "sfu_forwarded_tracks",
            "Tracks the SFU forwards now (subscriber x published track).",
            sfu.forwarded_tracks,
        );
        gauge(
            &mut r,
            "sfu_members",
            "Members with an SFU media session.",
            sfu.members,
        );
        counter(
            &mut r,
            "sfu_received_packets",
            "RTP packets received from publishers.",
            sfu.received_packets,
        );
        counter(
            &mut r,
            "sfu_received_bytes",
            "RTP bytes received from publishers.",
            sfu.received_bytes,
        );
        counter(
            &mut r,
            "sfu_forwarded_packets",
            "RTP packets forwarded to subscribers.",
            sfu.forwarded_packets,
        );
        counter(
            &mut r,
            "sfu_forwarded_bytes",
            "RTP bytes forwarded to subscribers.",
            sfu.forwarded_bytes,
        );
        counters(
            &mut r,
            "sfu_nacked_packets",
            "Packets subscribers asked again for (NACK), resent or refused by the retransmission budget.",
            "result",
            [("resent", sfu.nacked_resent), ("refused", sfu.nacked_refused)],
        );
        counter(
            &mut r,
            "sfu_plis",
            "Keyframe requests (PLI) sent to publishers.",
            sfu.plis,
        );
    }
    if let Some(turn) = shared.turn_stats() {
        gauge(
            &mut r,
            "turn_allocations",
            "TURN allocations held.",
            turn.allocations as u64,
        );
        counter(
            &mut r,
            "turn_relayed_bytes",
            "Bytes relayed by TURN allocations, both ways.",
            turn.relayed_bytes,
        );
        counters(
            &mut r,
            "turn_refusals",
            "TURN requests refused: over quota (486), or for a refused peer address (403).",
            "reason",
            [("quota", turn.quota_refusals), ("peer", turn.peer_refusals)],
        );
    }
    let cluster = shared.cluster_node().map(|n| n.stats());
    if let Some(c) = &cluster {
        let kinds = peer_cluster::stats::KINDS;
        counters(
            &mut r,
            "cluster_messages_sent",
            "Messages published to other nodes, by kind (deliver: a relayed signaling message; room_input: a room operation for its home; frames: a room's message for a member).",
            "kind",
            kinds.iter().copied().zip(c.sent),
        );
        counters(
            &mut r,
            "cluster_messages_received",
            "Messages received from other nodes, by kind.",
            "kind",
            kinds.iter().copied().zip(c.received),
        );
        counter(
            &mut r,
            "cluster_messages_dropped",
            "Messages from other nodes dropped: malformed, or the inbox was full.",
            c.dropped,
        );
        counter(
            &mut r,
            "cluster_messages_lost",
            "Messages other nodes sent this one that never arrived (gaps in their sequence numbers).",
            c.lost,
        );
        counter(
            &mut r,
            "cluster_redis_errors",
            "Redis calls that failed or timed out.",
            c.redis_errors,
        );
    }
    let mut out = String::new();
    if encode(&mut out, &r).is_err() {
        out.clear();
    }
    if let Some(c) = &cluster {
        redis_histogram(&mut out, c);
    }
    out
}

/// `peer_cluster_redis_seconds`, the latency of the node's Redis calls, in the text format's
/// histogram form (the buckets are counted by `peer-cluster`, not by the metrics crate).
fn redis_histogram(out: &mut String, c: &peer_cluster::StatsSnapshot) {
    use std::fmt::Write as _;
    let name = "peer_cluster_redis_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Latency of the node's Redis calls (lookups, claims, renewals, publishing)."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0u64;
    for (i, n) in c.latency.iter().enumerate() {
        cumulative += n;
        let le = peer_cluster::stats::LATENCY_BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum {}", c.latency_sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {cumulative}");
}
