//! COM_CHANGE_USER: a logged-in client logs in again, as another user or the same one,
//! on the same connection (node mysql2's `changeUser`, connection pools that reset a
//! connection for its next borrower).

use super::buf::Reader;
use super::handshake::{caps, text};
use super::WireError;

/// What a COM_CHANGE_USER carries (the command byte already taken off).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChangeUser {
    pub user: String,
    /// The answer to the connection's scramble, by [`ChangeUser::auth_plugin`] (or
    /// `mysql_native_password` when the client names none).
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
}

impl ChangeUser {
    /// Parses the command's body; `capabilities` are the ones the client logged in with,
    /// which decide the packet's layout.
    pub fn parse(body: &[u8], capabilities: u32) -> Result<Self, WireError> {
        let mut r = Reader::new(body);
        let user = text(r.nul_terminated(), "user name")?;
        let auth_response = if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = r.u8("auth response length")?;
            r.take(usize::from(n), "auth response")?.to_vec()
        } else {
            r.nul_terminated().to_vec()
        };
        let database = Some(text(r.nul_terminated(), "database")?).filter(|d| !d.is_empty());
        if !r.is_empty() {
            let _charset = r.u16("character set")?;
        }
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 && !r.is_empty() {
            Some(text(r.nul_terminated(), "auth plugin")?).filter(|p| !p.is_empty())
        } else {
            None
        };
        // Connection attributes (CLIENT_CONNECT_ATTRS) may follow; nothing here uses them.
        Ok(ChangeUser {
            user,
            auth_response,
            database,
            auth_plugin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: u32 = caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH;

    #[test]
    fn change_user_with_plugin_and_database_parses() {
        let mut body = b"bob\0".to_vec();
        body.push(3);
        body.extend_from_slice(&[1, 0, 2]);
        body.extend_from_slice(b"app\0");
        body.extend_from_slice(&45u16.to_le_bytes());
        body.extend_from_slice(b"mysql_native_password\0");
        let c = ChangeUser::parse(&body, CAPS).unwrap();
        assert_eq!(c.user, "bob");
        assert_eq!(c.auth_response, vec![1, 0, 2]);
        assert_eq!(c.database.as_deref(), Some("app"));
        assert_eq!(c.auth_plugin.as_deref(), Some("mysql_native_password"));
    }

    #[test]
    fn change_user_without_database_or_plugin_parses() {
        let body = b"bob\0\0\0".to_vec();
        let c = ChangeUser::parse(&body, CAPS).unwrap();
        assert_eq!(c.user, "bob");
        assert!(c.auth_response.is_empty());
        assert_eq!(c.database, None);
        assert_eq!(c.auth_plugin, None);
    }

    #[test]
    fn truncated_change_user_is_an_error() {
        assert!(ChangeUser::parse(b"bob\0\x14ab", CAPS).is_err());
    }
}
