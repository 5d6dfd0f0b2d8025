//! PostgreSQL's binary forms of the types mdbd holds as PostgreSQL's text (numeric, date,
//! time(tz), timestamp(tz), uuid, json(b), oid, `"char"`), both ways: decoded to the text
//! the server would print ([`numeric_text`], and `datetime.rs` for dates and times) and
//! encoded from it again ([`binary_form`]), so a client that asks for binary results gets
//! the bytes the server itself would have sent.
//!
//! Pure and checked throughout: the bytes may come from a client's binary parameter and
//! the text from any engine's column, so nothing here panics or allocates without bound.

use super::datetime::{date_binary, time_binary, timestamp_binary, timetz_binary};
use mdbd_engine::log::Value;
use postgres_types::Type;
use std::error::Error;

type BoxError = Box<dyn Error + Sync + Send>;

/// PostgreSQL's numeric limits: digits before and after the decimal point.
const NUMERIC_MAX_WEIGHT_DIGITS: i64 = 131_072;
const NUMERIC_MAX_DSCALE: i64 = 16_383;

/// PostgreSQL's binary numeric (digit count, weight, sign, display scale, then base-10000
/// digits) as its exact text, which PostgreSQL parses back to the same value.
pub fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short numeric".into())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "negative numeric digit count")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?).map_err(|_| "negative numeric scale")?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return Err("bad numeric sign".into()),
    }
    if raw.len() != 8 + ndigits * 2 {
        return Err("numeric length mismatch".into());
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        let d = word(4 + i)?;
        if !(0..10_000).contains(&d) {
            return Err("numeric digit out of range".into());
        }
        digits.push(d);
    }
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                out.push_str(&digit(i).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

/// A numeric's text (`-12.50`, `1e-3`, `NaN`, `Infinity`) as PostgreSQL's binary numeric,
/// in the canonical form PostgreSQL itself sends: no leading or trailing zero base-10000
/// digits, zero with weight 0 and a positive sign, the display scale the text shows.
pub fn numeric_binary(text: &str) -> Result<Vec<u8>, BoxError> {
    let t = text.trim();
    let special = |sign: u16| {
        let mut out = vec![0, 0, 0, 0];
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    };
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Ok(special(0xC000)),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(special(0xD000)),
        "-infinity" | "-inf" => return Ok(special(0xF000)),
        _ => {}
    }
    let bad = || -> BoxError { format!("invalid input syntax for type numeric: {text:?}").into() };
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || exponent.abs() > NUMERIC_MAX_WEIGHT_DIGITS + NUMERIC_MAX_DSCALE
    {
        return Err(bad());
    }
    let dscale = (fraction.len() as i64 - exponent).max(0);
    // Digits and the position of the decimal point among them.
    let mut digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let mut point = whole.len() as i64 + exponent;
    if dscale > NUMERIC_MAX_DSCALE || point > NUMERIC_MAX_WEIGHT_DIGITS {
        return Err("value overflows numeric format".into());
    }
    // Align the point on a group of four digits, then pad to whole groups covering it.
    let left = (4 - point.rem_euclid(4)) % 4;
    digits.splice(0..0, std::iter::repeat_n(0, left as usize));
    point += left;
    if point > digits.len() as i64 {
        digits.resize(point as usize, 0);
    }
    let groups_len = digits.len().div_ceil(4) * 4;
    digits.resize(groups_len, 0);
    let mut groups: Vec<i16> = digits
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |n, d| n * 10 + i16::from(*d)))
        .collect();
    let mut weight = point / 4 - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= leading as i64;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let (weight, sign) = if groups.is_empty() {
        (0, 0x0000u16)
    } else {
        (weight, if negative { 0x4000 } else { 0x0000 })
    };
    let weight = i16::try_from(weight).map_err(|_| "value overflows numeric format")?;
    let mut out = Vec::with_capacity(8 + groups.len() * 2);
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(dscale as i16).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(out)
}

/// A uuid's text (with or without hyphens or braces) as its 16 bytes.
fn uuid_binary(text: &str) -> Result<Vec<u8>, BoxError> {
    let hex: Vec<u8> = text
        .trim()
        .bytes()
        .filter(|b| !matches!(b, b'-' | b'{' | b'}'))
        .collect();
    if hex.len() != 32 {
        return Err(format!("invalid input syntax for type uuid: {text:?}").into());
    }
    hex.chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("invalid input syntax for type uuid: {text:?}").into())
        })
        .collect()
}

/// The text mdbd holds for a value of a text-held type.
fn text_of(v: &Value) -> Result<std::borrow::Cow<'_, str>, BoxError> {
    Ok(match v {
        Value::Text(t) => t.as_str().into(),
        Value::Int(i) => i.to_string().into(),
        Value::Float(f) => f.to_string().into(),
        Value::Bool(b) => if *b { "t" } else { "f" }.into(),
        Value::Bytes(b) => std::str::from_utf8(b)?.into(),
        Value::Null => return Err("NULL has no binary form".into()),
    })
}

/// PostgreSQL's binary form of `v` as a value of type `ty`, for the types mdbd holds as
/// PostgreSQL's text: numeric, date, time, timetz, timestamp, timestamptz, uuid, json,
/// jsonb, oid and `"char"`. `None` for other types (their binary forms are the caller's:
/// native values or raw bytes). The inverse of [`super::binary_value`] for these types.
pub fn binary_form(ty: &Type, v: &Value) -> Option<Result<Vec<u8>, BoxError>> {
    let text = || text_of(v);
    Some(match *ty {
        Type::NUMERIC => text().and_then(|t| numeric_binary(&t)),
        Type::DATE => text().and_then(|t| date_binary(&t).map(|d| d.to_be_bytes().to_vec())),
        Type::TIME => text().and_then(|t| time_binary(&t).map(|m| m.to_be_bytes().to_vec())),
        Type::TIMETZ => text().and_then(|t| {
            timetz_binary(&t).map(|(micros, west)| {
                let mut out = micros.to_be_bytes().to_vec();
                out.extend_from_slice(&west.to_be_bytes());
                out
            })
        }),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => text().and_then(|t| {
            timestamp_binary(&t, *ty == Type::TIMESTAMPTZ).map(|m| m.to_be_bytes().to_vec())
        }),
        Type::UUID => text().and_then(|t| uuid_binary(&t)),
        Type::JSON => text().map(|t| t.as_bytes().to_vec()),
        Type::JSONB => text().map(|t| {
            let mut out = Vec::with_capacity(t.len() + 1);
            out.push(1);
            out.extend_from_slice(t.as_bytes());
            out
        }),
        Type::OID => text().and_then(|t| {
            t.trim()
                .parse::<u32>()
                .map(|o| o.to_be_bytes().to_vec())
                .map_err(|_| format!("invalid input syntax for type oid: {t:?}").into())
        }),
        Type::CHAR => text().map(|t| t.as_bytes().to_vec()),
        _ => return None,
    })
}

#[cfg(test)]
#[path = "binary_tests.rs"]
mod tests;
