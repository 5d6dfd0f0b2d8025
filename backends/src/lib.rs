//! # mdbd-backends
//!
//! One module per database engine, each implementing the engine's
//! [`Backend`](mdbd_engine::backend::Backend) and [`Session`](mdbd_engine::backend::Session)
//! traits with a real driver. Backends execute and report; they never decide cluster policy.
//!
//! - [`sqlite`]: SQLite files through rusqlite (bundled SQLite).
//!
//! Still to come: `postgres` (tokio-postgres, `pg_dump`/`pg_restore`) and `mysql`
//! (mysql_async, `mariadb-dump`).

#![deny(unsafe_code)]

pub mod sqlite;
