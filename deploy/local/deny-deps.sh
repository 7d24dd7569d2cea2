#!/usr/bin/env bash
# Installs cargo-deny (pinned, into ~/.cargo/bin), with which `make deny` checks the dependency
# graph against deny.toml (licences, banned crates, sources, advisories). Idempotent and quiet when
# it is there; the Makefile's deny target calls it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_DENY_VERSION=0.20.2
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

cargo_deny_ok() { "$CARGO_HOME/bin/cargo-deny" --version 2>/dev/null | grep -q " $CARGO_DENY_VERSION\$"; }

if ! cargo_deny_ok; then
  log "installing cargo-deny $CARGO_DENY_VERSION"
  cargo install --quiet --locked --root "$CARGO_HOME" "cargo-deny@$CARGO_DENY_VERSION" \
    >"$KAA_INFRA_DIR/cargo-deny-install.log" 2>&1 \
    || fail_server cargo-deny "$KAA_INFRA_DIR/cargo-deny-install.log" "cargo install cargo-deny failed"
fi
cargo_deny_ok || { log "FAILED: no cargo-deny $CARGO_DENY_VERSION in $CARGO_HOME/bin after installing it"; exit 1; }
