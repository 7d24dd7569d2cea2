#!/usr/bin/env bash
# Installs what building and running the generated SDKs in the tests needs, from Debian's
# packages: CMake and mbedTLS for the C SDK (the tests also run it under valgrind), and the venv
# module for the Python SDK, and `cryptography` for the python3 on PATH (the generator's unit
# tests run the generated Python with it). The Rust SDK needs only cargo. Idempotent and quiet when everything is
# there; the Makefile's test target calls it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mbedtls_ok() { [ -f /usr/include/mbedtls/rsa.h ] && ls /usr/lib/*/libmbedcrypto.so >/dev/null 2>&1; }
cmake_ok() { command -v cmake >/dev/null && command -v make >/dev/null && command -v cc >/dev/null; }
valgrind_ok() { command -v valgrind >/dev/null; }
venv_ok() { python3 -c 'import venv, ensurepip' 2>/dev/null; }
cryptography_ok() { python3 -c 'import cryptography' 2>/dev/null; }

mbedtls_ok || apt_install libmbedtls-dev
mbedtls_ok || { log "FAILED: no mbedTLS headers and libraries after installing libmbedtls-dev"; exit 1; }
cmake_ok || apt_install cmake make gcc
cmake_ok || { log "FAILED: no cmake/make/cc after installing cmake make gcc"; exit 1; }
valgrind_ok || apt_install valgrind
valgrind_ok || { log "FAILED: no valgrind after installing it"; exit 1; }
venv_ok || apt_install python3-venv
venv_ok || { log "FAILED: python3 has no venv/ensurepip after installing python3-venv"; exit 1; }
# Debian's python3 takes the Debian package; a python3 of its own (pyenv, say) takes it from PyPI.
cryptography_ok || apt_install python3-cryptography || true
cryptography_ok || python3 -m pip install -q --disable-pip-version-check cryptography
cryptography_ok || { log "FAILED: python3 cannot import cryptography"; exit 1; }
