use super::*;

#[test]
fn floats_print_as_postgresql_prints_them() {
    for (v, want) in [
        (0.1, "0.1"),
        (0.25, "0.25"),
        (-1.5, "-1.5"),
        (1e20, "1e+20"),
        (1e15, "1e+15"),
        (1e14, "100000000000000"),
        (123_456.789, "123456.789"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.2345678901234568e20, "1.2345678901234568e+20"),
        (-1e300, "-1e+300"),
        (-0.0, "-0"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        assert_eq!(float_text(v, false), want, "{v:e}");
    }
    // A float4 held as f64 prints with float4's digits.
    assert_eq!(float_text(f64::from(0.1f32), true), "0.1");
    assert_eq!(float_text(f64::from(1_234_567f32), true), "1.234567e+06");
    assert_eq!(float_text(f64::from(123_456f32), true), "123456");
}

fn interval(micros: i64, days: i32, months: i32) -> String {
    let mut raw = micros.to_be_bytes().to_vec();
    raw.extend_from_slice(&days.to_be_bytes());
    raw.extend_from_slice(&months.to_be_bytes());
    text_form(&Type::INTERVAL, &raw).unwrap().unwrap()
}

#[test]
fn intervals_print_in_the_postgres_style() {
    assert_eq!(interval(0, 0, 0), "00:00:00");
    assert_eq!(interval(7_384_000_000, 1, 0), "1 day 02:03:04");
    assert_eq!(interval(0, 0, -1), "-1 mons");
    assert_eq!(
        interval(14_706_500_000, -3, 14),
        "1 year 2 mons -3 days +04:05:06.5"
    );
    assert_eq!(interval(7_200_000_000, -1, 0), "-1 days +02:00:00");
    assert_eq!(interval(-3_661_000_000, 0, 0), "-01:01:01");
    assert_eq!(interval(1, 0, 24), "2 years 00:00:00.000001");
    assert!(text_form(&Type::INTERVAL, &[0; 15]).unwrap().is_err());
}

/// `array_send`'s bytes for elements of type `oid`.
fn array(oid: u32, dims: &[(i32, i32)], elements: &[Option<&[u8]>]) -> Vec<u8> {
    let mut out = (dims.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&i32::from(elements.iter().any(Option::is_none)).to_be_bytes());
    out.extend_from_slice(&oid.to_be_bytes());
    for (len, lower) in dims {
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&lower.to_be_bytes());
    }
    for e in elements {
        match e {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn text_of(ty: &Type, raw: &[u8]) -> String {
    text_form(ty, raw).unwrap().unwrap()
}

#[test]
fn arrays_print_as_array_out_does() {
    let (one, three) = (1i32.to_be_bytes(), 3i32.to_be_bytes());
    let ints = array(23, &[(3, 1)], &[Some(&one), None, Some(&three)]);
    assert_eq!(text_of(&Type::INT4_ARRAY, &ints), "{1,NULL,3}");
    let texts = array(
        25,
        &[(5, 1)],
        &[
            Some(b"a"),
            Some(b"b c"),
            Some(b""),
            Some(b"a\"b\\"),
            Some(b"null"),
        ],
    );
    assert_eq!(
        text_of(&Type::TEXT_ARRAY, &texts),
        r#"{a,"b c","","a\"b\\","null"}"#
    );
    let square: Vec<[u8; 4]> = (1..=6i32).map(i32::to_be_bytes).collect();
    let refs: Vec<Option<&[u8]>> = square.iter().map(|b| Some(&b[..])).collect();
    let grid = array(23, &[(2, 1), (3, 1)], &refs);
    assert_eq!(text_of(&Type::INT4_ARRAY, &grid), "{{1,2,3},{4,5,6}}");
    let shifted = array(23, &[(2, 0)], &refs[..2]);
    assert_eq!(text_of(&Type::INT4_ARRAY, &shifted), "[0:1]={1,2}");
    assert_eq!(text_of(&Type::INT4_ARRAY, &array(23, &[], &[])), "{}");
    let bytes = array(17, &[(1, 1)], &[Some(&[0x00, 0xff])]);
    assert_eq!(text_of(&Type::BYTEA_ARRAY, &bytes), r#"{"\\x00ff"}"#);
    let floats = array(701, &[(1, 1)], &[Some(&1e20f64.to_be_bytes())]);
    assert_eq!(text_of(&Type::FLOAT8_ARRAY, &floats), "{1e+20}");
}

#[test]
fn malformed_arrays_are_errors_not_panics() {
    let one = 1i32.to_be_bytes();
    let good = array(23, &[(1, 1)], &[Some(&one)]);
    for cut in 0..good.len() {
        assert!(
            text_form(&Type::INT4_ARRAY, &good[..cut]).unwrap().is_err(),
            "{cut}"
        );
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(text_form(&Type::INT4_ARRAY, &trailing).unwrap().is_err());
    // A length claiming more elements than the bytes could hold allocates nothing.
    let huge = array(23, &[(i32::MAX, 1), (i32::MAX, 1)], &[]);
    assert!(text_form(&Type::INT4_ARRAY, &huge).unwrap().is_err());
    let deep = array(23, &[(1, 1); 7], &[Some(&one)]);
    assert!(text_form(&Type::INT4_ARRAY, &deep).unwrap().is_err());
    assert!(text_form(&Type::INT4, &one).is_none());
    assert!(text_form(&Type::POINT_ARRAY, &good).is_none());
}
