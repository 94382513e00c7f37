"""Adaptive Dormand-Prince 5(4) integration of the per-feature ODE (CPU, Numba).

The numerical twin of the closed forms in ``_exact``: it integrates
``dpsi/dt = K psi**q (1 - psi)`` (``_family``) with an explicit embedded pair
and no knowledge of ``G_q``.  Integrating ``w`` itself is hopeless (the
plateau before learning lasts up to ~1e10 time units, the approach to the
fixed point is stiff for explicit steps), so the integration variable changes
with the phase of the dynamics, and every quantity is kept in logarithms so
that nothing over- or underflows on the supported domain.

Persistent state and local variables
------------------------------------
Between steps the state is ``lp = log(psi)`` (its sign is the branch: GROWTH
below the fixed point, DECAY above).  Each step integrates a *local* variable
chosen by the phase, restarted from a fixed value at the start of the step:

* GROW (growth plateau, ``psi < psi_sw``, ``q > 1``): ``z = u/u_n`` with ``u =
  psi**(1-q)/(q-1)`` (the ``U = u/u0`` of the design, rescaled at every step:
  the rescaling is exact because ``dz/dt`` is linear in the scale, and ``z``
  never underflows however deep the plateau).  ``dz/dt = -r_n (1 - psi)``,
  ``log r_n = log K + (q-1) log psi_n + log(q-1)``: in the plateau ``z`` is
  linear in ``t`` up to a relative correction ``psi``, and Runge-Kutta is
  exact on linear functions.
* DECAY (decay branch, ``psi > psi_sw``, ``q > 1``), stepped in log-time.
  For large ``psi`` the flow is ``dpsi/dt ~ -K psi**(q+1)``: ``v = psi**(-q)``
  grows linearly, ``psi ~ (q K t)**(-1/q)``, and the decay from ``psi0``
  spans ``q log(psi0)`` e-folds of time (700 for JEPA at depth 62 starting
  300 times above its fixed point).  A step in ``t`` is at most about ``t``
  (the solution is a power law in ``t``), which cost ~1550 steps there.  In
  ``s = log(tau)``, ``tau = t - t_a + 1/r_a`` (``t_a``, ``r_a = q K
  psi_a**q``: start of the phase), ``y = log(v/v_n)`` moves with slope ``~1 -
  1/psi``: ``dy/ds = exp(s - y + c_n) (1 - 1/psi)``, ``c_n = log(tau_n q K) +
  q lp_n``; ``t`` is explicit in ``s`` (``t - t_n = tau_n expm1(s)``), so
  outputs need no root find.  The gain is bounded: ``y`` relaxes to its
  asymptote ``y ~ s`` at rate 1 in ``s`` (a perturbation of ``v`` stays
  constant while ``v`` grows like ``tau``), which limits explicit steps to
  ``ds ~ 1.4`` at rtol 1e-8: ~860 steps instead of ~1550 in that example,
  ~416 instead of ~624 on average over random JEPA decays (trajectories to
  t = 1e300 on the whole domain), and about the same
  (49 vs 41) for MAE, whose ``q < 2``.
* SIGMA (near the fixed point; always when ``q == 1``, MAE at depth 1):
  ``sigma = log(psi/|1 - psi|)``, ``dsigma/dt = K psi**(q-1)``: near the fixed
  point sigma grows linearly in t, so the stiff tail costs nothing.

GROW carries ``y = z - 1`` (``lp = lp_n - log1p(y)/(q-1)``): a short step is
exact to the last bit instead of losing ``log(1 + tiny)``.  The first stage of
a step is the last of the previous one (FSAL), rescaled with the local
variable (``k1 <- k7/z, r <- r/z`` in GROW; ``c <- c + h - y`` in DECAY).

A plateau phase hands over to SIGMA at the end of the accepted step in which
``psi`` passes ``psi_sw``.  The switch point need not be exact (SIGMA is valid
on the whole branch; the threshold only decides which variable is cheaper),
so the fifth-order end-of-step value is used rather than an interpolated
crossing.  Thresholds: growth ``psi_sw = 1 - min(1/2, 1/(q-1))``, decay
``psi_sw = 1 + 1/(q-1)``: ``dsigma/dt`` changes by a factor ``e`` per
``1/((q-1)|1-psi|)`` in sigma, so sigma pays off once ``(q-1)|1-psi| = O(1)``.
(Measured: the step counts hardly depend on these constants.)

Error control: time shifts
--------------------------
The ODE is autonomous and scalar, so a local error ``delta z`` is exactly a
shift of the trajectory in time by ``delta z / |dz/dt|``, and the shifts add
up.  A shift ``delta t`` changes ``log w`` at time ``t`` by ``|dlog w/dt|
delta t``.  For a weight deep in the plateau ``cond(t) = t |dlog w/dt|`` (the
condition number of ``w(t)`` with respect to ``t``, and equally to ``lam``)
reaches ~1e9 at the transition for the depth-5 benchmark: relative accuracy
``rtol`` in ``w`` there needs the plateau time to ``1e-9 rtol``, below the
resolution of float64.  The trajectory kernel therefore bounds the time shift
of each step by

    rtol * max(1/R, c t_{n+1}),   c = max(1e-3, 64 eps_mach / rtol),

``R`` the largest ``|dlog w/dt|`` on the rest of the path (growth: the
steepest point ``psi = (q-1)/q`` or the current point past it; decay: the
current point).  The forward relative error of ``w`` is then about ``rtol``
wherever ``cond <= 1/c`` (1e3), and about ``rtol * c * cond`` beyond (the
computed ``w(t)`` is the exact weight at a time within ``~c rtol t`` of
``t``: backward error in ``t``, i.e. in ``lam``).  Measured to the critical
time of the JEPA depth-5 benchmark (rtol 1e-8): ``c = 1e-3`` costs 125 steps;
demanding forward accuracy everywhere (``c`` at the float64 floor) 280, since
the plateau must then be integrated to machine precision; a plain relative
tolerance (``c = 1``, what relative control on the plateau variable gives)
66, but its forward error grows with ``cond`` already for moderate
parameters.  The crossing kernel returns a time, so it needs only the
backward error: its steps shift time by at most ``0.1 rtol t_{n+1}``, which
gives ``t*`` to a relative ~rtol (76 steps on that benchmark).
In state units the tolerance is ``tol_t * min(|dz/dt|)`` over the two ends of
the step.

Collapsing what float64 cannot resolve
--------------------------------------
Before each step an upper bound ``T`` on the time left to convergence (the
weight within 1e-18 of its fixed point, or to ``psi*`` for the crossing) is
formed in logarithms from monotone bounds on the rates.  If ``T`` is within
the time tolerance ``c rtol t`` the rest of the evolution is collapsed (this
is how huge rates finish, e.g. JEPA at depth 64 with rho = 1e3 where ``K``
overflows float64), and in the trajectory kernel, when the next output time
lies beyond ``t + T``, every remaining output is the fixed point.  A lower
bound returns ``t* = inf`` at once when the crossing lies beyond the largest
float64 (rates that underflow).  When a rate underflows in the trajectory
kernel the state does not move, the error estimate is zero and steps grow by
the clamp factor up to the last output time.

All functions use Numba's ``error_model="numpy"``: a division by zero gives
inf/NaN (caught by the step checks) instead of raising.

Step control: I controller (error exponent 1/5: the estimate is fourth
order), safety 0.9, factor clamped to [0.2, 10], no growth right after a
rejection; a step whose values leave the domain (``z <= 0``, the fixed point
crossed, non-finite values) is rejected and shrunk by 4.  The first step of a
phase is 0.05 times the natural time scale of its variable (``1/|dz/dt|``;
for sigma ``1/(|dsigma/dt| max(1, (q-1)|1-psi|))``).

Layers: (a) scalar ``@njit`` functions without allocation (right-hand sides,
one DP step with its error estimate, dense output and its root, time bounds);
(b) :func:`integrate_feature`, one feature with its own step size; (c) the
``prange`` kernels :func:`ode_trajectory_kernel` and
:func:`ode_crossing_kernel`, one feature per iteration.  Kernels never raise:
every feature gets a status (``_family``); a failed feature has NaN in its
remaining outputs together with a non-SUCCESS status.
"""

