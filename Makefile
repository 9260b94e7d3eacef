# Developer shortcuts. `make install` once, then `make kafka-up test lint`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install kafka-up kafka-down kafka-status kafka-logs test lint chaos

install: ## create .venv and install the project editable with its dev extras
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'

# The launcher uses the standard library only: plain python3 works before `make install`.
kafka-up: ## start the local Kafka broker (9092; SASL/SCRAM 9094, SSL 9095, mTLS 9096, ACLs); no-op if up
	$(PYTHON) -m connector.local_kafka up

kafka-down: ## stop the local Kafka broker
	$(PYTHON) -m connector.local_kafka down

kafka-status: ## exit 0 if the local broker runs and answers
	$(PYTHON) -m connector.local_kafka status

kafka-logs: ## last lines of the local broker's log
	$(PYTHON) -m connector.local_kafka logs

test: ## the README's test command (starts the local broker for the session if none answers)
	$(BIN)/pytest -q

lint: ## ruff lint + format check + mypy (strict) on the whole tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

chaos: ## the fault suite: SIGKILL/restart, broker kill -9, members 1->3->1, slow driver on SIGTERM
	$(BIN)/pytest -q -s -m 'chaos or not chaos' tests/chaos
