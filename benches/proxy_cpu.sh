#!/usr/bin/env bash
# Mediator CPU cost, mdbd against pgpool-II: pgbench -S, -S -M extended and TPC-B directly
# against one PostgreSQL, through pgpool-II (native replication) and through mdbd over the
# same three PostgreSQL servers, one run after the other; then sysbench oltp_read_write
# directly against one MariaDB and through mdbd's MySQL front end over three MariaDB (no
# pgpool column there). Prints one table of tps and of the mediator's CPU time per
# transaction: utime+stime from /proc/PID/stat before and after each run, in microseconds,
# divided by the transactions the client reports. mdbd is one process; for pgpool the sum
# over its main process and every descendant (with the reaped children's cutime/cstime, so
# a child that exits during a run is still counted). Then checks the three PostgreSQL
# backends agree after TPC-B.
#
#   bash benches/proxy_cpu.sh                   # scale 10, 8 clients, 2 threads, 20 s per run
#   SCALE=10 CLIENTS=8 JOBS=2 SECS=20 bash benches/proxy_cpu.sh
#   ONLY="select tpcb" bash benches/proxy_cpu.sh    # a subset of: select extended tpcb oltp_rw
#   MODE=perf SECS=10 ONLY=select bash benches/proxy_cpu.sh
#       # also `perf record -g` of mdbd during its -S run (PERF_OUT, default
#       # /tmp/mdbd-proxy-perf.data; PERF_EVENT, default cycles if the CPU counts them, else
#       # cpu-clock) and prints the top of `perf report --no-children`; PERF_WORKLOAD=tpcb
#       # (extended, oltp_rw) profiles that run instead
#   MODE=strace PERF_WORKLOAD=tpcb ONLY=tpcb bash benches/proxy_cpu.sh
#       # counts mdbd's system calls per transaction over that run (strace -c -f)
#
# CLIENT_THREADS=N sets mdbd's `[server] client_threads` (mdbd's default: one loop).
# CONSISTENCY=keyed runs the PostgreSQL cluster in `keyed` ordering (default: serial).
#
# sysbench: TABLES=4 tables of ROWS=10000 rows, CLIENTS threads. mdbd keeps its default log
# durability (fsync before every acknowledgement; DURABILITY=none to leave it out); pgpool
# keeps no log.
#
# Needs PostgreSQL server binaries and pgbench (postgresql-contrib), pgpool-II (Debian
# pgpool2), sysbench and MariaDB server binaries, perf for MODE=perf (linux-perf); run as
# root, missing pgpool2 / sysbench / linux-perf are installed with apt-get (INSTALL=0: only
# say what is missing). Every server is a throwaway instance on a free loopback port (never
# 5432 or 3306) in a temporary directory (PostgreSQL with fsync=off, MariaDB with
# innodb_flush_log_at_trx_commit=0, the same for direct and mediated runs).
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
SECS=${SECS:-20}
TABLES=${TABLES:-4}
ROWS=${ROWS:-10000}
MODE=${MODE:-}
ONLY=${ONLY:-select extended tpcb oltp_rw}
PERF_OUT=${PERF_OUT:-/tmp/mdbd-proxy-perf.data}
PERF_WORKLOAD=${PERF_WORKLOAD:-select}
want() { [[ " ${ONLY//,/ } " == *" $1 "* ]]; }
want_pg() { want select || want extended || want tpcb; }

missing=()
if want_pg && ! command -v pgpool >/dev/null; then missing+=(pgpool2); fi
if want oltp_rw && ! command -v sysbench >/dev/null; then missing+=(sysbench); fi
if [ "$MODE" = perf ] && ! command -v perf >/dev/null; then missing+=(linux-perf); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && [ "${INSTALL:-1}" != 0 ]; then
    echo "installing ${missing[*]} (apt-get)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing: apt install ${missing[*]}" >&2; exit 1
  fi
fi

# shellcheck source=benches/lib.sh
source benches/lib.sh
HZ=$(getconf CLK_TCK)

# shellcheck disable=SC2317 # run by the EXIT trap
stop_pgpool() { # fast shutdown (SIGINT), so that no pgpool child outlives the backends
  [ -n "${pgpool_pid:-}" ] || return 0
  kill -INT "$pgpool_pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pgpool_pid" 2>/dev/null || return 0; sleep 0.1; done
}
trap 'stop_pgpool; cleanup' EXIT

