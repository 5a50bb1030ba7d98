//! [`NackBudget`]: how many retransmissions one subscriber's NACKs may ask of one downstream
//! track, as a token bucket.
//!
//! `webrtc` 0.17.2's NACK responder resends every packet a NACK names that is still in its ring,
//! with no limit, and spawns a task per NACK. A subscriber on a bad path (or a hostile one) could
//! then make the server resend its whole ring hundreds of times a second, at the cost of every
//! other member's forwarding. The budget trims each NACK to what is left in the bucket before
//! the responder sees it: whole pairs (a packet id and its 16-bit bitmask of followers) are kept
//! in order while they fit, the rest are refused. Pure: the caller passes the time.

use std::time::{Duration, Instant};

/// One NACK pair as the budget sees it: a packet id and the bitmask of the 16 packets after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackRange {
    /// The first lost packet's sequence number.
    pub packet_id: u16,
    /// Bit `i` set: packet `packet_id + i + 1` is lost too.
    pub lost_packets: u16,
}

impl NackRange {
    /// The packets this pair asks for.
    pub fn packets(&self) -> u32 {
        1 + self.lost_packets.count_ones()
    }
}

/// What [`NackBudget::admit`] decided for one NACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Admitted {
    /// Packets left in the NACK (the responder resends those still in its ring).
    pub granted: u32,
    /// Packets trimmed off.
    pub refused: u32,
}

/// A token bucket of retransmitted packets for one downstream track.
#[derive(Debug, Clone)]
pub struct NackBudget {
    per_second: u32,
    burst: u32,
    tokens: f64,
    last: Option<Instant>,
}

impl NackBudget {
    /// `per_second` packets a second on average, up to `burst` at once. A bucket starts full.
    pub fn new(per_second: u32, burst: u32) -> NackBudget {
        let burst = burst.max(1);
        NackBudget {
            per_second,
            burst,
            tokens: f64::from(burst),
            last: None,
        }
    }

    /// Refills the bucket for the time since the last call.
    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let elapsed = now
                .saturating_duration_since(last)
                .min(Duration::from_secs(60));
            self.tokens = (self.tokens + elapsed.as_secs_f64() * f64::from(self.per_second))
                .min(f64::from(self.burst));
        }
        self.last = Some(now);
    }

    /// Keeps the leading pairs of `ranges` that fit in the bucket, in order, and drops the
    /// rest; returns the counts.
    pub fn admit(&mut self, now: Instant, ranges: &mut Vec<NackRange>) -> Admitted {
        self.refill(now);
        let mut out = Admitted::default();
        let mut full = false;
        ranges.retain(|r| {
            let n = r.packets();
            if !full && f64::from(n) <= self.tokens {
                self.tokens -= f64::from(n);
                out.granted += n;
                true
            } else {
                // Once one pair does not fit, later ones are refused too: the oldest losses
                // come first in a NACK, and resending out of order helps nobody.
                full = true;
                out.refused += n;
                false
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(id: u16, mask: u16) -> NackRange {
        NackRange {
            packet_id: id,
            lost_packets: mask,
        }
    }

    #[test]
    fn a_full_bucket_grants_up_to_its_burst_then_refuses() {
        let t = Instant::now();
        let mut b = NackBudget::new(100, 40);
        // 17 + 17 fit in 40; the third pair (17) does not, nor the small one after it.
        let mut r = vec![
            range(10, 0xffff),
            range(30, 0xffff),
            range(50, 0xffff),
            range(70, 0),
        ];
        let a = b.admit(t, &mut r);
        assert_eq!(
            a,
            Admitted {
                granted: 34,
                refused: 18
            }
        );
        assert_eq!(r, vec![range(10, 0xffff), range(30, 0xffff)]);
        // 6 tokens left at the same instant: a pair of 9 is refused, a single packet is not.
        let mut r = vec![range(90, 0xff)];
        assert_eq!(b.admit(t, &mut r).granted, 0);
        assert!(r.is_empty());
        let mut r = vec![range(90, 0)];
        assert_eq!(b.admit(t, &mut r).granted, 1);
    }

    #[test]
    fn the_bucket_refills_at_its_rate_and_never_past_its_burst() {
        let t = Instant::now();
        let mut b = NackBudget::new(100, 50);
        let mut r = vec![range(0, 0xffff); 3];
        assert_eq!(b.admit(t, &mut r).granted, 34);
        // 100 ms: 10 more tokens (16 + 10 = 26): one pair of 17.
        let mut r = vec![range(0, 0xffff); 3];
        assert_eq!(b.admit(t + Duration::from_millis(100), &mut r).granted, 17);
        // An hour later the bucket holds its burst, not more.
        let mut r = vec![range(0, 0); 80];
        assert_eq!(b.admit(t + Duration::from_secs(3600), &mut r).granted, 50);
    }

    #[test]
    fn a_steady_storm_gets_the_rate_and_no_more() {
        let t = Instant::now();
        let mut b = NackBudget::new(200, 200);
        let mut granted = 0u64;
        let mut refused = 0u64;
        // 10 s of 500 NACKs a second, 17 packets each: 85,000 packets asked for.
        for i in 0..5000u64 {
            let mut r = vec![range(i as u16, 0xffff)];
            let a = b.admit(t + Duration::from_millis(2 * i), &mut r);
            granted += u64::from(a.granted);
            refused += u64::from(a.refused);
        }
        assert_eq!(granted + refused, 85_000);
        // The burst plus 10 s at 200 a second, within one pair.
        assert!((2_000..=2_200 + 17).contains(&granted), "{granted}");
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut b = NackBudget::new(1000, 17);
        let mut r = vec![range(0, 0xffff)];
        assert_eq!(b.admit(t, &mut r).granted, 17);
        let mut r = vec![range(0, 0xffff)];
        assert_eq!(b.admit(t - Duration::from_secs(5), &mut r).granted, 0);
    }
}
