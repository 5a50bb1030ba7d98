//! Mesh rooms of Rust peers through the real peer-server: every member receives every other
//! sending member's media with the right peer id (a receive-only member included), room data of
//! every kind reaches every other member and not the sender, the log, the size limit, leave
//! and rejoin, and a member whose Peer is destroyed is seen leaving.

mod common;

use bytes::Bytes;
use common::rooms::*;
use common::*;
use peer::{Codec, MediaKind, RoomError, RoomOptions, RoomPayload};
use serde_json::json;
use std::time::Duration;

fn payloads() -> Vec<RoomPayload> {
    let with_bytes = RoomPayload::with_attachments(
        &json!({"name": "f.bin", "file": RoomPayload::placeholder(0), "n": [1, 2]}),
        vec![Bytes::from(pattern(5000, 3))],
    )
    .expect("payload");
    vec![
        RoomPayload::from("héllo 😀"),
        RoomPayload::from(json!({"k": [1, 2.5, null, true], "s": "x"})),
        RoomPayload::from(json!(42)),
        RoomPayload::from(pattern(70_000, 9)),
        with_bytes,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_room_media_data_log_leave_and_rejoin() {
    let server = TestServer::start();
    let (s1, _p1) = stream(&[Codec::Vp8, Codec::Opus]);
    let (s2, _p2) = stream(&[Codec::Vp8, Codec::Opus]);
    let a = Member::join(&server, "mesh-a", "mesh", RoomOptions::new().stream(s1)).await;
    let b = Member::join(&server, "mesh-b", "mesh", RoomOptions::new().stream(s2)).await;
    // A receive-only member.
    let c = Member::join(&server, "mesh-c", "mesh", RoomOptions::new()).await;
    let all = [&a, &b, &c];
    let senders = ["mesh-a", "mesh-b"];
    for m in all {
        let me = m.peer.id().to_owned();
        let mut expected: Vec<String> = ["mesh-a", "mesh-b", "mesh-c"]
            .iter()
            .filter(|id| **id != me)
            .map(|s| s.to_string())
            .collect();
        expected.sort();
        within(&format!("members of {me}"), async {
            loop {
                let mut members = m.room.members();
                members.sort();
                if members == expected {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert_eq!(m.peer.rooms().len(), 1);
        for from in senders.iter().filter(|s| **s != me) {
            for kind in [MediaKind::Video, MediaKind::Audio] {
                m.until(&format!("{kind} packets from {from}"), |s| {
                    s.packets
                        .get(&(from.to_string(), kind))
                        .copied()
                        .unwrap_or(0)
                        >= 10
                })
                .await;
            }
        }
        // Nothing arrives from the receive-only member, nor from oneself.
        assert_eq!(m.packets("mesh-c", MediaKind::Video), 0);
        assert_eq!(m.packets(&me, MediaKind::Video), 0);
    }
    // a and b joined first: they saw the later joiners.
    assert_eq!(a.seen.lock().unwrap().joins, vec!["mesh-b", "mesh-c"]);

    // Room data of every kind, from each member, to every other member only.
    for m in all {
        for p in payloads() {
            m.room.send(p).await.expect("send");
        }
    }
    let sent = payloads();
    for m in all {
        m.until("all data", |s| s.data.len() >= 2 * sent.len())
            .await;
        let seen = m.seen.lock().unwrap();
        for from in ["mesh-a", "mesh-b", "mesh-c"] {
            let got: Vec<&RoomPayload> = seen
                .data
                .iter()
                .filter(|(src, _)| src == from)
                .map(|(_, d)| d)
                .collect();
            if from == m.peer.id() {
                assert!(got.is_empty(), "{} got its own data back", from);
            } else {
                assert!(
                    got == sent.iter().collect::<Vec<_>>(),
                    "{} from {from}",
                    m.peer.id()
                );
            }
        }
    }
    let bytes = c
        .seen
        .lock()
        .unwrap()
        .data
        .iter()
        .filter(|(src, _)| src == "mesh-a")
        .nth(3)
        .map(|(_, d)| d.clone())
        .expect("a's bytes");
    assert!(bytes.as_bytes().map(|b| b.to_vec()) == Some(pattern(70_000, 9)));

    // Too large, measured as the SDK does: refused before anything is queued.
    let big = RoomPayload::from(vec![0u8; peer::MAX_ROOM_DATA + 1]);
    assert!(matches!(
        c.room.send(big).await,
        Err(RoomError::TooLarge { .. })
    ));

    // The log holds the joins and the data, as JSON texts.
    c.room.get_log().await.expect("get_log");
    c.until("log", |s| !s.logs.is_empty()).await;
    let log = c.seen.lock().unwrap().logs[0].clone();
    let kinds: Vec<String> = log
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(e).expect("entry is JSON");
            v["messageType"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "ROOM_USER_JOIN").count(), 3);
    assert_eq!(
        kinds.iter().filter(|k| *k == "ROOM_DATA").count(),
        3 * sent.len()
    );

    // b leaves: the others see it, and its calls are gone.
    b.room.close().await;
    assert!(b.peer.rooms().is_empty());
    b.until("closed", |s| s.closed).await;
    for m in [&a, &c] {
        m.until("b left", |s| s.leaves.contains(&"mesh-b".to_string()))
            .await;
        assert!(!m.room.members().contains(&"mesh-b".to_string()));
        within("b's calls closed", async {
            while m.room.connections().contains_key("mesh-b") {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    // b rejoins with a new stream; a and c get its media again.
    let joins_of_b = |m: &Member| {
        m.seen
            .lock()
            .unwrap()
            .joins
            .iter()
            .filter(|j| *j == "mesh-b")
            .count()
    };
    let before_a = joins_of_b(&a);
    let before_c = joins_of_b(&c);
    let (s3, _p3) = stream(&[Codec::Vp8]);
    let b2 = Member::join_with(b.peer.clone(), "mesh", RoomOptions::new().stream(s3)).await;
    assert_ne!(b2.room, b.room);
    for (m, joins_before) in [(&a, before_a), (&c, before_c)] {
        let before = m.packets("mesh-b", MediaKind::Video);
        m.until("b rejoined", |s| {
            s.joins.iter().filter(|j| *j == "mesh-b").count() == joins_before + 1
        })
        .await;
        m.until("b's new video", |s| {
            s.packets
                .get(&("mesh-b".into(), MediaKind::Video))
                .copied()
                .unwrap_or(0)
                > before + 10
        })
        .await;
    }

    // a's Peer is destroyed: the others see it leave (its socket closes at once).
    a.peer.destroy().await;
    a.until("a's room closed", |s| s.closed).await;
    for m in [&b2, &c] {
        m.until("a left", |s| s.leaves.contains(&"mesh-a".to_string()))
            .await;
    }
    assert_eq!(c.room.members(), vec!["mesh-b".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_errors() {
    let server = TestServer::start();
    let p = server.peer("mesh-err").await;
    let e = p
        .join_room("", RoomOptions::new())
        .await
        .expect_err("empty name");
    assert_eq!(e.type_str(), "room-error");
    assert!(p.rooms().is_empty());
    p.disconnect().await;
    assert!(p.join_room("x", RoomOptions::new()).await.is_err());
}