import math

import numpy as np
from numba import prange

from ._jit import njit

from ._dp5 import (  # the checked tableau entries as scalars
    C2, C3, C4, C5, C6, A21, A31, A32, A41, A42, A43, A51, A52, A53, A54, A61, A62, A63, A64,
    A65, B1, B2, B3, B4, B5, B6, E1, E2, E3, E4, E5, E6, E7, P10, P11, P12, P13, P20, P21, P22,
    P23, P30, P31, P32, P33, P40, P41, P42, P43, P50, P51, P52, P53, P60, P61, P62, P63, P70,
    P71, P72, P73,
)
from ._family import (
    AT_FIXED,
    DECAY,
    GROWTH,
    MAX_STEPS,
    NO_CONVERGENCE,
    NON_FINITE,
    SUCCESS,
    branch_of_log_psi,
    family_b,
    family_q,
    log_psi_of_sigma,
    log_psi_of_w,
    log_rate,
    sigma_of_log_psi,
    w_of_log_psi,
)



# ---------------------------------------------------------------------------
# Phases and tuning constants
# ---------------------------------------------------------------------------
PHASE_SIGMA = 0   #: y = sigma = log(psi/|1-psi|), step in t
PHASE_GROW = 1    #: y = (psi/psi_n)**(1-q) - 1, step in t
PHASE_DECAY = 2   #: y = -q (lp - lp_n), step in s = log(tau)

