//! The TURN server with real `webrtc` peers on loopback, relay-only (`iceTransportPolicy:
//! relay`): data flows through it with a valid credential; a wrong password yields no relay
//! candidate; a peer range the policy refuses gets no permission, so nothing connects; a user
//! past its allocation quota is refused; allocations end with the connections.

use peer_auth::turn::TurnCredential;
use peer_turn::policy::IpRange;
use peer_turn::{TurnConfig, TurnServer};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use webrtc::api::APIBuilder;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;
use webrtc::peer_connection::RTCPeerConnection;

const SECRET: &[u8] = b"turn-test-secret";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn server(allow_loopback: bool, per_user: usize) -> TurnServer {
    TurnServer::start(TurnConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        secret: SECRET.to_vec(),
        relay_allow: if allow_loopback {
            vec!["127.0.0.0/8".parse::<IpRange>().unwrap()]
        } else {
            Vec::new()
        },
        max_allocations_per_user: per_user,
        ..TurnConfig::default()
    })
    .await
    .expect("TURN server")
}

/// A relay-only peer connection using `server` with `username`/`password`.
async fn relay_pc(server: &TurnServer, username: &str, password: &str) -> Arc<RTCPeerConnection> {
    let api = APIBuilder::new().build();
    let config = RTCConfiguration {
        ice_servers: vec![RTCIceServer {
            urls: vec![format!("turn:{}?transport=udp", server.local_addr())],
            username: username.to_owned(),
            credential: password.to_owned(),
        }],
        ice_transport_policy: RTCIceTransportPolicy::Relay,
        ..Default::default()
    };
    Arc::new(api.new_peer_connection(config).await.expect("pc"))
}

/// Sets the local description and waits for gathering; returns the SDP.
async fn gathered(pc: &RTCPeerConnection, offer: bool) -> String {
    let desc = if offer {
        pc.create_offer(None).await.expect("offer")
    } else {
        pc.create_answer(None).await.expect("answer")
    };
    let mut done = pc.gathering_complete_promise().await;
    pc.set_local_description(desc).await.expect("local");
    tokio::time::timeout(Duration::from_secs(20), done.recv())
        .await
        .expect("gathering finishes");
    pc.local_description().await.expect("sdp").sdp
}

