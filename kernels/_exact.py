"""Exact solutions: per-feature scalar functions and the parallel kernels over them.

Layering (one source of truth for the math in ``_family``/``_closed``):

1. scalar ``@njit`` functions without allocation, public for users' own
   ``@njit`` code: :func:`time_between`, :func:`advance_weight`,
   :func:`critical_time_exact`, :func:`critical_time_asymptotic`;
2. per-feature loops: :func:`trajectory_row`;
3. ``prange`` kernels (one feature per iteration) and serial twins for small
   batches, where starting the thread pool would cost more than the work.

Every time is ``(F(sigma_1) - F(sigma_0)) / K`` (``_closed``) and needs no
iteration; a weight at a given time inverts ``F`` by safeguarded Newton.
"""

import math

import numpy as np
from numba import prange

from ._jit import njit

from ._closed import f_signed_log, growth_parts, growth_tau0, log_delta_f, solve_sigma
from ._inverse import solve_sigma_tabulated
from ._family import (
    AT_FIXED,
    DECAY,
    GROWTH,
    JEPA,
    SUCCESS,
    branch_of_log_psi,
    fixed_point,
    rhs,
    family_b,
    log_psi_of_sigma,
    log_psi_of_w,
    log_rate,
    sigma_of_log_psi,
)

# stands for "no inverse table": the bracketed solver alone (scalar API)
_NO_TABLE = np.empty((2, 0, 0))


@njit(cache=True)
def delta_sigma(lp0, dlp):
    """``sigma(lp0 + dlp) - sigma(lp0)`` formed without cancellation.

    Growth (``lp0 < 0``): ``sigma = lp - log(1 - psi)`` and
    ``(1 - psi1)/(1 - psi0) = 1 - psi0 expm1(dlp) / (1 - psi0)``; both parts
    of the difference have the sign of ``dlp``.
    Decay (``lp0 > 0``): ``sigma = -log(1 - x)`` with ``x = 1/psi``, and
    ``(1 - x1)/(1 - x0) = 1 - x0 expm1(-dlp) / (1 - x0)``: a single logarithm,
    where differencing the two sigmas would lose a factor ``psi0``.
    """
    if lp0 < 0.0:
        # psi1 - psi0, formed so that an underflowing psi0 never meets an overflowing factor
        if dlp <= 1.0:
            dpsi = math.exp(lp0) * math.expm1(dlp)
        else:
            dpsi = math.exp(lp0 + dlp) * -math.expm1(-dlp)
        return dlp - math.log1p(-dpsi / -math.expm1(lp0))
    if -dlp <= 1.0:
        dx = math.exp(-lp0) * math.expm1(-dlp)
    else:
        dx = math.exp(-lp0 - dlp) * -math.expm1(dlp)
    return -math.log1p(-dx / -math.expm1(-lp0))


@njit(cache=True)
def time_between(objective, depth, lam, rho, w0, w1):
    """Exact time for the weight to move from ``w0`` to ``w1`` (eq. 7/8).

    Returns ``inf`` when ``w1`` is never reached: behind ``w0``, at or beyond
    the fixed point.  Pure closed form, no iteration.

    Parameters
    ----------
    objective : int
        ``JEPA`` (0) or ``MAE`` (1).
    depth : int
        Encoder depth ``L >= 1``.
    lam, rho, w0, w1 : float
        Positive, finite.
    """
    if w1 == w0:
        return 0.0
    b = family_b(objective, depth)
    lp0 = log_psi_of_w(objective, depth, w0, rho)
    branch = branch_of_log_psi(lp0)
    # log(w1/w0) without cancellation when w1 is close to w0
    dlw = math.log1p((w1 - w0) / w0) if 0.5 * w0 <= w1 <= 2.0 * w0 else math.log(w1) - math.log(w0)
    dlp = b * dlw
    lp1 = lp0 + dlp
    if branch == GROWTH:
        if dlp <= 0.0 or lp1 >= 0.0:
            return math.inf
    elif branch == DECAY:
        if dlp >= 0.0 or lp1 <= 0.0:
            return math.inf
    else:
        return math.inf
    s0 = sigma_of_log_psi(lp0)
    ds = delta_sigma(lp0, dlp)
    if not ds > 0.0:  # lp1 rounds onto the fixed point
        return math.inf
    ldf = log_delta_f(s0, ds, branch, objective, depth)
    return math.exp(ldf - log_rate(objective, depth, lam, rho))


