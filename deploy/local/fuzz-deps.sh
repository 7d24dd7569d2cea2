#!/usr/bin/env bash
# Installs what `make fuzz-smoke` and `make fuzz-long` need: cargo-fuzz (pinned, into ~/.cargo/bin),
# which builds the targets of idl/fuzz with libFuzzer's coverage instrumentation on the project's
# stable toolchain (rust-toolchain.toml; no nightly: the targets run without a sanitizer, see
# docs/decisions/028-fuzzing-and-dependency-policy.md), and a C++ compiler, with which libfuzzer-sys
# builds libFuzzer itself. Idempotent and quiet when everything is there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_FUZZ_VERSION=0.13.2
command -v c++ >/dev/null || apt_install g++
command -v c++ >/dev/null || { log "FAILED: no C++ compiler on PATH after installing g++"; exit 1; }
cargo_install_pinned cargo-fuzz "$CARGO_FUZZ_VERSION"
