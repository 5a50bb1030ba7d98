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
    let server = TestServer::start();
    let (s1, _p1) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s2, _p2) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s3, _p3) = stream(&[Codec::Vp8, Codec::Opus]);
    let a = Member::join(&server, "sfu-a", "sfu", sfu().stream(s1)).await;
    let b = Member::join(&server, "sfu-b", "sfu", sfu().stream(s2)).await;
    let c = Member::join(&server, "sfu-c", "sfu", sfu().stream(s3)).await;
    receives(&a, &["sfu-b", "sfu-c"], 20).await;
    receives(&b, &["sfu-a", "sfu-c"], 20).await;
    receives(&c, &["sfu-a", "sfu-b"], 20).await;
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
