#!/usr/bin/env bash
# `keyed` against `serial` and against the peers (#13), in one go: pgbench TPC-B at 8 and 32
# clients over three PostgreSQL servers through pgpool-II native replication, through mdbd
# `serial` and through mdbd `keyed`; then sysbench oltp_read_write at 8 threads over three
# MariaDB servers through mdbd `serial` and `keyed`, and against a 3-node Galera 4 cluster
# (sysbench spreads its threads over the nodes). For every run: tps, client errors (pgbench:
# failed transactions, aborted clients, non-zero exit; sysbench: ignored errors, reconnects,
# FATAL lines, non-zero exit), the mediator's CPU per transaction (utime+stime from
# /proc/PID/stat before and after the run, in microseconds, divided by the transactions the
# client reports: mdbd is one process, pgpool-II its main process and every descendant; no
# mediator for Galera), the three servers' CPU per transaction the same way (every
# system: for Galera it is the only cost), and, after the run, whether the three servers
# hold identical data (PostgreSQL: md5 over the ordered rows of each pgbench table;
# MariaDB: CHECKSUM TABLE and row count of sbtest1..N). Prints one markdown table and the
# ratios keyed/serial (TPC-B 8, TPC-B 32, sysbench 8) and keyed/Galera (sysbench), with
# #13's targets.
#
#   bash benches/keyed_peers.sh                  # 20 s per run, scale 10, 4 x 10,000 rows
#   SECS=20 SCALE=10 TABLES=4 ROWS=10000 bash benches/keyed_peers.sh
#   ONLY=tpcb bash benches/keyed_peers.sh        # only the PostgreSQL part (or ONLY=oltp_rw)
#   MDBD=/path/to/mdbd INSTALL=0 LOGS=/tmp/kp bash benches/keyed_peers.sh
#
# Knobs: SECS (20) per run; SCALE (10) of pgbench -i; TPCB_CLIENTS ("8 32") and JOBS (2,
# pgbench -j); THREADS (8) of sysbench, TABLES (4) of ROWS (10000) rows; MDBD, the mdbd
# binary (default target/release/mdbd, which benches/lib.sh first builds with `cargo
# build --release`; give MDBD to skip the build); DURABILITY of mdbd's log (default fsync,
# pgpool-II and Galera keep no such log); CLIENT_THREADS (mdbd's `[server]
# client_threads`); INSTALL=0 only reports missing packages; LOGS=DIR keeps every client
# output and server log there (the temporary directory is removed on exit);
# GALERA_PROVIDER (/usr/lib/galera/libgalera_smm.so); SST (rsync).
#
# Data: pgbench -i runs once, directly on each of the three PostgreSQL servers (its data
# is deterministic); sysbench prepare runs once on the first MariaDB, and its dump is
# loaded into all three MariaDB servers and later into the Galera cluster, so every
# system starts from the same rows. Runs then follow each other on the same data. Each
# mdbd run gets a fresh data dir; the previous run's applied-LSN marker table (mdbd_state)
# is dropped on the backends first (a marker ahead of a new, empty log would detach them).
# If a run leaves the servers different, they are loaded again before the next run, so a
# divergence is charged to the run that caused it.
#
# Needs PostgreSQL server binaries, psql and pgbench (postgresql, postgresql-contrib),
# MariaDB server binaries and client (mariadb-server), pgpool-II (Debian pgpool2),
# sysbench, galera-4 and rsync (Galera's SST); run as root (PostgreSQL runs as the
# `postgres` user; mariadbd with --user=root). Missing pgpool2 / sysbench / galera-4 /
# rsync are installed with apt-get. Every server is a throwaway instance on free loopback
# ports (20000-60000: never 5432, 3306, 4222 or Galera's 4567/4568/4444) in a temporary
# directory, removed with every process on exit: PostgreSQL with fsync=off, the mdbd
# backends with innodb_flush_log_at_trx_commit=0 (benches/lib.sh), the Galera nodes with
# the settings of the loopback set-up this was adapted from (flush_log_at_trx_commit=0,
# flush method nosync, no doublewrite; group ports P+100.., IST P+200.., SST P+300..).
set -euo pipefail
[ -z "${LOGS:-}" ] || LOGS=$(realpath -m "$LOGS")
cd "$(dirname "$0")/.."

