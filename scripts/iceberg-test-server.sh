#!/usr/bin/env bash
# The Iceberg sink's test servers: the reference Iceberg REST catalog (Maven Central), moto's
# S3 API server and a pyiceberg reader (PyPI), all on loopback.
#
#   scripts/iceberg-test-server.sh install                    # classpath into ~/.m2, venv into ~/.cache
#   scripts/iceberg-test-server.sh start [--dir DIR] [--watch-pid PID]   # prints "CATALOG_URL S3_URL"
#   scripts/iceberg-test-server.sh stop  [--dir DIR]
#   scripts/iceberg-test-server.sh stop-catalog [--dir DIR]   # an outage; `start` brings it back
#   scripts/iceberg-test-server.sh python                     # prints the venv's python
#
# The catalog (org.apache.iceberg:iceberg-open-api:1.10.0:test-fixtures, RESTCatalogServer) keeps
# its tables in SQLite under DIR and uses ResolvingFileIO, so one catalog serves tables on S3
# (the default warehouse `s3://warehouse/`, on moto) and tables created with a `file://`
# location (the local-filesystem warehouse tests). Its port is fixed: 8181 unless
# ICEBERG_CATALOG_PORT says otherwise; the server has no host option. moto binds 127.0.0.1 on
# a free port. SQLite takes one writer at a time: the catalog gets one JDBC connection and a busy
# timeout, so concurrent tests queue instead of failing with SQLITE_BUSY. `start` is idempotent and serialised with flock (one catalog per machine).
# Maven's repository stays in ~/.m2 and the venv (moto[server], pyiceberg) in
# ~/.cache/iggy-connectors-iceberg, so warm runs download nothing.
set -euo pipefail
# Shared port picking: below the ephemeral range, checked with ss, claimed (see lib/ports.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib/ports.sh"

cmd="${1:-}"
shift || true
dir="${ICEBERG_TEST_DIR:-${TMPDIR:-/tmp}/iggy-connectors-iceberg}"
watch_pid=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --watch-pid) watch_pid="$2"; shift 2 ;;
    *) echo "iceberg-test-server: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
iceberg_version=1.10.0
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
cp_cache="$HOME/.m2/iggy-connectors-iceberg-rest-$iceberg_version.classpath"
cache="$HOME/.cache/iggy-connectors-iceberg"
venv="$cache/venv"
catalog_port="${ICEBERG_CATALOG_PORT:-8181}"
access_key=iggy
secret_key=iggy-secret
region=us-east-1

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "iceberg-test-server: '$1' not found; install it first (Debian: apt-get install -y $2)" >&2
    exit 3
  }
}

cp_present() {
  local IFS=:
  for jar in $1; do [ -f "$jar" ] || return 1; done
}

# The catalog's classpath, resolved with Maven once (a throw-away pom; the fixture jar declares
# no dependencies, so the pom lists what RESTCatalogServer needs).
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
  <groupId>local.iggy-connectors</groupId><artifactId>iceberg-rest</artifactId><version>0</version>
  <dependencies>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-open-api</artifactId><version>$iceberg_version</version><classifier>test-fixtures</classifier></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-core</artifactId><version>$iceberg_version</version></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-core</artifactId><version>$iceberg_version</version><classifier>tests</classifier></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-aws</artifactId><version>$iceberg_version</version></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-aws-bundle</artifactId><version>$iceberg_version</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-client-api</artifactId><version>3.4.1</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-client-runtime</artifactId><version>3.4.1</version></dependency>
    <dependency><groupId>org.eclipse.jetty</groupId><artifactId>jetty-servlet</artifactId><version>11.0.25</version></dependency>
    <dependency><groupId>org.xerial</groupId><artifactId>sqlite-jdbc</artifactId><version>3.49.1.0</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>2.0.16</version></dependency>
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

# moto's S3 server and pyiceberg (the independent reader), in a venv of their own. moto[s3]
# plus flask/flask-cors is what `moto_server` needs for S3 (moto[server] would add every AWS
# service's dependencies, ~170 MB more).
venv() {
  if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c 'import pyiceberg, pyarrow' 2>/dev/null; then
    return
  fi
  need python3 python3-venv
  mkdir -p "$cache"
  python3 -m venv "$venv"
  PIP_CACHE_DIR="$HOME/.cache/pip" "$venv/bin/pip" install -q --disable-pip-version-check \
    'moto[s3]>=5.1,<5.3' 'flask>=3,<4' 'flask-cors>=5,<7' 'pyiceberg[pyarrow,sql-sqlite]>=0.10,<0.13'
}

