# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test test-pure test-browser check lint format services browser bench venv clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## make run: migrate, load demo data, serve the API with a Celery worker and beat (SQLite + filesystem broker).
run: venv
	@scripts/run.sh

## make check: ruff (lint + format), mypy, and makemigrations --check.
check: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

## make test: the checks above, then the whole suite against real PostgreSQL and Redis, with the
## staff UI's browser tests in real Chromium (installed first if missing). TEST_WORKERS pytest-xdist
## processes share the tests (each with its own test database and Redis db: tests/conftest.py);
## much of the suite waits on browsers, workers and locks, so two workers help even on two cores.
TEST_WORKERS ?= 2
test: venv services browser check
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## make test-browser: only the staff UI's browser tests (tests/ui, marked `browser`).
test-browser: venv services browser
	$(BIN)/pytest -q -m browser $(PYTEST_ARGS)

## make test-pure: only the tests marked pure (no database, no broker, no checks), in seconds.
test-pure: venv
	$(BIN)/pytest -q -m pure $(PYTEST_ARGS)

services:
	@scripts/services.sh

browser:
	@scripts/browser.sh

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: the benchmarks under bench/ (not part of make test).
bench: venv services
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf var .mypy_cache .ruff_cache
