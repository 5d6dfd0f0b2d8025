//! PostgreSQL's `md5` authentication: the server keeps `md5` + hex(md5(password + user))
//! and sends a 4-byte salt; the client answers `md5` + hex(md5(that hex + salt)).

/// The stored form of `password` for `user`, as `pg_authid` held it before SCRAM.
pub fn stored(user: &str, password: &str) -> String {
    let mut input = password.as_bytes().to_vec();
    input.extend_from_slice(user.as_bytes());
    format!("md5{:x}", ::md5::compute(input))
}

/// True when `answer` (the PasswordMessage's string) matches `stored` under `salt`.
pub fn matches(stored: &str, salt: &[u8; 4], answer: &str) -> bool {
    let Some(hex) = stored.strip_prefix("md5") else {
        return false;
    };
    let mut input = hex.as_bytes().to_vec();
    input.extend_from_slice(salt);
    let expected = format!("md5{:x}", ::md5::compute(input));
    super::scram::constant_time_eq(expected.as_bytes(), answer.as_bytes())
}

/// True when `text` is a stored md5 hash (`md5` and 32 hex digits).
pub fn is_stored_form(text: &str) -> bool {
    text.strip_prefix("md5")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_is_what_postgresql_computes() {
        // SELECT 'md5' || md5('secret' || 'alice');
        // hashlib.md5(b"secretalice"), as PostgreSQL stores it
        assert_eq!(
            stored("alice", "secret"),
            "md54a0a68b43b6cd5cf266fa02f196e2371"
        );
        assert!(is_stored_form(&stored("alice", "secret")));
        assert!(!is_stored_form("md5xyz"));
    }

    #[test]
    fn a_right_answer_matches_and_a_wrong_one_does_not() {
        let stored = stored("alice", "secret");
        let salt = [1, 2, 3, 4];
        let mut input = stored.as_bytes()[3..].to_vec();
        input.extend_from_slice(&salt);
        let answer = format!("md5{:x}", ::md5::compute(input));
        assert!(matches(&stored, &salt, &answer));
        assert!(!matches(&stored, &[4, 3, 2, 1], &answer));
        assert!(!matches(&stored, &salt, "md5"));
    }
}
