//! Command-line parsing by hand: the subcommands, their flags and the `--help` texts.
//!
//! Flags take their value as the next argument (`--port 9001`) or after `=` (`--port=9001`).
//! Common flags may come before or after the subcommand; subcommand flags only after it.
//! `--` ends the flags, so a file named `-x` can be sent with `send bob -- -x`.

use peer::Serialization;
use std::fmt;
use std::path::PathBuf;

/// The development API key of `peer-server` when it runs without a configuration file.
pub const DEV_KEY: &str = "peerdev0-0000-0000-0000-000000000000";

/// Options every subcommand shares: where the server is and who this peer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// Signaling server host (`--host`).
    pub host: String,
    /// Signaling server port (`--port`).
    pub port: u16,
    /// API key (`--key`).
    pub key: String,
    /// Own peer id (`--id`); the server assigns one when `None`.
    pub id: Option<String>,
    /// `wss`/`https` instead of `ws`/`http` (`--secure`).
    pub secure: bool,
    /// Log level 0-3 (`--debug`).
    pub debug: u8,
    /// Gather loopback ICE candidates too (`--loopback`), for peers on the same machine.
    pub loopback: bool,
}

impl Default for Common {
    fn default() -> Common {
        Common {
            host: "127.0.0.1".into(),
            port: 9000,
            key: DEV_KEY.into(),
            id: None,
            secure: false,
            debug: 0,
            loopback: false,
        }
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Line-based chat with one peer.
    Chat {
        /// The peer to connect to; `None` with `--listen`.
        remote: Option<String>,
        /// The framing used when connecting.
        serialization: Serialization,
    },
    /// Send one file.
    Send {
        /// The receiving peer.
        remote: String,
        /// The file to send.
        file: PathBuf,
        /// `binary` or `binary-utf8`.
        serialization: Serialization,
    },
    /// Receive files.
    Receive {
        /// The directory files are written to.
        out: PathBuf,
        /// Exit after the first transfer.
        once: bool,
    },
    /// Print the open peers of the API key.
    List,
    /// Echo every message of every incoming connection.
    Echo,
}

/// A complete, valid command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The shared options.
    pub common: Common,
    /// The subcommand and its options.
    pub command: Command,
}

/// The outcome of parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run this.
    Run(Invocation),
    /// Print this help text on stdout and exit 0.
    Help(String),
    /// Print the version and exit 0.
    Version,
}

/// The subcommand names, for help texts and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// `chat`
    Chat,
    /// `send`
    Send,
    /// `receive`
    Receive,
    /// `list`
    List,
    /// `echo`
    Echo,
}

impl Name {
    fn parse(s: &str) -> Option<Name> {
        Some(match s {
            "chat" => Name::Chat,
            "send" => Name::Send,
            "receive" | "recv" => Name::Receive,
            "list" | "ls" => Name::List,
            "echo" => Name::Echo,
            _ => return None,
        })
    }

    /// The one-line usage of the subcommand.
    pub fn usage(self) -> &'static str {
        match self {
            Name::Chat => "usage: peer-cli chat <remote-id> [--serialization S] [options]\n       peer-cli chat --listen [options]",
            Name::Send => "usage: peer-cli send <remote-id> <file> [--serialization binary|binary-utf8] [options]",
            Name::Receive => "usage: peer-cli receive [--out DIR] [--once] [options]",
            Name::List => "usage: peer-cli list [options]",
            Name::Echo => "usage: peer-cli echo [options]",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Name::Chat => "chat",
            Name::Send => "send",
            Name::Receive => "receive",
            Name::List => "list",
            Name::Echo => "echo",
        }
    }

    fn help(self) -> String {
        let body = match self {
            Name::Chat => CHAT_HELP,
            Name::Send => SEND_HELP,
            Name::Receive => RECEIVE_HELP,
            Name::List => LIST_HELP,
            Name::Echo => ECHO_HELP,
        };
        format!("{}\n\n{body}\n{COMMON_HELP}", self.usage())
    }
}

/// A command line that cannot be run; exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What is wrong.
    pub message: String,
    /// The subcommand it concerns, if known.
    pub command: Option<Name>,
}

impl UsageError {
    fn new(message: impl Into<String>, command: Option<Name>) -> UsageError {
        UsageError {
            message: message.into(),
            command,
        }
    }

