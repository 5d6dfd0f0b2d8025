//! Soak load driver: many PostgreSQL-wire clients against one endpoint (mdbd), mixed reads
//! and writes with think time, reconnecting whenever a connection breaks; at the end it
//! checks through the same endpoint that every acknowledged write is there exactly once.
//! Not part of CI; `benches/soak.sh` runs it against mdbd over three PostgreSQL servers
//! while it freezes them one at a time.
//!
//! ```text
//! soak --port P [--clients 500] [--secs 600] [--idle-holder] [--idle-pause 0] [--op-timeout 45]
//! ```
//!
//! Connects only to 127.0.0.1 as user `postgres`, database `postgres`. Table
//! `soak(writer int, seq int, PRIMARY KEY (writer, seq), payload text)`, created if
//! missing. Each client (writer id 1..=N) loops: 70 % `SELECT count(*) FROM soak WHERE
//! writer = $1`, 30 % `INSERT INTO soak VALUES ($1, $2, 'x')` with its own increasing seq
//! (a seq is never reused, even after an error), then sleeps 20-200 ms.
//!
//! With `--idle-holder`, one more client (writer -1), once the clients have started, runs
//! `BEGIN; INSERT ...` and then waits without committing until the daemon ends the
//! transaction (its idle-in-transaction timeout), records how that ended and how long it
//! held, reconnects after `--idle-pause` seconds and does it again. Its errors are
//! reported apart from the load's. The daemon may end the session at once (as PostgreSQL
//! does: the connection closes with 25P03) or tell the client only at its next request
//! (mdbd); so the holder also asks (`SELECT 1`) as soon as other clients' writes are
//! acknowledged again, which under the serial write turn means its transaction is over.
//! The rows it inserted must never become visible (`idle_holder_rows_visible: 0`).
//!
//! Every network call is bounded (connect 10 s, statements `--op-timeout`, 45 s by default:
//! longer than mdbd's default 30 s idle-in-transaction timeout, so writes queued behind the
//! idle holder are not cut off by the driver at the moment it is ended), the load stops
//! by itself after `--secs`, and the summary is printed as `key: value` lines on stdout
//! (progress every 10 s on stderr). Exit status: 0 when every acknowledged write was found
//! exactly once and no failed write is present, 1 when not, 2 when the check could not run.

use benches::Rng;
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_postgres::{Client, NoTls, Statement};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Grace after `--secs` for statements in flight; every timeout is clamped to it.
const GRACE: Duration = Duration::from_secs(50);

struct Args {
    port: u16,
    clients: u32,
    secs: u64,
    idle_holder: bool,
    idle_pause: Duration,
    op_timeout: Duration,
}

fn usage() -> String {
    "usage: soak --port P [--clients N (500)] [--secs S (600)] [--idle-holder] [--idle-pause S (0)] [--op-timeout S (45)]"
        .into()
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut clients = 500;
    let mut secs = 600;
    let mut idle_holder = false;
    let mut op_timeout = 45;
    let mut idle_pause = 0;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{}", usage()))
        };
        let num = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        };
        match a.as_str() {
            "--port" => {
                let v = value("--port")?;
                port = Some(v.parse::<u16>().map_err(|_| format!("--port: {v:?}"))?);
            }
            "--clients" => clients = num("--clients", value("--clients")?)? as u32,
            "--secs" => secs = num("--secs", value("--secs")?)?,
            "--op-timeout" => op_timeout = num("--op-timeout", value("--op-timeout")?)?,
            "--idle-holder" => idle_holder = true,
            "--idle-pause" => idle_pause = num("--idle-pause", value("--idle-pause")?)?,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    let port = port.ok_or_else(usage)?;
    if clients == 0 || secs == 0 || op_timeout == 0 {
        return Err("--clients, --secs and --op-timeout must be at least 1".into());
    }
    Ok(Args {
        port,
        clients,
        secs,
        idle_holder,
        idle_pause: Duration::from_secs(idle_pause),
        op_timeout: Duration::from_secs(op_timeout),
    })
}

