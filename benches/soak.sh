#!/usr/bin/env bash
# Soak: availability under faults. Many clients through mdbd over three PostgreSQL servers
# for a long run while the servers are frozen one at a time; afterwards every acknowledged
# write must be there exactly once and the three servers identical. Not part of CI.
#
#   bash benches/soak.sh                            # 600 s, 500 clients, 20 s freezes
#   SECS=600 CLIENTS=500 STOP_SECS=20 FAULT_EVERY=60 IDLE_HOLDER=1 bash benches/soak.sh
#   SECS=40 CLIENTS=50 STOP_SECS=5 bash benches/soak.sh   # smoke run (faults every 10 s)
#
# 1. Three throwaway PostgreSQL 15 servers a, b, c (fsync=off as in the test kit,
#    max_connections=100) and `mdbd run` over them (release build, log durability fsync).
# 2. The load driver (benches/src/bin/soak.rs): CLIENTS clients, 70 % reads / 30 % single-row
#    INSERTs with 20-200 ms think time, reconnecting when a connection breaks; with
#    IDLE_HOLDER=1 (default) one more client opens a write transaction and idles in it
#    until the daemon ends it (mdbd's idle_in_transaction_timeout, 30 s by default;
#    IDLE_TIMEOUT=10s sets it), then again after IDLE_PAUSE seconds (default 0). Under the
#    serial write turn every write waits while it holds, so with the defaults writes are
#    stalled most of the run: IDLE_PAUSE=60 leaves room to see the freezes' own effect.
# 3. Faults: every FAULT_EVERY seconds (default 60; SECS/4 for runs under 240 s so short runs
#    still see three), the next server's postmaster (a, b, c, a, ...) gets SIGSTOP for
#    STOP_SECS seconds, then SIGCONT; then every backend `mdbd status` shows detached is
#    re-joined with `mdbd join`. STOP_TREE=1 freezes the server's every process (postmaster
#    and the backends serving mdbd's open connections), not only the postmaster.
# 4. Reports mdbd's RSS at start and end (and peak, VmHWM), the driver's summary, whether
#    a, b and c are identical (count and sum of hashtext(writer:seq) on each directly),
#    and a markdown row for benches/README.md.
#
# EXTRA_CONF: TOML appended to the end of mdbd's config (start it with its own [table]).
# LOG_DIR: when set, mdbd's log, the fault log and the driver's output are copied there.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-600}
CLIENTS=${CLIENTS:-500}
STOP_SECS=${STOP_SECS:-20}
if [ -z "${FAULT_EVERY:-}" ]; then
  if [ "$SECS" -ge 240 ]; then FAULT_EVERY=60; else FAULT_EVERY=$((SECS / 4)); fi
fi
[ "$FAULT_EVERY" -gt "$STOP_SECS" ] || { echo "FAULT_EVERY ($FAULT_EVERY) must exceed STOP_SECS ($STOP_SECS)" >&2; exit 1; }
IDLE_HOLDER=${IDLE_HOLDER:-1}
IDLE_PAUSE=${IDLE_PAUSE:-0}
STOP_TREE=${STOP_TREE:-0}
JOIN_TIMEOUT=${JOIN_TIMEOUT:-300}
PG_OPTS="-c max_connections=100"
source benches/lib.sh
cargo build --release -q -p benches --bin soak
SOAK=$PWD/target/release/soak

