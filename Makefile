# Everyday commands. `make test` is the one command that runs every test on a fresh machine:
# it installs what the build and the tests need (deploy/local/build-deps.sh, python-deps.sh),
# installs and starts the real servers (deploy/local/infra.sh), checks the dependency policy
# (deny.toml), then runs the suite, every fuzz target for a few seconds, then the admin UI's
# tests (Vitest, and a browser test in Chromium against a real kaa-node).
CARGO ?= cargo

.PHONY: build fmt lint test unit build-deps python-deps sdk-deps infra-up infra-down bench standalone ui ui-deps ui-test

# Debian packages the build needs: thrift-compiler, for idl/build.rs.
build-deps:
	deploy/local/build-deps.sh

# Python packages the tests run (thrift for the interop test, schemathesis against the admin
# API's OpenAPI document), in a venv under ~/.cache/kaa-rs.
python-deps:
	deploy/local/python-deps.sh

# Debian packages the generated SDKs' tests build with: CMake, mbedTLS, valgrind, Python's venv.
sdk-deps:
	deploy/local/sdk-deps.sh

build: build-deps
	$(CARGO) build --workspace --locked

fmt:
	$(CARGO) fmt --all

lint: build-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

infra-up:
	deploy/local/infra.sh up

infra-down:
	deploy/local/infra.sh down

# One full build, never rebuilt in place: no incremental-compilation data (gigabytes on disk
# that a single run never reads back).
test: export CARGO_INCREMENTAL = 0
test: build-deps python-deps sdk-deps infra-up
	$(MAKE) deny
	$(CARGO) test --workspace --locked
	$(MAKE) fuzz-smoke
	$(MAKE) ui-test
	$(MAKE) test-package
	$(MAKE) test-cluster

# The admin web UI (admin-ui/dist, served by Control at / on the admin port), rebuilt only when
# its sources changed; ui-deps installs Chromium for the browser test and the npm packages.
UI_SOURCES := $(shell find admin-ui/src -type f 2>/dev/null) $(wildcard admin-ui/*.json admin-ui/*.ts admin-ui/index.html)
admin-ui/dist/index.html: $(UI_SOURCES)
	deploy/local/ui-deps.sh --npm-only
	cd admin-ui && npm run build

ui: admin-ui/dist/index.html

ui-deps:
	deploy/local/ui-deps.sh

ui-test: ui-deps ui
	cd admin-ui && npm test
	$(CARGO) build --locked --bin kaa-node
	cd admin-ui && npm run e2e

# Pure-logic tests only: no servers needed.
unit: build-deps
	$(CARGO) test --workspace --locked --lib --bins

bench: build-deps
	$(CARGO) bench --workspace --locked

standalone: build-deps admin-ui/dist/index.html
	$(CARGO) run --release --locked --bin kaa-node -- standalone

.PHONY: package-deps dist test-package test-cluster

# What packaging needs: cargo-deb (pinned), lintian, debootstrap, systemd-analyze.
package-deps:
	deploy/local/package-deps.sh

# Release artifacts from a clean checkout (deploy/package/build.sh): dist/kaa-node_<version>-1_amd64.deb
# (lintian: no errors) and dist/kaa-node-<version>-linux-x86_64.tar.gz. KAA_PACKAGE_REVISION=N sets
# the Debian revision; KAA_PACKAGE_PROFILE=dev packages the test build.
dist: build-deps package-deps
	deploy/package/build.sh

# The package on a fresh Debian 12 chroot: install, start from its unit, upgrade, remove, purge
# (deploy/package/test-install.sh; root). Packages the dev build, which `make test` has built.
test-package: build-deps package-deps
	deploy/package/test-install.sh

# The three-host test (tests/three-hosts/run.py; root): `make dist`'s package and a second revision
# of it (for the rolling upgrade) installed on three hosts made of network namespaces, set up as
# docs/install.md says; ZooKeeper and Cassandra from infra-up's installs. KAA_THREE_HOSTS_ENDPOINTS
# sets the number of simulated devices (300).
THREE_HOSTS_DIST := target/three-hosts-dist
test-cluster: dist infra-up
	$(CARGO) build --locked --bin kaa-node
	tests/three-hosts/setup-host-checks.sh
	rm -rf $(THREE_HOSTS_DIST)
	KAA_PACKAGE_NO_BUILD=1 KAA_PACKAGE_REVISION=2 KAA_DIST_DIR=$(THREE_HOSTS_DIST) deploy/package/build.sh
	$(CARGO) build --locked -p kaa-tests --bin kaa-fleet
	python3 tests/three-hosts/run.py --fleet target/debug/kaa-fleet \
	  --deb $$(ls dist/kaa-node_*-1_amd64.deb) --upgrade-deb $$(ls $(THREE_HOSTS_DIST)/kaa-node_*-2_amd64.deb)

.PHONY: bench-deps bench-scale

# Debian's python3-matplotlib (the bench's plots) and mosquitto (its idle-connection baseline).
bench-deps:
	deploy/local/bench-deps.sh

# The scale benchmarks (tests/bench-scale/run.py, under Debian's python3): builds the release
# kaa-node and kaa-loadgen, starts Cassandra, runs every scenario with its baseline, prints the
# figures and writes them to docs/benchmarks.md and docs/img/bench-*.png. BENCH_SCALE=smoke (the
# default, about 200 endpoints per mode) or full (the issue's numbers: 100,000 idle sessions).
bench-scale: build-deps bench-deps
	/usr/bin/python3 tests/bench-scale/run.py

.PHONY: fuzz-deps fuzz-smoke fuzz-long deny-deps deny audit

# cargo-fuzz (pinned) and a C++ compiler for libFuzzer; the targets build on the pinned stable
# toolchain, without a sanitizer (decision 028).
fuzz-deps:
	deploy/local/fuzz-deps.sh

# Every fuzz target of idl/fuzz for a few seconds (FUZZ_SECONDS, 8): fails on a crash, a panic, a
# slow input or a memory blow-up, keeping the input under idl/fuzz/artifacts/<target>/.
fuzz-smoke: build-deps fuzz-deps
	idl/fuzz/run.sh smoke

# Every fuzz target until 10 million executions each (FUZZ_RUNS; FUZZ_TARGETS="a b" for some):
# hours on two cores; counts and timings are recorded in docs/fuzzing.md.
fuzz-long: build-deps fuzz-deps
	idl/fuzz/run.sh long $(FUZZ_TARGETS)

# cargo-deny (pinned).
deny-deps:
	deploy/local/deny-deps.sh

# The dependency policy of deny.toml: licences, banned crates, sources (offline, deterministic).
deny: deny-deps
	$(CARGO) deny --locked check --hide-inclusion-graph licenses bans sources

# The dependency graph against the RustSec advisory database (fetched: its verdict changes as
# advisories are published, so it is not part of `make test`).
audit: deny-deps
	$(CARGO) deny --locked check advisories
