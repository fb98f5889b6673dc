# reformwatch: `make demo` sets everything up and runs the bundled round; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help setup demo test test-fast lint airflow cluster cluster-stop cluster-status clean

help:
	@echo "make demo     create .venv, install pinned dependencies, run the pipeline on the bundled round"
	@echo "make test     create .venv if needed and run the whole test suite (what CI runs)"
	@echo "make test-fast  ruff and the tests not marked slow (the edit loop; the whole suite is make test)"
	@echo "make airflow  start Airflow standalone with the project's DAGs on the bundled round"
	@echo "make cluster  start the Airflow cluster (CeleryExecutor, PostgreSQL, Redis) on this machine"
	@echo "make cluster-stop  stop every process make cluster started"
	@echo "make lint     ruff"
	@echo "make clean    remove generated warehouses, reports and dbt artifacts"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/reformwatch run

test: $(STAMP)
	bin/install-test-deps
	bin/install-cluster-deps
	$(BIN)/ruff check .
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow" -q

airflow: $(STAMP)
	bin/airflow-standalone

cluster: $(STAMP)
	bin/install-cluster-deps
	$(BIN)/python -m reformwatch.local_cluster start

cluster-stop:
	$(BIN)/python -m reformwatch.local_cluster stop

cluster-status:
	$(BIN)/python -m reformwatch.local_cluster status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf data/warehouse.duckdb* data/*.work reports dbt_project/target dbt_project/logs airflow_home
	@test ! -d cluster || echo "cluster/ kept (its databases): make cluster-stop, then rm -rf cluster"
