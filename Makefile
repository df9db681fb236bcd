# Set-up and everyday commands. `make run` serves the portal; `make test` runs the whole suite.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
WEB_CONCURRENCY ?= 2
export FLASK_APP := portal

.PHONY: run test bench install lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load --quiet
	@echo "\nServing the portal at http://127.0.0.1:$(PORT) (Ctrl-C stops it)\n"
	$(BIN)/gunicorn --workers $(WEB_CONCURRENCY) --threads 4 --bind 127.0.0.1:$(PORT) wsgi:app

# The Nu HTML checker for the browser tests, from the npm registry (needs npm and Java to run;
# without them the browser tests say so and skip, outside CI).
VNU_JAR := build/tools/node_modules/vnu-jar/build/dist/vnu.jar
$(VNU_JAR):
	-npm install --silent --no-save --no-audit --no-fund --prefix build/tools vnu-jar@26.9.27

# The suite on SQLite, then again on PostgreSQL when TEST_DATABASE_URL names a server.
test: install $(VNU_JAR)
	@mkdir -p build/test-results
	$(BIN)/python -m pytest -n auto --junitxml=build/test-results/sqlite.xml $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "\n== The same suite on PostgreSQL ==\n"; \
		PORTAL_TEST_BACKEND=postgresql $(BIN)/python -m pytest -n auto \
			--junitxml=build/test-results/postgresql.xml $(PYTEST_ARGS); \
	else \
		echo "\nTEST_DATABASE_URL is not set: the PostgreSQL run was skipped."; \
	fi

# The load benchmark (bench/run.py): 100,000 ideas on SQLite, or on DATABASE_URL's PostgreSQL.
bench: install
	@command -v wrk >/dev/null || { echo "make bench needs wrk: sudo apt-get install wrk"; exit 2; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Style (ruff), the layers between packages (import-linter, contracts in pyproject.toml) and the
# types (mypy over portal/, settings in pyproject.toml).
lint: install
	$(BIN)/ruff check portal tests bench wsgi.py
	$(BIN)/ruff format --check portal tests bench wsgi.py
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff format portal tests bench wsgi.py
	$(BIN)/ruff check --fix portal tests bench wsgi.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