SECS=${SECS:-20}
SCALE=${SCALE:-10}
TPCB_CLIENTS=${TPCB_CLIENTS:-8 32}
JOBS=${JOBS:-2}
THREADS=${THREADS:-8}
TABLES=${TABLES:-4}
ROWS=${ROWS:-10000}
ONLY=${ONLY:-tpcb oltp_rw}
GALERA_PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
want() { [[ " ${ONLY//,/ } " == *" $1 "* ]]; }

missing=()
if want tpcb && ! command -v pgpool >/dev/null; then missing+=(pgpool2); fi
if want oltp_rw; then
  command -v sysbench >/dev/null || missing+=(sysbench)
  [ -f "$GALERA_PROVIDER" ] || missing+=(galera-4)
  command -v rsync >/dev/null || missing+=(rsync)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && [ "${INSTALL:-1}" != 0 ]; then
    echo "installing ${missing[*]} (apt-get)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing: apt install ${missing[*]}" >&2; exit 1
  fi
fi
if want tpcb && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${PGBIN:-}" ]; then
  echo "missing: PostgreSQL server binaries (apt install postgresql postgresql-contrib)" >&2; exit 1
fi
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
if want oltp_rw && { [ ! -x "$MARIADBD" ] || ! command -v mariadb-dump >/dev/null; }; then
  echo "missing: MariaDB server binaries (apt install mariadb-server)" >&2; exit 1
fi
if want oltp_rw && [ "$(id -u)" != 0 ]; then echo "run as root (Galera's SST and mariadbd --user=root)" >&2; exit 1; fi

# shellcheck source=benches/lib.sh
source benches/lib.sh
HZ=$(getconf CLK_TCK)


