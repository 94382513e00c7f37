"""The public NumPy API: validate once, flatten, call a kernel, reshape.

Conventions (MATH.md): per feature ``i``, ``lam_i = Syx_ii`` (covariance),
``rho_i = lam_i / Sxx_ii`` (regression coefficient); the tracked weight is
``w_i(t) = ||Wbar e_i||``, the norm of column ``i`` of the end-to-end encoder
``Wbar = W_L ... W_1``; ``t`` is the paper's ODE time, ``t = L * tau`` with
``tau`` the gradient-flow time of the losses of eq. 5 (gradient descent with
learning rate ``eta`` after ``k`` steps: ``t = L * eta * k``).  Assumption 3.1
starts every feature at ``w_i(0) = eps``.
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _validate as v
from .kernels import _exact, _family, _inverse

__all__ = [
    "SolverError",
    "Status",
    "advance",
    "critical_time",
    "fixed_point",
    "rhs",
    "time_to_reach",
    "trajectory",
]

# Below this many feature-times a serial loop beats waking the thread pool.
_PARALLEL_MIN_WORK = 4096
_DEFAULT_MAX_STEPS = 100_000


class Status(enum.IntEnum):
    """Per-feature status codes returned with ``return_status=True``."""

    SUCCESS = _family.SUCCESS
    MAX_STEPS = _family.MAX_STEPS
    NON_FINITE = _family.NON_FINITE
    NO_CONVERGENCE = _family.NO_CONVERGENCE


class SolverError(RuntimeError):
    """Some features failed; ``.status`` holds the per-feature status array."""

    def __init__(self, message: str, status: NDArray[np.int8]):
        super().__init__(message)
        self.status = status


def _flat(a: np.ndarray, dtype) -> np.ndarray:
    """1-D contiguous copy-if-needed of a (possibly broadcast) array."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def _raise_on_failure(status: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(status.reshape(-1))
    if bad.size:
        first = np.unravel_index(bad[0], status.shape) if status.ndim > 1 else (int(bad[0]),)
        code = Status(int(status.reshape(-1)[bad[0]])).name
        idx = tuple(int(i) for i in first)
        raise SolverError(
            f"{what}: {bad.size} of {status.size} features failed; the first is at index "
            f"{idx if len(idx) != 1 else idx[0]} ({code}). Pass return_status=True to get "
            f"the per-feature status array instead of this error.",
            status,
        )


def _finish(out: np.ndarray, shape: tuple[int, ...]):
    return out[()] if shape == () else out


def _features(**named) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """Broadcast the per-feature parameters and flatten them for the kernels."""
    arrays, shape = v.broadcast(**named)
    flat = []
    for name, a in zip(named, arrays):
        flat.append(_flat(a, np.int64 if name == "depth" else np.float64))
    return flat, shape


