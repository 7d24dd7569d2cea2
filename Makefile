# Everyday commands. `make test` is the one command that runs every test on a fresh machine:
# it installs and starts the real servers first (deploy/local/infra.sh), then runs the suite.
CARGO ?= cargo

.PHONY: build fmt lint test unit infra-up infra-down bench standalone

build:
	$(CARGO) build --workspace --locked

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

infra-up:
	deploy/local/infra.sh up

infra-down:
	deploy/local/infra.sh down

test: infra-up
	$(CARGO) test --workspace --locked

# Pure-logic tests only: no servers needed.
unit:
	$(CARGO) test --workspace --locked --lib --bins

bench:
	$(CARGO) bench --workspace --locked

standalone:
	$(CARGO) run --release --locked --bin kaa-node -- standalone
