//! The `wsframe` and `hub` fuzz targets' properties (`fuzz/src/*_driver.rs`, included here),
//! run on a few thousand deterministic pseudo-random inputs with every `cargo test`, so they
//! hold between fuzzing campaigns (`cargo xtask fuzz`).

#[path = "../../../fuzz/src/hub_driver.rs"]
mod hub_driver;
#[path = "../../../fuzz/src/wsframe_driver.rs"]
mod wsframe_driver;

use peer_testkit::Rng;

fn inputs(seed: u64, count: usize, max_len: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count).map(move |_| {
        let len = rng.below(max_len);
        rng.bytes(len)
    })
}

#[test]
fn hub_driven_by_random_inputs_keeps_its_invariants() {
    for data in inputs(0x5eed_0001, 3000, 600) {
        hub_driver::hub(&data);
    }
}

#[test]
fn wsframe_decoder_keeps_its_invariants() {
    for data in inputs(0x5eed_0002, 3000, 400) {
        wsframe_driver::wsframe(&data);
    }
    // Valid frames as most of the input, not only noise.
    let mut rng = Rng::new(0x5eed_0003);
    for _ in 0..500 {
        let mut data = vec![rng.next() as u8];
        for _ in 0..rng.below(8) {
            data.push(0x81);
            data.push(0x80 | rng.below(30) as u8);
            data.extend((0..rng.below(40)).map(|_| rng.next() as u8));
        }
        wsframe_driver::wsframe(&data);
    }
}
