"""Finite-learning-rate gradient descent per feature: the CPU kernel.

The recursion (population gradient descent on eq. 5 for diagonal data and an
aligned network: every layer, the predictor/decoder and the EMA target
diagonal in the data's basis) is C++ (``kernels/cuda/gd.h``, the only
definition, with its derivation); the kernel below is a ``prange`` loop, one
feature per iteration, that calls the CPU library's per-feature function by
symbol (:mod:`._lib`).  Kernels never raise: every feature gets a status
(SUCCESS, OSCILLATED or DIVERGED, ``_constants``).
"""

import numpy as np
from numba import prange

from ._jit import njit
from ._lib import data_ptr, ext, lib, ptr_at


#: features per call of the C library's lockstep recursion (gd.h's LANES)
LANES = int(lib.fdh_gd_lanes())


@njit(cache=True, error_model="numpy", inline="always")
def _lockstep(depth, i0, i1):
    """Whether features ``i0 .. i1`` form a whole block of LANES features of one depth."""
    if i1 - i0 != LANES:
        return False
    for i in range(i0 + 1, i1):
        if depth[i] != depth[i0]:
            return False
    return True


@njit(cache=True, error_model="numpy", inline="always")
def _gd_block(objective, depth, lam, rho, lr, momentum, a, v, b, rc, w_out, status, i0, i1):
    """Features ``i0 .. i1``: LANES of one depth in lockstep where they share it, else one by one."""
    if _lockstep(depth, i0, i1):
        ext.gd_rows_lanes(objective, depth[i0], ptr_at(lam, i0), ptr_at(rho, i0), ptr_at(lr, i0),
                          ptr_at(momentum, i0), ptr_at(a, i0), ptr_at(v, i0), ptr_at(b, i0),
                          a.strides[0] // a.itemsize, rc.shape[0], data_ptr(rc), ptr_at(w_out, i0),
                          w_out.strides[0] // w_out.itemsize, w_out.strides[1] // w_out.itemsize,
                          ptr_at(status, i0))
        return
    for i in range(i0, i1):
        status[i] = ext.gd_row(objective, depth[i], lam[i], rho[i], lr[i], momentum[i],
                               ptr_at(a, i), ptr_at(v, i), ptr_at(b, i), rc.shape[0], data_ptr(rc),
                               ptr_at(w_out, i), w_out.strides[1] // w_out.itemsize)


@njit(parallel=True, cache=True, error_model="numpy")
def gd_kernel(objective, depth, lam, rho, lr, momentum, a, v, b, rec, w_out, status):
    """``w_out[i, j]``: ``|prod_l a_l|`` of feature ``i`` before step ``rec[j]``.

    ``a`` (n, L) and ``b`` (n, L) C-contiguous, ``v`` (n,): the initial state,
    overwritten with the state at the last recorded step (``b`` is not read
    unless ``objective`` is jepa-ema; pass ``a`` again).  ``rec``: int64,
    non-decreasing, >= 0.  Blocks of LANES features of one depth run in lockstep
    (bit-identical to one at a time); the inputs are contiguous (lam, rho, lr,
    momentum, v, status: stride one element).
    """
    rc = np.ascontiguousarray(rec)
    n = lam.shape[0]
    for blk in prange((n + LANES - 1) // LANES):
        i0 = blk * LANES
        _gd_block(objective, depth, lam, rho, lr, momentum, a, v, b, rc, w_out, status, i0,
                  min(n, i0 + LANES))


@njit(cache=True, error_model="numpy")
def gd_kernel_serial(objective, depth, lam, rho, lr, momentum, a, v, b, rec, w_out, status):
    """:func:`gd_kernel` without threads (small problems)."""
    rc = np.ascontiguousarray(rec)
    n = lam.shape[0]
    for blk in range((n + LANES - 1) // LANES):
        i0 = blk * LANES
        _gd_block(objective, depth, lam, rho, lr, momentum, a, v, b, rc, w_out, status, i0,
                  min(n, i0 + LANES))


@njit(cache=True, error_model="numpy", inline="always")
def _crossing_block(objective, depth, lam, rho, lr, momentum, a, v, b, p, max_steps, out, status,
                    i0, i1):
    """Features ``i0 .. i1``: LANES of one depth in lockstep where they share it, else one by one."""
    if _lockstep(depth, i0, i1):
        ext.gd_crossing_lanes(objective, depth[i0], ptr_at(lam, i0), ptr_at(rho, i0),
                              ptr_at(lr, i0), ptr_at(momentum, i0), ptr_at(a, i0), ptr_at(v, i0),
                              ptr_at(b, i0), a.strides[0] // a.itemsize, ptr_at(p, i0), max_steps,
                              ptr_at(out, i0), ptr_at(status, i0))
        return
    for i in range(i0, i1):
        status[i] = ext.gd_crossing(objective, depth[i], lam[i], rho[i], lr[i], momentum[i],
                                    ptr_at(a, i), ptr_at(v, i), ptr_at(b, i), p[i], max_steps,
                                    ptr_at(out, i))


@njit(parallel=True, cache=True, error_model="numpy")
def gd_crossing_kernel(objective, depth, lam, rho, lr, momentum, a, v, b, p, max_steps, out, status):
    """``out[i]``: the first step at which ``w`` reaches ``p[i]`` times its flow limit
    (NaN with status MAX_STEPS or DIVERGED); the state is advanced in place.  Blocks of
    LANES features of one depth run in lockstep (bit-identical to one at a time)."""
    n = lam.shape[0]
    for blk in prange((n + LANES - 1) // LANES):
        i0 = blk * LANES
        _crossing_block(objective, depth, lam, rho, lr, momentum, a, v, b, p, max_steps, out,
                        status, i0, min(n, i0 + LANES))


@njit(cache=True, error_model="numpy")
def gd_crossing_kernel_serial(objective, depth, lam, rho, lr, momentum, a, v, b, p, max_steps, out,
                              status):
    """:func:`gd_crossing_kernel` without threads."""
    n = lam.shape[0]
    for blk in range((n + LANES - 1) // LANES):
        i0 = blk * LANES
        _crossing_block(objective, depth, lam, rho, lr, momentum, a, v, b, p, max_steps, out,
                        status, i0, min(n, i0 + LANES))


@njit(cache=True, error_model="numpy")
def gd_steps(objective, depth, lam, rho, lr, momentum, a, v, b, steps):
    """Advance one feature's aligned state by ``steps`` gradient-descent steps, in place.

    For users' own ``@njit`` code (no validation): ``a`` and ``b`` float64 arrays of
    ``depth`` layer values (``b``, the EMA target, is read only for jepa-ema: pass
    ``a`` again otherwise), ``v`` a one-element float64 array (the predictor/decoder).
    Returns ``(w, status)``: ``|prod a|`` after the steps (NaN if it diverged) and
    SUCCESS, OSCILLATED or DIVERGED; the same recursion as ``fastdyn.gd_trajectory``.
    """
    rec = np.full(1, steps, dtype=np.int64)
    w = np.empty(1)
    status = ext.gd_row(objective, depth, lam, rho, lr, momentum, data_ptr(a), data_ptr(v),
                        data_ptr(b), 1, data_ptr(rec), data_ptr(w), 1)
    return w[0], status


@njit(parallel=True, cache=True, error_model="numpy")
def flow_kernel(t, objective, depth, lam, rho, a, v, rtol, max_steps, w_out, status, nsteps):
    """``w_out[i, j]``: gradient flow of feature ``i`` from its aligned state (``a`` (n, L),
    ``v`` (n,)) at the ODE times ``t`` (``kernels/cuda/flow.h``)."""
    tc = np.ascontiguousarray(t)
    for i in prange(lam.shape[0]):
        status[i] = ext.flow_trajectory_row(objective, depth[i], lam[i], rho[i], ptr_at(a, i), v[i],
                                            tc.shape[0], data_ptr(tc), rtol, max_steps,
                                            ptr_at(w_out, i), w_out.strides[1] // w_out.itemsize,
                                            ptr_at(nsteps, i))


@njit(parallel=True, cache=True, error_model="numpy")
def stable_lr_kernel(objective, depth, lam, rho, momentum, out):
    """``out[i]``: the largest stable learning rate of feature ``i`` at the balanced fixed
    point (``gd::stable_lr`` of ``kernels/cuda/gd.h``: +inf beyond float64, 0 below)."""
    for i in prange(lam.shape[0]):
        out[i] = ext.gd_stable_lr(objective, depth[i], lam[i], rho[i], momentum[i])


@njit(cache=True, error_model="numpy")
def stable_lr_kernel_serial(objective, depth, lam, rho, momentum, out):
    """:func:`stable_lr_kernel` without threads."""
    for i in range(lam.shape[0]):
        out[i] = ext.gd_stable_lr(objective, depth[i], lam[i], rho[i], momentum[i])


@njit(parallel=True, cache=True, error_model="numpy")
def flow_ema_kernel(t, depth, lam, rho, ema_time, a, v, b, rtol, max_steps, w_out, status, nsteps):
    """``w_out[i, j]``: jepa-ema gradient flow of feature ``i`` from its aligned state (``a``
    (n, L), ``v`` (n,)) and target ``b`` (n, L), target lag ``ema_time[i]`` in ODE time, at
    the ODE times ``t`` (``kernels/cuda/flow.h``, ema_trajectory_feature)."""
    tc = np.ascontiguousarray(t)
    for i in prange(lam.shape[0]):
        status[i] = ext.flow_ema_trajectory_row(depth[i], lam[i], rho[i], ptr_at(a, i), v[i],
                                                ptr_at(b, i), ema_time[i], tc.shape[0], data_ptr(tc),
                                                rtol, max_steps, ptr_at(w_out, i),
                                                w_out.strides[1] // w_out.itemsize, ptr_at(nsteps, i))
