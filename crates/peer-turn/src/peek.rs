//! What the server checks in a client's STUN message before `turn`'s request handling sees it:
//! its method and class, its USERNAME, and every XOR-PEER-ADDRESS (the crate installs only the
//! first of several). And the error response the server sends itself (403 for a refused peer,
//! 486 past a quota). Pure and bounded: the parser reads a datagram once and allocates only
//! for what it returns.

use crate::framing::MAGIC_COOKIE;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// STUN methods the server looks at.
pub mod method {
    /// Allocate.
    pub const ALLOCATE: u16 = 0x003;
    /// Refresh.
    pub const REFRESH: u16 = 0x004;
    /// Send (indication).
    pub const SEND: u16 = 0x006;
    /// CreatePermission.
    pub const CREATE_PERMISSION: u16 = 0x008;
    /// ChannelBind.
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// STUN message classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A request.
    Request,
    /// An indication.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

const ATTR_USERNAME: u16 = 0x0006;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_XOR_PEER_ADDRESS: u16 = 0x0012;
const ATTR_SOFTWARE: u16 = 0x8022;

/// What a STUN message says, as far as the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    /// The method (12 bits).
    pub method: u16,
    /// The class.
    pub class: Class,
    /// The transaction id.
    pub transaction: [u8; 12],
    /// USERNAME, when present and UTF-8.
    pub username: Option<String>,
    /// Every XOR-PEER-ADDRESS, decoded.
    pub peers: Vec<SocketAddr>,
}

/// Reads a STUN message's header and the attributes above; `None` if it is not a well-formed
/// STUN message (the caller then lets `turn` answer or drop it as before).
pub fn peek(msg: &[u8]) -> Option<Peeked> {
    if msg.len() < 20 || msg[0] >> 6 != 0 {
        return None;
    }
    let typ = u16::from_be_bytes([msg[0], msg[1]]);
    let len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    if u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]) != MAGIC_COOKIE || msg.len() < 20 + len
    {
        return None;
    }
    let mut transaction = [0u8; 12];
    transaction.copy_from_slice(&msg[8..20]);
    let method = (typ & 0x000f) | ((typ & 0x00e0) >> 1) | ((typ & 0x3e00) >> 2);
    let class = match ((typ >> 4) & 1) | ((typ >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    let mut out = Peeked {
        method,
        class,
        transaction,
        username: None,
        peers: Vec::new(),
    };
    let mut attrs = &msg[20..20 + len];
    while attrs.len() >= 4 {
        let t = u16::from_be_bytes([attrs[0], attrs[1]]);
        let l = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + l)?;
        match t {
            ATTR_USERNAME if out.username.is_none() => {
                out.username = std::str::from_utf8(value).ok().map(str::to_owned);
            }
            ATTR_XOR_PEER_ADDRESS => out.peers.push(xor_address(value, &transaction)?),
            _ => {}
        }
        let padded = (4 + l).next_multiple_of(4);
        attrs = attrs.get(padded..).unwrap_or(&[]);
    }
    Some(out)
}

