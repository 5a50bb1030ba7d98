//! cargo-fuzz target `room_data`: see [`peer_fuzz::room_data`] for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::room_data(data));