SWITCH_GROW = 1.0     #: growth plateau -> sigma at (q-1)(1-psi) = this (psi >= 1/2)
SWITCH_DECAY = 1.0    #: decay plateau -> sigma at (q-1)(psi-1) = this
H0_FRACTION = 0.05    #: first step of a phase, in units of its natural time scale
SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
REJECT_SHRINK = 0.25  #: step shrink after a step that left the domain
BACK_REL = 1e-3       #: trajectory: time-shift tolerance floor c = max(BACK_REL, ...)
TIME_FLOOR = 64.0 * 2.220446049250313e-16   #: ... and 64 eps_mach / rtol
CROSS_REL = 0.1       #: crossing: time-shift tolerance CROSS_REL * rtol * t
CONV_LP = 1e-18       #: |log psi| / b below this: w equals its fixed point in float64
DBL_MAX = 1.7976931348623157e308


# ---------------------------------------------------------------------------
# (a) scalar layer
# ---------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def phase_rhs(phase, s, y, lpn, par, q, log_k, branch):
    """Right-hand side of the local variable of ``phase`` at ``(s, y)``.

    ``s`` is the offset of the independent variable from the start of the
    step (only DECAY is non-autonomous).  ``par`` is the per-step constant:
    ``r_n`` (GROW), ``c_n`` (DECAY), unused (SIGMA).

    SIGMA: ``K psi**(q-1)``.  GROW: ``-r_n (1 - psi)``, ``lp = lpn -
    log1p(y)/(q-1)``.  DECAY: ``exp(s - y + c_n) (1 - 1/psi)``, ``lp = lpn -
    y/q``.  NaN outside the domain (``z <= 0``; sigma <= 0 on the decay
    branch).
    """
    if phase == PHASE_SIGMA:
        if branch == DECAY and not (y > 0.0):
            return math.nan
        return math.exp(log_k + (q - 1.0) * log_psi_of_sigma(y, branch))
    if phase == PHASE_GROW:
        if not (y > -1.0):
            return math.nan
        lp = lpn - math.log1p(y) / (q - 1.0)
        return par * math.expm1(lp)
    lp = lpn - y / q
    return -math.exp(s - y + par) * math.expm1(-lp)


@njit(cache=True, error_model="numpy")
def phase_log_psi(phase, y, lpn, q, branch):
    """``log(psi)`` from the local variable ``y`` of ``phase``."""
    if phase == PHASE_SIGMA:
        return log_psi_of_sigma(y, branch)
    if phase == PHASE_GROW:
        if not (y > -1.0):
            return math.nan
        return lpn - math.log1p(y) / (q - 1.0)
    return lpn - y / q


@njit(cache=True, error_model="numpy")
def phase_y_of_log_psi(phase, lp, lpn, q):
    """Inverse of :func:`phase_log_psi`: the local variable at ``log(psi) = lp``."""
    if phase == PHASE_SIGMA:
        return sigma_of_log_psi(lp)
    if phase == PHASE_GROW:
        return math.expm1(-(q - 1.0) * (lp - lpn))
    return -q * (lp - lpn)


