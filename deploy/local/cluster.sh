#!/usr/bin/env bash
# Runs a local multi-node kaa-rs cluster: N kaa-node processes, node i on 127.0.0.<i+1> with
# Kaa's default ports, against the servers of deploy/local/infra.sh (ZooKeeper, PostgreSQL,
# Cassandra).
#
#   deploy/local/cluster.sh up N       start nodes 1..N (infra first), print where each listens
#   deploy/local/cluster.sh status     show each node's health and its view of the cluster
#   deploy/local/cluster.sh down       stop every node (SIGTERM, graceful)
#
# Node 1 runs every service; nodes 2..N run $KAA_CLUSTER_SERVICES (default: all three, so any
# of them can take over as Control leader). Files: .cluster/node-<i>/{node.toml,node.log,pid}.
# Internode Thrift is mutual TLS: `kaa-node certs init` makes the cluster CA once in .cluster/ca,
# and `kaa-node certs issue` each node's certificate for its IP in .cluster/node-<i>/tls.
# KAA_NODE_PROFILE=release uses a release build. Nodes authenticate to ZooKeeper with the digest
# credentials $KAA_CLUSTER_ZOOKEEPER_AUTH (default kaa-local:kaa-local, like the local PostgreSQL's
# kaa:kaa), so only they can change the znodes under /kaa-local.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN=${KAA_CLUSTER_DIR:-$ROOT/.cluster}
PROFILE=${KAA_NODE_PROFILE:-debug}
SERVICES=${KAA_CLUSTER_SERVICES:-control,operations,bootstrap}
ZOOKEEPER_AUTH=${KAA_CLUSTER_ZOOKEEPER_AUTH:-kaa-local:kaa-local}

usage() { echo "usage: $0 {up N|down|status}" >&2; exit 2; }

node_ip() { echo "127.0.0.$(($1 + 1))"; }

write_config() { # index services dir
  local i=$1 services=$2 dir=$3 ip; ip=$(node_ip "$1")
  local control=false operations=false bootstrap=false
  [[ ",$services," == *",control,"* ]] && control=true
  [[ ",$services," == *",operations,"* ]] && operations=true
  [[ ",$services," == *",bootstrap,"* ]] && bootstrap=true
  cat >"$dir/node.toml" <<TOML
[node]
id = "node-$i"
data_dir = "$dir/data"
thrift_host = "$ip"

[admin]
host = "$ip"

[zookeeper]
connect = "127.0.0.1:2181"
chroot = "/kaa-local"
auth = "$ZOOKEEPER_AUTH"

[cluster]
tls_ca = "$dir/tls/ca.pem"
tls_cert = "$dir/tls/node-$i.pem"
tls_key = "$dir/tls/node-$i.key"

[control]
enabled = $control

[operations]
enabled = $operations

[bootstrap]
enabled = $bootstrap

[sql]
url = "postgres://kaa:kaa@127.0.0.1:5432/kaa"

[endpoint_store]
backend = "cassandra"
contact_points = ["127.0.0.1:9042"]
TOML
  chmod 600 "$dir/node.toml" # it holds the ZooKeeper credentials
}

up() {
  local n=$1 bin profile_flag=()
  [[ $n =~ ^[1-9][0-9]*$ ]] || usage
  "$ROOT/deploy/local/infra.sh" up zookeeper postgresql cassandra
  [ "$PROFILE" = release ] && profile_flag=(--release)
  (cd "$ROOT" && cargo build --quiet --locked "${profile_flag[@]}" --bin kaa-node)
  bin="$ROOT/target/$PROFILE/kaa-node"
  [ -f "$RUN/ca/ca.key" ] || "$bin" certs init --dir "$RUN/ca"
  for i in $(seq 1 "$n"); do
    local dir="$RUN/node-$i" services=$SERVICES
    [ "$i" -eq 1 ] && services=control,operations,bootstrap
    mkdir -p "$dir"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "node-$i already running (pid $(cat "$dir/pid"))"; continue
    fi
    "$bin" certs issue --ca-dir "$RUN/ca" --name "node-$i" --ip "$(node_ip "$i")" --dns localhost \
      --out "$dir/tls" >/dev/null
    write_config "$i" "$services" "$dir"
    setsid "$bin" --config "$dir/node.toml" >"$dir/node.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
  done
  for i in $(seq 1 "$n"); do
    local ip; ip=$(node_ip "$i")
    for _ in $(seq 1 100); do
      curl -fs "http://$ip:8080/health" >/dev/null 2>&1 && break
      kill -0 "$(cat "$RUN/node-$i/pid")" 2>/dev/null || { echo "node-$i exited:"; tail -n 30 "$RUN/node-$i/node.log"; exit 1; }
      sleep 0.1
    done
    echo "node-$i  admin http://$ip:8080  thrift $ip:9090  bootstrap tcp $ip:9888 http $ip:9889  operations tcp $ip:9997 http $ip:9999  log $RUN/node-$i/node.log"
  done
}

status() {
  local found=0
  for dir in "$RUN"/node-*; do
    [ -f "$dir/pid" ] || continue
    found=1
    local name ip pid; name=$(basename "$dir"); ip=$(node_ip "${name#node-}"); pid=$(cat "$dir/pid")
    if ! kill -0 "$pid" 2>/dev/null; then echo "$name: not running"; continue; fi
    echo "$name (pid $pid): ready=$(curl -s -o /dev/null -w '%{http_code}' "http://$ip:8080/ready")"
    curl -s "http://$ip:8080/cluster" | python3 -c 'import json,sys; v=json.load(sys.stdin); print("  leader:", v["leader"], "| this node leads:", v["this_node_leads"], "| nodes:", [n["id"] for n in v["nodes"]], "| ring:", v["ring"])'
  done
  [ $found -eq 1 ] || echo "no nodes"
}

down() {
  for dir in "$RUN"/node-*; do
    [ -f "$dir/pid" ] || continue
    local pid; pid=$(cat "$dir/pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "$(basename "$dir") stopped"
    fi
    rm -f "$dir/pid"
  done
}

case "${1:-}" in
  up) [ $# -eq 2 ] || usage; up "$2" ;;
  down) down ;;
  status) status ;;
  *) usage ;;
esac
