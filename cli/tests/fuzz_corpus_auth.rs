//! The authentication fuzz targets' seed corpora (`auth_messages`, `pg_startup`), plus
//! thousands of seeded random mutations, through the fuzzers' entry points on stable, so
//! `cargo test` covers every parser of bytes a client sends before it has logged in. Any
//! panic fails the test.

use mdbd::auth::fuzzing::auth_messages;
use mdbd::pg_wire::fuzzing::startup_path;
use mdbd::pg_wire::Opening;
use mdbd_testkit::fuzz::{corpus, mutate};
use rand::SeedableRng;
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name)
}

#[test]
fn auth_parsers_survive_their_corpus_and_mutations() {
    let seeds = corpus(&dir("auth_messages"));
    assert!(seeds.len() >= 6);
    // The seeds are what they say: a real SASLInitialResponse and client-final parse.
    let read = |n: &str| std::fs::read(dir("auth_messages").join(n)).unwrap();
    let initial = read("sasl_initial");
    let m = mdbd::auth::password_message::sasl_initial(&initial[1..]).unwrap();
    assert_eq!(m.mechanism, "SCRAM-SHA-256");
    mdbd::auth::scram::ClientFirst::parse(&m.data).unwrap();
    mdbd::auth::scram::ClientFinal::parse(&read("client_final")[1..]).unwrap();
    mdbd::auth::scram::Verifier::parse(std::str::from_utf8(&read("verifier")[1..]).unwrap())
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    for i in 0..6000 {
        auth_messages(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}

#[test]
fn the_startup_path_survives_its_corpus_and_mutations() {
    let seeds = corpus(&dir("pg_startup"));
    let read = |n: &str| std::fs::read(dir("pg_startup").join(n)).unwrap();
    assert_eq!(
        startup_path(&read("gss_ssl_scram")),
        [
            Opening::GssEncRequest,
            Opening::SslRequest,
            Opening::Startup(31)
        ]
    );
    assert_eq!(startup_path(&read("cancel")), [Opening::Cancel]);
    assert_eq!(
        startup_path(&read("bad_length")),
        [Opening::Invalid(100000)]
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    for i in 0..6000 {
        startup_path(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}
