# Every target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.example.yaml
TEST_WORKERS ?= auto

.PHONY: run test bench lint clean docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/engine serve --config $(CONFIG)

test: $(STAMP)
	$(BIN)/ruff check engine tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/engine validate --config $(CONFIG)
	$(BIN)/engine test --config $(CONFIG)
	rm -f .coverage .coverage.*
	# one worker per core (pytest-xdist), a test module to a worker; at the lowest CPU priority,
	# the processor's (docs/performance.md), so that a daemon one test starts is not starved by
	# the other workers while the test waits for it to apply
	COVERAGE_FILE=$(CURDIR)/.coverage nice -n 19 $(BIN)/coverage run -m pytest \
		-n $(TEST_WORKERS) --dist loadfile
	# processes the crash tests kill -9 leave partial data files: combine names and skips them
	$(BIN)/coverage combine --quiet
	$(BIN)/python .ci/coverage_packages.py

bench: $(STAMP)
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/export.py
	$(BIN)/python bench/scale.py

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .engine .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .coverage .coverage.*

docs: $(STAMP)
	$(BIN)/python -m engine.lang.docs docs/functions.md
	$(BIN)/python -m engine.lang.parser grammar/lql.tables
