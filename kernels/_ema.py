"""Adaptive Dormand-Prince 5(4) integration of the two-state JEPA-EMA system (CPU, Numba).

Per feature (derivation below): the online end-to-end weight ``w``
and the target's ``w_tgt`` obey, in the ODE time ``t = L tau`` of eq. 7,

    dw/dt     = lam * w_tgt * w**(2 - 1/L) - lam/rho * w**3
    dw_tgt/dt = (L / E) * w_tgt * ((w / w_tgt)**(1/L) - 1)

with ``E = ema_time >= 0`` (``fastdyn.train.ema_time``); ``w_tgt = w`` gives
eq. 7, and ``E = 0`` forces it.  The integrator works with the per-layer
logarithms ``x = log(w) / L``, ``y = log(w_tgt) / L`` (every layer of a
balanced network is ``e^x``), in which nothing over- or underflows and the
weights are positive by construction:

    dx/dt = (lam/L) e^(L y + (L-1) x) * (1 - e^((L+1) x - L y - log rho))
    dy/dt = (1/E) * expm1(x - y)

The fixed point is ``x = y = log(rho)`` (``w = rho**L``, as for JEPA); its
Jacobian in ``(x, y)`` is ``[[-k (L+1), k L], [1/E, -1/E]]``, ``k = lam
rho**(2L-1) / L``, with real negative eigenvalues (a stable node): once both
``|x - log rho|`` and ``|y - log rho|`` are below ``LINEAR_TAIL`` the rest of
the trajectory is the exact solution of the linearisation (error ``O(dev^2)``,
below float64 rounding), so arbitrarily late output times cost nothing.

Step control: the local error estimate of ``L x`` and ``L y`` (relative
errors of ``w`` and ``w_tgt``) must be below ``rtol``; I controller (exponent
1/5), safety 0.9, factor in [0.2, 10].  The target equation relaxes at rate
``1/E``, so explicit steps are at most ``~3.3 E`` long: integrating to ``t``
costs at least ``t / (3.3 E)`` steps.  For the ODE time of a training run of
``k`` steps with momentum ``m`` that is ``k (1 - m) / (3.3 m)``, a fraction of
the run itself.

Derivation (not in the paper; checked against the full-matrix trainer).
Under assumption 3.1 every online layer of feature i is ``u(t)`` times a
fixed orthogonal frame and the predictor ``v = u`` (balance with the layers
is conserved since ``V(0) = eps^(1/L) I``); target layers updated as
``T_a <- m T_a + (1 - m) W_a`` after each step keep the same frame and are
all ``theta`` (they start as a copy).  The per-feature JEPA loss
``1/2 (sigma^2 v^2 u^(2L) - 2 lam v u^L theta^L + ...)``, ``sigma^2 =
lam/rho``, gives in ``tau = lr k``

    du/dtau = lam theta^L u^L - sigma^2 u^(2L+1).

The EMA ``theta_{k+1} - theta_k = (1 - m)(u_{k+1} - theta_k)`` lags a target
moving by ``Delta`` per step by ``m Delta / (1 - m)``, i.e. by ``lr m/(1 - m)``
in ``tau``; keeping that lag, ``dtheta/dtau = (u - theta) / (lr m / (1 - m))``.
With ``w = u^L``, ``w_tgt = theta^L``, ``t = L tau`` this is the system above
with ``E = L lr m / (1 - m)`` (``fastdyn.train.ema_time``).  ``w_tgt = w``
gives eq. 7; ``m = 0`` (``E = 0``) forces it, as in the discrete trainer,
where ``m = 0`` makes the target equal the online weights at every step.
Checks (tests/test_ema.py, tests/test_train.py): the full-matrix EMA trainer
(d = 3, L = 1..3, population GD, ``m = E/(E + L lr)`` at fixed ``E = 2``)
differs from this ODE by ``c lr`` (ratio 2.00 per halving of lr, e.g. L = 2:
5.0e-4, 2.5e-4, 1.26e-4) while eq. 7 itself is off by ~0.1; the kernel
matches an mpmath Taylor solve of ``(w, w_tgt)`` to 1e-9.

Layers: (a) scalar ``@njit`` right-hand side, one DP step, the linear tail;
(b) :func:`integrate_feature`, one feature with its own step size; (c) the
``prange`` kernel :func:`ema_trajectory_kernel`.  Kernels never raise: every
feature gets a ``_family`` status; a failed feature has NaN in its remaining
outputs together with a non-SUCCESS status.
"""

