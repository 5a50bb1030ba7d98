//! [`RelayPolicy`]: which peer addresses a TURN allocation may send to.
//!
//! A TURN server on the internet relays for anyone holding a credential, so by default it
//! refuses the ranges that would let a client reach the server's own host or network: loopback,
//! link-local, private, shared (CGNAT), multicast, reserved and unspecified addresses, in IPv4
//! and IPv6 (an IPv4-mapped IPv6 address is judged as its IPv4 address). `relay_allow` ranges in
//! the configuration override the refusal (tests allow `127.0.0.0/8`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address range, `ADDR/PREFIX` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

/// Why a range did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRange(pub String);

impl fmt::Display for BadRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an address range (ADDR/PREFIX, e.g. 10.0.0.0/8, or one address)",
            self.0
        )
    }
}

impl std::error::Error for BadRange {}

impl FromStr for IpRange {
    type Err = BadRange;

    fn from_str(s: &str) -> Result<IpRange, BadRange> {
        let bad = || BadRange(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpRange { net, prefix })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl IpRange {
    /// Whether `ip` lies in the range (an IPv4 range never holds an IPv6 address, and the
    /// other way round).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The ranges refused unless allowed, with what they are.
pub const REFUSED_BY_DEFAULT: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use translation"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

/// A refusal: the address and the default range it fell in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The peer address.
    pub ip: IpAddr,
    /// What the range is ("loopback", "private", ...).
    pub range: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "relaying to {} ({}) is refused; [turn] relay_allow can allow it",
            self.ip, self.range
        )
    }
}

/// The relay policy: the default refusals minus the allowed ranges.
#[derive(Debug, Clone)]
pub struct RelayPolicy {
    refused: Vec<(IpRange, &'static str)>,
    allowed: Vec<IpRange>,
}

impl RelayPolicy {
    /// The default refusals, with `allowed` ranges let through.
    pub fn new(allowed: Vec<IpRange>) -> RelayPolicy {
        let refused = REFUSED_BY_DEFAULT
            .iter()
            .filter_map(|(range, what)| Some((range.parse().ok()?, *what)))
            .collect();
        RelayPolicy { refused, allowed }
    }

    /// Whether an allocation may relay to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = canonical(ip);
        if self.allowed.iter().any(|r| r.contains(ip)) {
            return Ok(());
        }
        match self.refused.iter().find(|(r, _)| r.contains(ip)) {
            Some((_, range)) => Err(Refused { ip, range }),
            None => Ok(()),
        }
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address; others unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match mapped_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn mapped_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    (s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff).then(|| {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let r: IpRange = "10.1.0.0/16".parse().unwrap();
        assert!(r.contains(ip("10.1.255.3")));
        assert!(!r.contains(ip("10.2.0.1")));
        assert!(!r.contains(ip("::1")));
        let one: IpRange = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6: IpRange = "fe80::/10".parse().unwrap();
        assert!(v6.contains(ip("fe80::1")) && !v6.contains(ip("2001:db8::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x/1",
            "10.0.0.0/-1",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "10.0.0.0/8".parse::<IpRange>().unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn special_ranges_are_refused_by_default_and_public_ones_pass() {
        let p = RelayPolicy::new(Vec::new());
        for (addr, what) in [
            ("127.0.0.1", "loopback"),
            ("10.9.9.9", "private"),
            ("172.31.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.100.0.1", "shared address space"),
            ("0.0.0.0", "this network"),
            ("224.0.0.251", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            // IPv4-mapped: judged as IPv4.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
        ] {
            assert_eq!(p.check(ip(addr)).map_err(|r| r.range), Err(what), "{addr}");
        }
        for addr in ["203.0.113.7", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(p.check(ip(addr)).is_ok(), "{addr}");
        }
    }

    #[test]
    fn allowed_ranges_override_the_refusal() {
        let p = RelayPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(p.check(ip("127.0.0.1")).is_ok());
        assert!(p.check(ip("::ffff:127.0.0.2")).is_ok());
        assert!(
            p.check(ip("::1")).is_err(),
            "IPv6 loopback is not in an IPv4 range"
        );
        assert!(p.check(ip("10.0.0.1")).is_err());
        let e = p.check(ip("10.0.0.1")).unwrap_err();
        assert!(e.to_string().contains("relay_allow"));
    }
}
