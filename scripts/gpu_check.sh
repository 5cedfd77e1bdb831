#!/usr/bin/env bash
# GPU checks in one call (under 5 minutes): the tests marked `gpu`, then the quick benchmark on
# CUDA, ending with one table. Usage: bash scripts/gpu_check.sh [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=$PWD WANDB_MODE=offline
run() { if [[ "${1:-}" == "--dry-run" ]]; then shift; echo "+ $*"; else "$@"; fi; }
DRY=${1:-}
[[ -n "$DRY" && "$DRY" != "--dry-run" ]] && { echo "usage: $0 [--dry-run]" >&2; exit 2; }
if [[ -z "$DRY" ]]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
fi
run $DRY timeout 90 "$PY" -m pytest -q -m gpu tests
run $DRY timeout 200 "$PY" -m bench --quick --device cuda --out "${OUT:-bench}/results_gpu.json"
