#!/usr/bin/env bash
# pgbench directly against one PostgreSQL, and through mdbd over 1 and over 3 PostgreSQL
# backends, in one run: TPC-B (the default script) and -S (select only). Prints a table of
# TPS and the ratios to direct, then checks the 3 backends are identical after TPC-B.
#
#   bash benches/pgbench.sh                 # scale 10, 8 clients, 2 threads, 30 s per run
#   SCALE=10 CLIENTS=8 JOBS=2 SECS=30 bash benches/pgbench.sh
#
# Needs PostgreSQL server binaries and pgbench (postgresql-contrib); runs as root (servers
# run as the `postgres` user) or as a user that may run initdb. Every server is a
# throwaway instance on a free loopback port (never 5432) in a temporary directory, with
# fsync=off like the test kit (the same for direct and mdbd runs). mdbd keeps its default
# log durability (fsync before every acknowledgement); DURABILITY=none shows what the
# log's fsync costs.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
SECS=${SECS:-30}
source benches/lib.sh

start_mdbd() { # name port backend-ports... -> waits until it listens
  local name=$1 port=$2; shift 2
  local conf=$root/$name.toml admin
  admin=$(free_port)
  cat >"$conf" <<EOF
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"
data_dir = "$root/$name-data"

[log]
durability = "${DURABILITY:-fsync}"

[[user]]
name = "postgres"
auth = "trust"
EOF
  local i=0
  for bp in "$@"; do
    i=$((i + 1))
    printf '\n[[backend]]\nname = "pg%s"\nkind = "postgres"\nconninfo = "host=127.0.0.1 port=%s user=postgres dbname=postgres"\n' "$i" "$bp" >>"$conf"
  done
  RUST_LOG=warn "$MDBD" run --config "$conf" 2>"$root/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.1; done
  echo "mdbd $name did not start:" >&2; cat "$root/$name.log" >&2; exit 1
}

tps() { # port script-args... -> tps (fails on any failed transaction)
  local port=$1; shift
  local out
  out=$("$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -c "$CLIENTS" -j "$JOBS" -T "$SECS" -n "$@" postgres 2>&1) || { echo "$out" >&2; exit 1; }
  if grep -q "number of failed transactions: [1-9]" <<<"$out"; then echo "$out" >&2; exit 1; fi
  awk '/^tps = / {print $3; exit}' <<<"$out"
}

init() { "$PGBENCH" -h 127.0.0.1 -p "$1" -U postgres -i -q -s "$SCALE" postgres >/dev/null 2>&1 || { echo "pgbench -i failed on port $1" >&2; exit 1; }; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); scale $SCALE, -c $CLIENTS -j $JOBS -T $SECS"
direct=$(start_pg direct)
one=$(start_pg one)
three=("$(start_pg a)" "$(start_pg b)" "$(start_pg c)")
p1=$(free_port); start_mdbd m1 "$p1" "$one"
p3=$(free_port); start_mdbd m3 "$p3" "${three[@]}"

for port in "$direct" "$p1" "$p3"; do init "$port"; done

declare -A r
for setup in direct:$direct mdbd1:$p1 mdbd3:$p3; do
  name=${setup%%:*} port=${setup##*:}
  r[$name-tpcb]=$(tps "$port")
  if [ -n "${PERF:-}" ] && [ "$name" = mdbd3 ]; then
    # PERF=1: profile the daemon during the -S run (perf report -i $PERF_OUT).
    perf record -q -g -o "${PERF_OUT:-/tmp/mdbd-perf.data}" -p "${pids[1]}" -- sleep "$SECS" 2>/dev/null &
    perf_pid=$!
  fi
  r[$name-select]=$(tps "$port" -S)
  if [ -n "${perf_pid:-}" ]; then wait "$perf_pid"; perf_pid=""; fi
done

printf '\n%-22s %12s %12s\n' "setup" "TPC-B tps" "-S tps"
for name in direct mdbd1 mdbd3; do
  printf '%-22s %12s %12s\n' "$name" "${r[$name-tpcb]}" "${r[$name-select]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '\nratio to direct: mdbd over 1: TPC-B %s, -S %s; mdbd over 3: TPC-B %s, -S %s\n' \
  "$(ratio "${r[mdbd1-tpcb]}" "${r[direct-tpcb]}")" "$(ratio "${r[mdbd1-select]}" "${r[direct-select]}")" \
  "$(ratio "${r[mdbd3-tpcb]}" "${r[direct-tpcb]}")" "$(ratio "${r[mdbd3-select]}" "${r[direct-select]}")"

# The three backends must hold the same data.
q="SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT count(*) FROM pgbench_history), (SELECT md5(string_agg(h::text, ',' ORDER BY h::text)) FROM pgbench_history h)"
first=""
for bp in "${three[@]}"; do
  got=$(psql -h 127.0.0.1 -p "$bp" -U postgres -At -c "$q" postgres)
  echo "backend :$bp  sum(abalance)|sum(bbalance)|count(history)|md5(history) = $got"
  [ -z "$first" ] && first=$got
  [ "$got" = "$first" ] || { echo "backends differ" >&2; exit 1; }
done
echo "backends identical"
