# Two commands on a fresh machine: `make serve` and `make test`. Each does its own set-up.
VENV := .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup models serve test lint format data proto v2-proto tfserving-proto tfserving-config k8s-config loadtest bench \
	scaleout-rehearsal scenarios overload memory sigterm soak rollout-scenarios backend-scenarios

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

# The Open Inference Protocol (V2) gRPC code of the gateway (committed in service/v2/wire); a test checks it.
proto: v2-proto
v2-proto: setup
	$(PY) scripts/generate_v2_wire.py

# TF Serving's wire messages for the gateway (committed in service/tfserving_wire); a test checks they match.
proto: tfserving-proto
tfserving-proto: setup
	$(PY) scripts/generate_tfserving_wire.py

# TF Serving's model config, batching parameters and monitoring config, written beside the models.
tfserving-config: setup
	$(PY) -m service.tfserving_config --models-dir models

# The same files for Kubernetes: deploy/kubernetes/base/tfserving-config/ (ConfigMap generator), from models/.
# Commit the result; a test checks the committed files are the generator's output.
k8s-config: setup
	$(PY) -m service.tfserving_config --models-dir models --out deploy/kubernetes/base/tfserving-config

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Locust against the stack on loopback (LOADTEST_TOPOLOGY=tfserving: model server + gateway); results/loadtest/.
loadtest: models
	$(PY) -m loadtest.run

# Gateway vs ceiling, naive baseline and TF Serving mode at fixed concurrency; results/bench/ (BENCH_QUICK=1: smoke;
# BENCH_V2=1 adds the gateway over the Open Inference Protocol, REST and gRPC; BENCH_EXTRAS=auth,tracing,predlog
# or all adds the gateway with API keys, tracing or the prediction log on, with their CPU per request).
bench: models
	$(PY) -m loadtest.bench

# Replicas on 127.0.0.2-5 behind a DNS server of its own, 2 gateways, steady load; the replica set changes
# under load. Prints requests, failures and how fast gateways follow; fails on any failed request (~4 min).
# The same as a pytest scenario: pytest -m scenario tests/loadtest/test_scaleout_rehearsal.py
scaleout-rehearsal: setup
	$(PY) -m loadtest.scaleout

# Reliability scenarios (RELIABILITY.md) against a gateway process over the tiny models; each prints its
# figures and fails when its promise is not kept. `make soak` runs 10 minutes (SOAK_SECONDS to change).
overload memory sigterm soak: setup
	$(PY) -m loadtest.scenarios $@

# TF Serving topology under steady load (loadtest/backend_scenarios.py): the model server stopped, frozen
# and killed, and a version rolled out; `python -m loadtest.backend_scenarios frozen` runs one.
backend-scenarios: setup
	$(PY) -m loadtest.backend_scenarios

scenarios: overload memory sigterm soak backend-scenarios

# Rollouts: the 2,000-request canary split and two gateway processes sharing one state file (~3 min).
rollout-scenarios: setup
	$(PY) -m pytest -q -m scenario tests/service/rollout
