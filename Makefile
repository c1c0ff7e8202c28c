# One entry point for every task. Needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --quiet --disable-pip-version-check
# `compat` editable mode: a plain path entry, without setuptools' warning box about folders named like the package.
EDITABLE := --config-settings editable_mode=compat
SERVE_STAMP := $(VENV)/.installed-serve
TEST_STAMP := $(VENV)/.installed-test
NODE_STAMP := node_modules/.installed

.PHONY: run test test-fast test-deps lint openapi clean

$(VENV)/bin/python:
	@$(PYTHON) -m venv $(VENV)

# What serving needs, and nothing else: `make run` on a new machine installs only this.
$(SERVE_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "installing the service's dependencies into $(VENV) (first run only)"
	@$(PIP) -e . $(EDITABLE)
	@touch $@

# The test tools (pytest, schemathesis, playwright, ruff, …) on top, for `make test`.
$(TEST_STAMP): $(SERVE_STAMP)
	@echo "installing the test tools into $(VENV) (first run only)"
	@$(PIP) -e '.[test]' $(EDITABLE)
	@touch $@

# The OpenAPI linters (Spectral, Redocly), pinned in package-lock.json. Without npm their tests skip.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the OpenAPI lint tests will be skipped"; fi

## run: serve on http://127.0.0.1:$${PORT:-8000} (embedded Postgres unless DATABASE_URL is set)
run: $(SERVE_STAMP)
	@$(BIN)/proposals-api serve

## test: lint, check the OpenAPI document, run the whole test suite (real Postgres)
test: $(TEST_STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/proposals-api openapi --check
	$(BIN)/pytest

## test-fast: the in-process tests only (no server, no other processes), for the edit-run loop
test-fast: $(TEST_STAMP)
	$(BIN)/pytest -m "not slow"

test-deps: $(TEST_STAMP) $(NODE_STAMP)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

## openapi: regenerate openapi.yaml from the schemas
openapi: $(SERVE_STAMP)
	$(BIN)/proposals-api openapi

clean:
	rm -rf $(VENV)
