#!/usr/bin/env bash
# Trains the small GPT on real human code, the Python standard library that
# Debian's python3 ships (/usr/lib/python3.11), and samples from it: the run
# behind docs/MODEL.md's "Training on real code". About 8 minutes on 2 cores.
# Usage: scripts/train-stdlib.sh [OUTDIR] [STEPS]   (defaults: /tmp/kiln-stdlib 600)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/kiln-stdlib}
steps=${2:-600}
src=/usr/lib/python3.11
kiln=build/kiln
[ -x "$kiln" ] || { echo "train-stdlib: build kiln first (scripts/test.sh --fast)" >&2; exit 2; }
[ -d "$src" ] || { echo "train-stdlib: $src not found (apt-get install python3)" >&2; exit 2; }
mkdir -p "$out"

echo "== tokenizer: byte-level BPE, 4096 tokens, on $src/**.py"
"$kiln" tokenizer train --vocab 4096 --ext .py -o "$out/tok.bin" "$src"

echo "== train: d_model 256, 4 layers, 4 heads, ctx 256, batch 16, $steps steps"
"$kiln" train --tok "$out/tok.bin" --ext .py --d-model 256 --steps "$steps" \
  --eval-every 100 --eval-batches 8 -o "$out/model.bin" "$src" | tee "$out/train.json"

echo "== samples (temperature 0.8, seeds 1-3)"
for seed in 1 2 3; do
  echo "-- seed $seed"
  "$kiln" sample -m "$out/model.bin" -p 'def ' -t 0.8 -n 200 --seed "$seed"
  echo
done
