#!/usr/bin/env bash
# Three throwaway MariaDB servers for examples/mysql.toml, on 127.0.0.1:3307-3309, each
# with an empty database `app`, under /tmp/mdbd-mariadb-demo.
#
#   bash examples/mariadb-demo.sh start
#   bash examples/mariadb-demo.sh stop      # stops them and removes their files
set -euo pipefail
root=/tmp/mdbd-mariadb-demo
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
user=$(id -un)

start() {
  mkdir -p "$root"
  for port in 3307 3308 3309; do
    dir=$root/$port
    if [ -S "$dir/mysqld.sock" ]; then echo "server on $port already running"; continue; fi
    mkdir -p "$dir/tmp"
    mariadb-install-db --no-defaults --user="$user" --auth-root-authentication-method=normal \
      --skip-test-db --datadir="$dir/data" >"$dir/install.log" 2>&1
    "$mariadbd" --no-defaults --user="$user" --datadir="$dir/data" --socket="$dir/mysqld.sock" \
      --port=$port --bind-address=127.0.0.1 --tmpdir="$dir/tmp" --skip-log-bin \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
      --pid-file="$dir/mysqld.pid" >"$dir/server.log" 2>&1 &
  done
  for port in 3307 3308 3309; do
    for _ in $(seq 100); do
      mariadb --no-defaults -h 127.0.0.1 -P $port -u root -e "SELECT 1" >/dev/null 2>&1 && break
      sleep 0.1
    done
    mariadb --no-defaults -h 127.0.0.1 -P $port -u root -e "CREATE DATABASE IF NOT EXISTS app"
    echo "MariaDB on 127.0.0.1:$port (database app)"
  done
}

stop() {
  for pid in "$root"/*/mysqld.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 1
  rm -rf "$root"
}

"${1:-start}"
