"""Throughput of the learning-order analysis on 1e6 features, against SciPy/NumPy in the same run.

Run: ``pytest bench/bench_analysis.py --benchmark-enable``.  Baselines (each
measured in this run, on the same data, and recorded as the ``vs scipy``
column of the summary):

- ``compare_orders`` (tau-b and inverted fraction) vs ``scipy.stats.kendalltau``;
- ``rank`` vs ``scipy.stats.rankdata``;
- ``learned_count`` at 1000 query times (a learning curve) vs NumPy ``count_nonzero(times <= t)`` per time.

Data: critical times of the core workload (JEPA and MAE, depth 5, eps 1e-3,
lam log-uniform in [0.5, 2], rho uniform in [0.3, 1]), so ties are as rare
as they are in practice.
"""

import numpy as np
import pytest
import scipy.stats

import fastdyn as fd
from fastdyn import analysis as an
from workload import DEPTH, EPS, record, workload

N = 1_000_000
_BASE = {}


@pytest.fixture(scope="module")
def times():
    _, lam, rho = workload("jepa", N)
    tj = fd.critical_time(lam, rho, depth=DEPTH, eps=EPS, objective="jepa")
    tm = fd.critical_time(lam, rho, depth=DEPTH, eps=EPS, objective="mae")
    return tj, tm


def _base(benchmark, key, run, items, unit):
    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    _BASE[key] = record(benchmark, f"baseline {key}", "jepa/mae", N, items, unit)


def test_baseline_scipy_kendalltau(benchmark, times):
    _base(benchmark, "scipy.stats.kendalltau", lambda: scipy.stats.kendalltau(*times), N,
          "features/s")


def test_compare_orders(benchmark, times):
    ref = scipy.stats.kendalltau(*times).statistic
    run = lambda: an.compare_orders(*times)
    assert run().tau == pytest.approx(ref, abs=1e-12)
    benchmark.pedantic(run, rounds=3, iterations=1)
    record(benchmark, "analysis.compare_orders", "jepa/mae", N, N, "features/s",
           _BASE.get("scipy.stats.kendalltau"))


def test_baseline_scipy_rankdata(benchmark, times):
    _base(benchmark, "scipy.stats.rankdata", lambda: scipy.stats.rankdata(times[0]), N,
          "features/s")


def test_rank(benchmark, times):
    run = lambda: an.rank(times[0])
    np.testing.assert_array_equal(run(), scipy.stats.rankdata(times[0]))
    benchmark.pedantic(run, rounds=3, iterations=1)
    record(benchmark, "analysis.rank", "jepa", N, N, "features/s",
           _BASE.get("scipy.stats.rankdata"))


def _queries(t):
    return np.quantile(t, np.linspace(0.0, 1.0, 1000))


def test_baseline_numpy_count(benchmark, times):
    q = _queries(times[0])
    _base(benchmark, "numpy count_nonzero x1000",
          lambda: np.array([np.count_nonzero(times[0] <= x) for x in q]), N, "features/s")


def test_learned_count(benchmark, times):
    q = _queries(times[0])
    run = lambda: an.learned_count(times[0], q)
    np.testing.assert_array_equal(run(), [np.count_nonzero(times[0] <= x) for x in q])
    benchmark.pedantic(run, rounds=3, iterations=1)
    record(benchmark, "analysis.learned_count x1000", "jepa", N, N, "features/s",
           _BASE.get("numpy count_nonzero x1000"))