/// Connects `a` (offering, with a data channel) and `b`; returns the channel's incoming
/// messages at `b` and whether both connected within `wait`.
async fn connect(
    a: &Arc<RTCPeerConnection>,
    b: &Arc<RTCPeerConnection>,
    wait: Duration,
) -> (
    bool,
    mpsc::UnboundedReceiver<String>,
    Arc<webrtc::data_channel::RTCDataChannel>,
) {
    let dc = a.create_data_channel("t", None).await.expect("dc");
    let (tx, rx) = mpsc::unbounded_channel();
    b.on_data_channel(Box::new(move |ch| {
        let tx = tx.clone();
        ch.on_message(Box::new(move |m: DataChannelMessage| {
            let _ = tx.send(String::from_utf8_lossy(&m.data).into_owned());
            Box::pin(async {})
        }));
        Box::pin(async {})
    }));
    let offer = gathered(a, true).await;
    assert!(
        offer.contains("typ relay"),
        "the offer has a relay candidate:\n{offer}"
    );
    b.set_remote_description(
        webrtc::peer_connection::sdp::session_description::RTCSessionDescription::offer(offer)
            .unwrap(),
    )
    .await
    .expect("remote offer");
    let answer = gathered(b, false).await;
    a.set_remote_description(
        webrtc::peer_connection::sdp::session_description::RTCSessionDescription::answer(answer)
            .unwrap(),
    )
    .await
    .expect("remote answer");
    let deadline = tokio::time::Instant::now() + wait;
    let mut connected = false;
    while tokio::time::Instant::now() < deadline {
        if a.connection_state() == RTCPeerConnectionState::Connected
            && b.connection_state() == RTCPeerConnectionState::Connected
        {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (connected, rx, dc)
}

async fn eventually(f: impl Fn() -> bool, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_flows_through_the_relay_and_allocations_end_with_the_connections() {
    let turn = server(true, 10).await;
    let ca = TurnCredential::issue(SECRET, "key", "alice", now(), 600);
    let cb = TurnCredential::issue(SECRET, "key", "bob", now(), 600);
    let a = relay_pc(&turn, &ca.username, &ca.credential).await;
    let b = relay_pc(&turn, &cb.username, &cb.credential).await;
    let (connected, mut rx, dc) = connect(&a, &b, Duration::from_secs(20)).await;
    assert!(
        connected,
        "relay-only peers connect through the TURN server"
    );
    assert!(
        eventually(
            || dc.ready_state()
                == webrtc::data_channel::data_channel_state::RTCDataChannelState::Open,
            Duration::from_secs(10)
        )
        .await
    );
    for i in 0..20 {
        dc.send_text(format!("through TURN {i}"))
            .await
            .expect("send");
    }
    for i in 0..20 {
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a message")
            .expect("open");
        assert_eq!(got, format!("through TURN {i}"));
    }
    assert_eq!(turn.stats().allocations, 2, "{:?}", turn.stats());
    a.close().await.expect("close");
    b.close().await.expect("close");
    assert!(
        eventually(|| turn.stats().allocations == 0, Duration::from_secs(15)).await,
        "allocations end with the connections: {:?}",
        turn.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_expired_credentials_get_no_relay_candidate() {
    let turn = server(true, 10).await;
    let good = TurnCredential::issue(SECRET, "key", "carol", now(), 600);
    let expired = TurnCredential::issue(SECRET, "key", "carol", now() - 1200, 600);
    for (user, pass) in [
        (good.username.as_str(), "not the password"),
        (expired.username.as_str(), expired.credential.as_str()),
        ("carol", "no expiry in this username"),
    ] {
        let pc = relay_pc(&turn, user, pass).await;
        let _dc = pc.create_data_channel("t", None).await.expect("dc");
        let sdp = gathered(&pc, true).await;
        assert!(
            !sdp.contains("typ relay"),
            "no relay candidate for {user:?}:\n{sdp}"
        );
        pc.close().await.expect("close");
    }
    assert_eq!(turn.stats().allocations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaying_to_a_refused_range_is_denied() {
    // Loopback is refused by default: the peers' relay addresses are on 127.0.0.1.
    let turn = server(false, 10).await;
    let ca = TurnCredential::issue(SECRET, "key", "dave", now(), 600);
    let cb = TurnCredential::issue(SECRET, "key", "erin", now(), 600);
    let a = relay_pc(&turn, &ca.username, &ca.credential).await;
    let b = relay_pc(&turn, &cb.username, &cb.credential).await;
    let (connected, _rx, _dc) = connect(&a, &b, Duration::from_secs(8)).await;
    assert!(!connected, "no permission, no connection");
    assert!(turn.stats().peer_refusals > 0, "{:?}", turn.stats());
    a.close().await.expect("close");
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_past_its_quota_is_refused() {
    let turn = server(true, 1).await;
    let c = TurnCredential::issue(SECRET, "key", "frank", now(), 600);
    let first = relay_pc(&turn, &c.username, &c.credential).await;
    let _d1 = first.create_data_channel("t", None).await.expect("dc");
    assert!(gathered(&first, true).await.contains("typ relay"));
    // The same peer again, with a later expiry: the same user, over its quota.
    let later = TurnCredential::issue(SECRET, "key", "frank", now() + 60, 600);
    let second = relay_pc(&turn, &later.username, &later.credential).await;
    let _d2 = second.create_data_channel("t", None).await.expect("dc");
    assert!(!gathered(&second, true).await.contains("typ relay"));
    assert!(turn.stats().quota_refusals > 0, "{:?}", turn.stats());
    assert_eq!(turn.stats().allocations, 1);
    // Another user is served.
    let g = TurnCredential::issue(SECRET, "key", "grace", now(), 600);
    let third = relay_pc(&turn, &g.username, &g.credential).await;
    let _d3 = third.create_data_channel("t", None).await.expect("dc");
    assert!(gathered(&third, true).await.contains("typ relay"));
    for pc in [first, second, third] {
        pc.close().await.expect("close");
    }
}
