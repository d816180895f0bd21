# Two commands on a fresh machine: `make serve` and `make test`. Each does its own set-up.
VENV := .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup models serve test lint format data proto

setup:
	@bash scripts/bootstrap.sh

data: setup
	$(PY) -m training data --out data

models: setup
	$(PY) -m training demo --data data --models-dir models

serve: models
	$(PY) -m service

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy features service training loadtest clients/python/classifier_client

# Regenerate the gRPC messages and stubs (committed in clients/python) from proto/; a test checks they match.
proto: setup
	$(PY) scripts/generate_proto.py

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
