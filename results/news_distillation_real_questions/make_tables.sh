#!/usr/bin/env bash
# Rewrites the tables of this folder from the runs (per-query rankings are in the runs' folders,
# not committed): the news-distillation grid, the held-out questions and, where given, the
# real-CLIR baselines (BM25, query translation). Usage, from the repository root:
#   bash results/news_distillation_real_questions/make_tables.sh runs/news-distillation runs/news-distillation-heldout runs/real-clir
set -euo pipefail
grid=${1:-runs/news-distillation}; heldout=${2:-runs/news-distillation-heldout}; baselines=${3:-runs/real-clir}
here=$(dirname "$0")
seeds() { optical-bench seeds "$@" --metric ndcg_at_10 --samples 5000 | grep '^|'; }
# the header and the recipe students' rows (no variants)
student_rows() { grep -E '^\|(-| task)|\| e5-optical-[a-z-]+ +\|'; }
# BM25, BM25 on that language's query translation and e5 centring on that language's news from the
# baselines (their e5 zero-shot and Hausa rows are the grid's own)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
lexical() {
  local folder="$scratch/$1"; mkdir -p "$folder/.predictions"
  local runs=(optical-bench__bm25 "optical-bench__bm25-qt-$1" "optical-bench__e5-centering-$1")
  # the language's own news student (seed 42) where the grid has not evaluated its seeds yet
  if ! compgen -G "$grid/results/optical-bench__e5-optical-$1-s*" >/dev/null; then runs+=("optical-bench__e5-optical-$1"); fi
  for run in "${runs[@]}"; do
    ln -sfn "$(realpath "$baselines/results/$run")" "$folder/$run"
    ln -sfn "$(realpath "$baselines/results/.predictions/$run")" "$folder/.predictions/$run"
  done
  echo "$folder"
}
{
  echo "# nDCG@10 on AfriQA dev, all six question languages pooled (1,584 questions)"
  echo; echo "## Against InfoNCE alone on Hausa news (what OT adds)"; echo
  seeds "$grid/results" --reference e5-contrastive-hau
  echo; echo "## Against e5 zero-shot"; echo
  seeds "$grid/results" --reference e5-zero-shot
  for lang in hau ibo twi zul; do
    echo; echo "## $lang questions only, against BM25 on IBM-1 query translation learnt from $lang news"; echo
    seeds "$grid/results" "$(lexical "$lang")" --reference "bm25-qt-$lang" --subsets "$lang"
  done
  for lang in hau ibo twi zul; do
    echo; echo "## $lang questions only, against the Chichewa Bible student (today's default)"; echo
    seeds "$grid/results" --reference e5-optical-bible-nya --subsets "$lang" | student_rows
  done
} > "$here/tables_dev.md"
# BM25's weight in the fusion (studies/fusion_weight_real_questions, same --out as the grid): the
# Hausa recipe student and e5 zero-shot, alone and fused at BM25 weights 0.1-0.5, per question language
fusion_rows() { grep -E '^\|(-| task)|\| (e5-optical-hau|e5-zero-shot)(\+bm25-fused(-w[1-4])?)? +\|'; }
if compgen -G "$grid/results/optical-bench__e5-optical-hau-s42+bm25-fused-w1" >/dev/null; then
  {
    echo "# BM25's weight in reciprocal rank fusion, AfriQA dev, nDCG@10"
    echo; echo "w1-w4: BM25 at weight 0.1-0.4 (the dense model 1 - w); bm25-fused: equal weights."
    echo; echo "## All questions pooled, against the recipe student alone (Hausa news, three seeds)"; echo
    seeds "$grid/results" --reference e5-optical-hau | fusion_rows
    for lang in hau ibo twi zul; do
      echo; echo "## $lang questions only"; echo
      seeds "$grid/results" --reference e5-optical-hau --subsets "$lang" | fusion_rows
    done
  } > "$here/tables_fusion_weight.md"
fi
if [ -d "$heldout/results" ]; then
  {
    echo "# nDCG@10 on questions kept apart: AfriQA train (never read for any choice or training here)"
    echo; echo "## All languages pooled, against e5 zero-shot"; echo
    seeds "$heldout/results" --reference e5-zero-shot
    for lang in hau ibo twi zul; do
      echo; echo "## $lang questions only, against BM25 on IBM-1 query translation"; echo
      seeds "$heldout/results" --reference "bm25-qt-$lang" --subsets "$lang"
    done
    for lang in hau ibo twi zul; do
      echo; echo "## $lang questions only, against the Chichewa Bible student (today's default)"; echo
      seeds "$heldout/results" --reference e5-optical-bible-nya --subsets "$lang" | student_rows
    done
  } > "$here/tables_heldout.md"
fi
