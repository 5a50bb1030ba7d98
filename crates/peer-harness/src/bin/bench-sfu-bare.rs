//! The ceiling of `cargo xtask bench sfu`: a bare forwarding loop on the same `webrtc` 0.17.2
//! and the same stack configuration as peer-server's SFU (`peer_harness::raw`), with nothing
//! else: no signaling server, no rooms, no plans, no limits, no keyframe requests.
//!
//! ```text
//! target/release/bench-sfu-bare
//! ```
//!
//! Prints `{"port": P}`, then serves JSON lines on TCP 127.0.0.1:P, one client connection per
//! load peer, and forwards media through one UDP socket on 127.0.0.1:
//! - `{"op":"publish","sdp":OFFER}` → `{"sdp":ANSWER}`: the client's video is read and written
//!   to a local track that every later subscriber gets;
//! - `{"op":"subscribe","tracks":N}` → `{"sdp":OFFER}` once N published tracks exist, offering
//!   all of them; then `{"op":"answer","sdp":ANSWER}` → `{"ok":true}`.
//!
//! A client's connection closes with its TCP connection. Runs until killed.

use anyhow::{bail, Context, Result};
use peer_harness::raw;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use webrtc::api::API;
use webrtc::ice::udp_mux::{UDPMuxDefault, UDPMuxParams};
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;
use webrtc::track::track_local::{TrackLocal, TrackLocalWriter};

/// Numbers the published tracks.
static NEXT_TRACK: AtomicUsize = AtomicUsize::new(0);

/// The published tracks, in order; subscribers wait on it.
type Tracks = watch::Sender<Vec<Arc<TrackLocalStaticRTP>>>;

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> Result<()> {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let udp = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let mux = UDPMuxDefault::new(UDPMuxParams::new(udp));
    let api = Arc::new(raw::api(ip, Some(mux))?);
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    println!("{}", json!({"port": listener.local_addr()?.port()}));
    let (tracks, _) = watch::channel(Vec::new());
    let tracks = Arc::new(tracks);
    loop {
        let (socket, _) = listener.accept().await?;
        let (api, tracks) = (api.clone(), tracks.clone());
        tokio::spawn(async move {
            if let Err(e) = client(socket, &api, &tracks).await {
                eprintln!("bench-sfu-bare: client: {e:#}");
            }
        });
    }
}

/// Serves one load peer's requests; its connection ends with the TCP connection.
async fn client(socket: TcpStream, api: &API, tracks: &Tracks) -> Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let pc = raw::connection(api).await?;
    let result = async {
        while let Some(line) = lines.next_line().await? {
            let req: Value = serde_json::from_str(&line).context("request")?;
            let sdp = || {
                req["sdp"]
                    .as_str()
                    .map(str::to_owned)
                    .context("request without sdp")
            };
            let reply = match req["op"].as_str() {
                Some("publish") => {
                    let tracks = tracks.clone();
                    pc.on_track(Box::new(move |remote, _, _| {
                        let n = NEXT_TRACK.fetch_add(1, Ordering::Relaxed);
                        let local = Arc::new(TrackLocalStaticRTP::new(
                            raw::vp8(),
                            format!("v{n}"),
                            format!("s{n}"),
                        ));
                        tracks.send_modify(|t| t.push(local.clone()));
                        tokio::spawn(async move {
                            while let Ok((p, _)) = remote.read_rtp().await {
                                let _ = local.write_rtp(&p).await;
                            }
                        });
                        Box::pin(async {})
                    }));
                    json!({"sdp": raw::answer(&pc, sdp()?).await?})
                }
                Some("subscribe") => {
                    let want = req["tracks"].as_u64().unwrap_or(1) as usize;
                    let mut rx = tracks.subscribe();
                    let ready = tokio::time::timeout(Duration::from_secs(60), async {
                        rx.wait_for(|t| t.len() >= want).await.map(|t| t.clone())
                    })
                    .await;
                    let Ok(Ok(all)) = ready else {
                        bail!("{want} published tracks did not arrive");
                    };
                    for t in all {
                        let sender = pc.add_track(t as Arc<dyn TrackLocal + Send + Sync>).await?;
                        // The NACK responder and RTCP reports need the sender's RTCP read.
                        tokio::spawn(async move { while sender.read_rtcp().await.is_ok() {} });
                    }
                    json!({"sdp": raw::offer(&pc).await?})
                }
                Some("answer") => {
                    raw::apply_answer(&pc, sdp()?).await?;
                    json!({"ok": true})
                }
                other => bail!("unknown op {other:?}"),
            };
            write.write_all(format!("{reply}\n").as_bytes()).await?;
        }
        Ok(())
    }
    .await;
    let _ = pc.close().await;
    result
}
