# The two commands: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

ASSETS := workspace/static/dist/age.js
AXE := $(VENV)/share/axe-core/axe.min.js

.PHONY: run test bench loadtest install assets lint clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The browser bundle (age encryption for uploads), built from npm packages; no CDN.
$(ASSETS): package.json package-lock.json frontend/age.js
	@command -v npm >/dev/null || { echo "Node.js with npm is required to build the front-end bundle"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent build

# axe-core for the accessibility checks in tests/e2e, from npm into the venv's tree.
$(AXE): $(ASSETS) $(STAMP)
	mkdir -p $(dir $(AXE))
	cp node_modules/axe-core/axe.min.js $(AXE)

assets: $(ASSETS)

install: $(STAMP) $(ASSETS) $(AXE)

run: install
	DJANGO_DEBUG=1 $(PY) manage.py migrate --no-input -v 0
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo --if-empty
	@echo ""
	@echo "  Workspace: http://$(HOST):$(PORT)/"
	@echo ""
	DJANGO_DEBUG=1 DJANGO_ALLOWED_ORIGINS=http://$(HOST):$(PORT),http://localhost:$(PORT) \
	  $(VENV)/bin/daphne -b $(HOST) -p $(PORT) workspace.asgi:application

# Pass 1: laptop defaults (SQLite, in-memory layer). Pass 2: PostgreSQL and Redis when
# DATABASE_URL / REDIS_URL are set (CI sets them); without them, those tests skip and say why.
test: install
	env -u DATABASE_URL -u DATABASE_OWNER_URL -u REDIS_URL $(PY) -m pytest -m "not postgres and not redis" -p no:cacheprovider
	if [ -n "$$DATABASE_URL$$REDIS_URL" ]; then \
	  $(PY) -m pytest -m "not e2e" -p no:cacheprovider; \
	else \
	  $(PY) -m pytest -m "postgres or redis" -p no:cacheprovider; \
	fi

bench: install
	$(PY) bench/run.py

# Ramp simulated users (2 daphne + nginx + PostgreSQL + a private Redis) until one of
# Mattermost's pass criteria breaks; <= 20 minutes. Needs nginx, redis-server, PostgreSQL.
# LOADTEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/workspace_loadtest).
loadtest: install
	$(PY) bench/loadtest.py $(LOADTEST_ARGS)

# PNGs of the main pages for the README (docs/screenshots/), from a seeded throw-away demo
# database served by a real daphne and captured by Debian's Chromium at 1280x800.
.PHONY: screenshots
screenshots: install
	$(PY) -m tests.e2e.screenshots --out docs/screenshots

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) staticfiles node_modules workspace/static/dist
