//! Waiting and holding times of write-order grants, as cumulative histograms in the shape
//! Prometheus expects (`_bucket{le}`, `_sum`, `_count`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds: 100 us to 10 s by decades, then 30 s.
pub const BUCKET_BOUNDS_MICROS: [u64; 7] = [
    100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 30_000_000,
];

/// A histogram of durations that many threads record into without a lock.
#[derive(Default)]
pub struct Histogram {
    /// Observations in each bucket alone (not cumulative); the last is above every bound.
    buckets: [AtomicU64; BUCKET_BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// `(upper bound in microseconds, observations at or below it)` for every bound, in
    /// increasing order; observations above the last bound are only in `count`.
    pub cumulative: Vec<(u64, u64)>,
    /// Sum of every observation, in microseconds.
    pub sum_micros: u64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn record(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKET_BOUNDS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(BUCKET_BOUNDS_MICROS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The histogram now (each field read on its own: a concurrent record may be seen in
    /// some and not yet in others, as Prometheus clients allow).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = BUCKET_BOUNDS_MICROS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                running += n.load(Ordering::Relaxed);
                (*bound, running)
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// Waiting and holding times of the write order's grants.
#[derive(Default)]
pub struct OrderStats {
    /// From asking for a write transaction's turn to getting it.
    pub turn_wait: Histogram,
    /// From getting a write transaction's turn to giving it back.
    pub turn_hold: Histogram,
    /// From asking for a quiesce (a join's cut or switch-over, a control record) to
    /// getting it.
    pub quiesce_wait: Histogram,
    /// How long writers were held back by one quiesce.
    pub quiesce_hold: Histogram,
}
