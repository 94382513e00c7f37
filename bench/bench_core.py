"""Core benchmarks: exact and ODE trajectories, critical times, the flow map.

The baseline is what users write today: ``scipy.integrate.solve_ivp`` (RK45,
rtol 1e-8, atol 1e-12) on all features as one vectorized system.  Its cost
grows with N and with the stiffest feature, so it is measured on a subset of
``SCIPY_N`` features and extrapolated linearly in N (stated in the output).
"""

import time

import numpy as np
import pytest

import fastdyn as fd
from fastdyn._benchmark import SCIPY_N, run_scipy, scipy_problem
from workload import DEPTH, EPS, N_TIMES, SIZES, record, workload

_SCIPY_RATE = {}


def _scipy_problem(objective):
    return scipy_problem(objective, SCIPY_N[objective])


def _run_scipy(objective):
    return run_scipy(objective, SCIPY_N[objective])


def scipy_rate(objective):
    """Feature-times per second of vectorized solve_ivp (measured once per run)."""
    if objective not in _SCIPY_RATE:
        t0 = time.perf_counter()
        _run_scipy(objective)
        _SCIPY_RATE[objective] = SCIPY_N[objective] * N_TIMES / (time.perf_counter() - t0)
    return _SCIPY_RATE[objective]


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_scipy_solve_ivp_baseline(benchmark, objective):
    n = SCIPY_N[objective]
    sol = benchmark.pedantic(_run_scipy, args=(objective,), rounds=1, iterations=1)
    t, lam, rho, _ = _scipy_problem(objective)
    # scipy against the exact solution, so that the comparison is at known accuracy
    exact = fd.trajectory(t, lam, rho, depth=DEPTH, eps=EPS, objective=objective)
    benchmark.extra_info.update(max_rel_err_vs_exact=float(np.max(np.abs(sol.y / exact - 1))),
                                nfev=int(sol.nfev))
    _SCIPY_RATE[objective] = record(benchmark, f"scipy solve_ivp RK45 (N={n})", objective, n,
                                    n * N_TIMES, "feature-times/s")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_trajectory_exact(benchmark, objective, n):
    t, lam, rho = workload(objective, n)
    out = np.empty((n, N_TIMES))
    run = lambda: fd.trajectory(t, lam, rho, depth=DEPTH, eps=EPS, objective=objective, out=out)
    run()
    benchmark.pedantic(run, rounds=3 if n >= 100_000 else 10, iterations=1)
    record(benchmark, "trajectory exact", objective, n, n * N_TIMES, "feature-times/s",
           scipy_rate(objective))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_trajectory_ode(benchmark, objective, n):
    t, lam, rho = workload(objective, n)
    out = np.empty((n, N_TIMES))
    run = lambda: fd.trajectory(t, lam, rho, depth=DEPTH, eps=EPS, objective=objective,
                                method="ode", rtol=1e-8, out=out)
    run()
    benchmark.pedantic(run, rounds=2 if n >= 100_000 else 5, iterations=1)
    exact = fd.trajectory(t, lam, rho, depth=DEPTH, eps=EPS, objective=objective)
    benchmark.extra_info["max_rel_err_vs_exact"] = float(np.max(np.abs(out / exact - 1)))
    record(benchmark, "trajectory ode rtol=1e-8", objective, n, n * N_TIMES, "feature-times/s",
           scipy_rate(objective))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_critical_time_exact(benchmark, objective, n):
    _, lam, rho = workload(objective, n)
    run = lambda: fd.critical_time(lam, rho, depth=DEPTH, eps=EPS, objective=objective)
    run()
    benchmark.pedantic(run, rounds=5, iterations=1)
    record(benchmark, "critical_time exact", objective, n, n, "features/s")


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_advance_100_features(benchmark, objective):
    """Per-call cost of the flow map inside a user's time loop (100 features)."""
    _, lam, rho = workload(objective, 100)
    w = np.full(100, 2 * EPS)
    out = np.empty(100)
    run = lambda: fd.advance(w, 0.5, lam, rho, depth=DEPTH, objective=objective, out=out)
    run()
    benchmark.pedantic(run, rounds=2000, iterations=1)
    benchmark.extra_info["us_per_call"] = benchmark.stats.stats.median * 1e6
    record(benchmark, "advance, 100 features (calls/s)", objective, 100, 1, "calls/s")
