//! Janus, the SFU bench's real-world anchor: Debian's `janus` package with only its HTTP
//! transport (on the namespace's 127.0.0.1) and its VideoRoom plugin, configured in
//! `target/bench/janus-conf` for each run, inside a network namespace of its own.

use super::server::{free_port, Server};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// Debian's Janus binary.
pub const JANUS: &str = "/usr/bin/janus";

/// Where Janus's plugins and transports are (Debian, amd64 and arm64).
fn lib_dir() -> &'static str {
    if Path::new("/usr/lib/aarch64-linux-gnu/janus").exists() {
        "/usr/lib/aarch64-linux-gnu/janus"
    } else {
        "/usr/lib/x86_64-linux-gnu/janus"
    }
}

/// The network namespace Janus and its load run in: libnice never offers loopback candidates,
/// and the bench's servers stay off the machine's real interfaces, so the namespace gets a
/// veth pair, one end with [`MEDIA_IP`] (traffic to it is delivered locally, as on loopback).
pub const NETNS: &str = "peer-bench-janus";

/// Janus's and its load peers' media address, inside [`NETNS`].
pub const MEDIA_IP: &str = "10.99.0.1";

/// The namespace, removed on drop.
pub struct Netns;

impl Netns {
    /// Creates [`NETNS`] (replacing a leftover one) with loopback and the veth pair up.
    pub fn create() -> Result<Netns> {
        let _ = Command::new("ip").args(["netns", "del", NETNS]).status();
        let ns = Netns;
        let ip = |args: &[&str]| -> Result<()> {
            let status = Command::new("ip")
                .args(args)
                .status()
                .with_context(|| format!("running ip {}", args.join(" ")))?;
            if !status.success() {
                anyhow::bail!(
                    "ip {} failed: {status} (Janus's namespace needs root)",
                    args.join(" ")
                );
            }
            Ok(())
        };
        ip(&["netns", "add", NETNS])?;
        ip(&["-n", NETNS, "link", "set", "lo", "up"])?;
        let link = "link add jb0 type veth peer name jb1";
        ip(&[&["-n", NETNS][..], &link.split(' ').collect::<Vec<_>>()].concat())?;
        ip(&[
            "-n",
            NETNS,
            "addr",
            "add",
            &format!("{MEDIA_IP}/24"),
            "dev",
            "jb0",
        ])?;
        ip(&["-n", NETNS, "link", "set", "jb0", "up"])?;
        ip(&["-n", NETNS, "link", "set", "jb1", "up"])?;
        Ok(ns)
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", NETNS]).arg(program);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", NETNS]).status();
    }
}

/// Writes the configuration and starts Janus; its log is `out_dir/janus.log`.
pub async fn start(out_dir: &Path, ns: &Netns) -> Result<Server> {
    let conf = out_dir.join("janus-conf");
    std::fs::create_dir_all(&conf)?;
    let port = free_port()?;
    let lib = lib_dir();
    // libnice gathers on this interface only: the namespace's veth end with MEDIA_IP.
    let interface = "jb0";
    let files = [
        (
            "janus.jcfg",
            format!(
                "general: {{\n  configs_folder = \"{conf}\"\n  plugins_folder = \"{lib}/plugins\"\n  \
                 transports_folder = \"{lib}/transports\"\n  events_folder = \"{lib}/events\"\n  \
                 loggers_folder = \"{lib}/loggers\"\n  log_to_stdout = true\n  debug_level = 4\n  \
                 debug_colors = false\n  session_timeout = 60\n}}\n\
                 media: {{\n  ipv6 = false\n  rtp_port_range = \"20000-40000\"\n}}\n\
                 nat: {{\n  full_trickle = false\n  ice_enforce_list = \"{interface}\"\n  ignore_mdns = true\n}}\n\
                 plugins: {{\n  disable = \"libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,\
                 libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,\
                 libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so\"\n}}\n\
                 transports: {{\n  disable = \"libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,\
                 libjanus_rabbitmq.so,libjanus_websockets.so\"\n}}\n\
                 loggers: {{\n  disable = \"libjanus_jsonlog.so\"\n}}\n\
                 events: {{\n  broadcast = false\n}}\n",
                conf = conf.display()
            ),
        ),
        (
            "janus.transport.http.jcfg",
            format!(
                "general: {{\n  json = \"compact\"\n  base_path = \"/janus\"\n  http = true\n  \
                 port = {port}\n  ip = \"127.0.0.1\"\n  https = false\n}}\n\
                 admin: {{\n  admin_http = false\n  admin_https = false\n}}\n"
            ),
        ),
        (
            "janus.plugin.videoroom.jcfg",
            "general: {\n  events = false\n}\n".to_owned(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(conf.join(name), text)?;
    }
    let mut cmd = ns.command(Path::new(JANUS));
    cmd.arg("-F")
        .arg(&conf)
        .arg("-C")
        .arg(conf.join("janus.jcfg"))
        .args(["-o", "-d", "4"]);
    Server::spawn(cmd, out_dir.join("janus.log"), move |line| {
        line.contains("HTTP webserver started").then_some(port)
    })
    .await
}
