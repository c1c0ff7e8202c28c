#!/usr/bin/env bash
# A scale-out topology on one machine, all on loopback, from Debian's packages:
#   a Postgres primary, a streaming replica of it (pg_basebackup -R), pgbouncer in
#   transaction mode in front of the primary, and nginx caching in front of the app.
#
#   scripts/topology.sh up DIR APP_PORT   start everything; writes DIR/env (URLs and ports)
#   scripts/topology.sh down DIR          stop everything started in DIR
#   scripts/topology.sh check             exit 0 when every binary it needs is installed
#
# The app itself is not started here: run it with DATABASE_URL=$PGBOUNCER_URL and
# DATABASE_READ_URL=$REPLICA_URL on APP_PORT (tests/test_scale_out.py does).
set -euo pipefail

pg_bin() {
  local dir
  for dir in "${PG_BIN:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_basebackup" ]; then
      echo "$dir"
      return
    fi
  done
  return 1
}

missing() {
  pg_bin >/dev/null || echo "postgresql (initdb, pg_basebackup)"
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || echo "pgbouncer"
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || echo "nginx"
}

# Postgres and pgbouncer refuse to run as root: run them as the postgres user then.
as_service() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

up() {
  local dir=$1 app_port=$2 bin primary_port replica_port bouncer_port proxy_port
  bin=$(pg_bin)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  primary_port=$(free_port) replica_port=$(free_port) bouncer_port=$(free_port) proxy_port=$(free_port)

  as_service "$bin/initdb" -D "$dir/primary" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log"
  cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 4
max_connections = 300
fsync = off                      # a throwaway test cluster
synchronous_commit = off
EOF
  as_service "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null

  as_service "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/replica" -R -X stream
  cat >>"$dir/replica/postgresql.conf" <<EOF
port = $replica_port
hot_standby = on
EOF
  as_service "$bin/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w start >/dev/null

  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$primary_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
max_db_connections = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
EOF
  echo '"postgres" ""' >"$dir/userlist.txt"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/pgbouncer.ini" "$dir/userlist.txt"
  as_service "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -d "$dir/pgbouncer.ini"

  mkdir -p "$dir/nginx"
  sed -e "s|@DIR@|$dir/nginx|g" -e "s|@PROXY_PORT@|$proxy_port|g" -e "s|@APP_PORT@|$app_port|g" \
    "$(dirname "$0")/nginx.conf" >"$dir/nginx/nginx.conf"
  "$(command -v nginx || echo /usr/sbin/nginx)" -p "$dir/nginx" -c "$dir/nginx/nginx.conf"

  wait_for_port "$bouncer_port"
  wait_for_port "$proxy_port"
  cat >"$dir/env" <<EOF
PRIMARY_URL=postgresql://postgres@127.0.0.1:$primary_port/postgres
REPLICA_URL=postgresql://postgres@127.0.0.1:$replica_port/postgres
PGBOUNCER_URL=postgresql://postgres@127.0.0.1:$bouncer_port/postgres
PROXY_URL=http://127.0.0.1:$proxy_port
APP_PORT=$app_port
PG_BIN=$bin
EOF
  cat "$dir/env"
}

wait_for_port() {
  local port=$1 tries=50
  until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=0.2)" 2>/dev/null; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { echo "nothing listens on $port" >&2; return 1; }
    sleep 0.1
  done
}

down() {
  local dir=$1 bin
  bin=$(pg_bin)
  [ -f "$dir/nginx/nginx.pid" ] && kill "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null || true
  [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
  for node in replica primary; do
    [ -d "$dir/$node" ] && as_service "$bin/pg_ctl" -D "$dir/$node" -m immediate stop >/dev/null 2>&1 || true
  done
}

case "${1:-}" in
  up) up "$2" "$3" ;;
  down) down "$2" ;;
  check)
    gaps=$(missing)
    [ -z "$gaps" ] || { echo "missing: $(echo $gaps)" >&2; exit 1; }
    ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
