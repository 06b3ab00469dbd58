#!/usr/bin/env bash
# The checks that need a GPU, in one run of under 8 minutes, on a machine with CUDA:
#   scripts/gpu_check.sh            (from the repository root, the project installed in .venv)
# 1. the CUDA tests (tests/cuda): training in fp32 and bf16, checkpoints that load on the CPU,
#    the exact-bucket check and the same bytes alone and in a batch on the device;
# 2. the training-speed benchmark on CUDA (fp32, then bf16);
# 3. the serving benchmark on CUDA (n = 1 and 64 at 1, 8, 32 and 128 connections; needs wrk).
# Each part prints its table; a failing part does not stop the others; the exit status is the
# number of parts that failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
failed=0
part() { echo; echo "== $1"; shift; timeout "$@" || { echo "FAILED (exit $?)"; failed=$((failed + 1)); }; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available())"

part "CUDA tests" 240 "$PY" -m pytest -q -rs -s tests/cuda -p no:cacheprovider
part "training speed, fp32" 90 "$PY" benchmarks/train_speed.py --device cuda --steps 60 --no-bf16
part "training speed, bf16" 90 "$PY" benchmarks/train_speed.py --device cuda --steps 60 --bf16
if command -v wrk >/dev/null; then
    part "serving" 150 "$PY" benchmarks/serve_bench.py --device cuda --duration 5
else
    echo; echo "== serving SKIPPED: wrk is not installed (apt-get install wrk)"
fi
echo; echo "gpu_check: $failed part(s) failed"
exit "$failed"
