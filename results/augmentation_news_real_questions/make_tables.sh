#!/usr/bin/env bash
# Rewrites tables.md of this folder from the runs (per-query rankings stay in the runs' folder, not
# committed). Usage, from the repository root:
#   bash results/augmentation_news_real_questions/make_tables.sh runs/augmentation-news
set -euo pipefail
runs=${1:-runs/augmentation-news}
here=$(dirname "$0")
seeds() { optical-bench seeds "$runs/results" --metric ndcg_at_10 --samples 5000 "$@" | grep '^|'; }
{
  echo "# RQ2 on real questions: nDCG@10, 95% two-level bootstrap intervals over seeds and questions"
  echo; echo "## AfriQA dev (all languages pooled), MAFAND-MT Hausa dev, and the drop between them, against none"; echo
  seeds --reference e5-none --drop MafandNewsDev_hau AfriQARetrieval
  echo; echo "## Hausa questions of AfriQA dev only, against none"; echo
  seeds --reference e5-none --tasks AfriQARetrieval --subsets hau
  echo; echo "## Synthetic (forward translation) against back-translation"; echo
  seeds --reference e5-back-translation --drop MafandNewsDev_hau AfriQARetrieval
} > "$here/tables.md"
echo "wrote $here/tables.md"
