//! Column types: decoding binary-protocol parameters into engine values, choosing the
//! type a result column is announced with, and encoding values in the text and binary
//! result protocols.

use super::buf::{put_lenenc_bytes, Reader};
use super::execute::ParamType;
use super::WireError;
use mdbd_engine::backend::ResultSet;
use mdbd_engine::log::Value;

/// MySQL column type codes.
pub mod code {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// The binary character set (bytes, numbers) and the text one.
pub const BINARY: u16 = 63;
pub const UTF8MB4: u16 = 45;

fn is_blob(t: u8) -> bool {
    matches!(
        t,
        code::TINY_BLOB | code::MEDIUM_BLOB | code::LONG_BLOB | code::BLOB | code::GEOMETRY
    )
}

/// Bytes of a string-like parameter: text when it is UTF-8 and not a blob, else bytes.
pub fn bytes_value(b: Vec<u8>, t: u8) -> Value {
    if is_blob(t) {
        return Value::Bytes(b);
    }
    match String::from_utf8(b) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    }
}

fn date_time(r: &mut Reader<'_>, what: &'static str) -> Result<String, WireError> {
    let len = r.u8(what)?;
    let b = r.take(usize::from(len), what)?;
    let u16at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    Ok(match len {
        0 => "0000-00-00 00:00:00".into(),
        4 => format!("{:04}-{:02}-{:02}", u16at(0), b[2], b[3]),
        7 | 11 => {
            let mut s = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                u16at(0),
                b[2],
                b[3],
                b[4],
                b[5],
                b[6]
            );
            if len == 11 {
                let us = u32::from_le_bytes([b[7], b[8], b[9], b[10]]);
                s.push_str(&format!(".{us:06}"));
            }
            s
        }
        other => {
            return Err(WireError::Invalid {
                what,
                detail: format!("a date/time of {other} bytes"),
            })
        }
    })
}

fn time(r: &mut Reader<'_>) -> Result<String, WireError> {
    let len = r.u8("time")?;
    let b = r.take(usize::from(len), "time")?;
    Ok(match len {
        0 => "00:00:00".into(),
        8 | 12 => {
            let sign = if b[0] == 1 { "-" } else { "" };
            let days = u32::from_le_bytes([b[1], b[2], b[3], b[4]]);
            let hours = u64::from(days) * 24 + u64::from(b[5]);
            let mut s = format!("{sign}{hours:02}:{:02}:{:02}", b[6], b[7]);
            if len == 12 {
                let us = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
                s.push_str(&format!(".{us:06}"));
            }
            s
        }
        other => {
            return Err(WireError::Invalid {
                what: "time",
                detail: format!("a time of {other} bytes"),
            })
        }
    })
}

/// Reads one non-NULL binary-protocol parameter of type `t`.
pub fn read_binary(r: &mut Reader<'_>, t: ParamType) -> Result<Value, WireError> {
    let int = |v: i64, u: u64| {
        if t.unsigned {
            i64::try_from(u)
                .map(Value::Int)
                .unwrap_or_else(|_| Value::Text(u.to_string()))
        } else {
            Value::Int(v)
        }
    };
    Ok(match t.code {
        code::NULL => Value::Null,
        code::TINY => {
            let b = r.u8("TINY parameter")?;
            int(i64::from(b as i8), u64::from(b))
        }
        code::SHORT | code::YEAR => {
            let v = r.u16("SHORT parameter")?;
            int(i64::from(v as i16), u64::from(v))
        }
        code::LONG | code::INT24 => {
            let v = r.u32("LONG parameter")?;
            int(i64::from(v as i32), u64::from(v))
        }
        code::LONGLONG => {
            let v = r.u64("LONGLONG parameter")?;
            int(v as i64, v)
        }
        code::FLOAT => Value::Float(f64::from(f32::from_bits(r.u32("FLOAT parameter")?))),
        code::DOUBLE => Value::Float(f64::from_bits(r.u64("DOUBLE parameter")?)),
        code::DATE | code::DATETIME | code::TIMESTAMP => Value::Text(date_time(r, "DATETIME")?),
        code::TIME => Value::Text(time(r)?),
        other => bytes_value(r.lenenc_bytes("string parameter")?.to_vec(), other),
    })
}

