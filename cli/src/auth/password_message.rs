//! The bodies of PostgreSQL's password message family (type byte `p`), whose meaning
//! depends on what the server asked for: a PasswordMessage (cleartext or md5 answer), a
//! SASLInitialResponse or a SASLResponse. Pure and bounds-checked.

/// A SASLInitialResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslInitial {
    pub mechanism: String,
    pub data: Vec<u8>,
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    #[error("malformed authentication message: {0}")]
    Malformed(&'static str),
}

fn cstring(body: &[u8]) -> Result<(&str, &[u8]), MessageError> {
    let end = body
        .iter()
        .position(|b| *b == 0)
        .ok_or(MessageError::Malformed("string without its terminator"))?;
    let text = std::str::from_utf8(&body[..end])
        .map_err(|_| MessageError::Malformed("string is not UTF-8"))?;
    Ok((text, &body[end + 1..]))
}

/// A PasswordMessage: one NUL-terminated string and nothing after it.
pub fn password(body: &[u8]) -> Result<&str, MessageError> {
    match cstring(body)? {
        (text, []) => Ok(text),
        _ => Err(MessageError::Malformed("bytes after the password")),
    }
}

/// A SASLInitialResponse: the mechanism, then the length of the data (-1: none) and the data.
pub fn sasl_initial(body: &[u8]) -> Result<SaslInitial, MessageError> {
    let (mechanism, rest) = cstring(body)?;
    let (len, data) = rest
        .split_first_chunk::<4>()
        .ok_or(MessageError::Malformed("no length of the initial response"))?;
    let len = i32::from_be_bytes(*len);
    let data = match len {
        -1 if data.is_empty() => Vec::new(),
        n if n >= 0 && data.len() == n as usize => data.to_vec(),
        _ => {
            return Err(MessageError::Malformed(
                "the initial response's length does not match",
            ))
        }
    };
    Ok(SaslInitial {
        mechanism: mechanism.to_string(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(password(b"md5abc\0"), Ok("md5abc"));
        assert!(password(b"abc").is_err());
        assert!(password(b"a\0b").is_err());
        let m = sasl_initial(b"SCRAM-SHA-256\0\0\0\0\x03n,,").unwrap();
        assert_eq!(m.mechanism, "SCRAM-SHA-256");
        assert_eq!(m.data, b"n,,");
        assert!(sasl_initial(b"SCRAM-SHA-256\0\0\0\0\x09n,,").is_err());
        assert!(sasl_initial(b"SCRAM-SHA-256\0\xff\xff\xff\xfe").is_err());
        assert!(sasl_initial(b"SCRAM-SHA-256\0\xff\xff\xff\xff")
            .unwrap()
            .data
            .is_empty());
        assert!(sasl_initial(b"SCRAM").is_err());
    }
}