@njit(cache=True)
def _target(sign0, log0, log_kt):
    """``F0 + K t`` as ``(sign, log|.|)`` with ``F0 = sign0 e^log0`` and ``K t = e^log_kt``."""
    if sign0 > 0.0:
        hi = max(log0, log_kt)
        return 1.0, hi + math.log1p(math.exp(min(log0, log_kt) - hi))
    if sign0 == 0.0:
        return 1.0, log_kt
    if log_kt > log0:
        return 1.0, log_kt + math.log(-math.expm1(log0 - log_kt))
    if log_kt < log0:
        return -1.0, log0 + math.log(-math.expm1(log_kt - log0))
    return 0.0, -math.inf


@njit(cache=True)
def _start(objective, depth, lam, rho, w0):
    """Per-feature constants of a solve that starts at weight ``w0``.

    Returns ``(branch, sigma0, sign0, log0, tau0, log_k, log_rho, b)``:
    on the growth branch the target is formed from ``tau0 = F(sigma0)/K``
    (``growth_tau0``) and ``F(sigma0)`` itself is left unevaluated
    (``log0 = nan``) until a fallback solve needs it; on the decay branch
    ``F(sigma0) = sign0 e^log0`` forms the target.
    """
    b = family_b(objective, depth)
    log_rho = math.log(rho)
    lp0 = b * math.log(w0) - log_rho
    branch = branch_of_log_psi(lp0)
    s0 = sigma_of_log_psi(lp0)
    log_k = log_rate(objective, depth, lam, rho)
    sign0, log0, tau0 = 0.0, -math.inf, 0.0
    if branch == GROWTH:
        tau0 = growth_tau0(objective, depth, lam, rho, w0, s0, lp0, log_k)
        log0 = math.nan
    elif branch == DECAY:
        sign0, log0 = f_signed_log(s0, branch, objective, depth)
    return branch, s0, sign0, log0, tau0, log_k, log_rho, b


@njit(cache=True, inline="always")
def _solve_at(objective, depth, branch, sign0, log0, tau0, log_k, t, lo, lo_sign, lo_log,
              tab_sigma, tab_dsigma):
    """State at time ``t`` after the start; returns ``(sigma, log psi, status, F_sign, F_log)``.

    ``lo`` is a state at or before time ``t`` with ``F(lo) = lo_sign e^lo_log``
    (``lo_log = nan``: not evaluated yet).  On the growth branch the target
    ``F0 + K t`` is formed as ``K (tau0 + t)``: the cancellation of the
    plateau happens in time units (see ``growth_tau0``).
    """
    if branch == GROWTH:
        tau = t + tau0
        if tau > 0.0:
            sgn, lg = 1.0, math.log(tau) + log_k
        elif tau < 0.0:
            sgn, lg = -1.0, math.log(-tau) + log_k
        else:
            sgn, lg = 0.0, -math.inf
    else:
        sgn, lg = _target(sign0, log0, math.log(t) + log_k)
    if sgn == 0.0:
        sgn = 1.0  # F_T == 0 exactly: the linear residual handles it
    if tab_sigma.shape[1] > 0:
        sigma, status, lp = solve_sigma_tabulated(sgn, lg, branch, objective, depth, lo, lo_sign,
                                                  lo_log, tab_sigma, tab_dsigma)
    else:
        if lo_log != lo_log:
            lo_sign, lo_log = f_signed_log(lo, branch, objective, depth)
        sigma, status = solve_sigma(sgn, lg, branch, objective, depth, lo, lo_sign, lo_log)
        lp = log_psi_of_sigma(sigma, branch)
    return sigma, lp, status, sgn, lg


@njit(cache=True, inline="always")
def _monotone(w1, w_prev, w_star, branch):
    """The exact solution is monotone and bracketed by its start and the fixed point:
    keep the rounded values so (this only removes rounding error)."""
    if branch == GROWTH:
        return min(max(w1, w_prev), w_star)
    return max(min(w1, w_prev), w_star)


@njit(cache=True)
def advance_weight(objective, depth, lam, rho, w, dt):
    """Exact flow map: the weight a further time ``dt >= 0`` after ``w``.

    Returns ``(w_new, status)``; ``status`` is ``SUCCESS`` unless the root
    find failed (``NO_CONVERGENCE``), which the tests show does not happen on
    the supported domain.
    """
    return _advance(objective, depth, lam, rho, w, dt, _NO_TABLE, _NO_TABLE)


@njit(cache=True)
def advance_weight_tabulated(objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma):
    """:func:`advance_weight` seeded from the inverse tables of :func:`flow_tables`.

    The per-feature cost of the array kernels (the tables replace a bracketed
    search by one interpolation); the same result as ``fastdyn.advance``.
    """
    return _advance(objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma)


