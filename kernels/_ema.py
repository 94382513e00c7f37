"""Adaptive Dormand-Prince 5(4) integration of the two-state JEPA-EMA system: the CPU kernel.

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

The integrator is C++ (``kernels/cuda/ema.h``, the only definition; the GPU
runs it through ``fd_ema_trajectory`` of ``kernels/cuda/ode_kernels.cu``); the
kernel below is a ``prange`` loop, one feature per iteration, that calls the
CPU library's per-feature function by symbol (:mod:`._lib`).  Kernels never
raise: every feature gets a status (``_constants``); a failed feature has NaN
in its remaining outputs together with a non-SUCCESS status.
"""

import numpy as np
from numba import prange

from ._jit import njit
from ._lib import data_ptr, ext, ptr_at


@njit(parallel=True, cache=True, error_model="numpy")
def ema_trajectory_kernel(t_out, depth, lam, rho, eps, ema, rtol, max_steps,
                          w_out, wt_out, status, nsteps):
    """``w_out[i, :]``, ``wt_out[i, :]``: online and target weights at ``t_out``.

    One feature per ``prange`` iteration, each with its own step size.
    ``status[i]``: SUCCESS, MAX_STEPS, NON_FINITE or NO_CONVERGENCE
    (``_constants``); ``nsteps[i]``: accepted plus rejected steps.
    ``w_out`` and ``wt_out`` have the same strides.
    """
    tc = np.ascontiguousarray(t_out)
    for i in prange(lam.shape[0]):
        status[i] = ext.ema_trajectory_row(tc.shape[0], data_ptr(tc), depth[i], lam[i], rho[i],
                                           eps[i], ema[i], rtol, max_steps, ptr_at(w_out, i),
                                           ptr_at(wt_out, i), w_out.strides[1] // w_out.itemsize,
                                           ptr_at(nsteps, i))
