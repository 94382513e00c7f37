"""Trainer throughput: the figure 5 run (d = 100, depth 5, minibatch 1000) on the CPU.

Reports seeds x steps per second for 1 seed and for 64 seeds trained as one
batched computation, and the ratio of the two (the gain from batching),
measured in the same run.  ``FASTDYN_TRAIN_BENCH_STEPS`` (default 5000, the
paper's run) shortens the run for a quick look.
"""

import os

import numpy as np
import pytest

from fastdyn import train as tr
from workload import record

D, DEPTH, BATCH = 100, 5, 1000
STEPS = int(os.environ.get("FASTDYN_TRAIN_BENCH_STEPS", "5000"))
_RATE = {}


def _sampler():
    lam = np.linspace(0.5, 2.0, D)
    rho = np.linspace(1.0, 0.6, D)
    sxx = np.diag(lam / rho)
    return tr.gaussian_sampler(sxx, np.diag(lam), sxx)


@pytest.mark.parametrize("seeds", [1, 64])
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_figure5_sgd(benchmark, objective, seeds):
    sample = _sampler()
    run = lambda: tr.train(sample, objective=objective, depth=DEPTH, lr=0.05, steps=STEPS,
                           batch_size=BATCH, seeds=seeds, init="gaussian", seed=0,
                           record=np.arange(0, STEPS + 1, 50))
    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert np.all(res.status == 0)
    rate = record(benchmark, f"train SGD fig.5 ({seeds} seeds)", objective, seeds,
                  seeds * STEPS, "seed-steps/s")
    if seeds == 1:
        _RATE[objective] = rate
    elif objective in _RATE:
        # gain from batching: seed-steps/s of the batch over those of one seed
        benchmark.extra_info["vs_1_seed"] = rate / _RATE[objective]
        print(f"\n{objective}: {seeds} seeds batched = {rate / _RATE[objective]:.2f}x "
              f"the seed-steps/s of 1 seed")