import math

from numba import prange

from ._jit import njit

from . import _tableau
from ._dp5 import (  # the checked tableau entries as scalars
    A21, A31, A32, A41, A42, A43, A51, A52, A53, A54, A61, A62, A63, A64, A65, B1, B3, B4, B5,
    B6, E1, E3, E4, E5, E6, E7, P10, P11, P12, P13, P30, P31, P32, P33, P40, P41, P42, P43,
    P50, P51, P52, P53, P60, P61, P62, P63, P70, P71, P72, P73,
)
from ._family import MAX_STEPS, NO_CONVERGENCE, NON_FINITE, SUCCESS

# Dormand-Prince gives the second stage zero weight in the solution, the error estimate
# and the dense output (it only feeds later stages); the step below relies on it.
if _tableau.B5[1] != 0.0 or _tableau.E[1] != 0.0 or (_tableau.P[1] != 0.0).any():
    raise RuntimeError("kernels._ema expects B5[1] = E[1] = P[1, :] = 0 (Dormand-Prince).")

SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
H0_FRACTION = 0.01   #: first step: this fraction of the time scale 1/max(|dx/dt|, |dy/dt|)
LINEAR_TAIL = 1e-9   #: |deviation| of x, y from log(rho) below which the linearisation is exact


# ---------------------------------------------------------------------------
# (a) scalar layer
# ---------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def ema_rhs(x, y, depth, log_c, log_rho, beta):
    """``(dx/dt, dy/dt)``; ``log_c = log(lam / L)``, ``beta = 1/E`` (inf: ``y = x``)."""
    if beta == math.inf:
        y = x
    a1 = depth * y + (depth - 1.0) * x
    d = (depth + 1.0) * x - depth * y - log_rho          # log of (w / fixed point) balance
    dx = -math.exp(log_c + a1) * math.expm1(d)
    if beta == math.inf:
        return dx, dx
    return dx, beta * math.expm1(x - y)


@njit(cache=True, error_model="numpy")
def ema_step(x0, y0, h, kx1, ky1, depth, log_c, log_rho, beta):
    """One DP5(4) step; returns the new state, error estimates and the stages."""
    kx2, ky2 = ema_rhs(x0 + h * A21 * kx1, y0 + h * A21 * ky1, depth, log_c, log_rho, beta)
    kx3, ky3 = ema_rhs(x0 + h * (A31 * kx1 + A32 * kx2), y0 + h * (A31 * ky1 + A32 * ky2),
                       depth, log_c, log_rho, beta)
    kx4, ky4 = ema_rhs(x0 + h * (A41 * kx1 + A42 * kx2 + A43 * kx3),
                       y0 + h * (A41 * ky1 + A42 * ky2 + A43 * ky3), depth, log_c, log_rho, beta)
    kx5, ky5 = ema_rhs(x0 + h * (A51 * kx1 + A52 * kx2 + A53 * kx3 + A54 * kx4),
                       y0 + h * (A51 * ky1 + A52 * ky2 + A53 * ky3 + A54 * ky4),
                       depth, log_c, log_rho, beta)
    kx6, ky6 = ema_rhs(x0 + h * (A61 * kx1 + A62 * kx2 + A63 * kx3 + A64 * kx4 + A65 * kx5),
                       y0 + h * (A61 * ky1 + A62 * ky2 + A63 * ky3 + A64 * ky4 + A65 * ky5),
                       depth, log_c, log_rho, beta)
    x1 = x0 + h * (B1 * kx1 + B3 * kx3 + B4 * kx4 + B5 * kx5 + B6 * kx6)
    y1 = y0 + h * (B1 * ky1 + B3 * ky3 + B4 * ky4 + B5 * ky5 + B6 * ky6)
    kx7, ky7 = ema_rhs(x1, y1, depth, log_c, log_rho, beta)
    ex = h * (E1 * kx1 + E3 * kx3 + E4 * kx4 + E5 * kx5 + E6 * kx6 + E7 * kx7)
    ey = h * (E1 * ky1 + E3 * ky3 + E4 * ky4 + E5 * ky5 + E6 * ky6 + E7 * ky7)
    return (x1, y1, ex, ey, kx3, kx4, kx5, kx6, kx7, ky3, ky4, ky5, ky6, ky7)


