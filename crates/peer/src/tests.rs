//! In-crate tests of the room seam: relayed messages that name a room reach that room's
//! [`RoomSignals`] and never surface as P2P connections or calls, and a room this Peer has not
//! registered gets nothing. Against the real server process; the rooms are joined and the
//! handler registered through the crate's internals, as the rooms crate will.

use crate::{LocalAddresses, Peer, PeerEvent, PeerOptions};
use async_trait::async_trait;
use peer_connection::router::{RoomSignal, RoomSignals};
use peer_protocol::client::{ClientMessage, RoomJoin, RoomType};
use peer_testkit::{server_binary, ServerProcess};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const KEY: &str = "11111111-2222-3333-4444-555555555555";

struct Collect(mpsc::UnboundedSender<RoomSignal>);

#[async_trait]
impl RoomSignals for Collect {
    async fn signal(&self, msg: RoomSignal) {
        let _ = self.0.send(msg);
    }
}

async fn open(port: u16, id: &str) -> Peer {
    let mut o = PeerOptions::new(KEY).server("127.0.0.1", port, false);
    o.config.local_addresses = LocalAddresses::LoopbackOnly;
    let p = Peer::new(Some(id), o).await.expect("open");
    assert!(matches!(p.next_event().await, Some(PeerEvent::Open(_))));
    p
}

async fn join(p: &Peer, room: &str) {
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
    let alice = open(server.port, "seam-alice").await;
    let bob = open(server.port, "seam-bob").await;
    for room in ["registered", "unregistered"] {
        join(&alice, room).await;
        join(&bob, room).await;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    bob.register_room("registered", Arc::new(Collect(tx)));
    assert_eq!(bob.rooms(), vec!["registered".to_string()]);
    // Let both joins land before the offers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    room_offer(&alice, "seam-bob", "unregistered", "mc_lost").await;
    room_offer(&alice, "seam-bob", "registered", "mc_room").await;
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("a message");
    let RoomSignal::Offer(offer) = got else {
        panic!("not an offer: {got:?}")
    };
    assert_eq!(
        (
            offer.room_name.as_deref(),
            offer.src.as_str(),
            offer.connection_id.as_str()
        ),
        (Some("registered"), "seam-alice", "mc_room")
    );
    // Neither offer surfaced as a call, and nothing else reached the room.
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
    assert!(rx.try_recv().is_err());
    assert!(bob.connections().is_empty());
}
