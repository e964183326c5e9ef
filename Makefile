# Two set-up commands: `make demo` publishes the sample content, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
DOVECOT ?= /usr/sbin/dovecot

.PHONY: demo test lint install browser imap axe messages clean

$(BIN)/publisher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q publisher  # as a wheel install does; stale files are never used
	touch $@

install: $(BIN)/publisher

demo: install
	$(BIN)/publisher publish

# Debian packages that one test each needs: Chromium for the browser test (a test tool's own
# browser download does not work everywhere) and Dovecot for the IMAP test. Installed when
# missing and we may. When apt-get cannot (no root, a held dpkg lock, no network) only that
# test is skipped; under CI the install must succeed.
# $(call debian_package,EXECUTABLE,PACKAGE,TEST)
define debian_package
	@if [ ! -x "$(1)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
			&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; then \
			:; \
		elif [ -n "$$CI" ]; then \
			echo "error: could not install Debian's $(2), which $(3) needs" >&2; exit 1; \
		else \
			echo "note: could not install Debian's $(2) (apt-get failed or needs root); $(3) will be skipped"; \
		fi; \
	fi
endef

browser:
	$(call debian_package,$(CHROMIUM),chromium,the browser test)

imap:
	$(call debian_package,$(DOVECOT),dovecot-imapd,the IMAP test)

# axe-core, the accessibility checker the browser test injects into each page, from npm into
# node_modules/ (gitignored). Without npm (or the registry) the accessibility checks are skipped
# with a note; under CI they must run.
AXE := node_modules/axe-core/axe.min.js
axe:
	@if [ ! -f "$(AXE)" ]; then \
		if command -v npm >/dev/null && npm install --no-save --no-audit --no-fund --silent axe-core@4 >/dev/null; then \
			:; \
		elif [ -n "$$CI" ]; then \
			echo "error: could not install axe-core with npm, which the accessibility test needs" >&2; exit 1; \
		else \
			echo "note: could not install axe-core (npm missing or failed); the accessibility checks will be skipped"; \
		fi; \
	fi

# The catalogs after a change of wording: extract every string, then merge it into locales/*/.
# Translate what is new or fuzzy; tests/test_i18n.py fails until every string is translated.
messages: install
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project publisher -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-location --width 120

test: install browser imap axe
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .publisher .pytest_cache .hypothesis .mypy_cache node_modules test-output
