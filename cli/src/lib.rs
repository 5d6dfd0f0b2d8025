//! The library half of the `mdbd` package: the MySQL wire codec and the PostgreSQL
//! front end's framing, pure code over bytes, so
//! the fuzz targets and tests reach the same decoders the daemon uses. Everything else of
//! the daemon lives in the binary (`src/main.rs`).
#![deny(unsafe_code)]

pub mod auth;
pub mod mysql_wire;
pub mod pg_wire;
