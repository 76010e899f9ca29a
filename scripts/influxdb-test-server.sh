#!/usr/bin/env bash
# A throw-away InfluxDB 1.8.3 server for the InfluxDB connector tests (built from the Go module
# proxy: it serves the 2.x-compatible `POST /api/v2/write` and the Flux `POST /api/v2/query`).
#
#   scripts/influxdb-test-server.sh install                          # build influxd if missing
#   scripts/influxdb-test-server.sh start [--dir DIR] [--port PORT] [--owner PID]  # prints the URL
#   scripts/influxdb-test-server.sh stop  [--dir DIR]
#   scripts/influxdb-test-server.sh url   [--dir DIR]
#
# Authentication is on, with one admin user: the v2 API token is `iggy:iggy-secret`.
# With --owner, the server is stopped when process PID exits (test binaries pass their own PID,
# so no server outlives its tests).
# `start` is idempotent (a server already running from DIR is reused) and keeps the port of an
# earlier start from DIR, so a restarted server has the same URL. The server binds 127.0.0.1
# only and is stopped by its PID. The Go toolchain caches live under $HOME (warm CI reuse).
set -euo pipefail
# Shared port picking: below the ephemeral range, checked with ss, claimed (see lib/ports.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"

cmd="${1:-}"
shift || true
dir="${INFLUXDB_TEST_DIR:-${TMPDIR:-/tmp}/iggy-connectors-influxdb}"
port=""
owner=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --owner) owner="$2"; shift 2 ;;
    *) echo "influxdb-test-server: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

version="v1.8.3"
bin_dir="${INFLUXDB_TEST_BIN_DIR:-$HOME/.cache/iggy-connectors-go/bin}"
influxd="$bin_dir/influxd"
user="iggy"
password="iggy-secret"

install() {
  [ -x "$influxd" ] && return
  command -v go >/dev/null 2>&1 || {
    echo "influxdb-test-server: 'go' not found; install Go (https://go.dev/dl) to build influxd $version" >&2
    exit 3
  }
  mkdir -p "$bin_dir"
  exec 8>"$bin_dir/.install.lock"
  flock 8
  [ -x "$influxd" ] && return
  echo "influxdb-test-server: building influxd $version (once, ~1-4 min)" >&2
  GOPATH="${GOPATH:-$HOME/go}" GOMODCACHE="${GOMODCACHE:-$HOME/go/pkg/mod}" \
    GOCACHE="${GOCACHE:-$HOME/.cache/go-build}" GOBIN="$bin_dir" GOFLAGS=-mod=mod \
    go install "github.com/influxdata/influxdb/cmd/influxd@$version" >&2
}

print_url() {
  echo "http://127.0.0.1:$(cat "$dir/port")"
}

is_running() {
  [ -f "$dir/pid" ] && [ -f "$dir/port" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

start() {
  install
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  flock 9
  if is_running; then
    print_url
    return
  fi
  if [ -z "$port" ]; then
    port="$( [ -f "$dir/port" ] && cat "$dir/port" || free_port )"
    if port_listening "$port"; then port="$(free_port)"; fi
  fi
  echo "$port" >"$dir/port"
  local rpc
  rpc="$(free_port)"
  # 9>&-: the server must not inherit the lock.
  INFLUXDB_META_DIR="$dir/meta" INFLUXDB_DATA_DIR="$dir/data" INFLUXDB_DATA_WAL_DIR="$dir/wal" \
    INFLUXDB_HTTP_BIND_ADDRESS="127.0.0.1:$port" INFLUXDB_BIND_ADDRESS="127.0.0.1:$rpc" \
    INFLUXDB_HTTP_FLUX_ENABLED=true INFLUXDB_HTTP_AUTH_ENABLED=true \
    INFLUXDB_REPORTING_DISABLED=true INFLUXDB_HTTP_LOG_ENABLED=false \
    INFLUXDB_DATA_QUERY_LOG_ENABLED=false INFLUXDB_LOGGING_LEVEL=warn \
    nohup "$influxd" run -config /dev/null >"$dir/server.log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$dir/pid"
  if [ -n "$owner" ]; then
    (
      while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill "$pid" 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 9>&- &
  fi
  local i
  for i in $(seq 1 300); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/ping"; then
      # The first user may be created without credentials; later starts find it in meta/.
      curl -fs -o /dev/null -XPOST "http://127.0.0.1:$port/query" \
        --data-urlencode "q=CREATE USER $user WITH PASSWORD '$password' WITH ALL PRIVILEGES" \
        -u "$user:$password" || true
      print_url
      return
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "influxdb-test-server: influxd did not start" >&2
  tail -n 30 "$dir/server.log" >&2
  exit 1
}

stop() {
  if is_running; then
    local pid
    pid="$(cat "$dir/pid")"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$dir/pid"
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  url) is_running && print_url || { echo "influxdb-test-server: not running in $dir" >&2; exit 1; } ;;
  *) echo "usage: $0 install|start|stop|url [--dir DIR] [--port PORT]" >&2; exit 2 ;;
esac
