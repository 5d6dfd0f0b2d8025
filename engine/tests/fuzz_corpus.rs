//! The fuzz targets' seed corpora, plus thousands of seeded random mutations of them, run
//! through the same entry points the fuzzers use (`mdbd_engine::fuzzing`), on stable, so
//! `cargo test` covers the decoders. Any panic fails the test.

use arbitrary::{Arbitrary, Unstructured};
use mdbd_engine::fuzzing;
use mdbd_engine::log::frame::reseal;
use mdbd_engine::log::Record;
use mdbd_testkit::fuzz::mutate;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

const MUTATIONS: usize = 4000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    mdbd_testkit::fuzz::corpus(&dir)
}

#[test]
fn frame_decoder_survives_its_corpus_and_mutations() {
    let seeds = corpus("frame_decode");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for seed in &seeds {
        fuzzing::frame_decode(seed);
    }
    for i in 0..MUTATIONS {
        let mut m = mutate(&mut rng, &seeds[i % seeds.len()]);
        // Half the mutants get a valid CRC, so they reach decompression and decoding.
        if i % 2 == 0 {
            reseal(&mut m);
        }
        fuzzing::frame_decode(&m);
    }
}

#[test]
fn record_decoder_survives_its_corpus_and_mutations() {
    let seeds = corpus("record_decode");
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for seed in &seeds {
        assert!(
            mdbd_engine::log::decode_record(seed).is_ok(),
            "a seed no longer decodes: regenerate the corpus"
        );
        fuzzing::record_decode(seed);
    }
    for i in 0..MUTATIONS {
        fuzzing::record_decode(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}

#[test]
fn snapshot_decoder_survives_its_corpus_and_mutations() {
    let seeds = corpus("snapshot_decode");
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    for seed in &seeds {
        fuzzing::snapshot_decode(seed);
    }
    for i in 0..MUTATIONS {
        fuzzing::snapshot_decode(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}

#[test]
fn arbitrary_records_round_trip() {
    let mut inputs = corpus("roundtrip");
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    inputs.extend((0..MUTATIONS).map(|_| (0..rng.gen_range(0..512)).map(|_| rng.gen()).collect()));
    for bytes in &inputs {
        if let Ok(record) = Record::arbitrary(&mut Unstructured::new(bytes)) {
            fuzzing::roundtrip(&record);
        }
    }
}
