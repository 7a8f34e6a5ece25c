# Accord. Two commands on a fresh machine with Python 3.11 and make:
#   make run    -> set up everything and run the web server + a worker with demo data
#   make test   -> set up everything and run the whole test suite (DATABASE_URL picks the database)
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ADDR ?= 127.0.0.1:8000
PYTEST_ARGS ?= -n 2

.PHONY: run test lint bench lock clean

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $(STAMP)

run: $(STAMP)
	@mkdir -p var
	DEBUG=$${DEBUG:-1} ACCORD_DEMO=$${ACCORD_DEMO:-1} $(PY) manage.py bootstrap --demo
	DEBUG=$${DEBUG:-1} ACCORD_DEMO=$${ACCORD_DEMO:-1} $(PY) manage.py serve --addr $(ADDR)

test: $(STAMP)
	@mkdir -p var
	sh bin/test-setup
	@if [ -f bin/test-setup-browser ]; then sh bin/test-setup-browser; fi
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

bench: $(STAMP)
	sh bench/run_all.sh

# Rebuild the pinned install set from pyproject.toml's ranges.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	$(PYTHON) bin/pyproject-deps > .lock-deps.txt
	.lock-venv/bin/pip install --quiet -r .lock-deps.txt
	(echo "# Fully pinned install set for Python 3.11, rebuilt by 'make lock' from pyproject.toml."; \
	 .lock-venv/bin/pip freeze) > requirements.lock
	rm -rf .lock-venv .lock-deps.txt

clean:
	rm -rf $(VENV) var/*.sqlite3*
