//! Ogg pages and packets (RFC 3533), as Ogg Opus files (RFC 7845) carry them: a pure parser over
//! a byte slice, with no I/O, so it can be fuzzed.
//!
//! A page is the capture pattern `OggS`, version 0, a header type (bit 0: the first packet
//! continues one from the previous page; bit 1: beginning of stream; bit 2: end of stream), a
//! granule position (u64), the stream serial number, the page sequence number, a CRC-32 (u32),
//! the number of segments and the segment table (lacing values), then the body. A packet is the
//! concatenation of segments up to and including the first lacing value below 255, possibly
//! across pages.
//!
//! [`OggPackets`] reads the packets of the first logical stream. It resynchronizes on the
//! capture pattern after damaged data, skips pages of other streams, and drops packets broken by
//! a missing page; [`OggStats`] counts what was skipped.

use crate::error::MediaError;

/// The fixed part of a page header.
pub const PAGE_HEADER_LEN: usize = 27;
/// The largest packet [`OggPackets`] reassembles; longer ones are dropped.
pub const MAX_PACKET_LEN: usize = 1024 * 1024;

/// Header type flag: the page starts with the continuation of a packet.
pub const FLAG_CONTINUED: u8 = 0x01;
/// Header type flag: the first page of a logical stream.
pub const FLAG_BOS: u8 = 0x02;
/// Header type flag: the last page of a logical stream.
pub const FLAG_EOS: u8 = 0x04;

/// One Ogg page, borrowed from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OggPage<'a> {
    /// The header type flags ([`FLAG_CONTINUED`], [`FLAG_BOS`], [`FLAG_EOS`]).
    pub header_type: u8,
    /// The granule position (for Opus: 48 kHz samples at the end of the page's last packet).
    pub granule: u64,
    /// The logical stream's serial number.
    pub serial: u32,
    /// The page sequence number.
    pub sequence: u32,
    /// The segment table.
    pub lacing: &'a [u8],
    /// The page body (the segments).
    pub body: &'a [u8],
}

impl OggPage<'_> {
    /// The page starts with the continuation of a packet.
    pub fn continued(&self) -> bool {
        self.header_type & FLAG_CONTINUED != 0
    }

    /// The first page of a logical stream.
    pub fn bos(&self) -> bool {
        self.header_type & FLAG_BOS != 0
    }

    /// The last page of a logical stream.
    pub fn eos(&self) -> bool {
        self.header_type & FLAG_EOS != 0
    }
}

/// The Ogg CRC-32: polynomial 0x04c11db7, initial value 0, no reflection, no final XOR.
pub fn crc32(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |crc, &b| crc32_step(crc, b))
}

fn crc32_step(crc: u32, byte: u8) -> u32 {
    let mut c = crc ^ (u32::from(byte) << 24);
    for _ in 0..8 {
        c = if c & 0x8000_0000 != 0 {
            (c << 1) ^ 0x04c1_1db7
        } else {
            c << 1
        };
    }
    c
}

/// Parses the page at the start of `data`; returns it and its length. Checks the capture
/// pattern, the version, the lengths and the CRC.
pub fn parse_page(data: &[u8]) -> Result<(OggPage<'_>, usize), MediaError> {
    let Some(h) = data.get(..PAGE_HEADER_LEN) else {
        return Err(invalid("Ogg page header truncated"));
    };
    if &h[0..4] != b"OggS" {
        return Err(invalid("no Ogg capture pattern"));
    }
    if h[4] != 0 {
        return Err(invalid(format!("Ogg version {} is not 0", h[4])));
    }
    let segments = usize::from(h[26]);
    let Some(lacing) = data.get(PAGE_HEADER_LEN..PAGE_HEADER_LEN + segments) else {
        return Err(invalid("Ogg segment table truncated"));
    };
    let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
    let body_start = PAGE_HEADER_LEN + segments;
    let Some(body) = data.get(body_start..body_start + body_len) else {
        return Err(invalid("Ogg page body truncated"));
    };
    let len = body_start + body_len;
    let stored = u32::from_le_bytes([h[22], h[23], h[24], h[25]]);
    // The CRC covers the page with the CRC field as zeros.
    let mut crc = data[..22].iter().fold(0, |c, &b| crc32_step(c, b));
    crc = [0u8; 4].iter().fold(crc, |c, &b| crc32_step(c, b));
    crc = data[26..len].iter().fold(crc, |c, &b| crc32_step(c, b));
    if crc != stored {
        return Err(invalid(format!(
            "Ogg page CRC mismatch: stored {stored:08x}, computed {crc:08x}"
        )));
    }
    let mut granule = [0u8; 8];
    granule.copy_from_slice(&h[6..14]);
    let page = OggPage {
        header_type: h[5],
        granule: u64::from_le_bytes(granule),
        serial: u32::from_le_bytes([h[14], h[15], h[16], h[17]]),
        sequence: u32::from_le_bytes([h[18], h[19], h[20], h[21]]),
        lacing,
        body,
    };
    Ok((page, len))
}