/// Decodes an XOR-*-ADDRESS value (RFC 5389 §15.2).
fn xor_address(v: &[u8], transaction: &[u8; 12]) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match v[1] {
        0x01 => {
            let a: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            let mut o = [0u8; 4];
            for i in 0..4 {
                o[i] = a[i] ^ cookie[i];
            }
            IpAddr::V4(Ipv4Addr::from(o))
        }
        0x02 => {
            let a: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&cookie);
            key[4..].copy_from_slice(transaction);
            let mut o = [0u8; 16];
            for i in 0..16 {
                o[i] = a[i] ^ key[i];
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// An error response to `request` with `code` and `reason` (and SOFTWARE), without
/// MESSAGE-INTEGRITY: the refusal is the same whoever asks.
pub fn error_response(request: &Peeked, code: u16, reason: &str) -> Vec<u8> {
    let m = request.method;
    // Class "error response" (0b11): bits 4 and 8.
    let typ = (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | 0x0110;
    let mut attrs = Vec::new();
    let mut attr = |t: u16, value: &[u8]| {
        attrs.extend_from_slice(&t.to_be_bytes());
        attrs.extend_from_slice(&(value.len() as u16).to_be_bytes());
        attrs.extend_from_slice(value);
        attrs.resize(attrs.len().next_multiple_of(4), 0);
    };
    let mut ec = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
    ec.extend_from_slice(reason.as_bytes());
    attr(ATTR_ERROR_CODE, &ec);
    attr(ATTR_SOFTWARE, b"peer-server");
    let mut out = Vec::with_capacity(20 + attrs.len());
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&request.transaction);
    out.extend_from_slice(&attrs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request of `method` with a USERNAME and XOR-PEER-ADDRESSes.
    fn request(method: u16, class_bits: u16, user: &str, peers: &[SocketAddr]) -> Vec<u8> {
        let t = [9u8; 12];
        let mut attrs = Vec::new();
        let mut attr = |typ: u16, v: &[u8]| {
            attrs.extend_from_slice(&typ.to_be_bytes());
            attrs.extend_from_slice(&(v.len() as u16).to_be_bytes());
            attrs.extend_from_slice(v);
            attrs.resize(attrs.len().next_multiple_of(4), 0);
        };
        attr(ATTR_USERNAME, user.as_bytes());
        for p in peers {
            let mut v = vec![0];
            let port = p.port() ^ (MAGIC_COOKIE >> 16) as u16;
            match p.ip() {
                IpAddr::V4(ip) => {
                    v.push(1);
                    v.extend_from_slice(&port.to_be_bytes());
                    let c = MAGIC_COOKIE.to_be_bytes();
                    v.extend(ip.octets().iter().zip(c).map(|(a, b)| a ^ b));
                }
                IpAddr::V6(ip) => {
                    v.push(2);
                    v.extend_from_slice(&port.to_be_bytes());
                    let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
                    key.extend_from_slice(&t);
                    v.extend(ip.octets().iter().zip(key).map(|(a, b)| a ^ b));
                }
            }
            attr(ATTR_XOR_PEER_ADDRESS, &v);
        }
        let typ =
            (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | class_bits;
        let mut m = typ.to_be_bytes().to_vec();
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&t);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn methods_users_and_every_peer_address_are_read() {
        let peers: Vec<SocketAddr> = vec![
            "127.0.0.1:5000".parse().unwrap(),
            "203.0.113.9:40000".parse().unwrap(),
            "[fe80::1]:9".parse().unwrap(),
        ];
        let m = request(method::CREATE_PERMISSION, 0, "100:k$alice", &peers);
        let p = peek(&m).expect("STUN");
        assert_eq!(p.method, method::CREATE_PERMISSION);
        assert_eq!(p.class, Class::Request);
        assert_eq!(p.username.as_deref(), Some("100:k$alice"));
        assert_eq!(p.peers, peers);
        // A Send indication (class bits 0x0010).
        let s = request(method::SEND, 0x0010, "u", &peers[..1]);
        let p = peek(&s).unwrap();
        assert_eq!((p.method, p.class), (method::SEND, Class::Indication));
        // Allocate request type is 0x0003.
        assert_eq!(&request(method::ALLOCATE, 0, "u", &[])[..2], &[0x00, 0x03]);
    }

    #[test]
    fn error_responses_answer_the_request() {
        let m = request(method::ALLOCATE, 0, "u", &[]);
        let p = peek(&m).unwrap();
        let e = error_response(&p, 486, "Allocation Quota Reached");
        // 0x0113: Allocate error response.
        assert_eq!(&e[..2], &[0x01, 0x13]);
        let back = peek(&e).unwrap();
        assert_eq!((back.method, back.class), (method::ALLOCATE, Class::Error));
        assert_eq!(back.transaction, p.transaction);
        let e = error_response(
            &peek(&request(method::CREATE_PERMISSION, 0, "u", &[])).unwrap(),
            403,
            "Forbidden",
        );
        assert_eq!(&e[..2], &[0x01, 0x18]);
        // ERROR-CODE 403: class 4, number 3.
        assert_eq!(&e[24..28], &[0, 0, 4, 3]);
    }

    #[test]
    fn what_is_not_stun_is_none_and_nothing_panics() {
        assert_eq!(peek(b""), None);
        assert_eq!(peek(&[0x40, 0, 0, 4, 1, 2, 3, 4]), None);
        let mut m = request(method::ALLOCATE, 0, "u", &[]);
        m[4] = 0; // no cookie
        assert_eq!(peek(&m), None);
        let mut m = request(method::ALLOCATE, 0, "u", &["1.2.3.4:5".parse().unwrap()]);
        let n = m.len();
        m.truncate(n - 3); // cut inside an attribute, length field unchanged
        assert_eq!(peek(&m), None);
        // Every prefix and a bit flip at every byte: no panic.
        let m = request(
            method::CHANNEL_BIND,
            0,
            "user",
            &["[::1]:7".parse().unwrap()],
        );
        for i in 0..m.len() {
            let _ = peek(&m[..i]);
            let mut f = m.clone();
            f[i] ^= 0xff;
            let _ = peek(&f);
        }
    }
}
