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
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _backend
from . import _validate as v
from ._backend import is_dask
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


def _dask_apply(func, arrays: dict, kwargs: dict):
    """dask.array inputs: map ``func`` over their blocks (``fastdyn._sweep._dask.apply``)."""
    from ._sweep._dask import apply

    return apply(func, arrays, kwargs)


def _trajectory_buffers(out, shape: tuple[int, ...], nt: int):
    """``(res, w2, status)``: the result array, a C-contiguous ``(n, nt)`` view to fill, statuses."""
    full = shape + (nt,)
    res = v.output_array(out, full)
    work = res if res.flags.c_contiguous else np.empty(full)
    n = math.prod(shape)
    return res, work.reshape(n, nt), np.zeros(n, dtype=np.int8)


def _trajectory_result(res, w2, status, shape, return_status: bool, what: str):
    """Copy a temporary back into a non-contiguous ``out``; statuses or SolverError."""
    if not np.may_share_memory(res, w2):  # a temporary for a non-contiguous `out`
        res[...] = w2.reshape(res.shape)
    status = status.reshape(shape)
    if return_status:
        return _finish(res, res.shape), _finish(status, shape)
    _raise_on_failure(status, what)
    return res


def _check_max_steps(max_steps) -> None:
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}.")


def _finish(out: np.ndarray, shape: tuple[int, ...]):
    return out[()] if shape == () else out


def _features(**named) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """Broadcast the per-feature parameters and flatten them for the kernels."""
    arrays, shape = v.broadcast(**named)
    flat = []
    for name, a in zip(named, arrays):
        flat.append(_flat(a, np.int64 if name == "depth" else np.float64))
    return flat, shape


_CHECKS = {"lam": "positive", "rho": "positive", "eps": "positive", "w": "positive",
           "dt": "nonnegative", "p": "fraction"}
_HOST_CHECKS = {"positive": v.positive_finite, "nonnegative": v.nonnegative_finite,
                "fraction": v.fraction}


def _inputs(backend, raw: dict, **others):
    """Backend selection, then validation of host inputs (device inputs: ``_gpu_features``).

    Returns ``(where, on_device, host, shape)``: ``host`` maps each per-feature
    parameter of ``raw`` (in its order, which is the order of the checks) to its
    validated, broadcast, flattened array; ``None`` with device inputs.
    ``others`` are further inputs that take part in backend selection only.
    """
    where, on_device = _backend.select(backend, {**raw, **others})
    if on_device:
        return where, True, None, None
    checked = {k: v.depth_array(a) if k == "depth" else _HOST_CHECKS[_CHECKS[k]](k, a)
               for k, a in raw.items()}
    flat, shape = _features(**checked)
    return where, False, dict(zip(raw, flat)), shape


def _dtype_arg(dtype, where: str, ode: bool):
    """float64 everywhere; float32 only for the ODE method on the GPU."""
    if dtype is None:
        return np.float64
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"`dtype` must be float64 or float32; got {dtype!r}.") from None
    if dt == np.float64:
        return np.float64
    if dt != np.float32:
        raise ValueError(f"`dtype` must be float64 or float32; got {dt.name}.")
    if where != "gpu" or not ode:
        raise ValueError(
            "`dtype=float32` is supported only by method='ode' on the GPU backend "
            "(CuPy inputs or backend='gpu'); use float64."
        )
    return np.float32


def _gpu_features(cp, on_device: bool, dtype, host: dict | None, named: dict):
    """Per-feature inputs for the GPU kernels, with the batch shape and the depth range.

    ``host``: the already validated and flattened NumPy arrays (``backend="gpu"``
    with host inputs; they are copied to the device chunk by chunk).  Otherwise
    ``named`` holds the user's CuPy arrays, validated here on the device.
    """
    from . import _gpu

    if not on_device:
        if dtype != np.float64:
            for k, a in host.items():
                if k != "depth":
                    _gpu.check_representable(k, a, dtype)
        d = host["depth"]
        rng = (int(d.min()), int(d.max())) if d.size else (1, 1)
        return _gpu.Inputs(cp, host, False, dtype), rng
    arrs = {}
    for name, a in named.items():
        arrs[name] = (_gpu.check_depth_device(cp, a) if name == "depth"
                      else _gpu.check_device(cp, _CHECKS[name], name, a))
    shape = _gpu.broadcast_shape({k: a.shape for k, a in arrs.items()})
    flat = {}
    for k, a in arrs.items():
        f = _gpu.flat_device(cp, a, shape, np.int64 if k == "depth" else np.float64)
        flat[k] = f if k == "depth" else _gpu.to_dtype_checked(cp, k, f, dtype)
    d = flat["depth"]
    rng = _gpu._min_max(cp, d) if d.size else (1, 1)
    inp = _gpu.Inputs(cp, flat, True, dtype)
    inp.shape = shape
    return inp, (int(rng[0]), int(rng[1]))


