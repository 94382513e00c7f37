"""The public API as a user meets it: shapes, dtypes, out=, statuses, and every bad input."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastdyn as fd

KW = dict(depth=3, objective="jepa")
#: the documented domain as the messages print it (regular expressions)
DOMAIN = {"lam": r"\[1e-06, 1e\+06\]", "rho": r"\[0.001, 1000\]", "eps": r"\[1e-30, 1000\]"}


# ---------------------------------------------------------------------------
# shapes, broadcasting, dtypes, empty inputs
# ---------------------------------------------------------------------------
def test_trajectory_shape_is_batch_plus_time():
    lam = np.full((2, 3), 1.0)
    w = fd.trajectory(np.linspace(0, 10, 5), lam, 0.8, depth=[1, 2, 3], eps=1e-3)
    assert w.shape == (2, 3, 5) and w.dtype == np.float64


def test_per_feature_depth_matches_separate_calls():
    t = np.logspace(-1, 4, 7)
    together = fd.trajectory(t, 1.0, 0.8, depth=[1, 4, 9], eps=1e-3, objective="mae")
    for i, L in enumerate([1, 4, 9]):
        np.testing.assert_array_equal(together[i], fd.trajectory(t, 1.0, 0.8, depth=L, eps=1e-3, objective="mae"))


def test_scalar_inputs_give_scalars():
    assert isinstance(fd.fixed_point(0.5, **KW), float)
    assert isinstance(fd.time_to_reach(0.1, 1.0, 0.8, eps=1e-3, **KW), float)
    assert isinstance(fd.critical_time(1.0, 0.8, eps=1e-3, **KW), float)
    assert isinstance(fd.advance(0.1, 1.0, 1.0, 0.8, **KW), float)
    assert isinstance(fd.rhs(0.1, 1.0, 0.8, **KW), float)
    assert fd.trajectory([1.0, 2.0], 1.0, 0.8, eps=1e-3, **KW).shape == (2,)


def test_float32_and_integer_inputs_are_computed_in_float64():
    t = np.array([0.5, 5.0], dtype=np.float32)
    w32 = fd.trajectory(t, np.float32(1.5), np.float32(0.75), eps=np.float32(0.001), **KW)
    w64 = fd.trajectory(t.astype(np.float64), 1.5, 0.75, eps=float(np.float32(0.001)), **KW)
    assert w32.dtype == np.float64
    np.testing.assert_array_equal(w32, w64)
    assert fd.rhs(1, 2, 1, **KW) == fd.rhs(1.0, 2.0, 1.0, **KW)


@pytest.mark.parametrize("empty", [np.zeros(0), np.zeros((0, 4))])
def test_empty_batches(empty):
    lam = empty + 1.0
    assert fd.trajectory([1.0, 2.0], lam, 0.5, eps=1e-3, **KW).shape == empty.shape + (2,)
    assert fd.critical_time(lam, 0.5, eps=1e-3, **KW).shape == empty.shape
    assert fd.time_to_reach(lam, lam, 0.5, eps=1e-3, **KW).shape == empty.shape
    assert fd.advance(lam, 1.0, lam, 0.5, **KW).shape == empty.shape


def test_empty_time_grid():
    assert fd.trajectory([], [1.0, 2.0], 0.5, eps=1e-3, **KW).shape == (2, 0)


def test_out_is_filled_and_returned():
    out = np.empty((4, 3))
    res = fd.trajectory([0.0, 1.0, 1e3], np.linspace(0.5, 2, 4), 0.9, eps=1e-2, out=out, **KW)
    assert res is out
    np.testing.assert_array_equal(out, fd.trajectory([0.0, 1.0, 1e3], np.linspace(0.5, 2, 4), 0.9, eps=1e-2, **KW))


def test_out_non_contiguous_is_filled():
    big = np.zeros((4, 6))
    out = big[:, ::2]
    fd.trajectory([0.0, 1.0, 1e3], np.linspace(0.5, 2, 4), 0.9, eps=1e-2, out=out, **KW)
    np.testing.assert_array_equal(out, fd.trajectory([0.0, 1.0, 1e3], np.linspace(0.5, 2, 4), 0.9, eps=1e-2, **KW))
    assert np.all(big[:, 1::2] == 0.0)


def test_advance_in_place():
    w = np.full(5, 1e-2)
    expected = fd.advance(w.copy(), 3.0, 1.0, 0.9, **KW)
    res = fd.advance(w, 3.0, 1.0, 0.9, out=w, **KW)
    assert res is w
    np.testing.assert_array_equal(w, expected)


def test_large_batch_uses_parallel_kernel_with_identical_results():
    """The serial (small batch) and prange (large batch) kernels agree bit for bit."""
    rng = np.random.default_rng(1)
    lam = rng.uniform(0.5, 2, 5000)
    rho = rng.uniform(0.3, 1, 5000)
    big = fd.critical_time(lam, rho, eps=1e-3, **KW)
    small = np.array([fd.critical_time(lam[i:i + 50], rho[i:i + 50], eps=1e-3, **KW) for i in range(0, 5000, 50)]).ravel()
    np.testing.assert_array_equal(big, small)


# ---------------------------------------------------------------------------
# bad input: one test per kind, naming the parameter, value and index
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lam", "rho", "eps"])
@pytest.mark.parametrize("bad, shown", [(-1.0, "-1.0"), (0.0, "0.0"), (np.nan, "nan"), (np.inf, "inf")])
def test_trajectory_rejects_bad_parameter(name, bad, shown):
    args = dict(lam=[1.0, 1.0, 1.0], rho=[0.5, 0.5, 0.5], eps=[1e-3, 1e-3, 1e-3])
    args[name] = list(args[name])
    args[name][2] = bad
    with pytest.raises(ValueError, match=rf"`{name}` must be in {DOMAIN[name]} \(fastdyn's domain\); {name}\[2\] = {shown}"):
        fd.trajectory([1.0], args["lam"], args["rho"], eps=args["eps"], **KW)


@pytest.mark.parametrize("bad", [-2.0, 0.0, np.nan, np.inf])
def test_time_to_reach_rejects_bad_w(bad):
    with pytest.raises(ValueError, match=r"`w` must be in \[1e-200, 1e\+200\] \(fastdyn's domain\); w\[1\]"):
        fd.time_to_reach([0.1, bad], 1.0, 0.5, eps=1e-3, **KW)


@pytest.mark.parametrize("bad", [-2.0, np.nan])
def test_advance_rejects_bad_w(bad):
    with pytest.raises(ValueError, match=r"`w` must be in \[1e-200, 1e\+200\] \(fastdyn's domain\); w\[0\]"):
        fd.advance([bad], 1.0, 1.0, 0.5, **KW)


@pytest.mark.parametrize("depth, exc, msg", [
    (2.5, ValueError, r"`depth` must be an integer"),
    (0, ValueError, r"`depth` must be an integer in \[1, 64\]; got 0"),
    (65, ValueError, r"got 65"),
    ([3, -1], ValueError, r"depth\[1\] = -1"),
    (True, TypeError, r"`depth`"),
    ("3", TypeError, r"`depth`"),
])
def test_bad_depth(depth, exc, msg):
    with pytest.raises(exc, match=msg):
        fd.critical_time(1.0, 0.5, depth=depth, eps=1e-3, objective="jepa")


@pytest.mark.parametrize("t, msg", [
    ([0.0, -1.0], r"`t`.*t\[1\] = -1.0"),
    ([0.0, np.inf], r"`t`.*t\[1\] = inf"),
    ([0.0, np.nan], r"`t`.*t\[1\] = nan"),
    ([1.0, 2.0, 1.5], r"`t` must be non-decreasing.*t\[2\]"),
    ([[1.0, 2.0]], r"`t` must be a 1-D array; got shape"),
    (1.0, r"`t` must be a 1-D array; got shape"),
])
def test_bad_time_grid(t, msg):
    with pytest.raises(ValueError, match=msg):
        fd.trajectory(t, 1.0, 0.5, eps=1e-3, **KW)


@pytest.mark.parametrize("dt", [-1e-3, np.nan, np.inf])
def test_bad_dt(dt):
    with pytest.raises(ValueError, match=r"`dt` must be in \[0, 1e\+300\] \(fastdyn's domain\)"):
        fd.advance([0.1, 0.2], [1.0, dt], 1.0, 0.5, **KW)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.5, 2.0, np.nan])
def test_bad_p(p):
    with pytest.raises(ValueError, match=r"`p` must be in \(0, 1\) \(fastdyn's domain\)"):
        fd.critical_time(1.0, 0.5, eps=1e-3, p=p, **KW)


@pytest.mark.parametrize("objective, exc", [("JEPA", ValueError), ("vicreg", ValueError), (0, TypeError), (None, TypeError)])
def test_bad_objective(objective, exc):
    with pytest.raises(exc, match=r"`objective`"):
        fd.fixed_point(0.5, depth=2, objective=objective)


@pytest.mark.parametrize("func, method", [("trajectory", "rk4"), ("critical_time", "exactly")])
def test_bad_method(func, method):
    with pytest.raises(ValueError, match=r"`method` must be"):
        if func == "trajectory":
            fd.trajectory([1.0], 1.0, 0.5, eps=1e-3, method=method, **KW)
        else:
            fd.critical_time(1.0, 0.5, eps=1e-3, method=method, **KW)


@pytest.mark.parametrize("rtol", [0.0, -1e-8, 0.5, np.nan, np.inf])
def test_bad_rtol(rtol):
    with pytest.raises(ValueError, match=r"`rtol` must be in \[1e-14, 0.01\]"):
        fd.trajectory([1.0], 1.0, 0.5, eps=1e-3, method="ode", rtol=rtol, **KW)


def test_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"`lam` \(shape \(3,\)\), `rho` \(shape \(4,\)\).*do not broadcast"):
        fd.trajectory([1.0], np.ones(3), np.ones(4), eps=1e-3, **KW)


@pytest.mark.parametrize("out, exc, msg", [
    (np.empty((3, 2)), ValueError, r"`out` must have shape \(3, 1\)"),
    (np.empty((3, 1), dtype=np.float32), TypeError, r"`out`.*float32"),
    ([[0.0], [0.0], [0.0]], TypeError, r"`out` must be a numpy.ndarray"),
])
def test_bad_out(out, exc, msg):
    with pytest.raises(exc, match=msg):
        fd.trajectory([1.0], np.ones(3), 0.5, eps=1e-3, out=out, **KW)


def test_read_only_out():
    out = np.empty((3, 1))
    out.setflags(write=False)
    with pytest.raises(ValueError, match=r"`out`"):
        fd.trajectory([1.0], np.ones(3), 0.5, eps=1e-3, out=out, **KW)


@pytest.mark.parametrize("value", ["1.0", 1 + 2j, [True, False]])
def test_wrong_kind_is_a_type_error(value):
    with pytest.raises(TypeError, match=r"`lam`"):
        fd.critical_time(value, 0.5, eps=1e-3, **KW)


def test_no_nan_is_ever_returned_silently():
    """Across the corners of the domain every output is a number (possibly inf for times)."""
    lam = np.array([1e-6, 1e6])[:, None, None, None]
    rho = np.array([1e-3, 1e3])[None, :, None, None]
    eps = np.array([1e-30, 1.0, 1e3])[None, None, :, None]
    depth = np.array([1, 2, 64])[None, None, None, :]
    for objective in ("jepa", "mae"):
        w = fd.trajectory(np.logspace(-300, 300, 13), lam, rho, depth=depth, eps=eps, objective=objective)
        assert not np.isnan(w).any() and np.all(w > 0)
        tc = fd.critical_time(lam, rho, depth=depth, eps=eps, objective=objective)
        assert not np.isnan(tc).any() and np.all(tc >= 0)


def test_status_codes_are_exposed():
    assert [s.name for s in fd.Status] == ["SUCCESS", "MAX_STEPS", "NON_FINITE", "NO_CONVERGENCE",
                                            "OUT_OF_DOMAIN", "DIVERGED", "OSCILLATED"]
    assert math.isinf(fd.time_to_reach(2.0, 1.0, 0.5, eps=1e-3, **KW))


def _log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10.0**x)


@given(objective=st.sampled_from(["jepa", "mae"]), depth=st.integers(1, 64),
       lam=_log_uniform(1e-6, 1e6), rho=_log_uniform(1e-3, 1e3), eps=_log_uniform(1e-30, 1e3),
       x=_log_uniform(1e-30, 1e30), t=_log_uniform(1e-300, 1e300), p=st.floats(1e-6, 1 - 1e-6))
def test_no_nan_anywhere_in_the_domain(objective, depth, lam, rho, eps, x, t, p):
    """Every exact function returns a number (inf allowed for times) over the whole domain."""
    kw = dict(depth=depth, objective=objective)
    assert not math.isnan(fd.critical_time(lam, rho, eps=eps, p=p, **kw))
    assert not math.isnan(fd.critical_time(lam, rho, eps=eps, method="asymptotic", **kw))
    assert not math.isnan(fd.time_to_reach(x, lam, rho, eps=eps, **kw))
    w = fd.trajectory([0.0, t], lam, rho, eps=eps, **kw)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    w1 = fd.advance(x, t, lam, rho, **kw)
    assert math.isfinite(w1) and w1 > 0
    assert not math.isnan(fd.rhs(x, lam, rho, **kw))


# --------------------------------------------------------------------------
# objective "jepa-ema" through the public trajectory
# --------------------------------------------------------------------------
def test_jepa_ema_through_trajectory_defaults_to_the_ode():
    t = np.geomspace(1e-2, 3e3, 16)
    lam, rho = np.array([0.5, 1.0, 2.0]), np.array([0.9, 0.6, 0.4])
    w = fd.trajectory(t, lam, rho, depth=2, eps=1e-2, objective="jepa-ema", ema_time=0.0)
    exact = fd.trajectory(t, lam, rho, depth=2, eps=1e-2, objective="jepa")
    np.testing.assert_allclose(w, exact, rtol=1e-5)
    lagged = fd.trajectory(t, lam, rho, depth=2, eps=1e-2, objective="jepa-ema", ema_time=5.0)
    # a lagging target slows learning: never ahead of eq. 7 during the rise
    assert np.all(lagged <= exact * (1 + 1e-6))
    assert np.any(lagged < 0.9 * exact)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(objective="jepa-ema", method="exact"), ValueError, "no closed form; use method='ode'"),
    (dict(objective="jepa", ema_time=1.0), ValueError, "`ema_time` applies to objective='jepa-ema' only"),
    (dict(objective="byol"), ValueError, "`objective` must be 'jepa', 'mae' or 'jepa-ema'; got 'byol'"),
    (dict(objective="jepa-ema", ema_time=-1.0), ValueError, "ema_time"),
])
def test_jepa_ema_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fd.trajectory([1.0], 1.0, 0.5, depth=2, eps=1e-3, **kwargs)


# --------------------------------------------------------------------------
# dask.array inputs go through map_blocks with the right chunks
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["trajectory", "critical_time", "time_to_reach", "advance",
                                  "fixed_point", "rhs"])
def test_dask_inputs_through_the_public_api(name):
    da = pytest.importorskip("dask.array")
    lam = np.linspace(0.5, 2.0, 10)
    rho = np.linspace(0.3, 1.0, 10)
    lam_d, rho_d = da.from_array(lam, chunks=4), da.from_array(rho, chunks=4)
    t = np.geomspace(1.0, 1e4, 7)
    calls = {
        "trajectory": lambda a, b: fd.trajectory(t, a, b, depth=3, eps=1e-3, objective="mae"),
        "critical_time": lambda a, b: fd.critical_time(a, b, depth=3, eps=1e-3, objective="jepa"),
        "time_to_reach": lambda a, b: fd.time_to_reach(0.1 * b, a, b, depth=3, eps=1e-3,
                                                       objective="jepa"),
        "advance": lambda a, b: fd.advance(1e-3, 10.0, a, b, depth=3, objective="mae"),
        "fixed_point": lambda a, b: fd.fixed_point(b, depth=3, objective="mae"),
        "rhs": lambda a, b: fd.rhs(0.1, a, b, depth=3, objective="jepa"),
    }
    lazy = calls[name](lam_d, rho_d)
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == (4, 4, 2)
    np.testing.assert_array_equal(lazy.compute(), calls[name](lam, rho))