@njit(cache=True, error_model="numpy")
def dp_step(phase, y0, h, k1, lpn, par, q, log_k, branch):
    """One Dormand-Prince 5(4) step of size ``h`` from ``y0`` (``k1 = f(0, y0)``).

    Returns ``(y1, err, k2, k3, k4, k5, k6, k7)``: the fifth-order solution,
    the local error estimate ``h * sum(E k)`` and the stages (``k7 = f(h,
    y1)`` is the FSAL stage).
    """
    k2 = phase_rhs(phase, C2 * h, y0 + h * (A21 * k1), lpn, par, q, log_k, branch)
    k3 = phase_rhs(phase, C3 * h, y0 + h * (A31 * k1 + A32 * k2), lpn, par, q, log_k, branch)
    k4 = phase_rhs(phase, C4 * h, y0 + h * (A41 * k1 + A42 * k2 + A43 * k3),
                   lpn, par, q, log_k, branch)
    k5 = phase_rhs(phase, C5 * h, y0 + h * (A51 * k1 + A52 * k2 + A53 * k3 + A54 * k4),
                   lpn, par, q, log_k, branch)
    k6 = phase_rhs(phase, C6 * h,
                   y0 + h * (A61 * k1 + A62 * k2 + A63 * k3 + A64 * k4 + A65 * k5),
                   lpn, par, q, log_k, branch)
    y1 = y0 + h * (B1 * k1 + B2 * k2 + B3 * k3 + B4 * k4 + B5 * k5 + B6 * k6)
    k7 = phase_rhs(phase, h, y1, lpn, par, q, log_k, branch)
    err = h * (E1 * k1 + E2 * k2 + E3 * k3 + E4 * k4 + E5 * k5 + E6 * k6 + E7 * k7)
    return y1, err, k2, k3, k4, k5, k6, k7


@njit(cache=True, error_model="numpy")
def dense_coefficients(k1, k2, k3, k4, k5, k6, k7):
    """``Q_j = sum_i k_i P[i, j]``: ``y(theta) = y0 + h sum_j Q_j theta**(j+1)``."""
    q0 = P10 * k1 + P20 * k2 + P30 * k3 + P40 * k4 + P50 * k5 + P60 * k6 + P70 * k7
    q1 = P11 * k1 + P21 * k2 + P31 * k3 + P41 * k4 + P51 * k5 + P61 * k6 + P71 * k7
    q2 = P12 * k1 + P22 * k2 + P32 * k3 + P42 * k4 + P52 * k5 + P62 * k6 + P72 * k7
    q3 = P13 * k1 + P23 * k2 + P33 * k3 + P43 * k4 + P53 * k5 + P63 * k6 + P73 * k7
    return q0, q1, q2, q3


@njit(cache=True, error_model="numpy")
def dense_eval(y0, h, q0, q1, q2, q3, theta):
    """Shampine's quartic interpolant at ``theta`` in [0, 1] (Horner form)."""
    return y0 + h * theta * (q0 + theta * (q1 + theta * (q2 + theta * q3)))


@njit(cache=True, error_model="numpy")
def dense_slope(h, q0, q1, q2, q3, theta):
    """``dy/dtheta`` of :func:`dense_eval`."""
    return h * (q0 + theta * (2.0 * q1 + theta * (3.0 * q2 + theta * 4.0 * q3)))


@njit(cache=True, error_model="numpy")
def solve_dense(y0, h, q0, q1, q2, q3, target):
    """``theta`` in [0, 1] where the interpolant equals ``target``.

    Safeguarded Newton on a shrinking bracket (bisection whenever Newton
    leaves it); the caller guarantees that the step passes ``target``.
    Returns ``(theta, converged)``.
    """
    lo = 0.0
    hi = 1.0
    f_lo = y0 - target
    f_hi = dense_eval(y0, h, q0, q1, q2, q3, 1.0) - target
    if f_lo == 0.0:
        return 0.0, True
    if f_hi == 0.0 or (f_lo > 0.0) == (f_hi > 0.0):
        # the end value passed the target, the interpolant at theta = 1 misses
        # it by rounding: the crossing is at the end of the step
        return 1.0, True
    theta = f_lo / (f_lo - f_hi)
    for _ in range(200):
        f = dense_eval(y0, h, q0, q1, q2, q3, theta) - target
        if f == 0.0:
            return theta, True
        if (f > 0.0) == (f_lo > 0.0):
            lo = theta
        else:
            hi = theta
        d = dense_slope(h, q0, q1, q2, q3, theta)
        nxt = theta - f / d if d != 0.0 else -1.0
        if not (lo < nxt < hi):
            nxt = 0.5 * (lo + hi)
        if abs(nxt - theta) <= 4e-16 * theta or hi - lo <= 4e-16 * hi:
            return nxt, True
        theta = nxt
    return theta, False


