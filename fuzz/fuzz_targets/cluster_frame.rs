//! cargo-fuzz target `cluster_frame`: see [`peer_fuzz::cluster_frame`] for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::cluster_frame(data));
