"""The boundary's cost: per-call overhead of the dispatch layer, against the bare kernel in the same run.

Run with ``pytest bench/bench_boundary.py --benchmark-enable``.

* ``advance`` per call at N = 1, 100, 1e4 (JEPA and MAE), next to the kernel
  it ends in (serial, or its ``prange`` twin from ``PARALLEL_MIN_WORK / cost``
  features; the same values as ``fastdyn.kernels.advance_batch``):
  the difference is what validation, dispatch and the result checks cost;
* ``trajectory`` per call at N = 100 (64 times) next to its kernel;
* a user's ``@njit`` loop over ``advance_batch``, and over a flow state's
  ``advance_state``: the per-feature cost of the flow map without any Python
  in between.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import fastdyn as fd
from fastdyn import kernels
from fastdyn._operations import ADVANCE
from fastdyn.kernels import _exact, _inverse
from fastdyn.kernels._constants import PARALLEL_MIN_WORK
from workload import DEPTH, EPS, N_TIMES, record, workload

_CODE = {"jepa": kernels.JEPA, "mae": kernels.MAE}


def _state(objective, n):
    _, lam, rho = workload(objective, n)
    return np.full(n, 2 * EPS), lam, rho


@pytest.mark.parametrize("n", [1, 100, 10_000])
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_advance_per_call(benchmark, objective, n):
    w, lam, rho = _state(objective, n)
    out = np.empty(n)
    run = lambda: fd.advance(w, 0.5, lam, rho, depth=DEPTH, objective=objective, out=out)
    run()
    benchmark.pedantic(run, rounds=200 if n >= 10_000 else 3000, iterations=1)
    benchmark.extra_info["us_per_call"] = benchmark.stats.stats.min * 1e6
    record(benchmark, f"advance per call, N={n}", objective, n, 1, "calls/s")


@pytest.mark.parametrize("n", [1, 100, 10_000])
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_advance_kernel_alone(benchmark, objective, n):
    """The baseline: the kernel on prepared arrays (what the call ends in)."""
    w, lam, rho = _state(objective, n)
    depth, dt = np.full(n, DEPTH, dtype=np.int64), np.full(n, 0.5)
    out, status = np.empty(n), np.zeros(n, dtype=np.int8)
    tab_s, tab_d = kernels.flow_tables(_CODE[objective], DEPTH, DEPTH)
    # the kernel the dispatcher picks: the parallel twin from PARALLEL_MIN_WORK / cost features
    parallel = n * ADVANCE.cost >= PARALLEL_MIN_WORK
    kernel = _exact.advance_kernel if parallel else _exact.advance_kernel_serial
    run = lambda: kernel(_CODE[objective], depth, lam, rho, w, dt, out, status, tab_s, tab_d)
    run()
    benchmark.pedantic(run, rounds=200 if n >= 10_000 else 3000, iterations=1)
    benchmark.extra_info["us_per_call"] = benchmark.stats.stats.min * 1e6
    record(benchmark, f"advance kernel alone, N={n}", objective, n, 1, "calls/s")


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_trajectory_100_features_per_call(benchmark, objective):
    t, lam, rho = workload(objective, 100)
    out = np.empty((100, N_TIMES))
    run = lambda: fd.trajectory(t, lam, rho, depth=DEPTH, eps=EPS, objective=objective, out=out)
    run()
    benchmark.pedantic(run, rounds=1000, iterations=1)
    benchmark.extra_info["us_per_call"] = benchmark.stats.stats.min * 1e6
    record(benchmark, "trajectory per call, N=100", objective, 100, 1, "calls/s")


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_trajectory_100_features_kernel_alone(benchmark, objective):
    t, lam, rho = workload(objective, 100)
    depth, eps = np.full(100, DEPTH, dtype=np.int64), np.full(100, EPS)
    out, status = np.empty((100, N_TIMES)), np.zeros(100, dtype=np.int8)
    tabs = _inverse.tables_for_range(_CODE[objective], DEPTH, DEPTH)
    run = lambda: _exact.trajectory_kernel(t, _CODE[objective], depth, lam, rho, eps, out, status,
                                           *tabs)
    run()
    benchmark.pedantic(run, rounds=1000, iterations=1)
    benchmark.extra_info["us_per_call"] = benchmark.stats.stats.min * 1e6
    record(benchmark, "trajectory kernel alone, N=100", objective, 100, 1, "calls/s")


@njit
def _user_steps(code, depth, lam, rho, w, dt, steps, status, tab_s, tab_d):
    for _ in range(steps):
        kernels.advance_batch(code, depth, lam, rho, w, dt, w, status, tab_s, tab_d)


@njit
def _user_state_steps(code, depth, lam, rho, state, dt, steps, out, status, tab_s, tab_d):
    for _ in range(steps):
        kernels.advance_state(code, depth, lam, rho, state, dt, out, status, tab_s, tab_d)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_users_njit_flow_state_per_feature(benchmark, objective):
    """The same loop over a flow state (advance_state: one solve per step, no restart)."""
    w0, lam, rho = _state(objective, 100)
    depth, dt = np.full(100, DEPTH, dtype=np.int64), np.full(100, 0.05)
    out, status = np.empty(100), np.zeros(100, dtype=np.int8)
    tab_s, tab_d = kernels.flow_tables(_CODE[objective], DEPTH, DEPTH)
    state0 = kernels.flow_state(_CODE[objective], depth, lam, rho, w0, tab_s, tab_d)

    def run():
        state = state0.copy()
        _user_state_steps(_CODE[objective], depth, lam, rho, state, dt, 100, out, status, tab_s, tab_d)

    run()
    benchmark.pedantic(run, rounds=50, iterations=1)
    benchmark.extra_info["ns_per_feature_step"] = benchmark.stats.stats.min / 1e4 * 1e9
    record(benchmark, "user @njit advance_state", objective, 100, 100 * 100, "feature-steps/s")


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_users_njit_flow_map_per_feature(benchmark, objective):
    """100 features, 100 steps inside one @njit function: feature-steps per second."""
    w0, lam, rho = _state(objective, 100)
    depth, dt = np.full(100, DEPTH, dtype=np.int64), np.full(100, 0.05)
    status = np.zeros(100, dtype=np.int8)
    tab_s, tab_d = kernels.flow_tables(_CODE[objective], DEPTH, DEPTH)

    def run():
        w = w0.copy()
        _user_steps(_CODE[objective], depth, lam, rho, w, dt, 100, status, tab_s, tab_d)

    run()
    benchmark.pedantic(run, rounds=50, iterations=1)
    benchmark.extra_info["ns_per_feature_step"] = benchmark.stats.stats.min / 1e4 * 1e9
    record(benchmark, "user @njit advance_batch", objective, 100, 100 * 100, "feature-steps/s")
