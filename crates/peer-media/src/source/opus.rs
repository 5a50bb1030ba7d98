//! Opus packet durations (RFC 6716 §3.1) and the Ogg Opus identification header (RFC 7845
//! §5.1). Pure.

use crate::error::MediaError;

/// The longest duration an Opus packet may have: 120 ms at 48 kHz.
pub const MAX_PACKET_SAMPLES: u32 = 5760;

/// The duration of one frame of an Opus packet, in 48 kHz samples, from the TOC byte's
/// configuration number (its top 5 bits).
pub fn frame_samples(toc: u8) -> u32 {
    let config = toc >> 3;
    match config {
        // SILK-only: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT-only: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    }
}

/// The duration of an Opus packet in 48 kHz samples: the frame duration times the frame count
/// (code 0: one frame; 1 and 2: two; 3: the count in the second byte's low 6 bits). An error for
/// an empty packet, a code 3 packet without its count byte or with 0 frames, or more than
/// 120 ms.
///
/// ```
/// # use peer_media::source::opus::packet_samples;
/// // Config 31 (CELT, 20 ms), code 0.
/// assert_eq!(packet_samples(&[0xf8, 0xff]).unwrap(), 960);
/// // Config 1 (SILK 20 ms), code 3, 3 frames.
/// assert_eq!(packet_samples(&[0x0b, 0x03]).unwrap(), 2880);
/// assert!(packet_samples(&[]).is_err());
/// ```
pub fn packet_samples(packet: &[u8]) -> Result<u32, MediaError> {
    let Some(&toc) = packet.first() else {
        return Err(invalid("empty Opus packet"));
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => match packet.get(1) {
            Some(b) => u32::from(b & 0x3f),
            None => return Err(invalid("Opus code 3 packet without a frame count")),
        },
    };
    if frames == 0 {
        return Err(invalid("Opus packet with 0 frames"));
    }
    let samples = frame_samples(toc) * frames;
    if samples > MAX_PACKET_SAMPLES {
        return Err(invalid(format!(
            "Opus packet of {samples} samples exceeds 120 ms"
        )));
    }
    Ok(samples)
}

/// The Ogg Opus identification header (`OpusHead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// The version (the major version, the high 4 bits, must be 0).
    pub version: u8,
    /// Output channels.
    pub channels: u8,
    /// Samples (48 kHz) to discard at the start of decoding.
    pub pre_skip: u16,
    /// The sample rate of the original input (informational).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// The channel mapping family.
    pub mapping_family: u8,
}

impl OpusHead {
    /// Parses an identification header packet.
    pub fn parse(packet: &[u8]) -> Result<OpusHead, MediaError> {
        if !packet.starts_with(b"OpusHead") {
            return Err(invalid("not an Ogg Opus stream: no OpusHead packet"));
        }
        let Some(h) = packet.get(..19) else {
            return Err(invalid("OpusHead truncated"));
        };
        let head = OpusHead {
            version: h[8],
            channels: h[9],
            pre_skip: u16::from_le_bytes([h[10], h[11]]),
            input_sample_rate: u32::from_le_bytes([h[12], h[13], h[14], h[15]]),
            output_gain: i16::from_le_bytes([h[16], h[17]]),
            mapping_family: h[18],
        };
        if head.version >> 4 != 0 {
            return Err(invalid(format!(
                "unsupported Ogg Opus version {}",
                head.version
            )));
        }
        if head.channels == 0 {
            return Err(invalid("OpusHead with 0 channels"));
        }
        Ok(head)
    }
}

fn invalid(msg: impl Into<String>) -> MediaError {
    MediaError::InvalidFormat(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ogg::OggPackets;

    #[test]
    fn toc_configs() {
        // Each configuration's frame size, code 0.
        let expect = [
            480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK
            480, 960, 480, 960, // Hybrid
            120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480,
            960, // CELT
        ];
        for (config, &samples) in expect.iter().enumerate() {
            let toc = (config as u8) << 3;
            assert_eq!(packet_samples(&[toc]).unwrap(), samples, "config {config}");
            assert_eq!(packet_samples(&[toc | 1]).unwrap(), 2 * samples);
            assert_eq!(packet_samples(&[toc | 2, 0]).unwrap(), 2 * samples);
        }
        // Code 3: frame count in the low 6 bits of the second byte (VBR and padding bits set).
        assert_eq!(packet_samples(&[(16 << 3) | 3, 0xc0 | 48]).unwrap(), 5760);
        assert!(packet_samples(&[(16 << 3) | 3, 49]).is_err());
        assert!(packet_samples(&[(3 << 3) | 3, 3]).is_err()); // 3 x 60 ms
        assert!(packet_samples(&[3, 0]).is_err());
        assert!(packet_samples(&[3]).is_err());
    }

    #[test]
    fn fixture() {
        let data = include_bytes!("../../tests/fixtures/sine.ogg");
        let mut packets = OggPackets::new(data);
        let head = OpusHead::parse(&packets.next().unwrap()).unwrap();
        assert_eq!(head.channels, 2);
        assert_eq!(head.input_sample_rate, 48_000);
        assert!(packets.next().unwrap().starts_with(b"OpusTags"));
        let total: u32 = packets.map(|p| packet_samples(&p).unwrap()).sum();
        // 2 s plus the encoder's padding, in 20 ms packets.
        assert_eq!(total % 960, 0);
        assert!((96_000..=96_000 + 2 * 960).contains(&total));
    }

    #[test]
    fn head_errors() {
        assert!(OpusHead::parse(b"OpusTags").is_err());
        assert!(OpusHead::parse(b"OpusHead\x01\x02").is_err());
        let mut h = b"OpusHead".to_vec();
        h.extend_from_slice(&[1, 0, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        assert!(OpusHead::parse(&h).is_err()); // 0 channels
        h[9] = 1;
        assert_eq!(OpusHead::parse(&h).unwrap().pre_skip, 312);
        h[8] = 0x10;
        assert!(OpusHead::parse(&h).is_err());
    }
}
