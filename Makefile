# One entry point for every task. Needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test lint openapi clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The OpenAPI linters (Spectral, Redocly), pinned in package-lock.json. Without npm their tests skip.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the OpenAPI lint tests will be skipped"; fi

## run: serve on http://127.0.0.1:$${PORT:-8000} (embedded Postgres unless DATABASE_URL is set)
run: $(STAMP)
	$(BIN)/proposals-api serve

## test: lint, check the OpenAPI document, run the whole test suite (real Postgres)
test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/proposals-api openapi --check
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

## openapi: regenerate openapi.yaml from the schemas
openapi: $(STAMP)
	$(BIN)/proposals-api openapi

clean:
	rm -rf $(VENV)
