//! TLS from mdbd to a PostgreSQL backend, as the connection string's `sslmode` asks: a
//! server that refuses every connection without TLS serves mdbd over TLS; the certificate
//! is checked against `sslrootcert` (and for `verify-full` / `require` the host name).

mod common;

use mdbd_backends::postgres::{PgBackend, PgOptions};
use mdbd_engine::backend::{Backend, Outcome};
use mdbd_engine::log::Value;
use mdbd_testkit::PgServer;

async fn ssl_in_use(conninfo: &str) -> Result<bool, String> {
    let backend = PgBackend::new("a", PgOptions::new(conninfo)).map_err(|e| e.to_string())?;
    let mut session = backend.open_session().await.map_err(|e| e.to_string())?;
    let out = session
        .execute(
            "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    match out {
        Outcome::Rows(rs) => Ok(rs.rows[0][0] == Value::Text("true".into())),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_is_honoured_and_certificates_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    // The server's certificate names only db.example: 127.0.0.1 is not its name.
    let ca = common::tls::make_for(dir.path(), &["db.example"]);
    let other = tempfile::tempdir().unwrap();
    let other_ca = common::tls::make(other.path());
    let mut server = PgServer::start().unwrap();
    server
        .require_tls(
            &std::fs::read_to_string(&ca.cert).unwrap(),
            &std::fs::read_to_string(&ca.key).unwrap(),
        )
        .unwrap();
    let base = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        server.port()
    );
    let root = format!("sslrootcert={}", ca.ca.display());
    // The chain is checked, the name is not: TLS in use.
    assert_eq!(
        ssl_in_use(&format!("{base} sslmode=verify-ca {root}")).await,
        Ok(true)
    );
    // verify-full and require check the name too: 127.0.0.1 is not db.example.
    for mode in ["verify-full", "require"] {
        let e = ssl_in_use(&format!("{base} sslmode={mode} {root}"))
            .await
            .unwrap_err();
        assert!(
            e.contains("certificate") || e.contains("Certificate"),
            "{mode}: {e}"
        );
    }
    // Another CA: refused even by verify-ca.
    let e = ssl_in_use(&format!(
        "{base} sslmode=verify-ca sslrootcert={}",
        other_ca.ca.display()
    ))
    .await
    .unwrap_err();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // Without TLS the server refuses (its pg_hba rejects it): mdbd did not add TLS on its own.
    let e = ssl_in_use(&format!("{base} sslmode=disable"))
        .await
        .unwrap_err();
    assert!(e.contains("no encryption") || e.contains("pg_hba"), "{e}");
}
