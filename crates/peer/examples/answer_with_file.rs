//! Answers every call with a video file played in a loop, and prints the caller's tracks.
//!
//! ```text
//! cargo run -p peer --example answer_with_file -- crates/peer-media/tests/fixtures/testsrc-vp8.ivf
//! ```
//! Then `peer.call('tv', stream)` from a browser (skyway-js): it receives the file as video.
//! The file is IVF with VP8 frames (`ffmpeg -i in.mp4 -c:v libvpx -b:v 1M out.ivf`).
//! `PEER_PORT` names another port of a local peer-server (development app).

use futures::StreamExt;
use peer::media::{FileOptions, FileSource};
use peer::{AnswerOptions, Codec, MediaConnectionEvent, MediaStream, Peer, PeerEvent, PeerOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        anyhow::bail!("usage: answer_with_file VIDEO.ivf");
    };
    let peer = Peer::new(Some("tv"), options(port())).await?;
    println!("answering calls to {:?} with {path}", peer.id());
    let mut events = Box::pin(peer.events());
    while let Some(event) = events.next().await {
        let PeerEvent::Call(call) = event else {
            continue;
        };
        let path = path.clone();
        tokio::spawn(async move {
            let mut stream = MediaStream::new();
            let video = stream.add_track(Codec::Vp8);
            if let Err(e) = call.answer(Some(&stream), AnswerOptions::new()).await {
                return eprintln!("answer: {e}");
            }
            // Start the file once media can flow, so its first keyframe is not lost.
            if call.wait_connected().await.is_err() {
                return;
            }
            let looped = FileOptions {
                looped: true,
                ..FileOptions::default()
            };
            let source = match FileSource::start(&path, video, looped).await {
                Ok(source) => source,
                Err(e) => return eprintln!("{path}: {e}"),
            };
            while let Some(ev) = call.next_event().await {
                if let MediaConnectionEvent::Track(track) = ev {
                    println!(
                        "{} sends {} ({})",
                        call.remote_id(),
                        track.kind(),
                        track.encoding_name()
                    );
                }
            }
            source.stop();
            println!("{} hung up", call.remote_id());
        });
    }
    Ok(())
}

/// peer-server's development app on 127.0.0.1 (`cargo run -p peer-server`).
fn options(port: u16) -> PeerOptions {
    PeerOptions::new("peerdev0-0000-0000-0000-000000000000").server("127.0.0.1", port, false)
}

/// `PEER_PORT`, 9000 by default.
fn port() -> u16 {
    std::env::var("PEER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9000)
}
