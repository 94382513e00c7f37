"""Start-up: the first call of every public core function, cold (empty cache) and warm.

Each round is a fresh Python process with its own Numba cache folder
(``FASTDYN_CACHE_DIR``): "cold" starts from an empty folder (every kernel is
compiled), "warm" from the folder a previous process filled (kernels are
loaded).  The process imports fastdyn and calls ``trajectory`` (exact, ODE,
jepa-ema), ``critical_time`` (exact, asymptotic, ODE), ``time_to_reach``,
``advance``, ``fixed_point`` and ``rhs`` once each on ``n`` features: 100
(the serial kernels) or 5000 (also the parallel variants of the exact
kernels).  The time is wall clock of the whole process work (import included),
measured inside it.
"""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import numpy as np
    import fastdyn as fd
    n = int(sys.argv[1])
    rng = np.random.default_rng(0)
    lam, rho = rng.uniform(0.5, 2, n), rng.uniform(0.3, 1, n)
    t = np.geomspace(1e-2, 1e6, 8)
    kw = dict(depth=5, objective="jepa")
    fd.trajectory(t, lam, rho, eps=1e-3, **kw)
    fd.trajectory(t, lam, rho, eps=1e-3, method="ode", **kw)
    fd.trajectory(t[:5], lam, rho, depth=5, eps=1e-3, objective="jepa-ema", ema_time=1.0)
    fd.critical_time(lam, rho, eps=1e-3, **kw)
    fd.critical_time(lam, rho, eps=1e-3, method="asymptotic", **kw)
    fd.critical_time(lam, rho, eps=1e-3, method="ode", **kw)
    fd.time_to_reach(0.1, lam, rho, eps=1e-3, **kw)
    fd.advance(np.full(n, 2e-3), 0.5, lam, rho, **kw)
    fd.fixed_point(rho, **kw)
    fd.rhs(np.full(n, 2e-3), lam, rho, **kw)
    print(time.perf_counter() - t0)
""")


def _run(cache, n):
    env = {**os.environ, "FASTDYN_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_DIR", None)
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(n)], env=env, capture_output=True,
                         text=True, timeout=600, check=True)
    return float(res.stdout.split()[-1])


@pytest.mark.parametrize("n", [100, 5000])
@pytest.mark.parametrize("state", ["cold", "warm"])
def test_first_calls(benchmark, tmp_path, state, n):
    cache = tmp_path / "cache"
    if state == "warm":
        _run(cache, n)  # fill the cache
    seconds = []

    def once():
        if state == "cold":
            import shutil
            shutil.rmtree(cache, ignore_errors=True)
        seconds.append(_run(cache, n))

    benchmark.pedantic(once, rounds=3, iterations=1)
    benchmark.extra_info["seconds_in_process_best"] = min(seconds)
