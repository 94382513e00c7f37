"""Precomputed inverse of the time coordinate ``F``: one table per (objective, depth).

``F`` depends on ``q`` alone (not on the feature), so its inverse can be
tabulated once per depth and reused for every feature and every time.  The
table stores ``sigma`` against a target variable in which the inverse is
asymptotically linear at both ends:

* growth: ``chi = F`` for ``F >= -1`` and ``chi = -(1 + log(-F))`` below
  (plateau: ``-F ~ e^(-M sigma)/M``, so ``sigma ~ (chi + 1 - log M)/M``);
* decay: ``chi = H - 1`` for ``H >= 1`` and ``chi = log H`` below.

``chi`` is continuous with a continuous first derivative; the junction
(``chi = -1`` resp. ``0``) is a knot, so the piecewise cubic Hermite table
(exact derivatives ``dsigma/dchi = 1 / (dchi/dsigma)``, spacing 1/16 on
[-40, 40]) interpolates smooth pieces only and seeds sigma to ~1e-8.  One
Halley step on ``chi(F(sigma)) - chi_T`` (cubic convergence) then reaches
rounding level; outside the table, or if the step is not small, the
bracketed solver of ``_closed`` takes over.

Tables are built lazily, per depth, on first use (about 3 ms per depth).
"""

import math

import numpy as np
from ._constants import JEPA, MAE, MAX_DEPTH
from ._jit import njit

from ._closed import (
    _CJ,
    decay_log_h,
    f_signed_log,
    growth_parts,
    integer_m,
    mae_r_series,
    solve_sigma,
)
from ._family import DECAY, GROWTH, SUCCESS, family_q, log_psi_of_sigma

CHI_MIN = -40.0
KNOTS_PER_UNIT = 16
N_KNOTS = int((-2 * CHI_MIN) * KNOTS_PER_UNIT) + 1
_H = 1.0 / KNOTS_PER_UNIT


# [branch (0 growth, 1 decay), objective * 64 + depth - 1, knot]
_SIGMA = np.full((2, 2 * MAX_DEPTH, N_KNOTS), np.nan)
_DSIGMA = np.full((2, 2 * MAX_DEPTH, N_KNOTS), np.nan)
_BUILT = np.zeros(2 * MAX_DEPTH, dtype=bool)


@njit(cache=True, inline="always")
def _chi_growth_integer(sigma, m):
    """``chi``, ``chi'``, ``chi''`` and ``log psi`` on the growth branch for integer ``q = m + 1``.

    ``F = sigma - Poly(y)``, ``y = e^-sigma``, ``F' = (1 + y)^m``,
    ``F'' = -m F' (1 - psi)``: five transcendental calls in all.
    """
    if sigma >= 0.0:
        y = math.exp(-sigma)
        l1 = math.log1p(y)
        lp = -l1
        one_minus_psi = y / (1.0 + y)
        d1 = math.exp(m * l1)
        h = _CJ[m, m]
        for j in range(m - 1, 0, -1):
            h = h * y + _CJ[m, j]
        log_poly = math.log(h) - sigma
        log_d1 = m * l1
    else:
        e = math.exp(sigma)  # 1/y
        l1 = math.log1p(e)
        lp = sigma - l1
        one_minus_psi = 1.0 / (1.0 + e)
        h = _CJ[m, 1]
        for j in range(2, m + 1):
            h = h * e + _CJ[m, j]
        if -m * sigma < 700.0:
            # plain arithmetic: Poly = h y^m, F' = (1 + e)^m y^m, y^m = e^(-m sigma)
            ym = math.exp(-m * sigma)
            d1 = math.exp(m * l1) * ym
            neg_f = h * ym - sigma
            if neg_f <= 1.0:
                return -neg_f, d1, -d1 * m * one_minus_psi, lp
            g1 = d1 / neg_f
            return -(1.0 + math.log(neg_f)), g1, -g1 * m * one_minus_psi + g1 * g1, lp
        log_d1 = m * (l1 - sigma)
        log_poly = math.log(h) - m * sigma
        d1 = math.inf
    if log_poly < 700.0:
        f = sigma - math.exp(log_poly)
        if f >= -1.0:
            return f, d1, -d1 * m * one_minus_psi, lp
        lnf = math.log(-f)
    else:
        lnf = log_poly + math.log1p(-sigma * math.exp(-log_poly))
    # chi = -(1 + log(-F)): chi' = F'/(-F) = g1, chi'' = F''/(-F) + g1^2
    g1 = math.exp(log_d1 - lnf)
    return -(1.0 + lnf), g1, -g1 * m * one_minus_psi + g1 * g1, lp


