//! cargo-fuzz target `rtp_media`: see [`peer_fuzz::rtp_media`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::rtp_media(data));
