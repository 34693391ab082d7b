#!/bin/sh
# Full benchmark: Python venv(s) for the Keras anchors, then bench_fit.R, bench_generator.R,
# bench_engines.R and bench_cnn.R.
# Output goes to the terminal and to bench/results/latest.txt (the previous one is kept as
# previous.txt). Arguments go to bench_fit.R (e.g. `--epochs 30 --rounds 3`); `--quick` goes to
# bench_generator.R and bench_cnn.R too (smoke test: the figures mean nothing then).
# $RKERAS_BENCH_GEN_ARGS, if set, replaces the arguments of bench_generator.R (e.g. "--steps 1000
# --epochs 5"); $RKERAS_BENCH_CNN_ARGS those of bench_cnn.R (e.g. "--epochs 5 --train-rows 60000").
# Run it on an otherwise idle machine: the figures are wall-clock times.
set -eu
BENCH=$(cd "$(dirname "$0")" && pwd)
cd "$BENCH/.."
mkdir -p "$BENCH/results"
OUT=$BENCH/results/latest.txt
[ -f "$OUT" ] && mv "$OUT" "$BENCH/results/previous.txt"
GEN_ARGS=${RKERAS_BENCH_GEN_ARGS:-}
CNN_ARGS=${RKERAS_BENCH_CNN_ARGS:-}
QUICK=
for a in "$@"; do if [ "$a" = --quick ]; then QUICK=--quick; fi; done
[ -n "$GEN_ARGS" ] || GEN_ARGS=$QUICK
[ -n "$CNN_ARGS" ] || CNN_ARGS=$QUICK
STATUS=$(mktemp)
echo 0 > "$STATUS"
{
  echo "# rkeras benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), $(nproc) cores"
  echo "# git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty)'), args: $*"
  echo "# load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  echo "## setup"
  sh "$BENCH/setup.sh" || echo 1 > "$STATUS"
  echo "## bench_fit.R"
  Rscript "$BENCH/bench_fit.R" "$@" || echo 1 > "$STATUS"
  echo "## bench_generator.R"
  Rscript "$BENCH/bench_generator.R" $GEN_ARGS || echo 1 > "$STATUS"
  echo "## bench_engines.R (fused dense chain vs general engine)"
  Rscript "$BENCH/bench_engines.R" || echo 1 > "$STATUS"
  echo "## bench_custom.R (layer_lambda() activations and an R loss vs built-ins)"
  Rscript "$BENCH/bench_custom.R" || echo 1 > "$STATUS"
  echo "## bench_cnn.R (mnist_cnn network)"
  Rscript "$BENCH/bench_cnn.R" $CNN_ARGS || echo 1 > "$STATUS"
} 2>&1 | tee "$OUT"
rc=$(cat "$STATUS"); rm -f "$STATUS"
echo "results: $OUT"
exit "$rc"
