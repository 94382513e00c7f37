"""Self-tests of the independent mpmath reference (tests/reference.py).

The reference computes times by quadrature of dw / rhs(w) and weights by root finding; here it is
checked against the paper's closed forms (lemma B.6, theorem B.10, eq. 116-119), against a second
quadrature (tanh-sinh instead of the pole-subtracted Gauss-Legendre rule), against itself at a
higher precision, and for internal consistency (inversion, additivity, condition numbers by
finite differences).  Runs in a few seconds.
"""

import math
import pathlib
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp, mpf

_HERE = pathlib.Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import reference as ref  # noqa: E402


def rel(a, b):
    a, b = mpf(a), mpf(b)
    if a == b:
        return mpf(0)
    return abs(a - b) / abs(b)


def ws_float(obj, L, rho):
    return float(ref.fixed_point_mp(obj, L, rho))


TIGHT = mpf("1e-36")  # two independent 40-digit computations agree to this


# ------------------------------------------------------------------------------------------------
# rhs and basic conventions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", ["jepa", "mae"])
@pytest.mark.parametrize("L", [1, 2, 5, 64])
def test_rhs_definition_and_sign(obj, L):
    rho, lam = 1.7, 0.3
    ws = ref.fixed_point_mp(obj, L, rho)
    for w in [1e-3 * float(ws), 0.5 * float(ws), 2.0 * float(ws), 1e3 * float(ws)]:
        with mp.workdps(80):
            a = (3 if obj == "jepa" else 2) - mpf(1) / L
            direct = mpf(lam) * (mpf(w) ** a - mpf(w) ** 3 / mpf(rho))
        val = ref.rhs_mp(obj, L, w, lam, rho)
        assert rel(val, direct) < TIGHT
        assert (val > 0) == (w < ws)


@pytest.mark.parametrize(
    "obj, L, rho, w",
    [("jepa", 3, 2.0, 8.0), ("jepa", 1, 0.75, 0.75), ("mae", 1, 4.0, 2.0), ("mae", 3, 16.0, 8.0)],
)
def test_rhs_exactly_zero_at_fixed_point(obj, L, rho, w):
    assert ref.rhs_mp(obj, L, w, 1.3, rho) == 0
    assert ref.fixed_point_mp(obj, L, rho) == w
    # the neighbouring floats are strictly on either side
    assert ref.rhs_mp(obj, L, math.nextafter(w, 0), 1.3, rho) > 0
    assert ref.rhs_mp(obj, L, math.nextafter(w, math.inf), 1.3, rho) < 0


def test_caller_precision_untouched_and_mpf_results():
    with mp.workdps(17):
        t = ref.time_to_reach_mp("jepa", 2, 1.0, 1.0, 1e-3, 0.5)
        w = ref.trajectory_mp("mae", 3, 1.0, 1.0, 1e-3, 10.0)
        assert mp.dps == 17
    assert mp.dps == 15
    assert isinstance(t, mpf) and isinstance(w, mpf)
    assert t.context.prec >= 53
    # results carry ref.DPS digits: compare with a higher-precision call
    assert rel(t, ref.time_to_reach_mp("jepa", 2, 1.0, 1.0, 1e-3, 0.5, dps=60)) < mpf("1e-39")


@pytest.mark.parametrize("n", [5, 8, 13, 48])
def test_gauss_legendre_rule_is_exact_for_polynomials(n):
    with mp.workdps(60):
        nodes, centre = ref._gauss_legendre(n)
        for k in [0, 2, 2 * n - 2]:
            approx = sum(w * 2 * x**k for x, w in nodes) + (centre * (k == 0) if centre else 0)
            assert abs(approx - mpf(2) / (k + 1)) < mpf("1e-55")


