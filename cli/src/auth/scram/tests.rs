use super::*;

/// A client's side of the exchange, per RFC 5802, to test the server against.
fn client_final(password: &str, first_bare: &str, server_first: &str, cbind: &[u8]) -> String {
    let mut attrs = server_first.split(',');
    let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
    let salt = B64
        .decode(attrs.next().unwrap().strip_prefix("s=").unwrap())
        .unwrap();
    let iterations: u32 = attrs
        .next()
        .unwrap()
        .strip_prefix("i=")
        .unwrap()
        .parse()
        .unwrap();
    let v = Verifier::new(password, &salt, iterations);
    let without_proof = format!("c={},r={nonce}", B64.encode(cbind));
    let auth = [
        first_bare.as_bytes(),
        b",",
        server_first.as_bytes(),
        b",",
        without_proof.as_bytes(),
    ];
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(iterations).unwrap(),
        &salt,
        password.as_bytes(),
        &mut salted,
    );
    let client_key = hmac256(&salted, &[b"Client Key"]);
    let signature = hmac256(&v.stored_key, &auth);
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(a, b)| a ^ b)
        .collect();
    format!("{without_proof},p={}", B64.encode(proof))
}

#[test]
fn rfc7677_test_vector_verifier() {
    // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096.
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let v = Verifier::new("pencil", &salt, 4096);
    // ServerSignature of the RFC's exchange, from its AuthMessage.
    let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let sig = hmac256(&v.server_key, &[auth.as_bytes()]);
    assert_eq!(
        B64.encode(sig),
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    // And the client proof it gives is accepted.
    let signature = hmac256(&v.stored_key, &[auth.as_bytes()]);
    let proof = B64
        .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        .unwrap();
    let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
    assert_eq!(sha256(&client_key), v.stored_key);
}

#[test]
fn verifier_round_trips_and_bad_ones_are_refused() {
    let v = Verifier::generate("secret");
    let text = v.to_string();
    assert!(text.starts_with("SCRAM-SHA-256$4096:"));
    assert_eq!(Verifier::parse(&text).unwrap(), v);
    for bad in [
        "",
        "md5abc",
        "SCRAM-SHA-256$0:AAAA$AAAA:AAAA",
        "SCRAM-SHA-256$4096:AAAA$AAAA",
        "SCRAM-SHA-256$4096:!!$AAAA:AAAA",
        "SCRAM-SHA-256$4096:AAAA$AAAA:AAAA",
    ] {
        assert!(Verifier::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_right_password_logs_in_and_gets_the_server_signature() {
    let v = Verifier::generate("secret");
    let first = "n,,n=,r=abcdefghijkl";
    let (exchange, server_first) =
        Exchange::start(v.clone(), MECHANISM, first.as_bytes(), None).unwrap();
    assert!(server_first.starts_with("r=abcdefghijkl"));
    let last = client_final("secret", "n=,r=abcdefghijkl", &server_first, b"n,,");
    let server_final = exchange.finish(last.as_bytes()).unwrap();
    assert!(server_final.starts_with("v="));
}

#[test]
fn a_wrong_password_or_a_mock_user_fails_at_the_proof() {
    for verifier in [Verifier::generate("secret"), Verifier::mock("nobody", b"k")] {
        let first = "n,,n=,r=abcdefghijkl";
        let (exchange, server_first) =
            Exchange::start(verifier, MECHANISM, first.as_bytes(), None).unwrap();
        let last = client_final("wrong", "n=,r=abcdefghijkl", &server_first, b"n,,");
        assert_eq!(
            exchange.finish(last.as_bytes()),
            Err(ScramError::WrongProof)
        );
    }
    assert_eq!(
        Verifier::mock("nobody", b"k").salt,
        Verifier::mock("nobody", b"k").salt,
        "a mock user's salt is stable"
    );
}

#[test]
fn channel_binding_is_checked_both_ways() {
    let endpoint = vec![9u8; 32];
    let v = Verifier::generate("secret");
    let first = "p=tls-server-end-point,,n=,r=nonce1";
    let (exchange, server_first) = Exchange::start(
        v.clone(),
        MECHANISM_PLUS,
        first.as_bytes(),
        Some(endpoint.clone()),
    )
    .unwrap();
    let mut cbind = b"p=tls-server-end-point,,".to_vec();
    cbind.extend_from_slice(&endpoint);
    let last = client_final("secret", "n=,r=nonce1", &server_first, &cbind);
    exchange.finish(last.as_bytes()).unwrap();

    // Another certificate's hash: refused.
    let (exchange, server_first) = Exchange::start(
        v.clone(),
        MECHANISM_PLUS,
        first.as_bytes(),
        Some(endpoint.clone()),
    )
    .unwrap();
    let mut other = b"p=tls-server-end-point,,".to_vec();
    other.extend_from_slice(&[8u8; 32]);
    let last = client_final("secret", "n=,r=nonce1", &server_first, &other);
    assert!(matches!(
        exchange.finish(last.as_bytes()),
        Err(ScramError::ChannelBinding(_))
    ));

    // PLUS without TLS, binding under the plain mechanism, and a downgrade: refused.
    assert!(Exchange::start(v.clone(), MECHANISM_PLUS, first.as_bytes(), None).is_err());
    assert!(Exchange::start(
        v.clone(),
        MECHANISM,
        first.as_bytes(),
        Some(endpoint.clone())
    )
    .is_err());
    assert!(Exchange::start(v.clone(), MECHANISM, b"y,,n=,r=x", Some(endpoint)).is_err());
    assert!(Exchange::start(v, MECHANISM, b"y,,n=,r=x", None).is_ok());
}

#[test]
fn malformed_client_messages_are_errors() {
    for bad in [
        &b""[..],
        b"n",
        b"n,,",
        b"x,,n=,r=a",
        b"n,a=u,n=,r=a",
        b"n,,m=ext,n=,r=a",
        b"n,,n=,r=",
        b"p=tls-unique,,n=,r=a",
        b"\xff,,n=,r=a",
    ] {
        assert!(ClientFirst::parse(bad).is_err(), "{bad:?}");
    }
    for bad in [
        &b""[..],
        b"c=biws,r=a",
        b"c=!!,r=a,p=AAAA",
        b"c=biws,r=a,p=AAAA",
    ] {
        assert!(ClientFinal::parse(bad).is_err(), "{bad:?}");
    }
}