@njit(cache=True, inline="always")
def _chi_growth_mae_plateau(sigma, n, q):
    """``chi`` and derivatives for MAE (``n = L + 1 >= 3``) where ``s = psi^(1/n) <= 1/2``.

    ``F = R(s) - n/(n-2) s^(2-n)`` with ``F' = psi^(1-q) = s^2 / psi`` and the
    series ``R = n s^2 sum_k psi^k / (2 + k n)`` (ratio ``psi <= 2^-n``): one
    exp, one log1p, one exp and one log in all.  Returns ``chi = nan`` above
    the plateau (caller falls back to the general form).
    """
    e = math.exp(sigma)
    l1 = math.log1p(e)
    lp = sigma - l1
    s = math.exp(lp / n)
    if s > 0.5 or e == 0.0:
        # above the plateau, or psi underflowed (sigma < -745): the general form in logarithms
        return math.nan, 0.0, 0.0, lp
    psi = e / (1.0 + e)
    one_minus_psi = 1.0 / (1.0 + e)
    s2 = s * s
    d1 = s2 / psi
    neg_f = n / (n - 2.0) * d1 - n * s2 * mae_r_series(psi, n)
    d2 = -d1 * (q - 1.0) * one_minus_psi
    if neg_f <= 1.0:
        return -neg_f, d1, d2, lp
    g1 = d1 / neg_f
    return -(1.0 + math.log(neg_f)), g1, d2 / neg_f + g1 * g1, lp


@njit(cache=True)
def chi_derivs(sigma, branch, objective, depth, q):
    """``chi(F(sigma))``, its first two sigma-derivatives, and ``log psi``."""
    if branch == GROWTH:
        m = integer_m(objective, depth)
        if m > 0:
            return _chi_growth_integer(sigma, m)
        if m < 0 and sigma < 0.0:
            res = _chi_growth_mae_plateau(sigma, depth + 1, q)
            if res[0] == res[0]:
                return res
    lp = log_psi_of_sigma(sigma, branch)
    d1f = math.exp((1.0 - q) * lp)  # F' = psi^(1-q)
    if branch == GROWTH:
        # F'' = -F' (q-1) (1 - psi),  log(1 - psi) = lp - sigma
        d2f = -d1f * (q - 1.0) * math.exp(lp - sigma)
        s, big, _ = growth_parts(sigma, objective, depth)
        if big < 700.0:
            f = s - math.exp(big)
            if f >= -1.0:
                return f, d1f, d2f, lp
            lnf = math.log(-f)
        else:
            lnf = big + math.log1p(-s * math.exp(-big))
        # chi = -(1 + log(-F)): chi' = F'/(-F), chi'' = F''/(-F) + (F'/F)^2
        g1 = math.exp((1.0 - q) * lp - lnf)
        g2 = d2f * math.exp(-lnf)
        return -(1.0 + lnf), g1, g2 + g1 * g1, lp
    # decay: H'' = H' (q-1)(psi - 1)
    d2f = d1f * (q - 1.0) * math.expm1(lp)
    lh = decay_log_h(sigma, q)
    if lh >= 0.0:
        return math.exp(lh) - 1.0, d1f, d2f, lp
    g1 = math.exp((1.0 - q) * lp - lh)
    return lh, g1, d2f * math.exp(-lh) - g1 * g1, lp


