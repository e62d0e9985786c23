# Two commands on a fresh machine (only Python 3.11+ and make): `make run` and `make test`.
SHELL := /bin/bash
# The first interpreter that actually runs and is 3.11 or newer (a pyenv shim may exist without a version).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit lint status db-stop clean help airflow bench chaos

help:
	@echo "make run    - set up, generate data for 26 departments, run the nightly cycle through Airflow, summarise"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff over the Python code"
	@echo "make db-stop - stop the embedded PostgreSQL"
	@echo "make bench  - every benchmark in bench/, results in bench/RESULTS.md (hours; a quiet machine)"
	@echo "make chaos  - the nightly cycle under faults and SIGKILLs, compared with a clean run"
	@echo "make airflow - Airflow standalone on http://127.0.0.1:8080 (home var/airflow, DAGs from dags/, pools created)"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed; install it or set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/creditwh run

test: $(STAMP)
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

lint: $(STAMP)
	$(BIN)/ruff check etl simulators tests dags bench

# The ingest benchmark's peer, dlt, in an environment of its own: a tool to compare with, not a dependency.
DLT_VENV := bench/.venv-dlt

$(DLT_VENV)/.installed: bench/requirements-dlt.txt
	$(PYTHON) -m venv $(DLT_VENV)
	$(DLT_VENV)/bin/python -m pip install --quiet -r bench/requirements-dlt.txt
	@touch $@

bench: $(STAMP) $(DLT_VENV)/.installed
	$(BIN)/python bench/run_all.py

chaos: $(STAMP)
	$(BIN)/python bench/chaos.py --records 10000

status: $(STAMP)
	$(BIN)/creditwh status

# The department connections come from AIRFLOW_ENV_FILE (default .env: AIRFLOW_CONN_* lines of the real
# departments); without it, make run's simulators serve the DAGs. AIRFLOW_HOST=0.0.0.0 listens beyond this machine.
AIRFLOW_ENV_FILE ?= .env
AIRFLOW_HOST ?= 127.0.0.1
AIRFLOW_PORT ?= 8080
airflow: $(STAMP)
	$(BIN)/creditwh airflow --host $(AIRFLOW_HOST) --port $(AIRFLOW_PORT) --env-file $(AIRFLOW_ENV_FILE)

db-stop: $(STAMP)
	$(BIN)/creditwh db stop

clean:
	-$(BIN)/creditwh db stop
	rm -rf var
