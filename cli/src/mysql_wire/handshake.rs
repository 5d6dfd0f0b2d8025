//! The connection phase: the server's greeting (Handshake v10), the client's
//! HandshakeResponse41, the auth-switch request, and `mysql_native_password` checks.

use super::buf::Reader;
use super::WireError;
use sha1::{Digest, Sha1};

/// Capability flags this server uses.
pub mod caps {
    pub const LONG_PASSWORD: u32 = 0x1;
    pub const FOUND_ROWS: u32 = 0x2;
    pub const LONG_FLAG: u32 = 0x4;
    pub const CONNECT_WITH_DB: u32 = 0x8;
    pub const LOCAL_FILES: u32 = 0x80;
    pub const PROTOCOL_41: u32 = 0x200;
    pub const SSL: u32 = 0x800;
    pub const TRANSACTIONS: u32 = 0x2000;
    pub const SECURE_CONNECTION: u32 = 0x8000;
    pub const MULTI_STATEMENTS: u32 = 0x1_0000;
    pub const MULTI_RESULTS: u32 = 0x2_0000;
    pub const PS_MULTI_RESULTS: u32 = 0x4_0000;
    pub const PLUGIN_AUTH: u32 = 0x8_0000;
    pub const CONNECT_ATTRS: u32 = 0x10_0000;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x20_0000;

    /// MariaDB's extended capabilities (the greeting's and the response's last four
    /// reserved bytes, when [`LONG_PASSWORD`], "CLIENT_MYSQL", is not offered).
    pub mod mariadb {
        /// Column definitions carry the extended type info (`json`, `uuid`, ...).
        pub const EXTENDED_METADATA: u32 = 0x8;
    }

    /// What the greeting offers (and [`SSL`] when the listener has a certificate). Not
    /// offered: compression and `DEPRECATE_EOF` (result sets keep their EOF packets, which
    /// every client understands).
    pub const SERVER: u32 = LONG_PASSWORD
        | FOUND_ROWS
        | LONG_FLAG
        | CONNECT_WITH_DB
        | LOCAL_FILES
        | PROTOCOL_41
        | TRANSACTIONS
        | SECURE_CONNECTION
        | MULTI_STATEMENTS
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | CONNECT_ATTRS
        | PLUGIN_AUTH_LENENC_CLIENT_DATA;
}

/// The authentication methods: the client hashes the password with the scramble.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// `utf8mb4_general_ci`: the character set the greeting announces.
pub const UTF8MB4_GENERAL_CI: u8 = 45;

/// The server's first packet; `tls` offers CLIENT_SSL, `plugin` is the method clients
/// answer with first. `mariadb` greets as MariaDB does: without CLIENT_MYSQL and with its
/// extended capabilities (extended column metadata).
pub fn greeting(
    version: &str,
    connection_id: u32,
    scramble: &[u8; 20],
    tls: bool,
    plugin: &str,
    mariadb: bool,
) -> Vec<u8> {
    let mut capabilities = caps::SERVER | if tls { caps::SSL } else { 0 };
    let mut extended = 0u32;
    if mariadb {
        capabilities &= !caps::LONG_PASSWORD;
        extended = caps::mariadb::EXTENDED_METADATA;
    }
    let mut out = Vec::with_capacity(96);
    out.push(10); // protocol version
    out.extend_from_slice(version.as_bytes());
    out.push(0);
    out.extend_from_slice(&connection_id.to_le_bytes());
    out.extend_from_slice(&scramble[..8]);
    out.push(0);
    out.extend_from_slice(&(capabilities as u16).to_le_bytes());
    out.push(UTF8MB4_GENERAL_CI);
    out.extend_from_slice(&super::status::AUTOCOMMIT.to_le_bytes());
    out.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    out.push(21); // length of the whole scramble plus its NUL
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&extended.to_le_bytes());
    out.extend_from_slice(&scramble[8..]);
    out.push(0);
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
    out
}

