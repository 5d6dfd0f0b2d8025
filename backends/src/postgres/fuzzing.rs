//! Entry point of the `pg_values` fuzz target and its stable corpus test: bytes in
//! PostgreSQL's binary forms, as a server or a client's binary parameter sends them,
//! through every decoder and printer of this module.

use postgres_types::Type;

/// The types the first byte of an input picks from.
const TYPES: &[Type] = &[
    Type::NUMERIC,
    Type::DATE,
    Type::TIMESTAMP,
    Type::TIMESTAMPTZ,
    Type::UUID,
    Type::JSONB,
    Type::OID,
    Type::CHAR,
    Type::INTERVAL,
    Type::INT4_ARRAY,
    Type::TEXT_ARRAY,
    Type::NUMERIC_ARRAY,
    Type::INTERVAL_ARRAY,
    Type::BYTEA_ARRAY,
    Type::FLOAT4_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
    Type::TIME,
    Type::TIMETZ,
];

/// Decodes `data[1..]` as a value of the type `data[0]` picks, prints it, and re-encodes
/// what it decoded. Panics when the codec is not stable on its own output: a value
/// re-encoded, decoded and re-encoded again must give the same value and bytes. Returns
/// whether the input decoded.
pub fn binary_value(data: &[u8]) -> bool {
    let Some((pick, raw)) = data.split_first() else {
        return false;
    };
    let ty = &TYPES[usize::from(*pick) % TYPES.len()];
    let _ = super::text_form(ty, raw);
    let Ok(value) = super::binary_value(ty, raw) else {
        return false;
    };
    if let Some(Ok(bytes)) = super::binary_form(ty, &value) {
        let again = super::binary_value(ty, &bytes)
            .unwrap_or_else(|e| panic!("{ty}: {value:?} re-encoded does not decode: {e}"));
        let bytes_again = super::binary_form(ty, &again)
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("{ty}: {again:?} does not re-encode"));
        assert_eq!(bytes, bytes_again, "{ty}: {value:?} then {again:?}");
    }
    true
}