declare -A tps cpu
notes=()
status=0
# run setup workload mediator-pid|- tool command... : runs one benchmark, records its tps and
# (with a mediator) the mediator's CPU microseconds per transaction.
run() {
  local setup=$1 w=$2 pid=$3 tool=$4; shift 4
  local out=$root/$setup.$w.out before=0 procs="" rc=0 used=0 txns t exited perf_pid=""
  if [ "$pid" != - ]; then procs=$(proc_tree "$pid" | sort); before=$(cpu_ticks "$pid"); fi
  if [ "$MODE" = perf ] && [ "$setup" = mdbd ] && [ "$w" = "$PERF_WORKLOAD" ]; then
    perf record -q -g -e "$perf_event" -o "$PERF_OUT" -p "$pid" -- sleep "$SECS" >"$root/perf.log" 2>&1 &
    perf_pid=$!
    pids+=("$perf_pid")
  fi
  if [ "$MODE" = strace ] && [ "$setup" = mdbd ] && [ "$w" = "$PERF_WORKLOAD" ]; then
    timeout -s INT "$SECS" strace -c -f -o "$root/strace.txt" -p "$pid" 2>/dev/null &
    perf_pid=$!
    pids+=("$perf_pid")
  fi
  "$@" >"$out" 2>&1 || rc=$?
  if [ "$pid" != - ]; then
    used=$(($(cpu_ticks "$pid") - before))
    exited=$(comm -23 <(echo "$procs") <(proc_tree "$pid" | sort) | wc -l)
    [ "$exited" = 0 ] || notes+=("$setup $w: $exited of the $setup processes exited during the run (counted through their parent's cutime/cstime)")
  fi
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || [ "$MODE" = strace ] || notes+=("perf record failed: $(tail -3 "$root/perf.log")")
  fi
  if [ "$tool" = pgbench ]; then
    t=$(awk '/^tps = / {print $3; exit}' "$out")
    txns=$(awk -F': *' '/^number of transactions actually processed:/ {split($2, a, "/"); print a[1]; exit}' "$out")
    if grep -q "number of failed transactions: [1-9]" "$out"; then
      notes+=("$setup $w: $(grep 'number of failed transactions' "$out")"); status=1
    fi
  else
    t=$(awk '/transactions:/ {gsub(/[(]/, "", $3); print $3; exit}' "$out")
    txns=$(awk '/transactions:/ {print $2; exit}' "$out")
    if ! grep -q "ignored errors: *0 " "$out"; then notes+=("$setup $w: sysbench $(grep 'ignored errors' "$out" | tr -s ' ' | sed 's/^ //')"); fi
  fi
  if [ "$rc" != 0 ] || [ -z "$t" ] || [ -z "$txns" ] || [ "$txns" = 0 ]; then
    echo "$setup $w failed (exit $rc):" >&2; tail -15 "$out" >&2
    notes+=("$setup $w: $tool failed (exit $rc)"); status=1
    [ -n "$t" ] || t=ERR
  fi
  tps[$setup-$w]=$t
  if [ "$MODE" = strace ] && [ "$setup" = mdbd ] && [ "$w" = "$PERF_WORKLOAD" ]; then strace_txns=${txns:-0}; fi
  if [ "$pid" != - ] && [ -n "$txns" ] && [ "$txns" != 0 ]; then
    cpu[$setup-$w]=$(awk -v u="$used" -v hz="$HZ" -v n="$txns" 'BEGIN {printf "%.1f", u * 1e6 / hz / n}')
  fi
  printf '  %-7s %-9s %10s tps  %8s txns  mediator CPU %s us/txn\n' "$setup" "$w" "$t" "${txns:-?}" "${cpu[$setup-$w]:--}"
}

# shellcheck disable=SC2317 # run through run()
pgb() { # port pgbench-args...
  local port=$1; shift
  "$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -c "$CLIENTS" -j "$JOBS" -T "$SECS" -n "$@" postgres
}

perf_event=${PERF_EVENT:-cpu-clock}
if [ "$MODE" = perf ] && [ -z "${PERF_EVENT:-}" ] && perf stat -x, -e cycles -- true 2>&1 | grep -q '^[0-9]'; then
  perf_event=cycles
fi

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); pgbench scale $SCALE, -c $CLIENTS -j $JOBS -T $SECS; sysbench $CLIENTS threads, $TABLES tables x $ROWS rows; mdbd log durability ${DURABILITY:-fsync}"
if want_pg; then pgpool --version 2>&1 | head -1; fi

if want_pg; then
  direct=$(start_pg direct)
  three=("$(start_pg a)" "$(start_pg b)" "$(start_pg c)")
  pgp=$(free_port); start_mdbd mdbd-pg postgres "${CONSISTENCY:-}" "$pgp" "${three[@]}"; mdbd_pg=$mdbd_pid
  for port in "$direct" "$pgp"; do # through mdbd: all three backends get the same data
    "$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -i -q -s "$SCALE" postgres >"$root/init.$port" 2>&1 ||
      { cat "$root/init.$port" >&2; echo "pgbench -i failed on port $port" >&2; exit 1; }
  done
  poolp=$(free_port); start_pgpool "$poolp" $((CLIENTS > 32 ? CLIENTS : 32)) "${three[@]}"
  echo "pgpool nodes: $(psql -h 127.0.0.1 -p "$poolp" -U postgres -Atc 'SHOW pool_nodes' postgres | awk -F'|' '{printf "%s:%s %s; ", $2, $3, $4}')"
  for w in select extended tpcb; do
    want "$w" || continue
    case $w in select) args=(-S) ;; extended) args=(-S -M extended) ;; tpcb) args=() ;; esac
    run direct "$w" - pgbench pgb "$direct" "${args[@]}"
    run pgpool "$w" "$pgpool_pid" pgbench pgb "$poolp" "${args[@]}"
    run mdbd "$w" "$mdbd_pg" pgbench pgb "$pgp" "${args[@]}"
  done
