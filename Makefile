# Two commands for a new engineer: `make run` (the demo) and `make test` (the whole suite).
# Both install what is missing and start Kafka and PostgreSQL on this machine first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup services services-stop services-status topics run test test-unit test-integration lint bench clean

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

run: topics  ## the demo: processors, bundled samples, a summary read from PostgreSQL
	@$(BIN)/compliance demo

lint: setup
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

test: services lint  ## the whole test suite, unit and integration, against real services
	@$(BIN)/pytest tests

test-unit: setup
	@$(BIN)/pytest tests/unit

test-integration: services
	@$(BIN)/pytest tests/integration

bench: services  ## benchmarks; figures in benchmarks/results/*.json
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:  ## remove local state (services data, venv, demo logs)
	-@infra/services.sh stop
	rm -rf .services .venv .demo
