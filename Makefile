# Everyday commands. `make repro` and `make test` set everything up on a fresh clone
# (virtualenv from pyproject.toml's pinned versions) and do nothing extra when nothing changed.
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
SERVICES_STAMP := $(VENV)/.installed-services
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg
export GX_ANALYTICS_ENABLED := false
export NO_MKDOCS_2_WARNING := 1

.PHONY: install install-services repro test test-slow test-e2e test-services services services-down lint docs format bench ui \
	serve-churn serve-sentiment clean-state

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,docs]"
	@touch $(STAMP)

# The optional `services` group: PostgreSQL's driver, DVC's S3 remote, boto3, moto's S3 server.
# PostgreSQL itself comes from the system (Debian: apt-get install -y postgresql).
install-services: $(SERVICES_STAMP)

$(SERVICES_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,docs,services]"
	@touch $(SERVICES_STAMP)

# A clone whose MLflow store does not exist yet (a fresh clone, or after `make clean-state`) gets a
# forced run: stages whose outputs are committed (tune, baselines, compare) would otherwise be
# skipped and leave MLflow without their runs. The results are the same, so git sees no change.
# `python -m pipeline repro` is `dvc repro` with the tasks' independent branches run side by side,
# JOBS at a time (unset: the command's default, the cores; JOBS=1 is a plain `dvc repro`):
# docs/pipeline.md.
# WARM=0: every stage imports its own libraries (the default runs them in a warm process that has
# imported them once: docs/pipeline.md#a-warm-process-for-the-stages-imports).
JOBS ?=
WARM ?= 1
REPRO := $(BIN)/python -m pipeline repro $(if $(JOBS),--jobs $(JOBS)) $(if $(filter 0,$(WARM)),--no-warm)

repro: install
	@if [ -z "$$MLFLOW_TRACKING_URI" ] && [ ! -e mlflow.db ]; then \
		echo "no mlflow.db yet: running every stage so that MLflow holds every run"; \
		$(REPRO) --force; \
	else \
		$(REPRO); \
	fi

# Every core, one test file per worker: the tiny e2e project of test_e2e.py (a real `dvc repro` of
# churn and sentiment) builds on one while the other files share the rest. test_e2e_more_tasks.py's
# project (the other four tasks) is slow: `make test-e2e`.
test: install
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder -m "not slow and not services"

# Starts the real PostgreSQL, moto S3 and mlflow servers (tests/test_services.py) and a local
# Spark session (tests/test_spark.py).
test-services: install-services
	$(BIN)/python -m pytest -m services

test-slow: install
	$(BIN)/python -m pytest -m slow

# The end-to-end checks too long for `make test` (a task's stages rerun, the tiny project of the
# topics, nextword, bikeshare and load tasks, or real `mlflow models serve` and `serve` processes);
# no real data needed.
test-e2e: install
	$(BIN)/python -m pytest -m "e2e and slow"

lint: install
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/check_rooms.py pipeline
	$(BIN)/actionlint .github/workflows/*.yml

# The documentation site from docs/ into site/ (git-ignored); --strict: a broken link fails it.
docs: install
	$(BIN)/mkdocs build --strict

format: install
	$(BIN)/ruff format pipeline tests benchmarks
	$(BIN)/ruff check --fix pipeline tests benchmarks

bench: install
	$(BIN)/python -m pipeline bench

# MLflow's UI on mlflow.db (or on $$MLFLOW_TRACKING_URI's server): first the links that open each
# task's runs table and registered model in "Model training" mode (a fresh browser opens MLflow
# 3.17's experiments on the GenAI overview), then `mlflow ui --backend-store-uri ... --port 5001`.
ui: install
	$(BIN)/python -m pipeline ui --port 5001

# A local PostgreSQL + S3 (moto) + MLflow server stack in .services/; prints the variables to export.
services: install-services
	$(BIN)/python -m pipeline services up

services-down:
	$(BIN)/python -m pipeline services down

serve-churn: install
	$(BIN)/python -m pipeline serve churn

serve-sentiment: install
	$(BIN)/python -m pipeline serve sentiment

# Forget local MLflow runs/registry and Optuna studies (DVC outputs stay).
clean-state:
	rm -rf mlflow.db mlartifacts .optuna