fi

if want oltp_rw; then
  mdirect=$(start_mariadb mdirect)
  ma=$(start_mariadb ma); mb=$(start_mariadb mb); mc=$(start_mariadb mc)
  myp=$(free_port); start_mdbd mdbd-my mysql "" "$myp" "$ma" "$mb" "$mc"; mdbd_my=$mdbd_pid
  sb() { # port user password command
    sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" \
      --mysql-user="$2" --mysql-password="$3" --mysql-db=sbtest --tables="$TABLES" \
      --table-size="$ROWS" --threads="$CLIENTS" --time="$SECS" --report-interval=0 "$4"
  }
  for setup in direct:$mdirect:root: mdbd:$myp:sbtest:sbtest; do
    IFS=: read -r name p user pass <<<"$setup"
    sb "$p" "$user" "$pass" prepare >"$root/$name.prepare" 2>&1 || { cat "$root/$name.prepare" >&2; exit 1; }
  done
  run direct oltp_rw - sysbench sb "$mdirect" root "" run
  run mdbd oltp_rw "$mdbd_my" sysbench sb "$myp" sbtest sbtest run
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-"}'; }
num() { awk -v a="$1" 'BEGIN {if (a ~ /^[0-9.]+$/) printf "%.0f", a; else printf "%s", a}'; }
printf '\n| workload | direct tps | pgpool tps | mdbd tps | mdbd/pgpool tps | pgpool us/txn | mdbd us/txn | mdbd/pgpool cpu |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for w in select extended tpcb oltp_rw; do
  want "$w" || continue
  case $w in
    select) label="pgbench -S" ;; extended) label="pgbench -S -M extended" ;;
    tpcb) label="pgbench TPC-B" ;; oltp_rw) label="sysbench oltp_read_write (MySQL)" ;;
  esac
  [ "$MODE" = perf ] && [ "$w" = "$PERF_WORKLOAD" ] && label="$label (mdbd under perf)"
  d=${tps[direct-$w]:--} p=${tps[pgpool-$w]:--} m=${tps[mdbd-$w]:--}
  pc=${cpu[pgpool-$w]:--} mc=${cpu[mdbd-$w]:--}
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(num "$d")" "$(num "$p")" "$(num "$m")" \
    "$(ratio "$m" "$p")" "$pc" "$mc" "$(ratio "$mc" "$pc")"
done
echo "(us/txn: the mediator's user+system CPU per transaction, from /proc/PID/stat at $HZ ticks/s; pgpool: all its processes)"
for n in "${notes[@]}"; do echo "note: $n"; done

if want tpcb; then # both mediators must have kept the three backends identical
  q="SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT count(*) FROM pgbench_history)"
  sums=()
  for bp in "${three[@]}"; do sums+=("$(psql -h 127.0.0.1 -p "$bp" -U postgres -At -c "$q" postgres)"); done
  if [ "${sums[0]}" = "${sums[1]}" ] && [ "${sums[1]}" = "${sums[2]}" ]; then
    echo "backends identical after TPC-B (sum abalance|bbalance|tbalance|count history = ${sums[0]})"
  else
    echo "backends DIFFER after TPC-B: ${sums[*]}"; status=1
  fi
fi

if [ "$MODE" = strace ] && [ -f "$root/strace.txt" ]; then
  echo
  echo "system calls of mdbd (all threads, strace -c -f) during $PERF_WORKLOAD, per transaction (${strace_txns:-0} transactions, slowed by strace):"
  awk -v n="${strace_txns:-0}" '$1 ~ /^[0-9.]+$/ && NF >= 5 && n > 0 { printf "  %-18s %8.2f per txn\n", $NF, $4 / n }' "$root/strace.txt" | sort -k2 -nr | head -15
fi

if [ "$MODE" = perf ] && [ -f "$PERF_OUT" ]; then
  echo
  echo "perf ($perf_event) of mdbd during $PERF_WORKLOAD, top entries (perf report -i $PERF_OUT --no-children for call graphs):"
  report() { perf report -i "$PERF_OUT" --stdio --no-children -g none "$@" 2>/dev/null | grep -v '^#' | sed '/^$/d'; }
  report --percent-limit 1 | head -25
  echo "by object:"
  report --sort dso --percent-limit 0.5 | head -6
  echo "mdbd's own code, top symbols:"
  report --dsos mdbd --sort sym | head -12
fi
exit $status
