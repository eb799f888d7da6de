# Kairos front door. `make demo` and `make test` each do their own set-up.
SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON      ?= python3
UV_VERSION  := 0.13.9
LOCAL       := $(CURDIR)/.local
VENV        := $(CURDIR)/.venv
UV          := $(LOCAL)/bootstrap/bin/uv
PY          := $(VENV)/bin/python
QUIETLY     := bash scripts/quietly.sh $(LOCAL)/logs/setup

# The virtualenv's tools first on PATH: Airflow's SparkSubmitOperator runs `spark-submit`.
export PATH := $(VENV)/bin:$(PATH)

# Airflow reads its own AIRFLOW_* variables; they point it at the project's folders.
export AIRFLOW_HOME                 ?= $(LOCAL)/airflow
export AIRFLOW__CORE__DAGS_FOLDER   ?= $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
# The Spark connection the DAGs' tasks open their sessions on: the Spark Connect server `make up`
# starts (KAIROS_SPARK_CONNECT_PORT); the cluster's Connect endpoint in production.
export AIRFLOW_CONN_KAIROS_SPARK    ?= {"conn_type": "spark_connect", "host": "sc://127.0.0.1", "port": $(or $(KAIROS_SPARK_CONNECT_PORT),15002)}
export SPARK_LOCAL_IP               ?= 127.0.0.1

.PHONY: help setup venv java redis browser jars mlflow airflow infra-tools bench-peer demo data test test-unit bench lint up down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: venv java redis browser jars mlflow airflow infra-tools ## install and provision everything (idempotent)
	@echo "setup: ready"

$(UV):
	@echo "setup: bootstrapping uv $(UV_VERSION) into $(LOCAL)/bootstrap"
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found; Kairos needs Python 3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "setup: $(PYTHON) is not Python 3.11; set PYTHON=python3.11" >&2; exit 1; }
	@$(QUIETLY)-uv.log $(PYTHON) -m venv $(LOCAL)/bootstrap
	@$(QUIETLY)-uv.log $(LOCAL)/bootstrap/bin/pip install --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	@echo "setup: installing locked dependencies into .venv (uv sync --frozen)"
	@$(QUIETLY)-venv.log $(UV) sync --frozen --python $(PYTHON)
	@touch $@

venv: $(VENV)/.synced

java:
	@bash scripts/check_java.sh

redis:
	@$(QUIETLY)-redis.log bash scripts/ensure_redis.sh

browser:
	@$(QUIETLY)-browser.log bash scripts/ensure_chromium.sh

jars: venv java
	@$(QUIETLY)-jars.log $(PY) -m kairos.jars

mlflow: venv
	@mkdir -p $(LOCAL)/mlflow/artifacts
	@echo "setup: mlflow backend $$($(PY) -c 'from kairos.settings import get_settings as g; print(g().mlflow_tracking_uri)')"

# checkov pins versions Airflow conflicts with: its own locked environment, for the infra tests.
$(LOCAL)/checkov/.synced: infra/tools/uv.lock infra/tools/pyproject.toml | $(UV)
	@echo "setup: installing checkov into .local/checkov (infra/tools/uv.lock)"
	@UV_PROJECT_ENVIRONMENT=$(LOCAL)/checkov $(QUIETLY)-checkov.log $(UV) sync --frozen --project infra/tools --python $(PYTHON)
	@touch $@

infra-tools: $(LOCAL)/checkov/.synced

# The serving benchmark's peer, Feast, likewise in its own locked environment (only `make bench`).
$(LOCAL)/feast/.synced: bench/peer/uv.lock bench/peer/pyproject.toml | $(UV)
	@echo "setup: installing Feast into .local/feast (bench/peer/uv.lock)"
	@UV_PROJECT_ENVIRONMENT=$(LOCAL)/feast $(QUIETLY)-feast.log $(UV) sync --frozen --project bench/peer --python $(PYTHON)
	@touch $@

bench-peer: $(LOCAL)/feast/.synced

$(AIRFLOW_HOME)/.migrated: $(VENV)/.synced
	@echo "setup: migrating the Airflow metadata DB in $(AIRFLOW_HOME)"
	@mkdir -p $(AIRFLOW_HOME)
	@$(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || { tail -20 $(AIRFLOW_HOME)/migrate.log >&2; echo "setup: airflow db migrate failed (log: $(AIRFLOW_HOME)/migrate.log)" >&2; exit 1; }
	@touch $@

airflow: $(AIRFLOW_HOME)/.migrated
	@echo "setup: airflow home $(AIRFLOW_HOME), dags from $(AIRFLOW__CORE__DAGS_FOLDER)"

demo: setup ## set up, then run the pipeline end to end on the embedded default
	@$(PY) -m devtools.demo

data: setup ## generate synthetic events into the landing location (ARGS="--customers N --hours H")
	@$(PY) -m kairos.datagen $(ARGS)

test: setup ## set up, then run the whole test suite (unit, integration, e2e)
	@$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup ## only the fast unit tests
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: setup bench-peer ## benchmarks: each prints its table, then the batch targets in one table
	@rm -f $(LOCAL)/bench/results.jsonl
	@$(PY) bench/lake_etl.py $(BENCH_ARGS)
	@$(PY) bench/gold_history.py
	@$(PY) bench/dag_hour.py
	@$(PY) bench/long_interval.py
	@$(PY) bench/erasure.py
	@$(PY) bench/attribution.py
	@$(PY) bench/materialize.py
	@$(PY) bench/serving_api.py
	@$(PY) bench/journeys.py
	@$(PY) bench/console.py
	@$(PY) bench/report.py

lint: venv ## ruff, mypy and the import layers (lint-imports)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports --no-cache

up: setup ## start Spark Connect, Redis, Airflow, the MLflow UI and the HTTP API in the background
	@$(PY) -m devtools.services up

down: ## stop what `make up` started
	@if [ -x $(PY) ]; then $(PY) -m devtools.services down; fi

clean: down ## remove local state (.local: lake, landing, caches, services) and .venv
	rm -rf $(LOCAL) $(VENV) .pytest_cache .mypy_cache .ruff_cache