/// True when the client's first answer is an SSLRequest: the short form of the
/// HandshakeResponse41 (32 bytes) with CLIENT_SSL, after which the client starts TLS.
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == 32
        && u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]) & caps::SSL != 0
}

/// What the client answered to the greeting.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub capabilities: u32,
    /// MariaDB's extended capabilities the client asked for (0 from other clients).
    pub mariadb_capabilities: u32,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
}

/// A text field of a connection-phase packet.
pub(super) fn text(b: &[u8], what: &'static str) -> Result<String, WireError> {
    String::from_utf8(b.to_vec()).map_err(|_| WireError::Invalid {
        what,
        detail: "not UTF-8".into(),
    })
}

impl HandshakeResponse {
    /// Parses a HandshakeResponse41. A 32-byte packet with the SSL flag is an SSL request,
    /// which this server did not offer: an error.
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(payload);
        let capabilities = r.u32("capabilities")?;
        if capabilities & caps::PROTOCOL_41 == 0 {
            return Err(WireError::Unsupported(
                "a client without the 4.1 protocol (CLIENT_PROTOCOL_41)".into(),
            ));
        }
        let _max_packet = r.u32("max packet size")?;
        let _charset = r.u8("character set")?;
        let filler = r.take(23, "filler")?;
        // Zero from MySQL clients; MariaDB's put their extended capabilities here.
        let mariadb_capabilities = if capabilities & caps::LONG_PASSWORD == 0 {
            u32::from_le_bytes([filler[19], filler[20], filler[21], filler[22]])
        } else {
            0
        };
        if capabilities & caps::SSL != 0 && r.is_empty() {
            return Err(WireError::Unsupported(
                "TLS: this listener does not offer it".into(),
            ));
        }
        let user = text(r.nul_terminated(), "user name")?;
        let auth_response = if capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes("auth response")?.to_vec()
        } else if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = r.u8("auth response length")?;
            r.take(usize::from(n), "auth response")?.to_vec()
        } else {
            r.nul_terminated().to_vec()
        };
        let database = if capabilities & caps::CONNECT_WITH_DB != 0 && !r.is_empty() {
            Some(text(r.nul_terminated(), "database")?).filter(|d| !d.is_empty())
        } else {
            None
        };
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 && !r.is_empty() {
            Some(text(r.nul_terminated(), "auth plugin")?)
        } else {
            None
        };
        // Connection attributes (CLIENT_CONNECT_ATTRS) follow; nothing here uses them.
        Ok(HandshakeResponse {
            capabilities,
            mariadb_capabilities,
            user,
            auth_response,
            database,
            auth_plugin,
        })
    }
}

/// An AuthSwitchRequest to `plugin` with `scramble`, for clients that answered the
/// greeting with another method than their user's.
pub fn auth_switch(plugin: &str, scramble: &[u8; 20]) -> Vec<u8> {
    let mut out = vec![0xfe];
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
    out.extend_from_slice(scramble);
    out.push(0);
    out
}

