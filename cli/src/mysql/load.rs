//! `LOAD DATA LOCAL INFILE` on MySQL clusters: a write whose data is a file on the
//! client. mdbd asks the client for the file, as a server does, and runs the statement
//! through the cluster's COPY path: every backend's server gets the same file when it
//! asks its connection for it, and the log keeps the file with the statement for replay.

use super::query::db_error;
use super::Conn;
use mdbd::mysql_wire::handshake::caps;
use mdbd_engine::backend::Outcome;
use mdbd_engine::cluster::ClusterError;

/// The file name of `LOAD DATA|XML LOCAL INFILE 'name'`, unquoted (backslash escapes and
/// doubled quotes as MySQL reads them); `None` when the statement does not name one.
pub(super) fn file_name(sql: &str) -> Option<Vec<u8>> {
    let lower = sql.to_ascii_lowercase();
    let at = lower.find("infile")? + "infile".len();
    let rest = sql[at..].trim_start();
    let mut chars = rest.bytes();
    let quote = chars.next().filter(|q| *q == b'\'' || *q == b'"')?;
    let mut name = Vec::new();
    let mut chars = chars.peekable();
    while let Some(b) = chars.next() {
        match b {
            b'\\' => match chars.next()? {
                b'n' => name.push(b'\n'),
                b't' => name.push(b'\t'),
                b'0' => name.push(0),
                other => name.push(other),
            },
            q if q == quote => {
                if chars.peek() == Some(&quote) {
                    chars.next();
                    name.push(quote);
                } else {
                    return Some(name);
                }
            }
            other => name.push(other),
        }
    }
    None
}

/// Runs `LOAD DATA LOCAL INFILE` (`sql`): starts it on every backend, asks the client for
/// the file, passes each packet on as it comes, and ends it when the client's empty packet
/// says the file is whole. A client that did not enable local files is refused with
/// MySQL's 1148, as a server with `local_infile` off refuses.
pub(super) async fn load(conn: &mut Conn, sql: &str) -> Result<Outcome, ClusterError> {
    if conn.caps & caps::LOCAL_FILES == 0 {
        return Err(db_error(
            "1148",
            "42000",
            "The used command is not allowed: the client did not enable LOAD DATA LOCAL (CLIENT_LOCAL_FILES)".into(),
        ));
    }
    let name = file_name(sql).ok_or_else(|| {
        db_error(
            "1064",
            "42000",
            "You have an error in your SQL syntax: LOAD DATA LOCAL INFILE needs a quoted file name"
                .into(),
        )
    })?;
    conn.session.copy_in_start(sql).await?;
    let mut request = vec![0xfb];
    request.extend_from_slice(&name);
    conn.packets.push(&request);
    let mut bytes = 0usize;
    let left = loop {
        if conn.packets.flush().await.is_err() {
            break true;
        }
        match conn.packets.read().await {
            Ok(Some(chunk)) if chunk.is_empty() => break false,
            Ok(Some(chunk)) => {
                bytes += chunk.len();
                conn.session.copy_in_data(chunk.into()).await?;
            }
            Ok(None) | Err(_) => break true,
        }
    };
    if left {
        conn.session.copy_in_fail().await;
        return Err(ClusterError::State(
            "the client left while sending its LOAD DATA LOCAL file".into(),
        ));
    }
    tracing::debug!(connection = conn.id, bytes, "LOAD DATA LOCAL file received");
    conn.session.copy_in_finish().await
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_are_unquoted_as_mysql_reads_them() {
        let name = |sql: &str| file_name(sql).map(|n| String::from_utf8(n).unwrap());
        assert_eq!(
            name("LOAD DATA LOCAL INFILE '/tmp/a.csv' INTO TABLE t").as_deref(),
            Some("/tmp/a.csv")
        );
        assert_eq!(
            name("load data local infile \"it's\" into table t").as_deref(),
            Some("it's")
        );
        assert_eq!(
            name(r"LOAD DATA LOCAL INFILE 'a\\b''c' INTO TABLE t").as_deref(),
            Some(r"a\b'c")
        );
        assert_eq!(name("LOAD DATA LOCAL INFILE 'open"), None);
        assert_eq!(name("LOAD DATA LOCAL INFILE x INTO TABLE t"), None);
    }
}
