//! A peer killed with SIGKILL in the middle of a call or a transfer: the other side sees the
//! connection close within the signaling ping timeout (25 s + 5 s), with the server's default
//! reconnect grace of 30 s, so the server's `LEAVE` would come only after it. What closes it:
//! the survivor's ICE goes quiet (5 s), its Peer asks the server whether the remote is still
//! there (`exists`; a peer in its grace is not), and closes the connection after two answers
//! that it is not (`crates/peer/src/repair.rs`). Both sides are checked: the one that made the
//! connection and the one that took it.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The signaling ping timeout: the ping interval (25 s) plus the ping timeout (5 s).
const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// The server's default reconnect grace, used here so `LEAVE` cannot be what closes.
const DEFAULT_GRACE_MS: u64 = 30_000;

/// Kills `victim`, then waits for `survivor` to exit; returns how long that took and its output.
fn kill_and_time(victim: &mut Cli, survivor: Cli) -> (Duration, Finished) {
    let killed = Instant::now();
    victim.kill();
    let out = survivor.finish();
    (killed.elapsed(), out)
}

/// A call with looped VP8 from the caller, recorded by the answering side, until frames flow.
fn call_in_progress(server: &TestServer) -> (Cli, Cli, PathBuf) {
    let callee = unique("callee");
    let dir = temp_dir("peer-cli-faults");
    let out = dir.join("rec.ivf");
    let answer = server.cli(&[
        "answer",
        "--id",
        &callee,
        "--record-video",
        out.to_str().expect("utf-8 temp path"),
    ]);
    answer.wait_for(Stream::Err, "listening as");
    let video = fixture("testsrc-vp8.ivf");
    let call = server.cli(&[
        "call",
        &callee,
        "--video-file",
        video.to_str().expect("utf-8 fixture path"),
        "--loop",
    ]);
    call.wait_for(Stream::Err, &format!("call with \"{callee}\" open"));
    answer.wait_for(Stream::Out, "video ");
    // Media is flowing: the recording grows.
    wait_for_file_len(&out, 20_000, "media recorded");
    (call, answer, dir)
}

#[test]
fn the_caller_sees_the_call_close_when_the_callee_is_killed() {
    let server = TestServer::start_with_grace_ms(DEFAULT_GRACE_MS);
    let (call, mut answer, dir) = call_in_progress(&server);
    let (took, out) = kill_and_time(&mut answer, call);
    eprintln!("caller saw the close {took:?} after the kill");
    assert!(out.stderr.contains("closed"), "{out:?}");
    assert!(took < PING_TIMEOUT, "the close took {took:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_callee_sees_the_call_close_when_the_caller_is_killed() {
    let server = TestServer::start_with_grace_ms(DEFAULT_GRACE_MS);
    let (mut call, answer, dir) = call_in_progress(&server);
    let (took, out) = kill_and_time(&mut call, answer);
    eprintln!("callee saw the close {took:?} after the kill");
    assert!(out.stderr.contains("closed the call"), "{out:?}");
    assert!(took < PING_TIMEOUT, "the close took {took:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_receiver_sees_the_transfer_close_when_the_sender_is_killed() {
    let server = TestServer::start_with_grace_ms(DEFAULT_GRACE_MS);
    let inbox = unique("inbox");
    let src = temp_dir("peer-cli-faults-src");
    let out = temp_dir("peer-cli-faults-out");
    let file = write_file(&src, "large.bin", &random_bytes(64 * 1024 * 1024));
    let receiver = server.cli(&[
        "receive",
        "--once",
        "--out",
        out.to_str().unwrap(),
        "--id",
        &inbox,
    ]);
    receiver.wait_for(Stream::Err, "listening as");
    let mut sender = server.cli(&["send", &inbox, file.to_str().unwrap()]);
    receiver.wait_for(Stream::Err, "receiving large.bin");
    wait_for_file_len(&out.join(".large.bin.part"), 1024 * 1024, "data arrived");
    let (took, got) = kill_and_time(&mut sender, receiver);
    eprintln!("receiver saw the close {took:?} after the kill");
    assert_ne!(got.code, 0, "an incomplete transfer is a failure: {got:?}");
    assert!(got.stderr.contains("closed"), "{got:?}");
    assert!(took < PING_TIMEOUT, "the close took {took:?}");
    // The partial file is not left as if it were complete.
    assert!(!out.join("large.bin").exists());
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&out);
}
