#!/usr/bin/env bash
# Installs cargo-deny (pinned, into ~/.cargo/bin), with which `make deny` checks the dependency
# graph against deny.toml (licences, banned crates, sources, advisories). Idempotent and quiet when
# it is there; the Makefile's deny target calls it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_DENY_VERSION=0.20.2
cargo_install_pinned cargo-deny "$CARGO_DENY_VERSION"