def trajectory(
    t: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    eps: ArrayLike,
    objective: str = "jepa",
    method: str = "exact",
    rtol: float = 1e-8,
    out: np.ndarray | None = None,
    return_status: bool = False,
    max_steps: int = _DEFAULT_MAX_STEPS,
):
    """Per-feature weight ``w(t) = ||Wbar e_i||`` at the requested times.

    Solves eq. 7 (JEPA) or eq. 8 (MAE) from ``w(0) = eps`` for every feature.

    Parameters
    ----------
    t : array_like, shape (T,)
        Non-decreasing times ``>= 0`` (the paper's ODE time).
    lam, rho : array_like
        Per-feature covariance ``lam > 0`` and regression coefficient
        ``rho > 0``; broadcast with ``depth`` and ``eps`` to the batch shape.
    depth : int or array_like of int
        Encoder depth ``L`` in 1..64 (may differ per feature).
    eps : array_like
        Initial weight ``w(0) > 0``: below the fixed point the weight grows to
        it, above it the weight decays to it.
    objective : {"jepa", "mae"}
    method : {"exact", "ode"}
        ``"exact"`` inverts the closed-form implicit solution (theorem B.7,
        theorem B.10 in elementary form, eq. 116-119); ``"ode"`` integrates the
        ODE with an adaptive Dormand-Prince 5(4) pair per feature.
    rtol : float
        Relative tolerance of the ``"ode"`` method, in (0, 1e-2].  Each step's
        error is controlled as a shift of the trajectory in time (for a scalar
        autonomous ODE a local error is exactly such a shift): the result is
        the exact weight at a time within ``rtol * max(1e-3, 64 eps / rtol)``
        (relative) of the requested one, i.e. a relative error ``O(rtol)``
        wherever ``t |d log w / dt| <= 1e3``.  At the steep end of a long
        plateau, where ``w`` changes by orders of magnitude within a relative
        time of ``1e-8``, use ``method="exact"``.
    out : ndarray, optional
        float64 array of shape ``batch_shape + (T,)`` to write into.
    return_status : bool
        If True, return ``(w, status)`` and never raise for per-feature
        failures; ``status`` (int8, batch shape) holds :class:`Status` codes.
    max_steps : int
        Step budget per feature of the ``"ode"`` method.

    Returns
    -------
    w : ndarray, shape ``batch_shape + (T,)``

    Raises
    ------
    SolverError
        If a feature fails (``"ode"``: step budget exhausted or non-finite
        state) and ``return_status`` is False.
    """
    method = v.check_choice("method", method, ("exact", "ode"))
    obj = v.objective_code(objective)
    tt = v.time_grid(t)
    rt = v.rtol_value(rtol)
    (lam_f, rho_f, eps_f, depth_f), shape = _features(
        lam=v.positive_finite("lam", lam),
        rho=v.positive_finite("rho", rho),
        eps=v.positive_finite("eps", eps),
        depth=v.depth_array(depth),
    )
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}.")
    full = shape + (tt.shape[0],)
    res = v.output_array(out, full)
    n = lam_f.shape[0]
    work = res if res.flags.c_contiguous else np.empty(full)
    w2 = work.reshape(n, tt.shape[0])
    status = np.zeros(n, dtype=np.int8)
    if n and tt.shape[0]:
        if method == "exact":
            kernel = (_exact.trajectory_kernel if n * tt.shape[0] >= _PARALLEL_MIN_WORK
                      else _exact.trajectory_kernel_serial)
            tab_s, tab_d = _inverse.tables_for(obj, depth_f)
            kernel(tt, obj, depth_f, lam_f, rho_f, eps_f, w2, status, tab_s, tab_d)
        else:
            from .kernels import _ode  # loaded only when the integrator is used

            nsteps = np.zeros(n, dtype=np.int64)
            _ode.ode_trajectory_kernel(tt, obj, depth_f, lam_f, rho_f, eps_f, rt,
                                       int(max_steps), w2, status, nsteps)
    if work is not res:
        res[...] = work
    status = status.reshape(shape)
    if return_status:
        return _finish(res, full), _finish(status, shape)
    _raise_on_failure(status, f"trajectory(method={method!r})")
    return res


def time_to_reach(
    w: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    eps: ArrayLike,
    objective: str,
):
    """Exact time at which the weight, started at ``eps``, first equals ``w``.

    Closed form (no iteration): ``t = (F(sigma(w)) - F(sigma(eps))) / K``
    with the implicit solutions of theorem B.7 / B.10 / eq. 116.

    Parameters
    ----------
    w, lam, rho, eps : array_like
        Positive, finite; broadcast with ``depth`` to the batch shape.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}

    Returns
    -------
    t : ndarray (batch shape) or float
        ``inf`` where ``w`` is never reached: behind the start, at the fixed
        point or beyond it.  ``0`` where ``w == eps``.
    """
    obj = v.objective_code(objective)
    (w_f, lam_f, rho_f, eps_f, depth_f), shape = _features(
        w=v.positive_finite("w", w),
        lam=v.positive_finite("lam", lam),
        rho=v.positive_finite("rho", rho),
        eps=v.positive_finite("eps", eps),
        depth=v.depth_array(depth),
    )
    out = np.empty(w_f.shape[0])
    kernel = (_exact.time_to_reach_kernel if out.shape[0] >= _PARALLEL_MIN_WORK
              else _exact.time_to_reach_kernel_serial)
    kernel(obj, depth_f, lam_f, rho_f, eps_f, w_f, out)
    return _finish(out.reshape(shape), shape)


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
    max_steps: int = _DEFAULT_MAX_STEPS,
):
    """Critical time ``t*`` of eq. 11: the first time with ``w(t*) >= p w(inf)``.

    Parameters
    ----------
    lam, rho, eps : array_like
        Positive, finite; broadcast with ``depth`` and ``p``.
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
        Relative tolerance of the ``"ode"`` method.
    return_status : bool
        With ``"ode"``: return ``(t, status)`` instead of raising.

    Returns
    -------
    t : ndarray (batch shape) or float
        Zero for features that start at or above ``p w(inf)`` (every feature
        starting above its fixed point); ``inf`` where the crossing lies
        beyond float64.
    """
    method = v.check_choice("method", method, ("exact", "asymptotic", "ode"))
    obj = v.objective_code(objective)
    rt = v.rtol_value(rtol)
    (lam_f, rho_f, eps_f, p_f, depth_f), shape = _features(
        lam=v.positive_finite("lam", lam),
        rho=v.positive_finite("rho", rho),
        eps=v.positive_finite("eps", eps),
        p=v.fraction("p", p),
        depth=v.depth_array(depth),
    )
    n = lam_f.shape[0]
    out = np.empty(n)
    status = np.zeros(n, dtype=np.int8)
    if method == "ode":
        from .kernels import _ode

        nsteps = np.zeros(n, dtype=np.int64)
        _ode.ode_crossing_kernel(obj, depth_f, lam_f, rho_f, eps_f, p_f, rt,
                                 int(max_steps), out, status, nsteps)
    else:
        # F(sigma*) depends on (objective, depth, p) only: with one p for all
        # features it is computed once per depth
        levels = np.full(v.MAX_DEPTH + 1, np.nan)
        if n and method == "exact" and p_f[0] == p_f.min() == p_f.max():
            _exact.critical_levels(obj, int(depth_f.min()), int(depth_f.max()), float(p_f[0]), levels)
        kernel = (_exact.critical_time_kernel if n >= _PARALLEL_MIN_WORK
                  else _exact.critical_time_kernel_serial)
        kernel(obj, depth_f, lam_f, rho_f, eps_f, p_f, method == "asymptotic", levels, out)
    out = out.reshape(shape)
    status = status.reshape(shape)
    if return_status:
        return _finish(out, shape), _finish(status, shape)
    _raise_on_failure(status, f"critical_time(method={method!r})")
    return _finish(out, shape)


