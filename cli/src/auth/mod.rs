//! Client authentication, pure parts: what the front ends need to check a login without
//! ever holding a password in clear longer than the configuration load.
//!
//! - [`scram`]: SCRAM-SHA-256 (and -PLUS with `tls-server-end-point` binding) as
//!   PostgreSQL speaks it: verifiers, the client messages' parsers, the exchange;
//! - [`md5`]: PostgreSQL's `md5` method;
//! - [`password_message`]: the bodies of PostgreSQL's password message family
//!   (PasswordMessage, SASLInitialResponse, SASLResponse);
//! - [`caching_sha2`]: MySQL's `caching_sha2_password` fast path;
//! - [`throttle`]: a growing delay per client address after failed logins.
//!
//! `der` reads a certificate's signature algorithm for channel binding. The parsers
//! are fuzzed (`fuzz/fuzz_targets/auth_messages.rs`).

pub mod caching_sha2;
mod der;
pub mod md5;
pub mod password_message;
pub mod scram;
pub mod throttle;

/// Entry point of the fuzz target and its corpus test: every parser of bytes a client
/// sends before it is authenticated.
pub mod fuzzing {
    /// Runs `data` through the password-message, SCRAM and channel-binding parsers; the
    /// first byte picks which message the rest is taken as.
    pub fn auth_messages(data: &[u8]) {
        let Some((&which, rest)) = data.split_first() else {
            return;
        };
        match which % 4 {
            0 => {
                if let Ok(m) = super::password_message::sasl_initial(rest) {
                    let verifier = super::scram::Verifier::mock("fuzz", b"secret");
                    let _ = super::scram::Exchange::start(
                        verifier,
                        &m.mechanism,
                        &m.data,
                        Some(vec![0; 32]),
                    );
                }
            }
            1 => {
                let _ = super::scram::ClientFinal::parse(rest);
            }
            2 => {
                let _ = super::scram::Verifier::parse(&String::from_utf8_lossy(rest));
                let _ = super::password_message::password(rest);
            }
            _ => {
                let _ = super::scram::server_end_point(rest);
                let _ = super::scram::ClientFirst::parse(rest);
            }
        }
    }
}
