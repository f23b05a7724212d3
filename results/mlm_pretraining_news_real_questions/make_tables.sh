#!/usr/bin/env bash
# Rewrites tables.md of this folder from the runs (per-query rankings stay in the runs' folder, not
# committed). Usage, from the repository root:
#   bash results/mlm_pretraining_news_real_questions/make_tables.sh runs/mlm-pretraining-news
set -euo pipefail
runs=${1:-runs/mlm-pretraining-news}
here=$(dirname "$0")
seeds() { optical-bench seeds "$runs/results" --metric ndcg_at_10 --samples 5000 "$@" | grep '^|'; }
rows() { grep -E "^\|(-| task )|$1"; }  # the header and the rows whose configuration matches
{
  echo "# RQ1 on real questions: nDCG@10, 95% two-level bootstrap intervals over seeds and questions"
  for size in 250 1000; do
    echo; echo "## $size news pairs: AfriQA dev (pooled), MAFAND-MT Hausa dev and the drop between them, against no MLM"; echo
    seeds --reference "e5-$size-mlm0" --drop MafandNewsDev_hau AfriQARetrieval | rows "e5-$size-|zero-shot"
    echo; echo "## $size news pairs: Hausa questions of AfriQA dev only, against no MLM"; echo
    seeds --reference "e5-$size-mlm0" --tasks AfriQARetrieval --subsets hau | rows "e5-$size-|zero-shot"
  done
  echo; echo "## 1,000 against 250 pairs (no MLM)"; echo
  seeds --reference e5-250-mlm0 --drop MafandNewsDev_hau AfriQARetrieval | rows "mlm0"
} > "$here/tables.md"
echo "wrote $here/tables.md"
