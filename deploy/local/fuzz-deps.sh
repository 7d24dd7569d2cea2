#!/usr/bin/env bash
# Installs what `make fuzz-smoke` and `make fuzz-long` need: cargo-fuzz (pinned, into ~/.cargo/bin),
# which builds the targets of idl/fuzz with libFuzzer's coverage instrumentation on the project's
# stable toolchain (rust-toolchain.toml; no nightly: the targets run without a sanitizer, see
# docs/decisions/028-fuzzing-and-dependency-policy.md), and a C++ compiler, with which libfuzzer-sys
# builds libFuzzer itself. Idempotent and quiet when everything is there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_FUZZ_VERSION=0.13.2
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

cargo_fuzz_ok() { "$CARGO_HOME/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; }

command -v c++ >/dev/null || apt_install g++
command -v c++ >/dev/null || { log "FAILED: no C++ compiler on PATH after installing g++"; exit 1; }
if ! cargo_fuzz_ok; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --quiet --locked --root "$CARGO_HOME" "cargo-fuzz@$CARGO_FUZZ_VERSION" \
    >"$KAA_INFRA_DIR/cargo-fuzz-install.log" 2>&1 \
    || fail_server cargo-fuzz "$KAA_INFRA_DIR/cargo-fuzz-install.log" "cargo install cargo-fuzz failed"
fi
cargo_fuzz_ok || { log "FAILED: no cargo-fuzz $CARGO_FUZZ_VERSION in $CARGO_HOME/bin after installing it"; exit 1; }