/// What every task shares: counters, error tallies and the write-stall tracker.
struct Shared {
    port: u16,
    start: Instant,
    /// Load stops being generated here.
    deadline: Instant,
    /// Nothing in flight may outlive this.
    hard_stop: Instant,
    op_timeout: Duration,
    /// `deadline` in milliseconds since `start`: acknowledgements after it (statements
    /// still in flight when the load stopped) do not count for stalls.
    run_ms: u64,
    /// Milliseconds since `start` of the latest acknowledged write (monotone).
    last_ack_ms: AtomicU64,
    /// Longest gap between acknowledged writes: (gap ms, ms since start at its end).
    longest_stall: Mutex<(u64, u64)>,
    stalls_over_1s: AtomicU64,
    writes_acked: AtomicU64,
    reads_ok: AtomicU64,
    reconnects: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    idle: Mutex<IdleStats>,
}

#[derive(Default)]
struct IdleStats {
    holds: u64,
    ended: u64,
    errors: BTreeMap<String, u64>,
    hold_ms: Vec<u64>,
    still_holding_at_end_ms: Option<u64>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// A write was acknowledged now.
    fn ack(&self) {
        self.writes_acked.fetch_add(1, Relaxed);
        let now = self.now_ms();
        if now > self.run_ms {
            return;
        }
        let prev = self.last_ack_ms.fetch_max(now, Relaxed);
        if now > prev {
            self.note_gap(now - prev, now);
        }
    }

    fn note_gap(&self, gap: u64, at: u64) {
        if gap >= 1000 {
            self.stalls_over_1s.fetch_add(1, Relaxed);
        }
        let mut l = self.longest_stall.lock().unwrap();
        if gap > l.0 {
            *l = (gap, at);
        }
    }

    fn error(&self, kind: String) {
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }

    /// `d`, cut so that it ends by `hard_stop`.
    fn bounded(&self, d: Duration) -> Duration {
        d.min(self.hard_stop.saturating_duration_since(Instant::now()))
    }

    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }
}

/// How an error is tallied: its SQLSTATE, else `connection`.
fn kind(e: &tokio_postgres::Error) -> String {
    match e.code() {
        Some(c) => c.code().to_string(),
        None => "connection".into(),
    }
}

/// Whether the connection is unusable after `e`.
fn broken(e: &tokio_postgres::Error, client: &Client) -> bool {
    match e.as_db_error() {
        Some(db) => client.is_closed() || matches!(db.severity(), "FATAL" | "PANIC"),
        None => true,
    }
}

/// One connection with its prepared statements; dropping it closes the connection.
struct Conn {
    client: Client,
    insert: Statement,
    select: Statement,
    task: JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn open(
    sh: &Shared,
) -> Result<(Client, JoinHandle<Result<(), tokio_postgres::Error>>), String> {
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout={}",
        sh.port,
        CONNECT_TIMEOUT.as_secs()
    );
    let (client, connection) = timeout(
        sh.bounded(CONNECT_TIMEOUT),
        tokio_postgres::connect(&conninfo, NoTls),
    )
    .await
    .map_err(|_| "timeout".to_string())?
    .map_err(|e| kind(&e))?;
    Ok((client, tokio::spawn(connection)))
}

async fn connect(sh: &Shared) -> Result<Conn, String> {
    let (client, task) = open(sh).await?;
    let prepare = |sql: &'static str| {
        let c = &client;
        async move {
            timeout(sh.bounded(sh.op_timeout), c.prepare(sql))
                .await
                .map_err(|_| "timeout".to_string())?
                .map_err(|e| kind(&e))
        }
    };
    let prepared = async {
        let insert = prepare("INSERT INTO soak VALUES ($1, $2, 'x')").await?;
        let select = prepare("SELECT count(*) FROM soak WHERE writer = $1").await?;
        Ok::<_, String>((insert, select))
    }
    .await;
    match prepared {
        Ok((insert, select)) => Ok(Conn {
            client,
            insert,
            select,
            task,
        }),
        Err(e) => {
            task.abort();
            Err(e)
        }
    }
}

