//! # mdbd-backends
//!
//! One module per database engine, each implementing the engine's
//! [`Backend`](mdbd_engine::backend::Backend) and [`Session`](mdbd_engine::backend::Session)
//! traits with a real driver. Backends execute and report; they never decide cluster policy.
//!
//! - [`mysql`]: MySQL/MariaDB through mysql_async; snapshots with `mariadb-dump`.
//! - [`postgres`]: PostgreSQL through tokio-postgres; snapshots with `pg_dump`/`pg_restore`.
//! - [`sqlite`]: SQLite files through rusqlite (bundled SQLite).

#![deny(unsafe_code)]

pub mod mysql;
pub mod postgres;
pub mod sqlite;
mod tool;
