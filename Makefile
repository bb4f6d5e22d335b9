# otelvault — `make help` lists the targets.

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
PIP_INSTALL = bin/pip install --quiet --disable-pip-version-check
# build-lambda: arm64 (Graviton, the default) or x86_64.
ARCH ?= arm64
TF_DIR ?= terraform/examples/basic
# The package build-lambda writes (cargo lambda build --output-format zip) and deploy uploads.
LAMBDA_ZIP ?= target/lambda/otelvault/bootstrap.zip

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt clippy terraform-lint docs bench build-lambda deploy tf-plan tf-apply test-deps
MDBOOK_VERSION := 0.5.4

help: ## List the targets.
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

run: ## Run the local server (otelvault serve) on 127.0.0.1:4318 with the embedded store in ./otelvault-data.
	$(CARGO) run --release --locked -p otelvault -- serve

# Two tiers: `cargo test` alone runs what needs only Rust (unit, property and
# in-process tests, the memory and fs stores); `make test` adds the tests that
# need real components (the S3 conformance suite, ignored without a server,
# and the end-to-end tests behind the e2e feature), after installing them.
test: test-deps ## Format check, clippy, and every test (unit, conformance against a real S3 server, end to end).
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked --features otelvault/e2e -- -D warnings
	@mkdir -p target
	set -o pipefail; $(CARGO) test --workspace --locked --features otelvault/e2e -- --include-ignored 2>&1 | tee target/test-output.log
	set -o pipefail; tests/lambda-watch.sh 2>&1 | tee -a target/test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6 } /^lambda: / { p += $$2; f += $$4 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.log

lint: fmt clippy terraform-lint ## rustfmt, clippy -D warnings, terraform fmt -check and checkov.

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked --features otelvault/e2e -- -D warnings

terraform-lint: .venv-checkov/.installed
	terraform fmt -check -recursive terraform
	.venv-checkov/bin/checkov -d terraform --framework terraform --skip-download --compact --quiet

docs: .tools/bin/mdbook ## Build the book (docs/) into docs/book with mdBook; its links are checked by `cargo test -p otelvault --test docs`.
	.tools/bin/mdbook build docs

.tools/bin/mdbook:
	$(CARGO) install mdbook --version $(MDBOOK_VERSION) --locked --root .tools

bench: .venv-bench/.installed ## Benchmarks; they print their figures (codec MB/s; ingest CPU/MiB, requests/s, latency, RSS, start time, forwarding on vs off, gRPC vs HTTP, EMF off vs on, Tempo search raw vs compacted; EMF conversion MiB/s; archive reads vs DuckDB; compaction: Parquet size, throughput, DuckDB over raw and Parquet; the tier's bytes per column on production-like traffic).
	$(CARGO) bench --locked -p otelvault-codec
	$(CARGO) bench --locked -p otelvault-emf
	$(CARGO) bench --locked -p otelvault --bench ingest
	$(CARGO) bench --locked -p otelvault-archive --bench query
	MALLOC_ARENA_MAX=$$(nproc) $(CARGO) bench --locked -p otelvault-archive --bench compact  # the library on glibc malloc, one arena per core (the binary uses jemalloc)
	$(CARGO) bench --locked -p otelvault-archive --bench tier

build-lambda: ## Build the Lambda package target/lambda/otelvault/bootstrap.zip with cargo-lambda (ARCH=arm64|x86_64; arm64 needs the aarch64-unknown-linux-gnu target and a linker, which cargo-lambda brings via zig).
	$(CARGO) lambda build --release --locked -p otelvault --output-format zip $(if $(filter arm64,$(ARCH)),--arm64,--x86-64)

deploy: ## Deploy the built package (LAMBDA_ZIP, default target/lambda/otelvault/bootstrap.zip) to the API function with lambroll; every setting comes from the terraform state of TF_DIR.
	@test -f $(LAMBDA_ZIP) || { echo "no $(LAMBDA_ZIP): run make build-lambda first" >&2; exit 2; }
	cd lambroll && lambroll deploy --tfstate ../$(TF_DIR)/terraform.tfstate --src $(abspath $(LAMBDA_ZIP)) --function function.jsonnet

tf-plan: ## terraform init and plan in TF_DIR (default terraform/examples/basic).
	cd $(TF_DIR) && terraform init -input=false && terraform plan -input=false

tf-apply: ## terraform apply in TF_DIR.
	cd $(TF_DIR) && terraform apply -input=false

test-deps: $(VENV)/.installed .venv-bench/.installed .venv-otel-proto/.installed .venv-otel-json/.installed .venv-sql/.installed java tests/node/node_modules/.installed samples/sdk/node/node_modules/.installed ## Install what the tests need: moto's S3 server, cargo-lambda's emulator, DuckDB, Spark and a Java runtime, the OpenTelemetry Python and Node.js SDK exporters.

$(VENV)/.installed: tests/requirements/s3.txt tests/requirements/lambda.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/$(PIP_INSTALL) -r tests/requirements/s3.txt -r tests/requirements/lambda.txt
	touch $@

# The two Python exporters need separate venvs: their pinned dependencies conflict.
.venv-otel-proto/.installed: samples/sdk/python/requirements.txt
	$(PYTHON) -m venv .venv-otel-proto
	.venv-otel-proto/$(PIP_INSTALL) -r $<
	touch $@

.venv-otel-json/.installed: tests/requirements/otel-json.txt
	$(PYTHON) -m venv .venv-otel-json
	.venv-otel-json/$(PIP_INSTALL) --pre -r $<
	touch $@

.venv-sql/.installed: tests/requirements/sql.txt
	$(PYTHON) -m venv .venv-sql
	.venv-sql/$(PIP_INSTALL) -r $<
	touch $@

# Spark needs a Java runtime: Debian's, when the machine has none.
.PHONY: java
java:
	@command -v java >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq openjdk-17-jre-headless; }

.venv-checkov/.installed: tests/requirements/checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/$(PIP_INSTALL) -r $<
	touch $@

.venv-bench/.installed: tests/requirements/bench.txt
	$(PYTHON) -m venv .venv-bench
	.venv-bench/$(PIP_INSTALL) -r $<
	touch $@

# The registry is the only network these installs need; a dropped connection
# is retried (npm's own fetch retries, then the whole install twice more), and
# a last failure prints the end of npm's own log so the cause is on screen.
%/node_modules/.installed: %/package.json %/package-lock.json
	cd $* && for try in 1 2 3; do \
	  npm ci --no-audit --no-fund --loglevel=error --fetch-retries=5 --logs-dir="$(CURDIR)/target/npm-logs" && break; \
	  if [ $$try = 3 ]; then tail -n 40 "$$(ls -t "$(CURDIR)"/target/npm-logs/*.log | head -1)"; exit 1; fi; \
	  echo "npm ci failed (try $$try of 3); retrying in 15 s"; sleep 15; \
	done
	touch $@