@njit(cache=True, error_model="numpy")
def _log_add(a, b):
    """``log(exp(a) + exp(b))``."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


@njit(cache=True, error_model="numpy")
def log_time_upper(branch, lp_from, lp_to, q, log_k, lp_sw):
    """Upper bound on ``log`` of the time from ``log psi = lp_from`` to ``lp_to``.

    ``lp_to`` lies between ``lp_from`` and 0.  Plateau part (up to
    ``lp_sw``): growth ``|dz/dt| >= r (1 - psi_end)`` with ``|delta z| <= 1``;
    decay: the flow comes down from infinity in finite time, below
    ``psi_end**-q / (q K (1 - 1/psi_end))``.  Sigma part: the rate ``K
    psi**(q-1)`` is smallest at its start (growth) or at least ``K`` (decay).
    """
    total = -math.inf
    if branch == GROWTH:
        lp_b = lp_from
        if lp_from < lp_sw:
            lp_a = min(lp_to, lp_sw)
            total = -(math.log(q - 1.0) + log_k + (q - 1.0) * lp_from) \
                - math.log(-math.expm1(lp_a))
            lp_b = lp_sw
        if lp_to > lp_b:
            dsig = sigma_of_log_psi(lp_to) - sigma_of_log_psi(lp_b)
            total = _log_add(total, math.log(dsig) - log_k - (q - 1.0) * lp_b)
    else:
        lp_b = lp_from
        if lp_from > lp_sw:
            lp_a = max(lp_to, lp_sw)
            total = -q * lp_a - math.log(q) - log_k - math.log(-math.expm1(-lp_a))
            lp_b = lp_sw
        if lp_to < lp_b:
            dsig = sigma_of_log_psi(lp_to) - sigma_of_log_psi(lp_b)
            total = _log_add(total, math.log(dsig) - log_k)
    return total


@njit(cache=True, error_model="numpy")
def log_time_lower_growth(lp_from, lp_to, q, log_k, lp_sw):
    """Lower bound on ``log`` of the growth time from ``lp_from`` to ``lp_to``.

    First phase only: ``|dz/dt| <= r`` in the plateau, ``dsigma/dt <= K
    psi_to**(q-1)`` in sigma.
    """
    if lp_from < lp_sw:
        lp_a = min(lp_to, lp_sw)
        return math.log(-math.expm1(-(q - 1.0) * (lp_a - lp_from))) \
            - (math.log(q - 1.0) + log_k + (q - 1.0) * lp_from)
    dsig = sigma_of_log_psi(lp_to) - sigma_of_log_psi(lp_from)
    return math.log(dsig) - log_k - (q - 1.0) * lp_to


@njit(cache=True, error_model="numpy")
def log_sensitivity(branch, lp, q, log_k, b):
    """``log R``: the largest ``|dlog w/dt|`` on the rest of the path from ``lp``.

    ``dlog w/dt = K psi**(q-1) (1 - psi) / b``; on the growth branch it peaks
    at ``psi = (q-1)/q`` (``q > 1``), on the decay branch it only decreases.
    """
    if branch == GROWTH and q > 1.0:
        lp = max(lp, math.log((q - 1.0) / q))
    return log_k + (q - 1.0) * lp + math.log(abs(math.expm1(lp))) - math.log(b)


# ---------------------------------------------------------------------------
# (b) one feature
# ---------------------------------------------------------------------------
# DECAY time scale: tau_n = 1/r_a at the start can exceed float64 (small lam and
# eps: rho / (2 lam eps^2)) although every time t is finite; beyond that the
# log of tau carries the same information.  While tau is finite these are the
# plain formulas (bit-identical to the CUDA port, kernels/cuda/ode.h).
@njit(cache=True, error_model="numpy", inline="always")
def _decay_log_scale(tau, log_tau):
    return math.log(tau) if math.isfinite(tau) else log_tau


@njit(cache=True, error_model="numpy", inline="always")
def _decay_time_offset(tau, log_tau, ds):
    """``t - t_n = tau_n expm1(ds)``."""
    if math.isfinite(tau):
        return tau * math.expm1(ds)
    return math.exp(log_tau + math.log(math.expm1(ds))) if ds > 0.0 else 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _decay_s_offset(tau, log_tau, dt):
    """``ds = log1p((t - t_n)/tau_n)``."""
    if math.isfinite(tau):
        return math.log1p(dt / tau)
    return math.log1p(math.exp(math.log(dt) - log_tau)) if dt > 0.0 else 0.0


@njit(cache=True, error_model="numpy")
def _fill(w_row, j, value):
    for i in range(j, w_row.shape[0]):
        w_row[i] = value


@njit(cache=True, error_model="numpy")
def integrate_feature(objective, depth, lam, rho, eps, rtol, max_steps,
                      crossing, lp_star, t_out, w_row):
    """Integrate one feature; returns ``(status, nsteps, t_cross)``.

    Trajectory mode (``crossing`` False): writes ``w`` at every ``t_out[j]``
    (non-decreasing, >= 0) into ``w_row``, stops at the last one; ``t_cross``
    is NaN.  Crossing mode: integrates until ``log psi >= lp_star`` (< 0) and
    returns that time: 0 when the feature starts at or above it, ``inf`` when
    it lies beyond float64; ``t_out`` and ``w_row`` are not used.  ``nsteps``
    counts accepted and rejected steps.
    """
    b = family_b(objective, depth)
    q = family_q(objective, depth)
    log_k = log_rate(objective, depth, lam, rho)
    lp = log_psi_of_w(objective, depth, eps, rho)
    branch = branch_of_log_psi(lp)
    n_out = t_out.shape[0]
    j = 0
    log_rtol = math.log(rtol)
    if crossing:
        if lp >= lp_star:           # includes every decaying feature
            return SUCCESS, 0, 0.0
        t_stop = DBL_MAX
        log_back = max(math.log(CROSS_REL) + log_rtol, math.log(TIME_FLOOR))
    else:
        while j < n_out and t_out[j] <= 0.0:
            w_row[j] = eps
            j += 1
        if j == n_out:
            return SUCCESS, 0, math.nan
        t_stop = t_out[n_out - 1]
        log_back = max(math.log(BACK_REL) + log_rtol, math.log(TIME_FLOOR))
    if branch == AT_FIXED:
        _fill(w_row, j, eps)
        return SUCCESS, 0, math.nan
    if not math.isfinite(lp) or not math.isfinite(log_k):
        _fill(w_row, j, math.nan)
        return NON_FINITE, 0, math.nan

    w_fp = w_of_log_psi(objective, depth, 0.0, rho)
    lp_conv = -CONV_LP * b if branch == GROWTH else CONV_LP * b
    if q > 1.0 and branch == GROWTH:
        lp_sw = math.log1p(-min(0.5, SWITCH_GROW / (q - 1.0)))
    elif q > 1.0:
        lp_sw = math.log1p(SWITCH_DECAY / (q - 1.0))
    else:                           # q == 1: sigma only
        lp_sw = -math.inf if branch == GROWTH else math.inf
    log_q = math.log(q)

    t = 0.0
    nsteps = 0
    phase = -1
    h = 0.0
    y0 = 0.0
    k1 = 0.0
    par = 0.0
    tau = 0.0                       # DECAY: tau_n = t_n - t_a + 1/r_a
    log_tau = 0.0                   # DECAY: log tau_n, finite where tau_n overflows
    rejected = False
    while True:
        # converged: w is its fixed point in float64 from here on
        if (branch == GROWTH and lp >= lp_conv) or (branch == DECAY and lp <= lp_conv):
            _fill(w_row, j, w_fp)
            return SUCCESS, nsteps, (t if crossing else math.nan)
        log_t = math.log(t) if t > 0.0 else -math.inf
        if crossing:
            log_tx = log_time_upper(branch, lp, lp_star, q, log_k, lp_sw)
            if log_tx <= log_back + log_t:
                return SUCCESS, nsteps, t + 0.5 * math.exp(log_tx)
            if log_time_lower_growth(lp, lp_star, q, log_k, lp_sw) > math.log(DBL_MAX - t):
                return SUCCESS, nsteps, math.inf
        else:
            log_tc = log_time_upper(branch, lp, lp_conv, q, log_k, lp_sw)
            if log_tc <= log_back + log_t or t + math.exp(log_tc) <= t_out[j]:
                _fill(w_row, j, w_fp)
                return SUCCESS, nsteps, math.nan

        # phase of this step; a new phase starts its local variable
        if branch == GROWTH:
            new_phase = PHASE_GROW if lp < lp_sw else PHASE_SIGMA
        else:
            new_phase = PHASE_DECAY if lp > lp_sw else PHASE_SIGMA
        if new_phase != phase:
            phase = new_phase
            rejected = False
            if phase == PHASE_GROW:
                par = math.exp(math.log(q - 1.0) + log_k + (q - 1.0) * lp)
                y0 = 0.0
            elif phase == PHASE_DECAY:
                # virtual origin: tau = 1/r_a at the start, so c = 0
                log_tau = -(log_q + log_k + q * lp)
                tau = math.exp(log_tau)
                par = 0.0
                y0 = 0.0
            else:
                y0 = sigma_of_log_psi(lp)
            k1 = phase_rhs(phase, 0.0, y0, lp, par, q, log_k, branch)
            if phase == PHASE_SIGMA:
                h = H0_FRACTION / (abs(k1) * max(1.0, (q - 1.0) * abs(math.expm1(lp))))
            else:
                h = H0_FRACTION / abs(k1)

        if nsteps >= max_steps:
            _fill(w_row, j, math.nan)
            return MAX_STEPS, nsteps, math.nan
        # never step past the last output time (or the largest float64)
        clamped = False
        if phase == PHASE_DECAY:
            s_stop = _decay_s_offset(tau, log_tau, t_stop - t)
            if not (h < s_stop):
                h = s_stop
                clamped = True
        elif not (h < t_stop - t):
            h = t_stop - t
            clamped = True
        y1, err, k2, k3, k4, k5, k6, k7 = dp_step(phase, y0, h, k1, lp, par, q, log_k, branch)
        nsteps += 1
        lp1 = phase_log_psi(phase, y1, lp, q, branch)
        valid = (math.isfinite(y1) and math.isfinite(err) and math.isfinite(k7)
                 and math.isfinite(lp1))
        if valid:
            if phase == PHASE_SIGMA:
                valid = lp1 <= 0.0 if branch == GROWTH else lp1 >= 0.0
            else:
                valid = lp1 < 0.0 if branch == GROWTH else lp1 > 0.0
        if phase == PHASE_DECAY:
            tau_new = tau * math.exp(h)
            t_new = t_stop if clamped else t + _decay_time_offset(tau, log_tau, h)
        else:
            tau_new = 0.0
            t_new = t_stop if clamped else t + h
        if not valid:
            h *= REJECT_SHRINK
            rejected = True
            if not (t_new > t) or h == 0.0:
                _fill(w_row, j, math.nan)
                return NON_FINITE, nsteps, math.nan
            continue

        # error as a time shift: |err| / |dy/dt| <= tol_t
        if err == 0.0:
            en = 0.0
        else:
            log_g = min(math.log(abs(k1)), math.log(abs(k7)))
            if phase == PHASE_DECAY:
                log_g = min(math.log(abs(k1)) - _decay_log_scale(tau, log_tau),
                            math.log(abs(k7)) - _decay_log_scale(tau_new, log_tau + h))
            log_tol = log_back + math.log(t_new)
            if not crossing:
                log_tol = max(log_tol, log_rtol - log_sensitivity(branch, lp, q, log_k, b))
            en = math.exp(math.log(abs(err)) - log_g - log_tol)
        if not (en <= 1.0):
            h *= max(MIN_FACTOR, SAFETY * en ** -0.2) if math.isfinite(en) else MIN_FACTOR
            rejected = True
            if not (t_new > t) or h == 0.0:
                _fill(w_row, j, math.nan)
                return NO_CONVERGENCE, nsteps, math.nan
            continue

        # accepted: dense output at the requested times inside (t, t_new]
        q0, q1, q2, q3 = dense_coefficients(k1, k2, k3, k4, k5, k6, k7)
        if not crossing:
            while j < n_out and t_out[j] <= t_new:
                if t_out[j] >= t_new:
                    lpj = lp1
                else:
                    if phase == PHASE_DECAY:
                        theta = _decay_s_offset(tau, log_tau, t_out[j] - t) / h
                    else:
                        theta = (t_out[j] - t) / h
                    theta = min(max(theta, 0.0), 1.0)
                    lpj = phase_log_psi(phase, dense_eval(y0, h, q0, q1, q2, q3, theta),
                                        lp, q, branch)
                    # the interpolant cannot leave the branch
                    lpj = min(lpj, 0.0) if branch == GROWTH else max(lpj, 0.0)
                w_row[j] = w_of_log_psi(objective, depth, lpj, rho)
                j += 1
            if j == n_out:
                return SUCCESS, nsteps, math.nan
        elif lp1 >= lp_star:
            target = phase_y_of_log_psi(phase, lp_star, lp, q)
            theta, ok = solve_dense(y0, h, q0, q1, q2, q3, target)
            return (SUCCESS if ok else NO_CONVERGENCE), nsteps, t + theta * h
        if t_new >= DBL_MAX:
            return SUCCESS, nsteps, math.inf

        # advance; restart the local variable of the plateau phases (FSAL)
        if phase == PHASE_SIGMA:
            y0 = y1
            k1 = k7
        elif phase == PHASE_GROW:
            z1 = 1.0 + y1
            k1 = k7 / z1
            par = par / z1
        else:
            par = par + (h - y1)
            k1 = k7
            tau = tau_new
            log_tau = log_tau + h
        t = t_new
        lp = lp1
        factor = MAX_FACTOR if en == 0.0 else min(MAX_FACTOR, SAFETY * en ** -0.2)
        if rejected:
            factor = min(1.0, factor)
        h *= factor
        rejected = False


# ---------------------------------------------------------------------------
# (c) parallel kernels
# ---------------------------------------------------------------------------
@njit(parallel=True, cache=True, error_model="numpy")
def ode_trajectory_kernel(t_out, objective, depth, lam, rho, eps, rtol, max_steps,
                          w_out, status, nsteps):
    """``w_out[i, :] = w_i(t_out)`` by adaptive DP5(4), one feature per iteration.

    ``status[i]``: SUCCESS, MAX_STEPS (budget ``max_steps`` of accepted plus
    rejected steps exhausted), NON_FINITE (the state left float64 and the
    step could not be shrunk further) or NO_CONVERGENCE (the error control
    asked for a step below the resolution of t); a failed row holds NaN from
    the failure on.  ``nsteps[i]``: accepted plus rejected steps.
    """
    n = lam.shape[0]
    for i in prange(n):
        st, ns, _ = integrate_feature(objective, depth[i], lam[i], rho[i], eps[i], rtol,
                                      max_steps, False, 0.0, t_out, w_out[i])
        status[i] = st
        nsteps[i] = ns


@njit(parallel=True, cache=True, error_model="numpy")
def ode_crossing_kernel(objective, depth, lam, rho, eps, p, rtol, max_steps,
                        t_cross, status, nsteps):
    """Critical time ``t*`` (first ``w >= p w(inf)``) by adaptive DP5(4).

    0 when the feature starts at or above the level (every decaying
    feature); ``inf`` with SUCCESS when the crossing lies beyond the largest
    float64.  A failed feature has ``t_cross`` NaN and a non-SUCCESS status.
    """
    n = lam.shape[0]
    dummy = np.empty(0, dtype=np.float64)
    for i in prange(n):
        lp_star = family_b(objective, depth[i]) * math.log(p[i])
        st, ns, tc = integrate_feature(objective, depth[i], lam[i], rho[i], eps[i], rtol,
                                       max_steps, True, lp_star, dummy, dummy)
        status[i] = st
        nsteps[i] = ns
        t_cross[i] = tc
