#!/usr/bin/env bash
# Online join of a PostgreSQL backend holding about 1 GB while pgbench runs through mdbd.
#
#   bash benches/join.sh                       # scale 70 (~1.05 GB of tables), 8 clients
#   SCALE=70 CLIENTS=8 JOBS=2 PRE=20 POST=20 REJOINS=20 MODE=online bash benches/join.sh
#   CONSISTENCY=keyed SCALE=10 bash benches/join.sh   # mdbd in `keyed` ordering (#13)
#
# 1. Three throwaway PostgreSQL servers a, b, c (fsync=off, as in the test kit); a and b
#    get the same `pgbench -i -s SCALE` directly; mdbd serves a and b.
# 2. Baseline: `pg_dump -Fc -Z0 | pg_restore` of that database from a into a fresh
#    database on c, timed, then dropped: once without load, once while pgbench runs (the
#    join's conditions).
# 3. pgbench TPC-B through mdbd for the whole run (-P 1); PRE seconds after the loaded
#    baseline, c is added to
#    the config, `mdbd reload`, `mdbd join c`; POST seconds after it finishes, c is
#    detached and re-joined REJOINS times (delta-only rejoins: each ends in a switch-over),
#    so the switch-over pause has a distribution.
# 4. Reports: join wall time, snapshot MB/s vs the raw pipe, switch-over pauses p50 / p99
#    / max, pgbench TPS before / during / after the join, failed transactions and aborted
#    clients; then checks a, b and c hold the same data.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-70}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
PRE=${PRE:-20}
POST=${POST:-20}
REJOINS=${REJOINS:-20}
MODE=${MODE:-online}
CONSISTENCY=${CONSISTENCY:-serial}
source benches/lib.sh

psql_at() { "$PGBIN/psql" -X -h 127.0.0.1 -p "$1" -U postgres -At -c "$2" "${3:-postgres}"; }
now() { date +%s.%N; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); scale $SCALE, -c $CLIENTS -j $JOBS, mode $MODE, consistency $CONSISTENCY"
a=$(start_pg a); b=$(start_pg b); c=$(start_pg c)
for p in "$a" "$b"; do
  "$PGBENCH" -h 127.0.0.1 -p "$p" -U postgres -i -q -s "$SCALE" postgres >/dev/null 2>&1 &
done
wait
size=$(psql_at "$a" "SELECT pg_database_size('postgres')")
echo "database: $((size / 1048576)) MB (pg_database_size)"

raw_pipe() { # label -> sets raw_bytes, raw_secs
  psql_at "$c" "CREATE DATABASE raw" >/dev/null
  local t0 t1
  t0=$(now)
  "$PGBIN/pg_dump" -h 127.0.0.1 -p "$a" -U postgres -Fc -Z0 postgres \
    | tee >(wc -c >"$root/raw.bytes") \
    | "$PGBIN/pg_restore" -h 127.0.0.1 -p "$c" -U postgres --single-transaction --exit-on-error --no-owner -d raw
  t1=$(now)
  sleep 0.2
  raw_bytes=$(cat "$root/raw.bytes")
  raw_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
  psql_at "$c" "DROP DATABASE raw" >/dev/null
  echo "raw pg_dump | pg_restore ($1): $((raw_bytes / 1048576)) MB in ${raw_secs} s"
}
raw_pipe "no load"
idle_bytes=$raw_bytes idle_secs=$raw_secs

port=$(free_port); admin=$(free_port)
conf=$root/mdbd.toml
write_conf() { # backends...
  cat >"$conf" <<CONF
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"
data_dir = "$root/mdbd-data"
consistency = "$CONSISTENCY"

[join]
donor_mode = "$MODE"

[[user]]
name = "postgres"
auth = "trust"
CONF
  for n in "$@"; do
    local bp=${!n}
    printf '\n[[backend]]\nname = "%s"\nkind = "postgres"\nconninfo = "host=127.0.0.1 port=%s user=postgres dbname=postgres"\n' "$n" "$bp" >>"$conf"
  done
}
write_conf a b
RUST_LOG=${RUST_LOG:-warn} "$MDBD" run --config "$conf" 2>"$root/mdbd.log" &
pids+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

api() { python3 -c 'import json,sys,urllib.request as u; r=u.Request("http://127.0.0.1:'"$admin"'"+sys.argv[2], method=sys.argv[1]); print(json.dumps(json.load(u.urlopen(r))))' "$@"; }

# The whole run under pgbench; its per-second progress goes to a file.
total=$((PRE + 3600))
bench_start=$(now)
"$PGBENCH" -h 127.0.0.1 -p "$port" -U postgres -c "$CLIENTS" -j "$JOBS" -T "$total" -n -P 1 postgres \
  >"$root/pgbench.out" 2>"$root/pgbench.progress" &
