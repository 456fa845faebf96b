# Kelisim: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SAMPLE := samples/pilot-selection-2017.json

.PHONY: venv messages demo serve test test-postgres e2e bench load templates clean help

help:
	@echo "make demo   - install, migrate SQLite, run the 2017 cycle, create demo users, serve on 127.0.0.1:$(PORT)"
	@echo "make test   - the whole test suite (SQLite; PostgreSQL when DATABASE_URL=postgres://...)"

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Kelisim needs Python 3.11, found {sys.version.split()[0]} at {sys.executable}"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[test,load]'
	touch $@

venv: $(VENV)/.installed

# Interface translations: locale/*/LC_MESSAGES/django.po are the sources, the .mo files are built.
MO := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po
	@command -v msgfmt >/dev/null || { echo "msgfmt not found: install GNU gettext (Debian: apt-get install gettext)" >&2; exit 1; }
	msgfmt --check-format -o $@ $<

messages: $(MO)

demo: venv messages
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py run_cycle $(SAMPLE)
	$(PY) manage.py open_demo_round $(SAMPLE)
	$(PY) manage.py verify_audit
	$(PY) manage.py create_demo_users
	@echo "Kelisim is serving on http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	$(PY) manage.py runserver 127.0.0.1:$(PORT) --noreload

serve: venv messages
	$(PY) manage.py runserver 127.0.0.1:$(PORT) --noreload

test: venv messages
	$(PY) manage.py makemigrations --check --dry-run -v 0
	$(PY) -m pytest $(PYTEST_ARGS)

# The end-to-end test of the real stack (docs/operations.md): gunicorn in production mode, a
# Celery worker and beat on Redis, moto S3 and an SMTP sink, on a database of its own.
E2E_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
e2e: venv messages
	DATABASE_URL=$(E2E_DATABASE_URL) $(PY) -m pytest -m e2e -s $(PYTEST_ARGS)

# The scale check (docs/scale.md) runs at 10,000 cases (2,000 on SQLite) by default;
# BENCH_SCALE=1 make bench runs it at 100,000 cases and 2,000,000 audit entries (minutes).
bench: venv
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.load --if-reachable $(LOAD_ARGS)

# The load test alone (docs/load.md): the production stack as processes (PostgreSQL and Redis
# needed), 50 Locust users for 60 s; LOAD_ARGS="--run-time 120 --users 80" etc.
load: venv
	$(PY) -m bench.load $(LOAD_ARGS)

templates: venv
	$(PY) documents/templates_src/build.py

clean:
	rm -rf $(VENV) var .pytest_cache
