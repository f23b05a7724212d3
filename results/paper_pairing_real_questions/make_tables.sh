#!/usr/bin/env bash
# Rewrites tables.md of this folder from the runs (per-query rankings stay in the runs' folders, not
# committed): the pairing grid, next to e5 zero-shot, BM25 and the e5 recipe's student of each
# language's news (seed 42) from the real-CLIR baselines. Usage, from the repository root:
#   bash results/paper_pairing_real_questions/make_tables.sh runs/paper-pairing-real-questions runs/real-clir
set -euo pipefail
grid=${1:-runs/paper-pairing-real-questions}; baselines=${2:-runs/real-clir}
here=$(dirname "$0")
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/.predictions"
for run in optical-bench__e5-zero-shot optical-bench__bm25 optical-bench__e5-optical-{hau,ibo,twi,zul}; do
  ln -sfn "$(realpath "$baselines/results/$run")" "$scratch/$run"
  ln -sfn "$(realpath "$baselines/results/.predictions/$run")" "$scratch/.predictions/$run"
done
seeds() { optical-bench seeds "$grid/results" "$scratch" --metric ndcg_at_10 --samples 5000 "$@" | grep '^|'; }
rows() { grep -E "^\|(-| task )|$1"; }  # the header and the rows whose configuration matches
{
  echo "# The paper's pairing on AfriQA dev: nDCG@10, 95% two-level bootstrap intervals over seeds and questions"
  echo; echo "## All languages pooled, against e5 zero-shot"; echo
  seeds --reference e5-zero-shot
  for lang in hau ibo twi zul; do
    echo; echo "## $lang questions only, against the map alone (fitted on $lang news)"; echo
    seeds --reference "map-only-$lang" --subsets "$lang" | rows "-$lang|e5-zero-shot|\\| bm25 "
  done
} > "$here/tables.md"
echo "wrote $here/tables.md"
