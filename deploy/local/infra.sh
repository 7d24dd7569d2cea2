#!/usr/bin/env bash
# Installs, starts, stops and probes the real servers kaa-rs runs against, on 127.0.0.1.
#
#   deploy/local/infra.sh up     [zookeeper|postgresql|mariadb|cassandra|mongodb ...]
#   deploy/local/infra.sh down   [...]
#   deploy/local/infra.sh status [...]
#
# No names means all of them. Idempotent: `up` installs only what is missing and leaves a server
# that already answers alone. See lib.sh for the directories it uses.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(zookeeper postgresql mariadb cassandra mongodb)
usage() { echo "usage: $0 {up|down|status} [${ALL[*]}]" >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1; shift
servers=("$@"); [ ${#servers[@]} -gt 0 ] || servers=("${ALL[@]}")
for s in "${servers[@]}"; do
  [[ " ${ALL[*]} " == *" $s "* ]] || { echo "unknown server: $s" >&2; usage; }
  source "$DEPLOY_LOCAL/servers/$s.sh"
done

rc=0
case "$action" in
  up)
    for s in "${servers[@]}"; do
      if "${s}_probe" >/dev/null 2>&1; then log "$s: already up"; continue; fi
      "${s}_install" || { fail_server "$s" "" "install failed"; rc=1; continue; }
      "${s}_start" || { rc=1; continue; }
    done ;;
  down)
    # Reverse order: dependants first.
    for ((i=${#servers[@]}-1; i>=0; i--)); do "${servers[$i]}_stop" || rc=1; done ;;
  status)
    for s in "${servers[@]}"; do
      if "${s}_probe" >/dev/null 2>&1; then echo "$s: up"; else echo "$s: down"; rc=1; fi
    done ;;
  *) usage ;;
esac
exit $rc
