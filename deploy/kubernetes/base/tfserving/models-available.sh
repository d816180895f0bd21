#!/bin/bash
# Readiness of a TF Serving pod: every model named in the generated model config has an AVAILABLE version,
# as TF Serving's REST status (GET /v1/models/NAME) reports it. The image has bash but no curl.
set -u
config=${TFSERVING_MODEL_CONFIG:-/etc/tfserving/models.config}
port=${TFSERVING_REST_PORT:-8501}
names=$(sed -n 's/^ *name: *"\(.*\)" *$/\1/p' "$config")
[ -n "$names" ] || { echo "no model in $config"; exit 1; }
for name in $names; do
  exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
  printf 'GET /v1/models/%s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$name" >&3
  if ! grep -Eq '"state" *: *"AVAILABLE"' <&3; then
    echo "model $name has no AVAILABLE version"
    exit 1
  fi
  exec 3<&-
done
