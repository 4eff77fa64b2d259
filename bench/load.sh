#!/usr/bin/env bash
# Load benchmark: peak memory and time of px_onnx_load on the largest corpus
# model (rehydrated, so it has its real size), against the naive protobuf-c
# load (read + unpack) measured in the same run.  Each measurement is a fresh
# process; modes are interleaved; prints a markdown table.
#   bench/load.sh [MODEL] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s all build/bench/load_model
model=${1:-}
reps=${2:-5}
if [ -z "$model" ]; then
  # the largest corpus model by parameter bytes
  model=$(for m in corpus/models/*.onnx; do
            printf '%s %s\n' "$(build/proteus inspect --json "$m" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["param_bytes"])')" "$m"
          done | sort -n | tail -1 | cut -d' ' -f2)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/proteus rehydrate "$model" "$tmp/model.onnx" --seed 1
results=()
for i in $(seq "$reps"); do
  for mode in proteus naive; do
    results+=("$(build/bench/load_model "$mode" "$tmp/model.onnx")")
  done
done
printf '%s\n' "${results[@]}" | .venv/bin/python bench/load_report.py "$(basename "$model")"
