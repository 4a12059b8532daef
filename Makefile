# Every routine command of the project. `make run` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format bench lock i18n image-check clean

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

# The bot's texts: handlers/i18n.py says how they are marked; README "Languages" how to add one.
LOCALES := handlers/locales
I18N_LANGUAGES := uk ru de fr es
i18n: $(STAMP)  ## Extract the bot's texts, merge them into each language's catalog, compile them
	@mkdir -p build
	$(BIN)/pybabel --quiet extract -F babel.cfg --no-default-keywords -k _ -k ngettext:1,2 -k pgettext:1c,2 -k N_ -k N_plural:1,2 \
		--add-comments=Translators: \
		--add-location=file --sort-by-file --project=newsbot -o build/newsbot.pot handlers news
	@for lang in $(I18N_LANGUAGES); do \
		po=$(LOCALES)/$$lang/LC_MESSAGES/newsbot.po; \
		if [ -f $$po ]; then \
			$(BIN)/pybabel --quiet update --ignore-obsolete --ignore-pot-creation-date \
				-D newsbot -i build/newsbot.pot -d $(LOCALES) -l $$lang || exit 1; \
		else \
			$(BIN)/pybabel --quiet init -D newsbot -i build/newsbot.pot -d $(LOCALES) -l $$lang || exit 1; \
		fi; \
	done
	$(BIN)/pybabel compile --statistics -D newsbot -d $(LOCALES)

image-check:  ## The Dockerfile's install steps in a fresh venv, then newsbot as uid 10001 (no Docker needed)
	deploy/check-image-steps.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
