//! What the MySQL fuzz targets run, shared with the stable-toolchain corpus test
//! (`cli/tests/fuzz_corpus_mysql.rs`). None of them may panic, whatever the input.

use super::change_user::ChangeUser;
use super::execute::{parse_params, statement_id, ParamType};
use super::handshake::HandshakeResponse;
use super::split;
use std::collections::HashMap;

/// A client's handshake response.
/// A client's handshake response, and the same bytes as a COM_CHANGE_USER body under
/// the capabilities they start with and under every capability.
pub fn handshake_response(data: &[u8]) {
    let _ = HandshakeResponse::parse(data);
    let caps = data
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let _ = ChangeUser::parse(data, caps);
    let _ = ChangeUser::parse(data, u32::MAX);
}

/// A COM_STMT_EXECUTE payload: the first byte chooses the statement's parameter count,
/// the rest is the payload; it is decoded twice, the second time with the types bound by
/// the first, as a client's next execution would be.
pub fn stmt_execute(data: &[u8]) {
    let Some((&count, payload)) = data.split_first() else {
        return;
    };
    let _ = statement_id(payload);
    let mut bound: Vec<ParamType> = Vec::new();
    let long = HashMap::from([(1u16, b"long data".to_vec())]);
    let _ = parse_params(payload, usize::from(count % 64), &mut bound, &long);
    let _ = parse_params(
        payload,
        usize::from(count % 64),
        &mut bound,
        &HashMap::new(),
    );
}

/// Query text, as bytes (it need not be UTF-8): splitting and placeholder numbering;
/// text that is UTF-8 splits the same way through the text entry point.
pub fn query_text(data: &[u8]) {
    let parts = split::statements(data);
    let numbered = split::numbered(data);
    assert!(parts.len() <= data.len() + 1);
    assert_eq!(
        split::placeholders(&numbered),
        0,
        "{data:?} -> {numbered:?}"
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let texts = split::text_statements(text);
        assert!(texts.len() <= parts.len(), "{text:?}");
    }
}