psql_at() { "$PGBIN/psql" -X -h 127.0.0.1 -p "$1" -U postgres -At -c "$2" postgres; }
now() { date +%s.%N; }
rss_mb() { awk -v k="$2:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
postmaster() { head -1 "$root/$1/postmaster.pid"; }
# The server's processes: the postmaster, and with STOP_TREE=1 its children too.
server_pids() {
  local pm
  pm=$(postmaster "$1")
  echo "$pm"
  if [ "$STOP_TREE" = 1 ]; then ps -o pid= --ppid "$pm" || true; fi
}

# Stopped servers must be resumed before lib.sh's cleanup stops them (a stopped postmaster
# would not act on pg_ctl's signal).
fault_pid=""
soak_pid=""
soak_cleanup() {
  if [ -n "$fault_pid" ]; then kill "$fault_pid" 2>/dev/null || true; wait "$fault_pid" 2>/dev/null || true; fi
  if [ -n "$soak_pid" ]; then kill "$soak_pid" 2>/dev/null || true; fi
  for n in a b c; do
    [ -f "$root/$n/postmaster.pid" ] || continue
    pm=$(postmaster "$n")
    kill -CONT "$pm" $(ps -o pid= --ppid "$pm" 2>/dev/null) 2>/dev/null || true
  done
  if [ -n "${LOG_DIR:-}" ]; then
    mkdir -p "$LOG_DIR"
    cp "$root"/mdbd.log "$root"/faults.log "$root"/soak.out "$root"/mdbd.toml "$LOG_DIR"/ 2>/dev/null || true
  fi
  cleanup
}
trap soak_cleanup EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $CLIENTS clients, $SECS s; SIGSTOP for $STOP_SECS s every $FAULT_EVERY s (tree: $STOP_TREE); idle holder: $IDLE_HOLDER"
a=$(start_pg a); b=$(start_pg b); c=$(start_pg c)
echo "PostgreSQL $(psql_at "$a" "SHOW server_version"), max_connections $(psql_at "$a" "SHOW max_connections"): a :$a, b :$b, c :$c"

port=$(free_port); admin=$(free_port)
conf=$root/mdbd.toml
cat >"$conf" <<CONF
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"
data_dir = "$root/mdbd-data"
${IDLE_TIMEOUT:+idle_in_transaction_timeout = \"$IDLE_TIMEOUT\"}

[log]
durability = "fsync"

[[user]]
name = "postgres"
auth = "trust"
CONF
for n in a b c; do
  printf '\n[[backend]]\nname = "%s"\nkind = "postgres"\nconninfo = "host=127.0.0.1 port=%s user=postgres dbname=postgres"\n' "$n" "${!n}" >>"$conf"
done
[ -n "${EXTRA_CONF:-}" ] && printf '\n%s\n' "$EXTRA_CONF" >>"$conf"
"$MDBD" check-config "$conf" >/dev/null

RUST_LOG=${RUST_LOG:-warn} "$MDBD" run --config "$conf" 2>"$root/mdbd.log" &
mdbd_pid=$!
pids+=("$mdbd_pid")
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
(echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "mdbd did not start:" >&2; cat "$root/mdbd.log" >&2; exit 1; }
rss_start=$(rss_mb "$mdbd_pid" VmRSS)
echo "mdbd pid $mdbd_pid on :$port (admin :$admin): RSS at start $rss_start MB"

t0=$(now)
log() { printf '[t=%6.1fs] %s\n' "$(awk -v a="$t0" -v b="$(now)" 'BEGIN {print b - a}')" "$*" | tee -a "$root/faults.log" >&2; }

rejoin() { # joins every backend `mdbd status` shows detached; prints how many it found
  local st line name state out found=0
  if ! st=$(timeout 30 "$MDBD" status --config "$conf" 2>&1); then
    log "mdbd status failed: $st"
    echo 0
    return
  fi
  while read -r line; do
    read -r name state _ <<<"$line"
    [ "$state" = detached ] || continue
    found=$((found + 1))
    log "status: $line"
    log "mdbd join $name"
    if out=$(timeout "$JOIN_TIMEOUT" "$MDBD" join "$name" --config "$conf" 2>&1 </dev/null); then
      log "${out##*$'\n'}"
    else
      log "join $name failed: $(tail -3 <<<"$out" | tr '\n' ' ')"
    fi
  done < <(awk '$1 ~ /^(a|b|c)$/' <<<"$st")
  echo "$found"
}

fault_loop() {
  local sp="" k=0 at left n ps names=(a b c)
  trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0' TERM
  nap() { sleep "$1" & sp=$!; wait "$sp"; sp=""; }
  while :; do
    k=$((k + 1))
    at=$((k * FAULT_EVERY))
    [ $((at + STOP_SECS)) -lt "$SECS" ] || break
    left=$(awk -v a="$t0" -v b="$(now)" -v at="$at" 'BEGIN {d = a + at - b; print (d > 0 ? d : 0)}')
    nap "$left"
    n=${names[$(((k - 1) % 3))]}
    ps=$(server_pids "$n" | tr '\n' ' ')
    # shellcheck disable=SC2086
    kill -STOP $ps 2>/dev/null || true
    log "SIGSTOP $n (postmaster ${ps%% *}$([ "$STOP_TREE" = 1 ] && echo " and its $(($(wc -w <<<"$ps") - 1)) children")) for $STOP_SECS s"
    nap "$STOP_SECS"
    # shellcheck disable=SC2086
    kill -CONT $ps 2>/dev/null || true
    log "SIGCONT $n"
    rejoin >/dev/null
  done
}
fault_loop &
fault_pid=$!

args=(--port "$port" --clients "$CLIENTS" --secs "$SECS")
[ "$IDLE_HOLDER" = 1 ] && args+=(--idle-holder --idle-pause "$IDLE_PAUSE")
"$SOAK" "${args[@]}" >"$root/soak.out" &
soak_pid=$!
set +e
wait "$soak_pid"
soak_rc=$?
set -e
soak_pid=""
kill "$fault_pid" 2>/dev/null || true
wait "$fault_pid" 2>/dev/null || true
fault_pid=""

rss_end=$(rss_mb "$mdbd_pid" VmRSS 2>/dev/null || echo '?')
rss_peak=$(rss_mb "$mdbd_pid" VmHWM 2>/dev/null || echo '?')
kill -0 "$mdbd_pid" 2>/dev/null && mdbd_alive=yes || mdbd_alive=NO
echo
echo "== driver summary (exit status $soak_rc)"
cat "$root/soak.out"
echo
echo "== mdbd"
echo "alive at the end: $mdbd_alive; RSS at start $rss_start MB, at end $rss_end MB, peak $rss_peak MB"
echo "log: $(grep -c 'WARN' "$root/mdbd.log" || true) WARN, $(grep -c 'ERROR' "$root/mdbd.log" || true) ERROR lines; last lines:"
tail -5 "$root/mdbd.log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-300 | sed 's/^/  /'
echo
echo "== faults"
cat "$root/faults.log"

# Re-join what is still detached, then wait (up to 120 s) until all three are active.
all_active=no
for _ in $(seq 120); do
  if st=$(timeout 30 "$MDBD" status --config "$conf" 2>/dev/null) &&
    [ "$(awk '$1 ~ /^(a|b|c)$/ && $2 == "active"' <<<"$st" | wc -l)" = 3 ]; then
    all_active=yes
    break
  fi
  [ "$(rejoin)" = 0 ] && sleep 1
done
echo
echo "== mdbd status at the end (all active: $all_active)"
timeout 30 "$MDBD" status --config "$conf" 2>&1 | sed 's/^/  /' || true

q="SELECT count(*), sum(hashtext(writer::text || ':' || seq::text)) FROM soak"
first="" identical=yes
for n in a b c; do
  got=$(psql_at "${!n}" "$q" 2>&1) || got="error: $got"
  echo "backend $n: count|sum(hashtext) = $got"
  [ -z "$first" ] && first=$got
  [ "$got" = "$first" ] || identical=no
done
echo "backends identical: $identical"

sv() { awk -F': ' -v k="$1" '$1 == k {print $2; exit}' "$root/soak.out"; }
echo
echo "== row for benches/README.md"
echo "| date | run | acknowledged writes | missing / duplicates | longest write stall | client errors | reconnects | idle holder ended | mdbd RSS start / end / peak | backends identical |"
echo "|---|---|---:|---|---:|---|---:|---|---|---|"
printf '| %s | %s clients, %s s, SIGSTOP %s s every %s s%s | %s | %s / %s | %s ms | %s | %s | %s | %s / %s / %s MB | %s |\n' \
  "$(date +%F)" "$CLIENTS" "$SECS" "$STOP_SECS" "$FAULT_EVERY" "$([ "$STOP_TREE" = 1 ] && echo ' (whole server)')" \
  "$(sv acknowledged_writes)" "$(sv missing)" "$(sv duplicates)" "$(sv longest_write_stall_ms)" \
  "$(sv errors_by_sqlstate)" "$(sv reconnects)" \
  "$([ "$IDLE_HOLDER" = 1 ] && echo "$(sv idle_holder_sessions_ended) of $(sv idle_holder_transactions)" || echo -)" \
  "$rss_start" "$rss_end" "$rss_peak" "$identical"

[ "$soak_rc" = 0 ] && [ "$identical" = yes ] && [ "$mdbd_alive" = yes ]