@njit(cache=True)
def _advance(objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma):
    if dt == 0.0:
        return w, SUCCESS
    branch, s0, sign0, log0, tau0, log_k, log_rho, b = _start(objective, depth, lam, rho, w)
    if branch == AT_FIXED:
        return w, SUCCESS
    _, lp, status, _, _ = _solve_at(objective, depth, branch, sign0, log0, tau0, log_k, dt,
                                    s0, sign0, log0, tab_sigma, tab_dsigma)
    # w = w* psi^(1/b): the rounding of w* (|log w*| ulps, shared with fixed_point) is a
    # common factor, the trajectory keeps full accuracy relative to its fixed point
    w_star = math.exp(log_rho / b)
    return _monotone(w_star * math.exp(lp / b), w, w_star, branch), status


@njit(cache=True)
def trajectory_row(t, objective, depth, lam, rho, eps, out, tab_sigma, tab_dsigma):
    """Fill ``out[j] = w(t[j])`` for one feature (``t`` non-decreasing); returns status.

    Each solve is bracketed below by the previous state: ``sigma`` is
    non-decreasing in time on both branches.
    """
    branch, s0, sign0, log0, tau0, log_k, log_rho, b = _start(objective, depth, lam, rho, eps)
    status = SUCCESS
    if branch == AT_FIXED:
        for j in range(t.shape[0]):
            out[j] = eps
        return status
    w_star = math.exp(log_rho / b)  # = fixed_point(...)
    lo, lo_sign, lo_log = s0, sign0, log0
    prev = eps
    for j in range(t.shape[0]):
        if t[j] == 0.0:
            out[j] = eps
            continue
        if lo == math.inf:  # already at the fixed point to float64 precision
            out[j] = w_star
            continue
        sigma, lp, st, lo_sign, lo_log = _solve_at(objective, depth, branch, sign0, log0, tau0,
                                                   log_k, t[j], lo, lo_sign, lo_log,
                                                   tab_sigma, tab_dsigma)
        prev = _monotone(w_star * math.exp(lp / b), prev, w_star, branch)
        out[j] = prev
        lo = sigma
        if st != SUCCESS:
            status = st
    return status


@njit(cache=True)
def critical_level(objective, depth, p):
    """``F(sigma*)`` at the critical level ``psi* = p^b``: depends on (objective, depth, p) only."""
    s_lin, log_big, _ = growth_parts(sigma_of_log_psi(family_b(objective, depth) * math.log(p)),
                                     objective, depth)
    return s_lin - math.exp(log_big)


@njit(cache=True)
def critical_time_exact(objective, depth, lam, rho, eps, p):
    """Exact critical time (eq. 11): first ``t`` with ``w(t) >= p w(inf)``.

    Zero for a feature that starts at or above ``p w(inf)`` (every feature
    that starts above its fixed point).  No iteration.
    """
    return _critical_time(objective, depth, lam, rho, eps, p, math.nan)


@njit(cache=True)
def _critical_time(objective, depth, lam, rho, eps, p, f_star):
    """``critical_time_exact`` with ``F(sigma*)`` given (``nan``: compute it).

    When the start is well below the target (``psi* > e psi0``, the usual
    case) the time is ``F(sigma*)/K - tau0`` with the plateau coordinate of
    ``growth_tau0``: the two terms cancel by at most a factor
    ``1/(1 - e^(1-q))``; otherwise the difference ``F(sigma*) - F(sigma0)``
    is integrated directly.
    """
    b = family_b(objective, depth)
    lp0 = b * math.log(eps) - math.log(rho)
    lp1 = b * math.log(p)  # psi* = p^b
    if lp0 >= lp1:
        return 0.0
    s0 = sigma_of_log_psi(lp0)
    log_k = log_rate(objective, depth, lam, rho)
    if lp1 - lp0 > 1.0 and abs(log_k) < 700.0:
        tau0 = growth_tau0(objective, depth, lam, rho, eps, s0, lp0, log_k)
        if tau0 > -math.inf:
            if f_star != f_star:
                f_star = critical_level(objective, depth, p)
            return f_star * math.exp(-log_k) - tau0
    # K or the plateau beyond float64: the difference in logarithms
    ds = delta_sigma(lp0, lp1 - lp0)
    ldf = log_delta_f(s0, ds, GROWTH, objective, depth)
    return math.exp(ldf - log_k)


@njit(cache=True)
def critical_levels(objective, depth_lo, depth_hi, p, out):
    """``out[L] = F(sigma*)`` for ``depth_lo <= L <= depth_hi`` (one ``p`` for all features)."""
    for depth in range(depth_lo, depth_hi + 1):
        out[depth] = critical_level(objective, depth, p)


