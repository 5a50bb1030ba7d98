//! The session's tasks and connection end with it, whatever webrtc's reads do.

use super::*;
use crate::core::RoomKey;
use crate::plan::DownTrack;
use crate::shell::engine::Engine;
use crate::shell::SfuConfig;
use std::sync::atomic::AtomicBool;
use webrtc::api::media_engine::MIME_TYPE_VP8;
use webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability;

async fn engine() -> Engine {
    let config = SfuConfig {
        udp: ([127, 0, 0, 1], 0).into(),
        ..SfuConfig::default()
    };
    Engine::new(&config, Arc::default()).await.expect("engine")
}

fn vp8_track(id: &str) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(
        RTCRtpCodecCapability {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90000,
            ..Default::default()
        },
        id.to_owned(),
        "sfu-1-publisher".to_owned(),
    ))
}

fn member() -> MemberKey {
    MemberKey {
        room: RoomKey::new("app", "room"),
        peer: "subscriber".into(),
    }
}

/// Polls `done` every 10 ms for up to 10 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

/// The soak's leak: a forwarded track's RTCP reader that is not waiting on its sender at the
/// moment the sender stops never hears of it (webrtc 0.17.2 signals the stop with
/// `Notify::notify_waiters`), and held the sender, and through it the closed connection, for
/// good. Here the sender stops before the reader first reads, which misses the stop every
/// time; the session's end must end the reader all the same.
#[tokio::test]
async fn a_feedback_reader_that_missed_its_senders_stop_ends_with_the_session() {
    let engine = engine().await;
    let pc = engine
        .api
        .new_peer_connection(RTCConfiguration::default())
        .await
        .expect("pc");
    let track: Arc<dyn TrackLocal + Send + Sync> = vp8_track("video-1");
    let transceiver = pc
        .add_transceiver_from_track(
            track,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                send_encodings: Vec::new(),
            }),
        )
        .await
        .expect("transceiver");
    let sender = transceiver.sender().await;
    pc.remove_track(&sender).await.expect("remove_track");

    let tasks = Tasks::default();
    let (internal, _events) = mpsc::unbounded_channel();
    let held = Arc::strong_count(&sender);
    tasks.spawn(read_feedback(
        sender.clone(),
        TrackId(1),
        internal,
        member(),
        1,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tasks.running(), 1, "webrtc's read returned after all");
    assert_eq!(Arc::strong_count(&sender), held + 1);

    tasks.end();
    assert!(
        eventually(|| tasks.running() == 0 && Arc::strong_count(&sender) == held).await,
        "the reader outlived its session"
    );
    pc.close().await.expect("close");
    engine.close().await;
}

#[tokio::test]
async fn an_ended_session_starts_no_task() {
    let tasks = Tasks::default();
    let dropped = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let flag = Flag(dropped.clone());
    let running = tasks.spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    assert!(running.is_some());
    tasks.end();
    assert!(eventually(|| dropped.load(Ordering::SeqCst)).await);
    assert!(tasks.ended());

    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    assert!(tasks
        .spawn(async move { s.store(true, Ordering::SeqCst) })
        .is_none());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!started.load(Ordering::SeqCst));
    assert_eq!(tasks.running(), 0);
}

/// A session that made an offer lets go of everything once closed: its feedback reader ends
/// and its connection is dropped, so the forwarding track is held by its owner alone.
#[tokio::test]
async fn a_closed_session_lets_go_of_its_forwarded_tracks() {
    let engine = engine().await;
    let (internal, mut events) = mpsc::unbounded_channel();
    let shared = Shared {
        track_ids: Arc::new(AtomicU64::new(1)),
        counters: Arc::default(),
        serial: 7,
    };
    let cmds = start(
        &engine.api,
        member(),
        "sfu-2-subscriber".into(),
        shared,
        internal,
        None,
        2,
    )
    .await
    .expect("session");
    let local = vp8_track("video-1");
    let plan = OfferPlan {
        downstream: vec![DownTrack {
            track: TrackId(1),
            publisher: "publisher".into(),
            stream_id: "sfu-1-publisher".into(),
            kind: Kind::Video,
        }],
    };
    assert!(cmds
        .send(Cmd::Offer(plan, vec![(TrackId(1), local.clone())]))
        .await
        .is_ok());
    let offer = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(Internal::Offer(m, serial, sdp, _)) => break (m, serial, sdp),
                Some(_) => continue,
                None => panic!("the session ended"),
            }
        }
    })
    .await
    .expect("an offer");
    assert_eq!((offer.0, offer.1), (member(), 7));
    assert!(offer.2.contains("m=video"));
    assert!(Arc::strong_count(&local) > 1);

    assert!(cmds.send(Cmd::Close).await.is_ok());
    assert!(
        eventually(|| Arc::strong_count(&local) == 1).await,
        "the closed session still holds its forwarded track"
    );
    engine.close().await;
}
