//! Just enough DER to read a certificate's signature algorithm (for SCRAM channel
//! binding). Pure, bounds-checked: a certificate that does not parse gives `None`.

/// One element: its tag, its contents, and what follows it.
fn element(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;

/// The OID (its encoded bytes) of `Certificate.signatureAlgorithm.algorithm`.
pub fn signature_algorithm(cert: &[u8]) -> Option<Vec<u8>> {
    let (tag, certificate, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _tbs, rest) = element(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, algorithm, _) = element(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, oid, _) = element(algorithm)?;
    (tag == OID).then(|| oid.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_wrong_input_gives_none() {
        assert_eq!(signature_algorithm(b""), None);
        assert_eq!(signature_algorithm(&[0x30, 0x82, 0xff]), None);
        assert_eq!(signature_algorithm(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
    }

    #[test]
    fn reads_the_algorithm_of_a_minimal_certificate_shape() {
        // SEQUENCE { SEQUENCE {}, SEQUENCE { OID 1.2.840.10045.4.3.2 }, BIT STRING }
        let oid = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend_from_slice(&oid);
        let mut body = vec![0x30, 0x00, 0x30, alg.len() as u8];
        body.extend_from_slice(&alg);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut cert = vec![0x30, body.len() as u8];
        cert.extend_from_slice(&body);
        assert_eq!(signature_algorithm(&cert), Some(oid.to_vec()));
    }
}
