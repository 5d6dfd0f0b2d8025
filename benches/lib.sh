# What the benchmark scripts share: the PostgreSQL binaries, a release mdbd, a temporary
# root removed on exit (servers stopped), free loopback ports (never 5432), throwaway
# PostgreSQL servers with fsync=off. Sourced from the repository root.

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PGBENCH=${PGBENCH:-$PGBIN/pgbench}
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)

# MDBD=/path/to/mdbd runs that binary instead (an older build, for a before/after).
if [ -z "${MDBD:-}" ]; then
  cargo build --release -q -p mdbd
  MDBD=$PWD/target/release/mdbd
fi

root=$(mktemp -d /tmp/mdbd-pgbench.XXXXXX)
chmod 755 "$root"
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Servers started inside $(...) are not in pids: stop them by their pid files.
  for f in "$root"/*/mysqld.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  for f in "$root"/*/mysqld.pid; do
    for _ in $(seq 100); do [ -f "$f" ] && kill -0 "$(cat "$f" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
  done
  for d in "$root"/*/; do [ -f "$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true; done
  rm -rf "$root"
}
trap cleanup EXIT

free_port() {
  while :; do
    local p=$((20000 + RANDOM % 40000))
    [ "$p" = 5432 ] && continue
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
}

start_pg() { # name -> port (PG_OPTS: more server options, e.g. "-c max_connections=100")
  local dir=$root/$1 port
  port=$(free_port)
  mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_pg "$PGBIN/initdb" -D "$dir" --no-sync -A trust -U postgres >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 ${PG_OPTS:-}" start >/dev/null
  echo "$port"
}


start_mariadb() { # name -> port (a throwaway MariaDB with an empty database sbtest)
  local dir=$root/$1 port
  port=$(free_port)
  [ "$port" = 3306 ] && port=$(free_port)
  mkdir -p "$dir/tmp"
  mariadb-install-db --no-defaults --user="$(id -un)" --auth-root-authentication-method=normal \
    --skip-test-db --datadir="$dir/data" >"$dir/install.log" 2>&1
  "$(command -v mariadbd || echo /usr/sbin/mariadbd)" --no-defaults --user="$(id -un)" \
    --datadir="$dir/data" --socket="$dir/mysqld.sock" --port="$port" --bind-address=127.0.0.1 \
    --tmpdir="$dir/tmp" --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
    --max-connections=300 --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --pid-file="$dir/mysqld.pid" >"$dir/server.log" 2>&1 &
  for _ in $(seq 100); do
    mariadb --no-defaults -h 127.0.0.1 -P "$port" -u root -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb --no-defaults -h 127.0.0.1 -P "$port" -u root -e "CREATE DATABASE sbtest" >&2
  echo "$port"
}
