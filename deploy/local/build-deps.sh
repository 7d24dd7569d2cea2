#!/usr/bin/env bash
# Installs what building and testing kaa-rs needs besides Rust: the Apache Thrift compiler 0.17
# (Debian's `thrift-compiler`), which idl/build.rs runs (`thrift --gen rs`) on idl/thrift/*.thrift,
# and a JDK (`default-jdk-headless`), with which the endpoint-crypto interop test checks our
# session crypto against Java's javax.crypto, as Kaa's Java SDK uses it.
# Idempotent and quiet when everything is there; the Makefile's build, lint and test targets call it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

thrift_ok() { "${THRIFT:-thrift}" --version 2>/dev/null | grep -q 'version 0\.17\.'; }
java_ok() { command -v javac >/dev/null && command -v java >/dev/null; }

thrift_ok || apt_install thrift-compiler
thrift_ok || { log "FAILED: no thrift 0.17 compiler on PATH after installing thrift-compiler"; exit 1; }
java_ok || apt_install default-jdk-headless
java_ok || { log "FAILED: no javac/java on PATH after installing default-jdk-headless"; exit 1; }
