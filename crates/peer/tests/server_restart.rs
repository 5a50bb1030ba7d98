//! `peer-server` killed with SIGKILL and started again on the same port while Rust peers are
//! open and in a mesh room and an SFU room with media: the peers reconnect by themselves with
//! their ids, learn from the fresh session's `OPEN` (no `resumed`) that the server forgot them,
//! and join their rooms again. The mesh calls (peer to peer) never stopped; the SFU rooms get a
//! new connection with the new server. Afterwards room data goes both ways, media flows both
//! ways in both rooms, and a peer that joins after the restart finds both members.

mod common;

use common::rooms::*;
use common::*;
use peer::{Codec, MediaKind, Peer, PeerEvent, RoomMode, RoomOptions, RoomPayload};
use std::time::Duration;

/// Waits until `peer` reports `Reconnected`, failing on `Disconnected`.
async fn reconnected(peer: &Peer) {
    within(&format!("{} reconnects", peer.id()), async {
        loop {
            match peer.next_event().await {
                Some(PeerEvent::Reconnected) => return,
                Some(PeerEvent::Disconnected(why)) => panic!("{} gave up: {why}", peer.id()),
                Some(_) => {}
                None => panic!("{}'s events ended", peer.id()),
            }
        }
    })
    .await
}

/// Waits until `m` has read `more` video packets from `from` past what it had.
async fn more_video(m: &Member, from: &str, more: u64, what: &str) {
    let before = m.packets(from, MediaKind::Video);
    m.until(what, |s| {
        s.packets
            .get(&(from.to_owned(), MediaKind::Video))
            .copied()
            .unwrap_or(0)
            >= before + more
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_rejoin_their_rooms_after_the_server_restarts() {
    let mut server = TestServer::start();
    let port = server.port;
    let a = server.peer("rs-a").await;
    let b = server.peer("rs-b").await;
    let (s1, _p1) = stream(&[Codec::Vp8]);
    let (s2, _p2) = stream(&[Codec::Vp8]);
    let (s3, _p3) = stream(&[Codec::Vp8]);
    let (s4, _p4) = stream(&[Codec::Vp8]);
    let mesh = |s| RoomOptions::new().stream(s);
    let sfu = |s| RoomOptions::new().mode(RoomMode::Sfu).stream(s);
    let a_mesh = Member::join_with(a.clone(), "rs-mesh", mesh(s1)).await;
    let a_sfu = Member::join_with(a.clone(), "rs-sfu", sfu(s2)).await;
    let b_mesh = Member::join_with(b.clone(), "rs-mesh", mesh(s3)).await;
    let b_sfu = Member::join_with(b.clone(), "rs-sfu", sfu(s4)).await;
    for (m, from) in [
        (&a_mesh, "rs-b"),
        (&a_sfu, "rs-b"),
        (&b_mesh, "rs-a"),
        (&b_sfu, "rs-a"),
    ] {
        more_video(m, from, 20, "video before the restart").await;
    }

    server.kill();
    // Down for a moment, as a crash and a supervisor's restart would be.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = TestServer::start_on(port);
    reconnected(&a).await;
    reconnected(&b).await;
    assert_eq!((a.id(), b.id()), ("rs-a", "rs-b"));

    // Both rooms of both peers are open, and each lists the other once the other rejoined.
    for (m, other) in [
        (&a_mesh, "rs-b"),
        (&a_sfu, "rs-b"),
        (&b_mesh, "rs-a"),
        (&b_sfu, "rs-a"),
    ] {
        assert!(m.room.is_open(), "{} still in its room", m.peer.id());
        within("the other member is listed", async {
            while !m.room.members().contains(&other.to_owned()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    // The new server knows both members of both rooms: a newcomer finds them.
    let c = server.peer("rs-c").await;
    let (s5, _p5) = stream(&[Codec::Vp8]);
    let c_mesh = Member::join_with(c, "rs-mesh", mesh(s5)).await;
    let mut listed = c_mesh.room.members();
    listed.sort();
    assert_eq!(listed, ["rs-a", "rs-b"]);
    more_video(&c_mesh, "rs-a", 20, "newcomer gets a's video").await;
    more_video(&c_mesh, "rs-b", 20, "newcomer gets b's video").await;

    // Room data both ways in both rooms.
    for (from, to) in [
        (&a_mesh, &b_mesh),
        (&b_mesh, &a_mesh),
        (&a_sfu, &b_sfu),
        (&b_sfu, &a_sfu),
    ] {
        let before = to.seen.lock().unwrap().data.len();
        from.room.send("after the restart").await.expect("send");
        to.until("data after the restart", |s| s.data.len() > before)
            .await;
        assert_eq!(
            to.seen.lock().unwrap().data.last().unwrap().1,
            RoomPayload::from("after the restart")
        );
    }
    // Media both ways in both rooms (the SFU's through a new connection).
    for (m, from) in [
        (&a_mesh, "rs-b"),
        (&a_sfu, "rs-b"),
        (&b_mesh, "rs-a"),
        (&b_sfu, "rs-a"),
    ] {
        more_video(m, from, 20, "video after the restart").await;
    }
    // Nobody left any room on the way, and no room closed.
    for m in [&a_mesh, &a_sfu, &b_mesh, &b_sfu] {
        let s = m.seen.lock().unwrap();
        assert!(!s.closed, "{}'s room closed", m.peer.id());
    }
}
