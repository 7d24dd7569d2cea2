#!/usr/bin/env bash
# Installs what `make dist` and `make test-package` need besides the build itself: cargo-deb
# (pinned, into ~/.cargo/bin) to build the Debian package, lintian to check it, debootstrap for
# the fresh Debian 12 root the install test uses, and systemd's `systemd-analyze verify` for the
# unit files, and iproute2's `ip` for the three-host test's network namespaces. Idempotent and
# quiet when everything is there; the Makefile's dist, test-package and test-cluster targets call it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_DEB_VERSION=3.8.0
cargo_install_pinned cargo-deb "$CARGO_DEB_VERSION"
command -v lintian >/dev/null || apt_install lintian
command -v debootstrap >/dev/null || apt_install debootstrap
command -v systemd-analyze >/dev/null || apt_install systemd
command -v ip >/dev/null || apt_install iproute2
for tool in lintian debootstrap systemd-analyze ip; do
  command -v "$tool" >/dev/null || { log "FAILED: no $tool on PATH after installing it"; exit 1; }
done
