//! H.264 Annex-B byte streams (`.h264` files as `ffmpeg -f h264` and `x264` write them): NAL unit
//! splitting on 3- and 4-byte start codes and grouping into access units (pictures). Pure, no
//! I/O, so it can be fuzzed.
//!
//! A new access unit starts, once the current one holds a slice (a VCL NAL unit, type 1 or 5),
//! at a VCL NAL unit whose `first_mb_in_slice` is 0 (the first bit after the NAL header is 1 in
//! its Exp-Golomb code), or at an access unit delimiter (9), SPS (7), PPS (8), SEI (6) or one of
//! the types 14 to 18 (H.264 §7.4.1.2.3). So the SPS and PPS before an IDR picture travel with
//! it.

/// Non-IDR slice.
pub const NAL_SLICE: u8 = 1;
/// IDR slice.
pub const NAL_IDR: u8 = 5;
/// Supplemental enhancement information.
pub const NAL_SEI: u8 = 6;
/// Sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// Picture parameter set.
pub const NAL_PPS: u8 = 8;
/// Access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// One NAL unit, without its start code and trailing zero bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalUnit<'a> {
    /// Offset of the NAL header byte in the stream.
    pub offset: usize,
    /// The NAL unit (header byte first).
    pub data: &'a [u8],
}

impl NalUnit<'_> {
    /// `nal_unit_type` (the low 5 bits of the header).
    pub fn nal_type(&self) -> u8 {
        self.data.first().map_or(0, |h| h & 0x1f)
    }

    /// A coded slice (type 1 or 5).
    pub fn is_vcl(&self) -> bool {
        matches!(self.nal_type(), NAL_SLICE | NAL_IDR)
    }

    /// For a slice: `first_mb_in_slice` is 0, i.e. the slice starts a picture. `false` when the
    /// NAL unit is too short to tell.
    pub fn starts_picture(&self) -> bool {
        self.is_vcl() && self.data.get(1).is_some_and(|b| b & 0x80 != 0)
    }
}

/// The position of the next `00 00 01` at or after `from`.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= data.len() {
        // Skip quickly: a start code needs data[i + 2] == 1 and two zeros before it.
        match data[i + 2] {
            1 if data[i] == 0 && data[i + 1] == 0 => return Some(i),
            0 => i += 1,
            // No start code can begin at i + 1 or i + 2 when data[i + 2] is not 0.
            _ => i += 3,
        }
    }
    None
}

/// Iterates over the NAL units of an Annex-B stream. Bytes before the first start code are
/// skipped ([`NalUnits::leading_garbage`]); empty NAL units (two start codes in a row) are not
/// reported.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    data: &'a [u8],
    /// Offset just after the next start code, or `None` when done.
    next: Option<usize>,
    leading_garbage: usize,
}

/// Splits an Annex-B stream into NAL units.
///
/// ```
/// # use peer_media::source::annexb::nal_units;
/// let stream = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0];
/// let types: Vec<u8> = nal_units(&stream).map(|n| n.nal_type()).collect();
/// assert_eq!(types, [7, 8, 5]);
/// ```
pub fn nal_units(data: &[u8]) -> NalUnits<'_> {
    let first = find_start_code(data, 0);
    NalUnits {
        data,
        next: first.map(|i| i + 3),
        leading_garbage: first.map_or(data.len(), |i| {
            // Zeros belonging to a 4-byte start code (or leading_zero_8bits) are not garbage.
            data[..i].iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)
        }),
    }
}

impl NalUnits<'_> {
    /// How many bytes before the first start code are not zero padding (all of them if there is
    /// no start code).
    pub fn leading_garbage(&self) -> usize {
        self.leading_garbage
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = NalUnit<'a>;

    fn next(&mut self) -> Option<NalUnit<'a>> {
        loop {
            let start = self.next?;
            let end = match find_start_code(self.data, start) {
                Some(sc) => {
                    self.next = Some(sc + 3);
                    sc
                }
                None => {
                    self.next = None;
                    self.data.len()
                }
            };
            let raw = self.data.get(start..end).unwrap_or_default();
            // Trailing zeros are the next 4-byte start code's first byte or trailing_zero_8bits.
            let len = raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            if len > 0 {
                return Some(NalUnit {
                    offset: start,
                    data: &raw[..len],
                });
            }
        }
    }
}

/// One access unit: the NAL units of one picture, with its parameter sets and SEI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit<'a> {
    /// The access unit as an Annex-B byte stream: from the start code of its first NAL unit to
    /// the end of its last (a contiguous part of the input, start codes included), as the
    /// `webrtc` crate's H264 payloader takes it.
    pub data: &'a [u8],
    /// The NAL unit types, in order.
    pub nal_types: Vec<u8>,
}

impl AccessUnit<'_> {
    /// Holds a slice (an access unit without one is trailing parameter sets or SEI).
    pub fn has_picture(&self) -> bool {
        self.nal_types
            .iter()
            .any(|&t| t == NAL_SLICE || t == NAL_IDR)
    }

    /// Holds an IDR slice.
    pub fn is_keyframe(&self) -> bool {
        self.nal_types.contains(&NAL_IDR)
    }
}

/// Groups the NAL units of an Annex-B stream into access units.
#[derive(Debug, Clone)]
pub struct AccessUnits<'a> {
    data: &'a [u8],
    nals: NalUnits<'a>,
    pending: Option<NalUnit<'a>>,
}