/// What a client that knows `password` sends for `scramble`:
/// SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); empty for an empty password.
pub fn native_token(password: &str, scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password.as_bytes());
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// True when `response` proves knowledge of `password` for `scramble`.
pub fn native_password_matches(password: &str, scramble: &[u8], response: &[u8]) -> bool {
    let expected = native_token(password, scramble);
    // Constant-time comparison: the response is attacker-controlled.
    expected.len() == response.len()
        && expected
            .iter()
            .zip(response)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql_wire::buf::put_lenenc_bytes;

    fn response(caps: u32, user: &str, auth: &[u8], db: Option<&str>) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        put_lenenc_bytes(&mut p, auth);
        if let Some(db) = db {
            p.extend_from_slice(db.as_bytes());
            p.push(0);
        }
        p.extend_from_slice(b"mysql_native_password\0");
        p
    }

    #[test]
    fn a_client_response_parses_with_its_database_and_plugin() {
        let caps = caps::SERVER;
        let got =
            HandshakeResponse::parse(&response(caps, "app", &[1, 2, 3], Some("shop"))).unwrap();
        assert_eq!(got.user, "app");
        assert_eq!(got.auth_response, vec![1, 2, 3]);
        assert_eq!(got.database.as_deref(), Some("shop"));
        assert_eq!(got.auth_plugin.as_deref(), Some(NATIVE_PASSWORD));
    }

    #[test]
    fn truncated_responses_are_errors() {
        let full = response(caps::SERVER, "app", &[9; 20], Some("shop"));
        for cut in 0..36 {
            assert!(
                HandshakeResponse::parse(&full[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn native_password_accepts_the_right_token_only() {
        let scramble = *b"abcdefghij0123456789";
        let token = native_token("secret", &scramble);
        assert_eq!(token.len(), 20);
        assert!(native_password_matches("secret", &scramble, &token));
        assert!(!native_password_matches("Secret", &scramble, &token));
        assert!(!native_password_matches(
            "secret",
            b"xbcdefghij0123456789",
            &token
        ));
        assert!(native_password_matches("", &scramble, &[]));
        assert!(!native_password_matches("secret", &scramble, &[]));
    }

    #[test]
    fn the_greeting_carries_both_scramble_parts_and_the_plugin() {
        let scramble = *b"abcdefghij0123456789";
        let g = greeting("5.7.99-mdbd", 7, &scramble, false, NATIVE_PASSWORD, false);
        assert_eq!(g[0], 10);
        let s = String::from_utf8_lossy(&g);
        assert!(s.contains("abcdefgh"));
        assert!(s.contains("ij0123456789"));
        assert!(s.ends_with("mysql_native_password\0"));
    }

    #[test]
    fn a_mariadb_greeting_offers_extended_metadata_and_reads_the_clients_answer() {
        let scramble = *b"abcdefghij0123456789";
        let version = "5.5.5-10.11.6-MariaDB";
        // protocol, version + NUL, id, scramble part 1 + NUL, capabilities (low).
        let at = 1 + version.len() + 1 + 4 + 9;
        let low = |g: &[u8]| u16::from_le_bytes([g[at], g[at + 1]]);
        let extended = |g: &[u8]| {
            // + capabilities low, charset, status, capabilities high, length, 6 filler.
            let x = at + 2 + 1 + 2 + 2 + 1 + 6;
            u32::from_le_bytes([g[x], g[x + 1], g[x + 2], g[x + 3]])
        };
        let mysql = greeting(version, 7, &scramble, false, NATIVE_PASSWORD, false);
        assert_eq!(
            u32::from(low(&mysql)) & caps::LONG_PASSWORD,
            caps::LONG_PASSWORD
        );
        assert_eq!(extended(&mysql), 0);
        let maria = greeting(version, 7, &scramble, false, NATIVE_PASSWORD, true);
        assert_eq!(u32::from(low(&maria)) & caps::LONG_PASSWORD, 0);
        assert_eq!(extended(&maria), caps::mariadb::EXTENDED_METADATA);

        let answer = |client_mysql: bool| {
            let mut p = Vec::new();
            let flags = caps::PROTOCOL_41 | if client_mysql { caps::LONG_PASSWORD } else { 0 };
            p.extend_from_slice(&flags.to_le_bytes());
            p.extend_from_slice(&[0, 0, 0, 1, 45]);
            p.extend_from_slice(&[0; 19]);
            p.extend_from_slice(&caps::mariadb::EXTENDED_METADATA.to_le_bytes());
            p.extend_from_slice(b"app\0");
            HandshakeResponse::parse(&p).unwrap().mariadb_capabilities
        };
        assert_eq!(answer(false), caps::mariadb::EXTENDED_METADATA);
        assert_eq!(answer(true), 0, "filler, from a client that speaks MySQL");
    }
}
