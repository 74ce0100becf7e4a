# The two commands for a fresh machine are `./start.sh start` and `make test`; both run `make setup`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The stamp names the hash of everything that decides the install, so a change re-installs and
# an unchanged tree makes `make setup` a no-op that takes well under a second.
SETUP_HASH := $(shell cat pyproject.toml tools/apt-packages.txt 2>/dev/null | sha1sum | cut -c1-12)
STAMP := $(VENV)/.setup-$(SETUP_HASH)

.PHONY: setup tools test lint typecheck unit bench clean

setup: $(STAMP) tools

$(STAMP):
	@tools/apt-install
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.setup-*; touch $(STAMP)
	@echo "setup: python environment ready in $(VENV)"

tools:
	@tools/install

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: setup lint typecheck unit

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
