//! Realistic write workloads for the benchmarks: SQL text and parameters shaped like what
//! an OLTP application (pgbench's TPC-B-like script, a web app's inserts) sends, made from a
//! deterministic PRNG so runs are repeatable and compression ratios honest.

use mdbd_engine::log::{encode_record, Payload, Record, Statement, Value, WriteTxn};

/// A small, fast, deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const NAMES: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar",
];
const CITIES: [&str; 8] = [
    "Lisbon", "Osaka", "Toronto", "Nairobi", "Lyon", "Austin", "Krakow", "Pune",
];

/// Record sizes the benchmarks sweep, as the approximate encoded size of one record.
#[derive(Clone, Copy, Debug)]
pub enum Size {
    /// ~100 B: one pgbench-style UPDATE with two integer parameters.
    Small,
    /// ~1 KiB: a transaction of several statements with text parameters.
    Medium,
    /// ~10 KiB: a multi-row INSERT with literal values.
    Large,
}

impl Size {
    /// Label for benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Size::Small => "100B",
            Size::Medium => "1KiB",
            Size::Large => "10KiB",
        }
    }
}

fn row(rng: &mut Rng) -> String {
    format!(
        "({}, '{}', '{}@example.com', '{}', {}.{:02}, '2026-{:02}-{:02} {:02}:{:02}:{:02}')",
        rng.below(10_000_000),
        NAMES[rng.below(12) as usize],
        NAMES[rng.below(12) as usize],
        CITIES[rng.below(8) as usize],
        rng.below(100_000),
        rng.below(100),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

/// One record of about the given size.
pub fn record(rng: &mut Rng, size: Size) -> Record {
    let session = rng.below(64);
    let statements = match size {
        Size::Small => vec![Statement::with_params(
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
            vec![
                Value::Int(rng.below(10_000) as i64 - 5_000),
                Value::Int(rng.below(1_000_000) as i64),
            ],
        )],
        Size::Medium => {
            let (aid, tid, bid, delta) = (
                rng.below(1_000_000) as i64,
                rng.below(100) as i64,
                rng.below(10) as i64,
                rng.below(10_000) as i64 - 5_000,
            );
            vec![
                Statement::with_params("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", vec![Value::Int(delta), Value::Int(aid)]),
                Statement::with_params("UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", vec![Value::Int(delta), Value::Int(tid)]),
                Statement::with_params("UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2", vec![Value::Int(delta), Value::Int(bid)]),
                Statement::with_params(
                    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
                    vec![Value::Int(tid), Value::Int(bid), Value::Int(aid), Value::Int(delta)],
                ),
                Statement::with_params(
                    "INSERT INTO audit_log (actor, action, detail, client_addr) VALUES ($1, $2, $3, $4)",
                    vec![
                        Value::Text(NAMES[rng.below(12) as usize].into()),
                        Value::Text("transfer".into()),
                        Value::Text(format!(
                            "{{\"from\": {}, \"to\": {}, \"amount\": {}, \"currency\": \"EUR\", \"note\": \"invoice {} for {} in {}\"}}",
                            rng.below(1_000_000),
                            rng.below(1_000_000),
                            rng.below(100_000),
                            rng.below(1_000_000),
                            NAMES[rng.below(12) as usize],
                            CITIES[rng.below(8) as usize]
                        )),
                        Value::Text(format!("10.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256))),
                    ],
                ),
                Statement::with_params(
                    "UPDATE customers SET last_seen = now(), visits = visits + 1, city = $1 WHERE id = $2",
                    vec![Value::Text(CITIES[rng.below(8) as usize].into()), Value::Int(rng.below(10_000_000) as i64)],
                ),
            ]
        }
        Size::Large => {
            let rows: Vec<String> = (0..85).map(|_| row(rng)).collect();
            vec![Statement::new(format!(
                "INSERT INTO customers (id, name, email, city, balance, created_at) VALUES {}",
                rows.join(", ")
            ))]
        }
    };
    Record {
        session,
        timestamp_micros: 1_764_000_000_000_000 + rng.below(1_000_000_000),
        payload: Payload::Write(WriteTxn {
            settings: Vec::new(),
            statements,
        }),
    }
}

/// `n` records of about the given size.
pub fn records(seed: u64, size: Size, n: usize) -> Vec<Record> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| record(&mut rng, size)).collect()
}

/// Mean encoded size of the records, in bytes.
pub fn mean_encoded_size(records: &[Record]) -> f64 {
    let mut buf = Vec::new();
    for r in records {
        encode_record(r, &mut buf).expect("encodes");
    }
    buf.len() as f64 / records.len() as f64
}

/// One criterion iteration of concurrent appends: `writers` tasks on `rt`, each appending
/// `iters` records of `pool` one at a time and waiting for each, as client sessions do.
/// Returns the time they all took.
pub fn append_concurrently(
    rt: &tokio::runtime::Runtime,
    log: &mdbd_engine::log::DeltaLog,
    pool: &std::sync::Arc<Vec<Record>>,
    writers: usize,
    iters: u64,
) -> std::time::Duration {
    rt.block_on(async {
        let start = std::time::Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (log, pool) = (log.clone(), pool.clone());
                tokio::spawn(async move {
                    for i in 0..iters as usize {
                        let r = &pool[(w * 131 + i) % pool.len()];
                        log.append(std::slice::from_ref(r)).await.expect("append");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        start.elapsed()
    })
}

/// Prints how many records went into how many frames (what group commit achieved).
pub fn report_frames(label: &str, log: &mdbd_engine::log::DeltaLog) {
    let s = log.stats();
    let records = s.end.get() - 1;
    eprintln!(
        "{label}: {records} records in {} frames (mean {:.1} records per frame)",
        s.frames,
        records as f64 / s.frames.max(1) as f64
    );
}
