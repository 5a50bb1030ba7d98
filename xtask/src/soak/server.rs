//! The soak's server: its configuration (TURN and `/metrics` on, a short reconnect grace),
//! its ports, and starting it with the bench's process handling ([`crate::bench::server`]).

use super::{GRACE_MS, TURN_SECRET};
use crate::bench::server::{self, Server};
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

/// The soak's running server and its other addresses.
pub struct Started {
    /// The process (public listener on 127.0.0.1, `server.port`).
    pub server: Server,
    /// TURN, UDP and TCP.
    pub turn: SocketAddr,
    /// The operations listener (`/metrics`) on 127.0.0.1.
    pub ops_port: u16,
}

/// Writes the configuration into `out_dir` and starts the release `bin` with it, its output in
/// `out_dir/peer-server.log`.
pub async fn start(bin: &Path, out_dir: &Path) -> Result<Started> {
    let turn_port = free_udp_and_tcp_port()?;
    let ops_port = server::free_port()?;
    let cfg = out_dir.join("peer-server.toml");
    std::fs::write(&cfg, config(turn_port, ops_port))
        .with_context(|| format!("writing {}", cfg.display()))?;
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(&cfg);
    let server = Server::spawn(cmd, out_dir.join("peer-server.log"), |line| {
        line.split_once("peer-server listening on http://127.0.0.1:")
            .and_then(|(_, p)| p.trim().parse().ok())
    })
    .await?;
    Ok(Started {
        server,
        turn: ([127, 0, 0, 1], turn_port).into(),
        ops_port,
    })
}

/// The soak's server configuration: the bench's app, `GET /stats` on, `/metrics` on
/// 127.0.0.1:`ops_port`, a short reconnect grace, the SFU on, and TURN on
/// 127.0.0.1:`turn_port` with a fixed secret, relaying to loopback.
fn config(turn_port: u16, ops_port: u16) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [admin]\nstats = true\n\
         [metrics]\nlisten = \"127.0.0.1:{ops_port}\"\n\
         [[apps]]\nkey = \"{key}\"\nsecret = \"{secret}\"\n\
         [limits]\nmessages_per_second = 1000000\nmessage_burst = 1000000\n\
         [timeouts]\nreconnect_grace_ms = {GRACE_MS}\n\
         [turn]\nlisten = \"127.0.0.1:{turn_port}\"\nsecret = \"{TURN_SECRET}\"\n\
         relay_allow = [\"127.0.0.0/8\"]\n",
        key = server::API_KEY,
        secret = server::SECRET,
    )
}

/// A port on 127.0.0.1 that was free a moment ago for both UDP and TCP (TURN listens on both).
fn free_udp_and_tcp_port() -> Result<u16> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no port free for both UDP and TCP on 127.0.0.1 after 20 tries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_turns_turn_on_with_a_short_grace() {
        let c = config(3479, 9100);
        assert!(c.contains("[metrics]\nlisten = \"127.0.0.1:9100\""));
        assert!(c.contains("reconnect_grace_ms = 2000"));
        assert!(c.contains("listen = \"127.0.0.1:3479\""));
        assert!(c.contains("relay_allow = [\"127.0.0.0/8\"]"));
        assert!(c.contains("stats = true"));
    }
}
