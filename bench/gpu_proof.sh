#!/usr/bin/env bash
# GPU proof (issue 14): one command, at most 8 minutes on one NVIDIA GPU, nothing downloaded.
#
#   bench/gpu_proof.sh                 # results under $OUT, or ./gpu_proof_out when OUT is unset
#
# Installs this checkout without fetching (pip --no-deps --no-build-isolation --no-index -e .,
# or a documented PYTHONPATH fallback), runs `python3 -m pytest -m gpu` (no gpu test may skip),
# then the GPU benchmarks with their errors against the CPU, and writes under $OUT:
#   gpu_proof.json      the summary: device, driver, CUDA runtime, CuPy, every figure, every target
#   pytest_gpu.log/.xml the pytest run;  bench_results.json, bench.log, install*.log, probe.log
# Exit status: 0 every target met; 1 a stage failed or a target was missed; 3 no GPU (CuPy
# missing or without a device: said on stderr and in gpu_proof.json, within seconds).
# Environment: PYTHON (default python3), GPU_PROOF_BUDGET_S (default 450: the whole run, an
# outer limit 20 s above it), GPU_PROOF_INSTALL=shim (skip pip, use the PYTHONPATH fallback).
# Details: bench/gpu_proof.py.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_proof_out}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
PY="${PYTHON:-python3}"
BUDGET="${GPU_PROOF_BUDGET_S:-450}"
mkdir -p "$OUT"
timeout -k 10 "$((BUDGET + 20))" "$PY" bench/gpu_proof.py run --out "$OUT" --budget "$BUDGET"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "gpu_proof.sh: the run exceeded its outer limit of $((BUDGET + 20)) s" >&2
    "$PY" bench/gpu_proof.py mark-killed --out "$OUT"
    rc=1
fi
exit "$rc"
