"""The largest stable learning rate per feature (``fd.gd_stable_lr``, issue 15).

Checked against independent references:

* the threshold written out (the derivation of ``kernels/cuda/gd.h``) and
  evaluated in 50-digit arithmetic (mpmath), over the whole documented domain
  (hypothesis), to a few roundings; ``inf`` / ``0`` exactly where the exact
  value lies beyond / below float64;
* the recursion itself (``fd.gd_trajectory``), started next to the balanced
  fixed point: it converges at 0.97 of the threshold and leaves the fixed
  point at 1.03 of it, for JEPA, MAE and jepa-ema at several depths and
  momenta; for JEPA and MAE the approach is monotone below half the threshold
  and oscillating above it;
* the GPU entry point (``gd_kernels.cu``), built for the host, and the GPU path
  of the API through the CuPy stand-in: the same values bit for bit.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cuda_host
import fastdyn as fd
from fastdyn.kernels import _constants as C

#: the result takes at most seven roundings of one ulp (k_max, the quotient, two powers,
#: two products): 7 * 2**-52
RTOL = 7 * 2.0**-52
DBL_MAX = np.finfo(np.float64).max
DBL_TINY = np.finfo(np.float64).tiny  # the smallest normal number


def reference(objective, depth, lam, rho, momentum=0.0):
    """The derived threshold in 50-digit arithmetic (an mpf)."""
    with mpmath.workdps(50):
        lam, rho, m, L = mpmath.mpf(lam), mpmath.mpf(rho), mpmath.mpf(momentum), depth
        if objective == "mae":
            return 2 / ((L + 1) * lam * rho ** (mpmath.mpf(L - 1) / (L + 1)))
        k = mpmath.mpf(2)
        if objective == "jepa-ema" and m > 0:
            k = min(2 * (1 + m) / (1 + m + 2 * m * L), (1 + m) / (m * (1 + L)))
        return k / (lam * rho ** (2 * L - 1))


def _log_uniform(lo, hi):
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda x: float(min(hi, max(lo, 10.0**x))))


@given(objective=st.sampled_from(["jepa", "mae", "jepa-ema"]), depth=st.integers(1, C.MAX_DEPTH),
       lam=_log_uniform(C.LAM_MIN, C.LAM_MAX), rho=_log_uniform(C.RHO_MIN, C.RHO_MAX),
       momentum=st.floats(0.0, 1.0, exclude_max=True))
def test_equals_the_derivation_over_the_domain(objective, depth, lam, rho, momentum):
    kw = {"momentum": momentum} if objective == "jepa-ema" else {}
    got = float(fd.gd_stable_lr(lam, rho, depth=depth, objective=objective, **kw))
    want = reference(objective, depth, lam, rho, momentum)
    if want > DBL_MAX:
        assert got == np.inf
    elif want < DBL_TINY:  # subnormal or below: absolute error of a few subnormal spacings
        assert abs(got - float(want)) <= 8 * 2.0**-1074
    else:
        assert got > 0 and abs(got / want - 1) <= RTOL


@pytest.mark.parametrize("objective, depth, lam, rho, expect", [
    ("jepa", 64, 1e-6, 1e-3, np.inf),  # 2e6 * 1e381: beyond float64, every lr is stable
    ("jepa", 64, 1e6, 1e3, 0.0),       # 2e-6 * 1e-381: below float64
    ("jepa-ema", 64, 1.0, 1e-3, np.inf),
])
def test_beyond_float64(objective, depth, lam, rho, expect):
    kw = {"momentum": 0.5} if objective == "jepa-ema" else {}
    assert fd.gd_stable_lr(lam, rho, depth=depth, objective=objective, **kw) == expect


def test_jepa_ema_without_momentum_is_jepa():
    lam, rho = np.geomspace(0.1, 10, 7), np.linspace(0.5, 1.5, 7)
    np.testing.assert_array_equal(
        fd.gd_stable_lr(lam, rho, depth=4, objective="jepa-ema", momentum=0.0),
        fd.gd_stable_lr(lam, rho, depth=4, objective="jepa"))


def test_broadcasting_and_per_feature_depths():
    lam = np.array([[0.5], [1.0], [2.0]])
    rho = np.array([0.7, 0.9, 1.1, 1.3])
    depth = np.array([1, 2, 5, 8])
    got = fd.gd_stable_lr(lam, rho, depth=depth, objective="jepa")
    assert got.shape == (3, 4)
    want = 2.0 / (lam * rho ** (2 * depth - 1))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0.0)
    assert isinstance(fd.gd_stable_lr(1.0, 0.8, depth=2, objective="mae"), float)


def _near_fixed_point(objective, depth, rho, n):
    """Every layer and the predictor/decoder 1e-4 above the balanced fixed point."""
    u_star = rho ** (1.0 / (depth + 1)) if objective == "mae" else rho
    return np.full((n, depth), u_star * (1 + 1e-4)), np.full(n, u_star * (1 + 1e-4))


@pytest.mark.parametrize("objective, momentum", [("jepa", None), ("mae", None),
                                                 ("jepa-ema", 0.5), ("jepa-ema", 0.9)])
@pytest.mark.parametrize("depth", [1, 2, 5])
def test_the_recursion_is_stable_just_below_and_unstable_just_above(objective, momentum, depth):
    lam, rho = 1.5, 0.9
    kw = {} if momentum is None else {"momentum": momentum}
    lr_max = fd.gd_stable_lr(lam, rho, depth=depth, objective=objective, **kw)
    w_star = fd.fixed_point(rho, depth=depth, objective="mae" if objective == "mae" else "jepa")
    layers, decoder = _near_fixed_point(objective, depth, rho, 2)
    w, status = fd.gd_trajectory([0, 20000], lam, rho, depth=depth, objective=objective,
                                 lr=lr_max * np.array([0.97, 1.03]), layers=layers,
                                 decoder=decoder, return_status=True, **kw)
    dev0 = abs(w[0, 0] / w_star - 1)
    assert dev0 > 1e-5
    # 0.97x: converged to the fixed point (oscillating: k = lr mu > 1)
    assert abs(w[0, 1] / w_star - 1) < 1e-3 * dev0
    assert status[0] in (fd.Status.SUCCESS, fd.Status.OSCILLATED)
    # 1.03x: it left the fixed point, oscillating (a period-2 orbit) or diverged
    assert status[1] in (fd.Status.OSCILLATED, fd.Status.DIVERGED)
    assert not (np.isfinite(w[1, 1]) and abs(w[1, 1] / w_star - 1) < 10 * dev0)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("depth", [1, 3])
def test_monotone_below_half_the_threshold_oscillating_above(objective, depth):
    """JEPA and MAE: the eigenvalue 1 - lr mu of the recursion is negative above lr_max / 2."""
    lam, rho = 0.8, 1.1
    lr_max = fd.gd_stable_lr(lam, rho, depth=depth, objective=objective)
    layers, decoder = _near_fixed_point(objective, depth, rho, 2)
    _, status = fd.gd_trajectory(np.arange(0, 200), lam, rho, depth=depth, objective=objective,
                                 lr=lr_max * np.array([0.45, 0.55]), layers=layers,
                                 decoder=decoder, return_status=True)
    assert list(status) == [fd.Status.SUCCESS, fd.Status.OSCILLATED]


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(lam=[1.0, 0.0]), ValueError, r"`lam` must be in \[1e-06, 1e\+06\].*lam\[1\] = 0.0"),
    (dict(rho=[0.5, 0.6, 2e3]), ValueError, r"`rho` must be in \[0.001, 1000\].*rho\[2\] = 2000.0"),
    (dict(depth=[1, 65, 2]), ValueError, r"`depth` must be an integer in \[1, 64\]; depth\[1\] = 65"),
    (dict(depth=2.5), ValueError, r"`depth` must be an integer"),
    (dict(lam=["a", "b", "c"]), TypeError, r"`lam`"),
    (dict(momentum=0.5), ValueError, r"`momentum` applies to objective 'jepa-ema' only"),
    (dict(objective="jepa-ema"), TypeError, r"objective 'jepa-ema' needs `momentum`"),
    (dict(objective="jepa-ema", momentum=[0.5, 1.0, 0.2]), ValueError,
     r"`momentum` must be in \[0, 1\).*momentum\[1\] = 1.0"),
    (dict(objective="sgd"), ValueError, r"`objective` must be"),
    (dict(lam=[1.0, 2.0]), ValueError, r"do not broadcast"),
])
def test_bad_input(kwargs, exc, match):
    args = dict(lam=[1.0, 2.0, 3.0], rho=0.8, depth=2, objective="jepa")
    args.update(kwargs)
    if "lam" in kwargs and kwargs["lam"] == [1.0, 2.0]:
        args["rho"] = [0.5, 0.6, 0.7]
    with pytest.raises(exc, match=match):
        fd.gd_stable_lr(args.pop("lam"), args.pop("rho"), **args)


def test_dask_inputs_give_the_numpy_values():
    da = pytest.importorskip("dask.array")
    lam = np.geomspace(0.5, 2.0, 500)
    lazy = fd.gd_stable_lr(da.from_array(lam, chunks=200), 0.8, depth=3, objective="jepa-ema",
                           momentum=0.3)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), fd.gd_stable_lr(
        lam, 0.8, depth=3, objective="jepa-ema", momentum=0.3))


# ---------------------------------------------------------------------------
# the GPU entry point: host build and the CuPy stand-in
# ---------------------------------------------------------------------------
def _features(n=203, seed=3):
    """Random features over the domain, and its corners (JEPA's threshold beyond float64)."""
    rng = np.random.default_rng(seed)
    corners = np.array([[64, C.LAM_MIN, C.RHO_MIN, 0.5], [64, C.LAM_MAX, C.RHO_MAX, 0.5],
                        [1, C.LAM_MIN, C.RHO_MIN, 0.0], [1, C.LAM_MAX, C.RHO_MAX, 0.99]])
    return (np.concatenate([rng.integers(1, C.MAX_DEPTH + 1, n), corners[:, 0].astype(np.int64)]),
            np.concatenate([10.0 ** rng.uniform(-6, 6, n), corners[:, 1]]),
            np.concatenate([10.0 ** rng.uniform(-3, 3, n), corners[:, 2]]),
            np.concatenate([rng.uniform(0, 1, n), corners[:, 3]]))


@pytest.mark.parametrize("objective", ["jepa", "mae", "jepa-ema"])
def test_gpu_entry_point_on_the_host_equals_the_cpu_kernel(objective):
    depth, lam, rho, m = _features()
    if objective != "jepa-ema":
        m = np.zeros_like(m)
    out = np.full(lam.size, np.nan)
    cuda_host.call("gd_kernels.cu", "fd_gd_stable_lr", np.int64(lam.size),
                   np.int32(C.OBJECTIVES[objective]), depth, lam, rho, m, out)
    kw = {"momentum": m} if objective == "jepa-ema" else {}
    want = fd.gd_stable_lr(lam, rho, depth=depth, objective=objective, **kw)
    if objective != "mae":  # the corners: beyond and below float64
        assert np.isinf(want).any() and (want == 0).any() and np.isfinite(want).any()
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("objective", ["jepa", "mae", "jepa-ema"])
def test_device_inputs_give_device_results(cp, objective):
    depth, lam, rho, m = _features(seed=4)
    kw = {"momentum": m} if objective == "jepa-ema" else {}
    want = fd.gd_stable_lr(lam, rho, depth=depth, objective=objective, **kw)
    dkw = {k: cp.asarray(x) for k, x in kw.items()}
    got = fd.gd_stable_lr(cp.asarray(lam), cp.asarray(rho), depth=cp.asarray(depth),
                          objective=objective, **dkw)
    assert isinstance(got, cp.ndarray)
    # the host build: bit for bit; a GPU's libm: the parity target 1e-12
    same = (got.get() == want) | np.isclose(got.get(), want, rtol=1e-12, atol=0.0)
    assert same.all()
    host_in = fd.gd_stable_lr(lam, rho, depth=depth, objective=objective, backend="gpu", **kw)
    assert type(host_in) is np.ndarray
    np.testing.assert_array_equal(host_in, got.get())


def test_device_validation_names_the_first_bad_index(cp):
    with pytest.raises(ValueError, match=r"`rho` must be in \[0.001, 1000\].*rho\[1\] = -1.0"):
        fd.gd_stable_lr(cp.asarray([1.0, 1.0]), cp.asarray([0.5, -1.0]), depth=2, objective="jepa")
