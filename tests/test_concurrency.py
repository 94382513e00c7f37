"""Parallel kernels under multiprocessing (fork, forkserver, spawn), process pools and threads.

Each scenario runs in a fresh interpreter (a hang or an abort there must fail
the test, not the test run): the parent calls a parallel (``prange``) kernel
first, then its workers call parallel kernels; a timeout turns a hang into a
failure, and every result must equal the serial one computed in the parent.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastdyn as fd
from fastdyn.kernels import _jit

TIMEOUT = 180  # seconds per scenario (cold workers compile nothing: the cache is warm)

# The parent warms a parallel kernel (N * T >= PARALLEL_MIN_WORK), then maps `work` over seeds.
_PRELUDE = textwrap.dedent("""
    import sys, numpy as np, fastdyn as fd
    T = np.geomspace(1e-2, 1e4, 64)

    def work(seed):
        rng = np.random.default_rng(seed)
        lam, rho = rng.uniform(0.5, 2.0, 2000), rng.uniform(0.3, 1.0, 2000)
        return (fd.trajectory(T, lam, rho, depth=5, eps=1e-3, objective="jepa"),
                fd.critical_time(lam, rho, depth=5, eps=1e-3, objective="mae"))

    def serial(seed):
        w, tc = [], []
        rng = np.random.default_rng(seed)
        lam, rho = rng.uniform(0.5, 2.0, 2000), rng.uniform(0.3, 1.0, 2000)
        for i in range(0, 2000, 50):  # below the parallel threshold: serial kernels
            w.append(fd.trajectory(T, lam[i:i+50], rho[i:i+50], depth=5, eps=1e-3, objective="jepa")[:, :1])
            tc.append(fd.critical_time(lam[i:i+50], rho[i:i+50], depth=5, eps=1e-3, objective="mae"))
        return np.concatenate(w), np.concatenate(tc)

    def check(results, seeds):
        for (w, tc), s in zip(results, seeds):
            ws, tcs = serial(s)
            assert np.array_equal(w[:, :1], ws) and np.array_equal(tc, tcs), s
""")

_POOL = _PRELUDE + textwrap.dedent("""
    if __name__ == "__main__":
        import multiprocessing as mp
        work(99)  # a parallel kernel in the parent, before the children exist
        seeds = list(range(6))
        with mp.get_context(sys.argv[1]).Pool(2) as pool:
            results = pool.map(work, seeds)
        check(results, seeds)
        from fastdyn.kernels._jit import threading_layer
        print("OK", threading_layer())
""")

_EXECUTOR = _PRELUDE + textwrap.dedent("""
    if __name__ == "__main__":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        work(99)
        seeds = list(range(6))
        with ProcessPoolExecutor(2, mp_context=mp.get_context(sys.argv[1])) as ex:
            results = list(ex.map(work, seeds))
        check(results, seeds)
        print("OK")
""")

_THREADS = _PRELUDE + textwrap.dedent("""
    if __name__ == "__main__":
        from concurrent.futures import ThreadPoolExecutor
        work(99)
        seeds = [s % 3 for s in range(12)]
        with ThreadPoolExecutor(6) as ex:
            results = list(ex.map(work, seeds))
        check(results, seeds)
        from fastdyn.kernels._jit import threading_layer
        print("OK", threading_layer())
""")


def _run(tmp_path, script: str, *args: str, env: dict | None = None) -> str:
    """Run ``script`` as a file (spawned workers re-import ``__main__`` from it)."""
    path = tmp_path / "scenario.py"
    path.write_text(script)
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                              timeout=TIMEOUT, env=full_env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hung for {TIMEOUT} s (stderr: {exc.stderr!r})")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK" in done.stdout, (done.stdout, done.stderr[-3000:])
    assert "fork() called from a process already using GNU OpenMP" not in done.stderr
    return done.stdout


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_pool_workers_call_parallel_kernels_after_the_parent(tmp_path, method):
    _run(tmp_path, _POOL, method)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_pool_executor_after_the_parent(tmp_path, method):
    _run(tmp_path, _EXECUTOR, method)


def test_threads_calling_parallel_kernels_concurrently_agree(tmp_path):
    out = _run(tmp_path, _THREADS)
    assert out.split()[-1] in ("tbb", "workqueue")


def test_threads_under_the_workqueue_layer_are_serialised_not_aborted(tmp_path):
    """Without TBB Numba's workqueue layer aborts on concurrent launches: call_parallel
    serialises them (NUMBA_THREADING_LAYER stands for a machine without TBB)."""
    out = _run(tmp_path, _THREADS, env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert out.split()[-1] == "workqueue"


def test_tbb_is_the_layer_where_it_is_installed(tmp_path):
    try:
        importlib.metadata.version("tbb")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("TBB is a dependency only where wheels exist")
    out = _run(tmp_path, _POOL, "fork")
    assert out.split()[-1] == "tbb"


def test_call_parallel_runs_the_kernel():
    lam = np.linspace(0.5, 2.0, 5000)
    got = fd.critical_time(lam, 0.5, depth=3, eps=1e-3, objective="jepa")  # parallel twin
    want = np.concatenate([fd.critical_time(lam[i:i + 100], 0.5, depth=3, eps=1e-3,
                                            objective="jepa") for i in range(0, 5000, 100)])
    np.testing.assert_array_equal(got, want)
    assert _jit.threading_layer() in ("tbb", "workqueue", "omp")
