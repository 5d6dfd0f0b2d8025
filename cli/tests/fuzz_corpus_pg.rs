//! The PostgreSQL framing fuzz target's seed corpus, plus thousands of seeded random
//! mutations of it, through the fuzzer's entry point (`mdbd::pg_wire::fuzzing`), on stable,
//! so `cargo test` covers the decoder. Any panic fails the test.

use mdbd::pg_wire::fuzzing::frontend_messages;
use mdbd_testkit::fuzz::{corpus, mutate};
use rand::SeedableRng;
use std::path::PathBuf;

#[test]
fn frontend_framing_survives_its_corpus_and_mutations() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pg_frontend");
    let seeds = corpus(&dir);
    // The seeds are real streams: each decodes into the messages it was made of.
    let name = |n: &str| std::fs::read(dir.join(n)).unwrap();
    assert_eq!(
        frontend_messages(&name("simple")),
        3,
        "startup, query, terminate"
    );
    assert_eq!(frontend_messages(&name("ssl_then_startup")), 3);
    assert_eq!(frontend_messages(&name("extended")), 7);
    assert_eq!(frontend_messages(&name("copy")), 5);
    assert_eq!(
        frontend_messages(&name("bad_type")),
        1,
        "stops at the unknown type"
    );
    // Lengths pgwire would take unchecked: shorter than the length field itself (an
    // overflow panic in its CopyData decoder), negative (a wait for 4 GiB).
    for bad in [&b"d\0\0\0\x02"[..], b"Q\xff\xff\xff\xf0SELECT 1\0"] {
        let mut stream = name("bad_type");
        stream.truncate(stream.len() - 9);
        stream.extend_from_slice(bad);
        assert_eq!(
            frontend_messages(&stream),
            1,
            "only the startup packet: {bad:?}"
        );
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    for i in 0..4000 {
        frontend_messages(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}

#[test]
fn postgresql_binary_values_survive_their_corpus_and_mutations() {
    use mdbd_backends::postgres::fuzzing::binary_value;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pg_values");
    let seeds = corpus(&dir);
    // Every seed is a well-formed value of the type its first byte picks.
    for seed in &seeds {
        assert!(binary_value(seed), "{seed:?}");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    for i in 0..20_000 {
        binary_value(&mutate(&mut rng, &seeds[i % seeds.len()]));
    }
}
