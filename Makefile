# Every routine command of the project. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format bench lock image-check clean

# Installs come from the lock file (every version and hash pinned); `make lock` regenerates it.
$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Newsbot needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)  ## Start the bot and the feed scheduler (needs TELEGRAM_BOT_TOKEN)
	$(BIN)/newsbot run

test: $(STAMP)  ## Install and run the test suite
	$(BIN)/python -m pytest

lint: $(STAMP)  ## Style and static checks; the Dockerfile (hadolint) and docker-compose.yml (schema)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)  ## Run every benchmark in bench/ and print figures beside their targets
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

LOCK := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: $(STAMP)  ## Re-pin every dependency after a change to pyproject.toml
	$(LOCK) --output-file requirements/run.lock pyproject.toml
	$(LOCK) --extra test --extra lint --extra bench --extra data --output-file requirements/dev.lock pyproject.toml

image-check:  ## The Dockerfile's install steps in a fresh venv, then newsbot as uid 10001 (no Docker needed)
	deploy/check-image-steps.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