def test_invalid_inputs():
    with pytest.raises(ValueError):
        ref.rhs_mp("byol", 2, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        ref.time_to_reach_mp("jepa", 0, 1.0, 1.0, 1e-3, 0.5)
    with pytest.raises(ValueError):
        ref.time_to_reach_mp("jepa", 2, -1.0, 1.0, 1e-3, 0.5)
    with pytest.raises(ValueError):
        ref.trajectory_mp("jepa", 2, 1.0, 1.0, 1e-3, -1.0)
    with pytest.raises(ValueError):
        ref.mae_time_lerch_mp(1, 1.0, 1.0, 1e-3, 0.5)


# ------------------------------------------------------------------------------------------------
# Quadrature time against the closed forms
# ------------------------------------------------------------------------------------------------

# (eps, w) as multiples of the fixed point; growth and decay, far from and next to w*
_PAIRS = [
    (1e-12, 0.5),
    (1e-3, 0.9),
    (0.3, 1 - 2**-50),
    (0.5, 0.5000001),
    (3.0, 1.5),
    (1e8, 1 + 2**-50),
]


@pytest.mark.parametrize("L", [1, 2, 3, 5, 8, 64])
@pytest.mark.parametrize("rho", [0.05, 1.0, 30.0])
def test_jepa_quadrature_matches_lemma_b6(L, rho):
    ws = ws_float("jepa", L, rho)
    lam = 0.7
    for fe, fw in _PAIRS:
        eps, w = fe * ws, fw * ws
        q = ref.time_to_reach_mp("jepa", L, lam, rho, eps, w)
        c = ref.jepa_time_lemma_b6_mp(L, lam, rho, eps, w)
        assert 0 < q < mp.inf
        assert rel(q, c) < TIGHT, (L, rho, eps, w, q, c)


@pytest.mark.parametrize("rho", [1e-3, 0.5, 1.0, 40.0])
def test_mae_depth1_matches_eq116_to_119(rho):
    lam = 1.9
    ws = math.sqrt(rho)
    for fe, fw in _PAIRS:
        eps, w = fe * ws, fw * ws
        q = ref.time_to_reach_mp("mae", 1, lam, rho, eps, w)
        assert rel(q, ref.mae_time_depth1_mp(lam, rho, eps, w)) < TIGHT
    # explicit trajectory (eq. 118, 119) on both sides of the fixed point
    for eps in [1e-9 * ws, 0.5 * ws, 4.0 * ws]:
        for t in [1e-3, 0.7, 5.0, 40.0]:
            w_q = ref.trajectory_mp("mae", 1, lam, rho, eps, t)
            w_e = ref.mae_trajectory_depth1_mp(lam, rho, eps, t)
            assert rel(w_q, w_e) < mpf("1e-34"), (eps, t)


@pytest.mark.parametrize("L", [2, 3, 5, 8, 2.5, 64])
@pytest.mark.parametrize("rho", [0.01, 1.0, 50.0])
def test_mae_lerch_form_matches_quadrature(L, rho):
    ws = ws_float("mae", L, rho)
    lam = 0.4
    for fe, fw in [(1e-30, 0.5), (1e-6, 0.99), (1e-3, 1 - 2**-50), (0.5, 0.5000001)]:
        eps, w = fe * ws, fw * ws
        q = ref.time_to_reach_mp("mae", L, lam, rho, eps, w)
        c = ref.mae_time_lerch_mp(L, lam, rho, eps, w)
        assert rel(q, c) < TIGHT, (L, rho, eps, w, q, c)


@pytest.mark.parametrize("L", [2, 8])
def test_lerchphi_and_hyp2f1_forms_agree(L):
    a = ref.mae_time_lerch_mp(L, 1.1, 2.0, 1e-4, 0.9, method="lerchphi")
    b = ref.mae_time_lerch_mp(L, 1.1, 2.0, 1e-4, 0.9, method="hyp2f1")
    assert rel(a, b) < TIGHT


@pytest.mark.parametrize(
    "obj, L, rho, fe, fw",
    [
        ("jepa", 2, 1.3, 1e-6, 1 - 2**-40),
        ("jepa", 64, 1.01, 1e-20, 0.7),
        ("mae", 3, 0.2, 40.0, 1 + 2**-45),
        ("mae", 1, 5.0, 1e-5, 0.999),
        ("jepa", 4, 3.0, 1e6, 2.0),
    ],
)
def test_tanh_sinh_quadrature_agrees(obj, L, rho, fe, fw):
    """A second quadrature (mp.quad tanh-sinh on the plain integrand, geometric splitting at the
    fixed point) against the default pole-subtracted Gauss-Legendre rule."""
    ws = ws_float(obj, L, rho)
    eps, w = fe * ws, fw * ws
    a = ref.time_to_reach_mp(obj, L, 0.9, rho, eps, w)
    b = ref.time_to_reach_mp(obj, L, 0.9, rho, eps, w, method="tanh-sinh")
    assert rel(a, b) < TIGHT


@pytest.mark.parametrize("obj", ["jepa", "mae"])
@pytest.mark.parametrize("L", [1, 4])
def test_precision_convergence(obj, L):
    ws = ws_float(obj, L, 2.0)
    for eps, w in [(1e-20, 0.3 * ws), (1e-3 * ws, (1 - 2**-52) * ws), (9.0 * ws, 1.25 * ws)]:
        a = ref.time_to_reach_mp(obj, L, 0.6, 2.0, eps, w)
        b = ref.time_to_reach_mp(obj, L, 0.6, 2.0, eps, w, dps=70)
        assert rel(a, b) < mpf("1e-39")


# ------------------------------------------------------------------------------------------------
# Trajectory
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", ["jepa", "mae"])
@pytest.mark.parametrize("L", [1, 3, 16])
def test_trajectory_inverts_time(obj, L):
    rho, lam = 2.5, 0.8
    ws = ws_float(obj, L, rho)
    for fe, fw in [(1e-10, 1e-5), (1e-10, 0.5), (1e-3, 0.999999), (0.2, 1 - 2**-48), (7.0, 1.01)]:
        eps, w = fe * ws, fw * ws
        T = ref.time_to_reach_mp(obj, L, lam, rho, eps, w, dps=60)
        # mpf time: w must come back to the precision the problem allows
        W = ref.trajectory_mp(obj, L, lam, rho, eps, T)
        S_t = ref.cond_w_mp(obj, L, lam, rho, eps, float(T), parts=True, w_t=W)["t"]
        assert rel(W, w) < mpf("1e-38") * max(1, abs(S_t)), (eps, w)
        # float time: the time of the returned weight must be that float
        tf = float(T)
        W = ref.trajectory_mp(obj, L, lam, rho, eps, tf)
        assert rel(ref.time_to_reach_mp(obj, L, lam, rho, eps, W, dps=60), tf) < mpf("1e-36")


@settings(max_examples=25)
@given(
    obj=st.sampled_from(["jepa", "mae"]),
    L=st.sampled_from([1, 2, 3, 7, 64]),
    log_lam=st.floats(-6, 6),
    log_rho=st.floats(-3, 3),
    log_eps_rel=st.floats(-30, 8),
    log_t_rel=st.floats(-3, 3),
)
def test_trajectory_roundtrip_property(obj, L, log_lam, log_rho, log_eps_rel, log_t_rel):
    lam, rho = 10.0**log_lam, 10.0**log_rho
    ws = ws_float(obj, L, rho)
    eps = ws * 10.0**log_eps_rel
    if not (0 < eps < 1e300) or eps == ws:
        return
    # a time on the scale of the problem: the time to reach half way (in log w) to w*
    target = math.exp((math.log(eps) + math.log(ws)) / 2)
    if target == eps:
        return
    T = ref.time_to_reach_mp(obj, L, lam, rho, eps, target)
    t = float(T) * 10.0**log_t_rel
    if not (0 < t < 1e300):
        return
    W = ref.trajectory_mp(obj, L, lam, rho, eps, t)
    wsm = ref.fixed_point_mp(obj, L, rho)
    assert min(eps, wsm) <= W <= max(eps, wsm)
    if abs(W - wsm) <= mpf("1e-30") * wsm:
        # at the fixed point to ~40 digits: the time of the rounded W says nothing
        return
    T = ref.time_to_reach_mp(obj, L, lam, rho, eps, W, dps=60)
    # W carries 40 digits: the time of the rounded W is off by ~1e-40 * S_w = 1e-40 / S_t
    S_t = ref.cond_w_mp(obj, L, lam, rho, eps, t, w_t=W, parts=True)["t"]
    assert rel(T, t) < mpf("1e-37") * max(1, 1 / abs(S_t))


@pytest.mark.parametrize("obj", ["jepa", "mae"])
@pytest.mark.parametrize("L", [1, 5])
def test_decay_from_above_is_consistent(obj, L):
    rho, lam = 0.6, 2.0
    ws = ref.fixed_point_mp(obj, L, rho)
    eps = 50.0 * float(ws)
    ts = [0.0, 1e-4, 0.01, 0.1, 1.0, 10.0, 1e3]
    ws_ = [ref.trajectory_mp(obj, L, lam, rho, eps, t) for t in ts]
    assert ws_[0] == eps
    # strictly decreasing while above the fixed point (late values may equal w* to 40 digits)
    assert all(a > b or a == b == ws for a, b in zip(ws_, ws_[1:]))
    assert all(v >= ws for v in ws_) and ws_[1] > ws
    assert ref.trajectory_mp(obj, L, lam, rho, eps, math.inf) == ws
    # additivity of time along the solution, below and above the fixed point
    for e, w1, w2 in [(eps, 10.0 * float(ws), 1.1 * float(ws)), (1e-4 * float(ws), 0.01 * float(ws), 0.9 * float(ws))]:
        t01 = ref.time_to_reach_mp(obj, L, lam, rho, e, w1)
        t12 = ref.time_to_reach_mp(obj, L, lam, rho, w1, w2)
        t02 = ref.time_to_reach_mp(obj, L, lam, rho, e, w2)
        assert rel(t01 + t12, t02) < TIGHT
    # unreachable targets
    assert ref.time_to_reach_mp(obj, L, lam, rho, eps, 0.5 * float(ws)) == mp.inf
    assert ref.time_to_reach_mp(obj, L, lam, rho, eps, 2 * eps) == mp.inf
    assert ref.critical_time_mp(obj, L, lam, rho, eps, 0.5) == mp.inf
    assert 0 < ref.critical_time_mp(obj, L, lam, rho, eps, 2.0) < mp.inf


def test_trivial_and_unreachable_cases():
    # eps exactly at the fixed point (rho = 2, L = 3, JEPA: w* = 8): constant solution
    assert ref.trajectory_mp("jepa", 3, 1.0, 2.0, 8.0, 123.0) == 8
    assert ref.time_to_reach_mp("jepa", 3, 1.0, 2.0, 8.0, 8.0) == 0
    assert ref.time_to_reach_mp("jepa", 3, 1.0, 2.0, 8.0, 7.0) == mp.inf
    assert ref.critical_time_mp("jepa", 3, 1.0, 2.0, 8.0, 1.0) == 0
    assert ref.critical_time_mp("jepa", 3, 1.0, 2.0, 8.0, 0.5) == mp.inf
    # the fixed point itself (and beyond) is never reached from below
    assert ref.time_to_reach_mp("jepa", 3, 1.0, 2.0, 1e-3, 8.0) == mp.inf
    assert ref.time_to_reach_mp("jepa", 3, 1.0, 2.0, 1e-3, 9.0) == mp.inf
    assert ref.time_to_reach_mp("jepa", 3, 1.0, 2.0, 1e-3, 1e-4) == mp.inf  # behind the start
    assert ref.time_to_reach_mp("jepa", 3, 1.0, 2.0, 1e-3, 1e-3) == 0
    assert ref.critical_time_mp("mae", 2, 1.0, 2.0, 1e-3, 1.0) == mp.inf
    assert ref.trajectory_mp("mae", 2, 1.0, 2.0, 1e-3, 0.0) == mpf(1e-3)
    # the float just below the fixed point is reached in finite time
    assert ref.time_to_reach_mp("jepa", 3, 1.0, 2.0, 1e-3, math.nextafter(8.0, 0)) < mp.inf


def test_critical_time_definition():
    for obj, L in [("jepa", 2), ("mae", 4), ("mae", 1)]:
        for p in [0.1, 0.5, 0.999]:
            t = ref.critical_time_mp(obj, L, 0.5, 3.0, 1e-6, p)
            W = ref.trajectory_mp(obj, L, 0.5, 3.0, 1e-6, t)
            assert rel(W, p * ref.fixed_point_mp(obj, L, 3.0)) < mpf("1e-30")


# ------------------------------------------------------------------------------------------------
# Extreme parameters
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", ["jepa", "mae"])
@pytest.mark.parametrize("lam", [1e-6, 1e6])
@pytest.mark.parametrize("rho", [1e-3, 1e3])
def test_extreme_parameters(obj, lam, rho):
    L, eps = 64, 1e-30
    ws = ref.fixed_point_mp(obj, L, rho)
    growth = eps < ws
    for p in [0.5, 2.0]:
        t = ref.critical_time_mp(obj, L, lam, rho, eps, p)
        reachable = (p < 1) == growth
        if not reachable:
            assert t == mp.inf
            continue
        assert 0 < t < mp.inf
        # cross-check with the closed forms (growth side)
        w = float(p * ws)
        if growth and w > eps:
            q = ref.time_to_reach_mp(obj, L, lam, rho, eps, w)
            c = (
                ref.jepa_time_lemma_b6_mp(L, lam, rho, eps, w)
                if obj == "jepa"
                else ref.mae_time_lerch_mp(L, lam, rho, eps, w)
            )
            assert rel(q, c) < TIGHT
        tf = float(t)
        if 0 < tf < 1e308:
            W = ref.trajectory_mp(obj, L, lam, rho, eps, tf)
            assert min(eps, ws) <= W <= max(eps, ws)
            if W != ws:
                assert rel(ref.time_to_reach_mp(obj, L, lam, rho, eps, W, dps=60), tf) < mpf("1e-35")
    assert ref.trajectory_mp(obj, L, lam, rho, eps, math.inf) == ws
    late = ref.trajectory_mp(obj, L, lam, rho, eps, 1e300)
    assert min(eps, ws) <= late <= max(eps, ws)
    if growth:  # time scale K = w*^(1/L-2) / lam <= 1e6 * 1e60: converged long before 1e300
        assert late == ws
    elif late != ws:  # JEPA, rho = 1e-3: the decay to w* = 1e-192 is still under way at 1e300
        assert rel(ref.time_to_reach_mp(obj, L, lam, rho, eps, late, dps=60), 1e300) < mpf("1e-35")
    assert rel(ref.trajectory_mp(obj, L, lam, rho, eps, 1e-300), eps) < mpf("1e-30")
    # the float nearest to the fixed point: finite or infinite, never NaN
    T = ref.time_to_reach_mp(obj, L, lam, rho, eps, float(ws))
    assert T > 0


# ------------------------------------------------------------------------------------------------
# Condition numbers against finite differences
# ------------------------------------------------------------------------------------------------


def _fd_log(f, x, h=mpf("1e-12")):
    """Central difference of log f in log x (truncation ~ h^2, rounding ~ 10^-45 / h)."""
    with mp.workdps(50):
        x = mpf(x)
        up, dn = f(x * mp.exp(h)), f(x * mp.exp(-h))
        return (mp.log(up) - mp.log(dn)) / (2 * h)


@pytest.mark.parametrize(
    "obj, L, lam, rho, eps, w",
    [("jepa", 3, 0.7, 1.7, 1e-3, 2.0), ("mae", 2, 2.0, 0.3, 3.0, 0.6), ("mae", 1, 1.0, 1.0, 0.1, 0.9)],
)
def test_cond_time_parts_match_finite_differences(obj, L, lam, rho, eps, w):
    P = ref.cond_time_mp(obj, L, lam, rho, eps, w, parts=True)

    def T(**kw):
        args = dict(lam=lam, rho=rho, eps=eps, w=w) | kw
        return ref.time_to_reach_mp(obj, L, args["lam"], args["rho"], args["eps"], args["w"], dps=45)

    for name in ["w", "lam", "rho", "eps"]:
        fd = _fd_log(lambda x: T(**{name: x}), {"w": w, "lam": lam, "rho": rho, "eps": eps}[name])
        assert rel(P[name], fd) < mpf("1e-15"), name
    with mp.workdps(50):
        assert rel(P["total"], sum(abs(P[k]) for k in ["w", "lam", "rho", "eps"])) < mpf("1e-35")


@pytest.mark.parametrize(
    "obj, L, lam, rho, eps, t",
    [("jepa", 3, 0.7, 1.7, 1e-3, 900.0), ("mae", 2, 2.0, 0.3, 3.0, 0.4), ("mae", 4, 1.0, 5.0, 1e-4, 60.0)],
)
def test_cond_w_parts_match_finite_differences(obj, L, lam, rho, eps, t):
    P = ref.cond_w_mp(obj, L, lam, rho, eps, t, parts=True)

    def W(**kw):
        args = dict(lam=lam, rho=rho, eps=eps, t=t) | kw
        return ref.trajectory_mp(obj, L, args["lam"], args["rho"], args["eps"], args["t"], dps=45)

    for name in ["t", "lam", "rho", "eps"]:
        fd = _fd_log(lambda x: W(**{name: x}), {"t": t, "lam": lam, "rho": rho, "eps": eps}[name])
        assert abs(P[name] - fd) < mpf("1e-15") * max(1, abs(fd)), name


def test_cond_limits():
    # t -> inf: w -> w* = rho^(1/b): only rho matters, with exponent 1/b = L (JEPA)
    assert rel(ref.cond_w_mp("jepa", 3, 1.0, 2.0, 1e-3, math.inf), 3) < TIGHT
    assert ref.cond_w_mp("jepa", 3, 1.0, 2.0, 1e-3, 0.0) == 1  # w(0) = eps
    # rhs: linear in lam; at the fixed point infinitely ill-conditioned
    assert ref.cond_rhs_mp("jepa", 3, 8.0, 1.0, 2.0) == mp.inf
    assert ref.cond_time_mp("jepa", 3, 1.0, 2.0, 1e-3, 1e-3) == mp.inf
    P = ref.cond_rhs_mp("mae", 2, 0.01, 1.0, 2.0, parts=True)
    assert P["lam"] == 1 and 1.4 < P["w"] < 1.6  # ~ a = 1.5 far below the fixed point


# ------------------------------------------------------------------------------------------------
# The paper's asymptotic formulas (leading orders), as a sanity check of both sides
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", [2, 3, 5])
def test_eq12_jepa_critical_time_leading_terms(L):
    lam, rho, p = 0.8, 1.6, 0.5

    def remainder(eps):
        t = ref.critical_time_mp("jepa", L, lam, rho, eps, p, dps=100)
        with mp.workdps(100):
            Lm, r, e = mpf(L), mpf(rho), mpf(eps)
            eq12 = sum(Lm / (n * r ** (2 * L - n - 1) * e ** (mpf(n) / L)) for n in range(1, 2 * L)) / lam
            # eq. 82: the next term is -log(eps) / (lam rho^(2L-1)), then Theta(1)
            return t - eq12 + mp.log(e) / (lam * r ** (2 * L - 1))

    # remainder = L / (lam rho^(2L-1)) * [const + log(1 - eps^(1/L) / rho)]
    r1, r2 = remainder(1e-20), remainder(1e-30)
    assert abs(r1) < 100 and abs(r1 - r2) < mpf(10) ** (-20 / L + 1)


@pytest.mark.parametrize("L", [2, 3, 6])
def test_eq13_mae_critical_time_leading_term(L):
    lam, rho, p = 1.4, 0.7, 0.5

    def remainder(eps):
        t = ref.critical_time_mp("mae", L, lam, rho, eps, p, dps=80)
        with mp.workdps(80):
            return t - mpf(L) / (mpf(lam) * (L - 1) * mpf(eps) ** (mpf(L - 1) / L))

    r1, r2 = remainder(1e-20), remainder(1e-30)
    # the Theta(1) term does not depend on eps (eq. 111); the next one is O(eps^(2/L))
    assert abs(r1) < 100 and abs(r1 - r2) < mpf(10) ** (-40 / L + 1)


def test_eq121_mae_depth1_critical_time():
    lam, rho, p, eps = 1.3, 2.0, 0.5, 1e-20
    t = ref.critical_time_mp("mae", 1, lam, rho, eps, p)
    with mp.workdps(50):
        # from eq. 116: t = |log eps| / lam + [log(p^2 / (1 - p^2)) + log rho] / (2 lam) + O(eps^2)
        e, pm = mpf(eps), mpf(p)
        expected = -mp.log(e) / lam + (mp.log(pm**2 / (1 - pm**2)) + mp.log(rho)) / (2 * lam)
        assert abs(t - expected) < mpf("1e-35")


@pytest.mark.parametrize("L", [2, 4])
def test_eq14_critical_time_ratios(L):
    lam, p, eps, rho, rho2 = 1.0, 0.5, 1e-40, 0.8, 1.5
    args = dict(dps=100)
    tj1 = ref.critical_time_mp("jepa", L, lam, rho, eps, p, **args)
    tj2 = ref.critical_time_mp("jepa", L, lam, rho2, eps, p, **args)
    tm1 = ref.critical_time_mp("mae", L, lam, rho, eps, p, **args)
    tm2 = ref.critical_time_mp("mae", L, lam, rho2, eps, p, **args)
    with mp.workdps(100):
        d_rho = 1 / mpf(rho) - 1 / mpf(rho2)
        coeff = (tj1 / tj2 - 1) / (d_rho * mpf(eps) ** (mpf(1) / L))
        assert rel(coeff, mpf(2 * L - 1) / (2 * L - 2)) < mpf(10) ** (-40 / L + 2)
        assert abs(tm1 / tm2 - 1) < 10 * mpf(eps) ** (mpf(L - 1) / L)
