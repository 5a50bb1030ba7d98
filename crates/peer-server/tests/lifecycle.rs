//! Process lifecycle: configuration errors, `--help`, and a clean exit on SIGTERM and SIGINT with
//! clients connected.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn bad_configuration_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("peer-server-bad-{}.toml", std::process::id()));
    std::fs::write(&path, "[[apps]]\nkey = \"NOT-A-KEY\"\nsecret = \"s\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_peer-server"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key format"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_peer-server"))
        .arg("--config")
        .arg("/nonexistent/peer.toml")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_peer-server"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
}

async fn exits_cleanly_on(signal: &str) {
    let mut server = TestServer::start("");
    let (mut a, _) = Client::open(&server, KEY, Some("alice"), "t1").await;
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(server.pid().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    a.expect_end().await;
    let start = Instant::now();
    while server.is_running() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "server did not exit after SIG{signal}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.exit_code(), Some(0));
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    exits_cleanly_on("TERM").await;
}

#[tokio::test]
async fn sigint_shuts_down_cleanly() {
    exits_cleanly_on("INT").await;
}
