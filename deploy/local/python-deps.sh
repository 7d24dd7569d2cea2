#!/usr/bin/env bash
# Installs the Python packages the tests need into a venv of their own:
#   $KAA_INFRA_CACHE/venv   (default ~/.cache/kaa-rs/venv)
#   thrift        Python's Thrift runtime, for the interop test (tests/python/thrift_client.py).
#                 PyPI has no thrift 0.17 (the compiler's version); 0.20 runs 0.17-generated code
#                 and builds on current Pythons.
#   schemathesis  the property-based API tester the admin API test runs against the served
#                 OpenAPI 3.1 document (tests/tests/it/schemathesis.rs); 4.x reads OpenAPI 3.1 and
#                 needs Python 3.11 or newer.
# Idempotent and quiet when everything is there; `make test` calls it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

THRIFT_PY_VERSION=0.20.0
SCHEMATHESIS_VERSION=4.32.5
VENV="$KAA_INFRA_CACHE/venv"
PYTHON="$VENV/bin/python"

installed() {
  [ -x "$PYTHON" ] && [ -x "$VENV/bin/schemathesis" ] &&
    "$PYTHON" - "$THRIFT_PY_VERSION" "$SCHEMATHESIS_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import schemathesis  # noqa: F401
import thrift.protocol.TMultiplexedProtocol  # noqa: F401
sys.exit(version("thrift") != sys.argv[1] or version("schemathesis") != sys.argv[2])
PY
}

installed && exit 0
command -v python3 >/dev/null || { log "FAILED: python3 is needed (install Python 3)"; exit 1; }
if [ ! -x "$PYTHON" ]; then
  # Debian's python3 has no venv/ensurepip without python3-venv.
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  log "creating the test venv $VENV"
  python3 -m venv "$VENV"
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  log "FAILED: schemathesis $SCHEMATHESIS_VERSION needs Python 3.11+; $VENV has $("$PYTHON" --version 2>&1) (remove $VENV and install a newer python3)"
  exit 1
}
log "installing Python thrift==$THRIFT_PY_VERSION and schemathesis==$SCHEMATHESIS_VERSION into $VENV"
"$PYTHON" -m pip install --quiet --disable-pip-version-check \
  "thrift==$THRIFT_PY_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
installed || {
  log "FAILED: thrift==$THRIFT_PY_VERSION or schemathesis==$SCHEMATHESIS_VERSION does not work in $VENV"
  exit 1
}
