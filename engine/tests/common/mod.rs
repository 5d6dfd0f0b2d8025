//! Helpers shared by the engine's scenario tests.
#![allow(dead_code)]

use mdbd_engine::log::{Payload, Record, Statement, Value, WriteTxn};

/// A deterministic write record for (writer, seq), so a checker can rebuild it.
pub fn sample(writer: u64, seq: u64) -> Record {
    Record {
        session: writer,
        timestamp_micros: 1_700_000_000_000_000 + seq,
        payload: Payload::Write(WriteTxn {
            settings: vec![("search_path".into(), "public".into())],
            statements: vec![Statement::with_params(
                "INSERT INTO ledger(writer, seq, note) VALUES ($1, $2, $3)",
                vec![
                    Value::Int(writer as i64),
                    Value::Int(seq as i64),
                    Value::Text(format!("w{writer}-s{seq}")),
                ],
            )],
        }),
    }
}
