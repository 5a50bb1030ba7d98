//! cargo-fuzz target `sdp_munging`: see [`peer_fuzz::sdp_munging`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::sdp_munging(data));
