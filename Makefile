# The two commands: `make demo` (the local demo) and `make test` (the whole suite).
# Everything else is a step of those, or a convenience.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# xdist workers for the suite, each a session with a platform of its own (testplatform/scheduling.py);
# most of the suite waits on timers, so more workers than cores pay. -n 0 in PYTEST_ARGS: one process.
TEST_WORKERS ?= 3

export PYTHONPATH := tests
export CGO_ENABLED := 0

.PHONY: help venv lint node-prerequisites test unit integration platform demo bench e2e-kind clean

help:
	@echo "make demo      control plane + OpenBao + fake Astra + operator + examples, until Ctrl-C"
	@echo "make test      lint, then the whole test suite (sets everything up itself)"
	@echo "make lint      ruff + mypy (strict on operator/) + the import-linter layering contracts"
	@echo "make unit      unit tests only (no servers)"
	@echo "make platform  the control plane and OpenBao in the foreground, for use by hand"
	@echo "make bench     run the benchmarks in bench/"
	@echo "make e2e-kind  the integration suite against a kind cluster (needs Docker and kind)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

lint: venv
	$(BIN)/ruff check operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The node's Debian packages (runc, buildah, mmdebstrap): installed when root, else named.
node-prerequisites:
	@./hack/node-prerequisites.sh

test: lint node-prerequisites
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: venv node-prerequisites
	$(BIN)/pytest -n $(TEST_WORKERS) -m integration $(PYTEST_ARGS)

platform: venv node-prerequisites
	$(BIN)/python -m testplatform

demo: venv
	$(BIN)/python -m testplatform.demo

# The benchmarks (bench/README.md says how long each takes); chaos.py runs apart: make bench BENCHES=bench/chaos.py
# <name>_ARGS are a benchmark's arguments. lifecycle: one 10,000-token round with its rest, a restart
# and every token's renewal after it (issue 16's scale figures). The exit status is 1 if any failed.
BENCHES ?= bench/floor.py bench/lifecycle.py bench/astra_client.py
lifecycle_ARGS ?= --tokens 10000 --astra-rate-limit 1000 --sweep-interval 2m --idle-seconds 150 --restart \
	--renewals --round-ttl 18m
bench_args = $($(basename $(notdir $(1)))_ARGS)
bench: venv
	@failed=0; $(foreach b,$(BENCHES),echo "== $(b) $(call bench_args,$(b))"; \
		$(BIN)/python $(b) $(call bench_args,$(b)) || failed=1;) exit $$failed

e2e-kind: venv
	./hack/e2e-kind.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
