//! For the stable-toolchain fuzz corpus tests: the seed corpus of a target, and a
//! libFuzzer-like mutation of a seed.

use rand::Rng;
use std::path::Path;

/// Every file of a corpus directory, sorted; panics when there are none.
pub fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut seeds: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// A libFuzzer-like mutation: flips, random bytes, interesting integers, cuts, splices.
pub fn mutate(rng: &mut impl Rng, seed: &[u8]) -> Vec<u8> {
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
