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
Ratios are in ``extra_info`` (``vs_direct``, ``vs_embedded``).
"""

import shutil

import numpy as np
import pytest

import fastdyn as fd
from fastdyn._sweep import sweep

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
