# The two everyday commands, `make dev` and `make test`; see localstack/ for what
# they run. Everything the stack needs is installed into .local/ (git-ignored) by
# localstack/install.sh: a fresh machine needs only Rust, Java 17, Python with pip,
# and Node with npm.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The tools from localstack/install.sh (nats-server, cargo lambda, cfn-lint, kubectl)
# come first on PATH.
export PATH := $(CURDIR)/.local/venv/bin:$(PATH)
export AWS_EC2_METADATA_DISABLED := true

# make test: its own stack, so it never collides with a running `make dev`; the
# functions on 19000 (HTTPS, for kubectl) and 19001 (HTTP).
TEST_STACK := --dir .local/test --dynamo-port 18000 --nats-port 14222 --lambda-port 19000 --table milo-e2e
# The end-to-end tests (tests/e2e) get a fresh stack of their own: DynamoDB Local
# slows with every table the in-process tests leave in it (one per test, each
# with its stream), and a full run had made the e2e tests three times slower.
E2E_STACK := --dir .local/e2e --dynamo-port 18200 --nats-port 14422 --lambda-port 19200 --table milo-e2e
# make conformance (the end of make test): Milo's Chainsaw suites, run as written from
# ../shared/milo/suites, on a stack of their own. Their kubeconfigs and scripts speak to
# https://localhost:30443, where the runner listens (tests/conformance/src/proxy.rs).
CONFORMANCE_STACK := --dir .local/conformance --dynamo-port 18100 --nats-port 14322 --lambda-port 19100 --table milo-conformance
SUITES ?= ../shared/milo/suites
# make bench: same again on other ports. The benchmarks drive the API (and the events
# consumer) in-process over DynamoDB Local (and nats-server), so no function is served;
# the cold-start bench runs the release binaries itself, against a fake Runtime API.
BENCH_STACK := --dir .local/bench --dynamo-port 28000 --nats-port 24222 --table milo-bench

.PHONY: help install dev stop test conformance bench bench-iam bench-gc bench-feed bench-apply lint cfn-lint

help:
	@echo "make dev     local stack: DynamoDB Local :8000, NATS :4222, API on :9000 (HTTPS) and :9001 (HTTP);"
	@echo "             writes .local/kubeconfig; Ctrl-C stops it"
	@echo "make test    cfn-lint, rustfmt check, cargo test --workspace against a private stack, then"
	@echo "             make conformance"
	@echo "make conformance  Milo's Chainsaw suites (../shared/milo/suites) against a private stack,"
	@echo "             checked against tests/conformance/manifest.yaml"
	@echo "make bench   the benchmark against a private stack"
	@echo "make bench-iam  the authorization benchmark alone (docs/benchmarks.md)"
	@echo "make bench-gc   the deletion benchmark alone (docs/benchmarks.md)"
	@echo "make bench-feed the change feed and watch benchmark alone (docs/benchmarks.md)"
	@echo "make bench-apply the server-side apply benchmark alone (docs/benchmarks.md)"
	@echo "make lint    rustfmt check and clippy -D warnings"
	@echo "make stop    stop a dev stack left running"

install:
	bash localstack/install.sh

dev: install
	bash localstack/dev.sh

stop:
	bash localstack/stop.sh .local/dev

cfn-lint: install
	cfn-lint infra/template.yaml

# The in-process tests and the end-to-end tests each run whatever the other
# did; the target fails if either failed.
test: install cfn-lint
	cargo fmt --all -- --check
	status=0; \
	bash localstack/with-stack.sh $(TEST_STACK) -- cargo test --workspace --exclude e2e --no-fail-fast || status=1; \
	bash localstack/with-stack.sh $(E2E_STACK) -- cargo test -p e2e --no-fail-fast || status=1; \
	exit $$status
	$(MAKE) --no-print-directory conformance

conformance: install
	cargo build -p conformance
	bash localstack/with-stack.sh $(CONFORMANCE_STACK) -- target/debug/conformance --suites $(SUITES)

# Each benchmark gets a fresh stack: DynamoDB Local's figures drift with what it has
# already served (docs/benchmarks.md).
bench: install
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin types_bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin ingest_bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin admission_bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin quota_bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin iam_bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin gc_bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin feed_bench
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin apply_bench
	cargo build --release -p resources -p events -p admission -p quota
	cargo build --release -p e2e --example hello_lambda
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin cold_start

bench-iam: install
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin iam_bench

bench-gc: install
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin gc_bench

bench-feed: install
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin feed_bench

bench-apply: install
	bash localstack/with-stack.sh $(BENCH_STACK) -- cargo run --release -p e2e --bin apply_bench

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
