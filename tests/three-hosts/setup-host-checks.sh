#!/usr/bin/env bash
# Checks setup-host.sh without touching the machine: its flag checks refuse what they must (exit 2
# with a message naming the flag), and the node.toml it renders (--dry-run) is accepted by
# `kaa-node check-config`, values with quotes and backslashes included. The three-host test runs
# the real thing (run.py); this one runs in a second, without root or servers.
#   tests/three-hosts/setup-host-checks.sh [KAA_NODE_BINARY]   (default: target/debug/kaa-node)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SETUP=$REPO/deploy/bare-metal/setup-host.sh
BIN=${1:-$REPO/target/debug/kaa-node}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A valid command line; each case below adds or overrides flags.
BASE=(--node-id kaa-1 --public-host 10.0.0.11 --zookeeper "10.0.0.11,10.0.0.12,10.0.0.13"
      --zookeeper-auth kaa:zk-secret --sql postgres://kaa:pg-secret@10.0.0.11:5432/kaa
      --cassandra "10.0.0.11,10.0.0.12,10.0.0.13" --tls-ca /etc/hostname --tls-cert /etc/hostname
      --tls-key /etc/hostname --dry-run)

# BASE without FLAG and its value, into WITHOUT.
without() {
  local i
  WITHOUT=()
  for ((i = 0; i < ${#BASE[@]}; i++)); do
    if [[ ${BASE[i]} == "$1" ]]; then ((i += 1)); else WITHOUT+=("${BASE[i]}"); fi
  done
}

# refused EXPECTED_TEXT FLAGS...: exit status 2 and a message containing EXPECTED_TEXT.
refused() {
  local expected=$1 rc=0 out
  shift
  out=$(KAA_ZK_AUTH='' KAA_ADMIN_PASSWORD='' "$SETUP" "$@" 2>&1 >/dev/null) || rc=$?
  if [[ $rc != 2 || $out != *"$expected"* ]]; then
    fail "expected exit 2 and '$expected' for: $*; got $rc: $out"
  fi
}

refused "--public-host: '10.0.0.256' is neither" "${BASE[@]}" --public-host 10.0.0.256
refused "--public-host is required" --zookeeper h1 --zookeeper-auth a:b --services bootstrap --ca-dir /nonexistent
without --cassandra
refused "need an endpoint store" "${WITHOUT[@]}" --services operations
refused "unknown service 'web'" "${BASE[@]}" --services control,web
refused "choose one endpoint store" "${BASE[@]}" --mongodb mongodb://m1/
without --sql
refused "need the metadata database" "${WITHOUT[@]}"
refused "--cassandra: bad port" "${BASE[@]}" --cassandra h1:70000
refused "--zookeeper: empty entry" "${BASE[@]}" --zookeeper h1,,h2
refused "--zookeeper-auth: must be user:password" "${BASE[@]}" --zookeeper-auth kaa
refused "--consistency: 'QUORUM'" "${BASE[@]}" --consistency QUORUM
refused "--replication: '0'" "${BASE[@]}" --replication 0
refused "--admin-password: at least 8" "${BASE[@]}" --admin-password short
refused "--ca-dir contradicts" "${BASE[@]}" --ca-dir "$WORK"
refused "go together" "${BASE[@]}" --admin-tls-cert /etc/hostname
without --cassandra
refused "must be another database" "${WITHOUT[@]}" --endpoint-store sql --endpoint-url postgres://kaa:pg-secret@10.0.0.11:5432/kaa
refused "--node-id: '.x'" "${BASE[@]}" --node-id .x
refused "unknown flag '--frobnicate'" "${BASE[@]}" --frobnicate 1
refused "--sql needs a value" "${BASE[@]}" --sql --cassandra
refused "control character" "${BASE[@]}" --endpoint-host $'a\nb'

# A secret with a single quote cannot go into the environment file: refused before writing.
rc=0; KAA_ZK_AUTH='' "$SETUP" "${BASE[@]}" --zookeeper-auth "kaa:it's" >/dev/null 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "a single quote in --zookeeper-auth: exit $rc, wanted 1"

# rendered NAME FLAGS...: the node.toml of a dry run, in $WORK/NAME.toml.
rendered() {
  local name=$1
  shift
  "$SETUP" "${BASE[@]}" "$@" 2>"$WORK/$name.err" | grep -v '^==> ' >"$WORK/$name.toml"
}

rendered plain
grep -q '^url = "postgres://kaa@10.0.0.11:5432/kaa"$' "$WORK/plain.toml" \
  || fail "the SQL password stays out of node.toml"
grep -q 'pg-secret\|zk-secret' "$WORK/plain.toml" && fail "a secret reached node.toml"
grep -q '^contact_points = \["10.0.0.11:9042", "10.0.0.12:9042", "10.0.0.13:9042"\]$' "$WORK/plain.toml" \
  || fail "contact points with the default port"
grep -q '^connect = "10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181"$' "$WORK/plain.toml" \
  || fail "ZooKeeper connect string with the default port"
rendered odd --services 'operations,bootstrap' --endpoint-host iot.example.com \
  --sql 'sqlite:///srv/we"ird\path/meta.db' --keyspace kaa_prod
grep -q '^url = "sqlite:///srv/we\\"ird\\\\path/meta.db"$' "$WORK/odd.toml" || fail "TOML escaping of a path"
rendered ipv6 --public-host 2001:db8::11 --cassandra '[2001:db8::11]:9042,[2001:db8::12]'
grep -q '"\[2001:db8::12\]:9042"' "$WORK/ipv6.toml" || fail "an IPv6 contact point gets its port"

# kaa-node itself must accept what was rendered.
[[ -x $BIN ]] || { echo "setup-host-checks: no kaa-node at $BIN (cargo build --bin kaa-node)" >&2; exit 1; }
for name in plain odd ipv6; do
  out=$(KAA_ZOOKEEPER__AUTH=kaa:zk-secret "$BIN" check-config --config "$WORK/$name.toml" 2>&1) \
    || fail "kaa-node check-config refused the $name rendering: $out"
done
KAA_ZOOKEEPER__AUTH=kaa:zk-secret "$BIN" check-config --config "$WORK/odd.toml" \
  | grep -qF "url = 'sqlite:///srv/we\"ird\\path/meta.db'" || fail "kaa-node read another SQL path than rendered"

if ((failures)); then
  echo "setup-host-checks: $failures failure(s)"
  exit 1
fi
echo "setup-host-checks: ok"