/// The access units of an Annex-B stream.
///
/// ```
/// # use peer_media::source::annexb::access_units;
/// let stream = [
///     0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, // SPS PPS IDR
///     0, 0, 1, 0x41, 0x9a, // P slice, first_mb_in_slice 0
///     0, 0, 1, 0x41, 0x1a, // P slice of the same picture (first_mb_in_slice != 0)
/// ];
/// let aus: Vec<_> = access_units(&stream).collect();
/// assert_eq!(aus.len(), 2);
/// assert_eq!(aus[0].nal_types, [7, 8, 5]);
/// assert!(aus[0].is_keyframe());
/// assert_eq!(aus[1].nal_types, [1, 1]);
/// ```
pub fn access_units(data: &[u8]) -> AccessUnits<'_> {
    AccessUnits {
        data,
        nals: nal_units(data),
        pending: None,
    }
}

impl AccessUnits<'_> {
    /// See [`NalUnits::leading_garbage`].
    pub fn leading_garbage(&self) -> usize {
        self.nals.leading_garbage()
    }
}

/// Whether `nal` starts a new access unit after one that already holds a slice.
fn starts_access_unit(nal: &NalUnit<'_>) -> bool {
    match nal.nal_type() {
        NAL_SLICE | NAL_IDR => nal.starts_picture(),
        NAL_SEI | NAL_SPS | NAL_PPS | NAL_AUD | 14..=18 => true,
        _ => false,
    }
}

impl<'a> Iterator for AccessUnits<'a> {
    type Item = AccessUnit<'a>;

    fn next(&mut self) -> Option<AccessUnit<'a>> {
        let first = self.pending.take().or_else(|| self.nals.next())?;
        let mut nal_types = vec![first.nal_type()];
        let mut has_vcl = first.is_vcl();
        let mut end = first.offset + first.data.len();
        for nal in self.nals.by_ref() {
            if has_vcl && starts_access_unit(&nal) {
                self.pending = Some(nal);
                break;
            }
            has_vcl |= nal.is_vcl();
            nal_types.push(nal.nal_type());
            end = nal.offset + nal.data.len();
        }
        // Every NAL unit follows a 3-byte start code.
        let begin = first.offset.saturating_sub(3);
        Some(AccessUnit {
            data: self.data.get(begin..end).unwrap_or_default(),
            nal_types,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H264: &[u8] = include_bytes!("../../tests/fixtures/testsrc.h264");

    #[test]
    fn fixture_has_sixty_pictures() {
        let aus: Vec<_> = access_units(H264).collect();
        assert_eq!(aus.len(), 60);
        assert!(aus.iter().all(|a| a.has_picture()));
        let keys: Vec<usize> = (0..aus.len()).filter(|&i| aus[i].is_keyframe()).collect();
        assert_eq!(keys, vec![0, 30]);
        // SPS and PPS travel with each IDR picture.
        for &k in &keys {
            assert!(aus[k].nal_types.contains(&NAL_SPS));
            assert!(aus[k].nal_types.contains(&NAL_PPS));
        }
        // The units cover the stream: each starts with a start code.
        for au in &aus {
            assert!(au.data.starts_with(&[0, 0, 1]));
        }
        let total: usize = aus.iter().map(|a| a.data.len()).sum();
        assert!(total <= H264.len() && total + 60 * 2 >= H264.len());
    }

    #[test]
    fn start_codes_and_trailing_zeros() {
        let s = [
            9, 9, 0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0, 0, 1, 0x68, 0, 0,
            0,
        ];
        let n = nal_units(&s);
        assert_eq!(n.leading_garbage(), 2);
        let nals: Vec<_> = n.collect();
        assert_eq!(nals.len(), 3);
        assert_eq!(nals[0].data, &[0x09, 0xf0]);
        assert_eq!(nals[0].offset, 6);
        assert_eq!(nals[1].data, &[0x67, 0x42]);
        assert_eq!(nals[2].data, &[0x68]);
        assert_eq!(nal_units(&[0, 0, 0, 1, 0x67]).leading_garbage(), 0);
    }

    #[test]
    fn aud_and_slices() {
        // AUD, IDR slice in two slices, AUD, P slice.
        let s = [
            0, 0, 1, 9, 0x10, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x65, 0x08, 0, 0, 1, 9, 0x30, 0, 0, 1,
            0x41, 0x9a,
        ];
        let aus: Vec<_> = access_units(&s).collect();
        assert_eq!(aus.len(), 2);
        assert_eq!(aus[0].nal_types, [9, 5, 5]);
        assert_eq!(aus[1].nal_types, [9, 1]);
        assert_eq!(aus[1].data, &[0, 0, 1, 9, 0x30, 0, 0, 1, 0x41, 0x9a]);
    }

    #[test]
    fn no_start_code() {
        assert_eq!(access_units(b"hello world").count(), 0);
        assert_eq!(access_units(b"hello world").leading_garbage(), 11);
        assert_eq!(access_units(&[]).count(), 0);
        assert_eq!(access_units(&[0, 0, 1]).count(), 0);
        assert_eq!(access_units(&[0, 0, 1, 0, 0, 1]).count(), 0);
    }

    #[test]
    fn truncated_and_random_input() {
        for cut in (0..H264.len()).step_by(53) {
            let aus: Vec<_> = access_units(&H264[..cut]).collect();
            assert!(aus.len() <= 60);
        }
        let mut rng = peer_testkit::Rng::new(0x2545_f491_4f6c_dd1d);
        for len in 0..400usize {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let x = rng.next();
                    // Many zeros and ones, so start codes are frequent.
                    match x % 5 {
                        0 | 1 => 0,
                        2 => 1,
                        _ => (x >> 8) as u8,
                    }
                })
                .collect();
            for au in access_units(&data) {
                assert!(!au.nal_types.is_empty());
                assert!(au.data.len() <= data.len());
            }
        }
    }
}
