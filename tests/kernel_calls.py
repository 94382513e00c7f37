"""The host kernels called directly, without the API's validation.

For tests of the per-feature math beyond the public domain (eps = 1e-300,
lam = 1e-12...): the public functions refuse such inputs, the kernels must
still behave (finite values, statuses).  Arguments are scalars or arrays that
broadcast; ``objective`` is the kernel code.
"""

from __future__ import annotations

import numpy as np

from fastdyn.kernels import _exact, _inverse, _ode


def _features(*xs):
    arrays = np.broadcast_arrays(*[np.asarray(x) for x in xs])
    return [np.ascontiguousarray(a, dtype=np.int64 if i == 0 else np.float64).reshape(-1)
            for i, a in enumerate(arrays)]


def exact_trajectory(t, objective, depth, lam, rho, eps):
    """``(w (n, T), status (n,))`` of the exact trajectory kernel."""
    t = np.asarray(t, dtype=np.float64)
    d, lam, rho, eps = _features(depth, lam, rho, eps)
    out, status = np.empty((d.size, t.size)), np.zeros(d.size, dtype=np.int8)
    _exact.trajectory_kernel_serial(t, objective, d, lam, rho, eps, out, status,
                                    *_inverse.tables_for(objective, d))
    return out, status


def exact_critical_time(objective, depth, lam, rho, eps, p=0.5, asymptotic=False):
    d, lam, rho, eps, p = _features(depth, lam, rho, eps, p)
    out = np.empty(d.size)
    _exact.critical_time_kernel_serial(objective, d, lam, rho, eps, p, asymptotic,
                                       np.full(65, np.nan), out)
    return out


def ode_trajectory(t, objective, depth, lam, rho, eps, rtol, max_steps=100_000):
    """``(w (n, T), status (n,))`` of the adaptive integrator's trajectory kernel."""
    t = np.asarray(t, dtype=np.float64)
    d, lam, rho, eps = _features(depth, lam, rho, eps)
    out, status = np.empty((d.size, t.size)), np.zeros(d.size, dtype=np.int8)
    _ode.ode_trajectory_kernel(t, objective, d, lam, rho, eps, rtol, max_steps, out, status,
                               np.zeros(d.size, dtype=np.int64))
    return out, status
