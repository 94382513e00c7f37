"""Learning-order analysis: which features a JEPA or MAE encoder learns first.

The paper's central comparison (section 3.2, figures 1, 2 and 4) is the
*order* in which features reach a fraction ``p`` of their fixed point, i.e. the
order of their critical times ``t*`` (eq. 11).  This module turns critical
times into that order and compares orders numerically:

- :func:`learning_order` -- ranks of the critical times of one objective;
- :func:`rank` -- ranks of any times, ties handled as in
  :func:`scipy.stats.rankdata`;
- :func:`compare_orders` -- Kendall's tau-b and the fraction of inverted
  feature pairs between two orders (figure 1's "complete inversion" is an
  inverted fraction of 1), in ``O(n log n)``;
- :func:`learned_count` / :func:`learning_time` -- how many features are
  learned by time ``t``, and the time by which a fraction of them is;
- :func:`depth_spread` -- for features with equal ``lam`` and different
  ``rho``, the relative spread of their critical times as a function of depth
  (figure 4);
- :func:`corollary_ratio` -- the critical-time ratio of corollary 3.6
  (eq. 14) next to its exact value.

Every function accepts NumPy or CuPy arrays and returns arrays of the same
kind: the array module is taken from the input (``cupy`` is imported only when
a CuPy array is passed).  Critical times themselves come from
:func:`fastdyn.critical_time` (exact closed form, eq. 11), on the GPU for CuPy
input; the order statistics then run on the same device (on the CPU: the
Numba kernels of :mod:`fastdyn.kernels._order`).

A feature is "learned by time ``t``" when ``t* <= t``.  Critical times are
non-negative and may be ``inf`` (the crossing lies beyond float64); ``inf``
times tie with each other and come last.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import _api
from . import _arrays
from . import _validate as v
from .kernels._order import (
    TIE_METHODS,
    lexsorted_b,
    merge_inversions,
    radix_argsort,
    ranks_from_sorted,
)

__all__ = [
    "OrderComparison",
    "RatioComparison",
    "compare_orders",
    "corollary_ratio",
    "depth_spread",
    "learned_count",
    "learning_order",
    "learning_time",
    "rank",
]

_TIES = TIE_METHODS
_TIMES = "non-negative (inf allowed)"


# --------------------------------------------------------------------------
# validation (array modules and transfers: fastdyn._arrays)
# --------------------------------------------------------------------------


def _times(name: str, x: ArrayLike, xp, one_d: bool = True) -> Any:
    """Float64 times ``>= 0`` (``inf`` allowed), 1-D unless ``one_d=False``.

    ValueError names the first bad index.  On the device one reduction checks
    the values; the host copy for the message is made only once it fails.
    """
    if xp is np:
        a = v.interval(name, x, 0.0, math.inf, requirement=_TIMES)
    else:
        if x.dtype.kind not in "iuf":
            raise TypeError(f"`{name}` must be real-valued (integer or floating point); "
                            f"got dtype {x.dtype}.")
        a = x.astype(xp.float64, copy=False)
        # min propagates NaN, so one reduction catches NaN and negative values
        if a.size and not bool(a.min() >= 0.0):
            v.interval(name, _arrays.to_host(a), 0.0, math.inf, requirement=_TIMES)
    if one_d and a.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array; got shape {tuple(a.shape)}.")
    return a


def _in_domain(name: str, x: ArrayLike, xp, parameter: str | None = None) -> Any:
    """:func:`fastdyn._validate.in_domain` of ``parameter`` (default ``name``) on the host;
    on the device one min/max reduction (the host copy for the message only once it fails)."""
    d = v.DOMAINS[parameter or name]
    if xp is np:
        return v.in_domain(name, x, d)
    a = xp.asarray(x, dtype=xp.float64)
    if a.size:
        lo, hi = float(a.min()), float(a.max())
        if not (lo >= d.lo and hi <= d.hi):  # NaN fails both
            v.in_domain(name, _arrays.to_host(a), d)
    return a


# --------------------------------------------------------------------------
# ranks
# --------------------------------------------------------------------------


def _runs(s, xp):
    """Run structure of a sorted 1-D array: (run id per element, starts, ends)."""
    n = s.shape[0]
    new = xp.empty(n, dtype=bool)
    new[0] = True
    new[1:] = s[1:] != s[:-1]
    starts = xp.flatnonzero(new)
    ends = xp.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    run = xp.cumsum(new) - 1
    return run, starts, ends


def _tied_pairs(s, xp) -> int:
    """Number of pairs with equal values in the sorted array ``s``."""
    if s.shape[0] < 2:
        return 0
    _, starts, ends = _runs(s, xp)
    c = (ends - starts).astype(xp.int64)
    return int((c * (c - 1) // 2).sum())



def rank(times: ArrayLike, *, ties: str = "average"):
    """Ranks of times, 1 = smallest (learned first); ties as in ``scipy.stats.rankdata``.

    Parameters
    ----------
    times : array_like, shape (n,)
        Non-negative times (``inf`` allowed), NumPy or CuPy.
    ties : {"average", "min", "max", "dense", "ordinal"}
        Ranks given to equal times: their average (float), the lowest, the
        highest, consecutive integers over distinct values, or distinct ranks
        in the order of appearance.

    Returns
    -------
    ranks : ndarray, shape (n,)
        float64 for ``"average"``, int64 otherwise; same array module as
        ``times``.
    """
    ties = v.check_choice("ties", ties, _TIES)
    xp = _arrays.module_of(times)
    t = _times("times", times, xp)
    n = t.shape[0]
    if n == 0:
        return xp.empty(0, dtype=xp.float64 if ties == "average" else xp.int64)
    if xp is np:
        order, keys = radix_argsort(np.ascontiguousarray(t).view(np.uint64))
        r = ranks_from_sorted(order, keys, _TIES.index(ties))
        return r if ties == "average" else r.astype(np.int64)
    order = xp.argsort(t)
    if ties == "ordinal":
        # cupy's argsort is not guaranteed stable: break ties by index
        order = xp.lexsort(xp.stack((xp.arange(n), t)))
        r = xp.empty(n, dtype=xp.int64)
        r[order] = xp.arange(1, n + 1)
        return r
    run, starts, ends = _runs(t[order], xp)
    if ties == "average":
        vals = (starts[run] + ends[run] + 1) / 2.0  # mean of start+1 .. end
    elif ties == "min":
        vals = starts[run] + 1
    elif ties == "max":
        vals = ends[run]
    else:
        vals = run + 1
    r = xp.empty(n, dtype=vals.dtype)
    r[order] = vals
    return r


def _critical_times(xp, lam, rho, depth, eps, objective, p):
    """``fastdyn.critical_time`` (exact, eq. 11) on the backend of ``xp``.

    With CuPy every array argument is put on the device (the core API refuses
    mixed NumPy/CuPy input) and the closed form runs on the GPU; scalars go
    anywhere.
    """
    if xp is not np:
        lam, rho, depth, eps, p = (
            x if np.ndim(x) == 0 and not _arrays.is_device_array(x) else _arrays.to_device(xp, x)
            for x in (lam, rho, depth, eps, p))
    return _api.critical_time(lam, rho, depth=depth, eps=eps, objective=objective, p=p)


def learning_order(
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    eps: ArrayLike,
    objective: str,
    p: ArrayLike = 0.5,
    ties: str = "average",
):
    """Order in which features reach the fraction ``p`` of their fixed point.

    The rank of each feature's exact critical time ``t*`` (eq. 11, computed by
    :func:`fastdyn.critical_time`): rank 1 is learned first.

    Parameters
    ----------
    lam, rho : array_like, shape (n,)
        Covariance ``lam > 0`` and regression coefficient ``rho > 0`` per
        feature (NumPy or CuPy).
    depth : int or array_like of int
        Encoder depth ``L`` in 1..64.
    eps : float or array_like
        Initial weight ``w(0)`` (assumption 3.1).
    objective : {"jepa", "mae"}
    p : float or array_like
        Fraction of the fixed point, in (0, 1).
    ties : {"average", "min", "max", "dense", "ordinal"}
        See :func:`rank`.

    Returns
    -------
    ranks : ndarray, shape (n,)
    """
    xp = _arrays.module_of(lam, rho, depth, eps, p)
    t = _critical_times(xp, lam, rho, depth, eps, objective, p)
    if t.ndim != 1:
        raise ValueError(f"`lam`, `rho`, `depth`, `eps` and `p` must broadcast to a 1-D "
                         f"array of features; got shape {tuple(t.shape)}.")
    return rank(t, ties=ties)


# --------------------------------------------------------------------------
# Kendall's tau-b and the inverted fraction
# --------------------------------------------------------------------------




def _bitwise_inversions(codes, xp) -> int:
    """Strict inversions of non-negative integer codes with array operations only.

    For the device (CuPy), where a serial merge is not available: the codes
    are partitioned bit by bit from the most significant one, stably, so that
    at bit ``k`` the array is grouped by the bits above ``k`` with the original
    order kept inside each group.  A pair is inverted iff, at the first bit
    where the codes differ, the earlier element has a 1 and the later a 0:
    each level adds, for every 0, the 1s before it in its group.
    ``O(n)`` per bit, ``O(n log n)`` in all.
    """
    n = codes.shape[0]
    if n < 2:
        return 0
    top = int(codes.max())
    cur = codes.astype(xp.int64, copy=True)
    idx = xp.arange(n, dtype=xp.int64)
    total = 0
    for k in range(top.bit_length() - 1, -1, -1):
        bit = (cur >> k) & 1
        group, starts, ends = _runs(cur >> (k + 1), xp)
        gstart = starts[group]
        ones_incl = xp.cumsum(bit)
        ones_before_all = ones_incl - bit
        ones_before = ones_before_all - ones_before_all[gstart]
        total += int((ones_before * (1 - bit)).sum())
        ones_group = ones_incl[ends - 1] - ones_before_all[starts]
        zeros_group = (ends - starts) - ones_group
        zeros_before = (idx - gstart) - ones_before
        new_pos = gstart + xp.where(bit == 0, zeros_before, zeros_group[group] + ones_before)
        nxt = xp.empty_like(cur)
        nxt[new_pos] = cur
        cur = nxt
    return total


class OrderComparison(NamedTuple):
    """Agreement of two orders of the same ``n`` features (see :func:`compare_orders`)."""

    #: Kendall's tau-b, in [-1, 1]; NaN if either order ties every pair.
    tau: float
    #: Discordant / comparable pairs, in [0, 1]; NaN if no pair is comparable.
    inverted_fraction: float
    #: Pairs ordered the same way by both (strictly).
    concordant: int
    #: Pairs ordered oppositely (strictly).
    discordant: int
    #: Pairs tied in the first order.
    ties_a: int
    #: Pairs tied in the second order.
    ties_b: int
    #: Pairs tied in both.
    ties_both: int
    #: All pairs, ``n (n - 1) / 2``.
    pairs: int


def compare_orders(times_a: ArrayLike, times_b: ArrayLike) -> OrderComparison:
    """Kendall's tau-b and the fraction of inverted pairs between two learning orders.

    Compares the orders of the same features under two objectives or two
    depths, from their critical times.  With ``n0 = n (n-1)/2`` pairs, ``n1``
    pairs tied in ``times_a``, ``n2`` tied in ``times_b``, ``n3`` tied in both,
    ``C`` concordant and ``D`` discordant pairs (pairs tied in either order
    are neither)::

        tau_b             = (C - D) / sqrt((n0 - n1) (n0 - n2))
        inverted_fraction = D / (C + D),    C + D = n0 - n1 - n2 + n3

    ``inverted_fraction == 1`` is a complete inversion of the order (figure 1,
    JEPA against MAE on distribution 2); without ties it equals
    ``(1 - tau) / 2``.  ``tau_b`` equals :func:`scipy.stats.kendalltau`'s
    default variant.

    Cost ``O(n log n)``: a lexicographic sort by ``(a, b)`` puts every pair in
    ``a``-order, so ``D`` is the number of strict inversions of ``b`` in that
    order.  On the CPU (Numba kernels) that order is one stable radix sort of
    ``a`` (:func:`fastdyn.kernels._order.radix_argsort`) with the runs of tied ``a`` sorted by ``b``;
    a merge sort of ``b`` in that order counts ``D`` and, from its sorted
    result, ``n2``.  On CuPy arrays a sort of ``b``, a lexsort and an
    array-level radix count (:func:`_bitwise_inversions`).

    Parameters
    ----------
    times_a, times_b : array_like, shape (n,)
        Non-negative times (``inf`` allowed; infinite times tie), NumPy or
        CuPy, the same length.  Ranks work as well as times.

    Returns
    -------
    OrderComparison
        ``tau``, ``inverted_fraction`` and the pair counts.
    """
    xp = _arrays.module_of(times_a, times_b)
    a = _times("times_a", times_a, xp)
    b = _times("times_b", times_b, xp)
    if a.shape != b.shape:
        raise ValueError(f"`times_a` and `times_b` must have the same length; "
                         f"got {a.shape[0]} and {b.shape[0]}.")
    n = a.shape[0]
    n0 = n * (n - 1) // 2
    if n < 2:
        return OrderComparison(math.nan, math.nan, 0, 0, 0, 0, 0, n0)
    if xp is np:
        # one radix sort of a, then b in (a, b) order, whose merge sort counts
        # the discordant pairs and, from its sorted result, the ties in b
        order, keys = radix_argsort(np.ascontiguousarray(a).view(np.uint64))
        b_s, n1, n3 = lexsorted_b(order, keys, np.ascontiguousarray(b))
        d, n2 = merge_inversions(b_s)
        return _order_comparison(n0, n1, n2, n3, int(d))
    # CuPy: dense integer codes of b (equal values, equal codes), from one sort of b
    ob = xp.argsort(b)
    run_b, starts_b, ends_b = _runs(b[ob], xp)
    cnt = (ends_b - starts_b).astype(xp.int64)
    n2 = int((cnt * (cnt - 1) // 2).sum())
    codes = xp.empty(n, dtype=xp.int64)
    codes[ob] = run_b
    # lexicographic order by (a, b) (lexsort, whose stability is documented):
    # pairs tied in a then come in b order and are never counted as inversions
    perm = xp.lexsort(xp.stack((codes, a)))
    a_s = a[perm]
    c_s = codes[perm]
    n1 = _tied_pairs(a_s, xp)
    # joint ties: runs of equal (a, b) in the lexicographic order
    same = xp.empty(n, dtype=bool)
    same[0] = False
    same[1:] = (a_s[1:] == a_s[:-1]) & (c_s[1:] == c_s[:-1])
    run_id = xp.cumsum(~same)
    counts = xp.bincount(run_id - 1).astype(xp.int64)
    n3 = int((counts * (counts - 1) // 2).sum())
    return _order_comparison(n0, n1, n2, n3, _bitwise_inversions(c_s, xp))


def _order_comparison(n0: int, n1: int, n2: int, n3: int, d: int) -> OrderComparison:
    """tau-b and the inverted fraction from the pair counts (see :func:`compare_orders`)."""
    n1, n2, n3 = int(n1), int(n2), int(n3)
    comparable = n0 - n1 - n2 + n3
    c = comparable - d
    # with equal tie counts the denominator is an exact integer (tau = 1 exactly
    # for identical orders)
    denom = float(n0 - n1) if n1 == n2 else math.sqrt(float(n0 - n1)) * math.sqrt(float(n0 - n2))
    tau = (c - d) / denom if denom > 0 else math.nan
    inv = d / comparable if comparable > 0 else math.nan
    return OrderComparison(float(tau), float(inv), int(c), int(d), n1, n2, n3, n0)


# --------------------------------------------------------------------------
# learned counts and times
# --------------------------------------------------------------------------


def learned_count(times: ArrayLike, t: ArrayLike):
    """How many features are learned by time ``t``: ``#{i : times[i] <= t}``.

    Parameters
    ----------
    times : array_like, shape (n,)
        Critical times (non-negative, ``inf`` allowed), NumPy or CuPy.
    t : float or array_like
        Query times (non-negative, ``inf`` allowed), any shape.

    Returns
    -------
    count : ndarray of int64, shape of ``t``
    """
    xp = _arrays.module_of(times, t)
    s = xp.sort(_times("times", times, xp))
    tq = _times("t", t if xp is np else xp.asarray(t), xp, one_d=False)
    flat = tq.reshape(-1)
    return xp.searchsorted(s, flat, side="right").astype(xp.int64).reshape(tq.shape)


def learning_time(times: ArrayLike, fraction: ArrayLike):
    """Time by which a fraction of the features is learned.

    The ``k``-th smallest critical time with ``k = ceil(fraction * n)``, the
    smallest ``k`` with ``k / n >= fraction``; hence
    ``learned_count(times, learning_time(times, f)) >= f * n``.

    Parameters
    ----------
    times : array_like, shape (n,), n >= 1
        Critical times (non-negative, ``inf`` allowed), NumPy or CuPy.
    fraction : float or array_like
        Fractions in (0, 1], any shape.

    Returns
    -------
    t : ndarray of float64, shape of ``fraction``
    """
    xp = _arrays.module_of(times, fraction)
    s = xp.sort(_times("times", times, xp))
    n = s.shape[0]
    if n == 0:
        raise ValueError("`times` must hold at least one feature; got an empty array.")
    f = v.interval("fraction", _arrays.to_host(fraction), 0.0, 1.0, lo_closed=False,
                   requirement="in the half-open interval (0, 1]")
    f = f if xp is np else _arrays.to_device(xp, f)
    # ceil(f n) can be one too large when f n rounds up (0.3 * 10 = 3.0000000000000004)
    k = xp.ceil(f * n).astype(xp.int64)
    k = xp.where((k - 1) >= f * n, k - 1, k)
    k = xp.clip(k, 1, n)
    return s[k - 1]


# --------------------------------------------------------------------------
# depth and corollary 3.6
# --------------------------------------------------------------------------


def depth_spread(
    rho: ArrayLike,
    *,
    depths: ArrayLike,
    lam: float = 1.0,
    eps: float,
    objective: str,
    p: float = 0.5,
):
    """Relative spread of the critical times of features with equal ``lam``, by depth.

    For every depth ``L``: ``max_i t*_i / min_i t*_i - 1`` over the features
    ``(lam, rho_i)``; the log of the ratio is the width of the band of curves
    on a logarithmic time axis (figure 4).  By eq. 14 it is about
    ``(2L-1)/(2L-2) (1/rho_min - 1/rho_max) eps^(1/L)`` for JEPA, growing with
    depth, and ``Theta(eps^((L-1)/L))`` for MAE, shrinking with depth.

    Parameters
    ----------
    rho : array_like, shape (n,), n >= 1
        Regression coefficients of the features (NumPy or CuPy).
    depths : array_like of int, shape (m,)
        Encoder depths in 1..64.
    lam, eps, p : float
        The shared covariance, initial weight and fraction of eq. 11.
    objective : {"jepa", "mae"}

    Returns
    -------
    spread : ndarray of float64, shape (m,)
        ``inf`` if some critical time is infinite, or zero (a feature that
        starts at or above ``p`` times its fixed point, e.g. JEPA with
        ``rho**L <= eps``) while another is not.
    """
    xp = _arrays.module_of(rho, depths)
    r = _in_domain("rho", rho, xp)
    dep = v.depth_array(_arrays.to_host(depths), "depths")
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"`rho` must be a non-empty 1-D array; got shape {tuple(r.shape)}.")
    if dep.ndim != 1:
        raise ValueError(f"`depths` must be a 1-D array; got shape {tuple(dep.shape)}.")
    if xp is not np:
        dep = _arrays.to_device(xp, dep)
    for name, val in (("lam", lam), ("eps", eps), ("p", p)):
        if np.ndim(val) != 0:
            raise ValueError(f"`{name}` must be a scalar; got shape {np.shape(val)}.")
    t = _critical_times(xp, lam, r[None, :], dep[:, None], eps, objective, p)
    lo = t.min(axis=1)
    hi = t.max(axis=1)
    # an infinite time, or a zero next to a positive one, makes the spread
    # infinite; all-zero times have no spread (the quotients are masked out)
    safe = xp.where(lo > 0, lo, 1.0)
    ratio = xp.where(xp.isinf(hi), 1.0, hi) / safe - 1.0
    return xp.where(xp.isinf(hi) | ((lo == 0) & (hi > 0)), xp.inf,
                    xp.where(hi == 0, 0.0, ratio))


class RatioComparison(NamedTuple):
    """Corollary 3.6: predicted and exact ``t*(lam, rho) / t*(lam, rho')``."""

    #: Eq. 14's leading terms: JEPA ``1 + (2L-1)/(2L-2) (1/rho - 1/rho') eps^(1/L)``, MAE ``1``.
    predicted: Any
    #: The ratio of exact critical times (:func:`fastdyn.critical_time`).
    exact: Any


def corollary_ratio(
    rho: ArrayLike,
    rho_prime: ArrayLike,
    *,
    lam: ArrayLike = 1.0,
    depth: ArrayLike,
    eps: ArrayLike,
    objective: str = "jepa",
    p: ArrayLike = 0.5,
) -> RatioComparison:
    """The critical-time ratio of corollary 3.6 (eq. 14) next to its exact value.

    For two features with the same ``lam`` and regression coefficients
    ``rho < rho'``, with ``Delta = 1/rho - 1/rho'``, eq. 14 reads::

        JEPA: t*(rho) / t*(rho') = 1 + (2L-1)/(2L-2) Delta eps^(1/L) + Theta(eps^(2/L))
        MAE:  t*(rho) / t*(rho') = 1 + Theta(eps^((L-1)/L))

    The prediction is the explicit part (MAE: ``1``); the exact ratio divides
    the exact critical times (eq. 11).  Their difference is
    ``O(eps^(2/L))`` (JEPA) or ``O(eps^((L-1)/L))`` (MAE) as ``eps -> 0``.

    Parameters
    ----------
    rho, rho_prime : array_like
        Regression coefficients (positive; the corollary takes
        ``rho < rho'`` without loss of generality, any order works).
    lam : float or array_like
        The shared covariance.
    depth : int or array_like of int
        Encoder depth, ``2 <= L <= 64`` (eq. 14 divides by ``2L - 2``).
    eps : float or array_like
        Initial weight.
    objective : {"jepa", "mae"}
    p : float or array_like
        Fraction of eq. 11, in (0, 1).

    Returns
    -------
    RatioComparison
        ``predicted`` and ``exact``, arrays of the broadcast shape, finite and
        positive.

    Raises
    ------
    ValueError
        For a parameter outside fastdyn's domain (``rho_prime`` is named as
        itself), ``depth < 2``, shapes that do not broadcast, or a feature
        whose exact ratio is undefined: where ``eps >= p * fixed point`` a
        feature starts learned, ``t* = 0``, and the ratio would be 0, inf
        or 0/0 (NaN).  Corollary 3.6 is a statement about small ``eps``; the
        message names ``rho`` or ``rho_prime``, the index and the values.
        (Inside the domain every positive ``t*`` is finite, so no ratio is
        inf/inf.)
    """
    obj = v.objective_code(objective)
    xp = _arrays.module_of(rho, rho_prime, lam, depth, eps, p)
    r = _in_domain("rho", rho, xp)
    rp = _in_domain("rho_prime", rho_prime, xp, "rho")
    dep = v.depth_array(_arrays.to_host(depth))
    v.require("depth", dep, dep >= 2, "at least 2 for eq. 14")
    # the shapes (stride-0 stand-ins: no data is read or copied)
    named = {"rho": rho, "rho_prime": rho_prime, "lam": lam, "depth": depth, "eps": eps, "p": p}
    _, shape = v.broadcast(**{k: np.broadcast_to(np.int8(0), np.shape(x)) for k, x in named.items()})
    t1 = _critical_times(xp, lam, r, depth, eps, objective, p)
    t2 = _critical_times(xp, lam, rp, depth, eps, objective, p)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exact = xp.asarray(t1 / t2, dtype=xp.float64)
    if exact.size and not bool(xp.all((exact > 0) & (exact < math.inf))):
        _undefined_ratio(named, shape, _arrays.to_host(t1), _arrays.to_host(t2))
    e, L = (xp.asarray(x, dtype=xp.float64) for x in (eps, dep if xp is np else depth))
    if obj == 0:
        predicted = 1.0 + (2 * L - 1) / (2 * L - 2) * (1.0 / r - 1.0 / rp) * e ** (1.0 / L)
    else:
        predicted = xp.ones(exact.shape)
    predicted = xp.broadcast_to(predicted, exact.shape).astype(xp.float64)
    return RatioComparison(predicted, exact)


def _undefined_ratio(named: dict, shape: tuple, t1: np.ndarray, t2: np.ndarray) -> None:
    """Raise ValueError at the first feature whose critical-time ratio is 0, inf or NaN.

    ``t* = 0`` (the feature starts at or above ``p`` times its fixed point)
    makes the ratio 0, inf or 0/0; corollary 3.6 is a statement about small
    ``eps``, where every ``t* > 0``.
    """
    t1, t2 = np.broadcast_to(t1, shape), np.broadcast_to(t2, shape)
    bad = ~((t1 > 0) & (t2 > 0) & (t1 < math.inf) & (t2 < math.inf))
    if not bad.any():  # both times fine: their quotient over- or underflows
        bad = np.ones(shape, dtype=bool)
        which = "rho"
        why = "the ratio t*(rho) / t*(rho_prime) is not representable in float64"
    else:
        j = v.first_index(bad)
        which = "rho" if not (t1[j] > 0 and t1[j] < math.inf) else "rho_prime"
        why = (f"t*({which}) = {v._fmt((t1 if which == 'rho' else t2)[j])}: the feature starts "
               f"at or above p times its fixed point (eps >= p * fastdyn.fixed_point({which})); "
               f"take a smaller eps or p")
    i = v.first_index(bad)
    host = {k: np.broadcast_to(np.asarray(_arrays.to_host(x)), shape) for k, x in named.items()}
    where = "for" if shape == () else f"at index {list(i)},"
    values = ", ".join(f"{k}={v._fmt(a[i])}" for k, a in host.items())
    raise ValueError(f"`{which}` must give critical times t* > 0 for corollary 3.6 (eq. 14, "
                     f"small eps); {where} {values}: {why}.")
