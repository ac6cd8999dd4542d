#!/usr/bin/env bash
# Commits the finished runs under results/ (metrics.json, .hydra, csv, the last images; never
# checkpoints) and the re-rendered table (b), so results land in git as they finish.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
added=0
for m in $(find results -name metrics.json -not -path "*/superseded-*"); do
  d=$(dirname "$m")
  if $PY -c "import json,sys; sys.exit(json.load(open('$m'))['status'] not in ('completed','failed'))"; then
    git add "$d" && added=1
  fi
done
$PY scripts/make_table.py runs=results/table_b out=results name=table_b > /dev/null
git add results/table_b.md results/table_b.csv results/table_b.tex results/table_b_claims.md
git diff --cached --quiet || git commit -qm "${1:-Results: finished table (b) runs and the re-rendered table}"