/// What one client knows at the end.
#[derive(Default)]
struct ClientResult {
    writer: i32,
    acked: Vec<i32>,
    /// Writes whose outcome is unknown (timeout, connection lost).
    ambiguous: Vec<i32>,
    /// Writes answered with an error on a live connection.
    failed: Vec<i32>,
    write_latency_us: Vec<u32>,
}

async fn sleep_ms(sh: &Shared, ms: u64) {
    let d = Duration::from_millis(ms).min(sh.deadline.saturating_duration_since(Instant::now()));
    tokio::time::sleep(d).await;
}

async fn client_loop(
    writer: i32,
    first_seq: i32,
    delay: Duration,
    sh: Arc<Shared>,
) -> ClientResult {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(1);
    let mut rng = Rng::new((writer as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ nanos);
    let mut res = ClientResult {
        writer,
        ..Default::default()
    };
    let mut seq = first_seq;
    let mut conn: Option<Conn> = None;
    let mut connected_once = false;
    tokio::time::sleep(delay).await;
    while sh.running() {
        if conn.is_none() {
            match connect(&sh).await {
                Ok(c) => {
                    if connected_once {
                        sh.reconnects.fetch_add(1, Relaxed);
                    }
                    connected_once = true;
                    conn = Some(c);
                }
                Err(e) => {
                    sh.error(e);
                    sleep_ms(&sh, 200 + rng.below(800)).await;
                    continue;
                }
            }
        }
        let c = conn.as_ref().unwrap();
        let op_timeout = sh.bounded(sh.op_timeout);
        if rng.below(100) < 30 {
            let s = seq;
            seq += 1;
            let t0 = Instant::now();
            match timeout(op_timeout, c.client.execute(&c.insert, &[&writer, &s])).await {
                Ok(Ok(_)) => {
                    sh.ack();
                    res.acked.push(s);
                    res.write_latency_us
                        .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                Ok(Err(e)) => {
                    sh.error(kind(&e));
                    if broken(&e, &c.client) {
                        res.ambiguous.push(s);
                        conn = None;
                    } else {
                        res.failed.push(s);
                    }
                }
                Err(_) => {
                    sh.error("timeout".into());
                    res.ambiguous.push(s);
                    conn = None;
                }
            }
        } else {
            match timeout(op_timeout, c.client.query_one(&c.select, &[&writer])).await {
                Ok(Ok(_)) => {
                    sh.reads_ok.fetch_add(1, Relaxed);
                }
                Ok(Err(e)) => {
                    sh.error(kind(&e));
                    if broken(&e, &c.client) {
                        conn = None;
                    }
                }
                Err(_) => {
                    sh.error("timeout".into());
                    conn = None;
                }
            }
        }
        sleep_ms(&sh, 20 + rng.below(181)).await;
    }
    res
}

/// Writer -1: opens a write transaction and never commits it; waits for the server to
/// end the session, then does it again.
async fn idle_holder(first_seq: i32, start_after: Duration, pause: Duration, sh: Arc<Shared>) {
    let mut seq = first_seq;
    sleep_ms(&sh, start_after.as_millis() as u64).await;
    let err = |k: String| {
        *sh.idle.lock().unwrap().errors.entry(k).or_default() += 1;
    };
    while sh.running() {
        let (client, mut task) = match open(&sh).await {
            Ok(c) => c,
            Err(e) => {
                err(format!("connect:{e}"));
                sleep_ms(&sh, 1000).await;
                continue;
            }
        };
        let op_timeout = sh.bounded(sh.op_timeout);
        let s = seq;
        seq += 1;
        let opened = async {
            timeout(op_timeout, client.batch_execute("BEGIN"))
                .await
                .map_err(|_| "timeout".to_string())?
                .map_err(|e| kind(&e))?;
            timeout(
                op_timeout,
                client.execute("INSERT INTO soak VALUES (-1, $1, 'idle')", &[&s]),
            )
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| kind(&e))
        }
        .await;
        if let Err(e) = opened {
            err(format!("open:{e}"));
            task.abort();
            sleep_ms(&sh, 1000).await;
            continue;
        }
        sh.idle.lock().unwrap().holds += 1;
        let held = Instant::now();
        let held_ms = sh.now_ms();
        // Idle in the transaction until the session ends, or until other clients' writes
        // are acknowledged again: in `serial` mode the open transaction holds the write
        // turn, so that means the daemon ended it (it tells the client only at its next
        // request, so ask). Or until the run ends.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let how = loop {
            tokio::select! {
                ended = &mut task => break match ended {
                    Ok(Ok(())) => "closed".to_string(),
                    Ok(Err(e)) => kind(&e),
                    Err(_) => "task".to_string(),
                },
                _ = tick.tick() => {}
            }
            if !sh.running() {
                break String::new();
            }
            if sh.last_ack_ms.load(Relaxed) > held_ms + 200 {
                let probe =
                    timeout(sh.bounded(sh.op_timeout), client.simple_query("SELECT 1")).await;
                break match probe {
                    Ok(Ok(_)) => "open_while_others_wrote".to_string(),
                    Ok(Err(e)) => kind(&e),
                    Err(_) => "probe_timeout".to_string(),
                };
            }
        };
        let ms = held.elapsed().as_millis() as u64;
        task.abort();
        drop(client);
        if how.is_empty() {
            sh.idle.lock().unwrap().still_holding_at_end_ms = Some(ms);
            break;
        }
        {
            let mut idle = sh.idle.lock().unwrap();
            idle.ended += 1;
            idle.hold_ms.push(ms);
        }
        err(how);
        sleep_ms(&sh, 500 + pause.as_millis() as u64).await;
    }
}

