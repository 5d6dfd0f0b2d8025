#!/usr/bin/env bash
# sysbench oltp_read_write directly against one MariaDB, and through mdbd's MySQL front end
# over three MariaDB backends; prints TPS, errors and ratios, then checks the three
# backends hold identical tables (CHECKSUM TABLE) and row counts.
#
#   bash benches/sysbench.sh                    # 8 threads, 30 s, 4 tables of 10,000 rows
#   THREADS=8 SECS=30 TABLES=4 ROWS=10000 bash benches/sysbench.sh
#
# Needs sysbench (apt install sysbench) and MariaDB server binaries. Every server is a
# throwaway instance on a free loopback port (never 3306) in a temporary directory with
# innodb_flush_log_at_trx_commit=0, the same for the direct and the mdbd runs. mdbd keeps
# its default log durability (fsync before every acknowledgement).
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-8}
SECS=${SECS:-30}
TABLES=${TABLES:-4}
ROWS=${ROWS:-10000}
source benches/lib.sh
command -v sysbench >/dev/null || { echo "sysbench is not installed (apt install sysbench)" >&2; exit 1; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); oltp_read_write, $THREADS threads, $SECS s, $TABLES tables x $ROWS rows"
direct=$(start_mariadb direct)
a=$(start_mariadb a); b=$(start_mariadb b); c=$(start_mariadb c)

port=$(free_port); admin=$(free_port)
cat >"$root/mdbd.toml" <<CONF
[server]
admin_listen = "127.0.0.1:$admin"
data_dir = "$root/mdbd-data"

[log]
durability = "${DURABILITY:-fsync}"

[[listener]]
protocol = "mysql"
listen = "127.0.0.1:$port"

[[user]]
name = "sbtest"
auth = "mysql_native_password"
password = "sbtest"
CONF
for n in a b c; do
  printf '\n[[backend]]\nname = "%s"\nkind = "mysql"\nurl = "mysql://root@127.0.0.1:%s/sbtest"\n' "$n" "${!n}" >>"$root/mdbd.toml"
done
RUST_LOG=warn "$MDBD" run --config "$root/mdbd.toml" 2>"$root/mdbd.log" &
pids+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

sb() { # port user password command -> sysbench output
  sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" \
    --mysql-user="$2" --mysql-password="$3" --mysql-db=sbtest --tables="$TABLES" \
    --table-size="$ROWS" --threads="$THREADS" --time="$SECS" --report-interval=0 "$4"
}

declare -A tps errors
for setup in direct:$direct:root: mdbd:$port:sbtest:sbtest; do
  IFS=: read -r name p user pass <<<"$setup"
  sb "$p" "$user" "$pass" prepare >"$root/$name.prepare" 2>&1 || { cat "$root/$name.prepare" >&2; exit 1; }
  out=$(sb "$p" "$user" "$pass" run 2>&1) || { echo "$out" >&2; exit 1; }
  echo "$out" >"$root/$name.run"
  tps[$name]=$(awk '/transactions:/ {gsub(/[(]/, "", $3); print $3; exit}' <<<"$out")
  errors[$name]=$(awk '/ignored errors:/ {print $3; exit}' <<<"$out")
  echo "$name: $(grep -E 'transactions:|queries:|ignored errors:|reconnects:' <<<"$out" | tr -s ' ' | paste -sd ';')"
done

printf '\n| setup | TPS | ignored errors |\n|---|---:|---:|\n'
printf '| direct, one MariaDB | %s | %s |\n' "${tps[direct]}" "${errors[direct]}"
printf '| mdbd over 3 MariaDB (MySQL front end) | %s | %s |\n' "${tps[mdbd]}" "${errors[mdbd]}"
awk -v m="${tps[mdbd]}" -v d="${tps[direct]}" 'BEGIN {printf "ratio mdbd / direct: %.2f\n", m / d}'

sleep 1
status=0
for t in $(seq "$TABLES"); do
  sums=()
  for n in a b c; do
    sums+=("$(mariadb --no-defaults -h 127.0.0.1 -P "${!n}" -u root -N -B sbtest -e "CHECKSUM TABLE sbtest$t; SELECT count(*) FROM sbtest$t" | awk '{print $NF}' | paste -sd/)")
  done
  if [ "${sums[0]}" = "${sums[1]}" ] && [ "${sums[1]}" = "${sums[2]}" ]; then
    echo "sbtest$t: identical on a, b, c (checksum/rows ${sums[0]})"
  else
    echo "sbtest$t DIFFERS: ${sums[*]}"; status=1
  fi
done
[ "${errors[mdbd]}" = 0 ] || { echo "mdbd run had ${errors[mdbd]} errors"; status=1; }
exit $status
