#!/usr/bin/env bash
# Installs the Debian packages needed to build kaa-rs (not to run it): `thrift-compiler`, whose
# `thrift --gen rs` turns idl/thrift/*.thrift into Rust during `cargo build` (idl/build.rs).
# Idempotent and quiet when everything is there; the Makefile's build, lint and test targets call it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install thrift-compiler
command -v thrift >/dev/null || { log "FAILED: thrift-compiler installed but no thrift on PATH"; exit 1; }