# shellcheck disable=SC2317 # also run by the EXIT trap
stop_proc() { # pid signal tenths-of-a-second: signal, wait, then SIGKILL; forget the pid
  local p=$1 sig=$2 n=$3 i
  [ -n "$p" ] || return 0
  kill "-$sig" "$p" 2>/dev/null || true
  for _ in $(seq "$n"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null || true
  for i in "${!pids[@]}"; do [ "${pids[$i]}" = "$p" ] && unset "pids[$i]"; done
  return 0
}
# shellcheck disable=SC2317
stop_pgpool() { stop_proc "${pgpool_pid:-}" INT 50; pgpool_pid=""; } # fast shutdown, children with it
# shellcheck disable=SC2317
stop_mdbd() { stop_proc "${mdbd_pid:-}" TERM 100; mdbd_pid=""; }

# --- Galera 4, adapted from ../shared/peers/galera_up.sh and galera_down.sh (nothing in the
# project may depend on that folder): node 0 bootstraps, the others join by SST from it.
# Node i: SQL port P+i, group port P+100+i, IST P+200+i, SST P+300+i, with P chosen so
# that all twelve are free; its files in $groot/g$i. Stopped by pid, SIGTERM, before
# lib.sh's cleanup removes the directory.
groot="" gport="" gpids=()
galera_base() { # -> P with P+{0,1,2}, +10x, +20x, +30x all free
  local p o ok
  while :; do
    p=$(free_port) ok=1
    for o in 0 1 2 100 101 102 200 201 202 300 301 302; do
      if (echo >/dev/tcp/127.0.0.1/$((p + o))) 2>/dev/null; then ok=0; break; fi
    done
    [ "$ok" = 1 ] && { echo "$p"; return; }
  done
}
galera_node() { # i [--wsrep-new-cluster] -> returns once the node is Synced
  local i=$1; shift
  local port=$((gport + i)) d=$groot/g$i pid state
  local addrs="127.0.0.1:$((gport + 100)),127.0.0.1:$((gport + 101)),127.0.0.1:$((gport + 102))"
  mkdir -p "$d/tmp"
  if [ "${1:-}" = --wsrep-new-cluster ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$d/data" --auth-root-authentication-method=normal \
      --skip-test-db --tmpdir="$d/tmp" >"$d/install.log" 2>&1 || { cat "$d/install.log" >&2; return 1; }
  else
    # joiners get their data by SST; rsync's daemon runs as nobody, so their dirs are open
    mkdir -p "$d/data"; chmod 777 "$d" "$d/tmp"; chown nobody:nogroup "$d/data"
  fi
  "$MARIADBD" --no-defaults --user=root --datadir="$d/data" --socket="$d/mysql.sock" --port="$port" \
    --bind-address=127.0.0.1 --tmpdir="$d/tmp" --pid-file="$d/mariadbd.pid" --log-error="$d/error.log" \
    --skip-name-resolve --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --innodb-flush-method=nosync \
    --innodb-buffer-pool-size=128M --innodb-log-file-size=48M --max-connections=200 \
    --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --wsrep-on=ON --wsrep-provider="$GALERA_PROVIDER" --wsrep-cluster-name=mdbd-bench \
    --wsrep-cluster-address="gcomm://$addrs" --wsrep-node-address="127.0.0.1:$((gport + 100 + i))" \
    --wsrep-node-name="g$i" \
    --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$((gport + 100 + i));ist.recv_addr=127.0.0.1:$((gport + 200 + i));gcache.size=256M" \
    --wsrep-sst-method="${SST:-rsync}" --wsrep-sst-receive-address="127.0.0.1:$((gport + 300 + i))" \
    "$@" </dev/null >"$d/stdout.log" 2>&1 &
  pid=$!
  gpids+=("$pid")
  for _ in $(seq 1200); do # 2 minutes
    state=$(mariadb --no-defaults -h 127.0.0.1 -P "$port" -u root -N -s -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | awk '{print $2}') || true
    [ "$state" = Synced ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "galera node $i did not sync; the end of $d/error.log:" >&2; tail -30 "$d/error.log" >&2; return 1
}
galera_up() {
  groot=$root/galera gport=$(galera_base)
  mkdir -p "$groot"; chmod 755 "$groot"
  galera_node 0 --wsrep-new-cluster
  galera_node 1
  galera_node 2
}
# shellcheck disable=SC2317 # also run by the EXIT trap
galera_down() { # every node at once (SIGTERM), then wait for each
  local p
  for p in "${gpids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${gpids[@]}"; do stop_proc "$p" TERM 300; done
  gpids=()
}
# --- end of Galera

# shellcheck disable=SC2317
on_exit() {
  stop_pgpool; stop_mdbd; galera_down
  if [ -n "${LOGS:-}" ] && [ -d "${root:-}" ]; then
    mkdir -p "$LOGS"
    (cd "$root" && find . -type f \( -name '*.out' -o -name '*.log' -o -name '*.toml' -o -name '*.prepare' -o -name log \) -size -50M \
      -exec cp --parents {} "$LOGS"/ \;) 2>/dev/null || true
  fi
  cleanup
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- one run
declare -A R_tps R_err R_med R_srv R_sum
notes=()
status=0
# measure KEY tool mediator-pid|- "server pids" command... : runs one benchmark; records its
# tps, client errors, mediator and servers CPU microseconds per transaction.
measure() {
  local key=$1 tool=$2 mpid=$3 spids=$4; shift 4
  local out=$root/$key.out rc=0 m0=0 s0=0 mu=0 su=0 p t txns err="" a b c d
  [ "$mpid" = - ] || m0=$(cpu_ticks "$mpid")
  for p in $spids; do s0=$((s0 + $(cpu_ticks "$p"))); done
  "$@" >"$out" 2>&1 || rc=$?
  [ "$mpid" = - ] || mu=$(($(cpu_ticks "$mpid") - m0))
  for p in $spids; do su=$((su + $(cpu_ticks "$p"))); done
  su=$((su - s0))
  if [ "$tool" = pgbench ]; then
    t=$(awk '/^tps = / {print $3; exit}' "$out")
    txns=$(awk -F': *' '/^number of transactions actually processed:/ {split($2, x, "/"); print x[1]; exit}' "$out")
    a=$(awk '/^number of failed transactions:/ {print $5; exit}' "$out")
    b=$(grep -c 'aborted in command' "$out" || true)
    [ "${a:-0}" = 0 ] || err+="${err:+, }$a failed"
    [ "$b" = 0 ] || err+="${err:+, }$b clients aborted"
  else
    t=$(awk '/transactions:/ {gsub(/[(]/, "", $3); print $3; exit}' "$out")
    txns=$(awk '/transactions:/ {print $2; exit}' "$out")
    a=$(awk '/ignored errors:/ {print $3; exit}' "$out")
    b=$(awk '/reconnects:/ {print $2; exit}' "$out")
    c=$(awk '$1 == "errors:" {print $2; exit}' "$out") # not in sysbench 1.0's summary; read if a version prints it
    d=$(grep -c 'FATAL' "$out" || true)
    [ "${a:-0}" = 0 ] || err+="${err:+, }$a ignored"
    [ "${b:-0}" = 0 ] || err+="${err:+, }$b reconnects"
    [ "${c:-0}" = 0 ] || err+="${err:+, }$c errors"
    [ "$d" = 0 ] || err+="${err:+, }$d FATAL"
  fi
  [ "$rc" = 0 ] || err+="${err:+, }exit $rc"
  if [ "$rc" != 0 ] || [ -z "$t" ] || [ -z "$txns" ] || [ "$txns" = 0 ]; then
    echo "$key failed (exit $rc):" >&2; tail -15 "$out" >&2
    notes+=("$key: $tool failed (exit $rc): $(grep -m1 -iE 'error|fatal|abort' "$out" || true)"); status=1
    [ -n "$t" ] || t=ERR
  fi
  R_tps[$key]=$t
  R_err[$key]=${err:-0}
  R_med[$key]=-
  [ "$mpid" != - ] || R_med[$key]="n/a (no mediator)"
  R_srv[$key]=-
  if [ -n "$txns" ] && [ "$txns" != 0 ]; then
    [ "$mpid" = - ] || R_med[$key]=$(awk -v u="$mu" -v hz="$HZ" -v n="$txns" 'BEGIN {printf "%.1f", u * 1e6 / hz / n}')
    R_srv[$key]=$(awk -v u="$su" -v hz="$HZ" -v n="$txns" 'BEGIN {printf "%.1f", u * 1e6 / hz / n}')
  fi
  printf '  %-16s %10s tps %8s txns  errors: %s; mediator %s, servers %s us/txn\n' \
    "$key" "$t" "${txns:-?}" "${R_err[$key]}" "${R_med[$key]}" "${R_srv[$key]}"
}

agree() { local s; for s in "$@"; do [ "$s" = "$1" ] || { echo DIFFER; return; }; done; echo identical; }
verdict="" sums_text="" first_sums=""

# --- PostgreSQL: checksums and loading
PG_SUMS="SELECT concat_ws(' ',
  (SELECT md5(string_agg(md5(t::text), '' ORDER BY t.aid)) FROM pgbench_accounts t),
  (SELECT md5(string_agg(md5(t::text), '' ORDER BY t.bid)) FROM pgbench_branches t),
  (SELECT md5(string_agg(md5(t::text), '' ORDER BY t.tid)) FROM pgbench_tellers t),
  (SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY t::text), '')) FROM pgbench_history t),
  (SELECT count(*) FROM pgbench_history))"
