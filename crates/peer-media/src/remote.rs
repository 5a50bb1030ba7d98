//! Received tracks.

use crate::codec::{Codec, MediaKind};
use crate::error::MediaError;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use webrtc::rtp::packet::Packet;
use webrtc::track::track_remote::TrackRemote;

/// A track received from the remote peer. Cheap to clone; clones share the track, and only one
/// task should read its packets.
#[derive(Clone)]
pub struct RemoteTrack {
    track: Arc<TrackRemote>,
    pc: Weak<RTCPeerConnection>,
}

impl std::fmt::Debug for RemoteTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTrack")
            .field("id", &self.id())
            .field("stream_id", &self.stream_id())
            .field("mime_type", &self.mime_type())
            .field("payload_type", &self.payload_type())
            .finish()
    }
}

impl RemoteTrack {
    /// Wraps a track of `pc` (called by the connection from `on_track`).
    pub fn new(track: Arc<TrackRemote>, pc: Weak<RTCPeerConnection>) -> RemoteTrack {
        RemoteTrack { track, pc }
    }

    /// The track id (the sender's `MediaStreamTrack.id`).
    pub fn id(&self) -> String {
        self.track.id()
    }

    /// The id of the remote stream the track belongs to.
    pub fn stream_id(&self) -> String {
        self.track.stream_id()
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        MediaKind::from_rtp_codec_type(self.track.kind()).unwrap_or(match self.codec() {
            Some(c) => c.kind(),
            None => MediaKind::Video,
        })
    }

    /// The negotiated MIME type (`video/VP8`, `audio/opus`, ...).
    pub fn mime_type(&self) -> String {
        self.capability().mime_type
    }

    /// The negotiated codec's parameters. webrtc 0.17.2 looks a track's codec up only when the
    /// payload type changes from its initial 0, so a PCMU track (payload type 0, static in
    /// RFC 3551) has an empty codec; it is filled in here.
    fn capability(&self) -> webrtc::rtp_transceiver::rtp_codec::RTCRtpCodecCapability {
        let cap = self.track.codec().capability;
        if cap.mime_type.is_empty() && self.track.payload_type() == 0 {
            return Codec::Pcmu.capability();
        }
        cap
    }

    /// The codec, when it is one this crate knows.
    pub fn codec(&self) -> Option<Codec> {
        Codec::from_mime_type(&self.mime_type())
    }

    /// The payload type the packets carry.
    pub fn payload_type(&self) -> u8 {
        self.track.payload_type()
    }

    /// The RTP clock rate.
    pub fn clock_rate(&self) -> u32 {
        self.capability().clock_rate
    }

    /// Audio channels (0 for video).
    pub fn channels(&self) -> u16 {
        self.capability().channels
    }

    /// The negotiated `a=fmtp` parameters.
    pub fn fmtp(&self) -> String {
        self.capability().sdp_fmtp_line
    }

    /// The sender's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.track.ssrc()
    }

    /// The next RTP packet; an error once the track has ended.
    pub async fn read_rtp(&self) -> Result<Packet, MediaError> {
        match self.track.read_rtp().await {
            Ok((p, _)) => Ok(p),
            // The stack reports the end of a track as EOF or a closed buffer; any read error
            // ends the track.
            Err(e) => {
                tracing::debug!(error = %e, "remote track ended");
                Err(MediaError::Closed)
            }
        }
    }

    /// Asks the sender for a keyframe (RTCP Picture Loss Indication).
    pub async fn request_keyframe(&self) -> Result<(), MediaError> {
        let pc = self.pc.upgrade().ok_or(MediaError::Closed)?;
        pc.write_rtcp(&[Box::new(PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: self.ssrc(),
        })])
        .await?;
        Ok(())
    }

    /// The encoding name of the `rtpmap` (`VP8`, `opus`, ...).
    pub fn encoding_name(&self) -> String {
        let mime = self.mime_type();
        mime.split_once('/')
            .map(|(_, n)| n.to_owned())
            .unwrap_or(mime)
    }

    /// GStreamer caps for a `udpsrc` receiving this track's packets, e.g.
    /// `application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000`.
    pub fn gstreamer_caps(&self) -> String {
        let mut caps = format!(
            "application/x-rtp,media={},encoding-name={},payload={},clock-rate={}",
            self.kind(),
            self.encoding_name().to_ascii_uppercase(),
            self.payload_type(),
            self.clock_rate()
        );
        if self.codec() == Some(Codec::Opus) {
            caps.push_str(",encoding-params=(string)2");
        }
        caps
    }

    /// An SDP description of the packets forwarded to `to`, for `ffplay`/`ffmpeg`
    /// (`-protocol_whitelist file,udp,rtp -i track.sdp`).
    pub fn sdp_description(&self, to: SocketAddr) -> String {
        session_sdp(
            to,
            self.kind(),
            self.payload_type(),
            &self.encoding_name(),
            self.clock_rate(),
            self.channels(),
            &self.fmtp(),
        )
    }
}

/// A one-media SDP for a receiver of RTP at `to` (pure; see [`RemoteTrack::sdp_description`]).
pub fn session_sdp(
    to: SocketAddr,
    kind: MediaKind,
    payload_type: u8,
    encoding_name: &str,
    clock_rate: u32,
    channels: u16,
    fmtp: &str,
) -> String {
    let family = if to.is_ipv6() { "IP6" } else { "IP4" };
    let mut sdp = format!(
        "v=0\r\no=- 0 0 IN {family} {ip}\r\ns=peer\r\nc=IN {family} {ip}\r\nt=0 0\r\nm={kind} {port} RTP/AVP {payload_type}\r\na=rtpmap:{payload_type} {encoding_name}/{clock_rate}",
        ip = to.ip(),
        port = to.port(),
    );
    if channels > 1 {
        sdp.push_str(&format!("/{channels}"));
    }
    sdp.push_str("\r\n");
    if !fmtp.is_empty() {
        sdp.push_str(&format!("a=fmtp:{payload_type} {fmtp}\r\n"));
    }
    sdp.push_str("a=recvonly\r\n");
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_for_ffplay() {
        let sdp = session_sdp(
            "127.0.0.1:5004".parse().unwrap(),
            MediaKind::Audio,
            111,
            "opus",
            48_000,
            2,
            "minptime=10;useinbandfec=1",
        );
        assert!(sdp.contains("m=audio 5004 RTP/AVP 111\r\n"));
        assert!(sdp.contains("a=rtpmap:111 opus/48000/2\r\n"));
        assert!(sdp.contains("a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
    }
}
