//! cargo-fuzz target `sfu_answer`: see [`peer_fuzz::sfu_answer`] for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::sfu_answer(data));
