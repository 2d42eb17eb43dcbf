# Two commands for a new engineer: `make run` (the demo) and `make test` (the whole suite).
# Both install what is missing and start Kafka and PostgreSQL on this machine first.
# They run in development mode: the built-in development secrets (audit signing key, the local
# cluster's database passwords) are accepted; a deployment without it refuses them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup services services-stop services-status topics db run test test-unit test-integration lint bench clean

run test test-unit test-integration bench db: export COMPLIANCE_DEVELOPMENT_MODE := true

setup:  ## install Java, Maven, PostgreSQL, Tesseract and the Python venv, where missing
	@infra/setup.sh

services: setup  ## start Kafka (KRaft) and PostgreSQL locally
	@infra/services.sh start

services-stop:  ## stop Kafka and PostgreSQL
	@infra/services.sh stop

services-status:
	@infra/services.sh status

topics: services
	@$(BIN)/compliance topics create

db: services  ## as the owner: every table, and the processors' and the sink's roles granted
	@$(BIN)/compliance db init

run: topics  ## the demo: processors, bundled samples, a summary read from PostgreSQL
	@$(BIN)/compliance demo

lint: setup  ## ruff, and mypy --strict on the package and the processors
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy src processors

test: services lint  ## the whole test suite, unit and integration, against real services
	@$(BIN)/pytest tests

test-unit: setup
	@$(BIN)/pytest tests/unit

test-integration: services
	@$(BIN)/pytest tests/integration

bench: topics db  ## benchmarks; figures in benchmarks/results/*.json
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:  ## remove local state (services data, venv, demo logs)
	-@infra/services.sh stop
	rm -rf .services .venv .demo
