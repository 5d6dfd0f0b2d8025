//! PostgreSQL's text output for the values mdbd holds in binary: floats (as `float8out`
//! prints them, shortest exact digits), arrays and intervals (from the server's binary
//! bytes, which mdbd keeps as they came). A client that asks for text gets what the server
//! would have printed, with `DateStyle` ISO and `IntervalStyle` postgres (the defaults).
//!
//! Pure and checked: the bytes come from a server, but nothing here trusts their lengths.

use mdbd_engine::log::Value;
use postgres_types::{Kind, Type};
use std::error::Error;

type BoxError = Box<dyn Error + Sync + Send>;

/// Array nesting PostgreSQL allows (MAXDIM).
const MAX_DIMENSIONS: usize = 6;

/// A float as PostgreSQL prints it (`extra_float_digits` 1, the default since 12): the
/// shortest digits that read back to the same value, in exponent form below 1e-4 or from
/// 1e15 (1e6 for `float4`, `single`) up.
pub fn float_text(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e20`.
    let sci = if single {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let limit = if single { 6 } else { 15 };
    if exponent < -4 || exponent >= limit {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{esign}{:02}", exponent.abs());
    }
    let point = exponent + 1; // digits before the decimal point
    if point <= 0 {
        return format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        );
    }
    let point = point as usize;
    if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// Whether [`text_form`] gives the text of values of `ty`.
pub fn has_text_form(ty: &Type) -> bool {
    match ty.kind() {
        Kind::Array(element) => scalar(element) || *element == Type::INTERVAL,
        _ => *ty == Type::INTERVAL,
    }
}

/// Element types whose values mdbd decodes to something it can print as PostgreSQL does.
fn scalar(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::DATE
            | Type::TIME
            | Type::TIMETZ
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
            | Type::UUID
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::CHAR
            | Type::JSON
            | Type::JSONB
            | Type::BYTEA
    )
}

/// The text PostgreSQL prints for a value of `ty` given as the server's binary bytes, for
/// arrays and intervals; `None` for other types (see [`has_text_form`]).
pub fn text_form(ty: &Type, raw: &[u8]) -> Option<Result<String, BoxError>> {
    if !has_text_form(ty) {
        return None;
    }
    Some(match ty.kind() {
        Kind::Array(element) => array_text(element, raw),
        _ => interval_text(raw),
    })
}

/// The text of one scalar value as PostgreSQL prints it.
fn scalar_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    if *ty == Type::INTERVAL {
        return interval_text(raw);
    }
    Ok(match super::binary_value(ty, raw)? {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if b { "t" } else { "f" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_text(f, *ty == Type::FLOAT4),
        Value::Text(t) => t,
        Value::Bytes(b) => {
            let mut out = String::with_capacity(2 + 2 * b.len());
            out.push_str("\\x");
            for byte in b {
                out.push_str(&format!("{byte:02x}"));
            }
            out
        }
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BoxError> {
        if self.0.len() < n {
            return Err("array value is truncated".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i32(&mut self) -> Result<i32, BoxError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// `array_send`'s form (dimensions, null flag, element type, bounds, elements) as
/// `array_out` prints it: `{1,NULL,"b c"}`, `[0:1]={a,b}` for other lower bounds.
fn array_text(element: &Type, raw: &[u8]) -> Result<String, BoxError> {
    let mut r = Reader(raw);
    let ndim = usize::try_from(r.i32()?).map_err(|_| "negative array dimensions")?;
    if ndim > MAX_DIMENSIONS {
        return Err("too many array dimensions".into());
    }
    let _has_nulls = r.i32()?;
    let _element_oid = r.i32()?;
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let len = usize::try_from(r.i32()?).map_err(|_| "negative array length")?;
        dims.push((len, r.i32()?));
    }
    if ndim == 0 || dims.iter().any(|(len, _)| *len == 0) {
        return Ok("{}".into());
    }
    let mut out = String::new();
    if dims.iter().any(|(_, lower)| *lower != 1) {
        for (len, lower) in &dims {
            let upper = i64::from(*lower) + *len as i64 - 1;
            out.push_str(&format!("[{lower}:{upper}]"));
        }
        out.push('=');
    }
    let total = dims
        .iter()
        .try_fold(1usize, |n, (len, _)| n.checked_mul(*len))
        .filter(|n| *n <= raw.len() / 4)
        .ok_or("array longer than its bytes")?;
    // Row-major order: a brace opens wherever an index starts over, closes where it ends.
    for i in 0..total {
        let mut stride = total;
        for (len, _) in &dims {
            stride /= len;
            if i % (stride * len) == 0 {
                out.push('{');
            }
        }
        let len = r.i32()?;
        if len < 0 {
            out.push_str("NULL");
        } else {
            let bytes = r.take(len as usize)?;
            push_element(&mut out, &scalar_text(element, bytes)?);
        }
        let mut stride = total;
        let mut closes = 0;
        for (len, _) in &dims {
            stride /= len;
            if (i + 1) % (stride * len) == 0 {
                closes += 1;
            }
        }
        out.push_str(&"}".repeat(closes));
        if i + 1 < total {
            out.push(',');
        }
    }
    if !r.0.is_empty() {
        return Err("bytes after the array's last element".into());
    }
    Ok(out)
}

/// One element as `array_out` writes it: quoted when empty, `NULL`-like, or holding a
/// delimiter, brace, quote, backslash or white space; `"` and `\` escaped.
fn push_element(out: &mut String, text: &str) {
    let quote = text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text.chars().any(|c| {
            matches!(c, '{' | '}' | ',' | '"' | '\\')
                || matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
        });
    if !quote {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `interval_send`'s form (microseconds, days, months) as `interval_out` prints it with
/// `IntervalStyle` postgres: `1 year 2 mons -3 days +04:05:06.5`.
fn interval_text(raw: &[u8]) -> Result<String, BoxError> {
    let raw: [u8; 16] = raw.try_into().map_err(|_| "interval of wrong length")?;
    let micros = i64::from_be_bytes(raw[0..8].try_into()?);
    let days = i64::from(i32::from_be_bytes(raw[8..12].try_into()?));
    let months = i64::from(i32::from_be_bytes(raw[12..16].try_into()?));
    let mut out = String::new();
    let (mut zero, mut before) = (true, false);
    for (value, unit) in [(months / 12, "year"), (months % 12, "mon"), (days, "day")] {
        if value == 0 {
            continue;
        }
        out.push_str(&format!(
            "{}{}{value} {unit}{}",
            if zero { "" } else { " " },
            if before && value > 0 { "+" } else { "" },
            if value != 1 { "s" } else { "" }
        ));
        before = value < 0;
        zero = false;
    }
    if zero || micros != 0 {
        let hours = micros / 3_600_000_000;
        let minutes = micros / 60_000_000 % 60;
        let seconds = micros / 1_000_000 % 60;
        let fraction = micros % 1_000_000;
        out.push_str(&format!(
            "{}{}{:02}:{:02}:{:02}",
            if zero { "" } else { " " },
            if micros < 0 {
                "-"
            } else if before {
                "+"
            } else {
                ""
            },
            hours.unsigned_abs(),
            minutes.unsigned_abs(),
            seconds.unsigned_abs()
        ));
        if fraction != 0 {
            let f = format!("{:06}", fraction.unsigned_abs());
            out.push('.');
            out.push_str(f.trim_end_matches('0'));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