/// The code for an engine type name (`long`, `var_string`: MySQL backends report these;
/// `int8`, `text`, `INTEGER`: PostgreSQL and SQLite ones), if it names one.
fn from_type_name(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "tiny" => code::TINY,
        "short" | "int2" | "smallint" => code::SHORT,
        "long" | "int4" | "int" | "integer" => code::LONG,
        "int24" => code::INT24,
        "longlong" | "int8" | "bigint" => code::LONGLONG,
        "float" | "float4" | "real" => code::FLOAT,
        "double" | "float8" | "double precision" => code::DOUBLE,
        "decimal" => code::DECIMAL,
        "newdecimal" | "numeric" => code::NEWDECIMAL,
        "timestamp" | "timestamptz" => code::TIMESTAMP,
        "date" => code::DATE,
        "time" | "timetz" => code::TIME,
        "datetime" => code::DATETIME,
        "year" => code::YEAR,
        "varchar" => code::VARCHAR,
        "bit" => code::BIT,
        "json" | "jsonb" => code::JSON,
        "enum" => code::ENUM,
        "set" => code::SET,
        "tiny_blob" => code::TINY_BLOB,
        "medium_blob" => code::MEDIUM_BLOB,
        "long_blob" => code::LONG_BLOB,
        "blob" | "bytea" => code::BLOB,
        "var_string" | "text" | "bpchar" | "name" | "uuid" => code::VAR_STRING,
        "string" => code::STRING,
        "geometry" => code::GEOMETRY,
        "bool" | "boolean" => code::TINY,
        _ => return None,
    })
}

/// The type a result column is announced with: its declared type when the backend names
/// one, else (SQLite expressions) from its values, else a string.
pub fn column_type(rs: &ResultSet, i: usize) -> u8 {
    if let Some(t) = rs.columns.get(i).and_then(|c| from_type_name(&c.type_name)) {
        return t;
    }
    let mut seen = None;
    for row in &rs.rows {
        let t = match row.get(i) {
            None | Some(Value::Null) => continue,
            Some(Value::Bool(_)) => code::TINY,
            Some(Value::Int(_)) => code::LONGLONG,
            Some(Value::Float(_)) => code::DOUBLE,
            Some(Value::Text(_)) => code::VAR_STRING,
            Some(Value::Bytes(_)) => code::BLOB,
        };
        match seen {
            None => seen = Some(t),
            Some(s) if s == t => {}
            Some(_) => return code::VAR_STRING,
        }
    }
    seen.unwrap_or(code::VAR_STRING)
}

/// The character set announced for a column of type `t` holding `sample`.
pub fn charset(t: u8, bytes: bool) -> u16 {
    match t {
        code::VAR_STRING | code::STRING | code::VARCHAR | code::JSON | code::ENUM | code::SET
            if !bytes =>
        {
            UTF8MB4
        }
        code::TINY_BLOB | code::MEDIUM_BLOB | code::LONG_BLOB | code::BLOB if !bytes => UTF8MB4,
        _ => BINARY,
    }
}

/// A value in the text protocol: its text, or `None` for NULL.
pub fn text(v: &Value) -> Option<Vec<u8>> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => vec![b'0' + u8::from(*b)],
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Float(f) => f.to_string().into_bytes(),
        Value::Text(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
    })
}

