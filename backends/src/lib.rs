//! # mdbd-backends
//!
//! One module per database engine, each implementing the engine's
//! [`Backend`](mdbd_engine::backend::Backend) and [`Session`](mdbd_engine::backend::Session)
//! traits with a real driver. Backends execute and report; they never decide cluster policy.
//!
//! - [`postgres`]: PostgreSQL through tokio-postgres; snapshots with `pg_dump`/`pg_restore`.
//! - [`sqlite`]: SQLite files through rusqlite (bundled SQLite).
//!
//! Still to come: `mysql`
//! (mysql_async, `mariadb-dump`).

#![deny(unsafe_code)]

pub mod postgres;
pub mod sqlite;