@njit(cache=True, inline="always")
def chi_of_target(t_sign, t_log, branch):
    """The table variable of a target ``F_T = t_sign e^t_log``."""
    if branch == GROWTH:
        if t_sign < 0.0 and t_log > 0.0:
            return -(1.0 + t_log)
        return t_sign * math.exp(t_log)
    if t_log < 0.0:
        return t_log
    return math.exp(t_log) - 1.0


@njit(cache=True)
def _target_of_chi(chi, branch):
    if branch == GROWTH:
        if chi >= -1.0:
            if chi > 0.0:
                return 1.0, math.log(chi)
            if chi < 0.0:
                return -1.0, math.log(-chi)
            return 0.0, -math.inf
        return -1.0, -(1.0 + chi)
    if chi < 0.0:
        return 1.0, chi
    return 1.0, math.log1p(chi)


@njit(cache=True)
def _build_row(objective, depth, sig_g, dsig_g, sig_d, dsig_d):
    q = family_q(objective, depth)
    for b in range(2):
        branch = GROWTH if b == 0 else DECAY
        lo = -700.0 if branch == GROWTH else 1e-300
        for k in range(N_KNOTS):
            chi = CHI_MIN + k * _H
            ts, tl = _target_of_chi(chi, branch)
            # a bound below every target: F(lo) in sign/log form
            if branch == GROWTH:
                s, big, _ = growth_parts(lo, objective, depth)
                lo_s, lo_l = -1.0, big + math.log1p(-s * math.exp(-big))
            else:
                lo_s, lo_l = 1.0, decay_log_h(lo, q)
            sigma, _ = solve_sigma(ts, tl, branch, objective, depth, lo, lo_s, lo_l)
            _, d1, _, _ = chi_derivs(sigma, branch, objective, depth, q)
            if b == 0:
                sig_g[k] = sigma
                dsig_g[k] = 1.0 / d1
            else:
                sig_d[k] = sigma
                dsig_d[k] = 1.0 / d1


def tables_for(objective: int, depths: np.ndarray):
    """The (sigma, dsigma) tables with the rows of ``objective`` and ``depths`` built."""
    if depths.size:
        return tables_for_range(objective, int(depths.min()), int(depths.max()))
    return _SIGMA, _DSIGMA


