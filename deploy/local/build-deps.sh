#!/usr/bin/env bash
# Installs what building kaa-rs needs besides Rust: the Apache Thrift compiler 0.17 (Debian's
# `thrift-compiler`), which idl/build.rs runs (`thrift --gen rs`) on idl/thrift/*.thrift.
# Idempotent and quiet when everything is there; the Makefile's build, lint and test targets call it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

thrift_ok() { "${THRIFT:-thrift}" --version 2>/dev/null | grep -q 'version 0\.17\.'; }

thrift_ok && exit 0
apt_install thrift-compiler
thrift_ok || { log "FAILED: no thrift 0.17 compiler on PATH after installing thrift-compiler"; exit 1; }
