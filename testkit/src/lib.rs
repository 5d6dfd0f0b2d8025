//! Throwaway database servers for tests.
//!
//! [`PgServer::start`] and [`MariaDb::start`] each create a temporary directory, initialise
//! a fresh server in it, start it on a free loopback port (never 5432 or 3306), wait until
//! it accepts connections, and on drop (including while a test panics) stop it and remove
//! the directory. Nothing depends on a server someone started by hand.
//!
//! As root: PostgreSQL refuses to run as root, so its processes run as the `postgres`
//! user (the data directory is handed to it); MariaDB runs with `--user=root`. Every
//! instance gets its own `--tmpdir` and socket. [`NatsCluster`] starts one or more
//! `nats-server` nodes with JetStream (never on 4222).

#![deny(unsafe_code)]

pub mod fuzz;
mod mariadb;
mod nats;
mod postgres;
mod process;

pub use mariadb::MariaDb;
pub use nats::NatsCluster;
pub use postgres::PgServer;

use std::io;
use std::net::TcpListener;

/// A free TCP port on 127.0.0.1 (never 5432, 3306 or 4222).
pub fn free_port() -> io::Result<u16> {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if port != 5432 && port != 3306 && port != 4222 {
            return Ok(port);
        }
    }
}
