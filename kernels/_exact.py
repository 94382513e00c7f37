"""Exact solutions: the public scalar functions and the parallel kernels over them.

The math is C++ (``kernels/cuda/exact.h`` over ``closed.h`` and
``inverse.h``): every time is ``(F(sigma_1) - F(sigma_0)) / K`` and needs no
iteration; a weight at a given time inverts ``F`` from a per-depth inverse
table (:mod:`._inverse`) and one Halley step, with a bracketed Newton
fallback.  This module calls the CPU library's per-feature functions by
symbol (:mod:`._lib`):

1. scalar ``@njit`` functions without allocation, public for users' own
   ``@njit`` code: :func:`time_between`, :func:`advance_weight`,
   :func:`critical_time_exact`, :func:`critical_time_asymptotic`
   (:func:`~._family.rhs` and :func:`~._family.fixed_point` live in
   :mod:`._family`);
2. ``prange`` kernels and serial twins for small batches, where starting the
   thread pool would cost more than the work: one feature per iteration, except
   the trajectory and advance kernels, whose iterations are chunks of features
   that the CPU library solves in vector registers, several features per
   instruction (``kernels/cuda/simd.h``).

Kernel arguments: 1-D arrays of length n per feature (``depth`` int64, the
rest float64), outputs preallocated; ``status`` int8; ``tab_sigma``,
``tab_dsigma`` from :func:`._inverse.tables_for` (an empty array: no table).
"""

import math

import numpy as np
from numba import prange

from ._jit import njit
from ._lib import data_ptr, ext, lib, load, ptr_at, slot

