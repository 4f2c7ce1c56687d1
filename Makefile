# Yui: `make run` starts everything on this machine, `make test` runs every test.
# uv never downloads a Python: the workspace runs on the machine's Python 3.11.

SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
# Some shells (ours included) set PYTHONDONTWRITEBYTECODE: every Python process, each test worker and every
# subprocess a test starts, would then compile the whole workspace again (seconds of CPU each).
unexport PYTHONDONTWRITEBYTECODE
UV_PYTHON ?= 3.11
export UV_PYTHON

SERVICES := identity consent timeline portal notify federation
# uv from PATH, else where `pip install --user` puts it; `make` installs it there on a machine without it.
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
SYNC := $(UV) sync --locked
RUN := $(UV) run --no-sync
COMPOSE := $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo docker-compose; fi)
ARGS ?=
TEST_WORKERS ?= 2

.PHONY: help sync run test lint format bench migrate compose-config clean docs backup restore

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(HOME)/.local/bin/uv:
	@echo "uv is missing: installing it for this user (pip install --user uv)"
	python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet --user --break-system-packages uv

sync: $(UV)  ## create or update .venv from uv.lock
	$(SYNC)

run: sync  ## start S3, gateway, migrations, demo data, every API and worker; Ctrl-C stops all
	$(RUN) python deploy/local/run.py

test: sync  ## run the whole test suite (pass pytest options with ARGS="...")
	@# Two phases: everything in parallel (each pytest worker has its own databases, vhost and S3), then the
	@# tests that stop the shared broker, alone. Exit 5 ("no test selected", e.g. with ARGS='-k f2') is fine.
	@# tests/federation/ (two deployments of real processes) is serial; --dist loadgroup keeps xdist groups whole.
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadgroup -m "not serial" $(ARGS) || [ $$? -eq 5 ]
	$(RUN) pytest -m serial $(ARGS) || [ $$? -eq 5 ]

lint: sync  ## ruff check, ruff format --check, mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/common/src $(wildcard services/*/src)

format: sync  ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

bench: sync  ## run the benchmarks (bench/run_all.py)
	$(RUN) python bench/run_all.py $(ARGS)

migrate: sync  ## create the databases and apply every service's migrations
	@set -e; for service in $(SERVICES); do $(RUN) python -m $$service migrate; done

compose-config:  ## validate docker-compose.yml with the example environment
	$(COMPOSE) --env-file deploy/compose.env.example -f docker-compose.yml config -q

clean:  ## remove local run state (.run: SeaweedFS data, gateway files) and caches; keeps .venv
	rm -rf .run .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +

docs: sync  ## regenerate docs/asyncapi.json from the event contracts
	$(RUN) python -m yui_common.events.asyncapi --write docs/asyncapi.json

backup: sync  ## back up databases, buckets, broker definitions and the CA to .run/backups/<UTC stamp> (or BACKUP_DIR)
	$(if $(BACKUP_DIR),YUI_BACKUP_DIR="$(BACKUP_DIR)") $(RUN) python -m deploy.backup backup

restore: sync  ## rebuild an empty deployment from a backup set: make restore FROM=.run/backups/<stamp>
	@test -n "$(FROM)" || { echo "make restore FROM=<backup directory> (add REPLACE=1 to drop what is there)"; exit 2; }
	$(RUN) python -m deploy.backup restore "$(FROM)" $(if $(REPLACE),--replace)