@njit(cache=True)
def critical_time_asymptotic(objective, depth, lam, rho, eps):
    """Leading-order small-eps critical time of the paper.

    JEPA eq. 12: ``(1/lam) sum_{n=1}^{2L-1} L / (n rho^(2L-n-1) eps^(n/L))``;
    MAE eq. 13 (``L > 1``): ``L / (lam (L-1) eps^((L-1)/L))``;
    MAE eq. 121 (``L = 1``): ``|log eps| / lam``.  Formed in logarithms.
    """
    L = depth
    if objective == JEPA:
        acc = -math.inf
        for n in range(1, 2 * L):
            lt = math.log(L / n) - (2 * L - n - 1) * math.log(rho) - (n / L) * math.log(eps)
            hi = max(acc, lt)
            acc = hi + math.log1p(math.exp(min(acc, lt) - hi)) if acc > -math.inf else lt
        return math.exp(acc - math.log(lam))
    if L == 1:
        return abs(math.log(eps)) / lam
    return math.exp(math.log(L / (L - 1.0)) - ((L - 1.0) / L) * math.log(eps) - math.log(lam))


# ---------------------------------------------------------------------------
# kernels: one feature per iteration (parallel), serial twins for small batches
# ---------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def trajectory_kernel(t, objective, depth, lam, rho, eps, out, status, tab_sigma, tab_dsigma):
    for i in prange(lam.shape[0]):
        status[i] = trajectory_row(t, objective, depth[i], lam[i], rho[i], eps[i], out[i],
                                   tab_sigma, tab_dsigma)


@njit(cache=True)
def trajectory_kernel_serial(t, objective, depth, lam, rho, eps, out, status, tab_sigma, tab_dsigma):
    for i in range(lam.shape[0]):
        status[i] = trajectory_row(t, objective, depth[i], lam[i], rho[i], eps[i], out[i],
                                   tab_sigma, tab_dsigma)


@njit(parallel=True, cache=True)
def time_to_reach_kernel(objective, depth, lam, rho, eps, w, out):
    for i in prange(lam.shape[0]):
        out[i] = time_between(objective, depth[i], lam[i], rho[i], eps[i], w[i])


@njit(cache=True)
def time_to_reach_kernel_serial(objective, depth, lam, rho, eps, w, out):
    for i in range(lam.shape[0]):
        out[i] = time_between(objective, depth[i], lam[i], rho[i], eps[i], w[i])


@njit(cache=True, inline="always")
def _critical_time_one(objective, depth, lam, rho, eps, p, asymptotic, levels):
    if asymptotic:
        return critical_time_asymptotic(objective, depth, lam, rho, eps)
    return _critical_time(objective, depth, lam, rho, eps, p, levels[depth])


@njit(parallel=True, cache=True)
def critical_time_kernel(objective, depth, lam, rho, eps, p, asymptotic, levels, out):
    """``levels[L]``: precomputed ``F(sigma*)`` per depth, or nan (per-feature ``p``)."""
    for i in prange(lam.shape[0]):
        out[i] = _critical_time_one(objective, depth[i], lam[i], rho[i], eps[i], p[i], asymptotic, levels)


@njit(cache=True)
def critical_time_kernel_serial(objective, depth, lam, rho, eps, p, asymptotic, levels, out):
    for i in range(lam.shape[0]):
        out[i] = _critical_time_one(objective, depth[i], lam[i], rho[i], eps[i], p[i], asymptotic, levels)


@njit(parallel=True, cache=True)
def advance_kernel(objective, depth, lam, rho, w, dt, out, status, tab_sigma, tab_dsigma):
    for i in prange(lam.shape[0]):
        out[i], status[i] = _advance(objective, depth[i], lam[i], rho[i], w[i], dt[i],
                                     tab_sigma, tab_dsigma)


@njit(cache=True)
def advance_kernel_serial(objective, depth, lam, rho, w, dt, out, status, tab_sigma, tab_dsigma):
    for i in range(lam.shape[0]):
        out[i], status[i] = _advance(objective, depth[i], lam[i], rho[i], w[i], dt[i],
                                     tab_sigma, tab_dsigma)


# elementwise kernels: serial (memory bound, no thread pool needed)
@njit(cache=True)
def fixed_point_kernel(objective, depth, rho, out):
    for i in range(rho.shape[0]):
        out[i] = fixed_point(objective, depth[i], rho[i])


@njit(cache=True)
def rhs_kernel(objective, depth, w, lam, rho, out):
    for i in range(w.shape[0]):
        out[i] = rhs(objective, depth[i], w[i], lam[i], rho[i])