# stands for "no inverse table": the bracketed solver alone (the scalar API)
_NO_TABLE = np.empty((2, 0, 0))


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
        Encoder depth ``L`` in 1..64.
    lam, rho, w0, w1 : float
        Positive, finite.
    """
    return ext.time_between(objective, depth, lam, rho, w0, w1)


@njit(cache=True, inline="always")
def _advance(objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma):
    """``advance_weight`` seeded from the inverse tables (an empty table: none).

    One feature through the scalar solver (``exact.h``): the array kernels
    solve blocks of features in vector registers with their own exp/log, so
    this agrees with ``fastdyn.advance`` to rounding (1e-12 relative), not to
    the bit; ``advance_batch`` over arrays gives ``fastdyn.advance``'s bits
    (a block of one lane would too, at the cost of a whole block per call:
    0.8 us against 0.25 us).
    """
    st = slot(np.int8)
    w1 = ext.advance(objective, depth, lam, rho, w, dt, data_ptr(tab_sigma), data_ptr(tab_dsigma), st)
    return w1, load(st)


@njit(cache=True)
def advance_weight(objective, depth, lam, rho, w, dt):
    """Exact flow map: the weight a further time ``dt >= 0`` after ``w``.

    Returns ``(w_new, status)``; ``status`` is ``SUCCESS`` unless the root
    find failed (``NO_CONVERGENCE``), which the tests show does not happen on
    the supported domain.
    """
    w1, st = _advance(objective, depth, lam, rho, w, dt, _NO_TABLE, _NO_TABLE)
    return w1, int(st)


@njit(cache=True)
def advance_weight_tabulated(objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma):
    """:func:`advance_weight` seeded from the inverse tables of :func:`~._inverse.flow_tables`.

    The per-feature cost of the array kernels (the tables replace a bracketed
    search by one interpolation); the same result as ``fastdyn.advance``.
    """
    w1, st = _advance(objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma)
    return w1, int(st)


@njit(cache=True)
def critical_time_exact(objective, depth, lam, rho, eps, p):
    """Exact critical time (eq. 11): first ``t`` with ``w(t) >= p w(inf)``.

    Zero for a feature that starts at or above ``p w(inf)`` (every feature
    that starts above its fixed point).  No iteration.  The scalar solver
    (``exact.h``): equal to ``fastdyn.critical_time`` to rounding (1e-12
    relative), which solves blocks of features in vector registers.
    """
    return ext.critical_time(objective, depth, lam, rho, eps, p, math.nan)


@njit(cache=True)
def critical_time_asymptotic(objective, depth, lam, rho, eps):
    """Leading-order small-eps critical time of the paper.

    JEPA eq. 12: ``(1/lam) sum_{n=1}^{2L-1} L / (n rho^(2L-n-1) eps^(n/L))``;
    MAE eq. 13 (``L > 1``): ``L / (lam (L-1) eps^((L-1)/L))``;
    MAE eq. 121 (``L = 1``): ``|log eps| / lam``.  Formed in logarithms.
    """
    return ext.critical_time_asymptotic(objective, depth, lam, rho, eps)


@njit(cache=True)
def critical_levels(objective, depth_lo, depth_hi, p, out):
    """``out[L] = F(sigma*)`` for ``depth_lo <= L <= depth_hi`` (one ``p`` for all features)."""
    for depth in range(depth_lo, depth_hi + 1):
        out[depth] = ext.critical_level(objective, depth, p)


# ---------------------------------------------------------------------------
# kernels: one feature per iteration (parallel), serial twins for small batches
# ---------------------------------------------------------------------------
# Features per prange iteration of the block kernels: whole simd::W-lane blocks
# (fdh_trajectory_block, fdh_advance_block run W features in lockstep, simd.h).
_CHUNK = 4 * 8


@njit(cache=True, inline="always")
def _trajectory_chunk(c, t, objective, depth, lam, rho, eps, out, status, tab_sigma, tab_dsigma):
    first = c * _CHUNK
    n = min(_CHUNK, lam.shape[0] - first)
    ext.trajectory_block(t.shape[0], data_ptr(t), objective, data_ptr(depth), data_ptr(lam), data_ptr(rho),
                         data_ptr(eps), first, n, data_ptr(out), out.strides[0] // out.itemsize,
                         out.strides[1] // out.itemsize, data_ptr(status), data_ptr(tab_sigma),
                         data_ptr(tab_dsigma))


@njit(cache=True, inline="always")
def _contiguous(depth, lam, rho, eps):
    return (np.ascontiguousarray(depth), np.ascontiguousarray(lam), np.ascontiguousarray(rho),
            np.ascontiguousarray(eps))


@njit(parallel=True, cache=True)
def trajectory_kernel(t, objective, depth, lam, rho, eps, out, status, tab_sigma, tab_dsigma):
    """``out[i, j] = w_i(t[j])`` (``t`` non-decreasing), ``status[i]`` the feature's status.

    Blocks of features of one depth run in lockstep in vector registers
    (``simd.h``); ``out`` may have any strides.
    """
    tc = np.ascontiguousarray(t)
    dc, lc, rc, ec = _contiguous(depth, lam, rho, eps)
    for c in prange((lam.shape[0] + _CHUNK - 1) // _CHUNK):
        _trajectory_chunk(c, tc, objective, dc, lc, rc, ec, out, status, tab_sigma, tab_dsigma)


@njit(cache=True)
def trajectory_kernel_serial(t, objective, depth, lam, rho, eps, out, status, tab_sigma, tab_dsigma):
    tc = np.ascontiguousarray(t)
    dc, lc, rc, ec = _contiguous(depth, lam, rho, eps)
    for c in range((lam.shape[0] + _CHUNK - 1) // _CHUNK):
        _trajectory_chunk(c, tc, objective, dc, lc, rc, ec, out, status, tab_sigma, tab_dsigma)


@njit(parallel=True, cache=True)
def time_to_reach_kernel(objective, depth, lam, rho, eps, w, out):
    for i in prange(lam.shape[0]):
        out[i] = ext.time_between(objective, depth[i], lam[i], rho[i], eps[i], w[i])


@njit(cache=True)
def time_to_reach_kernel_serial(objective, depth, lam, rho, eps, w, out):
    for i in range(lam.shape[0]):
        out[i] = ext.time_between(objective, depth[i], lam[i], rho[i], eps[i], w[i])


@njit(cache=True, inline="always")
def _critical_chunk(c, objective, depth, lam, rho, eps, p, asymptotic, levels, out):
    first = c * _CHUNK
    n = min(_CHUNK, lam.shape[0] - first)
    if asymptotic:
        for i in range(first, first + n):
            out[i] = ext.critical_time_asymptotic(objective, depth[i], lam[i], rho[i], eps[i])
    else:
        ext.critical_block(objective, data_ptr(depth), data_ptr(lam), data_ptr(rho), data_ptr(eps),
                           data_ptr(p), data_ptr(levels), first, n, data_ptr(out))


@njit(parallel=True, cache=True)
def critical_time_kernel(objective, depth, lam, rho, eps, p, asymptotic, levels, out):
    """``levels[L]``: precomputed ``F(sigma*)`` per depth, or nan (per-feature ``p``); ``out`` contiguous."""
    dc, lc, rc, ec = _contiguous(depth, lam, rho, eps)
    pc, lv = np.ascontiguousarray(p), np.ascontiguousarray(levels)
    for c in prange((lam.shape[0] + _CHUNK - 1) // _CHUNK):
        _critical_chunk(c, objective, dc, lc, rc, ec, pc, asymptotic, lv, out)


@njit(cache=True)
def critical_time_kernel_serial(objective, depth, lam, rho, eps, p, asymptotic, levels, out):
    dc, lc, rc, ec = _contiguous(depth, lam, rho, eps)
    pc, lv = np.ascontiguousarray(p), np.ascontiguousarray(levels)
    for c in range((lam.shape[0] + _CHUNK - 1) // _CHUNK):
        _critical_chunk(c, objective, dc, lc, rc, ec, pc, asymptotic, lv, out)


@njit(cache=True, inline="always")
def _advance_chunk(c, objective, depth, lam, rho, w, dt, out, status, tab_sigma, tab_dsigma):
    first = c * _CHUNK
    n = min(_CHUNK, lam.shape[0] - first)
    ext.advance_block(objective, data_ptr(depth), data_ptr(lam), data_ptr(rho), data_ptr(w), data_ptr(dt),
                      first, n, data_ptr(out), data_ptr(status), data_ptr(tab_sigma), data_ptr(tab_dsigma))


@njit(parallel=True, cache=True)
def advance_kernel(objective, depth, lam, rho, w, dt, out, status, tab_sigma, tab_dsigma):
    """``out[i]``: the weight ``dt[i]`` after ``w[i]`` (``out`` and ``status`` contiguous)."""
    dc, lc, rc, wc = _contiguous(depth, lam, rho, w)
    dtc = np.ascontiguousarray(dt)
    for c in prange((lam.shape[0] + _CHUNK - 1) // _CHUNK):
        _advance_chunk(c, objective, dc, lc, rc, wc, dtc, out, status, tab_sigma, tab_dsigma)


@njit(cache=True)
def advance_kernel_serial(objective, depth, lam, rho, w, dt, out, status, tab_sigma, tab_dsigma):
    dc, lc, rc, wc = _contiguous(depth, lam, rho, w)
    dtc = np.ascontiguousarray(dt)
    for c in range((lam.shape[0] + _CHUNK - 1) // _CHUNK):
        _advance_chunk(c, objective, dc, lc, rc, wc, dtc, out, status, tab_sigma, tab_dsigma)


# ---------------------------------------------------------------------------
# flow states: each feature's trajectory, stepped by a user's own loop
# ---------------------------------------------------------------------------
#: rows of a flow state (the CPU library's simd::STATE_ROWS: origin, clock, weight, the
#: start's constants and the solver's lower bound)
STATE_ROWS = int(lib.fdh_state_rows())


@njit(cache=True)
def flow_state(objective, depth, lam, rho, w, tab_sigma, tab_dsigma):
    """A flow state at the weights ``w``: an array ``(STATE_ROWS, n)`` for :func:`advance_state`.

    Each feature's trajectory starts at ``w[i]`` (its origin, clock 0): the
    start's constants are computed once here (``depth`` int64 array; ``lam``,
    ``rho``, ``w`` float64, length n; tables from :func:`~._inverse.flow_tables`).
    """
    n = w.shape[0]
    state = np.empty((STATE_ROWS, n))
    dc, lc, rc, wc = _contiguous(depth, lam, rho, w)
    # one call: the library runs the features in blocks itself (a serial loop needs no chunks)
    ext.state_init_block(objective, data_ptr(dc), data_ptr(lc), data_ptr(rc), data_ptr(wc), 0, n,
                         data_ptr(state), n, data_ptr(tab_sigma), data_ptr(tab_dsigma))
    return state


@njit(cache=True)
def advance_state(objective, depth, lam, rho, state, dt, out, status, tab_sigma, tab_dsigma):
    """One step of ``dt[i] >= 0`` for every feature of a flow state, in place.

    ``out[i]`` is the weight at the feature's new clock (the sum of its steps
    since the origin), ``status[i]`` the step's status: the value of the exact
    trajectory from the origin at that clock, bit for bit the trajectory
    kernel's (``fastdyn.trajectory`` at that time), without a restart per step.
    ``state`` is :func:`flow_state`'s array (rows of length n, contiguous);
    ``depth``, ``lam``, ``rho`` the features it was made for.
    """
    n = state.shape[1]
    dc, lc, rc, dtc = _contiguous(depth, lam, rho, dt)
    ext.state_advance_block(objective, data_ptr(dc), data_ptr(lc), data_ptr(rc), data_ptr(state), n,
                            data_ptr(dtc), 0, n, data_ptr(out), data_ptr(status), data_ptr(tab_sigma),
                            data_ptr(tab_dsigma))


# elementwise kernels: serial (memory bound, no thread pool needed)
@njit(cache=True)
def fixed_point_kernel(objective, depth, rho, out):
    for i in range(rho.shape[0]):
        out[i] = ext.fixed_point(objective, depth[i], rho[i])


@njit(cache=True)
def rhs_kernel(objective, depth, w, lam, rho, out):
    for i in range(w.shape[0]):
        out[i] = ext.rhs(objective, depth[i], w[i], lam[i], rho[i])
