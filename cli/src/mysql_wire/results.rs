//! Server responses: OK, ERR and EOF packets, column definitions, and rows in the text
//! (COM_QUERY) and binary (COM_STMT_EXECUTE) protocols.

use super::buf::{put_lenenc_bytes, put_lenenc_int};
use super::types;
use mdbd_engine::backend::{ColumnMeta, ResultSet};
use mdbd_engine::log::Value;

/// Server status flags.
pub mod status {
    pub const IN_TRANS: u16 = 0x0001;
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
}

/// An OK packet.
pub fn ok(affected_rows: u64, last_insert_id: u64, status: u16) -> Vec<u8> {
    let mut out = vec![0x00];
    put_lenenc_int(&mut out, affected_rows);
    put_lenenc_int(&mut out, last_insert_id);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // warnings
    out
}

/// An EOF packet (the classic end of column definitions and of rows).
pub fn eof(status: u16) -> Vec<u8> {
    let mut out = vec![0xfe];
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out
}

/// An ERR packet: the error number and SQLSTATE exactly as given.
pub fn err(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut out = vec![0xff];
    out.extend_from_slice(&code.to_le_bytes());
    out.push(b'#');
    let mut state = [b'H', b'Y', b'0', b'0', b'0'];
    for (slot, b) in state.iter_mut().zip(sqlstate.bytes()) {
        *slot = b;
    }
    out.extend_from_slice(&state);
    out.extend_from_slice(message.as_bytes());
    out
}

/// One column of a result set (or a prepared statement's parameter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub code: u8,
    pub charset: u16,
    /// The backend's own length, decimals and flags for this column, when it is announced
    /// with the backend's own type (a MySQL backend's column); else mdbd's defaults.
    pub meta: ColumnMeta,
}

impl ColumnDef {
    /// A parameter placeholder as real servers describe one.
    pub fn param() -> Self {
        ColumnDef {
            name: "?".into(),
            code: types::code::VAR_STRING,
            charset: types::BINARY,
            meta: ColumnMeta::default(),
        }
    }

    /// Column Definition 41; `extended` for a client that asked for MariaDB's extended
    /// metadata, which then follows the names (the `json` format of a JSON column).
    pub fn encode(&self, extended: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.name.len());
        put_lenenc_bytes(&mut out, b"def");
        put_lenenc_bytes(&mut out, b""); // schema
        put_lenenc_bytes(&mut out, b""); // table
        put_lenenc_bytes(&mut out, b""); // original table
        put_lenenc_bytes(&mut out, self.name.as_bytes());
        put_lenenc_bytes(&mut out, self.name.as_bytes());
        if extended {
            // Pairs of (1 byte: 0 type name, 1 format; lenenc string), as one lenenc
            // block; empty when there is nothing to say.
            let mut block = Vec::new();
            if self.meta.json {
                block.push(1);
                put_lenenc_bytes(&mut block, b"json");
            }
            put_lenenc_bytes(&mut out, &block);
        }
        out.push(0x0c);
        out.extend_from_slice(&self.charset.to_le_bytes());
        let length = self
            .meta
            .length
            .unwrap_or_else(|| display_length(self.code));
        out.extend_from_slice(&length.to_le_bytes());
        out.push(self.code);
        let binary_flag: u16 = if self.charset == types::BINARY {
            0x80
        } else {
            0
        };
        out.extend_from_slice(&self.meta.flags.unwrap_or(binary_flag).to_le_bytes());
        let decimals = if matches!(
            self.code,
            types::code::DOUBLE | types::code::FLOAT | types::code::NEWDECIMAL
        ) {
            31
        } else {
            0
        };
        out.push(self.meta.decimals.unwrap_or(decimals));
        out.extend_from_slice(&[0, 0]);
        out
    }
}

fn display_length(code: u8) -> u32 {
    use types::code::*;
    match code {
        TINY => 4,
        SHORT | YEAR => 6,
        LONG | INT24 => 11,
        LONGLONG => 20,
        FLOAT => 12,
        DOUBLE => 22,
        DATE => 10,
        TIME => 17,
        DATETIME | TIMESTAMP => 26,
        _ => 0xffff_ffff,
    }
}

/// The columns of a result set. In the binary protocol a column whose values do not all
/// fit its declared type is announced as a string, so every row can be encoded.
pub fn columns(rs: &ResultSet, binary: bool) -> Vec<ColumnDef> {
    (0..rs.columns.len())
        .map(|i| {
            let mut code = types::column_type(rs, i);
            // The backend's own description holds while the column keeps its type.
            let mut meta = rs.columns[i].meta.clone();
            if binary && !types::binary_fits(rs, i, code) {
                code = types::code::VAR_STRING;
                meta = ColumnMeta::default();
            }
            let bytes = rs
                .rows
                .iter()
                .any(|r| matches!(r.get(i), Some(Value::Bytes(_))));
            ColumnDef {
                name: rs.columns[i].name.clone(),
                code,
                charset: meta.charset.unwrap_or_else(|| types::charset(code, bytes)),
                meta,
            }
        })
        .collect()
}

/// A text-protocol row.
pub fn text_row(row: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in row {
        match types::text(v) {
            None => out.push(0xfb),
            Some(b) => put_lenenc_bytes(&mut out, &b),
        }
    }
    out
}

/// A binary-protocol row for `columns`.
pub fn binary_row(row: &[Value], columns: &[ColumnDef]) -> Vec<u8> {
    let mut out = vec![0x00];
    let bitmap_at = out.len();
    out.resize(bitmap_at + (columns.len() + 7 + 2) / 8, 0);
    for (i, (v, c)) in row.iter().zip(columns).enumerate() {
        if matches!(v, Value::Null) {
            let bit = i + 2;
            out[bitmap_at + bit / 8] |= 1 << (bit % 8);
        } else {
            types::put_binary(&mut out, v, c.code);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn err_packets_carry_the_code_and_sqlstate_verbatim() {
        let p = err(4025, "23000", "CONSTRAINT `c` failed");
        assert_eq!(&p[..3], &[0xff, 0xb9, 0x0f]);
        assert_eq!(&p[3..9], b"#23000");
        assert!(p.ends_with(b"failed"));
    }

    #[test]
    fn binary_rows_mark_nulls_at_offset_two() {
        let cols = vec![
            ColumnDef {
                name: "a".into(),
                code: types::code::LONGLONG,
                charset: types::BINARY,
                meta: ColumnMeta::default(),
            },
            ColumnDef {
                name: "b".into(),
                code: types::code::VAR_STRING,
                charset: types::UTF8MB4,
                meta: ColumnMeta::default(),
            },
        ];
        let row = binary_row(&[Value::Int(1), Value::Null], &cols);
        assert_eq!(row[0], 0);
        assert_eq!(row[1], 0b0000_1000);
        assert_eq!(&row[2..], &1i64.to_le_bytes());
    }
}