def _device_output(cp, out, shape, dtype):
    if out is None:
        return cp.empty(shape, dtype=dtype)
    if not isinstance(out, cp.ndarray):
        raise TypeError(f"`out` must be a cupy.ndarray for CuPy inputs; got {type(out).__name__}.")
    if out.dtype != dtype:
        raise TypeError(f"`out` must have dtype {np.dtype(dtype).name}; got dtype {out.dtype}.")
    if out.shape != shape:
        raise ValueError(f"`out` must have shape {shape}; got shape {out.shape}.")
    return out


def _host_output(out, shape, dtype):
    if dtype == np.float64:
        return v.output_array(out, shape)
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.shape != shape:
        raise TypeError(f"`out` must be a float32 numpy.ndarray of shape {shape}.")
    return out


def _status_check(status, shape, what: str, return_status: bool):
    """Raise SolverError for failed features (statuses fetched from the device only then)."""
    if return_status:
        return
    if isinstance(status, np.ndarray):
        _raise_on_failure(status.reshape(shape), what)
    elif bool(status.any()):
        _raise_on_failure(status.get().reshape(shape), what)


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
    max_steps: int = _DEFAULT_MAX_STEPS,
    backend: str = "auto",
    dtype=None,
    ema_time: ArrayLike = 0.0,
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
    backend : {"auto", "cpu", "gpu"}
        ``"auto"``: CuPy inputs run on their GPU and give CuPy results, NumPy
        inputs run on the CPU.  ``"gpu"`` with NumPy inputs copies them to the
        GPU once (in chunks that fit its free memory) and returns NumPy.
    dtype : {None, numpy.float64, numpy.float32}
        ``float32`` only with ``method="ode"`` on the GPU (see the README's
        float32 section for the accuracy it gives); float64 otherwise.
    ema_time : array_like
        ``objective="jepa-ema"`` only: the target's lag ``E >= 0`` in ODE time,
        ``E = L * lr * m / (1 - m)`` for a run with learning rate ``lr`` and
        EMA momentum ``m`` per step (:func:`fastdyn.train.ema_time`); ``E = 0``
        is eq. 7.  Broadcasts with the per-feature parameters.

    Returns
    -------
    w : ndarray, shape ``batch_shape + (T,)``
        NumPy or CuPy, following the inputs (see ``backend``).

    Raises
    ------
    SolverError
        If a feature fails (``"ode"``: step budget exhausted or non-finite
        state) and ``return_status`` is False.
    """
    if is_dask(lam, rho, eps, depth, ema_time):
        arrays = dict(lam=lam, rho=rho, eps=eps, depth=depth)
        kw = dict(t=t, objective=objective, method=method, rtol=rtol, out=out,
                  return_status=return_status, max_steps=max_steps, backend=backend, dtype=dtype)
        (arrays if objective == "jepa-ema" else kw)["ema_time"] = ema_time
        return _dask_apply(trajectory, arrays, kw)
    if objective == "jepa-ema":
        return _trajectory_ema(t, lam, rho, depth, eps, method, rtol, out, return_status,
                               max_steps, backend, dtype, ema_time)
    method = v.check_choice("method", "exact" if method is None else method, ("exact", "ode"))
    obj = _objective_code(objective)
    if not (isinstance(ema_time, (int, float)) and ema_time == 0.0):
        raise ValueError(f"`ema_time` applies to objective='jepa-ema' only; got objective={objective!r}.")
    raw = {"lam": lam, "rho": rho, "eps": eps, "depth": depth}
    where, on_device = _backend.select(backend, {**raw, "t": t, "out": out})
    dt = _dtype_arg(dtype, where, method == "ode")
    rt = v.rtol_value(rtol)
    _check_max_steps(max_steps)
    if where == "gpu":
        from . import _gpu

        cp = _gpu.cupy()
        tt = v.time_grid(_gpu._host_copy(t) if _backend.is_device_array(t) else t)
        _, _, host, shape = _inputs(backend, raw, t=t, out=out)
        inp, drange = _gpu_features(cp, on_device, dt, host, raw)
        if on_device:
            shape = inp.shape
        full = shape + (tt.shape[0],)
        res = _device_output(cp, out, full, dt) if on_device else _host_output(out, full, dt)
        n = math.prod(shape)
        xp = cp if on_device else np
        work = res if res.flags.c_contiguous else xp.empty(full, dtype=dt)
        status = _gpu.trajectory(inp, n, tt, obj, method, rt, int(max_steps), drange,
                                 work.reshape(n, tt.shape[0]))
        if work is not res:
            res[...] = work
        status = status.reshape(shape)
        _status_check(status, shape, f"trajectory(method={method!r})", return_status)
        if return_status:
            return _finish(res, full), _finish(status, shape)
        return res
    tt = v.time_grid(t)
    _, _, host, shape = _inputs(backend, raw)
    lam_f, rho_f, eps_f, depth_f = host["lam"], host["rho"], host["eps"], host["depth"]
    res, w2, status = _trajectory_buffers(out, shape, tt.shape[0])
    n = lam_f.shape[0]
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
    return _trajectory_result(res, w2, status, shape, return_status,
                              f"trajectory(method={method!r})")


def _gpu_elementwise(on_device: bool, raw: dict, host: dict | None, shape, kernel: str, pre: tuple,
                     order: tuple, *, mid=None, post=None, with_status=False, out=None,
                     source: str = "exact_kernels.cu", dtype=np.float64):
    """Run a one-output-per-feature GPU kernel; returns ``(result, status, shape)``.

    ``mid(cp, drange)`` / ``post(cp, drange)`` build the kernel arguments that
    sit between the inputs and the output / after the output (tables, levels).
    """
    from . import _gpu

    cp = _gpu.cupy()
    inp, drange = _gpu_features(cp, on_device, dtype, host, raw)
    if on_device:
        shape = inp.shape
    n = math.prod(shape)
    res = None
    if out is not None:
        res = (_device_output(cp, out, shape, dtype) if on_device
               else _host_output(out, shape, dtype))
        flat = res.reshape(-1) if res.flags.c_contiguous else None
    else:
        flat = None
    vals, status = _gpu.elementwise(
        inp, n, source, kernel, pre, order,
        mid=mid(cp, drange) if mid else (), post=post(cp, drange) if post else (),
        with_status=with_status, out=flat, out_dtype=dtype)
    if res is None:
        res = vals.reshape(shape)
    elif flat is None:
        res[...] = vals.reshape(shape)
    return res, (status.reshape(shape) if status is not None else None), shape


def _i32(x):
    return np.int32(x)


def _objective_code(objective) -> int:
    """``v.objective_code`` with a message that also lists "jepa-ema" (trajectory only)."""
    try:
        return v.objective_code(objective)
    except ValueError:
        raise ValueError(
            f"`objective` must be 'jepa', 'mae' or 'jepa-ema'; got {objective!r}.") from None


def _trajectory_ema(t, lam, rho, depth, eps, method, rtol, out, return_status, max_steps,
                    backend, dtype, ema_time):
    """``trajectory(objective="jepa-ema")``: the two-state ODE of ``fastdyn._ema`` (CPU)."""
    method = v.check_choice("method", "ode" if method is None else method, ("exact", "ode"))
    if method != "ode":
        raise ValueError("objective='jepa-ema' has no closed form; use method='ode'.")
    where, _ = _backend.select(backend, {"t": t, "lam": lam, "rho": rho, "depth": depth,
                                         "eps": eps, "ema_time": ema_time, "out": out})
    if where == "gpu":
        raise ValueError("objective='jepa-ema' runs on the CPU only; pass NumPy arrays "
                         "(`x.get()`) and backend='auto' or 'cpu'.")
    _dtype_arg(dtype, where, True)
    from . import _ema

    return _ema.trajectory_ema(t, lam, rho, depth=depth, eps=eps, ema_time=ema_time, rtol=rtol,
                               max_steps=max_steps, return_status=return_status, out=out)


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
    w, lam, rho, eps : array_like
        Positive, finite; broadcast with ``depth`` to the batch shape.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    t : ndarray (batch shape) or float
        ``inf`` where ``w`` is never reached: behind the start, at the fixed
        point or beyond it.  ``0`` where ``w == eps``.
    """
    if is_dask(w, lam, rho, eps, depth):
        return _dask_apply(time_to_reach, dict(w=w, lam=lam, rho=rho, eps=eps, depth=depth),
                           dict(objective=objective, backend=backend))
    obj = v.objective_code(objective)
    raw = {"w": w, "lam": lam, "rho": rho, "eps": eps, "depth": depth}
    where, on_device, host, shape = _inputs(backend, raw)
    if not on_device:
        w_f, lam_f, rho_f, eps_f, depth_f = host["w"], host["lam"], host["rho"], host["eps"], host["depth"]
    if where == "gpu":
        res, _, shape = _gpu_elementwise(on_device, raw, host, shape, "fd_time_to_reach", (_i32(obj),),
                                         ("depth", "lam", "rho", "eps", "w"))
        return _finish(res, shape)
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
    backend: str = "auto",
    dtype=None,
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
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.
    dtype : {None, numpy.float64, numpy.float32}
        ``float32`` only with ``method="ode"`` on the GPU.

    Returns
    -------
    t : ndarray (batch shape) or float
        Zero for features that start at or above ``p w(inf)`` (every feature
        starting above its fixed point); ``inf`` where the crossing lies
        beyond float64.
    """
    if is_dask(lam, rho, eps, p, depth):
        return _dask_apply(critical_time, dict(lam=lam, rho=rho, eps=eps, p=p, depth=depth),
                           dict(objective=objective, method=method, rtol=rtol,
                                return_status=return_status, max_steps=max_steps,
                                backend=backend, dtype=dtype))
    method = v.check_choice("method", method, ("exact", "asymptotic", "ode"))
    obj = v.objective_code(objective)
    rt = v.rtol_value(rtol)
    _check_max_steps(max_steps)
    raw = {"lam": lam, "rho": rho, "eps": eps, "p": p, "depth": depth}
    where, on_device, host, shape = _inputs(backend, raw)
    dt = _dtype_arg(dtype, where, method == "ode")
    if not on_device:
        lam_f, rho_f, eps_f, p_f, depth_f = host["lam"], host["rho"], host["eps"], host["p"], host["depth"]
    if where == "gpu":
        from . import _gpu

        if method == "ode":
            cp = _gpu.cupy()
            inp, _ = _gpu_features(cp, on_device, dt, host, raw)
            if on_device:
                shape = inp.shape
            res, status = _gpu.ode_crossing(inp, math.prod(shape), obj, rt, int(max_steps))
            res, status = res.reshape(shape), status.reshape(shape)
            _status_check(status, shape, "critical_time(method='ode')", return_status)
            if return_status:
                return _finish(res, shape), _finish(status, shape)
            return _finish(res, shape)

        def levels(cp, drange):
            lv = np.full(v.MAX_DEPTH + 1, np.nan)
            pp = raw["p"] if on_device else host["p"]
            if method == "exact" and _backend.is_device_array(pp) and pp.size:
                lo_p, hi_p = _gpu._min_max(cp, pp)
            elif method == "exact" and pp is not None and np.size(pp):
                lo_p = hi_p = None
                arr = np.asarray(v.fraction("p", pp))
                lo_p, hi_p = float(arr.min()), float(arr.max())
            else:
                lo_p, hi_p = 0.0, 1.0
            if method == "exact" and lo_p == hi_p:
                _exact.critical_levels(obj, drange[0], drange[1], lo_p, lv)
            return (_i32(method == "asymptotic"), cp.asarray(lv))

        res, _, shape = _gpu_elementwise(on_device, raw, host, shape, "fd_critical_time", (_i32(obj),),
                                         ("depth", "lam", "rho", "eps", "p"), mid=levels)
        if return_status:
            xp = _gpu.cupy() if on_device else np
            return _finish(res, shape), _finish(xp.zeros(shape, dtype=np.int8), shape)
        return _finish(res, shape)
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
    backend: str = "auto",
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
        float64 array of the batch shape to write into (may be ``w`` itself);
        a CuPy array for CuPy inputs.
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    w_new : ndarray (batch shape) or float
    """
    if is_dask(w, dt, lam, rho, depth):
        return _dask_apply(advance, dict(w=w, dt=dt, lam=lam, rho=rho, depth=depth),
                           dict(objective=objective, out=out, backend=backend))
    obj = v.objective_code(objective)
    raw = {"w": w, "dt": dt, "lam": lam, "rho": rho, "depth": depth}
    where, on_device, host, shape = _inputs(backend, raw, out=out)
    if not on_device:
        w_f, dt_f, lam_f, rho_f, depth_f = host["w"], host["dt"], host["lam"], host["rho"], host["depth"]
    if where == "gpu":
        from . import _gpu

        res, status, shape = _gpu_elementwise(
            on_device, raw, host, shape, "fd_advance", (_i32(obj),),
            ("depth", "lam", "rho", "w", "dt"), post=lambda cp, dr: _gpu._tables(cp, obj, dr),
            with_status=True, out=out)
        _status_check(status, shape, "advance", False)
        return _finish(res, shape)
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


