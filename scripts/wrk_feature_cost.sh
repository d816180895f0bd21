#!/usr/bin/env bash
# What tracing (100% sampled, OTLP/gRPC to a real receiver) and the prediction log (every request) cost per
# request, measured with wrk (Debian's `wrk`): every configuration's gateway runs at once, all pinned to
# core 0; wrk and the OTLP receivers run on core 1. Cells take turns: one model at a time, each
# configuration in turn (the order rotating every round), a 1 s warm-up and then SECONDS_PER_CELL seconds
# with the gateway's CPU time read from /proc around them. Only the gateway under load is busy, so a cell
# has the core to itself, and the cells compared sit seconds apart: a drift of the shared machine hits
# them alike. The summary gives, per model, each configuration's median CPU per request and the median of
# its per-round ratios to the first configuration's cell of the same round.
#
#   scripts/wrk_feature_cost.sh [ROUNDS] [CONFIGS]      # defaults: 5 rounds of "off tracing"
#   scripts/wrk_feature_cost.sh 6 "off tracing predlog both"
#   BASE_TREE=/work/wt/base scripts/wrk_feature_cost.sh 6 "base off tracing"
#   MODELS=spam scripts/wrk_feature_cost.sh 8 "off tracing"   # fewer models (default: all three demo models)
#
# Configurations: off (tracing and the prediction log off), tracing (every request sampled), unsampled
# (tracing on, sampler parentbased_always_off, requests' traceparent flag 00: what a process with tracing
# on pays before any span), sampled (that same gateway process, sent flag 01: each request is traced in
# full, so sampled against unsampled is tracing's cost with nothing else different, not even the process),
# predlog, both; and base, the tree at BASE_TREE (a `git worktree` of an earlier commit) with both off,
# serving BASE_TREE/models (its own demo models: an old tree may not load today's). Needs `make models`
# and wrk. Each cell prints: configuration, round, model, req/s, the gateway's CPU microseconds per
# request, non-2xx answers.
# wrk's generator costs far less CPU per request than the Python generator of `make bench`, whose cells
# move by +-30% on this machine; that is why this script exists.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-5}
CONFIGS=${2:-"off tracing"}
SECONDS_PER_CELL=${SECONDS_PER_CELL:-5}
CLIENTS=${CLIENTS:-32}
MODELS=${MODELS:-"spam digits spoken-digits"}
PY=$PWD/.venv/bin/python
WORK=$(mktemp -d)
PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all; rm -rf "$WORK"' EXIT
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
# Every request carries a W3C traceparent with a new random trace id, made by the same Lua code for every
# configuration, so the client's work is the same everywhere (a client that builds each request costs wrk
# more than one that resends a fixed one, and a slower client changes the gateway's cost per request:
# fewer requests per loop turn, smaller batches). The flag is 01 (sampled) for the sampled and tracing
# configurations, 00 for the rest; gateways with tracing off ignore the header.
TRACEPARENT = """
local function hex(digits)
  local out = {}
  for i = 1, digits / 4 do out[i] = string.format("%04x", math.random(0, 65535)) end
  return table.concat(out)
end
request = function()
  local headers = {["Content-Type"] = "application/json", ["traceparent"] = "00-" .. hex(32) .. "-" .. hex(16) .. "-FLAG"}
  return wrk.format("POST", nil, headers, nil)
end
"""
for model, body in bodies.items():
    script = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    script += "wrk.body = " + json.dumps(json.dumps(body)) + "\n"
    (work / f"{model}.lua").write_text(script + TRACEPARENT.replace("FLAG", "00"))
    (work / f"{model}.sampled.lua").write_text(script + TRACEPARENT.replace("FLAG", "01"))
EOF

