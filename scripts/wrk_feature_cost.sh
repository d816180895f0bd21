#!/usr/bin/env bash
# What tracing (100% sampled, OTLP/gRPC to a real receiver) and the prediction log (every request) cost per
# request, measured with wrk (Debian's `wrk`): the gateway alone on core 0, wrk and the OTLP receiver on
# core 1, the gateway's CPU time read from /proc around each 8 s cell (after a 2 s warm-up).
#
#   scripts/wrk_feature_cost.sh [ROUNDS] [CONFIGS]     # defaults: 3 rounds of "off tracing"
#   scripts/wrk_feature_cost.sh 2 "off tracing predlog both"
#
# Configurations alternate within each round, so a drift of the shared machine hits them alike; compare
# medians over rounds. Needs `make models` (the demo models in models/) and wrk; prints one line per cell:
# configuration, round, model, req/s, the gateway's CPU microseconds per request, non-2xx answers.
# wrk's generator costs far less CPU per request than the Python generator of `make bench`, whose cells
# move by +-30% on this machine; that is why this script exists.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
CONFIGS=${2:-"off tracing"}
SECONDS_PER_CELL=${SECONDS_PER_CELL:-8}
CLIENTS=${CLIENTS:-32}
PY=.venv/bin/python
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# One request body per demo model, the same for every configuration.
"$PY" - "$WORK" <<'EOF'
import base64, json, pathlib, sys
work, data = pathlib.Path(sys.argv[1]), pathlib.Path("data")
first = lambda folder: sorted(p for p in (data / folder).rglob("*") if p.is_file())[0]
bodies = {
    "spam": {"instances": [{"text": first("spam/test").read_text(errors="replace")[:2000]}]},
    "digits": {"instances": [{"b64": base64.b64encode(first("digits/test").read_bytes()).decode()}]},
    "spoken-digits": {"instances": [{"b64": base64.b64encode(first("spoken-digits/test").read_bytes()).decode()}]},
}
for model, body in bodies.items():
    script = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    (work / f"{model}.lua").write_text(script + "wrk.body = " + json.dumps(json.dumps(body)) + "\n")
EOF

cell() {  # config round pid port model
  local url="http://127.0.0.1:$4/v1/models/$5:classify" before after out requests
  taskset -c 1 wrk -t1 -c"$CLIENTS" -d2s -s "$WORK/$5.lua" "$url" >/dev/null 2>&1
  before=$(awk '{print $14 + $15}' "/proc/$3/stat")
  out=$(taskset -c 1 wrk -t1 -c"$CLIENTS" -d"${SECONDS_PER_CELL}s" -s "$WORK/$5.lua" "$url" 2>&1)
  after=$(awk '{print $14 + $15}' "/proc/$3/stat")
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -v c="$1" -v r="$2" -v m="$5" -v n="$requests" -v t="$SECONDS_PER_CELL" -v cpu=$((after - before)) \
    -v bad="$(echo "$out" | awk '/Non-2xx/ {print $NF}')" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%-8s round %s %-14s req/s %6.0f  cpu_us/req %6.0f  non2xx %d\n", c, r, m, n / t, cpu / hz / n * 1e6, bad }'
}

run() {  # config round
  local port sink_port sink="" env=()
  port=$(free_port)
  case $1 in
    off) ;;
    tracing | both)
      sink_port=$(free_port)
      taskset -c 1 "$PY" -m loadtest.bench.otlp_sink --port "$sink_port" >"$WORK/sink.log" 2>&1 &
      sink=$!
      env+=(CLASSIFIER_TRACING__ENABLED=true OTEL_TRACES_SAMPLER=parentbased_always_on
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:$sink_port") ;;&
    predlog | both)
      env+=("CLASSIFIER_PREDICTION_LOG__PATH=$WORK/predlog/predictions.jsonl" CLASSIFIER_PREDICTION_LOG__SAMPLE_RATE=1) ;;
    tracing) ;;
    *) echo "unknown configuration $1 (off, tracing, predlog, both)" >&2; exit 2 ;;
  esac
  env CLASSIFIER_MODELS_DIR=models CLASSIFIER_PORT="$port" CLASSIFIER_GRPC_ENABLED=false CLASSIFIER_LOG_LEVEL=warning \
    "${env[@]}" taskset -c 0 "$PY" -m service >"$WORK/gateway.log" 2>&1 &
  local gateway=$!
  for _ in $(seq 1 600); do curl -sf -m 2 "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.3; done
  for model in spam digits spoken-digits; do cell "$1" "$2" "$gateway" "$port" "$model"; done
  kill -TERM "$gateway"; wait "$gateway" || true
  if [ -n "$sink" ]; then kill -TERM "$sink"; wait "$sink" || true; tail -1 "$WORK/sink.log"; fi
  rm -rf "$WORK/predlog"
}

for round in $(seq 1 "$ROUNDS"); do
  for config in $CONFIGS; do run "$config" "$round"; done
done
