//! The MySQL fuzz targets' seed corpora, plus thousands of seeded random mutations of
//! them, through the same entry points the fuzzers use (`mdbd::mysql_wire::fuzzing`), on
//! stable, so `cargo test` covers the front end's decoders. Any panic fails the test.

use mdbd::mysql_wire::fuzzing;
use mdbd::mysql_wire::handshake::HandshakeResponse;
use mdbd_testkit::fuzz::{corpus, mutate};
use rand::SeedableRng;
use std::path::PathBuf;

const MUTATIONS: usize = 4000;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    corpus(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target),
    )
}

fn survives(target: &str, seed: u64, run: fn(&[u8])) {
    let seeds = seeds(target);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for s in &seeds {
        run(s);
    }
    for i in 0..MUTATIONS {
        run(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}

#[test]
fn handshake_decoder_survives_its_corpus_and_mutations() {
    // The seeds are real answers: all but the SSL request (the last) must decode.
    let s = seeds("mysql_handshake");
    let decoded = s
        .iter()
        .filter(|p| HandshakeResponse::parse(p).is_ok())
        .count();
    assert_eq!(decoded, s.len() - 1, "a seed no longer decodes");
    survives("mysql_handshake", 11, fuzzing::handshake_response);
}

#[test]
fn execute_decoder_survives_its_corpus_and_mutations() {
    survives("mysql_execute", 12, fuzzing::stmt_execute);
}

#[test]
fn query_splitter_survives_its_corpus_and_mutations() {
    survives("mysql_query", 13, fuzzing::query_text);
}