fn parse_date_time(s: &str) -> Option<[u32; 7]> {
    let (date, rest) = s.split_once(' ').unwrap_or((s, ""));
    let mut d = date.splitn(3, '-').map(|x| x.parse::<u32>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<u32>().ok());
    let (h, mi, se) = if hms.is_empty() {
        (0, 0, 0)
    } else {
        (t.next()??, t.next()??, t.next()??)
    };
    let us = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").get(..6)?.parse().ok()?
    };
    Some([y, mo, da, h, mi, se, us])
}

fn put_date_time(out: &mut Vec<u8>, s: &str, t: u8) -> bool {
    let Some([y, mo, d, h, mi, se, us]) = parse_date_time(s) else {
        return false;
    };
    let Ok(y) = u16::try_from(y) else {
        return false;
    };
    let date = [mo, d].map(|x| x.min(255) as u8);
    let clock = [h, mi, se].map(|x| x.min(255) as u8);
    if t == code::DATE || (h, mi, se, us) == (0, 0, 0, 0) {
        out.push(4);
        out.extend_from_slice(&y.to_le_bytes());
        out.extend_from_slice(&date);
    } else {
        out.push(if us > 0 { 11 } else { 7 });
        out.extend_from_slice(&y.to_le_bytes());
        out.extend_from_slice(&date);
        out.extend_from_slice(&clock);
        if us > 0 {
            out.extend_from_slice(&us.to_le_bytes());
        }
    }
    true
}

fn put_time(out: &mut Vec<u8>, s: &str) -> bool {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let Some([_, _, _, h, mi, se, us]) = parse_date_time(&format!("0-0-0 {body}")) else {
        return false;
    };
    out.push(if us > 0 { 12 } else { 8 });
    out.push(u8::from(neg));
    out.extend_from_slice(&(h / 24).to_le_bytes());
    out.extend_from_slice(&[(h % 24) as u8, mi.min(255) as u8, se.min(255) as u8]);
    if us > 0 {
        out.extend_from_slice(&us.to_le_bytes());
    }
    true
}

/// Appends a non-NULL value in the binary protocol as a column of type `t`. Values that
/// do not fit the announced type are sent as strings; the announced type was chosen
/// from the same result, so this happens only for odd values (an unsigned 64-bit number
/// above `i64::MAX`, a zero date).
pub fn put_binary(out: &mut Vec<u8>, v: &Value, t: u8) {
    let int = match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Text(s)
            if matches!(
                t,
                code::TINY | code::SHORT | code::YEAR | code::LONG | code::INT24 | code::LONGLONG
            ) =>
        {
            s.parse::<i64>().ok()
        }
        _ => None,
    };
    match (t, int) {
        (code::TINY, Some(i)) => return out.push(i as u8),
        (code::SHORT | code::YEAR, Some(i)) => {
            return out.extend_from_slice(&(i as u16).to_le_bytes())
        }
        (code::LONG | code::INT24, Some(i)) => {
            return out.extend_from_slice(&(i as u32).to_le_bytes())
        }
        (code::LONGLONG, Some(i)) => return out.extend_from_slice(&i.to_le_bytes()),
        (code::LONGLONG, None) => {
            if let Value::Text(s) = v {
                if let Ok(u) = s.parse::<u64>() {
                    return out.extend_from_slice(&u.to_le_bytes());
                }
            }
        }
        _ => {}
    }
    let float = match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::Text(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    match (t, float) {
        (code::DOUBLE, Some(f)) => return out.extend_from_slice(&f.to_le_bytes()),
        (code::FLOAT, Some(f)) => return out.extend_from_slice(&(f as f32).to_le_bytes()),
        _ => {}
    }
    if let Value::Text(s) = v {
        let start = out.len();
        let done = match t {
            code::DATE | code::DATETIME | code::TIMESTAMP => put_date_time(out, s, t),
            code::TIME => put_time(out, s),
            _ => false,
        };
        if done {
            return;
        }
        out.truncate(start);
    }
    put_lenenc_bytes(out, &text(v).unwrap_or_default());
}