/// Connects for set-up or verification, retrying for up to 60 s.
async fn admin_conn(
    sh: &Shared,
) -> Result<(Client, JoinHandle<Result<(), tokio_postgres::Error>>), String> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=10",
            sh.port
        );
        let r = match timeout(CONNECT_TIMEOUT, tokio_postgres::connect(&conninfo, NoTls)).await {
            Ok(Ok((c, conn))) => return Ok((c, tokio::spawn(conn))),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "connect timed out".to_string(),
        };
        if Instant::now() >= until {
            return Err(r);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[derive(Default)]
struct Verification {
    present: u64,
    missing: u64,
    duplicates: u64,
    unacked_present: u64,
    failed_but_present: u64,
    phantom: u64,
    unverified_writers: u64,
    idle_rows: Option<i64>,
    missing_examples: Vec<(i32, i32)>,
}

async fn verify(sh: &Shared, results: &[ClientResult], first_seq: i32) -> Verification {
    let mut v = Verification::default();
    const Q: &str = "SELECT seq, count(*) FROM soak WHERE writer = $1 AND seq >= $2 GROUP BY seq";
    let mut conn = admin_conn(sh).await.ok();
    for r in results {
        let mut rows = None;
        for _attempt in 0..3 {
            if conn.is_none() {
                conn = admin_conn(sh).await.ok();
            }
            let Some((c, _)) = &conn else { break };
            match timeout(
                Duration::from_secs(120),
                c.query(Q, &[&r.writer, &first_seq]),
            )
            .await
            {
                Ok(Ok(got)) => {
                    rows = Some(got);
                    break;
                }
                Ok(Err(e)) => eprintln!("verify writer {}: {e}", r.writer),
                Err(_) => eprintln!("verify writer {}: timed out", r.writer),
            }
            if let Some((_, t)) = conn.take() {
                t.abort();
            }
        }
        let Some(rows) = rows else {
            v.unverified_writers += 1;
            continue;
        };
        let mut found: HashMap<i32, i64> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        for s in &r.acked {
            match found.remove(s) {
                None | Some(0) => {
                    v.missing += 1;
                    if v.missing_examples.len() < 10 {
                        v.missing_examples.push((r.writer, *s));
                    }
                }
                Some(1) => v.present += 1,
                Some(_) => v.duplicates += 1,
            }
        }
        for s in found.keys() {
            if r.ambiguous.contains(s) {
                v.unacked_present += 1;
            } else if r.failed.contains(s) {
                v.failed_but_present += 1;
            } else {
                v.phantom += 1;
            }
        }
    }
    if let Some((c, _)) = &conn {
        if let Ok(Ok(row)) = timeout(
            Duration::from_secs(60),
            c.query_one("SELECT count(*) FROM soak WHERE writer = -1", &[]),
        )
        .await
        {
            v.idle_rows = Some(row.get(0));
        }
    }
    v
}

fn pct(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn tally(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut sh = Shared {
        port: args.port,
        start: Instant::now(),
        deadline: Instant::now(),
        hard_stop: Instant::now() + Duration::from_secs(3600),
        op_timeout: args.op_timeout,
        run_ms: args.secs * 1000,
        last_ack_ms: AtomicU64::new(0),
        longest_stall: Mutex::new((0, 0)),
        stalls_over_1s: AtomicU64::new(0),
        writes_acked: AtomicU64::new(0),
        reads_ok: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        idle: Mutex::new(IdleStats::default()),
    };

    // Set-up: the table, and where this run's seqs start (the table may hold older runs).
    let first_seq: i32 = {
        let (c, task) = match admin_conn(&sh).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cannot connect to 127.0.0.1:{}: {e}", args.port);
                return ExitCode::from(2);
            }
        };
        let setup = async {
            c.batch_execute(
                "CREATE TABLE IF NOT EXISTS soak (writer int, seq int, PRIMARY KEY (writer, seq), payload text)",
            )
            .await?;
            let row = c
                .query_one("SELECT coalesce(max(seq), 0) FROM soak", &[])
                .await?;
            Ok::<i32, tokio_postgres::Error>(row.get::<_, i32>(0) + 1)
        };
        let r = timeout(Duration::from_secs(60), setup).await;
        task.abort();
        match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                eprintln!("set-up failed: {e}");
                return ExitCode::from(2);
            }
            Err(_) => {
                eprintln!("set-up timed out");
                return ExitCode::from(2);
            }
        }
    };

    sh.start = Instant::now();
    sh.deadline = sh.start + Duration::from_secs(args.secs);
    sh.hard_stop = sh.deadline + GRACE;
    let sh = Arc::new(sh);
    eprintln!(
        "soak: {} clients{} against 127.0.0.1:{} for {} s (seq from {first_seq})",
        args.clients,
        if args.idle_holder {
            " + idle holder"
        } else {
            ""
        },
        args.port,
        args.secs
    );

    // Connections start spread over up to 5 s (a tenth of short runs).
    let spread = Duration::from_secs(args.secs).min(Duration::from_secs(50)) / 10;
    let mut handles = Vec::new();
    for i in 0..args.clients {
        let delay = spread * i / args.clients;
        handles.push(tokio::spawn(client_loop(
            i as i32 + 1,
            first_seq,
            delay,
            sh.clone(),
        )));
    }
    let holder = args
        .idle_holder
        .then(|| tokio::spawn(idle_holder(first_seq, spread, args.idle_pause, sh.clone())));

    let progress = {
        let sh = sh.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            let (mut w0, mut r0) = (0, 0);
            loop {
                tick.tick().await;
                let (w, r) = (sh.writes_acked.load(Relaxed), sh.reads_ok.load(Relaxed));
                let errors: u64 = sh.errors.lock().unwrap().values().sum();
                eprintln!(
                    "t={:>4}s writes {:>6.0}/s reads {:>6.0}/s acked {w} errors {errors} reconnects {} since last write {} ms",
                    sh.start.elapsed().as_secs(),
                    (w - w0) as f64 / 10.0,
                    (r - r0) as f64 / 10.0,
                    sh.reconnects.load(Relaxed),
                    sh.now_ms().saturating_sub(sh.last_ack_ms.load(Relaxed)),
                );
                (w0, r0) = (w, r);
            }
        })
    };

    let mut results = Vec::new();
    let mut unfinished = 0;
    for h in handles {
        let left = sh.hard_stop.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
        let abort = h.abort_handle();
        match timeout(left, h).await {
            Ok(Ok(r)) => results.push(r),
            _ => {
                abort.abort();
                unfinished += 1;
            }
        }
    }
    if let Some(h) = holder {
        let abort = h.abort_handle();
        if timeout(GRACE + Duration::from_secs(5), h).await.is_err() {
            abort.abort();
        }
    }
    progress.abort();
    // The stall still open when the load stopped counts too.
    let last = sh.last_ack_ms.load(Relaxed);
    if sh.run_ms > last {
        sh.note_gap(sh.run_ms - last, sh.run_ms);
    }

    eprintln!("soak: load finished; verifying {} writers", results.len());
    let v = verify(&sh, &results, first_seq).await;

    let acked: u64 = results.iter().map(|r| r.acked.len() as u64).sum();
    let ambiguous: u64 = results.iter().map(|r| r.ambiguous.len() as u64).sum();
    let failed: u64 = results.iter().map(|r| r.failed.len() as u64).sum();
    let mut lat: Vec<u32> = results
        .iter()
        .flat_map(|r| r.write_latency_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let (stall, stall_at) = *sh.longest_stall.lock().unwrap();
    let errors = sh.errors.lock().unwrap().clone();
    let idle = std::mem::take(&mut *sh.idle.lock().unwrap());

    println!("clients: {}", args.clients);
    println!("secs: {}", args.secs);
    println!("acknowledged_writes: {acked}");
    println!("verified_present: {}", v.present);
    println!("missing: {}", v.missing);
    println!("duplicates: {}", v.duplicates);
    if !v.missing_examples.is_empty() {
        println!("missing_examples: {:?}", v.missing_examples);
    }
    println!("writes_unknown_outcome: {ambiguous}");
    println!("writes_unknown_outcome_present: {}", v.unacked_present);
    println!("writes_failed: {failed}");
    println!("writes_failed_but_present: {}", v.failed_but_present);
    println!("rows_never_written_present: {}", v.phantom);
    println!("unverified_writers: {}", v.unverified_writers + unfinished);
    println!("reads_ok: {}", sh.reads_ok.load(Relaxed));
    println!("writes_per_s: {:.1}", acked as f64 / args.secs as f64);
    println!(
        "write_latency_ms: p50 {:.1}, p99 {:.1}, max {:.1}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    println!("errors_total: {}", errors.values().sum::<u64>());
    println!("errors_by_sqlstate: {}", tally(&errors));
    println!("longest_write_stall_ms: {stall}");
    println!(
        "longest_write_stall_ended_at_s: {:.1}",
        stall_at as f64 / 1000.0
    );
    println!("write_stalls_over_1s: {}", sh.stalls_over_1s.load(Relaxed));
    println!("reconnects: {}", sh.reconnects.load(Relaxed));
    if args.idle_holder {
        println!("idle_holder_transactions: {}", idle.holds);
        println!("idle_holder_sessions_ended: {}", idle.ended);
        println!("idle_holder_errors: {}", tally(&idle.errors));
        let max = idle.hold_ms.iter().max().copied().unwrap_or(0);
        let mean = if idle.hold_ms.is_empty() {
            0
        } else {
            idle.hold_ms.iter().sum::<u64>() / idle.hold_ms.len() as u64
        };
        println!("idle_holder_hold_ms: mean {mean}, max {max}");
        println!(
            "idle_holder_still_holding_at_end_ms: {}",
            idle.still_holding_at_end_ms
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into())
        );
        println!(
            "idle_holder_rows_visible: {}",
            v.idle_rows
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into())
        );
    }
    let ok = v.missing == 0 && v.duplicates == 0 && v.failed_but_present == 0 && v.phantom == 0;
    let complete = v.unverified_writers == 0 && unfinished == 0;
    println!(
        "verdict: {}",
        match (complete, ok) {
            (true, true) => "ok",
            (_, false) => "LOST OR EXTRA WRITES",
            (false, true) => "INCOMPLETE CHECK",
        }
    );
    if !ok {
        ExitCode::from(1)
    } else if !complete {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
