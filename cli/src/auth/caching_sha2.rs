//! MySQL's `caching_sha2_password`, server side. The server keeps SHA256(SHA256(password));
//! the client proves it knows the password with
//! `SHA256(password) XOR SHA256(SHA256(SHA256(password)) || scramble)` (the fast path). mdbd
//! always holds that digest, so every login can take the fast path; the full exchange
//! (the password itself, over TLS) is accepted as well.

use ring::digest;

/// AuthMoreData payloads: the fast path succeeded / the client must send the password.
pub const FAST_AUTH_SUCCESS: u8 = 3;
pub const PERFORM_FULL_AUTHENTICATION: u8 = 4;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// What the server keeps: SHA256(SHA256(password)).
pub fn stored(password: &str) -> [u8; 32] {
    sha256(&[&sha256(&[password.as_bytes()])])
}

/// True when the fast-path `answer` to `scramble` proves the password behind `stored`.
/// An empty answer is an empty password.
pub fn fast_matches(stored: &[u8; 32], scramble: &[u8], answer: &[u8]) -> bool {
    if answer.is_empty() {
        return super::scram::constant_time_eq(stored, &self::stored(""));
    }
    if answer.len() != 32 {
        return false;
    }
    let mask = sha256(&[stored, scramble]);
    let candidate: Vec<u8> = answer.iter().zip(mask).map(|(a, m)| a ^ m).collect();
    super::scram::constant_time_eq(&sha256(&[&candidate]), stored)
}

/// True when `password` (the full exchange's answer, NUL-terminated or not) is the one
/// behind `stored`.
pub fn full_matches(stored: &[u8; 32], password: &[u8]) -> bool {
    let password = password.strip_suffix(&[0]).unwrap_or(password);
    super::scram::constant_time_eq(&sha256(&[&sha256(&[password])]), stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_answer(password: &str, scramble: &[u8]) -> Vec<u8> {
        let h1 = sha256(&[password.as_bytes()]);
        let h2 = sha256(&[&h1]);
        let mask = sha256(&[&h2, scramble]);
        h1.iter().zip(mask).map(|(a, b)| a ^ b).collect()
    }

    #[test]
    fn the_fast_path_accepts_the_right_password_only() {
        let scramble = [7u8; 20];
        let stored = stored("secret");
        assert!(fast_matches(
            &stored,
            &scramble,
            &client_answer("secret", &scramble)
        ));
        assert!(!fast_matches(
            &stored,
            &scramble,
            &client_answer("Secret", &scramble)
        ));
        assert!(!fast_matches(
            &stored,
            &[8u8; 20],
            &client_answer("secret", &scramble)
        ));
        assert!(!fast_matches(&stored, &scramble, b""));
        assert!(fast_matches(&super::stored(""), &scramble, b""));
    }

    #[test]
    fn the_full_exchange_compares_the_password() {
        let stored = stored("secret");
        assert!(full_matches(&stored, b"secret\0"));
        assert!(full_matches(&stored, b"secret"));
        assert!(!full_matches(&stored, b"secre\0"));
    }
}
