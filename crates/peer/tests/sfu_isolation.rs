//! One subscriber cannot take the SFU from the others: a member that floods the server with
//! NACKs for every packet it still holds (a subscriber on a terrible path, or a hostile one)
//! gets its track's retransmission budget and no more, and a clean subscriber of the same
//! publisher keeps receiving at the rate it had before the storm.

mod common;

use common::rooms::*;
use common::*;
use peer::{Codec, MediaKind, RoomMode, RoomOptions};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webrtc::rtcp::packet::Packet as RtcpPacket;
use webrtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};

const PUBLISHER: &str = "iso-pub";
/// The server's default `max_retransmits_per_track_per_second`.
const BUDGET: u64 = 200;

fn sfu() -> RoomOptions {
    RoomOptions::new().mode(RoomMode::Sfu)
}

/// Video packets `m` received of the publisher during `d`.
async fn video_over(m: &Member, d: Duration) -> u64 {
    let before = m.packets(PUBLISHER, MediaKind::Video);
    tokio::time::sleep(d).await;
    m.packets(PUBLISHER, MediaKind::Video) - before
}

/// The last "SFU NACK budget" totals the server logged: (granted, refused).
fn budget_totals(server: &TestServer) -> Option<(u64, u64)> {
    server
        .log_lines_with(&["SFU NACK budget"])
        .iter()
        .filter_map(|l| Some((log_number(l, "granted")?, log_number(l, "refused")?)))
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_storm_gets_its_budget_and_a_clean_subscriber_keeps_its_rate() {
    let server = TestServer::start();
    let (s, _pumps) = stream(&[Codec::Vp8, Codec::Opus]);
    let _publisher = Member::join(&server, PUBLISHER, "iso", sfu().stream(s)).await;
    let clean = Member::join(&server, "iso-clean", "iso", sfu()).await;
    let storm = Member::join(&server, "iso-storm", "iso", sfu()).await;
    for m in [&clean, &storm] {
        m.until("the publisher's video", |s| {
            s.packets
                .get(&(PUBLISHER.to_owned(), MediaKind::Video))
                .is_some_and(|n| *n >= 20)
        })
        .await;
    }
    let window = Duration::from_secs(5);
    let quiet = video_over(&clean, window).await;
    assert!(
        quiet >= 100,
        "the clean subscriber receives: {quiet} packets in {window:?}"
    );

    // The storm: every 2 ms, one NACK naming the last 1,020 packets of the publisher's video
    // as the storm member receives it (about 510,000 retransmissions asked for a second).
    let pc = storm
        .room
        .sfu_connection()
        .expect("the storm member's SFU connection")
        .peer_connection();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let storming = {
        let (stop, sent, seen) = (stop.clone(), sent.clone(), storm.seen.clone());
        tokio::spawn(async move {
            let key = (PUBLISHER.to_owned(), MediaKind::Video);
            while !stop.load(Ordering::Relaxed) {
                let last = seen.lock().unwrap().last_rtp.get(&key).copied();
                if let Some((ssrc, seq)) = last {
                    let nacks = (0..60u16)
                        .map(|i| NackPair {
                            packet_id: seq.wrapping_sub(1020).wrapping_add(i * 17),
                            lost_packets: 0xffff,
                        })
                        .collect();
                    let nack: Box<dyn RtcpPacket + Send + Sync> = Box::new(TransportLayerNack {
                        sender_ssrc: 1,
                        media_ssrc: ssrc,
                        nacks,
                    });
                    if pc.write_rtcp(&[nack]).await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let started = Instant::now();
    let stormy = video_over(&clean, window).await;
    let storm_got = video_over(&storm, Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    storming.await.expect("storm task");
    let storm_secs = started.elapsed().as_secs_f64();
    let nacks = sent.load(Ordering::Relaxed);
    // Let the server log its totals (at most once a second).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let totals = budget_totals(&server);
    eprintln!(
        "clean subscriber: {quiet} video packets in {window:?} before the storm, {stormy} during it; \
         storm: {nacks} NACKs sent in {storm_secs:.1} s, server totals (granted, refused) {totals:?}"
    );
    assert!(nacks > 1000, "the storm ran: {nacks} NACKs");
    let (granted, refused) = totals.expect("the server logged its NACK budget totals");
    // The whole storm's grants fit in one track's budget: one second's burst and the rate.
    let allowed = BUDGET + (BUDGET as f64 * (storm_secs + 1.0)) as u64;
    assert!(granted <= allowed, "granted {granted} > {allowed}");
    assert!(
        refused > 100 * granted.max(1),
        "refused {refused}, granted {granted}"
    );
    assert!(storm_got > 0, "the storming member is still served");
    assert!(
        stormy * 10 >= quiet * 9,
        "the clean subscriber's rate held: {stormy} packets during the storm vs {quiet} before"
    );
}
