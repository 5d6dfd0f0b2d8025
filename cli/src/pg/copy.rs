//! COPY in both protocols: which way a statement copies and in which format, copy-in mode
//! (the data of a `COPY ... FROM STDIN`, passed to the cluster piece by piece), and
//! `COPY ... TO STDOUT` streamed to the client, whose binary rows [`BinaryTuples`] counts.

use super::{response, Connection};
use async_trait::async_trait;
use futures_util::SinkExt;
use futures_util::StreamExt;
use mdbd_engine::backend::Outcome;
use mdbd_engine::cluster::ClusterSession;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::Response;
use pgwire::api::results::Tag;
use pgwire::api::ClientInfo;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::CopyOutResponse;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::response::CommandComplete;
use pgwire::messages::PgWireBackendMessage;
use std::fmt::Debug;

/// Which way a `COPY` statement moves data through the client connection.
#[derive(Debug, PartialEq, Eq)]
pub enum CopyDirection {
    FromStdin,
    ToStdout,
}

pub fn copy_direction(sql: &str) -> Option<CopyDirection> {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    if words.first().map(String::as_str) != Some("copy") {
        return None;
    }
    let pair = |a: &str, b: &str| words.windows(2).any(|p| p[0] == a && p[1] == b);
    if pair("from", "stdin") {
        Some(CopyDirection::FromStdin)
    } else if pair("to", "stdout") {
        Some(CopyDirection::ToStdout)
    } else {
        None
    }
}

/// Whether a COPY's data is in PostgreSQL's binary format: `(FORMAT binary)` among its
/// options, or the old `BINARY` right after `STDIN`/`STDOUT` or `WITH`.
pub fn copy_binary(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '(' | ')' | ','))
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches(['\'', '"']).to_ascii_lowercase())
        .collect();
    let Some(at) = words.iter().position(|w| w == "stdin" || w == "stdout") else {
        return false;
    };
    words[at..].windows(2).any(|p| {
        p[1] == "binary" && matches!(p[0].as_str(), "format" | "stdin" | "stdout" | "with")
    })
}

/// Streams a `COPY ... TO STDOUT` to the client; the tag counts the rows sent (lines in
/// text and CSV, tuples in binary).
pub async fn copy_out<C>(
    client: &mut C,
    session: &mut ClusterSession,
    sql: &str,
) -> PgWireResult<Response<'static>>
where
    C: futures_util::Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<C::Error>,
{
    let mut data = match session.copy_out(sql).await {
        Ok(stream) => stream,
        Err(e) => return response::outcome(Err(e), |_| Vec::new()),
    };
    let binary = copy_binary(sql);
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            i8::from(binary),
            0,
            Vec::new(),
        )))
        .await?;
    let mut lines = 0;
    let mut tuples = BinaryTuples::default();
    while let Some(chunk) = data.next().await {
        match chunk {
            Ok(bytes) => {
                if binary {
                    tuples.feed(&bytes);
                } else {
                    lines += bytes.iter().filter(|&&b| b == b'\n').count();
                }
                client
                    .feed(PgWireBackendMessage::CopyData(CopyData::new(bytes)))
                    .await?;
            }
            Err(e) => return response::outcome(Err(e.into()), |_| Vec::new()),
        }
    }
    client
        .send(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    let rows = if binary { tuples.count() } else { lines };
    Ok(Response::Execution(Tag::new("COPY").with_rows(rows)))
}

#[async_trait]
impl CopyHandler for Connection {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + futures_util::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        let mut session = self.session.lock().await;
        // A backend's failure is kept for the vote at CopyDone, so this only fails when
        // no COPY is in progress.
        session
            .copy_in_data(copy_data.data)
            .await
            .map_err(|e| response::failure(&e))
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + futures_util::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        let mut session = self.session.lock().await;
        match session.copy_in_finish().await {
            Ok(outcome) => {
                let rows = match outcome {
                    Outcome::Command { rows, .. } => rows,
                    Outcome::Rows(rs) => rs.rows.len() as u64,
                };
                let tag = Tag::new("COPY").with_rows(rows as usize);
                client
                    .send(PgWireBackendMessage::CommandComplete(
                        CommandComplete::from(tag),
                    ))
                    .await?;
                Ok(())
            }
            Err(e) => Err(response::failure(&e)),
        }
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + futures_util::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures_util::Sink<PgWireBackendMessage>>::Error>,
    {
        self.session.lock().await.copy_in_fail().await;
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "57014".into(),
            format!("COPY from stdin failed: {}", fail.message),
        )))
    }
}