alive() {
  [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null
}

print_urls() {
  echo "http://127.0.0.1:$catalog_port http://127.0.0.1:$(cat "$dir/s3.port")"
}

wait_http() {
  local name="$1" url="$2" i
  for i in $(seq 1 240); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    alive "$name" || break
    sleep 0.25
  done
  echo "iceberg-test-server: $name did not become ready; last log lines:" >&2
  tail -n 40 "$dir/$name.log" >&2
  return 1
}

watch() {
  [ -n "$watch_pid" ] || return 0
  local pid
  pid="$(cat "$dir/$1.pid")"
  setsid bash -c "while kill -0 $watch_pid 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null" \
    >/dev/null 2>&1 9>&- </dev/null &
}

start_s3() {
  alive s3 && return
  local port
  port="$(free_port)"
  # 9>&-: the server must not inherit the lock. setsid: it outlives the calling process group.
  setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/s3.log" 2>&1 9>&- </dev/null &
  echo $! >"$dir/s3.pid"
  echo "$port" >"$dir/s3.port"
  watch s3
  wait_http s3 "http://127.0.0.1:$port/" || { stop; exit 1; }
  # The warehouse bucket (moto keeps everything in memory).
  curl -fsS -X PUT -o /dev/null "http://127.0.0.1:$port/warehouse" \
    || { echo "iceberg-test-server: cannot create the bucket" >&2; stop; exit 1; }
}

start_catalog() {
  alive catalog && return
  if port_listening "$catalog_port"; then
    echo "iceberg-test-server: port $catalog_port is taken by another process (the catalog cannot use another host or a free port; set ICEBERG_CATALOG_PORT)" >&2
    exit 1
  fi
  need java openjdk-17-jre-headless
  local cp s3
  cp="$(classpath)"
  s3="http://127.0.0.1:$(cat "$dir/s3.port")"
  env CATALOG_WAREHOUSE="s3://warehouse/" \
    CATALOG_URI="jdbc:sqlite:file:$dir/catalog.db?busy_timeout=10000" CATALOG_CLIENTS=1 \
    CATALOG_JDBC_USER=user CATALOG_JDBC_PASSWORD=password \
    CATALOG_IO__IMPL=org.apache.iceberg.io.ResolvingFileIO \
    CATALOG_S3_ENDPOINT="$s3" CATALOG_S3_PATH__STYLE__ACCESS=true \
    CATALOG_S3_ACCESS__KEY__ID="$access_key" CATALOG_S3_SECRET__ACCESS__KEY="$secret_key" \
    CATALOG_CLIENT_REGION="$region" AWS_REGION="$region" \
    AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key" \
    REST_PORT="$catalog_port" CATALOG_REST_PORT="$catalog_port" \
    setsid java -Xms64m -Xmx384m -cp "$cp" org.apache.iceberg.rest.RESTCatalogServer \
    >"$dir/catalog.log" 2>&1 9>&- </dev/null &
  echo $! >"$dir/catalog.pid"
  watch catalog
  wait_http catalog "http://127.0.0.1:$catalog_port/v1/config" || { stop; exit 1; }
}

start() {
  mkdir -p "$dir"
  need curl curl
  exec 9>"$dir.lock"
  flock 9
  venv
  # moto keeps objects in memory: when it (re)starts, the catalog's tables would point at
  # metadata that is gone, so the catalog restarts on a fresh database too. A catalog stopped
  # alone (`stop-catalog`, the outage tests) comes back with its database.
  if ! alive s3; then stop_one catalog; rm -f "$dir/catalog.db"; fi
  start_s3
  start_catalog
  print_urls
}

stop_one() {
  if alive "$1"; then
    local pid
    pid="$(cat "$dir/$1.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/$1.pid"
}

stop() {
  stop_one catalog
  stop_one s3
}

case "$cmd" in
  (install) classpath >/dev/null; venv ;;
  (start) start ;;
  (stop) stop ;;
  (stop-catalog) stop_one catalog ;;
  (python) echo "$venv/bin/python" ;;
  (*) echo "usage: $0 install|start|stop|stop-catalog|python [--dir DIR] [--watch-pid PID]" >&2; exit 2 ;;
esac
