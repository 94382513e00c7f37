"""The exact method against an independent mpmath reference and the paper's claims.

Error is measured in units of what float64 allows: a result computed from
float inputs can be no more accurate than ``cond * 2**-53``, where ``cond`` is
the relative condition number of the problem with respect to those inputs
(``tests/reference.py`` computes it analytically).  Where the problem is well
conditioned the bound is the issue's 1e-12; where it is not (the end of a
1e10-long plateau, a target a hair from the fixed point) the test still
demands backward stability: a few ulps of the inputs.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from mpmath import mpf

import fastdyn as fd
import kernel_calls
from fastdyn import kernels
from fastdyn.kernels import JEPA, MAE
from fastdyn.kernels._constants import EPS_MAX, EPS_MIN
import reference as ref

U = 2.0**-53
TOL = 1e-12
# a few ulps of backward error, times the condition number
C_BACKWARD = 64.0

objectives = st.sampled_from(["jepa", "mae"])
depths = st.integers(1, 64)


def log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10.0**x)


lams = log_uniform(1e-6, 1e6)
rhos = log_uniform(1e-3, 1e3)
epss = log_uniform(1e-30, 1e3)


def rel_err(got, want):
    want = mpf(want)
    if want == 0:
        return abs(got)
    return float(abs((mpf(got) - want) / want))


def fixed(objective, depth, rho):
    return float(fd.fixed_point(rho, depth=depth, objective=objective))


def in_eps_domain(eps):
    """``eps`` itself where it lies in the documented domain (strategies relative to a
    fixed point can leave it: those examples are rejected)."""
    assume(EPS_MIN <= eps <= EPS_MAX)
    return eps


def representable(x):
    return mpf("1e-300") < x < mpf("1e300")


def state_ulps(objective, depth, rho, w):
    """Relative error of w, in ulps, from carrying the state as sigma = log(psi/|1-psi|).

    sigma is rounded to ``|sigma| u`` absolutely, and ``|d log w / d sigma| = |1 - psi| / b``.
    """
    b = 1.0 / depth if objective == "jepa" else (depth + 1.0) / depth
    lp = b * math.log(w) - math.log(rho)
    if lp == 0.0:
        return 0.0
    one_minus_psi = abs(math.expm1(lp))
    sigma = lp - math.log(one_minus_psi)
    return abs(sigma) * one_minus_psi / b


def assert_backward_stable(got, want, cond, extra=0.0):
    """|err| <= 1e-12 + C * cond * u where float64 can resolve the answer at all.

    Where ``C * cond * u`` exceeds 0.1 the float inputs do not determine a single
    digit of the answer (e.g. the last ulp of t decides whether the plateau has
    ended); there only plausibility is checked by the caller.
    """
    bound = TOL + C_BACKWARD * (float(cond) + extra) * U
    if bound < 0.1:
        assert rel_err(got, want) <= bound


# ---------------------------------------------------------------------------
# times
# ---------------------------------------------------------------------------
@given(objectives, depths, lams, rhos, epss, st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
def test_time_to_reach_matches_mpmath(objective, depth, lam, rho, eps, frac):
    """Times between eps and a point between eps and the fixed point (either side)."""
    w_star = fixed(objective, depth, rho)
    assume(abs(math.log(eps / w_star)) > 1e-12)
    # within ~1e-12 (in log w) of the fixed point float64 cannot even decide on
    # which side of rho^L a weight lies (rho^L is not a float)
    assume((1.0 - frac) * abs(math.log(eps / w_star)) > 1e-12)
    w = math.exp(math.log(eps) + frac * (math.log(w_star) - math.log(eps)))
    assume(w != eps and w != w_star)
    want = ref.time_to_reach_mp(objective, depth, lam, rho, eps, w)
    got = fd.time_to_reach(w, lam, rho, depth=depth, eps=eps, objective=objective)
    if want > mpf("1.7e308"):
        assert got == math.inf
        return
    assume(representable(want))
    cond = ref.cond_time_mp(objective, depth, lam, rho, eps, w, time=want)
    assert_backward_stable(got, want, cond)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize(
    "depth, lam, rho, eps",
    [
        (64, 1.0, 1e3, 1e-30),   # MATH.md's overflow example: psi^-127 ~ 1e440
        (64, 1e6, 1e3, 1e-30),
        (64, 1e-6, 1e-3, 1e-30),  # K = rho^127 underflows; eps above the fixed point
        (64, 1.0, 1e-3, 1e3),
        (1, 1e-6, 1e-3, 1e-30),
        (1, 1e6, 1e3, 1e3),
        (5, 1.0, 1.0, 1e-30),
        (2, 3.0, 0.5, 1e-12),
        (13, 0.1, 2.0, 1e-6),
    ],
)
@pytest.mark.parametrize("frac", [1e-9, 0.3, 0.999, 1 - 1e-12])
def test_time_to_reach_extremes(objective, depth, lam, rho, eps, frac):
    """The corners of the supported domain: finite wherever the true time is representable."""
    w_star = fixed(objective, depth, rho)
    w = math.exp(math.log(eps) + frac * (math.log(w_star) - math.log(eps)))
    want = ref.time_to_reach_mp(objective, depth, lam, rho, eps, w)
    got = fd.time_to_reach(w, lam, rho, depth=depth, eps=eps, objective=objective)
    if want > mpf("1.7e308"):
        assert got == math.inf
        return
    assert math.isfinite(got)
    cond = ref.cond_time_mp(objective, depth, lam, rho, eps, w, time=want)
    assert_backward_stable(got, want, cond)


@given(objectives, depths, lams, rhos, log_uniform(1e-30, 1e-2), st.floats(0.05, 0.95))
def test_critical_time_matches_mpmath(objective, depth, lam, rho, eps_rel, p):
    w_star = fixed(objective, depth, rho)
    eps = in_eps_domain(eps_rel * w_star)
    want = ref.critical_time_mp(objective, depth, lam, rho, eps, p)
    got = fd.critical_time(lam, rho, depth=depth, eps=eps, objective=objective, p=p)
    if want > mpf("1.7e308"):
        assert got == math.inf
        return
    assume(representable(want))
    w_target = p * w_star
    cond = ref.cond_time_mp(objective, depth, lam, rho, eps, w_target, time=want)
    # p * w* is itself rounded once
    assert_backward_stable(got, want, cond, extra=1.0)


@pytest.mark.parametrize("depth", [2, 3, 5, 8])
@pytest.mark.parametrize("frac", [0.1, 0.5, 0.9])
def test_mae_elementary_form_matches_lerch(depth, frac):
    """Theorem B.10 (Lerch transcendent) as an independent check of the roots-of-unity form."""
    lam, rho, eps = 0.7, 1.9, 1e-4
    w_star = fixed("mae", depth, rho)
    w = math.exp(math.log(eps) + frac * (math.log(w_star) - math.log(eps)))
    want = ref.mae_time_lerch_mp(depth, lam, rho, eps, w)
    got = fd.time_to_reach(w, lam, rho, depth=depth, eps=eps, objective="mae")
    assert rel_err(got, want) <= TOL


def test_time_to_reach_special_values():
    kw = dict(depth=3, objective="jepa")
    w_star = fixed("jepa", 3, 0.8)
    got = fd.time_to_reach([0.01, 0.005, w_star, 2 * w_star, 0.02], 1.0, 0.8, eps=0.01, **kw)
    assert got[0] == 0.0                  # already there
    assert got[1] == math.inf             # behind the start
    assert got[2] == math.inf             # the fixed point is reached only at t = inf
    assert got[3] == math.inf             # beyond the fixed point
    assert 0.0 < got[4] < math.inf


def test_critical_time_zero_when_already_learned():
    w_star = fixed("mae", 4, 2.0)
    got = fd.critical_time(1.0, 2.0, depth=4, eps=[0.6 * w_star, 3 * w_star], objective="mae", p=0.5)
    np.testing.assert_array_equal(got, [0.0, 0.0])


# ---------------------------------------------------------------------------
# trajectories
# ---------------------------------------------------------------------------
@given(objectives, depths, lams, rhos, epss, st.floats(-3.0, 1.0))
def test_trajectory_matches_mpmath(objective, depth, lam, rho, eps, log_t_rel):
    """w(t) at times around the time scale of the feature, both branches."""
    w_star = fixed(objective, depth, rho)
    assume(abs(math.log(eps / w_star)) > 1e-9)
    # the natural time scale: half way (in log w) to the fixed point
    w_half = math.exp(0.5 * (math.log(eps) + math.log(w_star)))
    scale = ref.time_to_reach_mp(objective, depth, lam, rho, eps, w_half)
    assume(representable(scale * 1e4) and representable(scale * 1e-4))
    t = float(scale) * 10.0**log_t_rel
    want = ref.trajectory_mp(objective, depth, lam, rho, eps, t)
    got = fd.trajectory([t], lam, rho, depth=depth, eps=eps, objective=objective)[0]
    # conditioning at both candidates: at the end of a plateau the whole rise can fit
    # inside one ulp of t, and the true value (at the fixed point) alone would look calm
    cond = max(ref.cond_w_mp(objective, depth, lam, rho, eps, t, w_t=want),
               ref.cond_w_mp(objective, depth, lam, rho, eps, t, w_t=got))
    lo, hi = sorted((eps, w_star))
    assert lo * (1 - 4 * U) <= got <= hi * (1 + 4 * U)
    assert_backward_stable(got, want, cond, extra=state_ulps(objective, depth, rho, float(want)))


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize(
    "depth, lam, rho, eps",
    [(64, 1.0, 1e3, 1e-30), (64, 1e-6, 1e-3, 1e-30), (64, 1e6, 1e-3, 1e3), (1, 1e-6, 1e3, 1e-30),
     (5, 1.0, 0.5, 1e-6), (2, 1e6, 1e3, 1e-30)],
)
def test_trajectory_extremes_finite_and_accurate(objective, depth, lam, rho, eps):
    t = np.concatenate([[0.0], np.logspace(-300, 300, 61)])
    w = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective=objective)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    assert w[0] == eps
    for j in (10, 25, 31, 40, 55):
        want = ref.trajectory_mp(objective, depth, lam, rho, eps, float(t[j]))
        cond = max(ref.cond_w_mp(objective, depth, lam, rho, eps, float(t[j]), w_t=want),
                   ref.cond_w_mp(objective, depth, lam, rho, eps, float(t[j]), w_t=float(w[j])))
        assert_backward_stable(w[j], want, cond, extra=state_ulps(objective, depth, rho, float(want)))


@given(objectives, depths, lams, rhos, epss)
def test_fixed_point_approached_monotonically_and_reached(objective, depth, lam, rho, eps):
    w_star = fixed(objective, depth, rho)
    t = np.concatenate([[0.0], np.logspace(-300, 300, 601)])
    w = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective=objective)
    d = np.diff(w)
    if eps < w_star:
        assert np.all(d >= 0.0) and np.all(w <= w_star * (1 + 4 * U))
    elif eps > w_star:
        assert np.all(d <= 0.0) and np.all(w >= w_star * (1 - 4 * U))
    # reached (to rounding) whenever the approach happens within 1e300
    near = w_star * (1 - 1e-14) if eps < w_star else w_star * (1 + 1e-14)
    if eps != w_star and fd.time_to_reach(near, lam, rho, depth=depth, eps=eps, objective=objective) < 1e299:
        assert abs(w[-1] / w_star - 1) <= 1e-14


@given(objectives, depths, lams, rhos, log_uniform(1e-20, 1e-1), st.floats(0.05, 0.95))
def test_closed_form_satisfies_the_ode(objective, depth, lam, rho, eps_rel, frac):
    """Central difference of w(t) against eq. 7/8 at a point of the transition."""
    w_star = fixed(objective, depth, rho)
    eps = in_eps_domain(eps_rel * w_star)
    t = float(fd.critical_time(lam, rho, depth=depth, eps=eps, objective=objective, p=frac))
    assume(0.0 < t < 1e290)
    w_t = frac * w_star  # the weight at the critical time, by definition
    f = fd.rhs(w_t, lam, rho, depth=depth, objective=objective)
    assume(f > 0.0)  # the rate itself may underflow far from 1
    cond_t = t * f / w_t  # relative change of w per relative change of t
    # float64 resolves the feature's own time scale w/f at time t only if cond_t * u is small
    assume(cond_t * U < 1e-9)
    # a small step on the feature's own time scale: w changes on the scale of min(w, w* - w)
    scale = min(w_t, w_star - w_t)
    h = 1e-3 * scale / f
    w4 = fd.trajectory([t - 2 * h, t - h, t + h, t + 2 * h], lam, rho, depth=depth, eps=eps,
                       objective=objective)
    fd_rate = (w4[0] - 8 * w4[1] + 8 * w4[2] - w4[3]) / (12 * h)
    # fourth-order stencil: truncation ~ (h f / scale)^4 = 1e-12 times O(10) derivatives;
    # rounding of w(t + k h) (each ~ (1 + cond_t) ulps of w) amplified by 18 w / (12 h f)
    amplification = 1.5e3 * w_t / scale
    assert abs(fd_rate / f - 1) <= 1e-10 + 8 * amplification * (1 + cond_t) * U


@given(objectives, depths, lams, rhos, epss, st.floats(-6.0, 2.0))
def test_time_to_reach_inverts_trajectory(objective, depth, lam, rho, eps, log_t_rel):
    w_star = fixed(objective, depth, rho)
    assume(abs(math.log(eps / w_star)) > 1e-9)
    w_half = math.exp(0.5 * (math.log(eps) + math.log(w_star)))
    scale = fd.time_to_reach(w_half, lam, rho, depth=depth, eps=eps, objective=objective)
    assume(1e-280 < scale < 1e280)
    t = scale * 10.0**log_t_rel
    w = fd.trajectory([t], lam, rho, depth=depth, eps=eps, objective=objective)[0]
    # w within 1e-9 of w* in log (as eps above): log psi of w rounds to 0 or beyond, where
    # time_to_reach answers "never" (inf).  A trajectory point lands there when t lies in the
    # final rise, steep beyond float64 (JEPA depth 26, rho = 305: w climbs from 1e32 to w* in a
    # relative time of 1e-124): every weight from 1e32 to w* is exact for a time within rounding
    # of t, so w* (1 - 1 ulp) is a correct value whose inverse is not defined in float64.
    assume(w != eps and abs(math.log(w / w_star)) > 1e-9)
    back = fd.time_to_reach(w, lam, rho, depth=depth, eps=eps, objective=objective)
    # conditioning of t(w) with respect to the rounded w (and eps)
    f = fd.rhs([w, eps], lam, rho, depth=depth, objective=objective)
    assume(f[0] != 0.0 and f[1] != 0.0)  # a rate that underflows: t(w) has no finite sensitivity
    cond_w = abs(w / (t * f[0]))  # sensitivity of t(w) to the error of w
    cond = cond_w * (1.0 + state_ulps(objective, depth, rho, w)) + abs(eps / (t * f[1])) + 1.0
    bound = TOL + C_BACKWARD * cond * U
    if bound < 0.1:
        assert abs(back / t - 1) <= bound


@given(objectives, depths, lams, rhos, epss, st.floats(-4.0, 1.0), st.floats(0.0, 1.0))
def test_advance_is_a_flow(objective, depth, lam, rho, eps, log_total, split):
    w_star = fixed(objective, depth, rho)
    assume(abs(math.log(eps / w_star)) > 1e-9)
    w_half = math.exp(0.5 * (math.log(eps) + math.log(w_star)))
    scale = fd.time_to_reach(w_half, lam, rho, depth=depth, eps=eps, objective=objective)
    assume(1e-280 < scale < 1e280)
    total = scale * 10.0**log_total
    a, b = split * total, (1 - split) * total
    kw = dict(depth=depth, objective=objective)
    two = fd.advance(fd.advance(eps, a, lam, rho, **kw), b, lam, rho, **kw)
    one = fd.advance(eps, a + b, lam, rho, **kw)
    assume(one != w_star)
    f = fd.rhs(one, lam, rho, **kw)
    # the intermediate weight is rounded (and carried as sigma) once more than the direct one
    w_mid = fd.advance(eps, a, lam, rho, **kw)
    cond_mid = abs(f / fd.rhs(w_mid, lam, rho, **kw)) * w_mid / one
    cond = total * abs(f) / one + abs(f / fd.rhs(eps, lam, rho, **kw)) * eps / one
    cond += cond_mid * (1 + state_ulps(objective, depth, rho, w_mid)) + state_ulps(objective, depth, rho, one)
    bound = TOL + C_BACKWARD * (1 + cond) * U
    if bound < 0.1:
        assert abs(two / one - 1) <= bound


# ---------------------------------------------------------------------------
# the paper's claims
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("lam, rho, eps", [(1.0, 0.5, 1e-3), (2.0, 1.5, 1e-2), (0.5, 0.9, 1e-6)])
def test_mae_at_large_depth_approaches_jepa_depth_one(lam, rho, eps):
    """Eq. 10: the MAE dynamics at L -> infinity are those of JEPA at L = 1.

    The right-hand sides differ by the factor ``w^(-1/L) = 1 - log(w)/L + ...``,
    so critical times (and fixed points) converge like 1/L, and whole
    trajectories converge uniformly.
    """
    kw = dict(eps=eps, p=0.5)
    jepa1 = fd.critical_time(lam, rho, depth=1, objective="jepa", **kw)
    depths = np.array([8, 16, 32, 64])
    mae = fd.critical_time(lam, rho, depth=depths, objective="mae", **kw)
    dev = np.abs(mae / jepa1 - 1)
    assert np.all(np.diff(dev) < 0)
    # first order in 1/L: halving 1/L halves the deviation, up to O(1/L^2)
    ratios = dev[:-1] / dev[1:]
    assert np.all(np.diff(ratios) > 0) and 1.75 < ratios[-1] < 2.05
    t = np.logspace(-2, 4, 60) / lam
    w1 = fd.trajectory(t, lam, rho, depth=1, eps=eps, objective="jepa")
    sup = [np.max(np.abs(fd.trajectory(t, lam, rho, depth=L, eps=eps, objective="mae") - w1))
           for L in (16, 64)]
    assert sup[0] > sup[1]


def _exact_and_asymptotic(objective, depth, lam, rho, eps, p=0.5):
    """Eq. 11 exactly and eq. 12/13/121, from the scalar kernels (eps may leave the API's domain)."""
    code = JEPA if objective == "jepa" else MAE
    return (kernels.critical_time_exact(code, depth, lam, rho, eps, p),
            kernels.critical_time_asymptotic(code, depth, lam, rho, eps))


@pytest.mark.parametrize("depth, eps_pair", [(2, (1e-5, 1e-7)), (3, (1e-5, 1e-7)), (5, (1e-6, 1e-8))])
def test_jepa_asymptotic_critical_time_remainder_is_the_stated_log(depth, eps_pair):
    """Eq. 12 leaves a Theta(log eps) remainder; eq. 82 gives its coefficient:
    ``t*_exact - t*_eq12 = -log(eps) / (lam rho^(2L-1)) + O(1)``."""
    lam, rho = 1.3, 0.8
    rem = [np.subtract(*_exact_and_asymptotic("jepa", depth, lam, rho, e)) for e in eps_pair]
    slope = (rem[1] - rem[0]) / (math.log(eps_pair[1]) - math.log(eps_pair[0]))
    assert slope * (-lam * rho ** (2 * depth - 1)) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("depth", [2, 3, 5, 8])
def test_mae_asymptotic_critical_time_converges_at_the_stated_rate(depth):
    """Eq. 13 leaves a Theta(1) remainder: the relative error falls like eps^((L-1)/L).

    (At p = 0.5 and L = 5 the O(1) term happens to nearly vanish; a generic p is used.)
    """
    e1, e2 = 1e-4, 1e-8
    errs = [abs(np.divide(*_exact_and_asymptotic("mae", depth, 1.3, 0.8, e, p=0.9)[::-1]) - 1)
            for e in (e1, e2)]
    predicted = (e2 / e1) ** ((depth - 1) / depth)
    assert errs[1] / errs[0] == pytest.approx(predicted, rel=0.15)


def test_mae_depth_one_asymptotic_critical_time_converges_at_the_stated_rate():
    """Eq. 121: t* ~ |log eps| / lam with a Theta(1) remainder: relative error ~ 1/|log eps|."""
    errs = [abs(np.divide(*_exact_and_asymptotic("mae", 1, 1.3, 0.8, e, p=0.9)[::-1]) - 1)
            for e in (1e-20, 1e-200)]
    assert errs[1] * 200 == pytest.approx(errs[0] * 20, rel=0.05)


@pytest.mark.parametrize("depth, epss", [(2, (1e-6, 1e-12)), (3, (1e-6, 1e-12)), (5, (1e-12, 1e-24))])
def test_corollary_3_6_jepa_ratio(depth, epss):
    """Eq. 14: t*(rho)/t*(rho') = 1 + (2L-1)/(2L-2) * (1/rho - 1/rho') * eps^(1/L) + Theta(eps^(2/L)).

    (eps is kept where t*(rho)/t*(rho') - 1 is resolved by float64.)
    """
    lam, rho, rho2 = 1.0, 0.6, 0.9
    dev = []
    for eps in epss:
        t1, t2 = fd.critical_time(lam, [rho, rho2], depth=depth, eps=eps, objective="jepa")
        lead = (2 * depth - 1) / (2 * depth - 2) * (1 / rho - 1 / rho2) * eps ** (1 / depth)
        dev.append(abs((t1 / t2 - 1) / lead - 1))  # relative size of the Theta(eps^(2/L)) term
    assert dev[1] < dev[0]
    predicted = (epss[1] / epss[0]) ** (1 / depth)
    assert 0.5 < (dev[1] / dev[0]) / predicted < 2.0


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_corollary_3_6_mae_ratio(depth):
    """Eq. 14, MAE: t*(rho)/t*(rho') - 1 = Theta(eps^((L-1)/L)): no greedy ordering in rho."""
    vals = []
    epss = (1e-4, 1e-8)
    for eps in epss:
        # generic p: at p = 0.5, L = 5 the O(1) coefficient happens to nearly vanish
        t1, t2 = fd.critical_time(1.0, [0.6, 0.9], depth=depth, eps=eps, objective="mae", p=0.9)
        vals.append(abs(t1 / t2 - 1) / eps ** ((depth - 1) / depth))
    assert 0.5 < vals[1] / vals[0] < 2.0


# ---------------------------------------------------------------------------
# simple functions
# ---------------------------------------------------------------------------
@given(objectives, depths, lams, rhos, log_uniform(1e-30, 1e30))
def test_rhs_matches_mpmath(objective, depth, lam, rho, w):
    want = ref.rhs_mp(objective, depth, w, lam, rho)
    assume(mpf("1e-300") < abs(want) < mpf("1e300"))
    got = fd.rhs(w, lam, rho, depth=depth, objective=objective)
    cond = ref.cond_rhs_mp(objective, depth, w, lam, rho)
    assert rel_err(got, want) <= TOL + C_BACKWARD * float(cond) * U


@given(objectives, depths, rhos)
def test_fixed_point_matches_mpmath_and_zeroes_rhs(objective, depth, rho):
    w_star = fixed(objective, depth, rho)
    assert rel_err(w_star, ref.fixed_point_mp(objective, depth, rho)) <= 8 * U * (1 + abs(math.log(rho)) * depth)
    # at w*, 1 - psi is the rounding error of psi = w*^b / rho: a few ulps times |log rho|,
    # so |rhs(w*)| / (lam w*^a) is that small (compared in logarithms: w*^a may overflow)
    a = 3.0 - (1.0 / depth if objective == "jepa" else (depth + 1.0) / depth)
    log_bound = math.log(16 * U * (1 + abs(math.log(rho)))) + a * math.log(w_star)
    try:
        f = abs(float(fd.rhs(w_star, 1.0, rho, depth=depth, objective=objective)))
    except ValueError as exc:  # even the rounding-level value overflows float64: refused
        assert "not representable in float64" in str(exc)
        assert log_bound > math.log(np.finfo(float).max)
        return
    if f > 0.0:
        assert math.log(f) <= log_bound


def _mae_kernel_trajectory(t, depth, eps):
    """The exact trajectory kernel itself (eps = 1e-300 lies outside the API's domain)."""
    w, status = kernel_calls.exact_trajectory(t, MAE, depth, 1.0, 1.0, eps)
    assert status[0] == 0
    return w[0]


@pytest.mark.parametrize("depth", [2, 3, 5, 8])
def test_mae_plateau_with_underflowing_psi(depth):
    """eps = 1e-300 (kernel level: the public domain stops at 1e-30): sigma < -745 makes
    psi underflow in the MAE plateau form; the general form in logarithms takes over
    (this once raised ZeroDivisionError)."""
    w = _mae_kernel_trajectory([0.0, 1.0, 1e10, 1e300], depth, 1e-300)
    assert np.all(np.isfinite(w)) and np.all(np.diff(w) >= 0) and w[0] == 1e-300
    tc = kernels.critical_time_exact(MAE, depth, 1.0, 1.0, 1e-300, 0.5)
    # the rise from eps to w* takes O(1) time at t* ~ eps^(-(L-1)/L) ~ 1e150: w(t*) itself is
    # ill-conditioned (a time's rounding there is ~1e134 time units, the whole rise), but the
    # result must be the weight at a time within rounding of t*: the weights 1e-12 below and
    # above it (1e-12: the weight's own rounding near w* is no time at all) are reached
    # before and after that time
    w_star = fd.fixed_point(1.0, depth=depth, objective="mae")
    w_at = _mae_kernel_trajectory([tc], depth, 1e-300)[0]
    assert 1e-300 <= w_at <= w_star
    # both times are exponentials of O(|log t*|) arguments: a few ulps of those
    slack = 4 * np.finfo(float).eps * math.log(tc) * tc
    before, after = w_at * (1.0 - 1e-12), w_at * (1.0 + 1e-12)
    if before > 1e-300:
        assert kernels.time_between(MAE, depth, 1.0, 1.0, 1e-300, before) <= tc + slack
    if after < w_star:
        assert kernels.time_between(MAE, depth, 1.0, 1.0, 1e-300, after) >= tc - slack
    from fastdyn.kernels import _exact, _inverse

    d, one = np.array([depth], dtype=np.int64), np.array([1.0])
    w_adv, status = np.empty(1), np.zeros(1, dtype=np.int8)
    _exact.advance_kernel_serial(MAE, d, one, one, np.array([1e-300]), np.array([tc]), w_adv,
                                 status, *_inverse.tables_for(MAE, d))
    assert status[0] == 0 and w_adv[0] == w_at
