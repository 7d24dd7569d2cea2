#!/usr/bin/env bash
# Installs what building and testing the admin UI (admin-ui/) needs besides Node.js and npm:
# Debian's Chromium, which the browser test drives through playwright-core (Playwright's own
# browser download does not work here), and the UI's npm packages (`npm ci`, from
# package-lock.json). Idempotent and quiet when everything is there. `make ui-test` and `make test`
# call it; `--npm-only` (from `make ui` and `make standalone`) skips Chromium.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v npm >/dev/null || { log "FAILED: npm is not on PATH (install Node.js 20+ with npm)"; exit 1; }
if [ "${1:-}" != --npm-only ]; then
  [ -x /usr/bin/chromium ] || apt_install chromium
  [ -x /usr/bin/chromium ] || { log "FAILED: no /usr/bin/chromium after installing chromium"; exit 1; }
fi

ui="$REPO_ROOT/admin-ui"
# npm ci only when node_modules is missing or older than the lock file.
if [ ! -f "$ui/node_modules/.package-lock.json" ] || [ "$ui/package-lock.json" -nt "$ui/node_modules/.package-lock.json" ]; then
  log "npm ci in admin-ui"
  (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
