# dynamodb-triggers: build, test and run everything from here.
#   make dev      create .venv with the project and its pinned dev dependencies
#   make test     every test (Python, Terraform, security scan); installs what it needs
#   make package  build/handlers.zip, byte-identical across rebuilds of the same source
#   make dist     refresh the committed dist/handlers.zip (the module's default code)
#   make tag      tag HEAD vX.Y.Z (pyproject.toml's version; CHANGELOG.md and the README agree)
SHELL := /bin/bash
.DEFAULT_GOAL := help

# First interpreter that is Python 3.11+ (pyenv shims of absent versions fail the check).
PYTHON ?= $(shell for p in python3.12 python3.13 python3 python; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUILD := build
# Every Python process the targets start (pytest and its workers, the local endpoints, the
# functions' workers, checkov, the scripts) keeps its compiled bytecode in one cache inside
# the virtualenv, even where the environment sets PYTHONDONTWRITEBYTECODE (this machine's
# does): otherwise each of them compiles moto, pytest, hypothesis and the tests from source
# again (pytest's collection alone: 5.1 CPU-s per process without the cache, 1.7 with it).
# The checkout gets no __pycache__ folders.
export PYTHONDONTWRITEBYTECODE :=
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache
# Terraform and the AWS provider are Go programs whose heap is mostly the provider's schema,
# and at Go's default (GOGC=100) a third of `terraform test`'s CPU is its garbage collector
# scanning that heap again. GOGC=800 lets the heap grow 8x before a collection instead of 2x,
# and GOMEMLIMIT (a soft limit) collects sooner past 1.5 GiB: the plan-level suite takes 61
# CPU-s instead of 100 (75 at GOGC=400) on this machine, for a peak of 1.2 GB instead of 0.35
# per Terraform process. Set GOGC=100 (Go's default) where memory is short.
export GOGC ?= 800
export GOMEMLIMIT ?= 1536MiB
PYTEST_ARGS ?=
# pytest-xdist workers for `make py-test` (0: one process). Many tests mostly wait on moto,
# Terraform or the pollers, so more workers than cores pay off; tests that share a resource
# carry an xdist_group mark and run on one worker (--dist loadgroup).
PYTEST_WORKERS ?= 4

.PHONY: help dev test py-test lint package dist check-dist clean tag cache-server

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST) | head -40

# $(call venv,DIR,INSTALL ARGS): a virtualenv in DIR with INSTALL ARGS installed by uv (from
# PyPI, into the venv itself: several times faster than pip), or by pip when uv cannot be
# installed or fails (it does not read pip's configuration: a mirror only pip knows, say).
# Another virtualenv than .venv is made by .venv's uv when it has one, without pip (the scan's:
# 0.8 s instead of 5.4).
UV_VERSION := 0.13.9
define venv
	@test -n "$(PYTHON)" || { echo "error: Python 3.11+ not found (set PYTHON=...)" >&2; exit 1; }
	@if [ "$(1)" != "$(VENV)" ] && [ -x $(VENV)/bin/uv ] \
		&& $(VENV)/bin/uv venv --quiet --allow-existing --python $(PYTHON) $(1) \
		&& $(VENV)/bin/uv pip install --quiet --python $(1)/bin/python $(2); then :; else \
	echo "$(PYTHON) -m venv $(1)" && $(PYTHON) -m venv $(1) || exit 1; \
	if $(1)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
		&& $(1)/bin/uv pip install --quiet --python $(1)/bin/python $(2); then :; else \
		echo "uv is not usable here: installing with pip" >&2; \
		$(1)/bin/python -m pip install --quiet --upgrade pip \
		&& $(1)/bin/python -m pip install --quiet $(2); fi; fi
endef

$(STAMP): requirements-dev.txt pyproject.toml
	$(call venv,$(VENV),-r requirements-dev.txt -e .)
	@touch $@

dev: $(STAMP)

package: $(BUILD)/handlers.zip

$(BUILD)/handlers.zip: $(shell find handlers -name '*.py' 2>/dev/null) scripts/package.py requirements-handlers.txt \
		| $(if $(TEST_RUN),$(STAMP))
	@mkdir -p $(BUILD)
	$(or $(wildcard $(PY)),$(PYTHON)) scripts/package.py handlers $@

dist: $(BUILD)/handlers.zip
	@mkdir -p dist
	cp $(BUILD)/handlers.zip dist/handlers.zip

lint: $(STAMP)
	$(PY) scripts/readme.py --check
	$(PY) scripts/release.py check
	$(BACKGROUND) $(VENV)/bin/ruff check handlers ddbt bench tests scripts
	$(BACKGROUND) $(VENV)/bin/ruff format --check handlers
	$(BACKGROUND) $(VENV)/bin/mypy

# The cache processor's tests need a real Valkey/Redis server: found, or unpacked from
# Debian's packages into build/cache-server (ddbt/local/cacheserver.py).
cache-server: $(STAMP)
	$(PY) -m ddbt.local.cacheserver install

# In `make test` (TEST_RUN=1) the Python tests also wait for terraform init: some of them
# plan against the root module.
py-test: $(STAMP) package cache-server $(if $(TEST_RUN),tf-init)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=10 \
		$(PYTEST_ARGS)

# Everything at once, each part as soon as what it needs is there: terraform init and the
# virtualenv first, the plan-level Terraform tests as soon as init is done (while the
# virtualenv is made: one core was idle then), the Python tests as soon as the virtualenv,
# the zip and the cache server are (never waiting for a job slot: they are the longest part),
# the lint and the scan alongside. The Python tests mostly wait on moto, Terraform and the
# pollers, and the rest fills the gaps. Each part's output is printed whole when it ends.
TEST_JOBS ?= 8
# The parts whose end nothing waits for (the plan-level Terraform tests, the scan, mypy) run
# at a lower priority in `make test`: the Python tests, the longest part, get the cores when
# both want them (their workers collected for 26 s, behind these), and these take the cores
# whenever every Python test is waiting on a timer or on Terraform. (At nice 10, terraform
# test got so little that it ended 12 to 18 s after the Python tests.)
BACKGROUND := $(if $(TEST_RUN),nice -n 5)

test:
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target TEST_RUN=1 \
		py-test tf-test lint

tag: $(STAMP)
	$(PY) scripts/release.py tag

clean:
	rm -rf $(BUILD) .pytest_cache .mypy_cache .ruff_cache .hypothesis

-include mk/*.mk
