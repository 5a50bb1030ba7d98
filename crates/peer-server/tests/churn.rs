//! Churn: many clients joining and leaving rooms, relaying, sending data and reconnecting at
//! once, for a bounded number of steps. The server must stay consistent: every delivered message
//! has a valid shape, errors are only the expected kinds, and when everyone has gone the server
//! lists no peers and rooms start empty again.

use peer_testkit::Rng;
mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const CLIENTS: usize = 24;
const STEPS: usize = 60;

async fn run_client(
    port_server: std::sync::Arc<TestServer>,
    index: usize,
    seed: u64,
) -> Result<usize, String> {
    let server = &*port_server;
    let me = format!("churn{index}");
    let token = format!("tok{index}");
    let mut rng = Rng::new(seed);
    let (mut c, _) = Client::open(server, KEY, Some(&me), &token).await;
    let mut received = 0usize;
    for step in 0..STEPS {
        let room = format!("room{}", rng.below(3));
        let other = format!("churn{}", rng.below(CLIENTS));
        match rng.below(7) {
            0 => c.emit("ROOM_JOIN", &json!({"roomName": room, "roomType": "mesh"})).await,
            1 => c.emit("ROOM_LEAVE", &json!({"roomName": room})).await,
            2 => c.emit("ROOM_SEND_DATA", &json!({"roomName": room, "data": {"from": me, "step": step}})).await,
            3 => {
                c.emit("SEND_CANDIDATE", &json!({"candidate": {"candidate": "x"}, "dst": other, "connectionId": "dc", "connectionType": "data"}))
                    .await
            }
            4 => c.emit("ROOM_GET_USERS", &json!({"roomName": room, "type": "media"})).await,
            5 => {
                // Drop the transport and come back with the same token (grace period reclaim).
                c.drop_transport();
                tokio::time::sleep(Duration::from_millis(20)).await;
                let (again, id) = Client::open(server, KEY, Some(&me), &token).await;
                if id != me {
                    return Err(format!("{me} came back as {id}"));
                }
                c = again;
            }
            _ => c.emit("PING", &serde_json::Value::Null).await,
        }
        // Read whatever arrived, checking shapes.
        while let Some(next) = c.next(Duration::from_millis(5)).await {
            match next {
                Next::Event(ev) => {
                    received += 1;
                    let ok = match ev.name.as_str() {
                        "ROOM_USER_JOIN" => ev.payload["roomMembers"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|x| x == &ev.payload["src"])),
                        "ROOM_USER_LEAVE" | "ROOM_DATA" => {
                            ev.payload["src"].is_string() && ev.payload["roomName"].is_string()
                        }
                        "ROOM_USERS" => ev.payload["userList"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|x| x == me.as_str())),
                        "CANDIDATE" => {
                            ev.payload["dst"] == me.as_str() && ev.payload["src"].is_string()
                        }
                        "LEAVE" => ev.payload.is_string(),
                        "ERROR" => matches!(
                            ev.payload["type"].as_str(),
                            Some("peer-unavailable") | Some("room-error")
                        ),
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("{me}: unexpected {} {}", ev.name, ev.payload));
                    }
                }
                Next::Disconnect | Next::Closed => {
                    return Err(format!("{me}: session ended unexpectedly at step {step}"))
                }
            }
        }
    }
    c.destroy().await;
    Ok(received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_churn_without_inconsistency() {
    let server = std::sync::Arc::new(TestServer::start("[timeouts]\nreconnect_grace_ms = 5000\n"));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let s = server.clone();
        tasks.push(tokio::spawn(run_client(
            s,
            i,
            0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1),
        )));
    }
    let mut total = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("client task failed: {e}"),
        }
    }
    assert!(
        total > CLIENTS * 10,
        "clients saw too little traffic ({total} events)"
    );
    // Everyone destroyed: nobody is listed, and a new member finds an empty room.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, body) = http(
        &server,
        "GET",
        &format!("/api/apikeys/{KEY}/clients/"),
        &[],
        b"",
    )
    .await;
    assert_eq!(
        (status, String::from_utf8_lossy(&body).to_string()),
        (200, "[]".to_string())
    );
    let (mut late, _) = Client::open(&server, KEY, Some("late"), "tl").await;
    late.emit(
        "ROOM_JOIN",
        &json!({"roomName": "room0", "roomType": "mesh"}),
    )
    .await;
    assert_eq!(
        late.expect("ROOM_USER_JOIN").await.payload["roomMembers"],
        json!(["late"])
    );
}
