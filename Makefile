# otelvault — `make help` lists the targets.

CARGO ?= cargo
PYTHON ?= python3
VENV := .venv

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt clippy bench test-deps

help: ## List the targets.
	@grep -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

run: ## Run the local server (otelvault serve) on 127.0.0.1:4318 with the embedded store in ./otelvault-data.
	$(CARGO) run --release --locked -p otelvault -- serve

test: test-deps ## Format check, clippy, and every test (unit, conformance against a real S3 server, end to end).
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked

lint: fmt clippy ## Format check and clippy with warnings as errors.

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: ## Benchmarks; they print their figures (MB/s, requests/s, latency).
	$(CARGO) bench --locked -p otelvault-codec

test-deps: $(VENV)/.installed ## Install what the tests need (a Python venv with moto's S3 server).

$(VENV)/.installed: tests/requirements/s3.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements/s3.txt
	touch $@
