"""The one-parameter family that holds both per-feature ODEs: its scalar functions.

Both eq. 7 (JEPA) and eq. 8 (MAE) are ``dw/dt = lam * (w**a - w**3 / rho)`` with
``a = 3 - 1/L`` (JEPA) or ``a = 2 - 1/L`` (MAE).  Writing ``b = 3 - a`` and

    psi = w**b / rho,   q = 2 / b,   K = b * lam * rho**(q - 1)

turns every member into ``dpsi/dt = K psi**q (1 - psi)`` whose fixed point is
``psi = 1`` (MATH.md, "One family, one change of variable").  The math is
C++ (``kernels/cuda/family.h``, the only definition); the functions below
call the CPU library by symbol and may be called from users' own ``@njit``
code.  ``objective`` is the integer code ``JEPA`` (0) or ``MAE`` (1);
``depth`` is the integer ``L`` in 1..64.
"""

from ._constants import (  # noqa: F401  (re-exported: the kernels' names of the constants)
    AT_FIXED,
    DECAY,
    GROWTH,
    JEPA,
    MAE,
    MAX_STEPS,
    NO_CONVERGENCE,
    NON_FINITE,
    SUCCESS,
)
from ._jit import njit
from ._lib import ext


@njit(cache=True)
def rhs(objective, depth, w, lam, rho):
    """Right-hand side ``dw/dt`` of eq. 7 (JEPA) / eq. 8 (MAE) at weight ``w``.

    Formed as ``lam w**a (1 - psi)`` with ``1 - psi = -expm1(log psi)`` and the
    power in logarithms: exactly zero at the fixed point, accurate near it.
    """
    return ext.rhs(objective, depth, w, lam, rho)


@njit(cache=True)
def fixed_point(objective, depth, rho):
    """Corollary 3.3: ``rho**L`` (JEPA), ``rho**(L/(L+1))`` (MAE)."""
    return ext.fixed_point(objective, depth, rho)
