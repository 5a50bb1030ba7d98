//! In-crate tests of the room seam: relayed messages that name a room reach that room and never
//! surface as P2P connections or calls, and a room this Peer is not in gets nothing. Against
//! the real server process; the other side speaks raw signaling through the crate's internals
//! so that it can send what a browser would not.

use crate::{LocalAddresses, Peer, PeerEvent, PeerOptions, RoomEvent, RoomOptions};
use peer_protocol::client::{ClientMessage, RoomJoin, RoomType};
use peer_testkit::{server_binary, ServerProcess};
use std::time::Duration;

const KEY: &str = "11111111-2222-3333-4444-555555555555";

async fn open(port: u16, id: &str) -> Peer {
    let mut o = PeerOptions::new(KEY).server("127.0.0.1", port, false);
    o.config.local_addresses = LocalAddresses::LoopbackOnly;
    let p = Peer::new(Some(id), o).await.expect("open");
    assert!(matches!(p.next_event().await, Some(PeerEvent::Open(_))));
    p
}

async fn raw_join(p: &Peer, room: &str) {
    let msg = ClientMessage::RoomJoin(RoomJoin {
        room_name: room.into(),
        room_type: RoomType::Mesh,
    });
    p.inner.signaling.send(msg).await.expect("join");
}

async fn room_offer(from: &Peer, to: &str, room: &str, id: &str) {
    let msg =
        peer_connection::signal::media_offer(to, id, "v=0\r\n", None, Some(room)).expect("offer");
    from.inner.signaling.send(msg).await.expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_signaling_goes_to_the_room_and_never_to_the_peer() {
    let config = format!("listen = \"127.0.0.1:0\"\n[[apps]]\nkey = \"{KEY}\"\nsecret = \"s\"\n");
    let server = ServerProcess::start(&server_binary(), &config);
    let alice = open(server.port, "seam-zed").await;
    let bob = open(server.port, "seam-bob").await;
    for room in ["joined", "other"] {
        raw_join(&alice, room).await;
        if room == "other" {
            raw_join(&bob, room).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let room = bob
        .join_room("joined", RoomOptions::new())
        .await
        .expect("join");
    room.wait_open().await.expect("open");
    assert_eq!(
        bob.rooms().keys().cloned().collect::<Vec<_>>(),
        vec!["joined".to_string()]
    );
    let again = bob
        .join_room("joined", RoomOptions::new())
        .await
        .expect("same room");
    assert_eq!(room, again);
    // Bob's room calls zed (receive-only); zed, whose id is greater (the glare rule keeps
    // its offer), then sends a bogus offer in each room.
    room_offer(&alice, "seam-bob", "other", "mc_lost").await;
    room_offer(&alice, "seam-bob", "joined", "mc_room").await;
    // The joined room got it: answering "v=0" fails, and the room reports that.
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match room.next_event().await {
                Some(RoomEvent::Error(e)) => return e,
                Some(_) => continue,
                None => panic!("room events ended"),
            }
        }
    })
    .await
    .expect("the room saw the offer");
    assert!(matches!(got, crate::RoomError::Connection(_)), "{got:?}");
    // Neither offer surfaced as a call.
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match bob.next_event().await {
                Some(PeerEvent::Call(c)) => return Some(c),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "a room offer surfaced as a call: {quiet:?}");
    assert!(bob.connections().is_empty());
    room.close().await;
    assert!(bob.rooms().is_empty());
}