pg_sums() { # -> $verdict (identical|DIFFER), $sums_text (each server's md5s of accounts,
  # branches, tellers, history and the history row count); not in $(...), which would lose them
  local bp try sums=()
  for try in 1 2 3; do
    sums=()
    for bp in "${pg[@]}"; do
      sums+=("$(psql -X -h 127.0.0.1 -p "$bp" -U postgres -At -c "$PG_SUMS" postgres 2>&1 || true)")
    done
    verdict=$(agree "${sums[@]}")
    [ "$verdict" = identical ] && break
    [ "$try" = 3 ] || sleep 1
  done
  sums_text=$(printf ':%s=%s  ' "${pg[0]}" "${sums[0]}" "${pg[1]}" "${sums[1]}" "${pg[2]}" "${sums[2]}")
  first_sums=${sums[0]}
}
pg_load() { # pgbench -i on each server directly (deterministic data), then they must agree
  local bp
  for bp in "${pg[@]}"; do
    "$PGBENCH" -h 127.0.0.1 -p "$bp" -U postgres -i -q -s "$SCALE" postgres >"$root/init.$bp.log" 2>&1 ||
      { cat "$root/init.$bp.log" >&2; echo "pgbench -i failed on port $bp" >&2; exit 1; }
  done
  pg_sums
  [ "$verdict" = identical ] || { echo "the PostgreSQL servers differ right after pgbench -i: $sums_text" >&2; exit 1; }
}
pg_check() { # key: after a run; a divergence is reloaded so that the next run starts equal
  pg_sums
  R_sum[$1]=$verdict
  echo "  $1: backends $verdict (md5 accounts branches tellers history, history rows, on the first: $first_sums)"
  if [ "${R_sum[$1]}" != identical ]; then
    status=1; notes+=("$1: PostgreSQL servers DIFFER after the run: $sums_text (reloaded with pgbench -i)")
    pg_load
  fi
}
pg_drop_markers() {
  local bp
  for bp in "${pg[@]}"; do
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -h 127.0.0.1 -p "$bp" -U postgres \
      -c "DROP TABLE IF EXISTS mdbd_state" postgres >/dev/null
  done
}
# shellcheck disable=SC2317 # run through measure()
pgb() { # port clients
  "$PGBENCH" -h 127.0.0.1 -p "$1" -U postgres -c "$2" -j "$JOBS" -T "$SECS" -n postgres
}

