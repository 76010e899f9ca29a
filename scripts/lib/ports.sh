# Loopback ports for the test-server scripts (sourced, not run).
#
# A port that looks free can still be taken before the server binds it. Two causes, both seen on
# a loaded machine: the kernel hands out ports of its ephemeral range to outgoing connections and
# to `bind(:0)` at any moment, and a connect probe does not even see a port held by an outgoing
# connection; and two test servers starting at once can pick the same port. So ports come from
# below the ephemeral range, are checked against every TCP socket on the machine (`ss`), and are
# claimed atomically among our scripts for as long as a server takes to bind.

port_claims="${TMPDIR:-/tmp}/iggy-connectors-port-claims"

# The first port of the kernel's ephemeral range (32768 when it cannot be read).
ephemeral_low() {
  local low rest
  read -r low rest </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  echo "${low:-32768}"
}

# port_in_use PORT: some TCP socket on this machine has PORT as its local port, in any state
# (listening, connected, closing): a fresh pick avoids them all.
port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# port_listening PORT: a server listens on PORT. A restarted server takes its old port back
# unless this holds; the closing sockets its previous run left do not stop it binding.
port_listening() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# claim_port PORT: claims PORT for our scripts; fails if another start claimed it in the last
# two minutes (by then its server has bound the port, or never will).
claim_port() {
  mkdir -p "$port_claims"
  local claim="$port_claims/$1"
  mkdir "$claim" 2>/dev/null && return 0
  [ -n "$(find "$claim" -maxdepth 0 -mmin +2 2>/dev/null)" ] || return 1
  rm -rf "$claim"
  mkdir "$claim" 2>/dev/null
}

# free_port [LOW HIGH]: a claimed port in LOW..HIGH (default: 20000 up to the ephemeral range)
# that no socket uses.
free_port() {
  local low="${1:-20000}" high="${2:-$(($(ephemeral_low) - 1))}" port _
  for _ in $(seq 1 500); do
    port=$((low + (RANDOM * 32768 + RANDOM) % (high - low + 1)))
    if ! port_in_use "$port" && claim_port "$port"; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port in $low..$high" >&2
  return 1
}