/// Counts the tuples of a binary COPY stream fed in pieces of any size: the 11-byte
/// signature, flags and a header extension, then tuples (a field count, each field's
/// length and bytes) up to the trailer's field count of -1. Bytes it cannot frame stop
/// the count where it is; the stream itself is passed on untouched either way.
#[derive(Debug, Default)]
pub struct BinaryTuples {
    /// Bytes of a length field split across pieces.
    pending: Vec<u8>,
    /// Bytes still to skip (the rest of a field or of the header).
    skip: usize,
    state: TupleState,
    tuples: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum TupleState {
    /// The signature and flags (15 bytes), then the extension length.
    #[default]
    Header,
    ExtensionLength,
    FieldCount,
    FieldLength {
        left: u16,
    },
    Done,
}

impl BinaryTuples {
    /// The tuples seen so far.
    pub fn count(&self) -> usize {
        self.tuples
    }

    /// Takes the next piece of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.state != TupleState::Done {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let want = match self.state {
                TupleState::Header => 15,
                TupleState::FieldCount => 2,
                _ => 4,
            };
            let n = (want - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.pending.len() < want {
                return;
            }
            let field = std::mem::take(&mut self.pending);
            let int = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            self.state = match self.state {
                TupleState::Header => TupleState::ExtensionLength,
                TupleState::ExtensionLength => {
                    self.skip = usize::try_from(int(&field)).unwrap_or(0);
                    TupleState::FieldCount
                }
                TupleState::FieldCount => match i16::from_be_bytes([field[0], field[1]]) {
                    -1 => TupleState::Done,
                    fields => {
                        self.tuples += 1;
                        match u16::try_from(fields) {
                            Ok(0) => TupleState::FieldCount,
                            Ok(left) => TupleState::FieldLength { left },
                            Err(_) => TupleState::Done,
                        }
                    }
                },
                TupleState::FieldLength { left } => {
                    self.skip = usize::try_from(int(&field)).unwrap_or(0);
                    if left > 1 {
                        TupleState::FieldLength { left: left - 1 }
                    } else {
                        TupleState::FieldCount
                    }
                }
                TupleState::Done => TupleState::Done,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_directions() {
        assert_eq!(
            copy_direction("COPY t (a, b) FROM STDIN WITH (FORMAT csv)"),
            Some(CopyDirection::FromStdin)
        );
        assert_eq!(
            copy_direction("copy t to stdout"),
            Some(CopyDirection::ToStdout)
        );
        assert_eq!(copy_direction("COPY t FROM '/tmp/x'"), None);
        assert_eq!(copy_direction("SELECT 'copy from stdin'"), None);
    }

    #[test]
    fn binary_copies_are_told_from_text_ones() {
        for sql in [
            "COPY t FROM STDIN (FORMAT BINARY)",
            "copy t (a) to stdout with (format 'binary', freeze)",
            "COPY t FROM STDIN BINARY",
            "COPY t TO STDOUT WITH BINARY",
        ] {
            assert!(copy_binary(sql), "{sql}");
        }
        for sql in [
            "COPY t FROM STDIN",
            "COPY t FROM STDIN (FORMAT csv, NULL 'binary')",
            "COPY binary FROM STDIN",
        ] {
            assert!(!copy_binary(sql), "{sql}");
        }
    }

    /// A binary COPY stream of `rows` tuples of (int4, text or NULL).
    fn stream(rows: &[(i32, Option<&str>)]) -> Vec<u8> {
        let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&4i32.to_be_bytes());
        out.extend_from_slice(b"ext!");
        for (id, text) in rows {
            out.extend_from_slice(&2i16.to_be_bytes());
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            match text {
                Some(t) => {
                    out.extend_from_slice(&(t.len() as i32).to_be_bytes());
                    out.extend_from_slice(t.as_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    #[test]
    fn binary_copy_tuples_are_counted_in_pieces_of_any_size() {
        let data = stream(&[(1, Some("a")), (2, None), (3, Some("")), (4, Some("four"))]);
        for piece in [1, 2, 3, 5, 7, data.len()] {
            let mut counter = BinaryTuples::default();
            for chunk in data.chunks(piece) {
                counter.feed(chunk);
            }
            assert_eq!(counter.count(), 4, "pieces of {piece}");
        }
        let mut empty = BinaryTuples::default();
        empty.feed(&stream(&[]));
        assert_eq!(empty.count(), 0);
    }
}