def flow_tables(objective: int, depth_lo: int, depth_hi: int):
    """The inverse tables for users' ``@njit`` flow maps (``fastdyn.kernels.advance_batch``).

    Parameters
    ----------
    objective : int
        ``JEPA`` (0) or ``MAE`` (1).
    depth_lo, depth_hi : int
        The depths the tables must cover, ``1 <= depth_lo <= depth_hi <= 64``.

    Returns
    -------
    tab_sigma, tab_dsigma : ndarray
        Read them, never write them: they are shared by every call in the process.
    """
    for name, value in (("objective", objective), ("depth_lo", depth_lo), ("depth_hi", depth_hi)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    if objective not in (JEPA, MAE):
        raise ValueError(f"`objective` must be JEPA (0) or MAE (1); got {objective!r}.")
    if not 1 <= depth_lo <= depth_hi <= MAX_DEPTH:
        raise ValueError(f"`depth_lo`, `depth_hi` must satisfy 1 <= depth_lo <= depth_hi <= "
                         f"{MAX_DEPTH}; got {depth_lo!r}, {depth_hi!r}.")
    return tables_for_range(int(objective), int(depth_lo), int(depth_hi))


def tables_for_range(objective: int, depth_lo: int, depth_hi: int):
    """The (sigma, dsigma) tables with the rows of ``objective``, depths ``lo..hi``, built."""
    for depth in range(depth_lo, depth_hi + 1):
        row = objective * MAX_DEPTH + depth - 1
        if not _BUILT[row]:
            _build_row(objective, depth, _SIGMA[0, row], _DSIGMA[0, row],
                       _SIGMA[1, row], _DSIGMA[1, row])
            _BUILT[row] = True
    return _SIGMA, _DSIGMA


@njit(cache=True, inline="always")
def table_seed(chi, branch, objective, depth, tab_sigma, tab_dsigma):
    """Cubic Hermite interpolation of sigma(chi); linear extrapolation outside."""
    b = 0 if branch == GROWTH else 1
    row = objective * MAX_DEPTH + depth - 1
    u = (chi - CHI_MIN) * KNOTS_PER_UNIT
    if u <= 0.0:
        if branch != GROWTH:
            # early decay, below the table: H ~ sigma^q / q, chi = log H
            q = 2.0 * depth if objective == 0 else 2.0 * depth / (depth + 1.0)
            return math.exp((chi + math.log(q)) / q)
        return tab_sigma[b, row, 0] + tab_dsigma[b, row, 0] * (chi - CHI_MIN)
    if u >= N_KNOTS - 1:
        last = N_KNOTS - 1
        return tab_sigma[b, row, last] + tab_dsigma[b, row, last] * (chi + CHI_MIN)
    k = int(u)
    th = u - k
    s0 = tab_sigma[b, row, k]
    s1 = tab_sigma[b, row, k + 1]
    m0 = tab_dsigma[b, row, k] * _H
    m1 = tab_dsigma[b, row, k + 1] * _H
    th2 = th * th
    th3 = th2 * th
    return ((2 * th3 - 3 * th2 + 1) * s0 + (th3 - 2 * th2 + th) * m0
            + (-2 * th3 + 3 * th2) * s1 + (th3 - th2) * m1)


@njit(cache=True, inline="always")
def solve_sigma_tabulated(t_sign, t_log, branch, objective, depth, lo, lo_sign, lo_log,
                          tab_sigma, tab_dsigma):
    """``solve_sigma`` seeded from the table: usually one Halley step.

    Returns ``(sigma, status, log psi)``.
    """
    if (branch == GROWTH and t_sign >= 0.0 and t_log > 700.0) or (branch == DECAY and t_log > 700.0):
        return math.inf, SUCCESS, 0.0  # F_T beyond float64: the fixed point
    q = family_q(objective, depth)
    if q == 1.0:  # MAE depth 1: F = sigma on both branches (eq. 116)
        x = t_sign * math.exp(t_log)
        return x, SUCCESS, log_psi_of_sigma(x, branch)
    chi_t = chi_of_target(t_sign, t_log, branch)
    x = table_seed(chi_t, branch, objective, depth, tab_sigma, tab_dsigma)
    # a seed below the known lower bound (consecutive states closer than the
    # table's ~1e-8) starts from the bound instead
    x = max(x, lo)
    if (branch == GROWTH or x > 0.0) and x < math.inf:
        r, d1, d2, lp = chi_derivs(x, branch, objective, depth, q)
        r -= chi_t
        den = 2.0 * d1 * d1 - r * d2
        if den > 0.0:
            step = -2.0 * r * d1 / den
            # the seed is good to ~1e-7; a Halley step from there is exact to rounding.
            # (relative to sigma on the decay branch, where F ~ sigma^q near sigma = 0)
            scale = max(1.0, abs(x)) if branch == GROWTH else x
            if abs(step) <= 1e-6 * scale:
                # log psi at the new state to second order (the step is <= 1e-6, so the
                # remainder ~ step^3 is below rounding): with g = |1 - psi| = e^(lp - sigma),
                # growth: lp' = g, lp'' = -(1 - g) g;  decay: lp' = -g, lp'' = (1 + g) g
                g = math.exp(lp - x)
                if branch == GROWTH:
                    lp += g * step * (1.0 - 0.5 * (1.0 - g) * step)
                else:
                    lp -= g * step * (1.0 - 0.5 * (1.0 + g) * step)
                return x + step, SUCCESS, lp
    if lo_log != lo_log:  # F(lo) not evaluated by the caller's fast path
        lo_sign, lo_log = f_signed_log(lo, branch, objective, depth)
    x, status = solve_sigma(t_sign, t_log, branch, objective, depth, lo, lo_sign, lo_log)
    return x, status, log_psi_of_sigma(x, branch)
