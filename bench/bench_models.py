"""Sampler throughput of fastdyn.models (pairs per second, d = 32).

Baseline, measured in the same run: drawing the same number of standard
normals as the output has entries (``2 n d``) with NumPy's default generator,
the floor for any sampler of Gaussian-driven data.  The recorded ratio is
sampler time / baseline time (1.0 = as fast as drawing the noise alone).

Run: ``pytest bench/bench_models.py --benchmark-enable``.
"""

import numpy as np
import pytest

import fastdyn.models as fm
from workload import record

N = 100_000
D = 32
_BASELINE = {}


def _models():
    r = np.random.default_rng(0)
    return {
        "gaussian": (fm.gaussian(r.uniform(0.5, 2, D), r.uniform(0.3, 0.9, D)), {}),
        "masking": (fm.random_masking(r.uniform(0, 4, D), 0.5, 0.5), {}),
        "temporal": (fm.temporal(), {}),
        "temporal, one sequence": (fm.temporal(), {"contiguous": True}),
    }


MODELS = _models()


def test_normal_draws_baseline(benchmark):
    gen = np.random.default_rng(1)
    benchmark.pedantic(lambda: gen.standard_normal((N, 2 * D)), rounds=20, iterations=1)
    _BASELINE["time"] = benchmark.stats.stats.min
    record(benchmark, f"normal draws 2*n*d (d={D})", "-", N, N, "pairs/s")


@pytest.mark.parametrize("name", list(MODELS))
def test_sample(benchmark, name):
    model, kw = MODELS[name]
    assert model.dim == D
    gen = np.random.default_rng(2)
    benchmark.pedantic(lambda: model.sample(N, rng=gen, **kw), rounds=20, iterations=1)
    if "time" in _BASELINE:
        ratio = benchmark.stats.stats.min / _BASELINE["time"]
        benchmark.extra_info["time_vs_normal_draws"] = ratio
        label = f"sample {name} ({ratio:.1f}x draws)"
    else:
        label = f"sample {name}"
    record(benchmark, label, "-", N, N, "pairs/s")


def test_empirical_lam_rho(benchmark):
    model, _ = MODELS["masking"]
    x, y = model.sample(N, rng=3)
    benchmark.pedantic(lambda: fm.empirical_lam_rho(x, y, model.basis, return_stderr=True),
                       rounds=20, iterations=1)
    record(benchmark, "empirical_lam_rho + stderr (k=32)", "-", N, N, "pairs/s")
