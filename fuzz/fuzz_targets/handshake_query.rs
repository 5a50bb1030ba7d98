//! cargo-fuzz target `handshake_query`: see [`peer_fuzz::handshake_query`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::handshake_query(data));