/// What [`OggPackets`] skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OggStats {
    /// Valid pages of the stream read.
    pub pages: u64,
    /// Bytes skipped while looking for a valid page (garbage, damaged or truncated pages).
    pub skipped_bytes: u64,
    /// Damaged or truncated pages (CRC mismatch, bad version, cut off).
    pub bad_pages: u64,
    /// Pages of other logical streams.
    pub other_stream_pages: u64,
    /// Packets dropped: broken by a missing page, too long, or cut off at the end.
    pub dropped_packets: u64,
}

/// The packet being reassembled across pages.
#[derive(Debug, Clone)]
enum Partial {
    /// At a packet boundary.
    None,
    /// Bytes of a packet that continues on the next page.
    Some(Vec<u8>),
    /// Discarding the rest of a packet (too long, or its start was lost).
    Skip,
}

/// Reads the packets of the first logical stream in an Ogg byte stream.
///
/// ```
/// # use peer_media::source::ogg::OggPackets;
/// let file = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sine.ogg")).unwrap();
/// let mut packets = OggPackets::new(&file);
/// assert!(packets.next().unwrap().starts_with(b"OpusHead"));
/// assert!(packets.next().unwrap().starts_with(b"OpusTags"));
/// assert!(packets.count() > 90);
/// ```
#[derive(Debug, Clone)]
pub struct OggPackets<'a> {
    data: &'a [u8],
    pos: usize,
    serial: Option<u32>,
    last_sequence: Option<u32>,
    partial: Partial,
    ready: std::collections::VecDeque<Vec<u8>>,
    stats: OggStats,
}

impl<'a> OggPackets<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> OggPackets<'a> {
        OggPackets {
            data,
            pos: 0,
            serial: None,
            last_sequence: None,
            partial: Partial::None,
            ready: Default::default(),
            stats: OggStats::default(),
        }
    }

    /// What was read and skipped so far.
    pub fn stats(&self) -> OggStats {
        self.stats
    }

    /// The serial number of the stream being read, once its first page was read.
    pub fn serial(&self) -> Option<u32> {
        self.serial
    }

    /// The next valid page, resynchronizing on the capture pattern.
    fn next_page(&mut self) -> Option<OggPage<'a>> {
        let data = self.data;
        while self.pos < data.len() {
            let rest = &data[self.pos..];
            let Some(at) = rest.windows(4).position(|w| w == b"OggS") else {
                self.stats.skipped_bytes += rest.len() as u64;
                self.pos = data.len();
                return None;
            };
            self.stats.skipped_bytes += at as u64;
            self.pos += at;
            match parse_page(&data[self.pos..]) {
                Ok((page, len)) => {
                    self.pos += len;
                    return Some(page);
                }
                Err(_) => {
                    // Look for the next capture pattern after this one.
                    self.stats.bad_pages += 1;
                    self.stats.skipped_bytes += 1;
                    self.pos += 1;
                }
            }
        }
        None
    }

    /// Splits a page of the stream into packets.
    fn consume(&mut self, page: OggPage<'_>) {
        let serial = *self.serial.get_or_insert(page.serial);
        if page.serial != serial {
            self.stats.other_stream_pages += 1;
            return;
        }
        self.stats.pages += 1;
        let in_sequence = self
            .last_sequence
            .is_none_or(|s| s.wrapping_add(1) == page.sequence);
        self.last_sequence = Some(page.sequence);
        // A packet pending from the previous page continues only on a continued page that
        // directly follows it; otherwise it is lost, and so is the head of a continuation.
        match std::mem::replace(&mut self.partial, Partial::None) {
            Partial::Some(bytes) if page.continued() && in_sequence => {
                self.partial = Partial::Some(bytes)
            }
            Partial::Skip if page.continued() && in_sequence => self.partial = Partial::Skip,
            Partial::Some(_) | Partial::Skip => {
                self.stats.dropped_packets += 1;
                if page.continued() {
                    self.partial = Partial::Skip;
                }
            }
            Partial::None if page.continued() => self.partial = Partial::Skip,
            Partial::None => {}
        }
        let mut at = 0;
        for &lace in page.lacing {
            let seg = page
                .body
                .get(at..at + usize::from(lace))
                .unwrap_or_default();
            at += usize::from(lace);
            match &mut self.partial {
                Partial::Skip => {}
                Partial::None => self.partial = Partial::Some(seg.to_vec()),
                Partial::Some(bytes) => {
                    if bytes.len() + seg.len() > MAX_PACKET_LEN {
                        self.stats.dropped_packets += 1;
                        self.partial = Partial::Skip;
                    } else {
                        bytes.extend_from_slice(seg);
                    }
                }
            }
            if lace < 255 {
                if let Partial::Some(bytes) = std::mem::replace(&mut self.partial, Partial::None) {
                    self.ready.push_back(bytes);
                }
            }
        }
    }
}

impl Iterator for OggPackets<'_> {
    type Item = Vec<u8>;

    /// The next packet of the stream; `None` at the end of the data.
    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(p) = self.ready.pop_front() {
                return Some(p);
            }
            match self.next_page() {
                Some(page) => self.consume(page),
                None => {
                    if let Partial::Some(_) = std::mem::replace(&mut self.partial, Partial::None) {
                        self.stats.dropped_packets += 1;
                    }
                    return None;
                }
            }
        }
    }
}

