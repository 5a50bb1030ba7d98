//! The real `peer-cli` binary against the real peer-server, over real WebRTC on loopback.

mod common;

use common::*;

#[test]
fn sends_a_file_byte_for_byte() {
    let server = TestServer::start();
    let inbox = unique("inbox");
    let src = temp_dir("peer-cli-src");
    let out = temp_dir("peer-cli-out");
    let data = random_bytes(3 * 1024 * 1024);
    let file = write_file(&src, "random.bin", &data);

    let receiver = server.cli(&[
        "receive",
        "--once",
        "--out",
        out.to_str().unwrap(),
        "--id",
        &inbox,
    ]);
    receiver.wait_for(Stream::Err, "listening as");
    let sender = server.cli(&["send", &inbox, file.to_str().unwrap()]);

    let sent = sender.finish();
    assert_eq!(sent.code, 0, "sender failed: {sent:?}");
    assert!(sent.stderr.contains("sent random.bin to"), "{sent:?}");
    let received = receiver.finish();
    assert_eq!(received.code, 0, "receiver failed: {received:?}");
    let saved = out.join("random.bin");
    assert_eq!(received.stdout.trim(), saved.to_str().unwrap());
    assert!(
        std::fs::read(&saved).unwrap() == data,
        "the received file differs"
    );
    // Nothing else (no leftover .part file) in the output directory.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn chat_lines_reach_the_other_side() {
    let server = TestServer::start();
    let (a_id, b_id) = (unique("chat-a"), unique("chat-b"));
    let mut b = server.cli(&["chat", "--listen", "--id", &b_id]);
    b.wait_for(Stream::Err, "listening as");
    let mut a = server.cli(&["chat", &b_id, "--id", &a_id]);
    a.wait_for(Stream::Err, "connected to");
    b.wait_for(Stream::Err, &format!("incoming connection from \"{a_id}\""));
    b.wait_for(Stream::Err, "connected to");

    a.type_line("hello from a, ünïcødé 😀");
    b.wait_for(Stream::Out, &format!("{a_id}: hello from a, ünïcødé 😀"));
    b.type_line("hi from b");
    a.wait_for(Stream::Out, &format!("{b_id}: hi from b"));

    // Ctrl-D on a closes the connection; b reports it and exits 0 as well.
    a.close_stdin();
    let a_done = a.finish();
    assert_eq!(a_done.code, 0, "{a_done:?}");
    b.wait_for(Stream::Err, &format!("\"{a_id}\" closed the connection"));
    let b_done = b.finish();
    assert_eq!(b_done.code, 0, "{b_done:?}");
}

#[test]
fn echo_answers_and_list_shows_it() {
    let server = TestServer::start();
    let echo_id = unique("echo");
    let echo = server.cli(&["echo", "--id", &echo_id]);
    echo.wait_for(Stream::Err, "listening as");

    let mut flags = vec!["list".to_owned()];
    flags.extend(server.flags());
    let listed = run(&flags.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(
        listed.stdout.lines().collect::<Vec<_>>(),
        vec![echo_id.as_str()]
    );

    let mut chat = server.cli(&["chat", &echo_id, "--serialization", "json"]);
    chat.wait_for(Stream::Err, "connected to");
    chat.type_line("ping");
    chat.wait_for(Stream::Out, &format!("{echo_id}: ping"));
    echo.wait_for(Stream::Out, "connection dc_");
    chat.close_stdin();
    assert_eq!(chat.finish().code, 0);
    echo.wait_for(Stream::Out, "closed (1 messages echoed)");
}

#[test]
fn sending_to_an_unknown_peer_is_peer_unavailable() {
    let server = TestServer::start();
    let src = temp_dir("peer-cli-src");
    let file = write_file(&src, "small.txt", b"hello");
    let sender = server.cli(&["send", "nobody-is-here", file.to_str().unwrap()]);
    let done = sender.finish();
    assert_eq!(done.code, 1, "{done:?}");
    assert!(
        done.stderr
            .contains("error: peer-unavailable: peer \"nobody-is-here\" is not available"),
        "{done:?}"
    );
    let _ = std::fs::remove_dir_all(&src);
}

#[test]
fn unreadable_inputs_are_clear_errors() {
    let server = TestServer::start();
    let missing = std::env::temp_dir().join(unique("no-such-file"));
    let sent = server
        .cli(&["send", "anyone", missing.to_str().unwrap()])
        .finish();
    assert_eq!(sent.code, 1, "{sent:?}");
    assert!(
        sent.stderr.contains(&format!(
            "error: cannot read {}: No such file or directory",
            missing.display()
        )),
        "{sent:?}"
    );

    let dir = temp_dir("peer-cli-dir");
    let sent = server
        .cli(&["send", "anyone", dir.to_str().unwrap()])
        .finish();
    assert_eq!(sent.code, 1, "{sent:?}");
    assert!(sent.stderr.contains("is a directory"), "{sent:?}");

    let received = server
        .cli(&["receive", "--out", missing.to_str().unwrap()])
        .finish();
    assert_eq!(received.code, 1, "{received:?}");
    assert!(received.stderr.contains("error: --out "), "{received:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn receiver_dying_mid_transfer_fails_the_sender() {
    let server = TestServer::start();
    let inbox = unique("inbox");
    let src = temp_dir("peer-cli-src");
    let out = temp_dir("peer-cli-out");
    let file = write_file(&src, "large.bin", &random_bytes(32 * 1024 * 1024));

    let mut receiver = server.cli(&[
        "receive",
        "--once",
        "--out",
        out.to_str().unwrap(),
        "--id",
        &inbox,
    ]);
    receiver.wait_for(Stream::Err, "listening as");
    let sender = server.cli(&["send", &inbox, file.to_str().unwrap()]);
    receiver.wait_for(Stream::Err, "receiving large.bin");
    // Kill the receiver once data is flowing (a piece reached its disk).
    wait_for_file_len(&out.join(".large.bin.part"), 1024 * 1024, "data arrived");
    receiver.kill();

    let sent = sender.finish();
    assert_eq!(sent.code, 1, "{sent:?}");
    assert!(sent.stderr.contains("closed the connection"), "{sent:?}");
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn help_and_usage_errors_have_their_exit_codes() {
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("usage: peer-cli"), "{help:?}");
    for sub in ["chat", "send", "receive", "list", "echo"] {
        let h = run(&[sub, "--help"]);
        assert_eq!(h.code, 0, "{sub}: {h:?}");
        assert!(
            h.stdout.contains(&format!("usage: peer-cli {sub}")),
            "{h:?}"
        );
    }
    assert!(run(&["send", "--help"])
        .stdout
        .contains("{\"done\": true, \"size\": N}"));
    assert_eq!(run(&["--version"]).code, 0);

    for bad in [
        &[][..],
        &["frobnicate"],
        &["send", "bob", "file", "--frobnicate"],
        &["send", "bob"],
        &["send", "bob", "file", "--serialization", "json"],
        &["chat"],
        &["list", "--debug", "9"],
        &["list", "--port", "nope"],
        &["receive", "--out"],
    ] {
        let r = run(bad);
        assert_eq!(r.code, 2, "{bad:?}: {r:?}");
        assert!(r.stderr.starts_with("error: "), "{bad:?}: {r:?}");
        assert!(r.stderr.contains("usage: peer-cli"), "{bad:?}: {r:?}");
    }
}
