//! cargo-fuzz target `engineio_payload`: see [`peer_fuzz::engineio_payload`] for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peer_fuzz::engineio_payload(data));
