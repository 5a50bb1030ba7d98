//! A Rust peer whose signaling socket drops (not its process, not the server) reconnects with
//! the same id and token within the server's grace period: the app sees `Reconnecting`, then
//! `Reconnected`; its mesh and SFU rooms are still joined (nobody saw it leave, room data
//! reaches it and comes from it) and its media keeps flowing both ways.
//!
//! The drop is made by a TCP proxy in front of the server that cuts every connection it
//! carries, as a network change would.

mod common;

use common::rooms::*;
use common::*;
use peer::{Codec, MediaKind, PeerEvent, RoomMode, RoomOptions, RoomPayload};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A TCP proxy to `backend`; bumping the returned counter cuts every connection it carries
/// (new ones go through).
async fn cutting_proxy(backend: u16) -> (u16, Arc<watch::Sender<u64>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(watch::channel(0u64).0);
    let tx = cut.clone();
    tokio::spawn(async move {
        while let Ok((mut down, _)) = listener.accept().await {
            let mut cut = tx.subscribe();
            tokio::spawn(async move {
                let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                    _ = cut.changed() => {}
                }
            });
        }
    });
    (port, cut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_media_survive_a_signaling_drop() {
    let server = TestServer::start();
    let (proxy, cut) = cutting_proxy(server.port).await;
    // The roaming peer reaches the server through the proxy.
    let mut o = server.options(KEY);
    o.port = proxy;
    let roamer_peer = server.peer_with("roamer", o).await;
    let (s1, _p1) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s2, _p2) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s3, _p3) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s4, _p4) = stream(&[Codec::Vp8, Codec::Opus]);
    let mesh = |s| RoomOptions::new().stream(s);
    let sfu = |s| RoomOptions::new().mode(RoomMode::Sfu).stream(s);
    let stay = server.peer("stayer").await;
    let stay_mesh = Member::join_with(stay.clone(), "rc-mesh", mesh(s1)).await;
    let stay_sfu = Member::join_with(stay, "rc-sfu", sfu(s2)).await;
    let roam_mesh = Member::join_with(roamer_peer.clone(), "rc-mesh", mesh(s3)).await;
    let roam_sfu = Member::join_with(roamer_peer.clone(), "rc-sfu", sfu(s4)).await;
    for (m, from) in [
        (&stay_mesh, "roamer"),
        (&stay_sfu, "roamer"),
        (&roam_mesh, "stayer"),
        (&roam_sfu, "stayer"),
    ] {
        m.until("video before the drop", |s| {
            s.packets
                .get(&(from.to_owned(), MediaKind::Video))
                .copied()
                .unwrap_or(0)
                >= 20
        })
        .await;
    }

    // The drop: the roamer's signaling socket is cut; its process and the server live on.
    cut.send_modify(|n| *n += 1);
    let mut saw_reconnecting = false;
    within("Reconnected", async {
        loop {
            match roamer_peer.next_event().await {
                Some(PeerEvent::Reconnecting { .. }) => saw_reconnecting = true,
                Some(PeerEvent::Reconnected) => break,
                Some(PeerEvent::Disconnected(why)) => panic!("gave up: {why}"),
                Some(_) => {}
                None => panic!("the roamer's events ended"),
            }
        }
    })
    .await;
    assert!(saw_reconnecting, "Reconnecting came before Reconnected");
    assert_eq!(roamer_peer.id(), "roamer");
    assert!(roamer_peer.is_open());

    // Still in both rooms: nobody saw it leave, and the rooms' lists hold it.
    for m in [&stay_mesh, &stay_sfu] {
        assert!(m.seen.lock().unwrap().leaves.is_empty(), "no PeerLeave");
        assert!(m.room.members().contains(&"roamer".to_owned()));
    }
    // Room data both ways, after the drop.
    for (from, to) in [
        (&roam_mesh, &stay_mesh),
        (&roam_sfu, &stay_sfu),
        (&stay_mesh, &roam_mesh),
        (&stay_sfu, &roam_sfu),
    ] {
        let before = to.seen.lock().unwrap().data.len();
        from.room.send("after the drop").await.expect("send");
        to.until("data after the drop", |s| s.data.len() > before)
            .await;
        let s = to.seen.lock().unwrap();
        assert_eq!(
            s.data.last().unwrap().1,
            RoomPayload::from("after the drop")
        );
    }
    // Media keeps flowing both ways.
    for (m, from) in [
        (&stay_mesh, "roamer"),
        (&stay_sfu, "roamer"),
        (&roam_mesh, "stayer"),
        (&roam_sfu, "stayer"),
    ] {
        let before = m.packets(from, MediaKind::Video);
        m.until("video after the drop", |s| {
            s.packets
                .get(&(from.to_owned(), MediaKind::Video))
                .copied()
                .unwrap_or(0)
                >= before + 20
        })
        .await;
    }
}
