"""The adaptive ODE method against the exact method, through the public API.

The integrator controls each step's error as a shift of the trajectory in time
(for a scalar autonomous ODE a local error is exactly such a shift), bounded by
``rtol * max(1/R, c t)`` with ``c = max(1e-3, 64 eps_mach / rtol)`` (see
``kernels/_ode.py``).  So the relative error in ``w`` is ``O(rtol)`` where the
relative sensitivity ``cond = t |d log w / dt|`` is moderate, and
``O(rtol * c * cond)`` at the steep end of a long plateau.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import fastdyn as fd

U = 2.0**-53


def log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10.0**x)


@given(
    st.sampled_from(["jepa", "mae"]),
    st.integers(1, 64),
    log_uniform(1e-6, 1e6),
    log_uniform(1e-3, 1e3),
    log_uniform(1e-30, 1e3),
    st.sampled_from([1e-4, 1e-6, 1e-8, 1e-10, 1e-12]),
)
def test_exact_and_ode_agree(objective, depth, lam, rho, eps, rtol):
    w_star = float(fd.fixed_point(rho, depth=depth, objective=objective))
    assume(abs(math.log(eps / w_star)) > 1e-9)
    w_half = math.exp(0.5 * (math.log(eps) + math.log(w_star)))
    scale = fd.time_to_reach(w_half, lam, rho, depth=depth, eps=eps, objective=objective)
    assume(1e-250 < scale < 1e250)
    t = scale * np.logspace(-3, 3, 25)
    kw = dict(depth=depth, eps=eps, objective=objective)
    ode, status = fd.trajectory(t, lam, rho, method="ode", rtol=rtol, return_status=True, **kw)
    assert np.all(status == fd.Status.SUCCESS)
    exact = fd.trajectory(t, lam, rho, **kw)

    def cond_of(w):  # relative sensitivity of w(t) to t, at a candidate value of w(t)
        return t * np.abs(fd.rhs(w, lam, rho, depth=depth, objective=objective)) / w

    cond = np.maximum(cond_of(exact), cond_of(ode))
    # where the last ulp of t moves w by more than 1e-3, float64 resolves nothing to compare
    resolved = cond * U < 1e-3
    # the first times (1e-3 of the scale) are always resolved: w has barely moved there
    assert resolved.sum() >= 3, cond
    t, ode, exact, cond = t[resolved], ode[resolved], exact[resolved], cond[resolved]
    # the ODE value must be the exact value at a time shifted by at most 100 rtol c t,
    # up to a relative error 100 rtol in w (and rounding)
    delta = 100 * rtol * max(1e-3, 64 * U / rtol)
    w_early = fd.trajectory(t * (1 - delta), lam, rho, **kw)
    w_late = fd.trajectory(t * (1 + delta), lam, rho, **kw)
    lo = np.minimum(w_early, w_late) * (1 - 100 * rtol - 64 * U)
    hi = np.maximum(w_early, w_late) * (1 + 100 * rtol + 64 * U)
    assert np.all((lo <= ode) & (ode <= hi))
    # and where w is insensitive to such shifts, that is a relative error of O(rtol)
    calm = cond <= 1.0 / max(1e-3, 64 * U / rtol)
    assert calm.sum() >= 1, cond  # never an empty check
    assert np.all(np.abs(ode[calm] / exact[calm] - 1) <= 100 * rtol + 64 * U * (1 + cond[calm]))


def _cond(objective, depth, lam, rho, w, t):
    """t |rhs(w)| / w = t lam w^(a-1) |1 - psi| (eq. 7/8), in logarithms: it may exceed
    float64 where the rate itself does not fit (then the point is simply not calm)."""
    b = 1.0 / depth if objective == "jepa" else (depth + 1.0) / depth
    log_w = np.log(w)
    one_minus_psi = np.abs(np.expm1(b * log_w - math.log(rho)))
    with np.errstate(divide="ignore", over="ignore"):
        return np.exp(np.log(t) + math.log(lam) + (2.0 - b) * log_w + np.log(one_minus_psi))


def _corpus(n, seed):
    rng = np.random.default_rng(seed)
    objective = rng.choice(["jepa", "mae"], n)
    depth = rng.integers(1, 65, n)
    lam = 10.0 ** rng.uniform(-6, 6, n)
    rho = 10.0 ** rng.uniform(-3, 3, n)
    eps = 10.0 ** rng.uniform(-30, 3, n)
    return objective, depth, lam, rho, eps


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_exact_and_ode_agree_at_rtol_1e12_on_a_counted_corpus(objective):
    """rtol 1e-12 over 300 random features of the whole domain, 25 times each: the exact and
    the ODE values agree to 100 rtol + 64 (1 + cond) u wherever w is insensitive to t
    (cond <= 1/c), and the test asserts how many points that is (an empty mask passes
    any assertion)."""
    rtol = 1e-12
    _, depth, lam, rho, eps = _corpus(300, 11 if objective == "jepa" else 12)
    w_star = fd.fixed_point(rho, depth=depth, objective=objective)
    keep = np.abs(np.log(eps / w_star)) > 1e-9
    depth, lam, rho, eps, w_star = depth[keep], lam[keep], rho[keep], eps[keep], w_star[keep]
    w_half = np.exp(0.5 * (np.log(eps) + np.log(w_star)))
    scale = fd.time_to_reach(w_half, lam, rho, depth=depth, eps=eps, objective=objective)
    keep = (scale > 1e-250) & (scale < 1e250)
    depth, lam, rho, eps, scale = depth[keep], lam[keep], rho[keep], eps[keep], scale[keep]
    checked = 0
    for k in range(len(depth)):
        t = scale[k] * np.logspace(-3, 3, 25)
        kw = dict(depth=int(depth[k]), eps=float(eps[k]), objective=objective)
        ode, status = fd.trajectory(t, lam[k], rho[k], method="ode", rtol=rtol,
                                    return_status=True, **kw)
        assert np.all(status == fd.Status.SUCCESS)
        exact = fd.trajectory(t, lam[k], rho[k], **kw)
        cond = np.maximum(_cond(objective, kw["depth"], lam[k], rho[k], exact, t),
                          _cond(objective, kw["depth"], lam[k], rho[k], ode, t))
        calm = cond <= 1.0 / max(1e-3, 64 * U / rtol)
        err = np.abs(ode[calm] / exact[calm] - 1)
        assert np.all(err <= 100 * rtol + 64 * U * (1 + cond[calm])), (k, err.max())
        checked += int(calm.sum())
    # about 250 features survive the filters; at least the first 5 of their 25 times are calm
    assert len(depth) >= 200
    assert checked >= 5 * len(depth)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("rtol", [1e-4, 1e-8, 1e-12])
def test_ode_critical_time_event_matches_exact(objective, rtol):
    rng = np.random.default_rng(7)
    lam = np.exp(rng.uniform(-3, 3, 50))
    rho = np.exp(rng.uniform(-3, 3, 50))
    depth = rng.integers(1, 65, 50)
    kw = dict(depth=depth, eps=1e-6, objective=objective, p=0.7)
    exact = fd.critical_time(lam, rho, **kw)
    ode = fd.critical_time(lam, rho, method="ode", rtol=rtol, **kw)
    finite = np.isfinite(exact) & (exact > 0)
    np.testing.assert_array_equal(np.isfinite(ode), np.isfinite(exact))
    np.testing.assert_array_equal(ode[exact == 0], 0.0)  # started at or above p w*
    assert np.all(np.abs(ode[finite] / exact[finite] - 1) <= 100 * rtol)


def test_solver_failure_raises_naming_count_and_first_index():
    lam = np.array([1.0, 1.0, 1.0])
    eps = np.array([0.5, 1e-6, 1e-6])  # the first starts at its fixed point (rho=0.5, depth 1)
    with pytest.raises(fd.SolverError, match=r"2 of 3 features failed; the first is at index 1 \(MAX_STEPS\)"):
        fd.trajectory(np.logspace(0, 8, 5), lam, 0.5, depth=1, eps=eps, objective="jepa",
                      method="ode", max_steps=3)


def test_return_status_instead_of_raising():
    w, status = fd.trajectory(np.logspace(0, 8, 5), [1.0, 1.0], 0.5, depth=1, eps=[0.5, 1e-6],
                              objective="jepa", method="ode", max_steps=3, return_status=True)
    assert status.tolist() == [fd.Status.SUCCESS, fd.Status.MAX_STEPS]
    assert np.all(w[0] == 0.5)


def test_bad_max_steps():
    with pytest.raises(ValueError, match=r"`max_steps` must be an integer in \[1, 4611686018427387904\]"):
        fd.trajectory([1.0], 1.0, 0.5, depth=1, eps=1e-3, objective="jepa", method="ode", max_steps=0)
