//! Test support shared by the workspace's integration tests (a dev-dependency only):
//!
//! - [`server`]: the real `peer-server` process with a temporary configuration.
//! - [`rng`]: a small deterministic PRNG for property and fuzz-smoke tests.
//! - [`metrics`]: scraping a server's `/metrics` and reading its samples.
//! - [`redis`]: a real `redis-server` on a free port.
//! - [`proc`]: what a process holds (RSS, peak RSS, file descriptors, threads), from `/proc`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod metrics;
pub mod proc;
pub mod redis;
pub mod rng;
pub mod server;

pub use proc::ProcStats;
pub use rng::Rng;
pub use server::{cargo_command, server_binary, Launch, ServerProcess};
