"""Finite-learning-rate gradient descent per feature (``fd.gd_trajectory``) against the trainer.

Feature-steps per second at N = 1e6 features, depth 5 (JEPA, MAE, jepa-ema),
next to ``fastdyn.train.train`` on the same kind of problem (population
gradient descent on diagonal data with an aligned initialisation, d = 100
features as d x d matrices) in the same run: the ratio is what the per-feature
recursion buys.  ``FASTDYN_GD_BENCH_N`` shortens the run (default 1e6).  Also: the
stability threshold ``fd.gd_stable_lr`` at N = 1e6, and gradient flow from unbalanced starts
(``fd.flow_trajectory``, JEPA and jepa-ema at three target lags).
"""

import os

import numpy as np
import pytest

import fastdyn as fd
from fastdyn import train as tr
from workload import record

N = int(os.environ.get("FASTDYN_GD_BENCH_N", "1000000"))
DEPTH, STEPS, LR, EPS = 5, 100, 0.01, 1e-3
D_TRAIN, TRAIN_STEPS = 100, 200
_RATE = {}


def _features(n):
    rng = np.random.default_rng(0)
    return 10.0 ** rng.uniform(-0.5, 0.5, n), rng.uniform(0.5, 1.2, n)


@pytest.mark.parametrize("objective", ["jepa", "mae", "jepa-ema"])
def test_gd_trajectory_1e6(benchmark, objective):
    lam, rho = _features(N)
    kw = {"momentum": 0.9} if objective == "jepa-ema" else {}
    steps = np.array([0, STEPS // 2, STEPS])
    run = lambda: fd.gd_trajectory(steps, lam, rho, depth=DEPTH, objective=objective, lr=LR,
                                   eps=EPS, **kw)
    run()
    w = benchmark.pedantic(run, rounds=3, iterations=1)
    assert np.all(np.isfinite(w))
    _RATE[("gd", objective)] = record(benchmark, f"gd_trajectory, depth {DEPTH}", objective, N,
                                      N * STEPS, "feature-steps/s")


@pytest.mark.parametrize("objective", ["jepa", "mae", "jepa-ema"])
def test_train_same_problem(benchmark, objective):
    """The trainer on diagonal data (d = 100) from the balanced init: d features per step."""
    lam, rho = _features(D_TRAIN)
    data = (np.diag(lam / rho), np.diag(lam))
    kw = {"momentum": 0.9} if objective == "jepa-ema" else {}
    root = EPS ** (1.0 / DEPTH)
    init = (np.stack([root * np.eye(D_TRAIN)] * DEPTH), root * np.eye(D_TRAIN))
    run = lambda: tr.train(data, objective=objective, depth=DEPTH, lr=LR, steps=TRAIN_STEPS,
                           init=init, basis=np.eye(D_TRAIN), record=[0, TRAIN_STEPS], **kw)
    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    rate = record(benchmark, f"train, d={D_TRAIN}, depth {DEPTH}", objective, D_TRAIN,
                  D_TRAIN * TRAIN_STEPS, "feature-steps/s")
    gd = _RATE.get(("gd", objective))
    if gd is not None:
        benchmark.extra_info["gd_over_train"] = gd / rate


@pytest.mark.parametrize("objective", ["jepa", "mae", "jepa-ema"])
def test_gd_stable_lr_1e6(benchmark, objective):
    """The derived threshold per feature (one C++ function, two powers): features/s."""
    lam, rho = _features(N)
    kw = {"momentum": 0.9} if objective == "jepa-ema" else {}
    run = lambda: fd.gd_stable_lr(lam, rho, depth=DEPTH, objective=objective, **kw)
    run()
    lr_max = benchmark.pedantic(run, rounds=3, iterations=1)
    assert np.all(lr_max > 0)
    record(benchmark, f"gd_stable_lr, depth {DEPTH}", objective, N, N, "features/s")


FLOW_N, FLOW_TIMES = 5_000, np.geomspace(1e-2, 1e3, 16)


@pytest.mark.parametrize("ema_time", [0.0, 0.1, 1.0, 10.0])
def test_flow_trajectory_unbalanced(benchmark, ema_time):
    """Gradient flow from unbalanced starts (JEPA; jepa-ema with the target lag E): the cost
    of the L + 1 dimensional jepa-ema system grows like t / E (explicit steps)."""
    lam, rho = _features(FLOW_N)
    rng = np.random.default_rng(1)
    layers = 0.3 * np.exp(0.2 * rng.standard_normal((FLOW_N, DEPTH)))
    decoder = 0.3 * np.exp(0.2 * rng.standard_normal(FLOW_N))
    objective = "jepa-ema" if ema_time > 0 else "jepa"
    kw = {"ema_time": ema_time} if ema_time > 0 else {}
    run = lambda: fd.flow_trajectory(FLOW_TIMES, lam, rho, depth=DEPTH, objective=objective,
                                     layers=layers, decoder=decoder, **kw)
    run()
    w = benchmark.pedantic(run, rounds=3, iterations=1)
    assert np.all(np.isfinite(w))
    record(benchmark, f"flow_trajectory E={ema_time:g}", objective, FLOW_N,
           FLOW_N * FLOW_TIMES.size, "feature-times/s")
