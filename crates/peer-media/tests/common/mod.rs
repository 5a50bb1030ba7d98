//! Test support: two real `webrtc` peer connections over loopback, one sending local tracks
//! and one receiving them, and readers for the files the sinks write.
#![allow(dead_code)]

use peer_media::sink::vpx::frame_info;
use peer_media::source::ivf::IvfReader;
use peer_media::source::ogg::OggPackets;
use peer_media::{Codec, LocalTrack, RemoteTrack};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::MediaEngine;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::ice::network_type::NetworkType;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

/// How long any one step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(15);

/// A fixture file's path.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh path in the temporary directory.
pub fn temp_path(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("peer-media-{}-{n}-{name}", std::process::id()))
}

/// Fails the test if `f` takes longer than [`STEP`].
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: timed out after {STEP:?}"),
    }
}

fn api() -> API {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    let registry =
        register_default_interceptors(Registry::new(), &mut media).expect("interceptors");
    let mut s = SettingEngine::default();
    s.set_include_loopback_candidate(true);
    s.set_ip_filter(Box::new(|ip: IpAddr| ip.is_loopback()));
    s.set_network_types(vec![NetworkType::Udp4]);
    APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(s)
        .build()
}

/// A sending and a receiving peer connection, connected.
pub struct Pair {
    pub sender: Arc<RTCPeerConnection>,
    pub receiver: Arc<RTCPeerConnection>,
    /// The receiver's tracks, as `on_track` reports them (on their first packet).
    pub remote: mpsc::UnboundedReceiver<RemoteTrack>,
}

impl Pair {
    /// The next remote track.
    pub async fn remote_track(&mut self) -> RemoteTrack {
        within("on_track", self.remote.recv())
            .await
            .expect("the receiver is gone")
    }

    pub async fn close(self) {
        let _ = self.sender.close().await;
        let _ = self.receiver.close().await;
    }
}

/// Resolves once `pc` is connected.
fn connected(pc: &RTCPeerConnection) -> watch::Receiver<RTCPeerConnectionState> {
    let (tx, rx) = watch::channel(RTCPeerConnectionState::New);
    pc.on_peer_connection_state_change(Box::new(move |s| {
        let _ = tx.send(s);
        Box::pin(async {})
    }));
    rx
}

async fn wait_connected(mut rx: watch::Receiver<RTCPeerConnectionState>) {
    within(
        "connecting",
        rx.wait_for(|s| *s == RTCPeerConnectionState::Connected),
    )
    .await
    .expect("state channel");
}

/// Connects a sender of `track` to a receiver, over loopback, and waits until both are
/// connected (so that the first packets a source sends arrive).
pub async fn connect(track: &LocalTrack) -> Pair {
    let api = api();
    let sender = Arc::new(
        api.new_peer_connection(RTCConfiguration::default())
            .await
            .expect("pc"),
    );
    let receiver = Arc::new(
        api.new_peer_connection(RTCConfiguration::default())
            .await
            .expect("pc"),
    );
    {
        let rtp_sender = sender
            .add_track(track.webrtc_track())
            .await
            .expect("add_track");
        let track = track.clone();
        // Read RTCP (the interceptors need it) and note keyframe requests.
        tokio::spawn(async move {
            while let Ok((packets, _)) = rtp_sender.read_rtcp().await {
                for p in packets {
                    let any = p.as_any();
                    if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                        track.note_keyframe_request();
                    }
                }
            }
        });
    }
    let (tx, remote) = mpsc::unbounded_channel();
    let weak = Arc::downgrade(&receiver);
    receiver.on_track(Box::new(move |track, _, _| {
        let _ = tx.send(RemoteTrack::new(track, weak.clone()));
        Box::pin(async {})
    }));
    let sender_state = connected(&sender);
    let receiver_state = connected(&receiver);

    let offer = sender.create_offer(None).await.expect("offer");
    let mut gathered = sender.gathering_complete_promise().await;
    sender
        .set_local_description(offer)
        .await
        .expect("local offer");
    within("gathering", gathered.recv()).await;
    let offer = sender.local_description().await.expect("offer");
    receiver
        .set_remote_description(offer)
        .await
        .expect("remote offer");
    let answer = receiver.create_answer(None).await.expect("answer");
    let mut gathered = receiver.gathering_complete_promise().await;
    receiver
        .set_local_description(answer)
        .await
        .expect("local answer");
    within("gathering", gathered.recv()).await;
    let answer = receiver.local_description().await.expect("answer");
    sender
        .set_remote_description(answer)
        .await
        .expect("remote answer");

    wait_connected(sender_state).await;
    wait_connected(receiver_state).await;
    Pair {
        sender,
        receiver,
        remote,
    }
}

/// What an IVF file holds: (codec, frames, keyframes, frame count in the header, pts).
pub struct IvfSummary {
    pub codec: Option<Codec>,
    pub width: u16,
    pub height: u16,
    pub frames: usize,
    pub keyframes: usize,
    pub header_frames: u32,
    pub pts: Vec<u64>,
    pub first_is_keyframe: bool,
}

pub fn read_ivf(path: &std::path::Path) -> IvfSummary {
    let data = std::fs::read(path).expect("read IVF");
    let mut r = IvfReader::new(&data).expect("IVF header");
    let h = *r.header();
    let codec = h.codec();
    let mut s = IvfSummary {
        codec,
        width: h.width,
        height: h.height,
        frames: 0,
        keyframes: 0,
        header_frames: h.frame_count,
        pts: Vec::new(),
        first_is_keyframe: false,
    };
    while let Some(f) = r.next_frame().expect("IVF frame") {
        let key = codec
            .and_then(|c| frame_info(c, f.data))
            .is_some_and(|i| i.keyframe);
        if s.frames == 0 {
            s.first_is_keyframe = key;
        }
        s.frames += 1;
        s.keyframes += usize::from(key);
        s.pts.push(f.pts);
    }
    s
}

/// The packets of an Ogg file.
pub fn read_ogg(path: &std::path::Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).expect("read Ogg");
    OggPackets::new(&data).collect()
}

/// Waits until `f()` holds (polling), or the step timeout; returns whether it held.
pub async fn eventually(mut f: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
