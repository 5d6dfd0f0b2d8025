//! COM_STMT_EXECUTE: the statement id and its parameters in the binary protocol.
//!
//! Layout: stmt id (4), flags (1), iteration count (4); with parameters, a NULL bitmap,
//! the "new parameters bound" flag, then (if set) one (type, flags) pair per parameter, then
//! the non-NULL values. Types sent once are reused by later executions that do not resend
//! them; parameters sent with COM_STMT_SEND_LONG_DATA are not in the values at all.

use super::buf::Reader;
use super::types;
use super::WireError;
use mdbd_engine::log::Value;
use std::collections::HashMap;

/// One parameter's type as the client bound it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamType {
    pub code: u8,
    pub unsigned: bool,
}

/// The statement id of a COM_STMT_EXECUTE (or SEND_LONG_DATA / CLOSE / RESET) payload,
/// after the command byte.
pub fn statement_id(payload: &[u8]) -> Result<u32, WireError> {
    Reader::new(payload).u32("statement id")
}

/// The parameters of a COM_STMT_EXECUTE payload (after the command byte) for a statement
/// with `count` parameters. `bound` holds the types of the previous execution and is
/// updated when the client sends new ones; `long_data` holds what COM_STMT_SEND_LONG_DATA
/// sent for each parameter index.
pub fn parse_params(
    payload: &[u8],
    count: usize,
    bound: &mut Vec<ParamType>,
    long_data: &HashMap<u16, Vec<u8>>,
) -> Result<Vec<Value>, WireError> {
    let mut r = Reader::new(payload);
    r.u32("statement id")?;
    let flags = r.u8("cursor flags")?;
    if flags & 0x0f != 0 {
        // Cursors are a client-side option a few drivers enable; results are sent in full.
        tracing::debug!(flags, "COM_STMT_EXECUTE cursor flags ignored");
    }
    r.u32("iteration count")?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let nulls = r.take(count.div_ceil(8), "NULL bitmap")?;
    if r.u8("new parameters bound flag")? == 1 {
        let mut types = Vec::with_capacity(count);
        for _ in 0..count {
            let code = r.u8("parameter type")?;
            let flags = r.u8("parameter flags")?;
            types.push(ParamType {
                code,
                unsigned: flags & 0x80 != 0,
            });
        }
        *bound = types;
    }
    if bound.len() != count {
        return Err(WireError::Invalid {
            what: "parameter types",
            detail: format!(
                "the statement has {count} parameters but {} types were bound",
                bound.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(count);
    for (i, t) in bound.iter().enumerate() {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            out.push(Value::Null);
            continue;
        }
        if let Some(data) = u16::try_from(i).ok().and_then(|i| long_data.get(&i)) {
            out.push(types::bytes_value(data.clone(), t.code));
            continue;
        }
        out.push(types::read_binary(&mut r, *t)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql_wire::buf::put_lenenc_bytes;
    use crate::mysql_wire::types::code;

    fn execute(types: &[(u8, u8)], nulls: u8, values: &[u8]) -> Vec<u8> {
        let mut p = 9u32.to_le_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(&1u32.to_le_bytes());
        p.push(nulls);
        p.push(1);
        for (t, f) in types {
            p.push(*t);
            p.push(*f);
        }
        p.extend_from_slice(values);
        p
    }

    #[test]
    fn parameters_of_several_types_decode() {
        let mut values = Vec::new();
        values.extend_from_slice(&(-5i64).to_le_bytes());
        values.extend_from_slice(&2.5f64.to_le_bytes());
        put_lenenc_bytes(&mut values, b"hello");
        values.extend_from_slice(&[7, 0xe8, 0x07, 2, 29, 13, 14, 15]); // 2024-02-29 13:14:15
        values.push(200); // unsigned tiny
        let p = execute(
            &[
                (code::LONGLONG, 0),
                (code::DOUBLE, 0),
                (code::VAR_STRING, 0),
                (code::NULL, 0),
                (code::DATETIME, 0),
                (code::TINY, 0x80),
            ],
            0b0000_1000,
            &values,
        );
        let mut bound = Vec::new();
        let got = parse_params(&p, 6, &mut bound, &HashMap::new()).unwrap();
        assert_eq!(
            got,
            vec![
                Value::Int(-5),
                Value::Float(2.5),
                Value::Text("hello".into()),
                Value::Null,
                Value::Text("2024-02-29 13:14:15".into()),
                Value::Int(200),
            ]
        );
        assert_eq!(statement_id(&p).unwrap(), 9);
        // The next execution may leave the types out.
        let mut again = 9u32.to_le_bytes().to_vec();
        again.extend_from_slice(&[0, 1, 0, 0, 0, 0b0011_1110, 0]);
        again.extend_from_slice(&(41i64).to_le_bytes());
        let got = parse_params(&again, 6, &mut bound, &HashMap::new()).unwrap();
        assert_eq!(got[0], Value::Int(41));
        assert!(got[1..].iter().all(|v| *v == Value::Null));
    }

    #[test]
    fn missing_or_short_values_are_errors() {
        let p = execute(&[(code::LONGLONG, 0)], 0, &[1, 2, 3]);
        assert!(parse_params(&p, 1, &mut Vec::new(), &HashMap::new()).is_err());
        let mut no_types = 9u32.to_le_bytes().to_vec();
        no_types.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0]);
        assert!(parse_params(&no_types, 1, &mut Vec::new(), &HashMap::new()).is_err());
    }
}