fn invalid(msg: impl Into<String>) -> MediaError {
    MediaError::InvalidFormat(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OGG: &[u8] = include_bytes!("../../tests/fixtures/sine.ogg");

    /// A page with the given flags, sequence and segments (each segment given as its bytes).
    fn page(flags: u8, serial: u32, seq: u32, segments: &[&[u8]]) -> Vec<u8> {
        let mut p = b"OggS".to_vec();
        p.push(0);
        p.push(flags);
        p.extend_from_slice(&0u64.to_le_bytes());
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&seq.to_le_bytes());
        p.extend_from_slice(&[0; 4]);
        p.push(segments.len() as u8);
        for s in segments {
            p.push(s.len() as u8);
        }
        for s in segments {
            p.extend_from_slice(s);
        }
        let crc = crc32(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn fixture_pages_and_packets() {
        let (first, len) = parse_page(OGG).unwrap();
        assert!(first.bos());
        assert!(first.body.starts_with(b"OpusHead"));
        assert!(len > PAGE_HEADER_LEN);
        let mut r = OggPackets::new(OGG);
        let packets: Vec<Vec<u8>> = r.by_ref().collect();
        assert!(packets[0].starts_with(b"OpusHead"));
        assert!(packets[1].starts_with(b"OpusTags"));
        assert_eq!(packets.len(), 2 + 101);
        assert_eq!(r.stats().skipped_bytes, 0);
        assert_eq!(r.stats().bad_pages, 0);
        assert_eq!(r.stats().dropped_packets, 0);
    }

    #[test]
    fn packets_span_pages() {
        let big = [7u8; 255];
        let mut s = page(FLAG_BOS, 1, 0, &[b"head"]);
        // A 255 + 255 + 10 byte packet over two pages, then a small one.
        s.extend(page(0, 1, 1, &[&big, &big]));
        s.extend(page(FLAG_CONTINUED, 1, 2, &[&[8; 10], b"xy"]));
        let packets: Vec<Vec<u8>> = OggPackets::new(&s).collect();
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[1].len(), 520);
        assert_eq!(packets[2], b"xy");
    }

    #[test]
    fn lost_page_drops_the_spanning_packet() {
        let big = [7u8; 255];
        let mut s = page(FLAG_BOS, 1, 0, &[&big]);
        // Page 1 lost; page 2 continues a packet and then has a whole one.
        s.extend(page(FLAG_CONTINUED, 1, 2, &[b"tail", b"whole"]));
        let mut r = OggPackets::new(&s);
        let packets: Vec<Vec<u8>> = r.by_ref().collect();
        assert_eq!(packets, vec![b"whole".to_vec()]);
        assert_eq!(r.stats().dropped_packets, 1);
    }

    #[test]
    fn garbage_crc_and_other_streams() {
        let mut s = b"garbage OggS garbage".to_vec();
        s.extend(page(FLAG_BOS, 1, 0, &[b"one"]));
        let mut bad = page(0, 1, 1, &[b"two"]);
        bad[30] ^= 0xff; // body damaged: CRC mismatch
        s.extend(bad);
        s.extend(page(FLAG_BOS, 2, 0, &[b"other"]));
        s.extend(page(0, 1, 2, &[b"three"]));
        s.extend(&page(0, 1, 3, &[b"cut off"])[..20]);
        let mut r = OggPackets::new(&s);
        let packets: Vec<Vec<u8>> = r.by_ref().collect();
        assert_eq!(packets, vec![b"one".to_vec(), b"three".to_vec()]);
        let st = r.stats();
        assert_eq!(st.bad_pages, 3);
        assert_eq!(st.other_stream_pages, 1);
        assert_eq!(st.pages, 2);
        assert_eq!(r.serial(), Some(1));
    }

    #[test]
    fn parse_errors() {
        assert!(parse_page(&OGG[..26]).is_err());
        assert!(parse_page(&OGG[..40]).is_err());
        let mut v = OGG.to_vec();
        v[4] = 1;
        assert!(parse_page(&v).is_err());
        assert!(parse_page(b"OggT").is_err());
    }

    #[test]
    fn truncated_and_random_input() {
        for cut in (0..OGG.len()).step_by(41) {
            let n = OggPackets::new(&OGG[..cut]).count();
            assert!(n <= 103);
        }
        let mut rng = peer_testkit::Rng::new(0xdead_beef);
        for len in 0..300usize {
            let mut data = rng.bytes(len);
            if len > 40 {
                data[10..14].copy_from_slice(b"OggS");
            }
            let _ = OggPackets::new(&data).count();
        }
    }

    #[test]
    fn crc_of_known_page() {
        // The fixture's first page passes; recomputing over it gives the stored value.
        let (_, len) = parse_page(OGG).unwrap();
        let mut p = OGG[..len].to_vec();
        let stored = u32::from_le_bytes([p[22], p[23], p[24], p[25]]);
        p[22..26].copy_from_slice(&[0; 4]);
        assert_eq!(crc32(&p), stored);
    }
}
