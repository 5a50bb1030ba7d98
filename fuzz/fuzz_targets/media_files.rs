//! cargo-fuzz target `media_files`: see [`peer_fuzz::media_files`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::media_files(data));
