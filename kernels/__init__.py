"""fastdyn's compiled layer (installed as ``fastdyn.kernels``).

The per-feature math is C++ (``kernels/cuda/*.h``, the one source of both
backends): the GPU compiles it with NVRTC, and the package build compiles it
into fastdyn's CPU library, whose functions the Numba kernels call by symbol.

The scalar functions below are Numba ``@njit`` functions without allocation
that call that library: call them from your own ``@njit`` code (plain or
``cache=True``) to embed the per-feature dynamics in a larger simulation; they
compile into your function's machine code.  ``objective`` is the integer
:data:`JEPA` (0) or :data:`MAE` (1); ``depth`` an integer in 1..64; other
numbers are converted to float64.  Inputs are not validated here (the public
NumPy API does that): pass positive finite floats inside the documented domain.

Examples
--------
>>> from numba import njit
>>> from fastdyn.kernels import JEPA, advance_weight, rhs
>>> @njit
... def euler_vs_exact(w, lam, rho, dt):
...     w_exact, status = advance_weight(JEPA, 3, lam, rho, w, dt)
...     return w + dt * rhs(JEPA, 3, w, lam, rho), w_exact
>>> euler, exact = euler_vs_exact(0.1, 1.0, 0.8, 1e-3)

A time loop over many features at the array kernels' per-feature cost:

>>> import numpy as np
>>> from fastdyn.kernels import advance_batch, flow_tables
>>> @njit
... def simulate(w, lam, rho, depth, dt, steps, tab_s, tab_d):
...     status = np.zeros(w.shape[0], dtype=np.int8)
...     for _ in range(steps):
...         advance_batch(JEPA, depth, lam, rho, w, dt, w, status, tab_s, tab_d)
...     return w, status
>>> n = 100
>>> depth = np.full(n, 3, dtype=np.int64)
>>> tab_s, tab_d = flow_tables(JEPA, 3, 3)
>>> w, status = simulate(np.full(n, 1e-3), np.ones(n), np.full(n, 0.8), depth,
...                      np.full(n, 0.1), 50, tab_s, tab_d)

Functions
---------
rhs(objective, depth, w, lam, rho)
    ``dw/dt`` of eq. 7 (JEPA) / eq. 8 (MAE).
fixed_point(objective, depth, rho)
    Corollary 3.3.
advance_weight(objective, depth, lam, rho, w, dt) -> (w_new, status)
    Exact flow map over a time ``dt >= 0``.
advance_batch(objective, depth, lam, rho, w, dt, out, status, tab_sigma, tab_dsigma)
    The exact flow map over arrays (serially, blocks of features in vector
    registers), at the kernel's per-feature cost: ``out[i], status[i]`` from
    ``w[i]`` a time ``dt[i]`` later (``depth`` int64 array; ``out`` may be
    ``w``).  The same values as :func:`fastdyn.advance`, to the bit.  ``tab_sigma, tab_dsigma`` come from
    :func:`flow_tables`, called once outside the ``@njit`` code.
flow_state(objective, depth, lam, rho, w, tab_sigma, tab_dsigma) -> state
    A flow state: each feature's trajectory from ``w[i]`` (its origin, clock
    0), its start computed once; an array ``(STATE_ROWS, n)``.
advance_state(objective, depth, lam, rho, state, dt, out, status, tab_sigma, tab_dsigma)
    One step of ``dt[i] >= 0`` per feature of a flow state, in place: the clock
    advances by ``dt`` and ``out[i]`` is the exact trajectory from the origin at
    the clock, bit for bit ``fastdyn.trajectory``'s value at that time (each
    step is one solve, without ``advance_batch``'s restart from the weight: the
    cheaper time loop, and no rounding carried from step to step).
advance_weight_tabulated(objective, depth, lam, rho, w, dt, tab_sigma, tab_dsigma)
    The scalar flow map with the tables: ``(w_new, status)``; equal to
    :func:`fastdyn.advance` to rounding (1e-12 relative: the scalar solver
    against the array kernels' vector math).
flow_tables(objective, depth_lo, depth_hi) -> (tab_sigma, tab_dsigma)
    Plain Python: the inverse tables (built once per process and depth) that
    seed the flow map's root find; pass them into your ``@njit`` function.
time_between(objective, depth, lam, rho, w0, w1)
    Exact time to go from ``w0`` to ``w1`` (``inf`` if never).
critical_time_exact(objective, depth, lam, rho, eps, p)
    Eq. 11, exact.
critical_time_asymptotic(objective, depth, lam, rho, eps)
    Eq. 12 / eq. 13 / eq. 121.
gd_steps(objective, depth, lam, rho, lr, momentum, a, v, b, steps) -> (w, status)
    Gradient descent at a finite learning rate on one feature's aligned state
    (``a``, ``b``: layer values, ``v``: a one-element array), in place; the
    recursion of :func:`fastdyn.gd_trajectory` (``objective`` 2 is jepa-ema).
"""

from ._exact import advance_kernel_serial as advance_batch
from ._exact import (
    STATE_ROWS,
    advance_state,
    advance_weight,
    advance_weight_tabulated,
    critical_time_asymptotic,
    critical_time_exact,
    flow_state,
    time_between,
)
from ._gd import gd_steps
from ._inverse import flow_tables
from ._constants import DIVERGED, JEPA_EMA, OSCILLATED
from ._family import (
    JEPA,
    MAE,
    MAX_STEPS,
    NO_CONVERGENCE,
    NON_FINITE,
    SUCCESS,
    fixed_point,
    rhs,
)

__all__ = [
    "JEPA",
    "MAE",
    "SUCCESS",
    "MAX_STEPS",
    "NON_FINITE",
    "NO_CONVERGENCE",
    "rhs",
    "fixed_point",
    "advance_weight",
    "advance_weight_tabulated",
    "advance_batch",
    "flow_state",
    "advance_state",
    "STATE_ROWS",
    "flow_tables",
    "time_between",
    "critical_time_exact",
    "critical_time_asymptotic",
    "gd_steps",
    "JEPA_EMA",
    "DIVERGED",
    "OSCILLATED",
]
