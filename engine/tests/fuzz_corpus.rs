//! The fuzz targets' seed corpora, plus thousands of seeded random mutations of them, run
//! through the same entry points the fuzzers use (`mdbd_engine::fuzzing`), on stable, so
//! `cargo test` covers the decoders. Any panic fails the test.

use arbitrary::{Arbitrary, Unstructured};
use mdbd_engine::fuzzing;
use mdbd_engine::log::frame::reseal;
use mdbd_engine::log::Record;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

const MUTATIONS: usize = 4000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// A libFuzzer-like mutation: flips, random bytes, interesting integers, cuts, splices.
fn mutate(rng: &mut impl Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        let len = v.len();
        match rng.gen_range(0..6) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = rng.gen();
            }
            2 if len >= 4 => {
                let i = rng.gen_range(0..=len - 4);
                let x: u32 = [0, 1, 0x7fff_ffff, u32::MAX, 0x100_0000][rng.gen_range(0..5)];
                v[i..i + 4].copy_from_slice(&x.to_be_bytes());
            }
            3 if len > 0 => v.truncate(rng.gen_range(0..len)),
            4 => {
                let at = rng.gen_range(0..=len);
                let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
                v.splice(at..at, extra);
            }
            _ if len > 1 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..len);
                let chunk = v[a..=b].to_vec();
                let at = rng.gen_range(0..=v.len());
                v.splice(at..at, chunk);
            }
            _ => {}
        }
    }
    v
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
