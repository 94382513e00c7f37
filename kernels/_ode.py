"""Adaptive Dormand-Prince 5(4) integration of the per-feature ODE: the CPU kernels.

The integrator is C++ (``kernels/cuda/ode.h``, which derives every choice:
phase variables in which the plateau is nearly linear and the approach to the
fixed point is not stiff, error control as a time shift, collapse of what the
precision cannot resolve, dense output and the crossing event).  It knows
nothing of the closed form.  The kernels below are ``prange`` loops, one
feature per iteration, each with its own step size and status, that call the
CPU library's per-feature functions by symbol (:mod:`._lib`); the GPU runs the
same functions one thread per feature (``kernels/cuda/ode_kernels.cu``).

float64 kernels take float64 arrays; the ``_f32`` kernels take float32 arrays
(``t``, ``lam``, ``rho``, ``eps``, ``p`` and the outputs) and run the float32
instantiation of the same code, the GPU's ``dtype=float32`` path: it never
computes in double (accuracy: README, "float32").  ``depth`` is int64,
``status`` int8, ``nsteps`` int64 (accepted plus rejected steps) in both.

Statuses: SUCCESS, MAX_STEPS (budget ``max_steps`` of accepted plus rejected
steps exhausted), NON_FINITE (the state left the floating-point range and the
step could not be shrunk further) or NO_CONVERGENCE (the error control asked
for a step below the resolution of t); a failed row holds NaN from the
failure on.  Kernels never raise.
"""

import numpy as np
from numba import prange

from ._jit import njit
from ._lib import data_ptr, ext, ptr_at


@njit(parallel=True, cache=True, error_model="numpy")
def ode_trajectory_kernel(t_out, objective, depth, lam, rho, eps, rtol, max_steps,
                          w_out, status, nsteps):
    """``w_out[i, :] = w_i(t_out)`` by adaptive DP5(4), one feature per iteration."""
    tc = np.ascontiguousarray(t_out)
    for i in prange(lam.shape[0]):
        status[i] = ext.ode_trajectory_row(tc.shape[0], data_ptr(tc), objective, depth[i], lam[i],
                                           rho[i], eps[i], rtol, max_steps, ptr_at(w_out, i),
                                           w_out.strides[1] // w_out.itemsize,
                                           ptr_at(nsteps, i))


@njit(parallel=True, cache=True, error_model="numpy")
def ode_trajectory_kernel_f32(t_out, objective, depth, lam, rho, eps, rtol, max_steps,
                              w_out, status, nsteps):
    """:func:`ode_trajectory_kernel` in float32 (float32 ``t_out``, ``lam``, ``rho``, ``eps``, ``w_out``)."""
    tc = np.ascontiguousarray(t_out)
    rt = np.float32(rtol)
    for i in prange(lam.shape[0]):
        status[i] = ext.ode_trajectory_row_f32(tc.shape[0], data_ptr(tc), objective, depth[i],
                                               lam[i], rho[i], eps[i], rt, max_steps,
                                               ptr_at(w_out, i),
                                               w_out.strides[1] // w_out.itemsize,
                                               ptr_at(nsteps, i))


@njit(parallel=True, cache=True, error_model="numpy")
def ode_crossing_kernel(objective, depth, lam, rho, eps, p, rtol, max_steps,
                        t_cross, status, nsteps):
    """Critical time ``t*`` (first ``w >= p w(inf)``) by adaptive DP5(4).

    0 when the feature starts at or above the level (every decaying
    feature); ``inf`` with SUCCESS when the crossing lies beyond the largest
    float64.  A failed feature has ``t_cross`` NaN and a non-SUCCESS status.
    """
    for i in prange(lam.shape[0]):
        t_cross[i] = ext.ode_crossing(objective, depth[i], lam[i], rho[i], eps[i], p[i], rtol,
                                      max_steps, ptr_at(status, i), ptr_at(nsteps, i))


@njit(parallel=True, cache=True, error_model="numpy")
def ode_crossing_kernel_f32(objective, depth, lam, rho, eps, p, rtol, max_steps,
                            t_cross, status, nsteps):
    """:func:`ode_crossing_kernel` in float32 (float32 ``lam``, ``rho``, ``eps``, ``p``, ``t_cross``)."""
    rt = np.float32(rtol)
    for i in prange(lam.shape[0]):
        t_cross[i] = ext.ode_crossing_f32(objective, depth[i], lam[i], rho[i], eps[i], p[i], rt,
                                          max_steps, ptr_at(status, i), ptr_at(nsteps, i))
