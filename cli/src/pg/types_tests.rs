//! Tests of `types.rs`.

use super::*;

#[test]
fn type_names_of_every_engine_map_to_wire_types() {
    assert_eq!(wire_type("int4"), Type::INT4);
    assert_eq!(wire_type("INTEGER"), Type::INT8);
    assert_eq!(wire_type("numeric"), Type::TEXT);
    assert_eq!(wire_type("REAL"), Type::FLOAT8);
    assert_eq!(wire_type("varchar"), Type::VARCHAR);
    assert_eq!(text_type("numeric"), Some(Type::NUMERIC));
    assert_eq!(text_type("int4"), Some(Type::INT4));
    assert_eq!(
        text_type("INTEGER"),
        None,
        "SQLite's names are typed from values"
    );
    assert_eq!(text_type("interval"), None, "held as raw binary");
}

#[test]
fn text_parameters_become_values_of_their_type_for_sqlite() {
    let text = |s: &str| Value::Text(s.into());
    assert_eq!(typed_text(text(" 42"), &Type::INT4), Value::Int(42));
    assert_eq!(typed_text(text("0.5"), &Type::FLOAT8), Value::Float(0.5));
    assert_eq!(typed_text(text("TRUE"), &Type::BOOL), Value::Bool(true));
    assert_eq!(typed_text(text("off"), &Type::BOOL), Value::Bool(false));
    assert_eq!(typed_text(text("maybe"), &Type::BOOL), text("maybe"));
    assert_eq!(typed_text(text("42"), &Type::TEXT), text("42"));
    assert_eq!(typed_text(text("4x"), &Type::INT8), text("4x"));
}

#[test]
fn binary_parameters_decode_by_type_and_text_stays_text() {
    let four = Bytes::from_static(&[0, 0, 0, 42]);
    assert_eq!(
        decode(Some(&four), FieldFormat::Binary, &Type::INT4).unwrap(),
        Value::Int(42)
    );
    assert_eq!(
        decode(
            Some(&Bytes::from_static(b"42")),
            FieldFormat::Text,
            &Type::INT4
        )
        .unwrap(),
        Value::Text("42".into())
    );
    assert_eq!(
        decode(None, FieldFormat::Binary, &Type::INT4).unwrap(),
        Value::Null
    );
    assert!(decode(Some(&four), FieldFormat::Binary, &Type::NUMERIC).is_err());
    assert!(decode(Some(&four), FieldFormat::Binary, &Type::INTERVAL).is_err());
    let day_one = Bytes::from_static(&[0, 0, 0, 1]);
    assert_eq!(
        decode(Some(&day_one), FieldFormat::Binary, &Type::DATE).unwrap(),
        Value::Text("2000-01-02".into())
    );
    let micros = Bytes::copy_from_slice(&(-1_500_000i64).to_be_bytes());
    assert_eq!(
        decode(Some(&micros), FieldFormat::Binary, &Type::TIMESTAMPTZ).unwrap(),
        Value::Text("1999-12-31 23:59:58.5+00".into())
    );
    assert!(decode(Some(&four), FieldFormat::Binary, &Type::INT8).is_err());
}

fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Bytes {
    let mut b = Vec::new();
    for w in [ndigits, weight, sign as i16, dscale] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    for d in digits {
        b.extend_from_slice(&d.to_be_bytes());
    }
    Bytes::from(b)
}

#[test]
fn binary_numeric_uuid_and_json_parameters_become_their_exact_text() {
    let n = |raw: Bytes| match decode(Some(&raw), FieldFormat::Binary, &Type::NUMERIC) {
        Ok(Value::Text(t)) => t,
        other => panic!("{other:?}"),
    };
    // 12345.678: digits 1 2345 6780, weight 1, scale 3.
    assert_eq!(n(numeric(3, 1, 0, 3, &[1, 2345, 6780])), "12345.678");
    assert_eq!(n(numeric(1, -1, 0x4000, 4, &[5])), "-0.0005");
    assert_eq!(n(numeric(1, 2, 0, 0, &[7])), "700000000");
    assert_eq!(n(numeric(0, 0, 0, 2, &[])), "0.00");
    assert_eq!(n(numeric(0, 0, 0xC000, 0, &[])), "NaN");
    assert_eq!(n(numeric(2, 0, 0, 8, &[3, 1415])), "3.14150000");
    for bad in [
        numeric(2, 0, 0, 0, &[1]),
        numeric(1, 0, 0, 0, &[10_000]),
        numeric(1, 0, 0x1234, 0, &[1]),
        numeric(-1, 0, 0, 0, &[]),
    ] {
        assert!(decode(Some(&bad), FieldFormat::Binary, &Type::NUMERIC).is_err());
    }
    let uuid = Bytes::from_static(&[
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
    ]);
    assert_eq!(
        decode(Some(&uuid), FieldFormat::Binary, &Type::UUID).unwrap(),
        Value::Text("12345678-9abc-def0-0001-020304050607".into())
    );
    assert!(decode(Some(&uuid.slice(1..)), FieldFormat::Binary, &Type::UUID).is_err());
    assert_eq!(
        decode(
            Some(&Bytes::from_static(b"\x01{}")),
            FieldFormat::Binary,
            &Type::JSONB
        )
        .unwrap(),
        Value::Text("{}".into())
    );
    assert!(decode(
        Some(&Bytes::from_static(b"\x02{}")),
        FieldFormat::Binary,
        &Type::JSONB
    )
    .is_err());
}
