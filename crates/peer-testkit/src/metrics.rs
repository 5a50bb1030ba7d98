//! Reading a server's operations listener from tests: a blocking `GET` and the samples of a
//! Prometheus text exposition.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `GET path` on `127.0.0.1:port`: the status and the body, or `None` if the exchange failed.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The value of the sample named `name` (with its labels as exposed, e.g.
/// `peer_rooms{kind="mesh"}`) in an exposition.
pub fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == name).then(|| value.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_samples() {
        let body = "# TYPE peer_rooms gauge\npeer_rooms{kind=\"mesh\"} 3\npeer_tasks 12\n";
        assert_eq!(super::sample(body, "peer_rooms{kind=\"mesh\"}"), Some(3.0));
        assert_eq!(super::sample(body, "peer_tasks"), Some(12.0));
        assert_eq!(super::sample(body, "peer_rooms"), None);
    }
}