def fixed_point(rho: ArrayLike, *, depth: ArrayLike, objective: str, backend: str = "auto"):
    """Fixed point of corollary 3.3: ``rho**L`` (JEPA), ``rho**(L/(L+1))`` (MAE).

    Parameters
    ----------
    rho : array_like
        Positive, finite.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    w_inf : ndarray (broadcast shape of ``rho`` and ``depth``) or float
    """
    if is_dask(rho, depth):
        return _dask_apply(fixed_point, dict(rho=rho, depth=depth),
                           dict(objective=objective, backend=backend))
    obj = v.objective_code(objective)
    raw = {"rho": rho, "depth": depth}
    where, on_device, host, shape = _inputs(backend, raw)
    if not on_device:
        rho_f, depth_f = host["rho"], host["depth"]
    if where == "gpu":
        res, _, shape = _gpu_elementwise(on_device, raw, host, shape, "fd_fixed_point", (_i32(obj),),
                                         ("depth", "rho"))
        return _finish(res, shape)
    out = np.empty(rho_f.shape[0])
    _exact.fixed_point_kernel(obj, depth_f, rho_f, out)
    return _finish(out.reshape(shape), shape)


def rhs(w: ArrayLike, lam: ArrayLike, rho: ArrayLike, *, depth: ArrayLike, objective: str,
        backend: str = "auto"):
    """Right-hand side of eq. 7 (JEPA) / eq. 8 (MAE): ``dw/dt``.

    ``lam * (w**(3 - 1/L) - w**3 / rho)`` (JEPA) or
    ``lam * (w**(2 - 1/L) - w**3 / rho)`` (MAE).

    Parameters
    ----------
    w, lam, rho : array_like
        Positive, finite.
    depth : int or array_like of int
        Encoder depth in 1..64.
    objective : {"jepa", "mae"}
    backend : {"auto", "cpu", "gpu"}
        See :func:`trajectory`.

    Returns
    -------
    dwdt : ndarray (batch shape) or float
    """
    if is_dask(w, lam, rho, depth):
        return _dask_apply(rhs, dict(w=w, lam=lam, rho=rho, depth=depth),
                           dict(objective=objective, backend=backend))
    obj = v.objective_code(objective)
    raw = {"w": w, "lam": lam, "rho": rho, "depth": depth}
    where, on_device, host, shape = _inputs(backend, raw)
    if not on_device:
        w_f, lam_f, rho_f, depth_f = host["w"], host["lam"], host["rho"], host["depth"]
    if where == "gpu":
        res, _, shape = _gpu_elementwise(on_device, raw, host, shape, "fd_rhs", (_i32(obj),),
                                         ("depth", "w", "lam", "rho"))
        return _finish(res, shape)
    out = np.empty(w_f.shape[0])
    _exact.rhs_kernel(obj, depth_f, w_f, lam_f, rho_f, out)
    return _finish(out.reshape(shape), shape)
