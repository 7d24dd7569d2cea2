#!/usr/bin/env bash
# Installs what `make bench-scale` (tests/bench-scale/run.py) needs besides the build and the
# servers: Debian's python3-matplotlib, which draws docs/img/bench-*.png, and Debian's mosquitto,
# the MQTT broker whose idle connections are the baseline of the idle-session figure (the bench
# starts its own instance on a free port; the package's service is never started).
# The bench runs under Debian's own /usr/bin/python3 (a python3 earlier on PATH, such as a pyenv
# one, does not see Debian's packages). Idempotent and quiet when everything is there; the
# Makefile's bench-scale target calls it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

matplotlib_ok() { /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; }
mosquitto_ok() { [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null; }

matplotlib_ok || apt_install python3-matplotlib
matplotlib_ok || { log "FAILED: /usr/bin/python3 cannot import matplotlib after installing python3-matplotlib"; exit 1; }
mosquitto_ok || apt_install mosquitto
mosquitto_ok || { log "FAILED: no mosquitto after installing it"; exit 1; }
