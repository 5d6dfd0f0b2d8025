//! The `jetstream_message` fuzz target's seed corpus, plus thousands of seeded random
//! mutations of it, through the fuzzer's entry point, on stable. Any panic fails the test.

use mdbd_testkit::fuzz::mutate;
use rand::SeedableRng;
use std::path::PathBuf;

#[test]
fn the_message_and_key_decoders_survive_their_corpus_and_mutations() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/jetstream_message");
    let seeds = mdbd_testkit::fuzz::corpus(&dir);
    assert!(seeds.len() >= 5, "the corpus is missing");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for seed in &seeds {
        mdbd_jetstream::names::fuzz_message(seed);
    }
    for i in 0..20_000 {
        mdbd_jetstream::names::fuzz_message(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}
