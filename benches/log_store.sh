#!/usr/bin/env bash
# pgbench TPC-B through mdbd over three PostgreSQL servers with the delta log on each
# store, one after the other: sled (embedded), NATS JetStream with one replica (one
# nats-server) and with three (a 3-node NATS cluster on loopback). Prints tps, failed
# transactions, mdbd's and the NATS servers' CPU per transaction, and checks the three
# backends identical after each run. (#14)
#
#   bash benches/log_store.sh                  # scale 10, 8 clients, 20 s per run
#   SCALE=10 CLIENTS=8 JOBS=2 SECS=20 STORES="sled jetstream_r1 jetstream_r3" bash benches/log_store.sh
#
# Needs PostgreSQL server binaries, pgbench and nats-server (Debian package nats-server).
# Each store gets three fresh throwaway PostgreSQL servers (fsync=off, as everywhere in
# these scripts) and, for JetStream, fresh NATS nodes; mdbd logs with durability fsync.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
SECS=${SECS:-20}
STORES=${STORES:-sled jetstream_r1 jetstream_r3}
command -v nats-server >/dev/null || { echo "missing: apt install nats-server" >&2; exit 1; }
# shellcheck source=benches/lib.sh
source benches/lib.sh
HZ=$(getconf CLK_TCK)

echo "machine: $(nproc) cores; pgbench TPC-B scale $SCALE, -c $CLIENTS -j $JOBS -T $SECS; mdbd log durability fsync; $(nats-server --version)"
printf '%-13s %8s %7s %14s %14s  %s\n' store tps failed "mdbd us/txn" "nats us/txn" "backends after"
status=0
for store in $STORES; do
  three=("$(start_pg "a-$store")" "$(start_pg "b-$store")" "$(start_pg "c-$store")")
  nats_pids=()
  case $store in
    sled) LOG_EXTRA="" ;;
    jetstream_r1 | jetstream_r3)
      n=${store#jetstream_r}
      first=${#pids[@]}
      start_nats "nats-$store" "$n"
      nats_pids=("${pids[@]:$first}")
      LOG_EXTRA=$(printf 'store = "jetstream"\n\n[log.jetstream]\nservers = %s\nname = "bench"\nreplicas = %s\n' "$nats_urls" "$n")
      ;;
    *) echo "unknown store $store" >&2; exit 1 ;;
  esac
  export LOG_EXTRA
  port=$(free_port)
  start_mdbd "mdbd-$store" postgres "" "$port" "${three[@]}"
  "$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -i -q -s "$SCALE" postgres >"$root/init.$store" 2>&1 ||
    { cat "$root/init.$store" >&2; echo "pgbench -i through mdbd on $store failed" >&2; exit 1; }
  nats_before=0
  for p in "${nats_pids[@]}"; do nats_before=$((nats_before + $(cpu_ticks "$p"))); done
  before=$(cpu_ticks "$mdbd_pid")
  out=$root/tpcb.$store
  "$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -c "$CLIENTS" -j "$JOBS" -T "$SECS" -n postgres >"$out" 2>&1 || status=1
  used=$(($(cpu_ticks "$mdbd_pid") - before))
  nats_used=0
  for p in "${nats_pids[@]}"; do nats_used=$((nats_used + $(cpu_ticks "$p"))); done
  nats_used=$((nats_used - nats_before))
  t=$(awk '/^tps = / {print $3; exit}' "$out")
  txns=$(awk -F': *' '/^number of transactions actually processed:/ {split($2, a, "/"); print a[1]; exit}' "$out")
  failed=$(awk -F': *' '/^number of failed transactions:/ {split($2, a, " "); print a[1]; exit}' "$out")
  if [ -z "$t" ] || [ -z "$txns" ] || [ "$txns" = 0 ]; then
    echo "$store: pgbench failed:" >&2; tail -15 "$out" >&2; status=1; continue
  fi
  [ "${failed:-0}" = 0 ] || status=1
  q="SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT count(*) FROM pgbench_history)"
  sums=()
  for bp in "${three[@]}"; do sums+=("$(psql -X -h 127.0.0.1 -p "$bp" -U postgres -Atc "$q" postgres)"); done
  if [ "${sums[0]}" = "${sums[1]}" ] && [ "${sums[1]}" = "${sums[2]}" ]; then same="identical"; else same="DIFFER: ${sums[*]}"; status=1; fi
  mdbd_us=$(awk -v u="$used" -v hz="$HZ" -v n="$txns" 'BEGIN {printf "%.1f", u * 1e6 / hz / n}')
  nats_us=$(awk -v u="$nats_used" -v hz="$HZ" -v n="$txns" 'BEGIN {printf "%.1f", u * 1e6 / hz / n}')
  [ "$store" = sled ] && nats_us=-
  printf '%-13s %8s %7s %14s %14s  %s\n' "$store" "$t" "${failed:-0}" "$mdbd_us" "$nats_us" "$same"
  kill "$mdbd_pid" 2>/dev/null || true
  wait "$mdbd_pid" 2>/dev/null || true
  for p in "${nats_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for b in a b c; do as_pg "$PGBIN/pg_ctl" -D "$root/$b-$store" -m fast stop >/dev/null 2>&1 || true; done
done
echo "(us/txn: user+system CPU per TPC-B transaction from /proc/PID/stat at $HZ ticks/s; nats: all its nodes)"
exit "$status"
