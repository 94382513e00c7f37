"""Benchmark workload of the core issue, and the throughput records for the summary.

Workload: JEPA and MAE, depth 5, eps = 1e-3, lam log-uniform in [0.5, 2],
rho uniform in [0.3, 1], 64 log-spaced output times from 1e-2 to three times
the largest critical time of the paper's leading-order forms (eq. 12 / eq. 13).

Run: ``pytest bench --benchmark-enable`` (``--benchmark-only`` skips nothing
else: the bench folder holds only benchmarks).  Every benchmark records its
throughput in ``extra_info``; the summary prints it with the ratio to scipy's
``solve_ivp`` measured in the same run.
"""

import numpy as np

import fastdyn as fd

DEPTH = 5
EPS = 1e-3
N_TIMES = 64
SIZES = [1_000, 10_000, 100_000, 1_000_000]
_RESULTS = []


def workload(objective, n, seed=0):
    rng = np.random.default_rng(seed)
    lam = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    rho = rng.uniform(0.3, 1.0, n)
    # the largest leading-order critical time over the distribution: lam = 0.5, rho = 0.3
    t_max = 3.0 * fd.critical_time(0.5, 0.3, depth=DEPTH, eps=EPS, objective=objective,
                                   method="asymptotic")
    t = np.geomspace(1e-2, t_max, N_TIMES)
    return t, lam, rho


def record(benchmark, name, objective, n, items, unit, baseline=None):
    """Store items/second of the benchmark's best round (and the ratio to scipy)."""
    rate = items / benchmark.stats.stats.min
    benchmark.extra_info.update(rate=rate, unit=unit)
    ratio = None
    if baseline is not None:
        ratio = rate / baseline
        benchmark.extra_info["vs_scipy"] = ratio
    _RESULTS.append((name, objective, n, rate, unit, ratio))
    return rate


def summary_lines():
    """One line per recorded benchmark: rate and ratio to scipy."""
    if not _RESULTS:
        return []
    lines = [f"{'benchmark':34s} {'objective':9s} {'N':>9s} {'rate':>12s}  {'unit':22s}vs scipy",
             "(scipy: solve_ivp RK45, rtol 1e-8, atol 1e-12, one vectorized system on a subset;"
             " its rate per feature-time is extrapolated linearly in N)"]
    for name, objective, n, rate, unit, ratio in _RESULTS:
        r = f"{ratio:10.1f}x" if ratio is not None else ""
        lines.append(f"{name:34s} {objective:9s} {n:9d} {rate:12.3e}  {unit:22s}{r}")
    return lines
