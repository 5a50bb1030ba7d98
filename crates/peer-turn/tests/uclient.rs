//! The TURN server against a real third-party TURN client, coturn's `turnutils_uclient`
//! (Debian's `coturn`; `cargo xtask test` installs it when missing), in TURN REST mode (`-W`):
//! two allocations relay to each other over channels and over Send indications, with the
//! client on UDP and on TCP, with no loss;
//! a wrong secret gets 400; relaying to loopback without `relay_allow` gets 403 on
//! ChannelBind; the allocation quota follows the allocations as the client frees them.

use peer_turn::{TurnConfig, TurnServer};
use std::time::Duration;

const UCLIENT: &str = "/usr/bin/turnutils_uclient";

async fn server(allow_loopback: bool) -> TurnServer {
    TurnServer::start(TurnConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        secret: b"uclient-secret".to_vec(),
        relay_allow: if allow_loopback {
            vec!["127.0.0.0/8".parse().unwrap()]
        } else {
            Vec::new()
        },
        ..TurnConfig::default()
    })
    .await
    .expect("TURN server")
}

/// Runs the client against `turn` with `secret` and `extra` flags; returns its output.
async fn uclient(turn: &TurnServer, secret: &str, extra: &[&str]) -> String {
    assert!(
        std::path::Path::new(UCLIENT).exists(),
        "{UCLIENT} is missing: install Debian's coturn (`cargo xtask test` does)"
    );
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(UCLIENT)
            .args([
                "-W",
                secret,
                "-u",
                "key$uclient-peer",
                "-y",
                "-n",
                "20",
                "-l",
                "200",
            ])
            .args(extra)
            .args(["-p", &turn.local_addr().port().to_string(), "127.0.0.1"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("turnutils_uclient finishes")
    .expect("turnutils_uclient runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// After the client quit: the quota's count matches the allocations `turn` still holds (the
/// client frees some with a zero-lifetime Refresh; the rest last their lifetime).
async fn quota_follows_allocations(turn: &TurnServer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (counted, live) = (turn.stats().allocations, turn.live_allocations().await);
        if counted == live {
            assert!(live <= 2, "at most the client's two allocations: {live}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "quota {counted} vs {live} allocations"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturns_client_relays_over_udp_and_tcp_with_channels_and_send_indications() {
    let turn = server(true).await;
    // UDP and TCP to the server (-t), channels and Send indications (-s).
    for mode in [&[][..], &["-s"][..], &["-t"][..], &["-t", "-s"][..]] {
        let out = uclient(&turn, "uclient-secret", mode).await;
        assert!(
            out.contains("Total lost packets 0 (0.000000%)"),
            "no loss with {mode:?}:\n{out}"
        );
        // The summary line: "start_mclient: tot_send_msgs=N, tot_recv_msgs=N".
        let summary = out
            .lines()
            .rev()
            .find_map(|l| l.split_once("start_mclient: tot_send_msgs=").map(|x| x.1))
            .expect("a summary line");
        let (sent, received) = summary
            .split_once(", tot_recv_msgs=")
            .expect("sent and received");
        let sent: u64 = sent.trim().parse().expect("a count");
        let received: u64 = received.trim().parse().expect("a count");
        assert!(
            sent > 0 && sent == received,
            "every message came back: {sent} sent, {received} received"
        );
        quota_follows_allocations(&turn).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_gets_400_and_a_refused_peer_403() {
    let turn = server(true).await;
    let out = uclient(&turn, "not-the-secret", &[]).await;
    assert!(out.contains("error 400"), "{out}");
    assert_eq!(turn.stats().allocations, 0);

    let strict = server(false).await;
    let out = uclient(&strict, "uclient-secret", &[]).await;
    assert!(out.contains("channel bind: error 403 (Forbidden)"), "{out}");
    assert!(strict.stats().peer_refusals > 0);
    // The client quits without freeing its allocations: they last their lifetime.
}