def advance(
    w: ArrayLike,
    dt: ArrayLike,
    lam: ArrayLike,
    rho: ArrayLike,
    *,
    depth: ArrayLike,
    objective: str,
    out: np.ndarray | None = None,
):
    """Exact flow map: the weight a further time ``dt`` after ``w``.

    ``advance(advance(w, a), b) == advance(w, a + b)`` up to rounding.  Meant
    to be called every step of a user's own time loop: a call on 100 features
    costs microseconds.

    Parameters
    ----------
    w : array_like
        Current weights (positive, finite).
    dt : float or array_like
        Time step(s) ``>= 0`` (scalar or per feature).
    lam, rho : array_like
        Positive, finite.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    out : ndarray, optional
        float64 array of the batch shape to write into (may be ``w`` itself).

    Returns
    -------
    w_new : ndarray (batch shape) or float
    """
    obj = v.objective_code(objective)
    (w_f, dt_f, lam_f, rho_f, depth_f), shape = _features(
        w=v.positive_finite("w", w),
        dt=v.nonnegative_finite("dt", dt),
        lam=v.positive_finite("lam", lam),
        rho=v.positive_finite("rho", rho),
        depth=v.depth_array(depth),
    )
    res = v.output_array(out, shape)
    n = w_f.shape[0]
    work = res.reshape(n) if res.flags.c_contiguous else np.empty(n)
    status = np.zeros(n, dtype=np.int8)
    kernel = (_exact.advance_kernel if n >= _PARALLEL_MIN_WORK else _exact.advance_kernel_serial)
    tab_s, tab_d = _inverse.tables_for(obj, depth_f)
    kernel(obj, depth_f, lam_f, rho_f, w_f, dt_f, work, status, tab_s, tab_d)
    if not res.flags.c_contiguous:
        res[...] = work.reshape(shape)
    _raise_on_failure(status.reshape(shape), "advance")
    return _finish(res, shape)


def fixed_point(rho: ArrayLike, *, depth: ArrayLike, objective: str):
    """Fixed point of corollary 3.3: ``rho**L`` (JEPA), ``rho**(L/(L+1))`` (MAE).

    Returns
    -------
    w_inf : ndarray (broadcast shape of ``rho`` and ``depth``) or float
    """
    obj = v.objective_code(objective)
    (rho_f, depth_f), shape = _features(rho=v.positive_finite("rho", rho), depth=v.depth_array(depth))
    out = np.empty(rho_f.shape[0])
    _exact.fixed_point_kernel(obj, depth_f, rho_f, out)
    return _finish(out.reshape(shape), shape)


def rhs(w: ArrayLike, lam: ArrayLike, rho: ArrayLike, *, depth: ArrayLike, objective: str):
    """Right-hand side of eq. 7 (JEPA) / eq. 8 (MAE): ``dw/dt``.

    ``lam * (w**(3 - 1/L) - w**3 / rho)`` (JEPA) or
    ``lam * (w**(2 - 1/L) - w**3 / rho)`` (MAE).

    Returns
    -------
    dwdt : ndarray (batch shape) or float
    """
    obj = v.objective_code(objective)
    (w_f, lam_f, rho_f, depth_f), shape = _features(
        w=v.positive_finite("w", w),
        lam=v.positive_finite("lam", lam),
        rho=v.positive_finite("rho", rho),
        depth=v.depth_array(depth),
    )
    out = np.empty(w_f.shape[0])
    _exact.rhs_kernel(obj, depth_f, w_f, lam_f, rho_f, out)
    return _finish(out.reshape(shape), shape)
