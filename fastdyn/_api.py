"""The public per-feature functions: a docstring and one call of the dispatch layer each.

Conventions (MATH.md): per feature ``i``, ``lam_i = Syx_ii`` (covariance),
``rho_i = lam_i / Sxx_ii`` (regression coefficient); the tracked weight is
``w_i(t) = ||Wbar e_i||``, the norm of column ``i`` of the end-to-end encoder
``Wbar = W_L ... W_1``; ``t`` is the paper's ODE time, ``t = L * tau`` with
``tau`` the gradient-flow time of the losses of eq. 5 (gradient descent with
learning rate ``eta`` after ``k`` steps: ``t = L * eta * k``).  Assumption 3.1
starts every feature at ``w_i(0) = eps``.

The domain (``fastdyn.kernels._constants``; README, "Domain"): ``depth``
integers 1..64, ``lam`` in [1e-6, 1e6], ``rho`` in [1e-3, 1e3], ``eps`` in
[1e-30, 1e3], weights ``w`` in [1e-200, 1e200], times ``t``, ``dt`` and
``ema_time`` in [0, 1e300], ``p`` in (0, 1), ``rtol`` in [1e-14, 1e-2].
Inside it every result is finite and correct; outside it a ``ValueError``
names the parameter, the value and the first bad index.  Everything else
(validation, backends, chunking, statuses, dask) is
:mod:`fastdyn._dispatch`'s.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from . import _operations as ops
from ._arrays import GPUUnavailableError
from ._dispatch import SolverError, Status, call
from .kernels._constants import DEFAULT_GD_STEPS, DEFAULT_MAX_STEPS

__all__ = [
    "GPUUnavailableError",
    "SolverError",
    "Status",
    "advance",
    "critical_time",
    "fixed_point",
    "flow_trajectory",
    "gd_critical_step",
    "gd_stable_lr",
    "gd_trajectory",
    "rhs",
    "time_to_reach",
    "trajectory",
]


def trajectory(
    t: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    eps: ArrayLike,
    objective: str = "jepa",
    method: str | None = None,
    rtol: float = 1e-8,
    out: np.ndarray | None = None,
    return_status: bool = False,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
    dtype=None,
    ema_time: ArrayLike = 0.0,
):
    """Per-feature weight ``w(t) = ||Wbar e_i||`` at the requested times.

    Solves eq. 7 (JEPA) or eq. 8 (MAE) from ``w(0) = eps`` for every feature.

    Parameters
    ----------
    t : array_like, shape (T,)
        Non-decreasing times in ``[0, 1e300]`` (the paper's ODE time).
    lam, rho : array_like
        Per-feature covariance ``lam`` in ``[1e-6, 1e6]`` and regression
        coefficient ``rho`` in ``[1e-3, 1e3]``; broadcast with ``depth`` and
        ``eps`` to the batch shape.
    depth : int or array_like of int
        Encoder depth ``L`` in 1..64 (may differ per feature).
    eps : array_like
        Initial weight ``w(0)`` in ``[1e-30, 1e3]``: below the fixed point the
        weight grows to it, above it the weight decays to it.
    objective : {"jepa", "mae", "jepa-ema"}
        ``"jepa-ema"``: JEPA whose target encoder is an exponential moving
        average of the online layers (two states per feature, online and
        target; see ``ema_time``).  It has no closed form: ODE method only,
        on the CPU.
    method : {"exact", "ode"}, optional
        ``"exact"`` (the default for "jepa" and "mae") inverts the closed-form
        implicit solution (theorem B.7, theorem B.10 in elementary form, eq.
        116-119); ``"ode"`` (the default and only method for "jepa-ema")
        integrates the ODE with an adaptive Dormand-Prince 5(4) pair per
        feature.
    rtol : float
        Relative tolerance of the ``"ode"`` method, in ``[1e-14, 1e-2]``.
        Each step's error is controlled as a shift of the trajectory in time
        (for a scalar autonomous ODE a local error is exactly such a shift):
        the result is the exact weight at a time within
        ``rtol * max(1e-3, 64 eps / rtol)`` (relative) of the requested one,
        i.e. a relative error ``O(rtol)`` wherever ``t |d log w / dt| <= 1e3``.
        At the steep end of a long plateau, where ``w`` changes by orders of
        magnitude within a relative time of ``1e-8``, use ``method="exact"``.
    out : ndarray, optional
        float64 array of shape ``batch_shape + (T,)`` to write into.  It may
        share memory with the inputs: the result is the same as without.
    return_status : bool
        If True, return ``(w, status)`` and never raise for per-feature
        failures; ``status`` (int8, batch shape) holds :class:`Status` codes.
    max_steps : int
        Step budget per feature of the ``"ode"`` method, in ``1 .. 2**62``.
    backend : {"auto", "cpu", "gpu"}
        ``"auto"``: CuPy inputs run on their GPU and give CuPy results, NumPy
        inputs run on the CPU.  ``"gpu"`` with NumPy inputs copies them to the
        GPU once (in chunks that fit its free memory) and returns NumPy.
    dtype : {None, numpy.float64, numpy.float32}
        ``float32`` only with ``method="ode"`` on the GPU (see the README's
        float32 section for the accuracy it gives); float64 otherwise.
    ema_time : array_like
        ``objective="jepa-ema"`` only: the target's lag ``E`` in
        ``[0, 1e300]`` in ODE time, ``E = L * lr * m / (1 - m)`` for a run
        with learning rate ``lr`` and EMA momentum ``m`` per step
        (:func:`fastdyn.train.ema_time`); ``E = 0`` is eq. 7.  Broadcasts
        with the per-feature parameters.

    Returns
    -------
    w : ndarray, shape ``batch_shape + (T,)``
        NumPy or CuPy, following the inputs (see ``backend``); finite and
        positive wherever the status is ``SUCCESS``.

    Raises
    ------
    ValueError, TypeError
        An input outside the domain or of the wrong kind (the message names
        the parameter, the value and the first bad index).
    SolverError
        If a feature fails (``"ode"``: step budget exhausted or non-finite
        state) and ``return_status`` is False.
    """
    return call(ops.trajectory, dict(
        t=t, lam=lam, rho=rho, depth=depth, eps=eps, objective=objective, method=method,
        rtol=rtol, out=out, return_status=return_status, max_steps=max_steps, backend=backend,
        dtype=dtype, ema_time=ema_time))


def time_to_reach(
    w: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    eps: ArrayLike,
    objective: str,
    backend: str = "auto",
):
    """Exact time at which the weight, started at ``eps``, first equals ``w``.

    Closed form (no iteration): ``t = (F(sigma(w)) - F(sigma(eps))) / K``
    with the implicit solutions of theorem B.7 / B.10 / eq. 116.

    Parameters
    ----------
    w : array_like
        Target weights in ``[1e-200, 1e200]``.
    lam, rho, eps : array_like
        In the domain of :func:`trajectory`; broadcast with ``w`` and
        ``depth`` to the batch shape.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    t : ndarray (batch shape) or float
        ``inf`` where ``w`` is never reached (behind the start, at the fixed
        point or beyond it) or only after a time beyond float64's range.
        ``0`` where ``w == eps``.  Never NaN.
    """
    return call(ops.time_to_reach, dict(w=w, lam=lam, rho=rho, depth=depth, eps=eps,
                                        objective=objective, backend=backend))


def critical_time(
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    eps: ArrayLike,
    objective: str,
    p: ArrayLike = 0.5,
    method: str = "exact",
    rtol: float = 1e-8,
    return_status: bool = False,
    max_steps: int = DEFAULT_MAX_STEPS,
    backend: str = "auto",
    dtype=None,
):
    """Critical time ``t*`` of eq. 11: the first time with ``w(t*) >= p w(inf)``.

    Parameters
    ----------
    lam, rho, eps : array_like
        In the domain of :func:`trajectory`; broadcast with ``depth`` and ``p``.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    p : float or array_like
        Fraction of the fixed point, in (0, 1).
    method : {"exact", "asymptotic", "ode"}
        ``"exact"``: closed form at ``psi* = p^(3-a)``, no iteration.
        ``"asymptotic"``: the paper's leading small-eps forms, JEPA eq. 12,
        MAE eq. 13 (``L > 1``) and eq. 121 (``L = 1``); they do not depend on
        ``p``.  ``"ode"``: an event of the adaptive integrator.
    rtol : float
        Relative tolerance of the ``"ode"`` method, in ``[1e-14, 1e-2]``.
    return_status : bool
        Return ``(t, status)`` instead of raising for failed features (only
        the ``"ode"`` method can fail).
    max_steps : int
        Step budget per feature of the ``"ode"`` method, in ``1 .. 2**62``.
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.
    dtype : {None, numpy.float64, numpy.float32}
        ``float32`` only with ``method="ode"`` on the GPU.

    Returns
    -------
    t : ndarray (batch shape) or float
        Zero for features that start at or above ``p w(inf)`` (every feature
        starting above its fixed point); finite everywhere in the domain.
        ``"asymptotic"`` evaluates the small-eps forms as they stand: where
        ``eps`` lies far above a tiny fixed point (JEPA, ``rho`` near 1e-3 at
        large depth) they exceed float64 and give ``inf``.  Never NaN.
    """
    return call(ops.critical_time, dict(
        lam=lam, rho=rho, depth=depth, eps=eps, objective=objective, p=p, method=method,
        rtol=rtol, return_status=return_status, max_steps=max_steps, backend=backend,
        dtype=dtype))


def advance(
    w: ArrayLike,
    dt: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    objective: str,
    out: np.ndarray | None = None,
    backend: str = "auto",
):
    """Exact flow map: the weight a further time ``dt`` after ``w``.

    ``advance(advance(w, a), b) == advance(w, a + b)`` up to rounding.  Meant
    to be called every step of a user's own time loop: a call on 100 features
    costs microseconds.  Inside ``@njit`` code use
    :func:`fastdyn.kernels.advance_batch` instead.

    Parameters
    ----------
    w : array_like
        Current weights, in ``[1e-200, 1e200]``.
    dt : float or array_like
        Time step(s) in ``[0, 1e300]`` (scalar or per feature).
    lam, rho : array_like
        In the domain of :func:`trajectory`.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    out : ndarray, optional
        float64 array of the batch shape to write into (may be ``w`` itself,
        or overlap any input); a CuPy array for CuPy inputs.
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    w_new : ndarray (batch shape) or float
        Between ``w`` and the fixed point: finite and positive.
    """
    return call(ops.advance, dict(w=w, dt=dt, lam=lam, rho=rho, depth=depth,
                                  objective=objective, out=out, backend=backend))


def fixed_point(rho: ArrayLike, *, depth: ArrayLike, objective: str, backend: str = "auto"):
    """Fixed point of corollary 3.3: ``rho**L`` (JEPA), ``rho**(L/(L+1))`` (MAE).

    Parameters
    ----------
    rho : array_like
        In ``[1e-3, 1e3]``.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    w_inf : ndarray (broadcast shape of ``rho`` and ``depth``) or float
        In ``[1e-192, 1e192]``.
    """
    return call(ops.fixed_point, dict(rho=rho, depth=depth, objective=objective,
                                      backend=backend))


def rhs(w: ArrayLike, lam: ArrayLike, rho: ArrayLike, *, depth: ArrayLike, objective: str,
        backend: str = "auto"):
    """Right-hand side of eq. 7 (JEPA) / eq. 8 (MAE): ``dw/dt``.

    ``lam * (w**(3 - 1/L) - w**3 / rho)`` (JEPA) or
    ``lam * (w**(2 - 1/L) - w**3 / rho)`` (MAE).

    Parameters
    ----------
    w : array_like
        Weights in ``[1e-200, 1e200]``.
    lam, rho : array_like
        In the domain of :func:`trajectory`.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    dwdt : ndarray (batch shape) or float

    Raises
    ------
    ValueError
        Where ``|dw/dt|`` exceeds float64's range (large ``w``), naming the
        feature.
    """
    return call(ops.rhs, dict(w=w, lam=lam, rho=rho, depth=depth, objective=objective,
                              backend=backend))


def gd_trajectory(
    steps: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    objective: str,
    lr: ArrayLike,
    eps: ArrayLike | None = None,
    layers: ArrayLike | None = None,
    decoder: ArrayLike | None = None,
    target: ArrayLike | None = None,
    momentum: ArrayLike | None = None,
    return_status: bool = False,
    backend: str = "auto",
):
    """Gradient descent at a finite learning rate, per feature: ``w`` after given steps.

    The exact discrete recursion of population gradient descent on eq. 5 for
    diagonal data (``Sxx = diag(lam/rho)``, ``Syx = diag(lam)``) and an aligned
    network (every layer, the predictor/decoder and the EMA target diagonal in
    the data's basis): what :func:`fastdyn.train.train` computes on such data,
    one feature at a time and without the d x d matrices (``kernels/cuda/gd.h``
    has the derivation).  Gradient flow is its ``lr -> 0`` limit: step ``k`` is
    the ODE time ``t = depth * lr * k`` of eq. 7/8 (:func:`trajectory`), to first
    order in ``lr``.

    Parameters
    ----------
    steps : array_like of int, shape (K,)
        Non-decreasing steps at which ``w`` is recorded, before the update of the
        same index (step 0 is the initial state).
    lam, rho : array_like
        Per-feature data parameters (broadcast together with ``lr``, ``eps``,
        ``momentum`` and ``depth``).
    depth : int or array_like of int
        Encoder depth ``L`` (1..64); one depth for all features with ``layers``.
    objective : {"jepa", "mae", "jepa-ema"}
        Loss of eq. 5; ``"jepa-ema"``: the target is an EMA of the online layers,
        ``b_l <- m b_l + (1 - m) a_l`` after every step (``momentum`` ``m``).
    lr : array_like
        Learning rate ``eta > 0`` per feature.
    eps : array_like, optional
        The balanced initialisation of assumption 3.1: every layer and the
        predictor/decoder ``eps^(1/L)``, so ``w(0) = eps``.
    layers, decoder : array_like, optional
        Any aligned initialisation instead: per-feature layer values, shape
        ``(*features, L)`` (broadcast), and predictor/decoder values,
        ``(*features,)``; nonzero, magnitude at most 1e12.
    target : array_like, optional
        jepa-ema's initial target layers, shape ``(*features, L)`` (default: a
        copy of the online layers, as in the trainer).
    momentum : array_like, optional
        EMA momentum in ``[0, 1)``, jepa-ema only.
    return_status : bool, optional
        Also return the per-feature status: ``SUCCESS``, ``OSCILLATED`` (``w``
        reversed direction beyond rounding: ``lr`` above the monotone limit,
        the values are valid) or ``DIVERGED`` (a value left 1e12; ``w`` is NaN
        from the first step it could not be recorded).  Without it a diverged
        feature raises :class:`SolverError`.
    backend : {"auto", "cpu", "gpu"}, optional
        As for :func:`trajectory`: CuPy inputs (the per-feature inputs, ``steps``,
        ``layers``, ``decoder``, ``target``) run the recursion on their GPU (one
        thread per feature) and give CuPy results; ``"gpu"`` with NumPy inputs
        returns NumPy.  The initial state is checked and built on the host in
        either case (CuPy inputs are copied there once: small next to the
        recursion).

    Returns
    -------
    w : ndarray, shape (*features, K)
        ``||Wbar e_i|| = |prod_l a_l|`` at ``steps``.
    status : ndarray of int8, shape (*features,)
        Only with ``return_status=True``.
    """
    return call(ops.gd_trajectory, dict(
        t=steps, lam=lam, rho=rho, depth=depth, objective=objective, lr=lr, eps=eps,
        layers=layers, decoder=decoder, target=target, momentum=momentum,
        return_status=return_status, backend=backend))


def gd_critical_step(
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    objective: str,
    lr: ArrayLike,
    p: ArrayLike = 0.5,
    eps: ArrayLike | None = None,
    layers: ArrayLike | None = None,
    decoder: ArrayLike | None = None,
    target: ArrayLike | None = None,
    momentum: ArrayLike | None = None,
    max_steps: int = DEFAULT_GD_STEPS,
    return_status: bool = False,
    backend: str = "auto",
):
    """The first gradient-descent step at which ``w`` reaches ``p`` times its limit.

    The finite-learning-rate counterpart of :func:`critical_time` (eq. 11): the
    recursion of :func:`gd_trajectory`, stopped at the first step ``k`` with
    ``w_k >= p w_lim``.  ``w_lim`` is the limit of gradient flow from the same
    initial state, fixed by its conserved quantities ``a_l^2 - v^2``: JEPA and
    jepa-ema end at ``v = rho``, MAE where ``v prod_l sqrt(v^2 + a_l^2 - v^2) = rho``,
    with ``w_lim = prod_l sqrt(v^2 + c_l)``; the balanced initialisation gives
    the fixed points ``rho^L`` / ``rho^(L/(L+1))`` of corollary 3.3 (which
    gradient descent keeps exactly: balance is preserved by the recursion).
    ``depth * lr * k`` tends to :func:`critical_time` as ``lr -> 0``.

    Parameters
    ----------
    lam, rho, depth, objective, lr, eps, layers, decoder, target, momentum
        As for :func:`gd_trajectory`.
    p : array_like, optional
        Fraction of the limit in (0, 1) (default 0.5).
    max_steps : int, optional
        Steps per feature before it is given up (status ``MAX_STEPS``).
    return_status : bool, optional
        Also return the per-feature status (``SUCCESS``, ``MAX_STEPS``,
        ``DIVERGED``); without it a failed feature raises :class:`SolverError`.
    backend : {"auto", "cpu", "gpu"}, optional
        As for :func:`gd_trajectory`.

    Returns
    -------
    step : ndarray of float64, shape (*features,)
        The step (an exact integer; 0 where ``w_0`` is already at the level), NaN
        for a failed feature.
    status : ndarray of int8, shape (*features,)
        Only with ``return_status=True``.
    """
    return call(ops.gd_critical_step, dict(
        lam=lam, rho=rho, depth=depth, objective=objective, lr=lr, p=p, eps=eps, layers=layers,
        decoder=decoder, target=target, momentum=momentum, max_steps=max_steps,
        return_status=return_status, backend=backend))


def gd_stable_lr(
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    objective: str,
    momentum: ArrayLike | None = None,
    backend: str = "auto",
):
    """The largest stable learning rate per feature: gradient descent's derived threshold.

    Gradient descent (:func:`gd_trajectory`) converges to the balanced fixed
    point (``w = rho^L`` JEPA, ``rho^(L/(L+1))`` MAE, corollary 3.3) for
    ``lr < lr_max`` and leaves it for ``lr > lr_max``, with (``kernels/cuda/gd.h``
    has the derivation: the Jacobian of the recursion at the fixed point has one
    nonzero eigenvalue ``mu``, and ``x <- x - lr g(x)`` is stable for ``lr mu < 2``)::

        JEPA      lr_max = 2 / (lam rho^(2L-1))
        MAE       lr_max = 2 / ((L+1) lam rho^((L-1)/(L+1)))
        jepa-ema  lr_max = min(2(1+m) / (1+m+2mL), (1+m) / (m(1+L))) / (lam rho^(2L-1))

    (jepa-ema: the Jury conditions of the two-dimensional map of the online and
    target deviations, EMA momentum ``m``; ``m = 0`` is JEPA's threshold).
    Between ``lr_max / 2`` and ``lr_max`` the approach is oscillating
    (:func:`gd_trajectory`'s status ``OSCILLATED``), above it the feature leaves
    the fixed point (a period-2 orbit or ``DIVERGED``).  The threshold concerns
    the end of learning: a feature may cross ``p`` of its limit
    (:func:`gd_critical_step`) before it goes unstable.

    Parameters
    ----------
    lam, rho : array_like
        Per-feature data parameters, in ``[1e-6, 1e6]`` and ``[1e-3, 1e3]``
        (broadcast together with ``depth`` and ``momentum``).
    depth : int or array_like of int
        Encoder depth ``L`` in 1..64.
    objective : {"jepa", "mae", "jepa-ema"}
    momentum : array_like, optional
        EMA momentum per step in ``[0, 1)``, jepa-ema only (required there).
    backend : {"auto", "cpu", "gpu"}, optional
        See :func:`trajectory`: CuPy inputs run on their GPU and give CuPy results.

    Returns
    -------
    lr_max : ndarray (batch shape) or float
        Positive; ``inf`` where it lies beyond float64 (JEPA, ``rho`` near 1e-3 at
        large depth: every learning rate is stable), ``0`` where it lies below
        float64's smallest number (``rho`` near 1e3 at depths above about 50).
        Never NaN.

    Raises
    ------
    ValueError, TypeError
        An input outside the domain or of the wrong kind (the message names
        the parameter, the value and the first bad index).
    """
    return call(ops.gd_stable_lr, dict(lam=lam, rho=rho, depth=depth, objective=objective,
                                       momentum=momentum, backend=backend))


def flow_trajectory(
    t: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    objective: str,
    eps: ArrayLike | None = None,
    layers: ArrayLike | None = None,
    decoder: ArrayLike | None = None,
    target: ArrayLike | None = None,
    ema_time: ArrayLike = 0.0,
    rtol: float = 1e-10,
    max_steps: int = DEFAULT_MAX_STEPS,
    return_status: bool = False,
    backend: str = "auto",
):
    """Gradient flow from any aligned initialisation: ``w`` at ODE times ``t``.

    The ``lr -> 0`` limit of :func:`gd_trajectory` (JEPA and MAE): the flow of
    every layer value and the predictor/decoder, reduced by its conserved
    quantities ``c_l = a_l^2 - v^2`` to one equation for ``v``
    (``kernels/cuda/flow.h`` has the derivation) and integrated adaptively
    (Dormand-Prince 5(4), local relative error ``rtol`` in ``v``).  From the
    balanced start (``eps``) it is eq. 7/8: :func:`trajectory` (the closed form)
    is then the better tool; this function is for the unbalanced starts the
    closed form does not cover.

    ``objective="jepa-ema"``: the limit of gradient descent with an EMA target
    at a fixed lag ``ema_time`` ``E = L lr m / (1 - m)`` in ODE time
    (:func:`fastdyn.train.ema_time`): the target layers follow
    ``db_l/dt = (a_l - b_l) / E``; the same conserved gaps reduce the online
    network to ``v``, and the ``L + 1`` values ``(v, b_1..b_L)`` are integrated
    together.  From the balanced start with ``b = a`` this is the two-state
    system of :func:`trajectory` with ``objective="jepa-ema"``; ``E = 0`` is
    JEPA.  The explicit steps are bounded by the target's relaxation rate
    ``L / E``: the cost grows like ``t / E`` for small ``E``.

    Parameters
    ----------
    t : array_like, shape (T,)
        Non-decreasing ODE times ``t = L tau`` in ``[0, 1e300]``.
    lam, rho, depth, objective, eps, layers, decoder, target
        As for :func:`gd_trajectory` (``target``: jepa-ema's initial target
        layers, default a copy of the online layers).
    ema_time : array_like, optional
        jepa-ema only: the target's lag ``E`` in ODE time, in ``[0, 1e300]``
        (broadcast with the per-feature parameters).
    rtol : float, optional
        Local relative error per step (of every integrated value), in [1e-14, 1e-2].
    max_steps : int, optional
        Accepted plus rejected steps per feature (status ``MAX_STEPS`` beyond).
    return_status : bool, optional
        Also return the per-feature status; without it a failed feature raises
        :class:`SolverError`.
    backend : {"auto", "cpu", "gpu"}, optional
        As for :func:`gd_trajectory` (the same C++ integrator on both backends).

    Returns
    -------
    w : ndarray, shape (*features, T)
    status : ndarray of int8, shape (*features,)
        Only with ``return_status=True``.
    """
    return call(ops.flow_trajectory, dict(
        t=t, lam=lam, rho=rho, depth=depth, objective=objective, eps=eps, layers=layers,
        decoder=decoder, target=target, ema_time=ema_time, lr=None, momentum=None, rtol=rtol,
        max_steps=max_steps, return_status=return_status, backend=backend))
