"""Validated NumPy wrapper of the two-state JEPA-EMA integrator (``kernels._ema``).

``fastdyn.trajectory(..., objective="jepa-ema", ema_time=E)`` lands here.  Per
feature the online end-to-end weight ``w = ||Wbar e_i||`` and the EMA target's
``w_tgt = ||Tbar e_i||`` obey (derived in ``fastdyn.kernels._ema``)

    dw/dt     = lam * w_tgt * w**(2 - 1/L) - lam/rho * w**3
    dw_tgt/dt = (L / E) * w_tgt * ((w / w_tgt)**(1/L) - 1)

from ``w(0) = w_tgt(0) = eps``, in the ODE time ``t = L * lr * k`` of eq. 7.
A run with learning rate ``lr`` and EMA momentum ``m`` per step has ``E =
L * lr * m / (1 - m)`` (``fastdyn.train.ema_time``); ``E = 0`` is eq. 7.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from . import _validate as v
from ._api import _check_max_steps, _features, _trajectory_buffers, _trajectory_result

_DEFAULT_MAX_STEPS = 100_000


def trajectory_ema(
    t: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    eps: ArrayLike,
    ema_time: ArrayLike,
    rtol: float = 1e-8,
    max_steps: int = _DEFAULT_MAX_STEPS,
    return_status: bool = False,
    out: np.ndarray | None = None,
):
    """Online weight ``w(t) = ||Wbar e_i||`` of JEPA with an EMA target encoder.

    Integrates the two-state system above (the EMA analogue of eq. 7, not in
    the paper; derived in ``fastdyn.kernels._ema``) with an adaptive Dormand-Prince 5(4) pair
    per feature.  No closed form is known.

    Parameters
    ----------
    t : array_like, shape (T,)
        Non-decreasing ODE times ``>= 0``.
    lam, rho : array_like
        Per-feature covariance and regression coefficient, ``> 0``.
    depth : int or array_like of int
        Encoder depth ``L`` in 1..64.
    eps : array_like
        Initial weight ``w(0) = w_tgt(0) > 0``.
    ema_time : array_like
        ``E >= 0``: lag of the target in ODE time, ``L * lr * m / (1 - m)``
        for learning rate ``lr`` and momentum ``m``; ``0`` gives eq. 7.
        ``lam``, ``rho``, ``depth``, ``eps`` and ``ema_time`` broadcast to the
        batch shape.
    rtol : float
        Bound on each step's local error in ``log w`` and ``log w_tgt``
        (relative error of the weights), in (0, 1e-2].  Global errors grow
        with the condition of the trajectory (the end of a long plateau is
        sensitive to its length, as for eq. 7).
    max_steps : int
        Step budget per feature.  The target relaxes at rate ``1/E``, so the
        explicit steps are at most ``~3 E`` long: reaching time ``t`` needs
        at least ``t / (3 E)`` steps (``~k (1 - m) / (3 m)`` for the time of
        a ``k``-step training run).
    return_status : bool
        If True, return ``(w, status)`` and never raise for per-feature
        failures (``fastdyn.Status`` codes, int8, batch shape).
    out : ndarray, optional
        float64 array of shape ``batch_shape + (T,)`` to write into.

    Returns
    -------
    w : ndarray, shape ``batch_shape + (T,)``

    Raises
    ------
    SolverError
        If a feature fails (step budget exhausted, non-finite state, step
        size below the resolution of ``t``) and ``return_status`` is False.
    """
    tt = v.time_grid(t)
    rt = v.rtol_value(rtol)
    (lam_f, rho_f, eps_f, ema_f, depth_f), shape = _features(
        lam=v.positive_finite("lam", lam),
        rho=v.positive_finite("rho", rho),
        eps=v.positive_finite("eps", eps),
        ema_time=v.nonnegative_finite("ema_time", ema_time),
        depth=v.depth_array(depth),
    )
    _check_max_steps(max_steps)
    if not isinstance(return_status, (bool, np.bool_)):
        raise TypeError(f"`return_status` must be a bool; got {type(return_status).__name__}.")
    res, w2, status = _trajectory_buffers(out, shape, tt.shape[0])
    n = lam_f.shape[0]
    if n and tt.shape[0]:
        from .kernels import _ema  # compiled on first use

        wt = np.empty_like(w2)
        nsteps = np.zeros(n, dtype=np.int64)
        _ema.ema_trajectory_kernel(tt, depth_f, lam_f, rho_f, eps_f, ema_f, rt, int(max_steps),
                                   w2, wt, status, nsteps)
    return _trajectory_result(res, w2, status, shape, return_status,
                              "trajectory(objective='jepa-ema')")