declare -A PORT GATEWAY SCRIPT
start() {  # config: its gateway (and OTLP receiver) in the background
  local port sink_port sampler tree=$PWD models=models env=()
  SCRIPT[$1]=""
  if [ "$1" = sampled ]; then  # the unsampled gateway, sent sampled traceparents
    [ -n "${PORT[unsampled]:-}" ] || start unsampled
    PORT[sampled]=${PORT[unsampled]} GATEWAY[sampled]=${GATEWAY[unsampled]} SCRIPT[sampled]=.sampled
    return
  fi
  case $1 in tracing | both) SCRIPT[$1]=.sampled ;; esac  # sampled by parentbased_always_on
  [ -z "${PORT[$1]:-}" ] || return 0
  port=$(free_port)
  case $1 in
    off) ;;
    base)
      [ -n "${BASE_TREE:-}" ] || { echo "base needs BASE_TREE=DIR (a worktree of the base commit)" >&2; exit 2; }
      tree=$(cd "$BASE_TREE" && pwd); models=$tree/models ;;
    tracing | both | unsampled)
      sink_port=$(free_port)
      taskset -c 1 "$PY" -m loadtest.bench.otlp_sink --port "$sink_port" >"$WORK/sink-$1.log" 2>&1 &
      PIDS+=($!)
      sampler=parentbased_always_on
      [ "$1" = unsampled ] && sampler=parentbased_always_off  # only a sampled traceparent is traced
      env+=(CLASSIFIER_TRACING__ENABLED=true "OTEL_TRACES_SAMPLER=$sampler"
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:$sink_port") ;;&
    predlog | both)
      env+=("CLASSIFIER_PREDICTION_LOG__PATH=$WORK/predlog-$1/predictions.jsonl" CLASSIFIER_PREDICTION_LOG__SAMPLE_RATE=1) ;;
    tracing | unsampled) ;;
    *) echo "unknown configuration $1 (off, tracing, unsampled, sampled, predlog, both, base)" >&2; exit 2 ;;
  esac
  (cd "$tree" && exec env PYTHONPATH="$tree" CLASSIFIER_MODELS_DIR="$models" CLASSIFIER_PORT="$port" \
    CLASSIFIER_GRPC_ENABLED=false CLASSIFIER_LOG_LEVEL=warning "${env[@]}" \
    taskset -c 0 "$PY" -m service >"$WORK/gateway-$1.log" 2>&1) &
  PIDS+=($!)
  PORT[$1]=$port
  GATEWAY[$1]=$!
}

cell() {  # config round model
  local url="http://127.0.0.1:${PORT[$1]}/v1/models/$3:classify" pid=${GATEWAY[$1]} before after out requests
  local script="$WORK/$3${SCRIPT[$1]}.lua"
  taskset -c 1 wrk -t1 -c"$CLIENTS" -d1s -s "$script" "$url" >/dev/null 2>&1
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(taskset -c 1 wrk -t1 -c"$CLIENTS" -d"${SECONDS_PER_CELL}s" -s "$script" "$url" 2>&1)
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -v c="$1" -v r="$2" -v m="$3" -v n="$requests" -v t="$SECONDS_PER_CELL" -v cpu=$((after - before)) \
    -v bad="$(echo "$out" | awk '/Non-2xx/ {print $NF}')" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%-8s round %s %-14s req/s %6.0f  cpu_us/req %6.0f  non2xx %d\n", c, r, m, n / t, cpu / hz / n * 1e6, bad }'
}

read -r -a configs <<<"$CONFIGS"
for config in "${configs[@]}"; do start "$config"; done
for config in "${configs[@]}"; do
  for _ in $(seq 1 600); do curl -sf -m 2 "http://127.0.0.1:${PORT[$config]}/readyz" >/dev/null && break; sleep 0.3; done
  curl -sf -m 2 "http://127.0.0.1:${PORT[$config]}/readyz" >/dev/null || {
    echo "$config: the gateway did not become ready" >&2; cat "$WORK/gateway-$config.log" >&2; exit 1
  }
  for model in $MODELS; do taskset -c 1 wrk -t1 -c"$CLIENTS" -d2s -s "$WORK/$model.lua" \
    "http://127.0.0.1:${PORT[$config]}/v1/models/$model:classify" >/dev/null 2>&1; done
done

for round in $(seq 1 "$ROUNDS"); do
  for model in $MODELS; do
    count=${#configs[@]}
    for i in $(seq 0 $((count - 1))); do cell "${configs[$(((i + round) % count))]}" "$round" "$model"; done
  done
done | tee "$WORK/cells.txt"

stop_all
PIDS=()
if awk '$NF != 0 { bad = 1 } END { exit !bad }' "$WORK/cells.txt"; then  # keep the logs that say why
  kept=$(mktemp -d /tmp/wrk_feature_cost.XXXXXX)
  cp "$WORK"/*.log "$kept"/
  echo "cells with non-2xx answers: the gateways' and receivers' logs are kept in $kept" >&2
fi
for config in "${configs[@]}"; do [ -f "$WORK/sink-$config.log" ] && echo "$config: $(tail -1 "$WORK/sink-$config.log")"; done
"$PY" - "$WORK/cells.txt" "${configs[@]}" <<'EOF'
import collections, statistics, sys
lines, configs = open(sys.argv[1]).read().split("\n"), sys.argv[2:]
cpu = collections.defaultdict(dict)  # (model, config) -> round -> us per request
for line in filter(None, lines):
    f = line.split()
    cpu[f[3], f[0]][f[2]] = float(f[7])
print(f"{'model':<14} " + " ".join(f"{c:>22}" for c in configs) + "   (median us/req; median per-round ratio to the first)")
for model in dict.fromkeys(m for m, _ in cpu):
    reference = cpu[model, configs[0]]
    cells = []
    for c in configs:
        rounds = cpu[model, c]
        ratio = statistics.median(rounds[r] / reference[r] for r in rounds if r in reference)
        cells.append(f"{statistics.median(rounds.values()):7.0f} ({ratio:.3f}x)")
    print(f"{model:<14} " + " ".join(f"{cell:>22}" for cell in cells))
EOF
