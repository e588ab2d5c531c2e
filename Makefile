# GovFlow — see README.md "Commands".
#   make run    create .venv, install the package and the npm assets, init the demo
#               database and serve http://127.0.0.1:$(PORT) (default 8000)
#   make test   install what the tests need (PostgreSQL, Chromium, .venv, assets)
#               and run ruff and the whole pytest suite; nothing may be skipped
#   make lint   ruff only
#   make clean  remove the venv, node_modules, built assets and caches

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := service/web/static/vendor
NPM_STAMP := node_modules/.package-lock.json
PYTEST_ARGS ?=

.PHONY: help run test lint assets system-deps venv clean

help:
	@echo "make run     serve GovFlow with the demo organisation (SQLite by default)"
	@echo "make test    install test dependencies and run ruff + pytest (PYTEST_ARGS=...)"
	@echo "make lint    ruff check"
	@echo "make assets  npm ci + copy front-end packages into $(VENDOR)/"
	@echo "make clean   remove .venv, node_modules, $(VENDOR)/ and caches"

# --- Python environment ------------------------------------------------------
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv $(VENV): $(STAMP)

# --- front-end assets (npm, lock file) ----------------------------------------
# npm ci writes node_modules/.package-lock.json: it is older than the lock file
# (or missing) exactly when node_modules must be reinstalled.
$(NPM_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund
	touch $@

assets: $(NPM_STAMP)
	bash scripts/build-assets.sh

# --- system packages (PostgreSQL, Chromium) -----------------------------------
system-deps:
	bash scripts/install-system-deps.sh

# --- commands ---------------------------------------------------------------
run: $(STAMP) assets
	$(BIN)/govflow init --demo
	$(BIN)/govflow serve

lint: $(STAMP)
	$(BIN)/ruff check service workflows tests bench testing

test: system-deps $(STAMP) assets
	$(BIN)/ruff check service workflows tests bench testing
	GOVFLOW_REQUIRE_ALL=1 $(BIN)/pytest -q -rs $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules $(VENDOR) build *.egg-info .pytest_cache .ruff_cache tests/artifacts
	find . -name __pycache__ -type d -not -path './node_modules/*' -prune -exec rm -rf {} +
