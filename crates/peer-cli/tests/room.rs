//! `peer-cli room`: two command-line members of one mesh room, and of one SFU room (`--sfu`),
//! through the real server: members,
//! joins and leaves printed, stdin lines as room data (never echoed to their sender), a looped
//! VP8 and Opus file sent, the other member's media recorded per peer id, and a clean exit at
//! the end of stdin.

mod common;

use common::*;
use peer::media::source::ivf::IvfReader;
use std::path::Path;

/// Frames in an IVF file (complete ones), or `None` if it is not IVF.
fn ivf_frames(path: &Path) -> Option<usize> {
    let data = std::fs::read(path).ok()?;
    let mut reader = IvfReader::new(&data).ok()?;
    let mut n = 0;
    while let Ok(Some(_)) = reader.next_frame() {
        n += 1;
    }
    Some(n)
}

#[test]
fn two_cli_members_chat_and_record_each_other() {
    two_members(false);
}

#[test]
fn two_cli_members_in_an_sfu_room() {
    two_members(true);
}

/// Two members, in a mesh room or (`sfu`) in an SFU room.
fn two_members(sfu: bool) {
    let server = TestServer::start();
    let room = unique("cliroom");
    let (a_id, b_id) = (unique("cli-a"), unique("cli-b"));
    let dir = temp_dir("room-rec");
    let video = fixture("testsrc-vp8.ivf");
    let audio = fixture("sine.ogg");
    let mode: &[&str] = if sfu { &["--sfu"] } else { &[] };
    let mut a_args = vec![
        "room",
        &room,
        "--id",
        &a_id,
        "--video-file",
        video.to_str().expect("utf-8 path"),
        "--audio-file",
        audio.to_str().expect("utf-8 path"),
        "--loop",
    ];
    a_args.extend_from_slice(mode);
    let mut a = server.cli(&a_args);
    a.wait_for(Stream::Out, "members: ");
    let dir_arg = dir.to_str().expect("utf-8 path").to_owned();
    let mut b_args = vec!["room", &room, "--id", &b_id, "--record-dir", &dir_arg];
    b_args.extend_from_slice(mode);
    let mut b = server.cli(&b_args);
    let members = b.wait_for(Stream::Out, "members: ");
    assert_eq!(members, format!("members: {a_id}"));
    a.wait_for(Stream::Out, &format!("join {b_id}"));

    a.type_line("hello from a ✓");
    assert_eq!(
        b.wait_for(Stream::Out, "hello from a"),
        format!("{a_id}: hello from a ✓")
    );
    b.type_line("hi from b");
    assert_eq!(
        a.wait_for(Stream::Out, "hi from b"),
        format!("{b_id}: hi from b")
    );
    // b records a's video and audio into files named after a.
    // The two tracks may come in either order.
    let mut recording: Vec<String> = (0..2)
        .map(|_| b.wait_for(Stream::Out, " -> file"))
        .collect();
    recording.sort();
    assert!(
        recording[0].starts_with(&format!("{a_id} audio opus -> file")),
        "{recording:?}"
    );
    assert!(
        recording[1].starts_with(&format!("{a_id} video VP8 -> file")),
        "{recording:?}"
    );
    let video_file = dir.join(format!("{a_id}-video.ivf"));
    let audio_file = dir.join(format!("{a_id}-audio.ogg"));
    let deadline = std::time::Instant::now() + WAIT;
    while ivf_frames(&video_file).unwrap_or(0) < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "a's video was not recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Stdin ends: b sends its last line, leaves, finalizes the files, exits 0.
    b.type_line("bye");
    b.close_stdin();
    let fb = b.finish();
    assert_eq!(fb.code, 0, "{}", fb.stderr);
    assert!(fb.stderr.contains("recorded"), "{}", fb.stderr);
    assert!(
        !fb.stdout.contains(&format!("{b_id}: ")),
        "b printed its own line: {}",
        fb.stdout
    );
    assert!(ivf_frames(&video_file).unwrap_or(0) >= 30);
    let ogg = std::fs::read(&audio_file).expect("a's audio recorded");
    assert!(
        ogg.starts_with(b"OggS") && ogg.len() > 1000,
        "{} bytes",
        ogg.len()
    );
    a.wait_for(Stream::Out, "bye");
    a.wait_for(Stream::Out, &format!("leave {b_id}"));
    a.close_stdin();
    let fa = a.finish();
    assert_eq!(fa.code, 0, "{}", fa.stderr);
    assert!(
        !fa.stdout.contains(&format!("{a_id}: ")),
        "a printed its own line: {}",
        fa.stdout
    );
    // Nothing recorded of the receive-only member b, and nothing by a (no --record-dir).
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn room_usage_errors() {
    let f = run(&["room"]);
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("missing <name>"), "{}", f.stderr);
    let f = run(&["room", "r", "--record-video", "x.ivf"]);
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("--record-dir"), "{}", f.stderr);
}
