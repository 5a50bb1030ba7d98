//! SFU rooms of Rust peers through the real peer-server and its SFU: every member receives
//! every other member's audio and video through the server, named with the right peer id
//! (`msids`); room data goes over signaling; a member that leaves is seen leaving and stops
//! arriving; a late joiner receives everyone; a receive-only member works.

mod common;

use common::rooms::*;
use common::*;
use peer::{Codec, MediaKind, RoomMode, RoomOptions, RoomPayload};
use std::time::Duration;

fn sfu() -> RoomOptions {
    RoomOptions::new().mode(RoomMode::Sfu)
}

/// Waits until `m` got at least `n` packets of each kind from each of `from`.
async fn receives(m: &Member, from: &[&str], n: u64) {
    for f in from {
        for kind in [MediaKind::Video, MediaKind::Audio] {
            m.until(&format!("{kind} from {f}"), |s| {
                s.packets.get(&(f.to_string(), kind)).copied().unwrap_or(0) >= n
            })
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sfu_room_media_data_leave_and_late_join() {
    let server = TestServer::start_with(0, "[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let (s1, _p1) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s2, _p2) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s3, _p3) = stream(&[Codec::Vp8, Codec::Opus]);
    let a = Member::join(&server, "sfu-a", "sfu", sfu().stream(s1)).await;
    let b = Member::join(&server, "sfu-b", "sfu", sfu().stream(s2)).await;
    let c = Member::join(&server, "sfu-c", "sfu", sfu().stream(s3)).await;
    receives(&a, &["sfu-b", "sfu-c"], 20).await;
    receives(&b, &["sfu-a", "sfu-c"], 20).await;
    receives(&c, &["sfu-a", "sfu-b"], 20).await;
    // The server's metrics tell the same story: three members, twelve tracks forwarded (each
    // member's audio and video to two others), packets in and more out, and keyframes asked
    // of the publishers as members joined.
    let body = tokio::task::spawn_blocking({
        let port = server.metrics_port();
        move || peer_testkit::metrics::get(port, "/metrics")
    })
    .await
    .expect("scrape")
    .expect("metrics answered")
    .1;
    let value = |name: &str| peer_testkit::metrics::sample(&body, name).unwrap_or(-1.0);
    assert_eq!(value("peer_sfu_members"), 3.0, "{body}");
    assert_eq!(value("peer_sfu_forwarded_tracks"), 12.0, "{body}");
    assert_eq!(value("peer_rooms{kind=\"sfu\"}"), 1.0, "{body}");
    assert_eq!(value("peer_room_members{kind=\"sfu\"}"), 3.0, "{body}");
    assert!(value("peer_sfu_received_packets_total") > 0.0, "{body}");
    assert!(
        value("peer_sfu_forwarded_packets_total") > value("peer_sfu_received_packets_total"),
        "each packet goes to two subscribers: {body}"
    );
    assert!(value("peer_sfu_forwarded_bytes_total") > 0.0, "{body}");
    assert!(value("peer_sfu_plis_total") >= 1.0, "{body}");
    for m in [&a, &b, &c] {
        let me = m.peer.id().to_owned();
        assert_eq!(m.packets(&me, MediaKind::Video), 0, "nothing of its own");
        assert_eq!(m.room.mode(), RoomMode::Sfu);
    }
    assert_eq!(a.seen.lock().unwrap().joins, vec!["sfu-b", "sfu-c"]);

    // Room data goes over signaling, to the others only.
    a.room.send("over the SFU room").await.expect("send");
    for m in [&b, &c] {
        m.until("data", |s| !s.data.is_empty()).await;
        let s = m.seen.lock().unwrap();
        assert_eq!(s.data[0].0, "sfu-a");
        assert_eq!(s.data[0].1, RoomPayload::from("over the SFU room"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.seen.lock().unwrap().data.is_empty());

    // c leaves: seen leaving, and nothing more of it arrives.
    c.room.close().await;
    for m in [&a, &b] {
        m.until("c leaving", |s| s.leaves.contains(&"sfu-c".to_string()))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = a.packets("sfu-c", MediaKind::Video);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        a.packets("sfu-c", MediaKind::Video),
        before,
        "c's media stopped"
    );
    assert!(c.peer.rooms().is_empty());

    // A receive-only late joiner gets both members; they keep receiving each other.
    let d = Member::join(&server, "sfu-d", "sfu", sfu()).await;
    receives(&d, &["sfu-a", "sfu-b"], 20).await;
    let (av, bv) = (
        a.packets("sfu-b", MediaKind::Video),
        b.packets("sfu-a", MediaKind::Video),
    );
    receives(&a, &["sfu-b"], av + 20).await;
    receives(&b, &["sfu-a"], bv + 20).await;
    assert_eq!(a.packets("sfu-d", MediaKind::Video), 0, "d sends nothing");
    let mut members = d.room.members();
    members.sort();
    assert_eq!(members, vec!["sfu-a", "sfu-b"]);
}

/// The SFU offers of `peer` logged so far: (bytes, m-sections), oldest first.
fn offers_of(server: &TestServer, peer: &str) -> Vec<(usize, usize)> {
    server
        .log_lines_with(&["SFU offer", &format!("peer={peer} ")])
        .iter()
        .filter_map(|l| {
            Some((
                log_number(l, "bytes")? as usize,
                log_number(l, "sections")? as usize,
            ))
        })
        .collect()
}

/// webrtc 0.17.2 never reuses an m-section: each track that came and went stays in a member's
/// later offers as an inactive section. Measured here over 50 join/leave cycles of a member
/// sending audio and video; the growth is two sections per cycle, and the server's
/// `max_sections_per_member` (256 by default) bounds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_grow_by_the_sections_that_came_and_went() {
    let server = TestServer::start();
    let stay = Member::join(&server, "grow-stay", "grow", sfu()).await;
    let (s, _pumps) = stream(&[Codec::Vp8, Codec::Opus]);
    let peer = server.peer("grow-cycle").await;
    const CYCLES: usize = 50;
    for i in 0..CYCLES {
        let m = Member::join_with(peer.clone(), "grow", sfu().stream(s.clone())).await;
        let before = stay.packets("grow-cycle", MediaKind::Video);
        receives(&stay, &["grow-cycle"], before + 1).await;
        m.room.close().await;
        stay.until(&format!("cycle {i}: leave"), |s| s.leaves.len() == i + 1)
            .await;
    }
    // The last offer (after the last leave) comes shortly.
    let want = 2 + 2 * CYCLES;
    within("the last offer", async {
        while offers_of(&server, "grow-stay").last().map(|o| o.1) != Some(want) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let offers = offers_of(&server, "grow-stay");
    let (first, last) = (offers[0], offers[offers.len() - 1]);
    eprintln!(
        "offers of a member that stayed through {CYCLES} join/leave cycles: first {} bytes / {} sections, last {} bytes / {} sections ({} offers, {:.0} bytes per cycle)",
        first.0,
        first.1,
        last.0,
        last.1,
        offers.len(),
        (last.0 - first.0) as f64 / CYCLES as f64
    );
    assert_eq!(first.1, 2, "the first offer has the two upstream sections");
    assert_eq!(last.1, want, "two sections stay per cycle");
    // Still forwarding after all that: a last member is received.
    let (s2, _p2) = stream(&[Codec::Vp8, Codec::Opus]);
    let _last = Member::join(&server, "grow-last", "grow", sfu().stream(s2)).await;
    receives(&stay, &["grow-last"], 20).await;
}
