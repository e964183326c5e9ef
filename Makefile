# Two set-up commands: `make demo` publishes the sample content, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
DOVECOT ?= /usr/sbin/dovecot

.PHONY: demo test lint install browser imap clean

$(BIN)/publisher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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

test: install browser imap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .publisher .pytest_cache .hypothesis .mypy_cache
