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

Functions
---------
rhs(objective, depth, w, lam, rho)
    ``dw/dt`` of eq. 7 (JEPA) / eq. 8 (MAE).
fixed_point(objective, depth, rho)
    Corollary 3.3.
advance_weight(objective, depth, lam, rho, w, dt) -> (w_new, status)
    Exact flow map over a time ``dt >= 0``.
time_between(objective, depth, lam, rho, w0, w1)
    Exact time to go from ``w0`` to ``w1`` (``inf`` if never).
critical_time_exact(objective, depth, lam, rho, eps, p)
    Eq. 11, exact.
critical_time_asymptotic(objective, depth, lam, rho, eps)
    Eq. 12 / eq. 13 / eq. 121.
"""

from ._exact import (
    advance_weight,
    critical_time_asymptotic,
    critical_time_exact,
    time_between,
)
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
    "time_between",
    "critical_time_exact",
    "critical_time_asymptotic",
]
