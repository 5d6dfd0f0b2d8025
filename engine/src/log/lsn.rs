//! Log sequence numbers: the names of positions in the one global order of writes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A log sequence number. Dense, starting at 1: the n-th record ever appended has LSN n,
/// so "every write before L0" is exactly the records `1..L0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Lsn(pub u64);

impl Lsn {
    /// The LSN of the first record of a new log.
    pub const FIRST: Lsn = Lsn(1);

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The LSN after this one.
    pub const fn next(self) -> Lsn {
        Lsn(self.0 + 1)
    }

    /// This LSN moved forward by `n` records.
    pub const fn plus(self, n: u64) -> Lsn {
        Lsn(self.0 + n)
    }
}

impl Default for Lsn {
    /// [`Lsn::FIRST`]: where an empty log starts.
    fn default() -> Self {
        Lsn::FIRST
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A half-open range `[start, end)` of LSNs, as returned by an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LsnRange {
    /// First LSN in the range.
    pub start: Lsn,
    /// One past the last LSN in the range.
    pub end: Lsn,
}

impl LsnRange {
    /// Number of LSNs in the range.
    pub fn len(&self) -> u64 {
        self.end.0 - self.start.0
    }

    /// True when the range holds no LSN.
    pub fn is_empty(&self) -> bool {
        self.end.0 == self.start.0
    }

    /// The LSNs of the range, in order.
    pub fn iter(&self) -> impl Iterator<Item = Lsn> {
        (self.start.0..self.end.0).map(Lsn)
    }
}

impl fmt::Display for LsnRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            write!(f, "(empty at {})", self.start)
        } else {
            write!(f, "{}..={}", self.start, self.end.0 - 1)
        }
    }
}
