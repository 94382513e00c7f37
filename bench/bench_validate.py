"""Overhead of the API-boundary validation (``fastdyn._validate``).

Run with::

    pytest bench/bench_validate.py --benchmark-enable

The typical call validates five per-feature arrays of 100 elements (four
against the documented domain through ``in_domain``, the depths through
``depth_array``) and
broadcasts them together, which is what a public function does before it
reaches a kernel.  Two variants show the scalar-parameter paths.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastdyn._validate import broadcast, depth_array, in_domain, objective_code

N_FEATURES = 100


@pytest.fixture(scope="module")
def features() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "w": rng.uniform(0.1, 2.0, N_FEATURES),
        "lam": rng.uniform(0.1, 2.0, N_FEATURES),
        "rho": rng.uniform(0.1, 2.0, N_FEATURES),  # inside the domain [1e-3, 1e3]
        "eps": np.full(N_FEATURES, 1e-3),
        "depth": rng.integers(1, 65, N_FEATURES),
    }


def validate(w, lam, rho, eps, depth):
    """What a public function does with its per-feature arguments."""
    return broadcast(
        w=in_domain("w", w),
        lam=in_domain("lam", lam),
        rho=in_domain("rho", rho),
        eps=in_domain("eps", eps),
        depth=depth_array(depth),
    )


def test_five_arrays_of_100(benchmark, features):
    """The typical call: five 100-element arrays, nothing to broadcast."""
    (arrays, shape) = benchmark(validate, **features)
    assert shape == (N_FEATURES,) and len(arrays) == 5


def test_three_arrays_two_scalars(benchmark, features):
    """Scalar ``eps`` and ``depth`` broadcast against three arrays."""
    args = dict(features, eps=1e-3, depth=3)
    (arrays, shape) = benchmark(validate, **args)
    assert shape == (N_FEATURES,)


def test_all_scalars(benchmark):
    """One feature given as Python scalars (the loop-over-features use)."""
    (arrays, shape) = benchmark(validate, w=0.5, lam=1.0, rho=0.5, eps=1e-3, depth=3)
    assert shape == ()


def test_objective_code(benchmark):
    """String options cost next to nothing."""
    assert benchmark(objective_code, "mae") == 1
