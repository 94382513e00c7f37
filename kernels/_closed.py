"""Scalar layer: the exact implicit solution ``K t = F(sigma(t)) - F(sigma(0))``.

With the state ``sigma = log(psi / |1 - psi|)`` of ``_family`` both branches of
``dpsi/dt = K psi^q (1 - psi)`` obey ``dsigma/dt = K psi^(q-1)``, so the time
coordinate

    F(sigma) = integral of psi(sigma)^(1 - q) dsigma,  dF/dsigma = psi^(1 - q) > 0

is increasing, and every time is ``(F(sigma_1) - F(sigma_0)) / K``.

Closed forms (all derived from MATH.md's ``G_q``; the constants are chosen so
that ``F`` stays O(sigma) once the weight has converged, never a large constant
that would swallow the late-time growth):

* growth, integer ``q`` (every JEPA depth, MAE depth 1), ``M = q - 1``:
  ``F = sigma - Poly(e^-sigma)``, ``Poly(y) = sum_{j=1}^M C(M, j) y^j / j``;
  this is lemma B.6 re-expanded in ``e^-sigma = 1/psi - 1``: all coefficients
  positive, so no cancellation, and the huge plateau value is formed in logs.
* growth, MAE depth ``L >= 2`` (``q = 2L/(L+1)``, ``n = L + 1``, ``s = psi^(1/n)``):
  ``F = -n/(n-2) s^(2-n) + R(s)`` with ``R(s) = n int_0^s t/(1 - t^n) dt``,
  elementary by partial fractions over the n-th roots of unity
  ``w_k = e^(i theta_k)``, ``theta_k = 2 pi k / n``:

      R(s) = -log(1 - s) - [n even] log(1 + s)
             - sum_{0 < k < n/2} [cos(2 theta_k) log(s^2 - 2 s cos(theta_k) + 1)
                                  + 2 sin(2 theta_k) (atan2(sin theta_k, s - cos theta_k) - (pi - theta_k))]

  (the last constant makes ``R(0) = 0``).  For ``s <= 1/2`` the terms cancel
  to ``R ~ n s^2 / 2``, so there the convergent series
  ``R = n sum_k s^(2 + k n) / (2 + k n)`` is used instead.
* decay (``psi > 1``, any q): ``F = H(sigma) = int_0^sigma (1 - e^-s)^(q-1) ds``
  ``= B_x(q, 0)``, the incomplete beta function at ``x = 1/psi = 1 - e^-sigma``.
  For ``x < (q+1)/(q+2)`` its continued fraction converges quickly; beyond,
  ``H(sigma) = H(sigma_t) + (sigma - sigma_t) - int_y^{y_t} E(y)/y dy`` with
  ``y = e^-sigma``, ``E(y) = 1 - (1 - y)^(q-1)``, a smooth integrand on
  ``[0, 1/(q+2)]`` integrated by Gauss-Legendre.  (The partial-sum form
  ``-log(1 - x) - sum_{m<q} x^m/m`` cancels catastrophically for large q.)

Differences ``F(sigma_1) - F(sigma_0)`` of nearby states are integrated directly
(24-point Gauss-Legendre in sigma, exact to rounding for the short intervals it
is used on), so that small times keep their relative accuracy; distant states
are differenced in closed form, where the cancellation is bounded.

Magnitudes are carried as logarithms wherever they can leave float64: the
plateau value of ``F`` (``~ psi^(1-q)/(q-1)``, 1e440 and more at depth 64) and
``K`` itself (``rho^127``).
"""

import math

import numpy as np
from ._constants import MAX_DEPTH
from ._jit import njit

from ._family import (
    DECAY,
    GROWTH,
    JEPA,
    NO_CONVERGENCE,
    SUCCESS,
    family_q,
    log_psi_of_sigma,
)

_MAX_M = 2 * MAX_DEPTH - 1


def _binomial_over_j():
    """``C(M, j) / j`` for ``0 <= M <= 127``, ``1 <= j <= M`` (row M, column j)."""
    table = np.zeros((_MAX_M + 1, _MAX_M + 1))
    for m in range(_MAX_M + 1):
        for j in range(1, m + 1):
            table[m, j] = math.comb(m, j) / j
    return table


