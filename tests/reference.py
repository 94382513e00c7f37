"""Independent high-precision reference for the per-feature dynamics (mpmath).

This module is the test oracle for ``fastdyn``.  It deliberately does NOT use the library's change
of variable (``psi = w^(3-a) / rho``) or its closed forms ``G_q``: every time is a quadrature of
``dw / rhs(w)`` in the variable ``log w``, every weight is a bracketed root find on those times, and
the two closed forms of the paper (lemma B.6 for JEPA, theorem B.10 with the Lerch transcendent for
MAE, eq. 116-119 for MAE at depth 1) are implemented only as *cross-checks* of the quadrature.

The ODE (paper eq. 7, 8; ``t`` is the paper's ODE time)::

    dw/dt = lam * (w^a - w^3 / rho),   a = 3 - 1/L (JEPA),  a = 2 - 1/L (MAE)

with fixed point ``w* = rho^(1/b)``, ``b = 3 - a`` (JEPA ``rho^L``, MAE ``rho^(L/(L+1))``).

How the time is computed
------------------------
Write ``w = w* exp(-s)`` below the fixed point (growth) and ``w = w* exp(+s)`` above it (decay), so
``s = |log w - log w*| > 0`` is the distance to the fixed point in ``log w``.  With ``c = a - 1``
(note ``c + b = 2``) the time spent between two weights on the same side is::

    t = K * integral_{s_w}^{s_eps} h(s) ds,      K = w*^(-c) / lam,
    h(s) = e^{ c s} / (1 - e^{-b s})   (growth),   h(s) = e^{-c s} / (e^{b s} - 1)   (decay),

which is just ``integral dw / rhs(w)`` in ``x = log w``, shifted by ``log w*`` (a shift of the
variable the brief asks for, not the library's ``psi``).  ``h`` has a simple pole ``1/(b s)`` at
the fixed point and grows (growth side) or decays (decay side) exponentially far from it.

* ``s <= 1`` ("pole segment"): ``integral h = log(s1/s0) / b + integral r``, where
  ``r = h - 1/(b s)`` is analytic on ``|s| < 2 pi / b`` and is evaluated without cancellation
  (``expm1`` and the series of ``e^z - 1 - z``).  One Gauss-Legendre rule covers the whole
  segment however close ``s0`` is to 0 (the logarithmic endpoint singularity is exact).
* ``s > 1``: pieces ``[s, s']`` with ``s' <= 2 s`` and ``s' - s <= min(4 / rate, 8)`` (``rate`` =
  the exponential rate of ``h``: ``c`` below, 2 above the fixed point), each with one n-point
  Gauss-Legendre rule.

On every segment the nearest singularity gives a Bernstein-ellipse parameter >= 3 + 2 sqrt 2 and
the exponential growth inside the ellipse costs at most e^6, so n is chosen from the working
precision such that the a-priori relative error is below ``10^-(working digits + 5)`` (shorter
sub-intervals used inside the root find get a correspondingly lower order).  This is checked in
the self-tests against ``method="tanh-sinh"``: ``mp.quad`` (tanh-sinh) on the plain integrand
``h``, split geometrically (ratio 2) all the way to the fixed point, i.e. without the pole
subtraction; against the closed forms; and against the same quadrature at higher precision.
The fixed-order rule is roughly ten times faster than ``mp.quad``.

How the weight is computed
--------------------------
``trajectory_mp`` walks the same segments from ``s_eps`` towards the fixed point, accumulating the
time, until the segment whose end time exceeds ``t``; inside it, Newton in ``y = log s`` (with
``dt/dy = -K h(s) s`` known exactly) safeguarded by bisection in ``y`` whenever a step would leave
the bracket; the bracket is kept at every step.  If even ``s = 10^-(digits + 2)`` is reached
before ``t``, the answer is the fixed point to the working precision.

Precision
---------
Public functions take ``dps`` (default :data:`DPS` = 40), work internally with ``dps + 15`` digits
plus extra digits where the inputs lie within ``10^-k`` of the fixed point or of each other (in
``log w``), inside ``mp.workdps``: the caller's ``mp.dps`` is never changed.  Results are ``mpf``
rounded to ``dps`` digits.  Inputs are converted exactly (``mpf(float)`` is exact); ``mpf`` inputs
are accepted as well.

* ``time_to_reach_mp``, ``critical_time_mp``, ``rhs_mp`` and the closed forms: correct to about
  ``dps`` significant digits for any input (the value for the *exact* inputs).
* ``trajectory_mp``: ``w(t)`` is found to a relative accuracy of about
  ``10^-(dps + 15 + extra) * S_t`` where ``S_t = t * rhs(w) / w`` is the (relative) sensitivity of
  ``w`` to ``t``; when ``S_t > 10^12``, ``extra = log10(S_t) - 12`` digits are added automatically
  (one more solve), capped at ``max_extra_dps`` (default 40).  So the answer has ``dps`` correct
  digits unless ``S_t > 10^(12 + max_extra_dps)``, far beyond anything float64 can resolve (there
  the float problem's own condition number is astronomically large).

Condition numbers
-----------------
``cond_w_mp`` / ``cond_time_mp`` / ``cond_rhs_mp`` return the relative condition number
``sum_x |d log f / d log x|`` over the float inputs.  All partial derivatives are analytic: besides
``dw/dt = rhs(w)``, ``dw(t)/d eps = rhs(w) / rhs(eps)``, ``dt/dw = 1/rhs(w)`` and ``lam`` being a
time rescaling, the ``rho`` derivative follows from the exact scaling
``w(t; lam, rho, eps) = w* V(lam rho^(c/b) t; eps / w*)`` (``V`` = solution for lam = rho = 1)::

    d log w / d log rho = (1 + c S_t - S_eps) / b,     d log t / d log rho = -(c + S_w + S_eps) / b

(signed ``S``'s; see the functions).  A float64 implementation can then be held to
``|err| <= tol + C * cond * 2**-53``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
from mpmath import mp, mpf

__all__ = [
    "DPS",
    "a_exponent",
    "fixed_point_mp",
    "rhs_mp",
    "time_to_reach_mp",
    "trajectory_mp",
    "critical_time_mp",
    "mae_time_lerch_mp",
    "jepa_time_lemma_b6_mp",
    "mae_time_depth1_mp",
    "mae_trajectory_depth1_mp",
    "cond_rhs_mp",
    "cond_w_mp",
    "cond_time_mp",
]

#: Default number of significant decimal digits of the results.
DPS = 40
#: Guard digits used internally on top of ``dps``.
GUARD = 15

_INF = mpf("inf")
#: Below this distance s = |log(w / w*)| the pole of the integrand is subtracted analytically.
S_POLE = 1
#: Digits used for the w(t) or t(w) inside the condition numbers (a few digits suffice).
_COND_DPS = 20
_OBJECTIVES = ("jepa", "mae")

# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def _objective(objective):
    obj = str(objective).lower()
    if obj not in _OBJECTIVES:
        raise ValueError(f"objective must be 'jepa' or 'mae', got {objective!r}")
    return obj


def _depth(depth):
    """Return (depth, is_integer): an int for integral depths (also 3.0), else a float."""
    if isinstance(depth, bool):
        raise ValueError("depth must be a positive number")
    if isinstance(depth, int):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        return depth, True
    d = float(depth)
    if not (d > 0.0) or math.isinf(d):
        raise ValueError(f"depth must be positive and finite, got {depth!r}")
    if d.is_integer():
        return int(d), True
    return d, False


def _positive(name, x):
    """Validate a positive finite scalar (float or mpf) and return it unchanged."""
    if isinstance(x, mpf):
        if not (x > 0) or mpmath.isinf(x):
            raise ValueError(f"{name} must be positive and finite, got {x}")
        return x
    v = float(x)
    if not (v > 0.0) or math.isinf(v):
        raise ValueError(f"{name} must be positive and finite, got {x!r}")
    return v


def _to_fraction(x):
    """Exact rational value of a float or an mpf."""
    if isinstance(x, mpf):
        man, exp = x.man_exp
        return Fraction(int(man)) * (Fraction(2) ** int(exp))
    return Fraction(float(x))


def a_exponent(objective, depth):
    """The exponent ``a`` of ``rhs = lam (w^a - w^3/rho)`` as an mpf (current precision)."""
    obj = _objective(objective)
    L, _ = _depth(depth)
    return (3 if obj == "jepa" else 2) - mpf(1) / L


# ----------------------------------------------------------------------------------------------
# Gauss-Legendre nodes (cached per order and precision)
# ----------------------------------------------------------------------------------------------

_GL_CACHE: dict = {}


def _gauss_legendre(n):
    """Nodes x_i in (0, 1) with weights (the rule is symmetric) of the n-point rule.

    Computed once per (n, precision tier): float64 starting values, then Newton in mp at a
    precision of ``mp.prec`` rounded up to a multiple of 128 bits.
    """
    prec = 128 * ((mp.prec + 20) // 128 + 1)
    key = (n, prec)
    rule = _GL_CACHE.get(key)
    if rule is not None:
        return rule

    def legendre(x):
        p0, p1 = mpf(1), x
        for k in range(2, n + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        return p1, n * (x * p1 - p0) / (x * x - 1)

    with mp.workprec(prec):
        nodes = []
        for i in range(1, n // 2 + 1):
            # float64 Newton first (cheap), then mp Newton (quadratic: 3-4 steps to full precision)
            xf = math.cos(math.pi * (i - 0.25) / (n + 0.5))
            for _ in range(50):
                q0, q1 = 1.0, xf
                for k in range(2, n + 1):
                    q0, q1 = q1, ((2 * k - 1) * xf * q1 - (k - 1) * q0) / k
                dxf = q1 / (n * (xf * q1 - q0) / (xf * xf - 1))
                xf -= dxf
                if abs(dxf) < 1e-15:
                    break
            x = mpf(xf)
            for _ in range(20):
                p, dp = legendre(x)
                dx = p / dp
                x -= dx
                if abs(dx) < mpf(2) ** (-prec // 2 - 8):
                    p, dp = legendre(x)
                    x -= p / dp  # one more quadratic step: full precision
                    break
            p, dp = legendre(x)
            nodes.append((x, 2 / ((1 - x * x) * dp * dp)))
        centre = None
        if n % 2 == 1:
            p0, p1 = mpf(1), mpf(0)
            for k in range(2, n + 1):
                p0, p1 = p1, (-(k - 1) * p0) / k
            centre = 2 / ((n * p0) ** 2)  # P_n'(0) = n P_{n-1}(0)
    rule = (nodes, centre)
    _GL_CACHE[key] = rule
    return rule


def _gl_order(digits):
    """Order of the Gauss-Legendre rule for ``digits`` working digits (rounded up to a tier of 20).

    On every admissible piece the nearest singularity gives a Bernstein-ellipse parameter
    >= 3 + 2 sqrt(2) = 5.83, so the error is ~ 5.83^(-2n) times a factor <= e^6 from the
    exponential growth of the integrand inside the ellipse.
    """
    tier = 20 * ((digits + 19) // 20)
    return int(math.ceil((tier + 8) / (2.0 * math.log10(3.0 + 2.0 * math.sqrt(2.0))))) + 2


# ----------------------------------------------------------------------------------------------
# The problem at working precision
# ----------------------------------------------------------------------------------------------


class _Problem:
    """All constants of one (objective, depth, lam, rho) at the current working precision."""

    def __init__(self, objective, depth, lam, rho):
        self.obj = _objective(objective)
        self.L, self.int_depth = _depth(depth)
        self.lam_in = _positive("lam", lam)
        self.rho_in = _positive("rho", rho)
        L = self.L
        self.lam = mpf(self.lam_in)
        self.rho = mpf(self.rho_in)
        if self.obj == "jepa":
            self.b = mpf(1) / L
        else:
            self.b = mpf(L + 1) / L
        self.c = 2 - self.b  # = a - 1
        self.a = 1 + self.c
        self.log_ws = mp.log(self.rho) / self.b
        self.ws = mp.exp(self.log_ws)
        self.K = mp.exp(-self.c * self.log_ws) / self.lam  # time scale w*^(-c) / lam
        self.digits = mp.dps
        self.n_gl = _gl_order(mp.dps)

    # -- where a weight lies relative to the fixed point ------------------------------------
    def side(self, w):
        """-1 below the fixed point, 0 at it, +1 above it; exact for integer depth."""
        if self.int_depth:
            L = self.L
            fw, fr = _to_fraction(w), _to_fraction(self.rho_in)
            if self.obj == "jepa":  # w vs rho^L
                lhs, rhs = fw, fr**L
            else:  # w^(L+1) vs rho^L
                lhs, rhs = fw ** (L + 1), fr**L
            return (lhs > rhs) - (lhs < rhs)
        with mp.workdps(mp.dps + 30):
            diff = mp.log(mpf(w)) - mp.log(mpf(self.rho_in)) / self.b
            tol = mpf(10) ** (-(mp.dps - 10)) * max(1, abs(mp.log(mpf(w))))
        if abs(diff) <= tol:
            return 0
        return 1 if diff > 0 else -1

    def dist(self, w):
        """s = |log w - log w*| at the working precision."""
        return abs(mp.log(mpf(w)) - self.log_ws)

    # -- integrands -----------------------------------------------------------------------------
    def h(self, side, s):
        """|dt/d log w| / K at distance s from the fixed point (simple pole 1/(b s) at s = 0)."""
        b, c = self.b, self.c
        x = b * s
        if side < 0:
            den = -mp.expm1(-x) if x < 0.5 else 1 - mp.exp(-x)
            return mp.exp(c * s) / den
        den = mp.expm1(x) if x < 0.5 else mp.exp(x) - 1
        return mp.exp(-c * s) / den

    def r(self, side, s):
        """h(s) - 1/(b s): analytic at s = 0 (next singularities at s = +-2 pi i / b), computed
        without cancellation: numerators x e^(+-cs) - (1 - e^(-+x)) rewritten with expm1 and the
        series of e^z - 1 - z."""
        b, c = self.b, self.c
        x = b * s
        if side < 0:
            E = -mp.expm1(-x)  # 1 - e^(-x)
            N = x * mp.expm1(c * s) + _exp_minus_1_minus_z(-x)
            return N / (x * E)
        F = mp.expm1(x)  # e^x - 1
        N = x * mp.expm1(-c * s) - _exp_minus_1_minus_z(x)
        return N / (x * F)

    def rate(self, side):
        """Exponential rate of h far from the pole."""
        return self.c if side < 0 else mpf(2)

    def hmax(self, side):
        r = float(self.rate(side))
        return 8.0 if r <= 0.5 else min(8.0, 4.0 / r)

    # -- quadrature -----------------------------------------------------------------------------
    def gl(self, f, s0, s1, frac=None):
        """Gauss-Legendre rule for integral_{s0}^{s1} f.

        ``frac`` = (s1 - s0) / (length of the admissible segment that contains [s0, s1]); a short
        sub-interval sees the singularities from relatively further away (Bernstein parameter
        at least about 4 / frac), so a lower order gives the same accuracy.
        """
        n = self.n_gl
        if frac is not None and frac < 0.25:
            lq = math.log10(4.0) - float(mp.log10(frac))
            n = min(n, 4 * int(math.ceil((self.digits + 8) / (2.0 * lq) / 4.0)) + 4)
        half = (s1 - s0) / 2
        mid = (s1 + s0) / 2
        nodes, centre = _gauss_legendre(n)
        acc = mpf(0)
        for x, wt in nodes:
            dx = half * x
            acc += wt * (f(mid - dx) + f(mid + dx))
        if centre is not None:
            acc += centre * f(mid)
        return acc * half

    def seg(self, side, s0, s1, kind, method="gl", frac=None):
        """integral_{s0}^{s1} h(s) ds (s0 < s1) on one elementary segment.

        kind "A": 0 < s0 < s1 <= S_POLE, done as log(s1/s0)/b + integral of r (one rule: r is
        analytic on [0, S_POLE]).  kind "B": an admissible piece (s1 <= 2 s0,
        s1 - s0 <= hmax) of the plain integrand h.
        """
        if method == "gl":
            if kind == "A":
                return mp.log(s1 / s0) / self.b + self.gl(lambda s: self.r(side, s), s0, s1, frac)
            return self.gl(lambda s: self.h(side, s), s0, s1, frac)
        if method == "tanh-sinh":
            return mp.quad(lambda s: self.h(side, s), [s0, s1], method="tanh-sinh")
        raise ValueError(f"unknown method {method!r}")

    def segments_up(self, side, s0, s1, method="gl"):
        """Elementary segments (u, v, kind) covering [s0, s1], 0 < s0 < s1, in increasing order.

        method "gl": one pole segment [s0, min(s1, S_POLE)] then admissible pieces; method
        "tanh-sinh": admissible pieces only (geometric, ratio 2, towards the pole).
        """
        out = []
        s = s0
        if method == "gl" and s < S_POLE:
            v = min(s1, S_POLE)
            out.append((s, v, "A"))
            s = v
        hm = mpf(self.hmax(side))
        while s < s1:
            v = min(s + min(s, hm), s1)
            out.append((s, v, "B"))
            s = v
        return out

    def segments_down(self, side, s_start, s_floor, method="gl"):
        """Elementary segments (u, v, kind) from s_start down to s_floor, decreasing order."""
        hm = mpf(self.hmax(side))
        v = s_start
        while v > s_floor:
            if method == "gl" and v <= S_POLE:
                yield (s_floor, v, "A")
                return
            u = max(v - min(v / 2, hm), s_floor)
            if method == "gl":
                u = max(u, mpf(S_POLE))
            yield (u, v, "B")
            v = u

    def integral(self, side, s0, s1, method="gl"):
        """K * integral_{s0}^{s1} h(s) ds  for 0 < s0 <= s1."""
        if s0 == s1:
            return mpf(0)
        total = mpf(0)
        for u, v, kind in self.segments_up(side, s0, s1, method):
            total += self.seg(side, u, v, kind, method)
        return self.K * total


def _exp_minus_1_minus_z(z):
    """e^z - 1 - z without cancellation (series for |z| < 1/2)."""
    if abs(z) >= 0.5:
        return mp.exp(z) - 1 - z
    term = z * z / 2
    total = term
    k = 2
    tiny = mpf(2) ** (-mp.prec - 8)
    while abs(term) > tiny * abs(total):
        k += 1
        term = term * z / k
        total += term
    return total


def _extra_digits(*distances):
    """Extra digits needed so that distances of size d keep full relative precision."""
    extra = 0
    for d in distances:
        if d is None or d == 0 or mpmath.isinf(d):
            continue
        e = -int(mp.floor(mp.log10(abs(d))))
        extra = max(extra, e)
    return max(0, extra) + 2


def _round(x, dps):
    with mp.workdps(dps):
        return +x


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------


def fixed_point_mp(objective, depth, rho, dps=DPS):
    """w* = rho^L (JEPA) or rho^(L/(L+1)) (MAE)."""
    with mp.workdps(dps + GUARD):
        prob = _Problem(objective, depth, 1.0, rho)
        return _round(prob.ws, dps)


def rhs_mp(objective, depth, w, lam, rho, dps=DPS):
    """Right-hand side of eq. 7 (JEPA) / eq. 8 (MAE): lam * (w^a - w^3 / rho).

    Exactly 0 at the fixed point (decided in exact rational arithmetic for integer depth);
    otherwise accurate to ``dps`` digits even next to the fixed point.
    """
    with mp.workdps(dps + GUARD + 30):
        prob = _Problem(objective, depth, lam, rho)
        w = _positive("w", w)
        if prob.side(w) == 0:
            return mpf(0)
        wm = mpf(w)
        val = prob.lam * (wm**prob.a - wm**3 / prob.rho)
        return _round(val, dps)


def _time_core(prob, side0, s0, side1, s1, method="gl"):
    """Time from (side0, s0) to (side1, s1); see time_to_reach_mp for the conventions."""
    if side0 == 0:
        return mpf(0) if side1 == 0 else _INF
    if side1 != side0:
        return _INF
    if s1 > s0:
        return _INF
    if s1 == s0:
        return mpf(0)
    return prob.integral(side0, s1, s0, method)


def time_to_reach_mp(objective, depth, lam, rho, eps, w, dps=DPS, method="gl"):
    """Time at which the solution with w(0) = eps first equals w (integral of dw / rhs(w)).

    Returns 0 when ``w == eps``, ``inf`` when w is never reached (on the other side of the fixed
    point, at the fixed point, or behind the start: the solution is monotone).  Works on both
    sides of the fixed point (eps above it: the weight decays).  ``w`` may be a float or an mpf.
    """
    eps = _positive("eps", eps)
    w = _positive("w", w)
    if isinstance(w, float) and isinstance(eps, float) and w == eps:
        return mpf(0)
    if _to_fraction(w) == _to_fraction(eps):
        return mpf(0)
    p0 = dps + GUARD
    with mp.workdps(p0):
        prob = _Problem(objective, depth, lam, rho)
        side0, side1 = prob.side(eps), prob.side(w)
        if side0 == 0 or side1 != side0:
            return _INF
        s0, s1 = prob.dist(eps), prob.dist(w)
        gap = abs(mp.log(mpf(w) / mpf(eps)))
        extra = _extra_digits(s0, s1, gap)
    with mp.workdps(p0 + extra):
        prob = _Problem(objective, depth, lam, rho)
        s0, s1 = prob.dist(eps), prob.dist(w)
        res = _time_core(prob, side0, s0, side1, s1, method)
        return _round(res, dps)


def critical_time_mp(objective, depth, lam, rho, eps, p, dps=DPS, method="gl"):
    """Time to reach ``p * w*`` (eq. 11) from ``w(0) = eps``; inf when it is never reached."""
    eps = _positive("eps", eps)
    pf = _positive("p", p)
    p0 = dps + GUARD
    with mp.workdps(p0):
        prob = _Problem(objective, depth, lam, rho)
        side0 = prob.side(eps)
        pm = mpf(pf)
        side1 = (pm > 1) - (pm < 1)
        if side0 == 0:
            return mpf(0) if side1 == 0 else _INF
        if side1 != side0:
            return _INF
        s0 = prob.dist(eps)
        s1 = abs(mp.log1p(pm - 1))
        extra = _extra_digits(s0, s1, s0 - s1)
    with mp.workdps(p0 + extra):
        prob = _Problem(objective, depth, lam, rho)
        pm = mpf(pf)
        s0 = prob.dist(eps)
        s1 = abs(mp.log1p(pm - 1))
        return _round(_time_core(prob, side0, s0, side1, s1, method), dps)


def _solve_s(prob, side, s_start, t, method="gl"):
    """Find s with K int_s^{s_start} h = t (t > 0 finite).  Returns (s, h(s)) or (0, None).

    Scan the elementary segments downward from s_start, accumulating the time, until the one that
    contains the root; then safeguarded Newton in y = log s inside it (bisection in y whenever a
    Newton step leaves the bracket; the bracket is kept at every step).  (0, None) means that w
    equals the fixed point to the working precision (s < 10^-(digits+2)).
    """
    K = prob.K
    s_floor = mpf(10) ** (-(mp.dps + 2))
    tau_hi = mpf(0)
    found = None
    for u, v, kind in prob.segments_down(side, s_start, s_floor, method):
        tau_lo = tau_hi + K * prob.seg(side, u, v, kind, method)
        if tau_lo >= t:
            found = (u, v, kind, tau_lo, tau_hi)
            break
        tau_hi = tau_lo
    if found is None:
        return mpf(0), None
    s_lo, s_hi, kind, tau_lo, tau_hi = found
    if tau_lo == t:
        return s_lo, prob.h(side, s_lo)
    # Root in (s_lo, s_hi): tau(s_lo) > t > tau(s_hi) (tau(s_hi) < t by construction).
    y_lo, y_hi = mp.log(s_lo), mp.log(s_hi)
    known = [(s_lo, tau_lo), (s_hi, tau_hi)]
    if kind == "A":  # tau ~ tau_hi + (K/b) log(s_hi/s)
        y = y_hi - (t - tau_hi) * prob.b / K
    else:
        y = y_hi + (t - tau_hi) * (y_lo - y_hi) / (tau_lo - tau_hi)
    if not (y_lo < y < y_hi):
        y = (y_lo + y_hi) / 2
    tol = mpf(10) ** (-(mp.dps - 4))
    seg_len = (S_POLE if kind == "A" else s_hi - s_lo)
    for _ in range(1000):
        s = mp.exp(y)
        # time at s, incrementally from the nearest point where it is known (same segment)
        s_ref, tau_ref = min(known, key=lambda kv: abs(mp.log(kv[0] / s)))
        if s != s_ref:
            a_, b_ = (s, s_ref) if s < s_ref else (s_ref, s)
            piece = K * prob.seg(side, a_, b_, kind, method, frac=(b_ - a_) / seg_len)
            tau = tau_ref + piece if s < s_ref else tau_ref - piece
        else:
            tau = tau_ref
        known = known[:2] + known[2:][-3:] + [(s, tau)]
        f = tau - t
        hs = prob.h(side, s)
        if f == 0:
            return s, hs
        if f < 0:
            y_hi = y
        else:
            y_lo = y
        y_new = y + f / (K * hs * s)  # Newton step in y (d tau / dy = -K h s)
        scale = max(1, abs(y))
        if abs(y_new - y) <= tol * scale:
            s = mp.exp(y_new)  # converged (quadratically): accept the last Newton iterate
            return s, prob.h(side, s)
        if not (y_lo < y_new < y_hi):
            y_new = (y_lo + y_hi) / 2  # safeguard: bisection in y, never leaving the bracket
        if (y_hi - y_lo) <= tol * scale:
            s = mp.exp(y_new)
            return s, prob.h(side, s)
        y = y_new
    raise RuntimeError("trajectory root find did not converge")  # pragma: no cover


def _trajectory_at(objective, depth, lam, rho, eps, t, digits, method):
    with mp.workdps(digits):
        prob = _Problem(objective, depth, lam, rho)
        side0 = prob.side(eps)
        s0 = prob.dist(eps)
        extra = _extra_digits(s0)
    with mp.workdps(digits + extra):
        prob = _Problem(objective, depth, lam, rho)
        s0 = prob.dist(eps)
        tm = mpf(t)
        s, hs = _solve_s(prob, side0, s0, tm, method)
        if hs is None:
            return prob.ws, mpf(0)
        w = prob.ws * mp.exp(side0 * s)
        sens = tm / (prob.K * hs)  # S_t = t rhs(w) / w
        return w, sens


def trajectory_mp(objective, depth, lam, rho, eps, t, dps=DPS, max_extra_dps=40, method="gl"):
    """w(t) for w(0) = eps (bracketed root find on the quadrature time, in log w).

    ``t = 0`` gives eps, ``t = inf`` the fixed point (eps itself if eps is the fixed point).
    ``t`` may be a float or an mpf.  Relative accuracy about ``10^-dps`` unless
    ``S_t = t rhs(w)/w`` exceeds ``10^(GUARD - 3 + max_extra_dps)`` (see the module docstring);
    when the solution reaches the fixed point to ``dps + GUARD`` digits before ``t``, the fixed
    point is returned.
    """
    eps = _positive("eps", eps)
    tf = float(t) if not isinstance(t, mpf) else t
    if tf != tf:
        raise ValueError("t is NaN")
    if tf < 0:
        raise ValueError(f"t must be >= 0, got {t!r}")
    with mp.workdps(dps + GUARD):
        prob = _Problem(objective, depth, lam, rho)
        side0 = prob.side(eps)
        if tf == 0 or side0 == 0:
            return _round(mpf(eps), dps)
        if mpmath.isinf(mpf(tf)):
            return _round(prob.ws, dps)
    w, sens = _trajectory_at(objective, depth, lam, rho, eps, tf, dps + GUARD, method)
    # relative error ~ 10^-(dps + GUARD) * S_t: add digits when S_t eats into the guard digits
    if sens > 10 ** (GUARD - 3) and max_extra_dps > 0:
        extra = min(int(mp.ceil(mp.log10(sens))) - (GUARD - 3), int(max_extra_dps))
        w, _ = _trajectory_at(objective, depth, lam, rho, eps, tf, dps + GUARD + extra, method)
    return _round(w, dps)


# ----------------------------------------------------------------------------------------------
# Closed forms of the paper (cross-checks only)
# ----------------------------------------------------------------------------------------------


def jepa_time_lemma_b6_mp(depth, lam, rho, eps, w, dps=DPS):
    """JEPA time from eps to w from lemma B.6 / theorem B.7 (integer depth, either side).

    With ``psi = w^(1/L) / rho``: ``(lam rho^(2L-1) / L) t = I_L(psi_w) - I_L(psi_eps)``,
    ``I_L(psi) = log psi - log|1 - psi| - sum_{n=1}^{2L-1} psi^(-n) / n``.
    """
    L, is_int = _depth(depth)
    if not is_int:
        raise ValueError("lemma B.6 needs an integer depth")
    eps = _positive("eps", eps)
    w = _positive("w", w)
    with mp.workdps(dps + GUARD + 30 + 3 * L):
        lam_m, rho_m = mpf(_positive("lam", lam)), mpf(_positive("rho", rho))

        def I(x):
            psi = mpf(x) ** (mpf(1) / L) / rho_m
            tot = mp.log(psi) - mp.log(abs(1 - psi))
            for n in range(1, 2 * L):
                tot -= psi ** (-n) / n
            return tot

        t = L / (lam_m * rho_m ** (2 * L - 1)) * (I(w) - I(eps))
        return _round(t, dps)


def mae_time_lerch_mp(depth, lam, rho, eps, w, dps=DPS, method="hyp2f1"):
    """MAE time from eps to w from theorem B.10 (depth L > 1, eps <= w < w*).

    Eq. 96: ``w = rho^(L/(L+1)) u^(L/(L-1))``, i.e. ``u = rho^((1-L)/(L+1)) w^((L-1)/L)``.  Then
    ``du/dt = (L-1)/L * lam * rho^((L-1)/(L+1)) * (u^2 - u^alpha)``, ``alpha = (3L-1)/(L-1)``, and
    with lemma B.8 / eq. 98::

        I(u) = integral du / (u^2 - u^alpha) = (L-1) / ((L+1) u) * Phi(u^((L+1)/(L-1)), 1, (1-L)/(1+L))
        t    = L * rho^((1-L)/(L+1)) / ((L-1) lam) * (I(u_w) - I(u_eps))

    ``method="hyp2f1"`` (default) evaluates the Lerch transcendent through the identity
    ``Phi(z, 1, a) = 2F1(1, a; a+1; z) / a`` (about 1 ms); ``method="lerchphi"`` calls
    ``mpmath.lerchphi`` directly (same digits, but 0.3-1 s per call).  Valid for real L > 1.
    """
    L, _ = _depth(depth)
    if not L > 1:
        raise ValueError("theorem B.10 needs depth L > 1")
    eps = _positive("eps", eps)
    w = _positive("w", w)
    with mp.workdps(dps + GUARD + 20):
        Lm = mpf(L)
        lam_m, rho_m = mpf(_positive("lam", lam)), mpf(_positive("rho", rho))
        ws = rho_m ** (Lm / (Lm + 1))
        if not (mpf(eps) < ws and mpf(w) < ws):
            raise ValueError("the Lerch form is implemented below the fixed point only")
        if mpf(w) < mpf(eps):
            raise ValueError("w must be >= eps")
        zexp = (Lm + 1) / (Lm - 1)
        apar = (1 - Lm) / (1 + Lm)

        def Phi(z):
            if method == "lerchphi":
                return mp.lerchphi(z, 1, apar)
            if method == "hyp2f1":
                return mp.hyp2f1(1, apar, apar + 1, z) / apar
            raise ValueError(f"unknown method {method!r}")

        def I(x):
            u = rho_m ** ((1 - Lm) / (Lm + 1)) * mpf(x) ** ((Lm - 1) / Lm)
            return (Lm - 1) / ((Lm + 1) * u) * Phi(u**zexp)

        t = Lm * rho_m ** ((1 - Lm) / (Lm + 1)) / ((Lm - 1) * lam_m) * (I(w) - I(eps))
        return _round(t, dps)


def mae_time_depth1_mp(lam, rho, eps, w, dps=DPS):
    """MAE, L = 1, eq. 116: 2 lam t = log(w^2/|w^2 - rho|) - log(eps^2/|eps^2 - rho|)."""
    with mp.workdps(dps + GUARD + 30):
        lam_m, rho_m = mpf(_positive("lam", lam)), mpf(_positive("rho", rho))
        e, x = mpf(_positive("eps", eps)), mpf(_positive("w", w))

        def F(v):
            return mp.log(v * v) - mp.log(abs(v * v - rho_m))

        return _round((F(x) - F(e)) / (2 * lam_m), dps)


def mae_trajectory_depth1_mp(lam, rho, eps, t, dps=DPS):
    """MAE, L = 1, eq. 117-119 (and its mirror image above the fixed point)."""
    with mp.workdps(dps + GUARD + 30):
        lam_m, rho_m = mpf(_positive("lam", lam)), mpf(_positive("rho", rho))
        e, tm = mpf(_positive("eps", eps)), mpf(t)
        if e * e < rho_m:
            C = mp.log(e * e / (rho_m - e * e))
            E = mp.exp(2 * lam_m * tm + C)
            return _round(mp.sqrt(rho_m * E / (1 + E)), dps)
        if e * e > rho_m:
            C = mp.log(e * e / (e * e - rho_m))
            E = mp.exp(2 * lam_m * tm + C)
            return _round(mp.sqrt(rho_m * E / (E - 1)), dps)
        return _round(e, dps)


# ----------------------------------------------------------------------------------------------
# Condition numbers
# ----------------------------------------------------------------------------------------------


def _finish_cond(parts, want_parts, dps):
    total = sum(abs(v) for v in parts.values())
    if want_parts:
        return {k: _round(v, dps) for k, v in parts.items()} | {"total": _round(total, dps)}
    return _round(total, dps)


def cond_rhs_mp(objective, depth, w, lam, rho, dps=DPS, parts=False):
    """Relative condition number of rhs(w; lam, rho) w.r.t. (w, lam, rho); inf at the fixed point."""
    w = _positive("w", w)
    with mp.workdps(dps + GUARD + 30):
        prob = _Problem(objective, depth, lam, rho)
        if prob.side(w) == 0:
            inf_parts = {"w": _INF, "lam": mpf(1), "rho": _INF}
            return _finish_cond(inf_parts, parts, dps)
        wm = mpf(w)
        A = wm**prob.a
        B = wm**3 / prob.rho
        P = {"w": (prob.a * A - 3 * B) / (A - B), "lam": mpf(1), "rho": B / (A - B)}
        return _finish_cond(P, parts, dps)


def cond_w_mp(objective, depth, lam, rho, eps, t, dps=DPS, parts=False, w_t=None):
    """Relative condition number of w(t; lam, rho, eps) w.r.t. (t, lam, rho, eps).

    Signed parts: ``S_t = S_lam = t rhs(w)/w``, ``S_eps = eps rhs(w) / (w rhs(eps))``,
    ``S_rho = (1 + c S_t - S_eps) / b``.  ``w_t`` (optional) is a precomputed w(t).
    """
    eps = _positive("eps", eps)
    tf = float(t)
    if tf < 0 or tf != tf:
        raise ValueError("t must be >= 0")
    with mp.workdps(dps + GUARD + 10):
        prob = _Problem(objective, depth, lam, rho)
        side0 = prob.side(eps)
        b, c = prob.b, prob.c
        if side0 == 0:
            # constant solution; linearisation d w(t) / d eps = exp(rhs'(w*) t)
            S_t = mpf(0)
            S_eps = mp.exp(-prob.lam * b * prob.ws**c * mpf(tf)) if not math.isinf(tf) else mpf(0)
        elif math.isinf(tf):
            S_t, S_eps = mpf(0), mpf(0)
        elif tf == 0:
            S_t, S_eps = mpf(0), mpf(1)
        else:
            if w_t is None:
                w_t = trajectory_mp(objective, depth, lam, rho, eps, tf, dps=_COND_DPS)
            wm = mpf(w_t)
            s_w = abs(mp.log(wm) - prob.log_ws)
            s_e = prob.dist(eps)
            if s_w == 0:
                S_t, S_eps = mpf(0), mpf(0)
            else:
                r_w = 1 / (prob.K * prob.h(side0, s_w))  # |rhs(w)| / w
                r_e = 1 / (prob.K * prob.h(side0, s_e))  # |rhs(eps)| / eps
                S_t = mpf(tf) * r_w * (-side0)
                S_eps = r_w / r_e
        S_rho = (1 + c * S_t - S_eps) / b
        P = {"t": S_t, "lam": S_t, "rho": S_rho, "eps": S_eps}
        return _finish_cond(P, parts, dps)


def cond_time_mp(objective, depth, lam, rho, eps, w, dps=DPS, parts=False, time=None):
    """Relative condition number of time_to_reach(w; lam, rho, eps) w.r.t. (w, lam, rho, eps).

    Signed parts: ``S_w = w / (T rhs(w))``, ``S_eps = -eps / (T rhs(eps))``, ``S_lam = -1``,
    ``S_rho = -(c + S_w + S_eps) / b``.  Returns inf when T is 0 or infinite (no relative
    condition number exists there).  ``time`` (optional) is a precomputed time.
    """
    eps = _positive("eps", eps)
    w = _positive("w", w)
    if time is None:
        time = time_to_reach_mp(objective, depth, lam, rho, eps, w, dps=_COND_DPS)
    with mp.workdps(dps + GUARD + 10):
        T = mpf(time)
        if T == 0 or mpmath.isinf(T):
            return _finish_cond({"w": _INF, "lam": mpf(1), "rho": _INF, "eps": _INF}, parts, dps)
        prob = _Problem(objective, depth, lam, rho)
        side0 = prob.side(eps)
        s_w, s_e = prob.dist(w), prob.dist(eps)
        # w / rhs(w) = -side * K h(s)  (rhs > 0 below the fixed point)
        S_w = prob.K * prob.h(side0, s_w) * (-side0) / T
        S_eps = -prob.K * prob.h(side0, s_e) * (-side0) / T
        S_rho = -(prob.c + S_w + S_eps) / prob.b
        P = {"w": S_w, "lam": mpf(-1), "rho": S_rho, "eps": S_eps}
        return _finish_cond(P, parts, dps)