# --- MariaDB / Galera: checksums and loading
my_sums_of() { # port -> "checksum/rows" of sbtest1..TABLES, space-separated
  local q="" t
  for t in $(seq "$TABLES"); do q+="CHECKSUM TABLE sbtest$t; SELECT count(*) FROM sbtest$t; "; done
  mariadb --no-defaults -h 127.0.0.1 -P "$1" -u root -N -B sbtest -e "$q" 2>&1 | awk '{print $NF}' | paste -sd' ' - || true
}
my_sums() { # tries port port port -> $verdict (identical|DIFFER), $sums_text (each server's
  # checksum and row count of sbtest1..N); retried, as Galera's appliers may still be busy
  local tries=$1 try p sums=(); shift
  for try in $(seq "$tries"); do
    sums=()
    for p in "$@"; do sums+=("$(my_sums_of "$p")"); done
    verdict=$(agree "${sums[@]}")
    [ "$verdict" = identical ] && break
    [ "$try" = "$tries" ] || sleep 1
  done
  sums_text=$(printf ':%s=%s  ' "$1" "${sums[0]}" "$2" "${sums[1]}" "$3" "${sums[2]}")
  first_sums=${sums[0]}
}
my_load() { # port... : the sysbench dump into each
  local p
  for p in "$@"; do
    mariadb --no-defaults -h 127.0.0.1 -P "$p" -u root sbtest <"$root/sbtest.sql" >"$root/load.$p.log" 2>&1 ||
      { cat "$root/load.$p.log" >&2; echo "loading the sysbench tables into port $p failed" >&2; exit 1; }
  done
}
my_check() { # key tries port port port
  local key=$1 tries=$2; shift 2
  my_sums "$tries" "$@"
  R_sum[$key]=$verdict
  echo "  $key: servers $verdict (checksum, rows of sbtest1..$TABLES on the first: $first_sums)"
  if [ "$verdict" != identical ]; then
    status=1; notes+=("$key: MariaDB servers DIFFER after the run: $sums_text")
    return 1
  fi
}
my_drop_markers() {
  local p
  for p in "$@"; do mariadb --no-defaults -h 127.0.0.1 -P "$p" -u root sbtest -e "DROP TABLE IF EXISTS mdbd_state"; done
}
sb() { # hosts ports user password command
  sysbench oltp_read_write --db-driver=mysql --mysql-host="$1" --mysql-port="$2" \
    --mysql-user="$3" --mysql-password="$4" --mysql-db=sbtest --tables="$TABLES" \
    --table-size="$ROWS" --threads="$THREADS" --time="$SECS" --report-interval=0 "$5"
}
mdbd_detaches() { # name: a detach during a run is worth a note
  local n
  n=$(grep -ci 'detach' "$root/$1.log" || true)
  [ "$n" = 0 ] || notes+=("$1: $n log lines of mdbd mention a detach: $(grep -i -m1 'detach' "$root/$1.log")")
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $SECS s per run; pgbench scale $SCALE, clients $TPCB_CLIENTS, -j $JOBS; sysbench $THREADS threads, $TABLES tables x $ROWS rows; mdbd log durability ${DURABILITY:-fsync}"
echo "mdbd: $MDBD"

# --- PostgreSQL part
if want tpcb; then
  "$PGBIN/postgres" --version || true
  pgpool --version 2>&1 | head -1 || true
  pg=("$(start_pg pa)" "$(start_pg pb)" "$(start_pg pc)")
  pg_pids=()
  for n in pa pb pc; do pg_pids+=("$(head -1 "$root/$n/postmaster.pid")"); done
  pg_load
  echo "PostgreSQL servers on ${pg[*]}: loaded (scale $SCALE), identical"
  maxc=32
  for c in $TPCB_CLIENTS; do if [ "$c" -gt "$maxc" ]; then maxc=$c; fi; done
  for c in $TPCB_CLIENTS; do
    echo "TPC-B, $c clients:"
    poolp=$(free_port); start_pgpool "$poolp" $((maxc + 4)) "${pg[@]}"
    echo "  pgpool nodes: $(psql -X -h 127.0.0.1 -p "$poolp" -U postgres -Atc 'SHOW pool_nodes' postgres | awk -F'|' '{printf "%s:%s %s; ", $2, $3, $4}')"
    measure "tpcb-$c-pgpool" pgbench "$pgpool_pid" "${pg_pids[*]}" pgb "$poolp" "$c"
    stop_pgpool
    pg_check "tpcb-$c-pgpool"
    for mode in serial keyed; do
      pg_drop_markers
      port=$(free_port); start_mdbd "mdbd-tpcb-$c-$mode" postgres "$mode" "$port" "${pg[@]}"
      measure "tpcb-$c-$mode" pgbench "$mdbd_pid" "${pg_pids[*]}" pgb "$port" "$c"
      stop_mdbd
      mdbd_detaches "mdbd-tpcb-$c-$mode"
      pg_check "tpcb-$c-$mode"
    done
  done
  for n in pa pb pc; do as_pg "$PGBIN/pg_ctl" -D "$root/$n" -m fast stop >/dev/null 2>&1 || true; done
fi

# --- MariaDB part
if want oltp_rw; then
  "$MARIADBD" --version || true
  sysbench --version || true
  my=("$(start_mariadb ma)" "$(start_mariadb mb)" "$(start_mariadb mc)")
  my_pids=()
  for n in ma mb mc; do my_pids+=("$(cat "$root/$n/mysqld.pid")"); done
  sb 127.0.0.1 "${my[0]}" root "" prepare >"$root/sysbench.prepare" 2>&1 || { cat "$root/sysbench.prepare" >&2; exit 1; }
  # --compact: no UNIQUE_CHECKS=0 / FOREIGN_KEY_CHECKS=0 header (InnoDB's bulk load of an
  # empty table is not what Galera should be given), no LOCK TABLES; DROP TABLE kept for reloads
  mariadb-dump --no-defaults -h 127.0.0.1 -P "${my[0]}" -u root --single-transaction --compact --add-drop-table \
    sbtest >"$root/sbtest.sql"
  my_load "${my[@]}"
  my_sums 1 "${my[@]}"
  [ "$verdict" = identical ] || { echo "the MariaDB servers differ right after loading: $sums_text" >&2; exit 1; }
  echo "MariaDB servers on ${my[*]}: loaded ($TABLES x $ROWS rows), identical"
  echo "sysbench oltp_read_write, $THREADS threads:"
  for mode in serial keyed; do
    my_drop_markers "${my[@]}"
    port=$(free_port); start_mdbd "mdbd-oltp-$THREADS-$mode" mysql "$mode" "$port" "${my[@]}"
    measure "oltp-$THREADS-$mode" sysbench "$mdbd_pid" "${my_pids[*]}" sb 127.0.0.1 "$port" sbtest sbtest run
    stop_mdbd
    mdbd_detaches "mdbd-oltp-$THREADS-$mode"
    my_check "oltp-$THREADS-$mode" 3 "${my[@]}" || { notes+=("oltp-$THREADS-$mode: the MariaDB servers were loaded again from the dump"); my_load "${my[@]}"; }
  done
  for n in ma mb mc; do stop_proc "$(cat "$root/$n/mysqld.pid")" TERM 300; done # no child of ours: waits, then KILL

  galera_up
  g=("$gport" $((gport + 1)) $((gport + 2)))
  echo "Galera on ${g[*]}: $(mariadb --no-defaults -h 127.0.0.1 -P "$gport" -u root -N -s -e "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_provider_version')" | tr '\t\n' '= ')"
  mariadb --no-defaults -h 127.0.0.1 -P "$gport" -u root -e "CREATE DATABASE sbtest"
  my_load "$gport"
  my_sums 30 "${g[@]}"
  [ "$verdict" = identical ] || { echo "the Galera nodes differ after loading: $sums_text" >&2; exit 1; }
  echo "Galera: loaded through node 0, identical on the 3 nodes"
  measure "oltp-$THREADS-galera" sysbench - "${gpids[*]}" sb 127.0.0.1,127.0.0.1,127.0.0.1 "${g[0]},${g[1]},${g[2]}" root "" run
  my_check "oltp-$THREADS-galera" 10 "${g[@]}" || true
  galera_down
fi

# --- the table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-"}'; }
num() { awk -v a="$1" 'BEGIN {if (a ~ /^[0-9.]+$/) printf "%.0f", a; else printf "%s", a}'; }
row() { # key workload clients system
  [ -n "${R_tps[$1]:-}" ] || return 0
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$3" "$4" "$(num "${R_tps[$1]}")" "${R_err[$1]}" \
    "${R_med[$1]}" "${R_srv[$1]}" "${R_sum[$1]:-not checked}"
}
echo
echo "| workload | clients | system | tps | client errors | mediator CPU us/txn | 3 servers' CPU us/txn | checksums after the run |"
echo "|---|---:|---|---:|---|---:|---:|---|"
for c in $TPCB_CLIENTS; do
  row "tpcb-$c-pgpool" "pgbench TPC-B" "$c" "pgpool-II native replication"
  row "tpcb-$c-serial" "pgbench TPC-B" "$c" "mdbd serial"
  row "tpcb-$c-keyed" "pgbench TPC-B" "$c" "mdbd keyed"
done
row "oltp-$THREADS-serial" "sysbench oltp_read_write" "$THREADS" "mdbd serial"
row "oltp-$THREADS-keyed" "sysbench oltp_read_write" "$THREADS" "mdbd keyed"
row "oltp-$THREADS-galera" "sysbench oltp_read_write" "$THREADS" "Galera 4, 3 nodes"
echo "(CPU: user+system from /proc/PID/stat at $HZ ticks/s, per transaction the client reports; mediator: mdbd's process, or pgpool-II's processes; servers: the three PostgreSQL postmasters with their backends, or the three mariadbd. Galera has no mediator: its replication and certification are in the servers' CPU.)"

echo
ratios=()
for c in $TPCB_CLIENTS; do
  ratios+=("TPC-B $c keyed/serial $(ratio "${R_tps[tpcb-$c-keyed]:-}" "${R_tps[tpcb-$c-serial]:-}")x, keyed/pgpool-II $(ratio "${R_tps[tpcb-$c-keyed]:-}" "${R_tps[tpcb-$c-pgpool]:-}")x")
done
ratios+=("sysbench $THREADS keyed/serial $(ratio "${R_tps[oltp-$THREADS-keyed]:-}" "${R_tps[oltp-$THREADS-serial]:-}")x")
ratios+=("sysbench $THREADS keyed/Galera $(ratio "${R_tps[oltp-$THREADS-keyed]:-}" "${R_tps[oltp-$THREADS-galera]:-}")x")
echo "tps ratios: $(printf '%s; ' "${ratios[@]}")"

# #13's targets on this machine
# shellcheck disable=SC2317 # run through met()
ge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a != "-" && a + 0 >= b + 0)}'; }
t1=$(ratio "${R_tps[tpcb-8-keyed]:-}" "${R_tps[tpcb-8-serial]:-}")
t2=$(ratio "${R_tps[oltp-$THREADS-keyed]:-}" "${R_tps[oltp-$THREADS-serial]:-}")
t3=$(ratio "${R_tps[oltp-$THREADS-keyed]:-}" "${R_tps[oltp-$THREADS-galera]:-}")
met() { if "$@"; then echo met; else echo "NOT met"; fi; }
# shellcheck disable=SC2317
all_identical() { local k; for k in "${!R_sum[@]}"; do [ "${R_sum[$k]}" = identical ] || return 1; done; [ ${#R_sum[@]} -gt 0 ]; }
echo "targets (#13): keyed TPC-B >= 2.5x serial at 8 clients ($t1): $(met ge "$t1" 2.5);" \
  "keyed sysbench >= 2.5x serial ($t2): $(met ge "$t2" 2.5), above Galera ($t3): $(met awk -v a="$t3" 'BEGIN {exit !(a != "-" && a + 0 > 1)}')," \
  "with 0 client errors (${R_err[oltp-$THREADS-keyed]:-not run}): $(met test "${R_err[oltp-$THREADS-keyed]:-x}" = 0);" \
  "servers identical after every run: $(met all_identical)"
for n in "${notes[@]}"; do echo "note: $n"; done
exit $status
