//! Turning media frames into RTP packets with the `webrtc` crate's payloaders (and our own for
//! VP9, see [`super::vp9_payload`]): one sequence
//! number space and one timestamp base per source, timestamps from the media time.

use crate::codec::{Codec, MediaKind};
use crate::error::MediaError;
use bytes::Bytes;
use webrtc::rtp::codecs::g7xx::G711Payloader;
use webrtc::rtp::codecs::h264::H264Payloader;
use webrtc::rtp::codecs::opus::OpusPayloader;
use webrtc::rtp::codecs::vp8::Vp8Payloader;
use webrtc::rtp::header::Header;
use webrtc::rtp::packet::Packet;
use webrtc::rtp::packetizer::Payloader;

/// The largest RTP packet produced (header included), leaving room for SRTP and tunnels.
pub(crate) const MTU: usize = 1200;
/// The fixed RTP header.
const RTP_HEADER_LEN: usize = 12;

/// The payload type written on packets before the track replaces it with the negotiated one
/// (the usual browser numbers; any value works).
pub(crate) fn default_payload_type(codec: Codec) -> u8 {
    match codec {
        Codec::Pcmu => 0,
        Codec::Vp8 => 96,
        Codec::Vp9 => 98,
        Codec::H264 => 102,
        Codec::Opus => 111,
    }
}

/// Packetizes frames of one codec.
pub(crate) struct RtpPacketizer {
    payloader: Box<dyn Payloader + Send + Sync>,
    kind: MediaKind,
    payload_type: u8,
    ssrc: u32,
    sequence: u16,
    timestamp_base: u32,
    /// For audio, the marker bit is set on the first packet only (start of a talkspurt).
    first: bool,
}

impl RtpPacketizer {
    /// A packetizer for `codec` with random initial sequence number and timestamp.
    pub(crate) fn new(codec: Codec) -> RtpPacketizer {
        let payloader: Box<dyn Payloader + Send + Sync> = match codec {
            // With a picture id, as browsers send, so receivers can detect lost frames.
            Codec::Vp8 => {
                let mut p = Vp8Payloader::default();
                p.enable_picture_id = true;
                Box::new(p)
            }
            // Our own: webrtc-rs's marks every VP9 frame as a keyframe.
            Codec::Vp9 => Box::<super::vp9_payload::Vp9FlexiblePayloader>::default(),
            Codec::H264 => Box::<H264Payloader>::default(),
            Codec::Opus => Box::new(OpusPayloader),
            Codec::Pcmu => Box::new(G711Payloader::default()),
        };
        let mut r = [0u8; 10];
        let _ = getrandom::fill(&mut r);
        RtpPacketizer {
            payloader,
            kind: codec.kind(),
            payload_type: default_payload_type(codec),
            ssrc: u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
            sequence: u16::from_be_bytes([r[4], r[5]]),
            timestamp_base: u32::from_be_bytes([r[6], r[7], r[8], r[9]]),
            first: true,
        }
    }

    /// The packets of one frame (video) or audio packet whose media time is `media_time` ticks
    /// of the codec's clock since the start; the marker bit is set on a video frame's last
    /// packet. Empty for an empty frame.
    pub(crate) fn packetize(
        &mut self,
        frame: &Bytes,
        media_time: u64,
    ) -> Result<Vec<Packet>, MediaError> {
        let payloads = self
            .payloader
            .payload(MTU - RTP_HEADER_LEN, frame)
            .map_err(|e| MediaError::InvalidFormat(format!("packetizing a frame: {e}")))?;
        // RTP timestamps wrap around: only the low 32 bits count.
        let timestamp = self.timestamp_base.wrapping_add(media_time as u32);
        let last = payloads.len().saturating_sub(1);
        let mut packets = Vec::with_capacity(payloads.len());
        for (i, payload) in payloads.into_iter().enumerate() {
            let marker = match self.kind {
                MediaKind::Video => i == last,
                MediaKind::Audio => std::mem::take(&mut self.first),
            };
            packets.push(Packet {
                header: Header {
                    version: 2,
                    marker,
                    payload_type: self.payload_type,
                    sequence_number: self.sequence,
                    timestamp,
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload,
            });
            self.sequence = self.sequence.wrapping_add(1);
        }
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_frame_split_with_marker_on_last() {
        let mut p = RtpPacketizer::new(Codec::Vp8);
        let frame = Bytes::from(vec![0x10; 3000]);
        let a = p.packetize(&frame, 0).unwrap();
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|x| x.payload.len() + RTP_HEADER_LEN <= MTU));
        assert_eq!(
            a.iter().map(|x| x.header.marker).collect::<Vec<_>>(),
            [false, false, true]
        );
        let b = p.packetize(&frame, 3000).unwrap();
        assert_eq!(
            b[0].header.sequence_number,
            a[2].header.sequence_number.wrapping_add(1)
        );
        assert_eq!(
            b[0].header.timestamp.wrapping_sub(a[0].header.timestamp),
            3000
        );
        assert!(p.packetize(&Bytes::new(), 6000).unwrap().is_empty());
    }

    #[test]
    fn audio_marker_on_first_packet_only() {
        let mut p = RtpPacketizer::new(Codec::Opus);
        let a = p.packetize(&Bytes::from_static(&[0xf8, 1, 2]), 0).unwrap();
        let b = p
            .packetize(&Bytes::from_static(&[0xf8, 1, 2]), 960)
            .unwrap();
        assert!(a[0].header.marker);
        assert!(!b[0].header.marker);
        assert_eq!(a[0].payload.as_ref(), &[0xf8, 1, 2]);
    }
}
