//! Sequences drawn by a transaction that rolls back (`keyed` ordering).
//!
//! A sequence is not transactional: an insert that draws a value and then rolls back has
//! still moved it, on every backend. The log holds committed transactions only, so a
//! server replayed from it (a joiner's catch-up, a rebuild) would draw different values
//! for every later insert. So when a transaction that drew from sequences rolls back,
//! while it still holds them (in X), their positions are read from one member and logged
//! as a small transaction of its own (`SELECT setval(...)`, as the engine words it),
//! committed everywhere with its marker like any other. On the live backends it changes
//! nothing; in a replay it moves each sequence exactly as far.

use super::{ClusterSession, DetachCause, DetachReason};
use crate::backend::{BackendError, Outcome, Session};
use crate::log::{Payload, Record, Sql, Statement, Value, WriteTxn};
use std::sync::Arc;

impl ClusterSession {
    /// Logs and commits the positions of the sequences `txn` drew from (see the module
    /// docs); call after its members rolled back, before its turn is released.
    pub(super) async fn keep_sequence_positions(&mut self, txn: &super::session::Txn) {
        let Some(turn) = txn.turn.as_ref() else {
            return;
        };
        let sequences = turn.drawn_sequences();
        if sequences.as_ref().is_some_and(|s| s.is_empty()) {
            return;
        }
        let Some(query) = self
            .cluster
            .dialect()
            .sequence_positions(sequences.as_deref())
        else {
            return;
        };
        let live: Vec<String> = txn
            .members
            .iter()
            .filter(|n| self.cluster.is_active(n) && self.conns.contains_key(*n))
            .cloned()
            .collect();
        let Some(reader) = live.first() else {
            return;
        };
        let statements = match self.conns.get_mut(reader) {
            Some(conn) => conn.execute(&query, &[]).await,
            None => return,
        };
        let statements: Vec<Statement> = match statements {
            Ok(Outcome::Rows(rs)) => rs
                .rows
                .into_iter()
                .filter_map(|row| match row.into_iter().next() {
                    Some(Value::Text(sql)) => Some(Statement {
                        sql: Sql::from(sql),
                        params: Vec::new(),
                        copy_data: None,
                    }),
                    _ => None,
                })
                .collect(),
            other => {
                tracing::warn!(session = self.id(), ?sequences, result = ?other.map(|_| ()), "could not read the positions of sequences a rolled-back transaction drew from; a replay of the log may draw other values");
                return;
            }
        };
        if statements.is_empty() {
            return;
        }
        let record = Record::now(
            self.id(),
            Payload::Write(WriteTxn {
                settings: Vec::new(),
                statements: statements.clone(),
            }),
        );
        let cluster = Arc::clone(&self.cluster);
        let range = match cluster.log().append(std::slice::from_ref(&record)).await {
            Ok(range) => range,
            Err(e) => {
                tracing::warn!(session = self.id(), error = %e, "could not log the positions of sequences a rolled-back transaction drew from");
                return;
            }
        };
        let _slot = cluster.order().commit_slot(range).await;
        let lsn = range.start;
        let statements = &statements;
        let applied = super::write::on_members!(self.conns, &live, |conn| async {
            conn.begin().await?;
            for s in statements {
                conn.execute_bytes(s.sql.as_bytes(), &[]).await?;
            }
            conn.commit(Some(lsn)).await
        });
        for (name, result) in applied {
            if let Err(e) = result {
                self.conns.remove(&name);
                let _ = cluster.detach_behind(
                    &name,
                    DetachReason::new(
                        DetachCause::CommitFailed,
                        format!("sequence positions at LSN {lsn} failed: {e}"),
                    ),
                );
            }
        }
    }
}