bench=$!
sleep 5
# The same pipe while pgbench runs through mdbd over a and b: the join's conditions.
raw_pipe "under the same pgbench load"
before_start=$(now)
sleep "$PRE"

write_conf a b c
"$MDBD" reload --config "$conf"
join_start=$(now)
"$MDBD" join c --config "$conf" --mode "$MODE"
join_end=$(now)
sleep "$POST"
post_end=$(now)
for i in $(seq "$REJOINS"); do
  "$MDBD" detach c --config "$conf" >/dev/null
  sleep 0.5
  "$MDBD" join c --config "$conf" >/dev/null
done
kill -TERM "$bench" 2>/dev/null || true
wait "$bench" 2>/dev/null || true
# KEEP_LOG=FILE keeps mdbd's log (RUST_LOG=info has each switch-over's breakdown).
[ -n "${KEEP_LOG:-}" ] && cp "$root/mdbd.log" "$KEEP_LOG"

api GET /v1/joins >"$root/joins.json"
python3 - "$root/joins.json" "$raw_bytes" "$raw_secs" "$root/pgbench.progress" \
  "$bench_start" "$join_start" "$join_end" "$post_end" "$idle_bytes" "$idle_secs" "$before_start" <<'PY'
import json, re, statistics, sys
joins = json.load(open(sys.argv[1]))["joins"]
raw_bytes, raw_secs = int(sys.argv[2]), float(sys.argv[3])
bench_start, join_start, join_end, post_end = map(float, sys.argv[5:9])
idle_bytes, idle_secs, before_start = int(sys.argv[9]), float(sys.argv[10]), float(sys.argv[11])
first = joins[0]
assert first["phase"] == "finished", first
snap = first["snapshot"]
mbps = snap["bytes"] / 1048576 / (snap["micros"] / 1e6)
raw_mbps = raw_bytes / 1048576 / raw_secs
idle_mbps = idle_bytes / 1048576 / idle_secs
print(f"join 1 ({first['mode']}): wall {(first['ended_micros'] - first['created_micros']) / 1e6:.1f} s; "
      f"snapshot {snap['bytes'] / 1048576:.0f} MB in {snap['micros'] / 1e6:.1f} s = {mbps:.1f} MB/s")
print(f"raw pipe under the same load {raw_mbps:.1f} MB/s: ratio {mbps / raw_mbps:.2f}; "
      f"raw pipe without load {idle_mbps:.1f} MB/s: ratio {mbps / idle_mbps:.2f}")
pauses = sorted(p / 1000 for j in joins if j["phase"] == "finished" for p in j["pauses_micros"])
def pct(q):
    return pauses[min(len(pauses) - 1, int(round(q * (len(pauses) - 1))))]
print(f"switch-over pauses over {len(pauses)} switch-overs ({sum(1 for j in joins if j['delta_only'])} delta-only rejoins): "
      f"p50 {pct(0.5):.2f} ms, p99 {pct(0.99):.2f} ms, max {pauses[-1]:.2f} ms")
aborted = [j for j in joins if j["phase"] != "finished"]
print(f"joins not finished: {len(aborted)}")
tps = {"before": [], "during": [], "after": []}
failed = 0
for line in open(sys.argv[4]):
    m = re.match(r"progress: ([\d.]+) s, ([\d.]+) tps.*?(?:(\d+) failed)?$", line.strip())
    if not m:
        continue
    t = bench_start + float(m.group(1))
    failed += int(m.group(3) or 0)
    k = None if t < before_start else "before" if t < join_start else "during" if t <= join_end else "after" if t <= post_end else None
    if k:
        tps[k].append(float(m.group(2)))
print("pgbench tps: " + ", ".join(f"{k} {statistics.mean(v):.0f}" if v else f"{k} -" for k, v in tps.items()))
print(f"failed transactions (progress lines): {failed}")
PY
errors=$(grep -c -i -E "aborted|error" "$root/pgbench.progress" || true)
echo "pgbench client errors/aborts: $errors"
grep -i -E "aborted|error" "$root/pgbench.progress" | head -5 || true

q="SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT count(*) FROM pgbench_history), (SELECT md5(string_agg(h::text, ',' ORDER BY h::text)) FROM pgbench_history h)"
first=""
for n in a b c; do
  got=$(psql_at "${!n}" "$q")
  echo "backend $n: $got"
  [ -z "$first" ] && first=$got
  [ "$got" = "$first" ] || { echo "backends differ" >&2; exit 1; }
done
echo "backends identical"
