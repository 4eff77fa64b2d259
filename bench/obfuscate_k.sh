#!/usr/bin/env bash
# What sentinels cost the owner: obfuscate wall time, peak RSS and bucket
# size for one model at k = 0, 5 and 20, as ratios against k = 0 measured in
# the same run.  --no-probe: the fingerprints (Python) are the same at any k.
#   SENTINELS=learned bench/obfuscate_k.sh [MODEL]     (default: corpus resnet50 op17, rehydrated;
#   SENTINELS: the generator, default random, the baseline docs/benchmarks.md's table was taken
#   with; obfuscate's own default is learned, timed by bench/obfuscate_speed.py)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s all
model=${1:-corpus/models/resnet50-op17.onnx}
gen=${SENTINELS:-random}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PROTEUS_PASSPHRASE="proteus bench passphrase"
build/proteus rehydrate "$model" "$work/m.onnx" --seed 1 >/dev/null
printf '| k | files | wall s | peak RSS MiB | bucket MiB | time / k=0 | RSS / k=0 | size / k=0 |\n|---|---|---|---|---|---|---|---|\n'
base=""
for k in 0 5 20; do
  /usr/bin/time -f "%e %M" -o "$work/t" build/proteus obfuscate "$work/m.onnx" -o "$work/b$k" --key "$work/k$k" \
    -k "$k" --sentinels "$gen" --seed 1 --no-probe --allow-weak >/dev/null
  read -r wall rss < "$work/t"
  bytes=$(du -sb "$work/b$k" | cut -f1)
  files=$(ls "$work/b$k" | grep -c '\.onnx$')
  [ -z "$base" ] && base="$wall $rss $bytes"
  awk -v k="$k" -v f="$files" -v w="$wall" -v r="$rss" -v b="$bytes" -v base="$base" 'BEGIN {
    split(base, z, " ");
    printf "| %d | %d | %.2f | %.0f | %.0f | %.2fx | %.2fx | %.2fx |\n", k, f, w, r / 1024, b / 1048576,
      w / (z[1] > 0 ? z[1] : 0.01), r / z[2], b / z[3] }'
  rm -rf "$work/b$k"
done
