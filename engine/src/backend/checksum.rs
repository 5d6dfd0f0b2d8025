//! Per-table content checksums, the same on every backend that holds the same rows: what
//! tests and the consistency check compare.

use crate::log::Value;
use sha2::{Digest, Sha256};

/// The checksum of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableChecksum {
    /// Table name.
    pub table: String,
    /// Number of rows.
    pub rows: u64,
    /// SHA-256 over every row in the backend's deterministic order, hex.
    pub digest: String,
}

/// Hashes rows into a [`TableChecksum`]. Each value is hashed with a type tag and a
/// length, so `('ab', 'c')` and `('a', 'bc')` differ and NULL differs from `''`.
pub struct TableHasher {
    table: String,
    rows: u64,
    hasher: Sha256,
}

impl TableHasher {
    /// A hasher for `table`.
    pub fn new(table: &str) -> Self {
        TableHasher {
            table: table.to_string(),
            rows: 0,
            hasher: Sha256::new(),
        }
    }

    /// Adds one row (rows must come in a deterministic order, e.g. ORDER BY every column).
    pub fn row(&mut self, values: &[Value]) {
        self.rows += 1;
        self.hasher.update((values.len() as u32).to_be_bytes());
        for v in values {
            let (tag, bytes): (u8, Vec<u8>) = match v {
                Value::Null => (0, Vec::new()),
                Value::Bool(b) => (1, vec![*b as u8]),
                Value::Int(i) => (2, i.to_be_bytes().to_vec()),
                Value::Float(f) => (3, f.to_bits().to_be_bytes().to_vec()),
                Value::Text(t) => (4, t.as_bytes().to_vec()),
                Value::Bytes(b) => (5, b.clone()),
            };
            self.hasher.update([tag]);
            self.hasher.update((bytes.len() as u64).to_be_bytes());
            self.hasher.update(&bytes);
        }
    }

    /// The checksum.
    pub fn finish(self) -> TableChecksum {
        let digest = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        TableChecksum {
            table: self.table,
            rows: self.rows,
            digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(rows: &[Vec<Value>]) -> TableChecksum {
        let mut h = TableHasher::new("t");
        rows.iter().for_each(|r| h.row(r));
        h.finish()
    }

    #[test]
    fn differs_on_any_change_and_agrees_on_equal_rows() {
        let a = vec![vec![Value::Text("ab".into()), Value::Text("c".into())]];
        let b = vec![vec![Value::Text("a".into()), Value::Text("bc".into())]];
        assert_ne!(sum(&a), sum(&b));
        assert_ne!(
            sum(&[vec![Value::Null]]),
            sum(&[vec![Value::Text(String::new())]])
        );
        assert_eq!(sum(&a), sum(&a.clone()));
        assert_eq!(sum(&a).rows, 1);
    }
}
