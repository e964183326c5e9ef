# Two set-up commands: `make demo` publishes the sample content, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test lint install browser imap clean

$(BIN)/publisher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/publisher

demo: install
	$(BIN)/publisher publish

# The browser test drives Debian's Chromium (a test tool's own browser download does not work
# everywhere). Installed when missing and we may. When apt-get cannot (no root, a held dpkg lock,
# no network) only that test is skipped; under CI the install must succeed.
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
			&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then \
			:; \
		elif [ -n "$$CI" ]; then \
			echo "error: could not install Debian's chromium, which the browser test needs" >&2; exit 1; \
		else \
			echo "note: could not install Debian's chromium (apt-get failed or needs root); the browser test will be skipped"; \
		fi; \
	fi

# The IMAP test starts Debian's dovecot on 127.0.0.1 with a throw-away config: installed the same way.
imap:
	@if [ ! -x /usr/sbin/dovecot ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
			&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; then \
			:; \
		elif [ -n "$$CI" ]; then \
			echo "error: could not install Debian's dovecot-imapd, which the IMAP test needs" >&2; exit 1; \
		else \
			echo "note: could not install Debian's dovecot-imapd (apt-get failed or needs root); the IMAP test will be skipped"; \
		fi; \
	fi

test: install browser imap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .publisher .pytest_cache .hypothesis
