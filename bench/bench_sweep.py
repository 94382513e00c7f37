"""Sweep benchmarks: the cost of streaming to Zarr and of a Dask LocalCluster.

Workload: the core issue's (JEPA, depth 5, eps 1e-3, 64 log-spaced times, lam
log-uniform [0.5, 2], rho uniform [0.3, 1]), N_SWEEP features, trajectories
and critical times, default chunk size (65536 features at 64 times).

Baselines measured in the same run:
- ``direct``: ``fastdyn.trajectory`` + ``fastdyn.critical_time`` on all
  features in memory (no store): the embedded sweep's ratio to it is the cost
  of chunking, random draws and Zarr writes.
- ``embedded``: the LocalCluster sweep's ratio to it is Dask's overhead
  (scheduling, worker processes, the store opened per task).
- ``embedded`` again for what durability and trust cost: the same sweep with
  fsync switched off (``fastdyn._sweep._store.FSYNC = False``, a measuring
  knob only), and the verification of the finished store (``fastdyn verify``,
  full checksums and quick) and a resume that finds every chunk done.
Ratios are in ``extra_info`` (``vs_direct``, ``vs_embedded``; for the fsync
case ``fsync_cost`` = embedded time / no-fsync time - 1; for verification
``vs_compute`` = its time / the embedded sweep's).
"""

import shutil

import numpy as np
import pytest

import fastdyn as fd
from fastdyn._sweep import _store, sweep, verify

N_SWEEP = 1_000_000
CONFIG = dict(n_features=N_SWEEP, seed=0, objectives=["jepa"], depths=[5], eps=[1e-3],
              quantities=["trajectory", "critical_time"],
              times=dict(start=1e-2, stop=1e6, num=64),
              lam=dict(distribution="loguniform", low=0.5, high=2.0),
              rho=dict(distribution="uniform", low=0.3, high=1.0))
_RATE = {}


def _direct():
    rng = np.random.default_rng(0)
    lam = np.exp(rng.uniform(np.log(0.5), np.log(2.0), N_SWEEP))
    rho = rng.uniform(0.3, 1.0, N_SWEEP)
    t = np.geomspace(1e-2, 1e6, 64)
    fd.trajectory(t, lam, rho, depth=5, eps=1e-3, objective="jepa")
    fd.critical_time(lam, rho, depth=5, eps=1e-3, objective="jepa")


def _rate(benchmark):
    return N_SWEEP / benchmark.stats.stats.min


def test_direct_in_memory(benchmark):
    _direct()
    benchmark.pedantic(_direct, rounds=2, iterations=1)
    _RATE["direct"] = _rate(benchmark)
    benchmark.extra_info.update(features_per_s=_RATE["direct"])


def test_sweep_embedded(benchmark, tmp_path):
    path = tmp_path / "e.zarr"
    sweep({**CONFIG, "n_features": 1000}, tmp_path / "warm.zarr", progress=False)
    benchmark.pedantic(lambda: sweep(CONFIG, path, overwrite=True, progress=False),
                       rounds=2, iterations=1)
    _RATE["embedded"] = rate = _rate(benchmark)
    benchmark.extra_info.update(features_per_s=rate)
    if "direct" in _RATE:
        benchmark.extra_info["vs_direct"] = rate / _RATE["direct"]
    shutil.rmtree(path)


def test_sweep_embedded_without_fsync(benchmark, tmp_path):
    path = tmp_path / "n.zarr"
    sweep({**CONFIG, "n_features": 1000}, tmp_path / "warm.zarr", progress=False)
    _store.FSYNC = False
    try:
        benchmark.pedantic(lambda: sweep(CONFIG, path, overwrite=True, progress=False),
                           rounds=2, iterations=1)
    finally:
        _store.FSYNC = True
    rate = _rate(benchmark)
    benchmark.extra_info.update(features_per_s=rate)
    if "embedded" in _RATE:
        benchmark.extra_info["fsync_cost"] = rate / _RATE["embedded"] - 1.0
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("done") / "f.zarr"
    sweep(CONFIG, path, progress=False)
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("how", ["verify-full", "verify-quick", "resume-all-done"])
def test_verification(benchmark, finished, how):
    run = {"verify-full": lambda: verify(finished, full=True),
           "verify-quick": lambda: verify(finished, full=False),
           "resume-all-done": lambda: sweep(CONFIG, finished, progress=False)}[how]
    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update(seconds=seconds)
    if "embedded" in _RATE:
        benchmark.extra_info["vs_compute"] = seconds * _RATE["embedded"] / N_SWEEP


def test_sweep_local_cluster(benchmark, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        path = tmp_path / "d.zarr"
        # warm the workers (imports, Numba's cache) outside the timing
        sweep({**CONFIG, "n_features": 1000}, tmp_path / "warm.zarr", scheduler=client,
              progress=False)
        benchmark.pedantic(lambda: sweep(CONFIG, path, scheduler=client, overwrite=True,
                                         progress=False), rounds=2, iterations=1)
    rate = _rate(benchmark)
    benchmark.extra_info.update(features_per_s=rate)
    if "embedded" in _RATE:
        benchmark.extra_info["vs_embedded"] = rate / _RATE["embedded"]
    shutil.rmtree(path)
