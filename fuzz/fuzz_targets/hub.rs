//! cargo-fuzz target `hub`: see [`peer_fuzz::hub`] for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::hub(data));
