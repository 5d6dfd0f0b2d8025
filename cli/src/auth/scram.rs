//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, server side: the stored
//! verifier, the two client messages' parsers (pure, fuzzed) and the exchange.
//!
//! PostgreSQL's flavour: the user name inside the client-first message is ignored (the
//! startup packet's is used, and clients send an empty one); an authorization identity is
//! not supported; channel binding is `tls-server-end-point` only, offered as
//! `SCRAM-SHA-256-PLUS` when the connection is TLS.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;

/// The mechanism names, as offered in AuthenticationSASL.
pub const MECHANISM: &str = "SCRAM-SHA-256";
pub const MECHANISM_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// PostgreSQL's default iteration count (`scram_iterations`).
pub const DEFAULT_ITERATIONS: u32 = 4096;
const KEY_LEN: usize = 32;
/// The channel binding type PostgreSQL supports.
pub const CHANNEL_BINDING: &str = "tls-server-end-point";

/// Why a client message or a verifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramError {
    /// The message does not follow the grammar.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding this connection cannot give, or claimed the
    /// server offers none when it does (a downgrade).
    #[error("channel binding: {0}")]
    ChannelBinding(&'static str),
    /// The proof does not match (wrong password, or an unknown user).
    #[error("password authentication failed")]
    WrongProof,
    /// A stored verifier that does not parse.
    #[error("not a SCRAM-SHA-256 verifier: {0}")]
    BadVerifier(&'static str),
}

/// What the server keeps of a password: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
/// as `pg_authid.rolpassword` stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; KEY_LEN],
    pub server_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are password equivalents for this server: never in a log.
        f.debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

fn hmac256(key: &[u8], data: &[&[u8]]) -> [u8; KEY_LEN] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for d in data {
        ctx.update(d);
    }
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Equal in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Verifier {
    /// The verifier of `password` (SASLprep'd as PostgreSQL does: a password that is not
    /// valid for SASLprep is used as its bytes) with `salt` and `iterations`.
    pub fn new(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let prepared = stringprep::saslprep(password)
            .map(|p| p.into_owned())
            .unwrap_or_else(|_| password.to_string());
        let mut salted = [0u8; KEY_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN),
            salt,
            prepared.as_bytes(),
            &mut salted,
        );
        let client_key = hmac256(&salted, &[b"Client Key"]);
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac256(&salted, &[b"Server Key"]),
        }
    }

    /// The verifier of `password` with a fresh random 16-byte salt (PostgreSQL's length).
    pub fn generate(password: &str) -> Verifier {
        let salt: [u8; 16] = rand::random();
        Verifier::new(password, &salt, DEFAULT_ITERATIONS)
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Result<Verifier, ScramError> {
        let rest = text
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or(ScramError::BadVerifier(
                "does not start with SCRAM-SHA-256$",
            ))?;
        let (params, keys) = rest
            .split_once('$')
            .ok_or(ScramError::BadVerifier("no '$' before the keys"))?;
        let (iterations, salt) = params.split_once(':').ok_or(ScramError::BadVerifier(
            "no ':' between iterations and salt",
        ))?;
        let (stored, server) = keys
            .split_once(':')
            .ok_or(ScramError::BadVerifier("no ':' between the keys"))?;
        let iterations: u32 =
            iterations
                .parse()
                .ok()
                .filter(|i| *i > 0)
                .ok_or(ScramError::BadVerifier(
                    "iterations is not a positive number",
                ))?;
        let salt = B64
            .decode(salt)
            .map_err(|_| ScramError::BadVerifier("salt is not base64"))?;
        let key = |s: &str| -> Result<[u8; KEY_LEN], ScramError> {
            B64.decode(s)
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or(ScramError::BadVerifier("a key is not 32 bytes of base64"))
        };
        Ok(Verifier {
            iterations,
            salt,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }

    /// A verifier for a user who does not exist, stable per name (so that asking twice
    /// gives the same salt, as for a real user) and unguessable without `secret`; the
    /// exchange runs through and fails at the proof, as PostgreSQL's mock authentication.
    pub fn mock(user: &str, secret: &[u8]) -> Verifier {
        let salt = hmac256(secret, &[b"mock salt", user.as_bytes()]);
        Verifier {
            iterations: DEFAULT_ITERATIONS,
            salt: salt[..16].to_vec(),
            stored_key: hmac256(secret, &[b"mock stored", user.as_bytes()]),
            server_key: hmac256(secret, &[b"mock server", user.as_bytes()]),
        }
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

/// The channel binding the client asked for (the gs2 header's flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// `n`: the client does not support it.
    None,
    /// `y`: the client supports it but thinks the server does not.
    Supported,
    /// `p=tls-server-end-point`.
    ServerEndPoint,
}

/// The client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    pub binding: Binding,
    /// The gs2 header as sent (`n,,`), which the client repeats (base64) in its final message.
    pub gs2_header: String,
    /// `n=...,r=...[,...]`: part of the AuthMessage.
    pub bare: String,
    pub nonce: String,
}

/// A printable nonce: `%x21-2B / %x2D-7E` (no comma).
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

impl ClientFirst {
    /// Parses `gs2-header client-first-message-bare`.
    pub fn parse(data: &[u8]) -> Result<ClientFirst, ScramError> {
        let text = std::str::from_utf8(data).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let mut parts = text.splitn(3, ',');
        let flag = parts.next().ok_or(ScramError::Malformed("empty"))?;
        let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = parts
            .next()
            .ok_or(ScramError::Malformed("no client-first-message-bare"))?;
        let binding = match flag {
            "n" => Binding::None,
            "y" => Binding::Supported,
            "p=tls-server-end-point" => Binding::ServerEndPoint,
            f if f.starts_with("p=") => {
                return Err(ScramError::ChannelBinding(
                    "unsupported channel binding type",
                ))
            }
            _ => return Err(ScramError::Malformed("bad channel binding flag")),
        };
        if !authzid.is_empty() {
            return Err(ScramError::Malformed(
                "an authorization identity is not supported",
            ));
        }
        let mut attributes = bare.split(',');
        let user = attributes.next().unwrap_or("");
        if user.starts_with("m=") {
            return Err(ScramError::Malformed(
                "mandatory extensions are not supported",
            ));
        }
        if !user.starts_with("n=") {
            return Err(ScramError::Malformed("no user name attribute"));
        }
        let nonce = attributes
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .filter(|n| valid_nonce(n))
            .ok_or(ScramError::Malformed("no valid client nonce"))?;
        Ok(ClientFirst {
            binding,
            gs2_header: text[..flag.len() + authzid.len() + 2].to_string(),
            bare: bare.to_string(),
            nonce: nonce.to_string(),
        })
    }
}

/// The client-final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// The decoded `c=` attribute: gs2 header plus channel binding data.
    pub channel_binding: Vec<u8>,
    pub nonce: String,
    pub proof: [u8; KEY_LEN],
    /// Everything before `,p=`: part of the AuthMessage.
    pub without_proof: String,
}

impl ClientFinal {
    /// Parses `c=...,r=...[,...],p=...`.
    pub fn parse(data: &[u8]) -> Result<ClientFinal, ScramError> {
        let text = std::str::from_utf8(data).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attributes = without_proof.split(',');
        let channel_binding = attributes
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .and_then(|c| B64.decode(c).ok())
            .ok_or(ScramError::Malformed("no valid channel binding attribute"))?;
        let nonce = attributes
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .filter(|n| valid_nonce(n))
            .ok_or(ScramError::Malformed("no valid nonce"))?;
        let proof = B64
            .decode(proof)
            .ok()
            .and_then(|p| <[u8; KEY_LEN]>::try_from(p).ok())
            .ok_or(ScramError::Malformed("the proof is not 32 bytes of base64"))?;
        Ok(ClientFinal {
            channel_binding,
            nonce: nonce.to_string(),
            proof,
            without_proof: without_proof.to_string(),
        })
    }
}

/// One server-side exchange, between the client-first and the client-final message.
pub struct Exchange {
    verifier: Verifier,
    first: ClientFirst,
    server_first: String,
    nonce: String,
    /// `tls-server-end-point` data of this connection, when it is TLS.
    endpoint: Option<Vec<u8>>,
}

impl Exchange {
    /// Starts an exchange: checks the client-first message against the mechanism the
    /// client chose and the connection (`endpoint`: the certificate hash when TLS), and
    /// returns the exchange and the server-first message to send.
    pub fn start(
        verifier: Verifier,
        mechanism: &str,
        client_first: &[u8],
        endpoint: Option<Vec<u8>>,
    ) -> Result<(Exchange, String), ScramError> {
        let first = ClientFirst::parse(client_first)?;
        match (mechanism, &first.binding, &endpoint) {
            (MECHANISM_PLUS, Binding::ServerEndPoint, Some(_)) => {}
            (MECHANISM_PLUS, _, _) => {
                return Err(ScramError::ChannelBinding(
                    "SCRAM-SHA-256-PLUS needs channel binding over TLS",
                ))
            }
            (MECHANISM, Binding::ServerEndPoint, _) => {
                return Err(ScramError::ChannelBinding(
                    "channel binding requested with SCRAM-SHA-256",
                ))
            }
            // The server offered -PLUS (TLS) and the client says it did not: a downgrade.
            (MECHANISM, Binding::Supported, Some(_)) => {
                return Err(ScramError::ChannelBinding(
                    "the client supports channel binding, which the server offered",
                ))
            }
            (MECHANISM, _, _) => {}
            _ => return Err(ScramError::Malformed("unknown mechanism")),
        }
        let server_nonce: [u8; 18] = rand::random();
        let nonce = format!("{}{}", first.nonce, B64.encode(server_nonce));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&verifier.salt),
            verifier.iterations
        );
        Ok((
            Exchange {
                verifier,
                first,
                server_first: server_first.clone(),
                nonce,
                endpoint,
            },
            server_first,
        ))
    }

    /// Checks the client-final message; returns the server-final message (`v=...`) when
    /// the proof is right.
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        let last = ClientFinal::parse(client_final)?;
        let mut expected = self.first.gs2_header.as_bytes().to_vec();
        if self.first.binding == Binding::ServerEndPoint {
            expected.extend_from_slice(self.endpoint.as_deref().unwrap_or_default());
        }
        if last.channel_binding != expected {
            return Err(ScramError::ChannelBinding(
                "the channel binding data does not match",
            ));
        }
        if last.nonce != self.nonce {
            return Err(ScramError::Malformed("the nonce does not match"));
        }
        let auth_message = [
            self.first.bare.as_bytes(),
            b",",
            self.server_first.as_bytes(),
            b",",
            last.without_proof.as_bytes(),
        ];
        let signature = hmac256(&self.verifier.stored_key, &auth_message);
        let client_key: Vec<u8> = last
            .proof
            .iter()
            .zip(signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !constant_time_eq(&sha256(&client_key), &self.verifier.stored_key) {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac256(&self.verifier.server_key, &auth_message);
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// The `tls-server-end-point` channel binding data of a certificate (RFC 5929): its hash
/// with the hash of its signature algorithm, SHA-256 for MD5 and SHA-1; `None` for an
/// algorithm without one (Ed25519), where PostgreSQL offers no binding either.
pub fn server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    let algorithm = super::der::signature_algorithm(cert_der)?;
    let hash = match algorithm.as_slice() {
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        [42, 134, 72, 134, 247, 13, 1, 1, 12] | [42, 134, 72, 206, 61, 4, 3, 3] => &digest::SHA384,
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        [42, 134, 72, 134, 247, 13, 1, 1, 13] | [42, 134, 72, 206, 61, 4, 3, 4] => &digest::SHA512,
        // Ed25519, Ed448
        [43, 101, 112] | [43, 101, 113] => return None,
        _ => &digest::SHA256,
    };
    Some(digest::digest(hash, cert_der).as_ref().to_vec())
}

#[cfg(test)]
mod tests;