/// True when `put_binary` can encode every value of this column as `t` without falling
/// back to a string; else the column is announced as a string.
pub fn binary_fits(rs: &ResultSet, i: usize, t: u8) -> bool {
    rs.rows.iter().all(|row| {
        let Some(v) = row.get(i) else { return true };
        match (t, v) {
            (_, Value::Null) => true,
            (
                code::TINY | code::SHORT | code::YEAR | code::LONG | code::INT24 | code::LONGLONG,
                Value::Int(_) | Value::Bool(_),
            ) => true,
            (code::TINY | code::SHORT | code::YEAR | code::LONG | code::INT24, Value::Text(s)) => {
                s.parse::<i64>().is_ok()
            }
            (code::LONGLONG, Value::Text(s)) => {
                s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok()
            }
            (code::DOUBLE | code::FLOAT, Value::Float(_) | Value::Int(_)) => true,
            (code::DOUBLE | code::FLOAT, Value::Text(s)) => s.parse::<f64>().is_ok(),
            (code::DATE | code::DATETIME | code::TIMESTAMP, Value::Text(s)) => {
                parse_date_time(s).is_some_and(|d| d[0] <= 9999)
            }
            (code::TIME, Value::Text(s)) => {
                parse_date_time(&format!("0-0-0 {}", s.trim_start_matches('-'))).is_some()
            }
            (
                code::TINY
                | code::SHORT
                | code::YEAR
                | code::LONG
                | code::INT24
                | code::LONGLONG
                | code::DOUBLE
                | code::FLOAT
                | code::DATE
                | code::DATETIME
                | code::TIMESTAMP
                | code::TIME,
                _,
            ) => false,
            _ => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdbd_engine::backend::Column;

    fn rs(type_name: &str, values: Vec<Value>) -> ResultSet {
        ResultSet {
            columns: vec![Column::new("x", type_name)],
            rows: values.into_iter().map(|v| vec![v]).collect(),
        }
    }

    #[test]
    fn declared_types_win_and_values_decide_otherwise() {
        assert_eq!(column_type(&rs("long", vec![Value::Int(1)]), 0), code::LONG);
        assert_eq!(column_type(&rs("newdecimal", vec![]), 0), code::NEWDECIMAL);
        assert_eq!(column_type(&rs("", vec![Value::Int(1)]), 0), code::LONGLONG);
        assert_eq!(
            column_type(&rs("", vec![Value::Int(1), Value::Text("a".into())]), 0),
            code::VAR_STRING
        );
    }

    #[test]
    fn binary_dates_and_times_round_trip_through_the_parameter_decoder() {
        for (s, t) in [
            ("2024-02-29 13:14:15", code::DATETIME),
            ("2024-02-29 13:14:15.000250", code::DATETIME),
            ("2024-02-29", code::DATE),
            ("-838:59:59", code::TIME),
            ("12:00:01.500000", code::TIME),
        ] {
            let mut out = Vec::new();
            put_binary(&mut out, &Value::Text(s.into()), t);
            let got = read_binary(
                &mut Reader::new(&out),
                ParamType {
                    code: t,
                    unsigned: false,
                },
            )
            .unwrap();
            assert_eq!(got, Value::Text(s.into()), "{s}");
        }
    }

    #[test]
    fn integers_take_the_width_of_their_type() {
        let mut out = Vec::new();
        put_binary(&mut out, &Value::Int(-2), code::SHORT);
        put_binary(&mut out, &Value::Int(7), code::LONGLONG);
        put_binary(
            &mut out,
            &Value::Text("18446744073709551615".into()),
            code::LONGLONG,
        );
        assert_eq!(out.len(), 2 + 8 + 8);
        assert!(binary_fits(
            &rs("long", vec![Value::Int(3), Value::Null]),
            0,
            code::LONG
        ));
        assert!(!binary_fits(
            &rs("long", vec![Value::Text("x".into())]),
            0,
            code::LONG
        ));
    }
}
