#!/usr/bin/env bash
# nodetool for the local test Cassandra (JMX on 127.0.0.1:7199), from the jars infra.sh installed.
#   deploy/local/cassandra/nodetool.sh status | flush <keyspace> | tablestats <ks.table> | ...
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$DEPLOY_LOCAL/servers/cassandra.sh"
java=$(cassandra_java) || { echo "no Java 11 or 17 found" >&2; exit 1; }
mapfile -t jpms < <(grep -E '^(--add-|-Djdk\.attach)' "$CASSANDRA_SRC/jvm17.options")
exec "$java" "${jpms[@]}" -Dlogback.configurationFile="file://$CASSANDRA_SRC/logback.xml" \
  -cp "$CASSANDRA_LIB/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$CASSANDRA_JMX_PORT" "$@"
