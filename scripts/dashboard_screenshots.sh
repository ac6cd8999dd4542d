#!/usr/bin/env bash
# Screenshots of the local dashboards for docs/dashboards.md, taken with headless Chromium
# (apt-get install chromium-headless-shell): TensorBoard's hparams and images views of the runs under
# RUNS, and optuna-dashboard's view of the study in JOURNAL.
#
#   bash scripts/dashboard_screenshots.sh RUNS JOURNAL [OUT=docs/img]
#
# The runs and the study are any you have; docs/dashboards.md says which ones made the committed pictures.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=$1 JOURNAL=$2 OUT=${3:-docs/img}
BIN=${VENV:-.venv}/bin
CHROME=$(command -v chromium-headless-shell || command -v chromium || true)
[ -n "$CHROME" ] || { echo "no headless Chromium: apt-get install chromium-headless-shell" >&2; exit 2; }
mkdir -p "$OUT"
"$BIN/tensorboard" --logdir "$RUNS" --port 6106 > /dev/null 2>&1 & tb=$!
"$BIN/optuna-dashboard" "$JOURNAL" --port 8180 > /dev/null 2>&1 & od=$!
trap 'kill $tb $od 2>/dev/null' EXIT
sleep 10  # both servers read their files before answering
shot() {  # shot <file> <width,height> <url>
  "$CHROME" --no-sandbox --hide-scrollbars --window-size="$2" --virtual-time-budget=30000 \
    --screenshot="$OUT/$1" "$3" > /dev/null 2>&1
  echo "wrote $OUT/$1"
}
shot tensorboard_hparams.png 2200,420 "http://localhost:6106/#hparams"
shot tensorboard_images.png 1400,900 "http://localhost:6106/#images"
# the study's id as optuna-dashboard's API lists it (a journal file numbers studies from 0)
study_id=$(curl -s http://localhost:8180/api/studies | "$BIN/python" -c \
  'import json, sys; print(json.load(sys.stdin)["study_summaries"][0]["study_id"])')
shot optuna_dashboard.png 1400,900 "http://localhost:8180/dashboard/studies/$study_id"