@njit(cache=True, error_model="numpy")
def dense(z0, h, k1, k3, k4, k5, k6, k7, theta):
    """Shampine's quartic interpolant at ``theta`` in [0, 1] (k2 has zero weight)."""
    q0 = P10 * k1 + P30 * k3 + P40 * k4 + P50 * k5 + P60 * k6 + P70 * k7
    q1 = P11 * k1 + P31 * k3 + P41 * k4 + P51 * k5 + P61 * k6 + P71 * k7
    q2 = P12 * k1 + P32 * k3 + P42 * k4 + P52 * k5 + P62 * k6 + P72 * k7
    q3 = P13 * k1 + P33 * k3 + P43 * k4 + P53 * k5 + P63 * k6 + P73 * k7
    return z0 + h * theta * (q0 + theta * (q1 + theta * (q2 + theta * q3)))


@njit(cache=True, error_model="numpy")
def linear_tail(a0, b0, dt, depth, log_k, beta):
    """Deviations ``(a, b)`` of ``(x, y)`` from ``log rho`` after ``dt`` (linearised).

    ``z' = A z``, ``A = [[-k (L+1), k L], [beta, -beta]]``.  Putzer:
    ``exp(A t) = e^(m1 t) I + D (A - m1 I)``, ``D = (e^(m1 t) - e^(m2 t)) /
    (m1 - m2)`` written with ``expm1`` (no cancellation), ``m1 > m2`` the
    real eigenvalues.  ``beta = inf`` (``E = 0``): ``b = a``, ``a' = -k a``.
    """
    k = math.exp(log_k)
    if beta == math.inf:
        a = a0 * math.exp(-k * dt)
        return a, a
    tr = -(k * (depth + 1.0) + beta)
    det = k * beta
    disc = math.sqrt((k * (depth + 1.0) - beta) ** 2 + 4.0 * k * beta * depth)
    # m1 = (tr + disc)/2 without cancellation: m1 = 2 det / (tr - disc)
    m2 = 0.5 * (tr - disc)
    m1 = det / m2 if m2 != 0.0 else 0.0
    e1 = math.exp(m1 * dt)
    gap = m1 - m2
    dd = e1 * (-math.expm1(-gap * dt)) / gap if gap > 0.0 else dt * e1
    a = e1 * a0 + dd * ((-k * (depth + 1.0) - m1) * a0 + k * depth * b0)
    b = e1 * b0 + dd * (beta * a0 + (-beta - m1) * b0)
    return a, b


