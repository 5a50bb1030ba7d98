//! cargo-fuzz target `turn`: see [`peer_fuzz::turn`] for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::turn(data));
