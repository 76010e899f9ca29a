#!/usr/bin/env bash
# A throw-away MongoDB wire-protocol server for the connector tests: FerretDB 1.24 (SQLite
# backend) built from the project's launcher in tools/ferretdb (a pinned Go module).
#
#   scripts/ferretdb-test-server.sh build                  # builds if needed; prints the binary path
#   scripts/ferretdb-test-server.sh start --dir DIR [--port PORT]   # prints the mongodb:// URI
#   scripts/ferretdb-test-server.sh stop  --dir DIR
#
# The binary lands in $FERRETDB_TEST_BIN_DIR (default $HOME/.cache/iggy-connectors-ferretdb),
# keyed by a hash of the launcher's sources, so it is rebuilt only when they change. Go's module
# and build caches stay in their defaults under $HOME (GOMODCACHE=~/go/pkg/mod,
# GOCACHE=~/.cache/go-build), so warm CI runs neither download nor compile.
#
# The Rust tests call `build` and then run the binary themselves (they kill and restart it);
# `start`/`stop` are for running a server by hand. The server binds loopback only; port 0
# (the default) lets the kernel pick a free port.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tools/ferretdb"
bin_dir="${FERRETDB_TEST_BIN_DIR:-$HOME/.cache/iggy-connectors-ferretdb}"
# The Go release the launcher needs (FerretDB 1.24 requires go >= 1.24).
go_min="1.24"
go_toolchain="go1.24.3"

cmd="${1:-}"
shift || true
dir=""
port="0"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "ferretdb-test-server: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# A `go` new enough for the launcher. An older Go (Debian 12 ships 1.19) fetches the pinned
# toolchain from the Go module proxy itself (golang.org/toolchain, the module `GOTOOLCHAIN`
# uses), into the module cache under $HOME.
find_go() {
  local go_bin have
  go_bin="$(command -v go || true)"
  [ -x /usr/local/go/bin/go ] && [ -z "$go_bin" ] && go_bin=/usr/local/go/bin/go
  if [ -z "$go_bin" ]; then
    echo "ferretdb-test-server: no 'go' found; install Go first (Debian: apt-get install -y golang-go)" >&2
    exit 3
  fi
  have="$("$go_bin" env GOVERSION 2>/dev/null || "$go_bin" version | awk '{print $3}')"
  have="${have#go}"
  if version_ge "$have" "$go_min"; then
    echo "$go_bin"
    return
  fi
  local arch module root_dir
  arch="$("$go_bin" env GOOS)-$("$go_bin" env GOARCH)"
  module="golang.org/toolchain@v0.0.1-$go_toolchain.$arch"
  root_dir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod "$go_bin" mod download -json "$module" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [ -z "$root_dir" ] || [ ! -f "$root_dir/bin/go" ]; then
    echo "ferretdb-test-server: Go $have is older than $go_min and $module could not be fetched" >&2
    exit 3
  fi
  # Module zips carry no file modes.
  chmod -R u+w "$root_dir" 2>/dev/null || true
  chmod +x "$root_dir/bin/"* "$root_dir/pkg/tool/"*/* 2>/dev/null || true
  echo "$root_dir/bin/go"
}

build() {
  local hash bin go_bin
  hash="$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)"
  bin="$bin_dir/ferretdb-test-server-$hash"
  if [ -x "$bin" ]; then
    echo "$bin"
    return
  fi
  mkdir -p "$bin_dir"
  exec 9>"$bin_dir/build.lock"
  command -v flock >/dev/null 2>&1 && flock 9
  if [ ! -x "$bin" ]; then
    go_bin="$(find_go)"
    local started
    started=$(date +%s)
    echo "ferretdb-test-server: building the FerretDB launcher (first run: a few minutes)" >&2
    (cd "$src" && unset GOROOT && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
      "$go_bin" build -trimpath -o "$bin.tmp" .) >&2
    mv "$bin.tmp" "$bin"
    echo "ferretdb-test-server: built in $(( $(date +%s) - started ))s: $bin" >&2
  fi
  echo "$bin"
}

start() {
  [ -n "$dir" ] || { echo "ferretdb-test-server: start needs --dir DIR" >&2; exit 2; }
  local bin
  bin="$(build)"
  mkdir -p "$dir"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && [ -f "$dir/uri" ]; then
    cat "$dir/uri"
    return
  fi
  rm -f "$dir/uri"
  nohup "$bin" -dir "$dir" -listen "127.0.0.1:$port" -uri-file "$dir/uri" \
    >"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  local waited=0
  until [ -f "$dir/uri" ]; do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      tail -n 30 "$dir/server.log" >&2
      exit 1
    fi
    sleep 0.05
    waited=$((waited + 1))
    [ "$waited" -lt 600 ] || { echo "ferretdb-test-server: not listening after 30s" >&2; exit 1; }
  done
  cat "$dir/uri"
}

stop() {
  [ -n "$dir" ] || { echo "ferretdb-test-server: stop needs --dir DIR" >&2; exit 2; }
  if [ -f "$dir/pid" ]; then
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid" "$dir/uri"
  fi
}

case "$cmd" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 build | start --dir DIR [--port PORT] | stop --dir DIR" >&2; exit 2 ;;
esac
