"""The boundary of issue 10: the domain contract, aliasing, options, constants, embedding.

* over the documented domain every public function returns finite values
  (times: finite or the documented ``inf`` of "never reached"), on the exact
  and the ODE method, and outside it the boundary refuses with the parameter,
  the value and the first bad index;
* ``out=`` may alias any input and the result equals the unaliased one;
* flags are real bools, integer options are range-checked before a kernel;
* the constants of ``kernels/_constants.py`` equal the CUDA ``config.h`` copies;
* users' ``@njit`` loops run the exact flow map over arrays at the kernel's cost
  and get the public API's values.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import fastdyn as fd
from fastdyn import kernels
from fastdyn.kernels import _constants as C

ROOT = Path(__file__).resolve().parents[1]


def log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10.0 ** x)


objectives = st.sampled_from(["jepa", "mae"])
depths = st.integers(1, C.MAX_DEPTH)
lams = log_uniform(C.LAM_MIN, C.LAM_MAX) | st.sampled_from([C.LAM_MIN, C.LAM_MAX])
rhos = log_uniform(C.RHO_MIN, C.RHO_MAX) | st.sampled_from([C.RHO_MIN, C.RHO_MAX])
epss = log_uniform(C.EPS_MIN, C.EPS_MAX) | st.sampled_from([C.EPS_MIN, C.EPS_MAX])
times = st.just(0.0) | log_uniform(1e-300, C.T_MAX) | st.just(C.T_MAX)
fracs = st.floats(1e-12, 1 - 1e-12)


# ---------------------------------------------------------------------------
# the domain contract: finite inside, refused outside
# ---------------------------------------------------------------------------
@given(objective=objectives, depth=depths, lam=lams, rho=rhos, eps=epss, t=times, p=fracs,
       frac=st.floats(0.0, 1.0))
def test_every_exact_function_is_finite_over_the_domain(objective, depth, lam, rho, eps, t, p, frac):
    kw = dict(depth=depth, objective=objective)
    w_star = float(fd.fixed_point(rho, **kw))
    assert 0.0 < w_star < math.inf
    w = fd.trajectory([0.0, t], lam, rho, eps=eps, **kw)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    tc = fd.critical_time(lam, rho, eps=eps, p=p, **kw)
    assert math.isfinite(tc) and tc >= 0.0  # finite everywhere in the domain
    ta = fd.critical_time(lam, rho, eps=eps, method="asymptotic", **kw)
    # eq. 121's |log eps| / lam is 0 at eps = 1; eq. 12 exceeds float64 (inf) where eps lies far
    # above a tiny fixed point (rho = 1e-3 at depth 51): a small-eps form used out of its regime
    assert ta >= 0.0 and (math.isfinite(ta) or eps > w_star)
    # every weight a trajectory of the domain can take: between eps and the fixed point
    x = math.exp(math.log(eps) + frac * (math.log(w_star) - math.log(eps)))
    tr = fd.time_to_reach(x, lam, rho, eps=eps, **kw)
    assert tr >= 0.0 and not math.isnan(tr)
    w1 = fd.advance(x, t, lam, rho, **kw)
    assert math.isfinite(w1) and w1 > 0
    lo, hi = sorted((x, w_star))
    assert lo * (1 - 1e-15) <= w1 <= hi * (1 + 1e-15)


@settings(max_examples=25, deadline=None)
@given(objective=objectives, depth=depths, lam=lams, rho=rhos, eps=epss, t=times)
def test_ode_is_finite_or_not_success_over_the_domain(objective, depth, lam, rho, eps, t):
    w, status = fd.trajectory([0.0, t], lam, rho, depth=depth, eps=eps, objective=objective,
                              method="ode", return_status=True)
    if status == fd.Status.SUCCESS:
        assert np.all(np.isfinite(w)) and np.all(w > 0)


@given(objective=objectives, depth=depths, lam=lams, rho=rhos, w=log_uniform(C.W_MIN, C.W_MAX))
def test_rhs_is_finite_or_refused(objective, depth, lam, rho, w):
    try:
        f = fd.rhs(w, lam, rho, depth=depth, objective=objective)
    except ValueError as exc:
        assert re.search(r"rhs: the result is not representable in float64 for the feature at "
                         r"flat index 0 \(depth=", str(exc))
        return
    assert math.isfinite(f)


@pytest.mark.parametrize("name, value, shown", [
    ("lam", 1e-7, "1e-07"), ("lam", 2e6, "2000000.0"), ("rho", 1e-10, "1e-10"),
    ("rho", 1e5, "100000.0"), ("rho", 1e300, "1e+300"), ("eps", 1e-31, "1e-31"),
    ("eps", 1e4, "10000.0"),
])
def test_out_of_domain_parameters_are_refused_with_the_first_index(name, value, shown):
    args = dict(lam=[1.0, 1.0, 1.0], rho=[0.5, 0.5, 0.5], eps=[1e-3, 1e-3, 1e-3])
    args[name][1] = value
    with pytest.raises(ValueError, match=rf"`{name}` must be in .* \(fastdyn's domain\); "
                                         rf"{name}\[1\] = {re.escape(shown)}\."):
        fd.trajectory([0.0, 1.0], args["lam"], args["rho"], eps=args["eps"], depth=64,
                      objective="jepa")


@pytest.mark.parametrize("method", ["exact", "ode"])
def test_the_issue_examples_are_refused(method):
    with pytest.raises(ValueError, match=r"`rho` must be in \[0.001, 1000\]"):
        fd.trajectory([0, 1e-10, 1], 1.0, 1e5, depth=64, eps=1e-3, method=method)
    with pytest.raises(ValueError, match=r"`rho` must be in \[0.001, 1000\]"):
        fd.trajectory([0, 1.0], 1.0, 1e-5, depth=64, eps=1e-3, method=method)
    with pytest.raises(ValueError, match=r"`rho` must be in \[0.001, 1000\]"):
        fd.advance(1e-3, 1.0, 1.0, 1e300, depth=5, objective="jepa")


def test_times_beyond_the_domain_are_refused():
    with pytest.raises(ValueError, match=r"`t` must be in \[0, 1e\+300\].*t\[1\] = 1e\+301"):
        fd.trajectory([0.0, 1e301], 1.0, 0.5, depth=2, eps=1e-3)
    with pytest.raises(ValueError, match=r"`dt` must be in \[0, 1e\+300\]"):
        fd.advance(0.1, 1e301, 1.0, 0.5, depth=2, objective="mae")


def test_the_documented_corners_are_accepted_to_rounding():
    # np.logspace(-30, 3) starts at 9.999999999999999e-31: the corner, to rounding
    eps = np.logspace(-30, 3, 5)
    assert eps[0] < C.EPS_MIN
    assert np.all(np.isfinite(fd.critical_time(1.0, 0.5, depth=3, eps=eps, objective="jepa")))
    with pytest.raises(ValueError, match=r"`eps`"):
        fd.critical_time(1.0, 0.5, depth=3, eps=C.EPS_MIN * (1 - 1e-12), objective="jepa")


# ---------------------------------------------------------------------------
# out= aliasing the inputs
# ---------------------------------------------------------------------------
def test_trajectory_out_overlapping_its_times_or_parameters():
    buf = np.linspace(0.1, 2.0, 17)
    t = buf[:16].copy()
    want = fd.trajectory(t, 1.0, 0.5, depth=5, eps=1e-3)
    got = fd.trajectory(buf[:16], 1.0, 0.5, depth=5, eps=1e-3, out=buf[1:])
    np.testing.assert_array_equal(got, want)
    # lam, rho and eps sharing memory with a (features, times) out
    store = np.full((4, 4), 0.5)
    lam = store[:, 0]
    want = fd.trajectory(np.linspace(0, 3, 4), lam.copy(), 0.5, depth=2, eps=1e-3)
    got = fd.trajectory(np.linspace(0, 3, 4), lam, 0.5, depth=2, eps=1e-3, out=store)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shift", [0, 1, -1, 5])
def test_advance_out_aliasing_w_or_dt(shift):
    rng = np.random.default_rng(shift + 10)
    buf = rng.uniform(1e-3, 0.5, 40)
    w = buf[10:30]
    dt = rng.uniform(0.0, 5.0, 20)
    want = fd.advance(w.copy(), dt, 1.0, 0.8, depth=3, objective="jepa")
    got = fd.advance(w, dt, 1.0, 0.8, depth=3, objective="jepa", out=buf[10 + shift:30 + shift])
    np.testing.assert_array_equal(got, want)
    # dt written over
    dbuf = np.concatenate([dt, [0.0]])
    got = fd.advance(want, dbuf[:20], 1.0, 0.8, depth=3, objective="jepa", out=dbuf[1:])
    np.testing.assert_array_equal(got, fd.advance(want, dt, 1.0, 0.8, depth=3, objective="jepa"))


def test_advance_in_place_writes_w():
    w = np.linspace(0.01, 0.3, 10)
    want = fd.advance(w.copy(), 0.5, 1.0, 0.7, depth=2, objective="mae")
    res = fd.advance(w, 0.5, 1.0, 0.7, depth=2, objective="mae", out=w)
    assert res is w
    np.testing.assert_array_equal(w, want)


def test_strided_out_is_filled():
    out = np.empty((6, 2))[:, 0]
    got = fd.advance(np.full(6, 0.1), 1.0, 1.0, 0.5, depth=2, objective="jepa", out=out)
    assert got is out
    np.testing.assert_array_equal(out, fd.advance(np.full(6, 0.1), 1.0, 1.0, 0.5, depth=2,
                                                  objective="jepa"))


# ---------------------------------------------------------------------------
# flags and integer options
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["yes", 1, 0, None, 1.0, np.int64(1), [True]])
def test_return_status_must_be_a_bool(value):
    with pytest.raises(TypeError, match=r"`return_status` must be True or False"):
        fd.trajectory([1.0], 1.0, 0.5, depth=2, eps=1e-3, return_status=value)


@pytest.mark.parametrize("value", [True, np.bool_(False)])
def test_return_status_accepts_bools(value):
    res = fd.critical_time(1.0, 0.5, depth=2, eps=1e-3, objective="jepa", return_status=value)
    assert isinstance(res, tuple) == bool(value)


@pytest.mark.parametrize("value, exc, match", [
    (2**64, ValueError, r"`max_steps` must be an integer in \[1, 4611686018427387904\]; got 18446744073709551616"),
    (2**62 + 1, ValueError, r"`max_steps` must be an integer in \[1, 4611686018427387904\]"),
    (0, ValueError, r"got 0\."),
    (-5, ValueError, r"got -5\."),
    (10.0, TypeError, r"`max_steps` must be an integer; got float 10.0"),
    (True, TypeError, r"`max_steps` must be an integer; got bool True"),
    ("100", TypeError, r"`max_steps` must be an integer; got str '100'"),
])
def test_max_steps_is_range_checked_before_the_kernel(value, exc, match):
    with pytest.raises(exc, match=match):
        fd.trajectory([1.0], 1.0, 0.5, depth=2, eps=1e-3, method="ode", max_steps=value)
    with pytest.raises(exc, match=match):
        fd.critical_time(1.0, 0.5, depth=2, eps=1e-3, objective="mae", method="ode",
                         max_steps=value)


def test_max_steps_accepts_numpy_integers():
    w = fd.trajectory([1.0], 1.0, 0.5, depth=2, eps=1e-3, method="ode", max_steps=np.int32(500))
    assert np.isfinite(w).all()


# ---------------------------------------------------------------------------
# one definition of each constant
# ---------------------------------------------------------------------------
def _config_h() -> dict[str, int]:
    text = (ROOT / "kernels" / "cuda" / "config.h").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"constexpr \w[\w ]* (\w+) = (-?\d+);", text)}


@pytest.mark.parametrize("name", ["SUCCESS", "MAX_STEPS", "NON_FINITE", "NO_CONVERGENCE",
                                  "OUT_OF_DOMAIN", "JEPA",
                                  "MAE", "GROWTH", "DECAY", "AT_FIXED"])
def test_config_h_matches_the_constants_module(name):
    assert _config_h()[name] == getattr(C, name)


def test_max_depth_of_the_cuda_sources_matches():
    text = "".join(p.read_text() for p in (ROOT / "kernels" / "cuda").glob("*.h"))
    found = {int(x) for x in re.findall(r"MAX_DEPTH\s*=\s*(\d+)", text)}
    assert found == {C.MAX_DEPTH}


def test_status_enum_and_objectives_come_from_the_constants():
    assert [(s.name, int(s)) for s in fd.Status] == [
        ("SUCCESS", C.SUCCESS), ("MAX_STEPS", C.MAX_STEPS), ("NON_FINITE", C.NON_FINITE),
        ("NO_CONVERGENCE", C.NO_CONVERGENCE), ("OUT_OF_DOMAIN", C.OUT_OF_DOMAIN),
        ("DIVERGED", C.DIVERGED), ("OSCILLATED", C.OSCILLATED)]
    assert kernels.JEPA == C.JEPA and kernels.MAE == C.MAE


def test_default_max_steps_is_the_constant():
    import inspect

    for f in (fd.trajectory, fd.critical_time):
        assert inspect.signature(f).parameters["max_steps"].default == C.DEFAULT_MAX_STEPS


# ---------------------------------------------------------------------------
# users' @njit code: the batched flow map with the inverse tables
# ---------------------------------------------------------------------------
@njit
def _user_loop(w, lam, rho, depth, dt, steps, tab_s, tab_d):
    status = np.zeros(w.shape[0], dtype=np.int8)
    out = w.copy()
    for _ in range(steps):
        kernels.advance_batch(kernels.JEPA, depth, lam, rho, out, dt, out, status, tab_s, tab_d)
    return out, status


@njit
def _user_scalar(w, lam, rho, depth, dt, tab_s, tab_d):
    return kernels.advance_weight_tabulated(kernels.MAE, depth, lam, rho, w, dt, tab_s, tab_d)


def test_users_njit_loop_equals_the_public_flow_map():
    rng = np.random.default_rng(3)
    n = 50
    w0 = rng.uniform(1e-4, 0.2, n)
    lam, rho = rng.uniform(0.5, 2.0, n), rng.uniform(0.3, 1.0, n)
    depth = rng.integers(1, 7, n).astype(np.int64)
    dt = np.full(n, 0.25)
    tab_s, tab_d = kernels.flow_tables(kernels.JEPA, 1, 6)
    got, status = _user_loop(w0, lam, rho, depth, dt, 20, tab_s, tab_d)
    want = w0.copy()
    for _ in range(20):
        want = fd.advance(want, 0.25, lam, rho, depth=depth, objective="jepa")
    assert np.all(status == 0)
    np.testing.assert_array_equal(got, want)


def test_users_njit_scalar_with_tables_equals_the_public_flow_map():
    tab_s, tab_d = kernels.flow_tables(kernels.MAE, 4, 4)
    w, status = _user_scalar(0.01, 1.3, 0.7, 4, 2.0, tab_s, tab_d)
    assert status == 0
    # the scalar solver against the array kernels' vector path: the same to rounding
    assert w == pytest.approx(fd.advance(0.01, 2.0, 1.3, 0.7, depth=4, objective="mae"), rel=1e-12)


@pytest.mark.parametrize("args, exc, match", [
    ((0, 0, 3), ValueError, r"1 <= depth_lo <= depth_hi <= 64"),
    ((0, 3, 65), ValueError, r"1 <= depth_lo <= depth_hi <= 64"),
    ((0, 5, 3), ValueError, r"got 5, 3"),
    ((2, 1, 3), ValueError, r"`objective` must be JEPA \(0\) or MAE \(1\)"),
    ((0, 1.0, 3), TypeError, r"`depth_lo` must be an integer"),
])
def test_flow_tables_checks_its_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        kernels.flow_tables(*args)