    /// The usage line and a pointer to `--help`, printed after the message.
    pub fn hint(&self) -> String {
        match self.command {
            Some(c) => format!(
                "{}\nRun 'peer-cli {} --help' for more.",
                c.usage(),
                c.as_str()
            ),
            None => format!("{TOP_USAGE}\nRun 'peer-cli --help' for more."),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

const TOP_USAGE: &str = "usage: peer-cli <chat|send|receive|list|echo> [options]";

const TOP_HELP: &str = "\
A command-line SkyWay peer for peer-server (skyway-js@4.4.5 compatible).

Subcommands:
  chat <remote-id>       line-based chat with a peer
  chat --listen          wait for a peer to chat with
  send <remote-id> <file>
                         send a file to a peer running 'receive'
  receive                receive files into a directory
  list                   print the open peers of the API key
  echo                   echo back every message of every connection

Run 'peer-cli <subcommand> --help' for the subcommand's options.

Examples (with 'cargo run -p peer-server' on this machine):
  peer-cli receive --id inbox --loopback --out ~/Downloads
  peer-cli send inbox report.pdf --loopback
  peer-cli chat --listen --id bob --loopback
  peer-cli chat bob --loopback
";

const COMMON_HELP: &str = "\
Common options:
  --host HOST            signaling server host [default: 127.0.0.1]
  --port PORT            signaling server port [default: 9000]
  --key KEY              API key [default: peerdev0-0000-0000-0000-000000000000,
                         peer-server's development key]
  --id ID                own peer id [default: assigned by the server]
  --secure               use wss:// and https:// (TLS)
  --debug 0-3            log level on stderr: 0 none, 1 error, 2 warn, 3 debug [default: 0]
  --loopback             also use loopback addresses for WebRTC (peers on one machine)
  -h, --help             print this help

Exit codes: 0 success, 1 runtime failure, 2 usage error.
";

const CHAT_HELP: &str = "\
Line-based chat. Every line typed on stdin is sent as text; what arrives is printed
on stdout as '<remote-id>: <line>' (JSON values as JSON, bytes as '<N bytes>').
Status lines go to stderr. Ctrl-D (end of stdin) closes the connection; when the
other side closes, peer-cli says so and exits 0.

With --listen, peer-cli waits for the first incoming connection and chats with it;
later connections are refused.

Options:
  --listen               wait for a connection instead of connecting
  --serialization S      binary, binary-utf8, json or none [default: binary]

Examples:
  peer-cli chat --listen --id bob --loopback
  peer-cli chat bob --loopback
  echo 'hello' | peer-cli chat bob
";

const SEND_HELP: &str = "\
Sends one file to a peer running 'peer-cli receive' (or a browser speaking the same
protocol). Progress is shown on stderr when it is a terminal.

Options:
  --serialization S      binary or binary-utf8 [default: binary]

Protocol:
  1. connect with metadata {\"file\": {\"name\": \"<basename>\", \"size\": N}}
  2. send the file as bytes in pieces of 1 MiB
  3. send the JSON {\"done\": true, \"size\": N}
  4. wait for the receiver's reply {\"received\": N} (or {\"error\": \"...\"}), then close

A skyway-js page can send to 'peer-cli receive' the same way:
  const conn = peer.connect(id, {metadata: {file: {name: f.name, size: f.size}}});
  conn.on('open', async () => { conn.send(await f.arrayBuffer());
                                conn.send({done: true, size: f.size}); });

Example:
  peer-cli send inbox ./report.pdf --loopback
";

const RECEIVE_HELP: &str = "\
Receives files sent with 'peer-cli send' (see 'peer-cli send --help' for the
protocol). Each file is written to DIR under the sender's base name, stripped of
any directory part; '..', empty and dot-only names are refused, and an
existing file is never overwritten ('name (1).ext' is used instead). The size is
verified before the file is kept and the sender is answered {\"received\": N}.
Transfers are handled one at a time; the saved path is printed on stdout.

Options:
  --out DIR              directory to write to [default: .]
  --once                 exit after the first transfer (exit 1 if it failed)

Example:
  peer-cli receive --id inbox --out ~/Downloads --loopback
";

const LIST_HELP: &str = "\
Prints the open peers of the API key, one per line (without this command's own
temporary peer). Fails with 'list-error' when the server's REST API is disabled
for the key (rest_api = false in the server configuration).

Example:
  peer-cli list --host signaling.example.com --port 443 --secure --key KEY
";

const ECHO_HELP: &str = "\
Accepts every incoming connection and sends every message back as it came. Prints
one line per connection and per close. Runs until interrupted (Ctrl-C).

Example:
  peer-cli echo --id echo --loopback
  peer-cli chat echo --loopback
";

/// Parses the arguments after the program name.
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Parsed, UsageError> {
    let mut common = Common::default();
    let mut name: Option<Name> = None;
    let mut positionals: Vec<String> = Vec::new();
    let mut listen = false;
    let mut once = false;
    let mut out: Option<PathBuf> = None;
    let mut serialization: Option<String> = None;
    let mut flags_done = false;

    let mut it = args.iter().map(AsRef::as_ref);
    while let Some(arg) = it.next() {
        if flags_done || !arg.starts_with('-') || arg == "-" {
            match name {
                None if !flags_done => match Name::parse(arg) {
                    Some(n) => name = Some(n),
                    None if arg == "help" => return Ok(Parsed::Help(top_help())),
                    None => {
                        return Err(UsageError::new(format!("unknown subcommand '{arg}'"), None))
                    }
                },
                _ => positionals.push(arg.to_owned()),
            }
            continue;
        }
        if arg == "--" {
            flags_done = true;
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            match inline.clone().or_else(|| it.next().map(str::to_owned)) {
                Some(v) => Ok(v),
                None => Err(UsageError::new(format!("{flag} needs {what}"), name)),
            }
        };
        let switch = |inline: &Option<String>| -> Result<(), UsageError> {
            match inline {
                Some(_) => Err(UsageError::new(format!("{flag} takes no value"), name)),
                None => Ok(()),
            }
        };
        match flag {
            "-h" | "--help" => {
                return Ok(Parsed::Help(match name {
                    Some(n) => n.help(),
                    None => top_help(),
                }))
            }
            "-V" | "--version" if name.is_none() => return Ok(Parsed::Version),
            "--host" => {
                let v = value("a host name")?;
                if v.is_empty() {
                    return Err(UsageError::new("--host must not be empty", name));
                }
                common.host = v;
            }
            "--port" => {
                let v = value("a port number")?;
                common.port = match v.parse::<u16>() {
                    Ok(p) if p > 0 => p,
                    _ => {
                        return Err(UsageError::new(
                            format!("--port: '{v}' is not a port number (1-65535)"),
                            name,
                        ))
                    }
                };
            }
            "--key" => common.key = value("an API key")?,
            "--id" => {
                let v = value("a peer id")?;
                if v.is_empty() {
                    return Err(UsageError::new("--id must not be empty", name));
                }
                common.id = Some(v);
            }
            "--secure" => {
                switch(&inline)?;
                common.secure = true;
            }
            "--loopback" => {
                switch(&inline)?;
                common.loopback = true;
            }
            "--debug" => {
                let v = value("a level 0-3")?;
                common.debug = match v.parse::<u8>() {
                    Ok(d) if d <= 3 => d,
                    _ => {
                        return Err(UsageError::new(
                            format!("--debug: '{v}' is not a level 0-3"),
                            name,
                        ))
                    }
                };
            }
            "--listen" if name == Some(Name::Chat) => {
                switch(&inline)?;
                listen = true;
            }
            "--serialization" if matches!(name, Some(Name::Chat | Name::Send)) => {
                serialization = Some(value("a serialization")?);
            }
            "--out" | "-o" if name == Some(Name::Receive) => {
                let v = value("a directory")?;
                if v.is_empty() {
                    return Err(UsageError::new("--out must not be empty", name));
                }
                out = Some(PathBuf::from(v));
            }
            "--once" if name == Some(Name::Receive) => {
                switch(&inline)?;
                once = true;
            }
            _ => {
                let what = match name {
                    Some(n) => format!("unknown option '{flag}' for '{}'", n.as_str()),
                    None => format!("unknown option '{flag}'"),
                };
                return Err(UsageError::new(what, name));
            }
        }
    }

    let Some(name) = name else {
        return Err(UsageError::new("no subcommand given", None));
    };
    let err = |m: String| UsageError::new(m, Some(name));
    let extra = |n: usize, positionals: &[String]| -> Result<(), UsageError> {
        match positionals.get(n) {
            Some(p) => Err(err(format!("unexpected argument '{p}'"))),
            None => Ok(()),
        }
    };
    let command = match name {
        Name::Chat => {
            let serialization = match serialization {
                None => Serialization::Binary,
                Some(s) => s.parse().map_err(|_| {
                    err(format!(
                        "--serialization: '{s}' is not one of binary, binary-utf8, json, none"
                    ))
                })?,
            };
            let remote = match (listen, positionals.first()) {
                (true, Some(r)) => {
                    return Err(err(format!(
                        "give either a remote id ('{r}') or --listen, not both"
                    )))
                }
                (true, None) => None,
                (false, Some(r)) => Some(r.clone()),
                (false, None) => return Err(err("missing <remote-id> (or --listen)".into())),
            };
            extra(1, &positionals)?;
            Command::Chat {
                remote,
                serialization,
            }
        }
        Name::Send => {
            let serialization = match serialization.as_deref() {
                None | Some("binary") => Serialization::Binary,
                Some("binary-utf8") => Serialization::BinaryUtf8,
                Some(s) => {
                    return Err(err(format!(
                        "--serialization: '{s}' cannot carry files; use binary or binary-utf8"
                    )))
                }
            };
            let (Some(remote), Some(file)) = (positionals.first(), positionals.get(1)) else {
                return Err(err(match positionals.len() {
                    0 => "missing <remote-id> and <file>".into(),
                    _ => "missing <file>".into(),
                }));
            };
            extra(2, &positionals)?;
            Command::Send {
                remote: remote.clone(),
                file: PathBuf::from(file),
                serialization,
            }
        }
        Name::Receive => {
            extra(0, &positionals)?;
            Command::Receive {
                out: out.unwrap_or_else(|| PathBuf::from(".")),
                once,
            }
        }
        Name::List => {
            extra(0, &positionals)?;
            Command::List
        }
        Name::Echo => {
            extra(0, &positionals)?;
            Command::Echo
        }
    };
    Ok(Parsed::Run(Invocation { common, command }))
}

fn top_help() -> String {
    format!("{TOP_USAGE}\n\n{TOP_HELP}\n{COMMON_HELP}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Invocation {
        match parse(args) {
            Ok(Parsed::Run(inv)) => inv,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> UsageError {
        match parse(args) {
            Err(e) => e,
            other => panic!("{args:?} should fail: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let inv = run(&["list"]);
        assert_eq!(inv.common, Common::default());
        assert_eq!(inv.common.key, DEV_KEY);
        assert_eq!(inv.command, Command::List);
    }

    #[test]
    fn common_flags_before_and_after_the_subcommand() {
        let inv = run(&[
            "--host",
            "example.org",
            "send",
            "bob",
            "f.bin",
            "--port=443",
            "--secure",
            "--id",
            "alice",
            "--debug",
            "3",
            "--loopback",
            "--key",
            "k",
        ]);
        assert_eq!(
            inv.common,
            Common {
                host: "example.org".into(),
                port: 443,
                key: "k".into(),
                id: Some("alice".into()),
                secure: true,
                debug: 3,
                loopback: true,
            }
        );
        assert_eq!(
            inv.command,
            Command::Send {
                remote: "bob".into(),
                file: "f.bin".into(),
                serialization: Serialization::Binary
            }
        );
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            run(&["chat", "bob", "--serialization", "json"]).command,
            Command::Chat {
                remote: Some("bob".into()),
                serialization: Serialization::Json
            }
        );
        assert_eq!(
            run(&["chat", "--listen"]).command,
            Command::Chat {
                remote: None,
                serialization: Serialization::Binary
            }
        );
        assert_eq!(
            run(&["receive", "--out", "/tmp/x", "--once"]).command,
            Command::Receive {
                out: "/tmp/x".into(),
                once: true
            }
        );
        assert_eq!(
            run(&["receive"]).command,
            Command::Receive {
                out: ".".into(),
                once: false
            }
        );
        assert_eq!(run(&["echo"]).command, Command::Echo);
        assert_eq!(
            run(&[
                "send",
                "bob",
                "--serialization=binary-utf8",
                "--",
                "-odd name"
            ])
            .command,
            Command::Send {
                remote: "bob".into(),
                file: "-odd name".into(),
                serialization: Serialization::BinaryUtf8
            }
        );
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help(h)) if h.contains("Subcommands")));
        assert!(matches!(parse(&["help"]), Ok(Parsed::Help(_))));
        assert!(
            matches!(parse(&["send", "-h"]), Ok(Parsed::Help(h)) if h.contains("{\"done\": true"))
        );
        assert!(
            matches!(parse(&["receive", "--help"]), Ok(Parsed::Help(h)) if h.contains("--once"))
        );
        assert_eq!(parse(&["--version"]), Ok(Parsed::Version));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(usage_error(&[]).message, "no subcommand given");
        assert_eq!(usage_error(&["frob"]).command, None);
        let e = usage_error(&["send", "bob", "f", "--frob"]);
        assert_eq!(e.command, Some(Name::Send));
        assert!(e.message.contains("--frob"), "{e}");
        assert!(e.hint().contains("peer-cli send --help"));
        usage_error(&["send", "bob"]);
        usage_error(&["send", "bob", "f", "extra"]);
        usage_error(&["send", "bob", "f", "--serialization", "json"]);
        usage_error(&["chat"]);
        usage_error(&["chat", "bob", "--listen"]);
        usage_error(&["chat", "bob", "--serialization", "msgpack"]);
        usage_error(&["list", "--port", "70000"]);
        usage_error(&["list", "--port", "0"]);
        usage_error(&["list", "--debug", "4"]);
        usage_error(&["list", "--port"]);
        usage_error(&["list", "--secure=yes"]);
        usage_error(&["list", "--once"]);
        usage_error(&["echo", "extra"]);
        usage_error(&["--listen", "chat"]);
    }
}
