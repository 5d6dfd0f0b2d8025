//! The MySQL client/server protocol as pure functions over bytes: everything the MySQL
//! front end (`src/mysql/`) decodes from clients or encodes for them, kept free of I/O so
//! the fuzz targets and unit tests can drive it.
//!
//! - `buf.rs`: checked reading of fixed and length-encoded integers and strings;
//! - `handshake.rs`: the greeting, the client's handshake response, `mysql_native_password`;
//! - `change_user.rs`: COM_CHANGE_USER;
//! - `execute.rs`: COM_STMT_EXECUTE parameters;
//! - `types.rs`: column types, parameter values, text and binary value encodings;
//! - `results.rs`: OK / ERR / EOF packets, column definitions, rows;
//! - `split.rs`: multi-statement strings and `?` placeholders;
//! - `fuzzing.rs`: the fuzz targets' entry points.

pub mod buf;
pub mod change_user;
pub mod execute;
pub mod fuzzing;
pub mod handshake;
pub mod results;
pub mod split;
pub mod types;

pub use results::status;
use thiserror::Error;

/// A packet the client sent could not be decoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The packet ended before a field.
    #[error("{what}: needed {needed} bytes, {left} left in the packet")]
    Short {
        what: &'static str,
        needed: usize,
        left: usize,
    },
    /// A field holds a value the protocol does not allow.
    #[error("{what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// A feature this server does not offer.
    #[error("not supported: {0}")]
    Unsupported(String),
}
