#!/usr/bin/env bash
# A throw-away PostgreSQL server for the connector tests (Debian's `postgresql` package).
#
#   scripts/pg-test-server.sh start [--dir DIR] [--port PORT]   # prints the connection URL
#   scripts/pg-test-server.sh stop  [--dir DIR]
#   scripts/pg-test-server.sh url   [--dir DIR]
#
# PG_TEST_WAL_LEVEL overrides wal_level (default logical) when `start` starts the server.
#
# `start` is idempotent: a server already running from DIR is reused and its URL printed again,
# so test binaries can call it once per run without piling up servers. The cluster is tuned for
# tests only: fsync off, trust auth, 127.0.0.1 only, wal_level=logical for the CDC tests, and
# TLS on with a throw-away CA (DIR/ca.crt, for sslmode=verify-full tests; plain connections
# still work).
# When run as root (CI containers), initdb/postgres run as the `postgres` user, which owns DIR.
set -euo pipefail
# Shared port picking: below the ephemeral range, checked with ss, claimed (see lib/ports.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"

cmd="${1:-}"
shift || true
dir="${PG_TEST_DIR:-${TMPDIR:-/tmp}/iggy-connectors-pg}"
port="${PG_TEST_PORT:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "pg-test-server: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

find_bin() {
  local name="$1" candidate
  if command -v pg_config >/dev/null 2>&1; then
    candidate="$(pg_config --bindir 2>/dev/null)/$name"
    [ -x "$candidate" ] && { echo "$candidate"; return; }
  fi
  for candidate in /usr/lib/postgresql/*/bin/"$name"; do
    [ -x "$candidate" ] && { echo "$candidate"; return; }
  done
  command -v "$name" 2>/dev/null && return
  echo "pg-test-server: '$name' not found; install PostgreSQL first (Debian: apt-get install -y postgresql)" >&2
  exit 3
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

print_url() {
  echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
}

is_running() {
  [ -f "$dir/data/postmaster.pid" ] && [ -f "$dir/port" ] \
    && as_owner "$(find_bin pg_ctl)" -D "$dir/data" status >/dev/null 2>&1
}

start() {
  # Test binaries may start the same server concurrently (e.g. under cargo nextest).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir.lock"
    flock 9
  fi
  if is_running; then
    print_url
    return
  fi
  local initdb pg_ctl
  initdb="$(find_bin initdb)"
  pg_ctl="$(find_bin pg_ctl)"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if [ ! -f "$dir/ca.crt" ] && command -v openssl >/dev/null 2>&1; then
    make_certs
  fi
  local ssl_opts=""
  [ -f "$dir/ca.crt" ] && ssl_opts="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
  if [ -z "$port" ]; then
    port="$( [ -f "$dir/port" ] && cat "$dir/port" || free_port )"
    if port_listening "$port"; then port="$(free_port)"; fi
  fi
  echo "$port" | as_owner tee "$dir/port" >/dev/null
  # 9>&-: the server must not inherit the lock, or it would hold it for its whole life.
  as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start 9>&- -o "\
    -p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir \
    -c wal_level=${PG_TEST_WAL_LEVEL:-logical} -c max_replication_slots=64 -c max_wal_senders=16 \
    -c fsync=off -c full_page_writes=off \
    -c max_connections=200 -c shared_buffers=64MB $ssl_opts" >/dev/null \
    || { tail -n 30 "$dir/server.log" >&2; exit 1; }
  print_url
}

# A CA and a server certificate for 127.0.0.1/localhost signed by it.
make_certs() {
  (
    cd "$dir"
    openssl req -new -x509 -days 3650 -nodes -subj "/CN=iggy-connectors test CA" \
      -keyout ca.key -out ca.crt >/dev/null 2>&1
    openssl req -new -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.ext -out server.crt >/dev/null 2>&1
    chmod 600 server.key
    [ "$(id -u)" = 0 ] && chown postgres:postgres server.key server.crt
    rm -f server.csr san.ext
  ) || { echo "pg-test-server: generating TLS certificates failed" >&2; rm -f "$dir/ca.crt"; }
}

stop() {
  if is_running; then
    as_owner "$(find_bin pg_ctl)" -D "$dir/data" -m fast -w stop >/dev/null
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  url) is_running && print_url || { echo "pg-test-server: not running in $dir" >&2; exit 1; } ;;
  *) echo "usage: $0 start|stop|url [--dir DIR] [--port PORT]" >&2; exit 2 ;;
esac
