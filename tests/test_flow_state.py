"""Flow states (``fastdyn.kernels.flow_state``, ``advance_state``): a user's time loop.

A flow state keeps each feature's origin, its clock (the sum of its steps) and
the solver's state there; each step is one solve.  The reference is the exact
trajectory kernel from the origin at the summed clock, which tests/test_exact.py
and tests/test_backward_stability.py check against mpmath: the weights must be
its values to the bit, on the vector path and on the scalar solver's (decay
branch, the fixed point, MAE depth 1), at mixed depths and zero steps.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernel_calls
from fastdyn import kernels as K
from fastdyn.kernels import _inverse


def _loop(objective, depth, lam, rho, w0, dts):
    """Step a flow state through ``dts`` (steps, n): weights (n, steps), statuses, clocks (n, steps)."""
    ts, td = _inverse.flow_tables(objective, int(depth.min()), int(depth.max()))
    state = K.flow_state(objective, depth, lam, rho, w0, ts, td)
    n, steps = w0.shape[0], dts.shape[0]
    w, status = np.empty((n, steps)), np.zeros((n, steps), dtype=np.int8)
    out, st_ = np.empty(n), np.zeros(n, dtype=np.int8)
    for k in range(steps):
        K.advance_state(objective, depth, lam, rho, state, dts[k], out, st_, ts, td)
        w[:, k], status[:, k] = out, st_
    # the clock is the sequential float64 sum of the steps, as the state adds them
    return w, status, np.cumsum(dts, axis=0).T


def _reference(objective, depth, lam, rho, w0, clocks):
    """The trajectory kernel from each origin at its own clocks."""
    rows = [kernel_calls.exact_trajectory(clocks[i], objective, depth[i], lam[i], rho[i], w0[i])
            for i in range(w0.shape[0])]
    return np.array([r[0][0] for r in rows]), np.array([r[1][0] for r in rows])


def _features(objective, depths, n, rng):
    depth = rng.choice(depths, n).astype(np.int64)
    lam = 10.0 ** rng.uniform(-1, 1, n)
    rho = rng.uniform(0.2, 1.5, n)
    w_star = np.array([K.fixed_point(objective, int(d), r) for d, r in zip(depth, rho)])
    # mostly growing from small weights; some starting above the fixed point (decay), one on it
    w0 = w_star * 10.0 ** rng.uniform(-12, -0.01, n)
    w0[::7] = w_star[::7] * rng.uniform(1.01, 3.0, w0[::7].shape[0])
    w0[3] = w_star[3]
    return depth, lam, rho, w0


@pytest.mark.parametrize("depths", [[1], [2], [5], [64], [1, 2, 5, 64]], ids=str)
@pytest.mark.parametrize("objective", [K.JEPA, K.MAE])
def test_the_loop_is_the_trajectory_at_the_summed_clock(objective, depths):
    rng = np.random.default_rng(7 + objective + 10 * depths[0])
    n, steps = 40, 30
    depth, lam, rho, w0 = _features(objective, depths, n, rng)
    dts = 10.0 ** rng.uniform(-4, 2, (steps, n))
    dts[5] = 0.0  # a zero step for every feature
    dts[0, ::5] = 0.0  # the first step zero: the weight stays the origin's
    w, status, clocks = _loop(objective, depth, lam, rho, w0, dts)
    want, want_status = _reference(objective, depth, lam, rho, w0, clocks)
    np.testing.assert_array_equal(w.view(np.int64), want.view(np.int64))
    assert np.all(status == 0) and np.all(want_status == 0)
    assert np.all(w[::5, 0] == w0[::5])


@pytest.mark.parametrize("objective", [K.JEPA, K.MAE])
def test_every_weight_lies_between_its_origin_and_its_fixed_point(objective):
    """Monotone from the origin to w*, growing or decaying (the branch the origin is on)."""
    rng = np.random.default_rng(3)
    depth, lam, rho, w0 = _features(objective, [1, 3, 9], 64, rng)
    w, _, _ = _loop(objective, depth, lam, rho, w0, 10.0 ** rng.uniform(-3, 3, (40, 64)))
    w_star = np.array([K.fixed_point(objective, int(d), r) for d, r in zip(depth, rho)])
    path = np.concatenate([w0[:, None], w], axis=1)
    up = w0 <= w_star
    steps = np.diff(path, axis=1)
    assert np.all(steps[up] >= 0.0) and np.all(steps[~up] <= 0.0)
    # the fixed point as the solver rounds it: the vector path's w* = e^(log rho / b) by its own
    # exp, which can lie an ulp above fixed_point()'s libm value
    ulp = 1.0 + 2.0 ** -52
    lo, hi = (np.minimum(w0, w_star) / ulp)[:, None], (np.maximum(w0, w_star) * ulp)[:, None]
    assert np.all((w >= lo) & (w <= hi))
    # both branches are exercised: growing features rose, decaying ones fell
    assert np.any(w[up, -1] > w0[up]) and np.any(w[~up, -1] < w0[~up])


@given(objective=st.sampled_from([K.JEPA, K.MAE]), depth=st.integers(1, 64),
       lam=st.floats(1e-3, 1e3), rho=st.floats(1e-2, 2.0), log_eps=st.floats(-30.0, -0.5),
       dts=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=12))
def test_property_the_loop_is_the_trajectory(objective, depth, lam, rho, log_eps, dts):
    """Across the domain: every step is the trajectory kernel at the summed clock, to the bit."""
    d, la, r = np.array([depth], dtype=np.int64), np.array([lam]), np.array([rho])
    w0 = np.array([K.fixed_point(objective, depth, rho) * 10.0 ** log_eps])
    w, status, clocks = _loop(objective, d, la, r, w0, np.array(dts)[:, None])
    want, want_status = _reference(objective, d, la, r, w0, clocks)
    np.testing.assert_array_equal(w.view(np.int64), want.view(np.int64))
    assert np.all(status == want_status[:, None])


def test_a_state_holds_its_features_apart():
    """Each feature's step reads only its own row entries: a permuted state steps to the permuted weights."""
    rng = np.random.default_rng(5)
    depth, lam, rho, w0 = _features(K.JEPA, [4], 48, rng)
    dts = 10.0 ** rng.uniform(-2, 2, (6, 48))
    perm = rng.permutation(48)
    w, _, _ = _loop(K.JEPA, depth, lam, rho, w0, dts)
    wp, _, _ = _loop(K.JEPA, depth[perm], lam[perm], rho[perm], w0[perm], dts[:, perm])
    np.testing.assert_array_equal(wp.view(np.int64), w[perm].view(np.int64))
