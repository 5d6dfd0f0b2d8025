use super::super::datetime::*;
use super::*;

fn text_numeric(t: &str) -> String {
    numeric_text(&numeric_binary(t).unwrap()).unwrap()
}

#[test]
fn numeric_text_encodes_to_the_bytes_postgresql_sends() {
    // 1234.5600: weight 0, digits [1234, 5600], dscale 4.
    let raw = [0, 2, 0, 0, 0, 0, 0, 4, 0x04, 0xD2, 0x15, 0xE0];
    assert_eq!(numeric_text(&raw).unwrap(), "1234.5600");
    assert_eq!(numeric_binary("1234.5600").unwrap(), raw);
    // -0.05: weight -1, digits [500], dscale 2, negative.
    let raw = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0x01, 0xF4];
    assert_eq!(numeric_text(&raw).unwrap(), "-0.05");
    assert_eq!(numeric_binary("-0.05").unwrap(), raw);
    // Zero has no digits, weight 0 and a positive sign, whatever its spelling.
    assert_eq!(numeric_binary("0").unwrap(), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(numeric_binary("-0.000").unwrap(), [0, 0, 0, 0, 0, 0, 0, 3]);
    // 10000: one digit group [1] of weight 1 (trailing zero groups are dropped).
    assert_eq!(
        numeric_binary("10000").unwrap(),
        [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    );
    assert_eq!(numeric_binary("NaN").unwrap(), [0, 0, 0, 0, 0xC0, 0, 0, 0]);
    assert_eq!(
        numeric_binary("-Infinity").unwrap(),
        [0, 0, 0, 0, 0xF0, 0, 0, 0]
    );
}

#[test]
fn numeric_text_survives_a_round_trip_through_binary() {
    for t in [
        "1",
        "-1",
        "12345678.9",
        "0.0001",
        "0.00000123",
        "99999999999999999999.99999999999999999999",
        "100000000",
        "-123.4500",
        "Infinity",
    ] {
        assert_eq!(text_numeric(t), t, "{t}");
    }
    // Exponents and signs as PostgreSQL's input takes them.
    assert_eq!(text_numeric("1e-3"), "0.001");
    assert_eq!(text_numeric("-1.5e2"), "-150");
    assert_eq!(text_numeric("+2.50"), "2.50");
    assert_eq!(text_numeric(".5"), "0.5");
}

#[test]
fn malformed_or_huge_numerics_are_errors() {
    for t in [
        "",
        "-",
        "1.2.3",
        "abc",
        "1e",
        "1e99999999999",
        "--1",
        "1 2",
        "0x10",
    ] {
        assert!(numeric_binary(t).is_err(), "{t:?}");
    }
    assert!(numeric_binary("1e200000").is_err());
}

#[test]
fn dates_survive_a_round_trip_through_text() {
    assert_eq!(date_text(0), "2000-01-01");
    assert_eq!(date_text(9190), "2025-02-28");
    assert_eq!(date_text(i32::MAX), "infinity");
    assert_eq!(date_text(i32::MIN), "-infinity");
    // 1 BC is the year before 1 AD; PostgreSQL prints it with an era, not as year 0.
    assert_eq!(date_text(days_of(0, 12, 31) as i32), "0001-12-31 BC");
    assert_eq!(
        date_binary("0001-12-31 BC").unwrap(),
        days_of(0, 12, 31) as i32
    );
    // PostgreSQL's range: 4713 BC to 5874897 AD.
    let mut d = -2_451_545i64;
    while d < 2_147_483_000 {
        let days = d as i32;
        assert_eq!(
            date_binary(&date_text(days)).unwrap(),
            days,
            "{}",
            date_text(days)
        );
        d += 9_973;
    }
    for t in ["infinity", "-infinity"] {
        assert_eq!(date_text(date_binary(t).unwrap()), t);
    }
}

#[test]
fn impossible_dates_are_errors() {
    for t in [
        "2023-02-29",
        "0000-00-00",
        "2024-13-01",
        "2024-04-31",
        "0000-01-01 BC",
        "2024-1",
        "yesterday",
        "2024-01-01x",
    ] {
        assert!(date_binary(t).is_err(), "{t:?}");
    }
    assert_eq!(date_binary("2024-02-29").unwrap(), 8825);
}

#[test]
fn timestamps_survive_a_round_trip_through_text() {
    assert_eq!(timestamp_text(-1, false), "1999-12-31 23:59:59.999999");
    assert_eq!(timestamp_text(0, true), "2000-01-01 00:00:00+00");
    assert_eq!(timestamp_text(500_000, false), "2000-01-01 00:00:00.5");
    let mut m = -211_813_488_000_000_000i64;
    while m < 9_000_000_000_000_000_000 {
        for zone in [false, true] {
            let t = timestamp_text(m, zone);
            assert_eq!(timestamp_binary(&t, zone).unwrap(), m, "{t}");
        }
        m += 7_777_777_777_777_777;
    }
    assert_eq!(timestamp_binary("infinity", true).unwrap(), i64::MAX);
    assert_eq!(timestamp_text(i64::MIN, false), "-infinity");
}

#[test]
fn timestamps_take_the_forms_servers_print() {
    let utc = timestamp_binary("2024-01-01 00:00:00+00", true).unwrap();
    assert_eq!(
        timestamp_binary("2024-01-01 02:00:00+02", true).unwrap(),
        utc
    );
    assert_eq!(
        timestamp_binary("2023-12-31 19:30:00-04:30", true).unwrap(),
        utc
    );
    assert_eq!(timestamp_binary("2024-01-01T00:00:00Z", true).unwrap(), utc);
    // Without a zone (a MySQL DATETIME's text, a timestamp column) the offset is ignored.
    assert_eq!(timestamp_binary("2024-01-01 00:00:00", false).unwrap(), utc);
    assert_eq!(
        timestamp_binary("2024-01-01 00:00:00+05", false).unwrap(),
        utc
    );
    assert_eq!(
        timestamp_binary("2024-01-01 00:00:00.5", false).unwrap(),
        utc + 500_000
    );
    assert_eq!(
        timestamp_binary("2024-01-01 24:00:00", false).unwrap(),
        utc + MICROS_PER_DAY
    );
    for t in [
        "2024-01-01",
        "2024-01-01 25:00:00",
        "2024-01-01 10:60:00",
        "2024-01-01 10:00:00.1234567",
        "2024-01-01 10:00",
        "0000-00-00 00:00:00",
        "2024-01-01 10:00:00+99",
    ] {
        assert!(timestamp_binary(t, true).is_err(), "{t:?}");
    }
}

#[test]
fn text_held_values_encode_by_type_and_other_types_are_left_to_the_caller() {
    let bin = |ty: &Type, v: Value| binary_form(ty, &v).unwrap().unwrap();
    let uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let bytes = bin(&Type::UUID, Value::Text(uuid.into()));
    assert_eq!(bytes.len(), 16);
    assert_eq!(bytes[0], 0xa0);
    assert_eq!(bytes[15], 0x11);
    assert!(binary_form(&Type::UUID, &Value::Text("a0ee".into()))
        .unwrap()
        .is_err());
    assert_eq!(bin(&Type::JSONB, Value::Text("{}".into())), b"\x01{}");
    assert_eq!(bin(&Type::JSON, Value::Text("[1]".into())), b"[1]");
    assert_eq!(bin(&Type::OID, Value::Int(16_576)), 16_576u32.to_be_bytes());
    assert_eq!(
        bin(&Type::NUMERIC, Value::Int(10_000)),
        numeric_binary("10000").unwrap()
    );
    assert_eq!(
        bin(&Type::NUMERIC, Value::Float(0.5)),
        numeric_binary("0.5").unwrap()
    );
    assert_eq!(
        bin(&Type::DATE, Value::Text("2000-01-02".into())),
        1i32.to_be_bytes()
    );
    assert!(binary_form(&Type::DATE, &Value::Null).unwrap().is_err());
    assert!(binary_form(&Type::INT4, &Value::Int(1)).is_none());
    assert!(binary_form(&Type::INT4_ARRAY, &Value::Bytes(vec![0])).is_none());
}

#[test]
fn times_of_day_survive_a_round_trip_through_text() {
    assert_eq!(time_text(0), "00:00:00");
    assert_eq!(time_text(45_296_500_000), "12:34:56.5");
    assert_eq!(time_binary("12:34:56.5").unwrap(), 45_296_500_000);
    assert_eq!(time_binary("24:00:00").unwrap(), MICROS_PER_DAY);
    for micros in [0, 1, 45_296_500_000, MICROS_PER_DAY - 1, MICROS_PER_DAY] {
        assert_eq!(time_binary(&time_text(micros)).unwrap(), micros);
    }
    // timetz keeps its zone, stored as seconds west of UTC.
    assert_eq!(timetz_text(43_200_000_000, -19_800), "12:00:00+05:30");
    assert_eq!(timetz_text(0, 3_600), "00:00:00-01");
    assert_eq!(timetz_text(1, 0), "00:00:00.000001+00");
    for (micros, west) in [(43_200_000_000, -19_800), (0, 3_600), (5, -50_399), (7, 1)] {
        let text = timetz_text(micros, west);
        assert_eq!(timetz_binary(&text).unwrap(), (micros, west), "{text}");
    }
    for t in ["25:00:00", "12:60:00", "12:00", "noon", "12:00:00+16"] {
        assert!(timetz_binary(t).is_err(), "{t:?}");
    }
}
