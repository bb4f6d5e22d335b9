# otelvault — `make help` lists the targets.

SHELL := /bin/bash
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
	@mkdir -p target
	set -o pipefail; $(CARGO) test --workspace --locked 2>&1 | tee target/test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log

lint: fmt clippy ## Format check and clippy with warnings as errors.

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: ## Benchmarks; they print their figures (codec MB/s; ingest CPU/MiB, requests/s, latency, RSS, start time).
	$(CARGO) bench --locked -p otelvault-codec
	$(CARGO) bench --locked -p otelvault --bench ingest

test-deps: $(VENV)/.installed .venv-otel-proto/.installed .venv-otel-json/.installed tests/node/node_modules/.installed ## Install what the tests need: moto's S3 server, the OpenTelemetry Python and Node.js SDK exporters.

PIP_INSTALL = bin/pip install --quiet --disable-pip-version-check

$(VENV)/.installed: tests/requirements/s3.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/$(PIP_INSTALL) -r $<
	touch $@

# The two Python exporters need separate venvs: their pinned dependencies conflict.
.venv-otel-proto/.installed: tests/requirements/otel-proto.txt
	$(PYTHON) -m venv .venv-otel-proto
	.venv-otel-proto/$(PIP_INSTALL) -r $<
	touch $@

.venv-otel-json/.installed: tests/requirements/otel-json.txt
	$(PYTHON) -m venv .venv-otel-json
	.venv-otel-json/$(PIP_INSTALL) --pre -r $<
	touch $@

tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@
