# `make demo` and `make test` work on a fresh machine: they create .venv and install
# everything into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# typescript, pinned in package-lock.json, checks the web UI (// @ts-check + JSDoc); no build.
NODE_STAMP := node_modules/.installed

.PHONY: setup test lint typecheck-ui vendor-ui unit demo bench soak clean

$(STAMP): Makefile pyproject.toml sdk/pyproject.toml agent/pyproject.toml server/pyproject.toml requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e ./sdk[yaml] -e ./agent[docker] -e ./server[embedded,s3] -r requirements-dev.txt
	# Bytecode written now, as pip does: under PYTHONDONTWRITEBYTECODE every process
	# would compile each module it imports, and the server's RSS would carry the
	# compiler's leftovers (10 MiB more at start; the 1 GiB S3 test measures it).
	$(BIN)/python -m compileall -q sdk/src agent/src server/src
	# uv compiles only what it installs; a .venv made before this line gets the rest here
	# (a few third-party files are other Pythons' syntax: those stay uncompiled).
	$(BIN)/python -m compileall -q -j0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') >/dev/null || true
	touch $@

setup: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Copy the chart library package.json pins into the UI's static files (after a version bump).
vendor-ui: $(NODE_STAMP)
	scripts/vendor-uplot.sh

typecheck-ui: $(NODE_STAMP)
	node_modules/.bin/tsc -p tsconfig.json

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint typecheck-ui
	scripts/ensure-chromium.sh
	sh scripts/ci-system-deps.sh
	$(BIN)/pytest --durations=25

unit: setup
	$(BIN)/pytest tests/unit

demo: setup
	$(BIN)/python scripts/demo.py

bench: setup
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/history.py
	$(BIN)/python bench/cli_start.py
	$(BIN)/python bench/reconnect.py
	$(BIN)/python bench/preemption.py

# The chaos soak (tests/soak): MINUTES of seeded faults, then every invariant checked.
MINUTES ?= 30
soak: setup
	$(BIN)/python -m tests.soak --minutes $(MINUTES) $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
