//! The programs `cargo xtask` drives, kept out of the `peer` crate's examples: `interop-agent`
//! (a Rust Peer driven by JSON lines, for the browser conformance suite), `bench-data` and
//! `bench-media` (the Rust roles of `cargo xtask bench data` and `bench media`, each beside a
//! bare `webrtc` pair). See each binary's module documentation. Not published.
