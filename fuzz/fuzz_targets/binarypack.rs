//! cargo-fuzz target `binarypack`: see [`peer_fuzz::binarypack`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::binarypack(data));
