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

# --- Mediators under measurement (benches/proxy_cpu.sh, benches/keyed_peers.sh,
# benches/log_store.sh); the caller sets MDBD (the binary), HZ=$(getconf CLK_TCK) for
# cpu_ticks, and may set CLIENT_THREADS, DURABILITY and LOG_EXTRA (more `[log]` lines, e.g.
# a store and its `[log.jetstream]` table) for mdbd.
proc_tree() { echo "$1"; local c; for c in $(pgrep -P "$1"); do proc_tree "$c"; done; }
cpu_ticks() { # pid -> utime+stime+cutime+cstime ticks of the process and its live descendants
  local p t sum=0
  for p in $(proc_tree "$1"); do
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || continue
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}

start_mdbd() { # name protocol consistency|"" port backend-ports... -> pid in $mdbd_pid, once it listens
  local name=$1 proto=$2 mode=$3 port=$4; shift 4
  local conf=$root/$name.toml i=0 bp
  rm -rf "$root/$name-data"
  cat >"$conf" <<EOF
[server]
admin_listen = "127.0.0.1:$(free_port)"
data_dir = "$root/$name-data"
$([ -n "$mode" ] && echo "consistency = \"$mode\"")
${CLIENT_THREADS:+client_threads = $CLIENT_THREADS}

[log]
durability = "${DURABILITY:-fsync}"
${LOG_EXTRA:-}

[[listener]]
protocol = "$proto"
listen = "127.0.0.1:$port"
EOF
  if [ "$proto" = postgres ]; then
    printf '\n[[user]]\nname = "postgres"\nauth = "trust"\n' >>"$conf"
  else
    printf '\n[[user]]\nname = "sbtest"\nauth = "mysql_native_password"\npassword = "sbtest"\n' >>"$conf"
  fi
  for bp in "$@"; do
    i=$((i + 1))
    if [ "$proto" = postgres ]; then
      printf '\n[[backend]]\nname = "pg%s"\nkind = "postgres"\nconninfo = "host=127.0.0.1 port=%s user=postgres dbname=postgres"\n' "$i" "$bp" >>"$conf"
    else
      printf '\n[[backend]]\nname = "my%s"\nkind = "mysql"\nurl = "mysql://root@127.0.0.1:%s/sbtest"\n' "$i" "$bp" >>"$conf"
    fi
  done
  RUST_LOG=warn "$MDBD" run --config "$conf" 2>"$root/$name.log" &
  mdbd_pid=$!
  pids+=("$mdbd_pid")
  # Up to a minute: a log on a NATS cluster just started waits for its leaders.
  for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return; kill -0 "$mdbd_pid" 2>/dev/null || break; sleep 0.1; done
  echo "mdbd $name did not start:" >&2; cat "$root/$name.log" >&2; exit 1
}

start_pgpool() { # port children backend-ports... -> main pid in $pgpool_pid, once it listens
  # pgpool-II 4.3 native replication, as tested on loopback: trust auth, no pool_hba, no
  # watchdog or health checks, connection cache on, SELECTs load-balanced to one node.
  local port=$1 children=$2 dir i=0 bp
  shift 2
  dir=$root/pgpool-$port
  mkdir -p "$dir"
  cat >"$dir/pgpool.conf" <<EOF
backend_clustering_mode = 'native_replication'
listen_addresses = '127.0.0.1'
port = $port
socket_dir = '$dir'
pcp_listen_addresses = '127.0.0.1'
pcp_port = $(free_port)
pcp_socket_dir = '$dir'
wd_ipc_socket_dir = '$dir'
pid_file_name = '$dir/pgpool.pid'
logdir = '$dir'
enable_pool_hba = off
pool_passwd = ''
num_init_children = $children
max_pool = 4
connection_cache = on
load_balance_mode = on
replicate_select = off
insert_lock = off
health_check_period = 0
use_watchdog = off
memory_cache_enabled = off
log_destination = 'stderr'
logging_collector = off
log_min_messages = warning
EOF
  for bp in "$@"; do
    printf "\nbackend_hostname%s = '127.0.0.1'\nbackend_port%s = %s\nbackend_weight%s = 1\nbackend_flag%s = 'ALLOW_TO_FAILOVER'\n" \
      "$i" "$i" "$bp" "$i" "$i" >>"$dir/pgpool.conf"
    i=$((i + 1))
  done
  echo "# pcp is not used" >"$dir/pcp.conf"
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$dir/pool_hba.conf"
  pgpool -n -D -f "$dir/pgpool.conf" -F "$dir/pcp.conf" -a "$dir/pool_hba.conf" 2>"$dir/pgpool.log" &
  pgpool_pid=$!
  pids+=("$pgpool_pid")
  for _ in $(seq 100); do
    timeout 5 psql -X -h 127.0.0.1 -p "$port" -U postgres -Atc "SELECT 1" postgres >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "pgpool did not start:" >&2; cat "$dir/pgpool.log" >&2; exit 1
}

start_nats() { # name nodes -> client URLs as a TOML list in $nats_urls, once every node listens
  # Throwaway nats-server nodes with JetStream (never on 4222), routed as one cluster when
  # there are several.
  local name=$1 n=$2 i j cports=() rports=() routes conf
  for ((i = 0; i < n; i++)); do cports+=("$(free_port)"); rports+=("$(free_port)"); done
  for ((i = 0; i < n; i++)); do
    mkdir -p "$root/$name/n$i"
    conf=$root/$name/n$i.conf
    printf 'server_name: %s\nlisten: 127.0.0.1:%s\njetstream { store_dir: "%s" }\n' \
      "$name-n$i" "${cports[$i]}" "$root/$name/n$i" >"$conf"
    if [ "$n" -gt 1 ]; then
      routes=""
      for ((j = 0; j < n; j++)); do [ "$j" = "$i" ] || routes+="\"nats-route://127.0.0.1:${rports[$j]}\", "; done
      printf 'cluster { name: %s, listen: 127.0.0.1:%s, routes: [%s] }\n' "$name" "${rports[$i]}" "${routes%, }" >>"$conf"
    fi
    nats-server -c "$conf" 2>"$root/$name/n$i.log" &
    pids+=("$!")
  done
  nats_urls=""
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"${cports[$i]}") 2>/dev/null && break; sleep 0.1; done
    nats_urls+="\"nats://127.0.0.1:${cports[$i]}\", "
  done
  nats_urls="[${nats_urls%, }]"
}