# ---------------------------------------------------------------------------
# (b) one feature
# ---------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def integrate_feature(depth, lam, rho, eps, ema, rtol, max_steps, t_out, w_row, wt_row):
    """Integrate one feature from ``w = w_tgt = eps``; returns ``(status, nsteps)``.

    Writes ``w`` and ``w_tgt`` at every ``t_out[j]`` (non-decreasing, >= 0).
    ``ema = 0`` integrates eq. 7 (``y = x`` exactly).
    """
    n_out = t_out.shape[0]
    fl = float(depth)
    log_c = math.log(lam / fl)
    log_rho = math.log(rho)
    log_k = math.log(lam) + (2.0 * fl - 1.0) * log_rho - math.log(fl)
    beta = math.inf if ema == 0.0 else 1.0 / ema
    x = math.log(eps) / fl
    y = x
    j = 0
    while j < n_out and t_out[j] <= 0.0:
        w_row[j] = eps
        wt_row[j] = eps
        j += 1
    if j == n_out:
        return SUCCESS, 0
    t_stop = t_out[n_out - 1]
    t = 0.0
    kx1, ky1 = ema_rhs(x, y, fl, log_c, log_rho, beta)
    rate = max(abs(kx1), abs(ky1))
    h = H0_FRACTION / rate if rate > 0.0 else t_stop
    nsteps = 0
    rejected = False
    while True:
        a0 = x - log_rho
        b0 = y - log_rho
        if abs(a0) <= LINEAR_TAIL and abs(b0) <= LINEAR_TAIL:
            # the linearisation is exact to rounding from here on
            while j < n_out:
                a, b = linear_tail(a0, b0, t_out[j] - t, fl, log_k, beta)
                w_row[j] = math.exp(fl * (log_rho + a))
                wt_row[j] = math.exp(fl * (log_rho + b))
                j += 1
            return SUCCESS, nsteps
        if nsteps >= max_steps:
            _fail(w_row, wt_row, j)
            return MAX_STEPS, nsteps
        clamped = not (h < t_stop - t)
        if clamped:
            h = t_stop - t
        (x1, y1, ex, ey, kx3, kx4, kx5, kx6, kx7,
         ky3, ky4, ky5, ky6, ky7) = ema_step(x, y, h, kx1, ky1, fl, log_c, log_rho, beta)
        nsteps += 1
        t_new = t_stop if clamped else t + h
        en = fl * max(abs(ex), abs(ey)) / rtol
        if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(kx7)
                and math.isfinite(ky7) and math.isfinite(en)):
            h *= MIN_FACTOR
            rejected = True
            if not (t + h > t):
                _fail(w_row, wt_row, j)
                return NON_FINITE, nsteps
            continue
        if en > 1.0:
            h *= max(MIN_FACTOR, SAFETY * en ** -0.2)
            rejected = True
            if not (t + h > t):
                _fail(w_row, wt_row, j)
                return NO_CONVERGENCE, nsteps
            continue
        while j < n_out and t_out[j] <= t_new:
            if t_out[j] >= t_new:
                xj = x1
                yj = y1
            else:
                theta = min(max((t_out[j] - t) / h, 0.0), 1.0)
                xj = dense(x, h, kx1, kx3, kx4, kx5, kx6, kx7, theta)
                yj = xj if beta == math.inf else dense(y, h, ky1, ky3, ky4, ky5, ky6, ky7, theta)
            w_row[j] = math.exp(fl * xj)
            wt_row[j] = math.exp(fl * yj)
            j += 1
        if j == n_out:
            return SUCCESS, nsteps
        t = t_new
        x = x1
        y = y1
        kx1 = kx7
        ky1 = ky7
        factor = MAX_FACTOR if en == 0.0 else min(MAX_FACTOR, SAFETY * en ** -0.2)
        if rejected:
            factor = min(1.0, factor)
        h *= factor
        rejected = False


@njit(cache=True, error_model="numpy")
def _fail(w_row, wt_row, j):
    for i in range(j, w_row.shape[0]):
        w_row[i] = math.nan
        wt_row[i] = math.nan


# ---------------------------------------------------------------------------
# (c) parallel kernel
# ---------------------------------------------------------------------------
@njit(parallel=True, cache=True, error_model="numpy")
def ema_trajectory_kernel(t_out, depth, lam, rho, eps, ema, rtol, max_steps,
                          w_out, wt_out, status, nsteps):
    """``w_out[i, :]``, ``wt_out[i, :]``: online and target weights at ``t_out``.

    One feature per ``prange`` iteration, each with its own step size.
    ``status[i]``: SUCCESS, MAX_STEPS, NON_FINITE or NO_CONVERGENCE
    (``_family``); ``nsteps[i]``: accepted plus rejected steps.
    """
    n = lam.shape[0]
    for i in prange(n):
        st, ns = integrate_feature(depth[i], lam[i], rho[i], eps[i], ema[i], rtol, max_steps,
                                   t_out, w_out[i], wt_out[i])
        status[i] = st
        nsteps[i] = ns
