//! cargo-fuzz target `credential`: see [`peer_fuzz::credential`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::credential(data));