def _roots_of_unity():
    """cos/sin of theta_k and 2 theta_k, theta_k = 2 pi k / n, for n = L + 1 <= 65.

    Also the constant ``sum_k 2 sin(2 theta_k) (pi - theta_k)`` that sets R(0) = 0.
    """
    nmax = MAX_DEPTH + 1
    kmax = (nmax - 1) // 2
    cos1 = np.zeros((nmax + 1, kmax + 1))
    sin1 = np.zeros_like(cos1)
    cos2 = np.zeros_like(cos1)
    sin2 = np.zeros_like(cos1)
    for n in range(3, nmax + 1):
        for k in range(1, (n - 1) // 2 + 1):
            th = 2.0 * math.pi * k / n
            cos1[n, k], sin1[n, k] = math.cos(th), math.sin(th)
            cos2[n, k], sin2[n, k] = math.cos(2 * th), math.sin(2 * th)
    return cos1, sin1, cos2, sin2


def _gauss_legendre(n):
    """Nodes and weights on [-1, 1], checked: weights sum to 2, rule exact to degree 2n-1."""
    x, w = np.polynomial.legendre.leggauss(n)
    if abs(w.sum() - 2.0) > 1e-14:
        raise RuntimeError("Gauss-Legendre weights do not sum to 2")
    moment = np.dot(w, x ** (2 * n - 2))
    if abs(moment - 2.0 / (2 * n - 1)) > 1e-14:
        raise RuntimeError("Gauss-Legendre rule is not exact to degree 2n-1")
    return x, w


def _check_tables(cj, cos1, sin1, cos2, sin2):
    """Raise at import if a constant table is wrong.

    Binomials: ``sum_j j * C(M,j)/j = 2^M - 1``.  Roots of unity: each pair
    lies on the unit circle with ``cos 2t = 2 cos^2 t - 1``, and all n roots
    sum to zero: ``1 + 2 sum_k cos t_k + [n even] (-1) = 0``.
    """
    for m in range(cj.shape[0]):
        total = sum(j * cj[m, j] for j in range(1, m + 1))
        if abs(total - (2.0**m - 1.0)) > 1e-13 * 2.0**m:
            raise RuntimeError(f"binomial table row {m} is wrong")
    for n in range(3, cos1.shape[0]):
        pairs = range(1, (n - 1) // 2 + 1)
        ring = 1.0 + 2.0 * sum(cos1[n, k] for k in pairs) - (1.0 if n % 2 == 0 else 0.0)
        if abs(ring) > 1e-13:
            raise RuntimeError(f"roots of unity for n = {n} do not sum to zero")
        for k in pairs:
            if (abs(cos1[n, k] ** 2 + sin1[n, k] ** 2 - 1.0) > 1e-15
                    or abs(cos2[n, k] - (2.0 * cos1[n, k] ** 2 - 1.0)) > 1e-15
                    or abs(sin2[n, k] - 2.0 * sin1[n, k] * cos1[n, k]) > 1e-15):
                raise RuntimeError(f"root of unity table entry ({n}, {k}) is wrong")


_CJ = _binomial_over_j()
_COS1, _SIN1, _COS2, _SIN2 = _roots_of_unity()
_check_tables(_CJ, _COS1, _SIN1, _COS2, _SIN2)
_GL_X, _GL_W = _gauss_legendre(24)

_LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------
# family bookkeeping
# ---------------------------------------------------------------------------
@njit(cache=True)
def integer_m(objective, depth):
    """``M = q - 1`` when q is an integer (JEPA, MAE L = 1), else -1."""
    if objective == JEPA:
        return 2 * depth - 1
    if depth == 1:
        return 0
    return -1


@njit(cache=True)
def _logaddexp(a, b):
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@njit(cache=True)
def _log_diff_exp(a, b):
    """``log(e^a - e^b)`` for ``a >= b`` (``-inf`` if equal)."""
    if b == -math.inf:
        return a
    if a <= b:
        return -math.inf
    return a + math.log(-math.expm1(b - a))


# ---------------------------------------------------------------------------
# growth branch: F = S - exp(log_big)
# ---------------------------------------------------------------------------
@njit(cache=True)
def _log_poly(sigma, m):
    """``log Poly(e^-sigma)``, ``Poly(y) = sum_{j=1}^m C(m,j)/j y^j`` (Horner, positive terms)."""
    if m == 0:
        return -math.inf
    if sigma >= 0.0:
        y = math.exp(-sigma)
        h = _CJ[m, m]
        for j in range(m - 1, 0, -1):
            h = h * y + _CJ[m, j]
        return math.log(h) - sigma
    # y > 1: factor y^m out and run Horner in z = 1/y so nothing overflows
    z = math.exp(sigma)
    h = _CJ[m, 1]
    for j in range(2, m + 1):
        h = h * z + _CJ[m, j]
    return math.log(h) - m * sigma


@njit(cache=True)
def _log_one_minus_s(sigma, lp, n):
    """``log(1 - psi^(1/n))`` on the growth branch, accurate for any sigma.

    For large sigma, ``lp = -log1p(e^-sigma)`` underflows to 0 (sigma > 745)
    although ``1 - s ~ e^-sigma / n`` is still representable in logarithms.
    """
    if sigma < 30.0:
        return math.log(-math.expm1(lp / n))
    y = math.exp(-sigma)
    # -lp = log1p(y) = y (1 - y/2 + ...);  1 - s = l (1 - l/2 + ...), l = -lp/n
    log_minus_lp = -sigma + math.log1p(-0.5 * y)
    ell = -lp / n
    return log_minus_lp - math.log(n) + math.log1p(-0.5 * ell)


@njit(cache=True, inline="always")
def mae_r_series(psi, n):
    """``sum_k psi^k / (2 + k n)``: ``R(s) = n s^2`` times this (positive terms, ratio ``psi``)."""
    term = 1.0
    total = 0.0
    k = 0
    while True:
        add = term / (2.0 + k * n)
        total += add
        if add <= 1e-17 * total:
            return total
        term *= psi
        k += 1


@njit(cache=True)
def _mae_r(sigma, lp, n):
    """``R(s) = n int_0^s t/(1 - t^n) dt`` at ``s = psi^(1/n)``, ``lp = log psi``."""
    ls = lp / n
    s = math.exp(ls)
    if s <= 0.5:
        # positive series in psi = s^n <= 1/8
        return n * s * s * mae_r_series(math.exp(lp), n)
    r = -_log_one_minus_s(sigma, lp, n)
    if n % 2 == 0:
        r -= math.log1p(s)
    for k in range(1, (n - 1) // 2 + 1):
        c1 = _COS1[n, k]
        s1 = _SIN1[n, k]
        # s^2 - 2 s cos + 1 = (s - cos)^2 + sin^2: no cancellation
        d = s - c1
        r -= _COS2[n, k] * math.log(d * d + s1 * s1)
        th = 2.0 * math.pi * k / n
        r -= 2.0 * _SIN2[n, k] * (math.atan2(s1, d) - (math.pi - th))
    return r


@njit(cache=True)
def growth_parts(sigma, objective, depth):
    """``F = S - exp(log_big)`` on the growth branch; returns ``(S, log_big, lp)``.

    ``S`` is moderate (O(sigma)), ``exp(log_big)`` carries the plateau's huge
    negative part; both pieces are increasing functions of sigma.
    """
    lp = log_psi_of_sigma(sigma, GROWTH)
    m = integer_m(objective, depth)
    if m >= 0:
        return sigma, _log_poly(sigma, m), lp
    n = depth + 1
    q = family_q(objective, depth)
    log_big = math.log(n / (n - 2.0)) + (1.0 - q) * lp
    return _mae_r(sigma, lp, n), log_big, lp


# ---------------------------------------------------------------------------
# decay branch: F = H(sigma) = B_x(q, 0)
# ---------------------------------------------------------------------------
@njit(cache=True)
def _lentz(d, c, aa):
    """One modified-Lentz update with coefficient ``aa``; returns ``(d, c, factor)``."""
    fpmin = 1e-300
    d = 1.0 + aa * d
    if abs(d) < fpmin:
        d = fpmin
    c = 1.0 + aa / c
    if abs(c) < fpmin:
        c = fpmin
    d = 1.0 / d
    return d, c, d * c


@njit(cache=True)
def _betacf_b0(a, x):
    """Continued fraction of ``B_x(a, 0) = x^a / a * cf`` (modified Lentz).

    The even and odd partial numerators of the incomplete-beta fraction with
    ``b = 0`` are ``-m^2 x / ((a+2m-1)(a+2m))`` and ``-(a+m)^2 x / ((a+2m)(a+2m+1))``.
    """
    c = 1.0
    d = 1.0 - a * x / (a + 1.0)
    if abs(d) < 1e-300:
        d = 1e-300
    d = 1.0 / d
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        d, c, f = _lentz(d, c, -m * m * x / ((a - 1.0 + m2) * (a + m2)))
        h *= f
        d, c, f = _lentz(d, c, -(a + m) * (a + m) * x / ((a + m2) * (a + 1.0 + m2)))
        h *= f
        if abs(f - 1.0) < 1e-16:
            break
    return h


@njit(cache=True)
def _tail_integral(y_lo, y_hi, q):
    """``int_{y_lo}^{y_hi} E(y)/y dy``, ``E = 1 - (1 - y)^(q-1)`` (Gauss-Legendre)."""
    half = 0.5 * (y_hi - y_lo)
    mid = 0.5 * (y_hi + y_lo)
    total = 0.0
    for i in range(_GL_X.shape[0]):
        y = mid + half * _GL_X[i]
        total += _GL_W[i] * (-math.expm1((q - 1.0) * math.log1p(-y)) / y)
    return total * half


@njit(cache=True)
def decay_log_h(sigma, q):
    """``log H(sigma)`` on the decay branch, relative accuracy ~1e-15."""
    sig_t = math.log(q + 2.0)
    if sigma <= sig_t:
        x = -math.expm1(-sigma)
        return q * math.log(x) - math.log(q) + math.log(_betacf_b0(q, x))
    x_t = (q + 1.0) / (q + 2.0)
    h_t = x_t ** q / q * _betacf_b0(q, x_t)
    y = math.exp(-sigma)
    return math.log(h_t + (sigma - sig_t) - _tail_integral(y, 1.0 / (q + 2.0), q))


# ---------------------------------------------------------------------------
# F and differences
# ---------------------------------------------------------------------------
@njit(cache=True)
def log_dfdsigma(sigma, branch, q):
    """``log dF/dsigma = (1 - q) log psi``."""
    return (1.0 - q) * log_psi_of_sigma(sigma, branch)


@njit(cache=True)
def f_signed_log(sigma, branch, objective, depth):
    """``F(sigma)`` as ``(sign, log|F|)`` (sign in {-1, 0, 1}); never overflows."""
    if branch == DECAY:
        return 1.0, decay_log_h(sigma, family_q(objective, depth))
    s, log_big, _ = growth_parts(sigma, objective, depth)
    if log_big < 700.0:
        f = s - math.exp(log_big)
        if f > 0.0:
            return 1.0, math.log(f)
        if f < 0.0:
            return -1.0, math.log(-f)
        return 0.0, -math.inf
    # huge plateau: F = -(e^big - S), S moderate
    return -1.0, log_big + math.log1p(-s * math.exp(-log_big))


@njit(cache=True)
def _log_gl_integral(s0, s1, ds, branch, q):
    """``log int_{s0}^{s0+ds} psi^(1-q) dsigma`` by 24-point Gauss-Legendre (short intervals)."""
    half = 0.5 * ds
    mid = s0 + half
    # the integrand is monotone: factor out its larger endpoint value
    e_ref = max(log_dfdsigma(s0, branch, q), log_dfdsigma(s1, branch, q))
    total = 0.0
    for i in range(_GL_X.shape[0]):
        total += _GL_W[i] * math.exp(log_dfdsigma(mid + half * _GL_X[i], branch, q) - e_ref)
    return e_ref + math.log(total * half)


@njit(cache=True)
def log_delta_f(s0, ds, branch, objective, depth):
    """``log(F(s0 + ds) - F(s0))`` for ``ds >= 0`` (``-inf`` if 0), without cancellation.

    The increment ``ds`` is passed separately so that callers can form it
    accurately for nearby states (see ``_exact.delta_sigma``).
    """
    if ds <= 0.0:
        return -math.inf
    if ds == math.inf:
        return math.inf
    q = family_q(objective, depth)
    s1 = s0 + ds
    # "close": the integrand psi^(1-q) changes by at most e^16 over the interval
    # and its nearest complex singularity (sigma = +-i pi, or sigma = 0 on the
    # decay branch) is far relative to the interval: Gauss-Legendre is exact to
    # rounding there, and the closed forms would cancel.
    rate = max(q - 1.0, 1.0)
    if branch == DECAY:
        close = ds <= 2.0 and ds <= 0.5 * s0 and ds * rate <= 16.0 * s0
    else:
        close = ds <= 2.0 and ds * rate <= 16.0
    if close:
        return _log_gl_integral(s0, s0 + ds, ds, branch, q)
    if branch == DECAY:
        sig_t = math.log(q + 2.0)
        if s0 >= sig_t:
            y0 = math.exp(-s0)
            y1 = math.exp(-s1)
            return math.log(ds - _tail_integral(y1, y0, q))
        return _log_diff_exp(decay_log_h(s1, q), decay_log_h(s0, q))
    a0, big0, _ = growth_parts(s0, objective, depth)
    a1, big1, _ = growth_parts(s1, objective, depth)
    # both pieces increase: F1 - F0 = (S1 - S0) + (e^big0 - e^big1), all >= 0
    lin = a1 - a0
    log_lin = math.log(lin) if lin > 0.0 else -math.inf
    return _logaddexp(log_lin, _log_diff_exp(big0, big1))


@njit(cache=True)
def growth_tau0(objective, depth, lam, rho, w0, sigma0, lp0, log_k):
    """Time coordinate ``tau0 = F(sigma0) / K`` of a growing feature, formed from ``w0``.

    ``w(t)`` solves ``F(sigma) = K (t + tau0)``.  In the plateau ``t + tau0``
    cancels two large numbers, so ``tau0`` must carry only a few ulps of
    error relative to the inputs.  Forming it as ``F0 / K`` would not: both
    carry ``rho^(q-1)`` (1e380 at depth 64) with independent rounding, and
    their logarithms amplify it.  Instead the factor is cancelled analytically:

    * JEPA (``M = 2L - 1``, ``e = w0^(1/L)``, ``psi0 = e/rho``):
      ``Poly(y0)/K = (1 - psi0)^M e^-M / (b lam) * h(z)``, ``e^-M = e / w0^2``,
      ``h(z) = sum_j C(M,j)/j z^(M-j)``, ``z = psi0/(1 - psi0)``;
    * MAE (``L >= 2``): the plateau term is exactly eq. 13's leading term,
      ``L / ((L-1) lam) * w0^(-(L-1)/L)``, with ``w0^(-(L-1)/L) = e / w0``.
    """
    inv_k = math.exp(-log_k)
    m = integer_m(objective, depth)
    if lp0 < -_LOG2 and m != 0:
        e = w0 ** (1.0 / depth)
        lin = sigma0 * inv_k if sigma0 != 0.0 else 0.0
        if m > 0:
            psi0 = math.exp(lp0)
            z = psi0 / (1.0 - psi0)
            h = _CJ[m, 1]
            for j in range(2, m + 1):
                h = h * z + _CJ[m, j]
            # (1 - psi0)^m h lies in [1e-39, 1e40] and e/w0 = w0^(1/L - 1) in [1e-189, 1e30]
            # on the domain: multiplying in this order keeps every intermediate normal
            # (e / w0 / w0 alone would reach the denormals for w0 ~ 1e145)
            return lin - math.exp(m * math.log1p(-psi0)) * h * (e / w0) * (depth / lam) / w0
        big = depth / ((depth - 1.0) * lam) * (e / w0)
        return _mae_r(sigma0, lp0, depth + 1) * inv_k - big
    sign0, log0 = f_signed_log(sigma0, GROWTH, objective, depth)
    return sign0 * math.exp(log0 - log_k)


# ---------------------------------------------------------------------------
# inversion: F(sigma) = target, safeguarded Newton
# ---------------------------------------------------------------------------
_MODE_LINEAR = 0   # residual F(sigma) - F_T
_MODE_LOGNEG = 1   # growth plateau: log(-F_T) - log(-F(sigma))
_MODE_LOGPOS = 2   # early decay:    log F(sigma) - log F_T


@njit(cache=True)
def _residual(sigma, mode, branch, objective, depth, q, f_t, log_t):
    """Increasing residual in sigma and its derivative for the chosen mode."""
    ld = log_dfdsigma(sigma, branch, q)
    if mode == _MODE_LINEAR:
        if branch == DECAY:
            f = math.exp(decay_log_h(sigma, q))
        else:
            s, big, _ = growth_parts(sigma, objective, depth)
            f = s - math.exp(big)
        return f - f_t, math.exp(ld)
    if mode == _MODE_LOGNEG:
        sgn, lf = f_signed_log(sigma, branch, objective, depth)
        if sgn >= 0.0:
            return math.inf, math.nan
        return log_t - lf, math.exp(ld - lf)
    lf = decay_log_h(sigma, q)
    return lf - log_t, math.exp(ld - lf)


@njit(cache=True)
def signed_log_sub(sa, la, sb, lb):
    """``a - b`` as ``(sign, log|.|)`` for ``a = sa e^la``, ``b = sb e^lb``."""
    if sb == 0.0:
        return sa, la
    if sa == 0.0:
        return -sb, lb
    if sa != sb:  # opposite signs: magnitudes add
        hi = max(la, lb)
        return sa, hi + math.log1p(math.exp(min(la, lb) - hi))
    if la > lb:
        return sa, _log_diff_exp(la, lb)
    if la < lb:
        return -sa, _log_diff_exp(lb, la)
    return 0.0, -math.inf


@njit(cache=True)
def solve_sigma(t_sign, t_log, branch, objective, depth, lo, lo_sign, lo_log):
    """Solve ``F(sigma) = F_T = t_sign * exp(t_log)`` for sigma on a branch.

    ``lo`` is a state known to lie at or below the root, with
    ``F(lo) = lo_sign * exp(lo_log)`` (the previous state of a trajectory, or
    the initial state).  Returns ``(sigma, status)``.

    Bracketing: ``F`` is concave on the growth branch (``F' = (1 + e^-s)^(q-1)``
    decreases) and convex on the decay branch, so the tangent at ``lo`` gives
    a second bound for free: a lower bound on growth, an upper bound on decay.
    Newton steps are taken on a residual close to linear in sigma
    (``log(-F)`` in the growth plateau, ``log F`` early in the decay, ``F``
    otherwise); a step that leaves the bracket is replaced by bisection, and
    only Newton steps may end the iteration early.
    """
    q = family_q(objective, depth)
    if branch == GROWTH:
        if t_sign < 0.0 and q > 1.0:
            mode = _MODE_LOGNEG
            # leading order: -F ~ psi^(1-q)/(q-1)
            lp = -(math.log(q - 1.0) + t_log) / (q - 1.0)
            lp = min(lp, -1e-300)
            seed = lp - math.log(-math.expm1(lp))
        else:
            mode = _MODE_LINEAR
            seed = t_sign * math.exp(t_log)
    else:
        if t_log < 0.0:
            mode = _MODE_LOGPOS
            # leading order: H ~ sigma^q / q
            seed = math.exp((math.log(q) + t_log) / q)
        else:
            mode = _MODE_LINEAR
            seed = math.exp(t_log) + math.log(q + 1.0)
    if seed == math.inf or seed != seed:
        # F_T beyond float64 in the linear regime: sigma = inf is the fixed point
        return math.inf, SUCCESS
    f_t = t_sign * math.exp(t_log) if mode == _MODE_LINEAR else 0.0
    hi = math.inf
    # tangent at lo
    d_sign, d_log = signed_log_sub(t_sign, t_log, lo_sign, lo_log)
    if d_sign <= 0.0:
        return lo, SUCCESS
    tangent = lo + math.exp(d_log - log_dfdsigma(lo, branch, q))
    if branch == GROWTH:
        lo = max(lo, tangent)
        x = max(seed, lo)
    else:
        hi = tangent
        x = seed if lo < seed < hi else tangent
    if not x < math.inf:
        x = lo + 1.0
    for _ in range(200):
        r, dr = _residual(x, mode, branch, objective, depth, q, f_t, t_log)
        if r == 0.0:
            return x, SUCCESS
        if r < 0.0:
            lo = x
        else:
            hi = x
        newton = False
        xn = math.nan
        if dr == dr and dr > 0.0 and r != math.inf:
            step = r / dr
            if abs(step) <= 1e-9 * max(1.0, abs(x)):
                # quadratic convergence: this last step (possibly below one ulp)
                # leaves an error ~ step^2
                return x - step, SUCCESS
            xn = x - step
            newton = xn > lo and xn < hi
        if not newton:
            if hi < math.inf:
                xn = 0.5 * (lo + hi)
            else:  # open above
                xn = x + max(1.0, 2.0 * abs(x))
        x = xn
        if hi - lo <= 4e-16 * max(1.0, abs(x)):
            return x, SUCCESS
    return x, NO_CONVERGENCE
