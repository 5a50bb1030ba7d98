//! cargo-fuzz target `wsframe`: see [`peer_fuzz::wsframe`] for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::wsframe(data));
