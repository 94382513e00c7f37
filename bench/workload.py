"""Benchmark workload of the core issue, and the throughput records for the summary.

Workload: JEPA and MAE, depth 5, eps = 1e-3, lam log-uniform in [0.5, 2],
rho uniform in [0.3, 1], 64 log-spaced output times from 1e-2 to three times
the largest critical time of the paper's leading-order forms (eq. 12 / eq. 13).

Run: ``pytest bench --benchmark-enable`` (``--benchmark-only`` skips nothing
else: the bench folder holds only benchmarks).  Every benchmark records its
throughput in ``extra_info``; the summary prints it with the ratio to scipy's
``solve_ivp`` measured in the same run.
"""

# one definition of the workload, shared with `fastdyn bench` (installed with the package)
from fastdyn._benchmark import DEPTH, EPS, N_TIMES, SIZES, workload  # noqa: F401

_RESULTS = []


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
