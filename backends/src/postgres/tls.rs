//! TLS to a PostgreSQL backend, as libpq's `sslmode` asks, over rustls.
//!
//! - `verify-full` and `require`: TLS, the certificate checked against `sslrootcert` (else
//!   the system's CAs) **and** the host name. `require` verifies fully here, unlike libpq:
//!   mdbd carries every write of the cluster, and a TLS that trusts any certificate protects
//!   it from nothing a man in the middle does.
//! - `verify-ca`: TLS, the chain checked, the host name not (for servers reached by an
//!   address their certificate does not name).
//! - `disable`, `allow`, `prefer` or none: no TLS (libpq's `prefer` would try TLS without
//!   verifying anything; mdbd does not pretend that is security).
//!
//! The connection string given to tokio-postgres is the operator's without `sslmode` and
//! `sslrootcert` (tokio-postgres knows neither `verify-*` nor `sslrootcert`); `pg_dump` and
//! `pg_restore` get the operator's string as it is, and libpq honours it there.

use mdbd_engine::backend::BackendError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// Where a backend is, and how to reach it.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    /// Set when the connection must be TLS.
    pub tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

/// The system's CA bundle (Debian's `ca-certificates`).
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Splits a libpq key/value connection string into pairs (values may be single-quoted,
/// with `\'` and `\\` escapes).
fn pairs(conninfo: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("{key:?} has no value"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("{key:?}: unterminated quoted value")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.extend(chars.next());
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Target {
    /// Reads `conninfo`: the connection, and TLS as its `sslmode` asks.
    pub fn parse(conninfo: &str) -> Result<Target, BackendError> {
        let bad = |m: String| BackendError::Config(format!("conninfo: {m}"));
        let mut mode = None;
        let mut root = None;
        let mut rest = Vec::new();
        for (key, value) in pairs(conninfo).map_err(bad)? {
            match key.as_str() {
                "sslmode" => mode = Some(value),
                "sslrootcert" => root = Some(value),
                "sslcert" | "sslkey" => {
                    return Err(bad(format!(
                        "{key}: client certificates to backends are not supported"
                    )))
                }
                _ => rest.push(format!("{key}={}", quote(&value))),
            }
        }
        let verify = match mode.as_deref() {
            None | Some("disable" | "allow" | "prefer") => None,
            Some("require" | "verify-full") => Some(true),
            Some("verify-ca") => Some(false),
            Some(other) => return Err(bad(format!("sslmode={other:?} is not a libpq sslmode"))),
        };
        let config: tokio_postgres::Config =
            rest.join(" ").parse().map_err(|e| bad(format!("{e}")))?;
        let Some(check_name) = verify else {
            return Ok(Target { config, tls: None });
        };
        let mut config = config;
        config.ssl_mode(tokio_postgres::config::SslMode::Require);
        let roots_file = root.unwrap_or_else(|| SYSTEM_CAS.to_string());
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(&roots_file)
            .map_err(|e| bad(format!("sslrootcert {roots_file}: {e}")))?;
        for cert in certs {
            let cert = cert.map_err(|e| bad(format!("sslrootcert {roots_file}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("sslrootcert {roots_file}: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| bad(format!("sslrootcert {roots_file}: {e}")))?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                inner: verifier,
                check_name,
            }))
            .with_no_client_auth();
        Ok(Target {
            config,
            tls: Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls)),
        })
    }
}

/// The standard verifier; for `verify-ca`, a certificate valid in every way but its name
/// is accepted.
#[derive(Debug)]
struct Verifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_pairs_follow_libpq_quoting() {
        let p = pairs("host=a port = 5 password='it\\'s x' dbname=d\\ b").unwrap();
        assert_eq!(
            p,
            [
                ("host".into(), "a".into()),
                ("port".into(), "5".into()),
                ("password".into(), "it's x".into()),
                ("dbname".into(), "d b".into()),
            ]
        );
        assert!(pairs("host").is_err());
        assert!(pairs("password='x").is_err());
    }

    #[test]
    fn sslmode_decides_tls() {
        let t = Target::parse("host=a user=u password='p q' sslmode=prefer").unwrap();
        assert!(t.tls.is_none());
        assert_eq!(t.config.get_password(), Some(&b"p q"[..]));
        assert!(Target::parse("host=a sslmode=bogus").is_err());
        assert!(Target::parse("host=a sslmode=require sslrootcert=/nonexistent").is_err());
        assert!(Target::parse("host=a sslcert=x").is_err());
    }
}
