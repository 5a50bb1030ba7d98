//! cargo-fuzz target `socketio_decoder`: see [`peer_fuzz::socketio_decoder`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::socketio_decoder(data));
