# Everyday commands. `make test` is the one command that runs every test on a fresh machine:
# it installs what the build and the tests need (deploy/local/build-deps.sh, python-deps.sh),
# installs and starts the real servers (deploy/local/infra.sh), then runs the suite.
CARGO ?= cargo

.PHONY: build fmt lint test unit build-deps python-deps infra-up infra-down bench standalone

# Debian packages the build needs: thrift-compiler, for idl/build.rs.
build-deps:
	deploy/local/build-deps.sh

# Python packages the tests run (thrift for the interop test, schemathesis against the admin
# API's OpenAPI document), in a venv under ~/.cache/kaa-rs.
python-deps:
	deploy/local/python-deps.sh

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

test: build-deps python-deps infra-up
	$(CARGO) test --workspace --locked

# Pure-logic tests only: no servers needed.
unit: build-deps
	$(CARGO) test --workspace --locked --lib --bins

bench: build-deps
	$(CARGO) bench --workspace --locked

standalone: build-deps
	$(CARGO) run --release --locked --bin kaa-node -- standalone
