"""Scalar layer: the one-parameter family that holds both per-feature ODEs.

Both eq. 7 (JEPA) and eq. 8 (MAE) are ``dw/dt = lam * (w**a - w**3 / rho)`` with
``a = 3 - 1/L`` (JEPA) or ``a = 2 - 1/L`` (MAE).  Writing ``b = 3 - a`` and

    psi = w**b / rho,   q = 2 / b,   K = b * lam * rho**(q - 1)

turns every member into ``dpsi/dt = K psi**q (1 - psi)`` whose fixed point is
``psi = 1`` (MATH.md, "One family, one change of variable").

The compiled code never stores ``psi`` itself: near the fixed point ``1 - psi``
underflows relative to 1.  It carries ``lp = log(psi)`` and the state variable

    sigma = log(psi / |1 - psi|)

(the logit of psi below the fixed point, the "co-logit" above it).  In sigma the
dynamics of both branches read ``dsigma/dt = K * psi**(q - 1)``: sigma grows
linearly once the weight has converged, so neither the closed form nor an
explicit integrator sees the stiffness of the approach to the fixed point.

Everything here is a scalar ``@njit`` function without allocation; users may
call them from their own ``@njit`` code.  ``objective`` is the integer code
``JEPA`` (0) or ``MAE`` (1); ``depth`` is the integer ``L >= 1``.
"""

import math

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

_LOG2 = math.log(2.0)


@njit(cache=True)
def family_b(objective, depth):
    """Exponent ``b = 3 - a``: ``1/L`` (JEPA) or ``(L + 1)/L`` (MAE)."""
    if objective == JEPA:
        return 1.0 / depth
    return (depth + 1.0) / depth


@njit(cache=True)
def family_q(objective, depth):
    """Exponent ``q = 2/b``: ``2L`` (JEPA) or ``2L/(L + 1)`` (MAE)."""
    if objective == JEPA:
        return 2.0 * depth
    return 2.0 * depth / (depth + 1.0)


@njit(cache=True)
def log_rate(objective, depth, lam, rho):
    """``log K`` with ``K = b * lam * rho**(q - 1)``, formed in logarithms.

    For JEPA at depth 64 ``rho**127`` over- or underflows float64 for rho far
    from 1 while every time that results may still be representable.
    """
    b = family_b(objective, depth)
    q = family_q(objective, depth)
    log_rho_pow = (q - 1.0) * math.log(rho)
    if abs(log_rho_pow) < 600.0:
        # a few ulps; the sum of logarithms below carries (q-1)|log rho| ulps
        return math.log(b * lam * rho ** (q - 1.0))
    return math.log(b) + math.log(lam) + log_rho_pow


@njit(cache=True)
def log_psi_of_w(objective, depth, w, rho):
    """``log(psi) = b log(w) - log(rho)``."""
    return family_b(objective, depth) * math.log(w) - math.log(rho)


@njit(cache=True)
def w_of_log_psi(objective, depth, lp, rho):
    """Inverse of :func:`log_psi_of_w`: ``w = (rho psi)**(1/b) = w* psi**(1/b)``.

    Formed as ``fixed_point * exp(lp / b)``: the rounding of ``log w*`` (up to
    |log w*| ulps) is then a factor shared with :func:`fixed_point`, and the
    weight is accurate relative to its fixed point.
    """
    b = family_b(objective, depth)
    return math.exp(math.log(rho) / b) * math.exp(lp / b)


@njit(cache=True)
def branch_of_log_psi(lp):
    """GROWTH below the fixed point, DECAY above it, AT_FIXED on it."""
    if lp < 0.0:
        return GROWTH
    if lp > 0.0:
        return DECAY
    return AT_FIXED


@njit(cache=True)
def sigma_of_log_psi(lp):
    """``sigma = log(psi / |1 - psi|)`` from ``lp = log(psi)``, without cancellation.

    ``|1 - psi| = |expm1(lp)|`` keeps full relative accuracy when psi is close
    to 1, where ``1 - psi`` itself would be lost.  Returns +inf at ``lp == 0``.
    """
    if lp == 0.0:
        return math.inf
    if lp < 0.0:
        # growth: sigma = lp - log(1 - psi); an absolute error of a few ulps is harmless
        # here (F has no singularity at finite sigma on this branch)
        return lp - math.log(-math.expm1(lp))
    # decay: sigma = -log(1 - 1/psi) -> 0 as psi -> inf, where F ~ sigma^q/q needs
    # sigma to full *relative* accuracy: never subtract lp - log(psi - 1)
    if lp > _LOG2:
        return -math.log1p(-math.exp(-lp))
    return -math.log(-math.expm1(-lp))


@njit(cache=True)
def log_psi_of_sigma(sigma, branch):
    """Inverse of :func:`sigma_of_log_psi` on the given branch.

    Growth: ``psi = 1/(1 + e^-sigma)``; decay (``sigma > 0``): ``psi = 1/(1 - e^-sigma)``.
    """
    if branch == GROWTH:
        if sigma >= 0.0:
            return -math.log1p(math.exp(-sigma))
        # e^-sigma large: log(1 + e^-s) = -s + log1p(e^s)
        return sigma - math.log1p(math.exp(sigma))
    if branch == DECAY:
        if sigma > _LOG2:
            return -math.log1p(-math.exp(-sigma))
        return -math.log(-math.expm1(-sigma))
    return 0.0


@njit(cache=True)
def rhs(objective, depth, w, lam, rho):
    """Right-hand side of eq. 7 (JEPA) / eq. 8 (MAE) at weight ``w``.

    ``lam * w**a * (1 - psi)``: the factor ``1 - psi = -expm1(log psi)`` keeps
    the right-hand side accurate (not a difference of two large powers) near
    the fixed point, and the power is formed in logarithms so that it
    overflows only where the true value does.
    """
    b = family_b(objective, depth)
    a = 3.0 - b
    lp = b * math.log(w) - math.log(rho)
    one_minus_psi = -math.expm1(lp)
    if one_minus_psi == 0.0:
        return 0.0
    mag = math.exp(math.log(lam) + a * math.log(w) + math.log(abs(one_minus_psi)))
    return mag if one_minus_psi > 0.0 else -mag


@njit(cache=True)
def fixed_point(objective, depth, rho):
    """Corollary 3.3: ``rho**L`` (JEPA), ``rho**(L/(L + 1))`` (MAE)."""
    return math.exp(math.log(rho) / family_b(objective, depth))

