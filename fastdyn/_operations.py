"""Every public per-feature operation, declared once as data for :mod:`fastdyn._dispatch`.

An operation lists its per-feature inputs (checked against the documented
domain by the dispatcher), a ``select`` function that checks its scalar
options and picks a :class:`~fastdyn._dispatch.Kernel`, and for each kernel
its host and device entry points.  The adapters below only arrange a
kernel's arguments: inputs arrive validated, flat and contiguous in the
order of ``Kernel.features``; outputs and statuses are allocated and checked
by the dispatcher.

Argument layout shared by the Numba kernels (``kernels/_exact.py``,
``_ode.py``, ``_ema.py``) and the CUDA entry points (``kernels/cuda/*.cu``,
which add the feature count first)::

    [t,] objective, *features, *scalars, out, [status,] *tables_or_scratch
"""

from __future__ import annotations

import numpy as np

from . import _arrays
from . import _validate as v
from ._dispatch import RATE, TIME, WEIGHT, Kernel, Operation, max_steps, objective_code
from .kernels import _constants as C
from .kernels import _exact as _ex
from .kernels import _flat
from .kernels import _gd
from .kernels import _inverse
from .kernels._jit import call_parallel

_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)
_JEPA_MAE = ("jepa", "mae")
_F32_TOO = {"cpu": (_F64, _F32), "gpu": (_F64, _F32)}


def _args(c):
    """The kernel's flat inputs, in its order."""
    f = c.f
    return [f[k] for k in c.kernel.features]


def _host_tables(c):
    return _inverse.tables_for_range(c.objective, *c.depth_range())


def _i32(x):
    return np.int32(x)


# ---------------------------------------------------------------------------
# host adapters (Numba kernels)
# ---------------------------------------------------------------------------
def _h_trajectory_exact(c):
    k = _ex
    c.launch(k.trajectory_kernel, k.trajectory_kernel_serial, c.t, c.objective, *_args(c), c.out,
             c.status, *_host_tables(c))


def _h_trajectory_ode(c):
    from .kernels import _ode  # compiled on first use

    if c.dtype == _F32:  # the GPU's float32 code, on the CPU
        call_parallel(_ode.ode_trajectory_kernel_f32, c.t.astype(_F32), c.objective, *_args(c),
                      c.opts["rtol"], c.opts["max_steps"], c.out, c.status,
                      np.zeros(c.n, dtype=np.int64))
        return
    call_parallel(_ode.ode_trajectory_kernel, c.t, c.objective, *_args(c), c.opts["rtol"],
                  c.opts["max_steps"], c.out, c.status, np.zeros(c.n, dtype=np.int64))


def _h_trajectory_ema(c):
    from .kernels import _ema  # compiled on first use

    call_parallel(_ema.ema_trajectory_kernel, c.t, *_args(c), c.opts["rtol"], c.opts["max_steps"],
                  c.out, np.empty_like(c.out), c.status, np.zeros(c.n, dtype=np.int64))


def _h_time_to_reach(c):
    k = _ex
    c.launch(k.time_to_reach_kernel, k.time_to_reach_kernel_serial, c.objective, *_args(c), c.out)


def _critical_levels(c):
    """``F(sigma*)`` per depth when one ``p`` holds for every feature (else NaN: per feature)."""
    levels = np.full(C.MAX_DEPTH + 1, np.nan)
    p = c.scalar("p")
    if not c.opts["asymptotic"] and p is not None:
        lo, hi = c.depth_range()
        _ex.critical_levels(c.objective, lo, hi, p, levels)
    return levels


def _h_critical_time(c):
    k = _ex
    c.launch(k.critical_time_kernel, k.critical_time_kernel_serial, c.objective, *_args(c),
             c.opts["asymptotic"], _critical_levels(c), c.out)


def _h_critical_time_ode(c):
    from .kernels import _ode

    kernel = _ode.ode_crossing_kernel_f32 if c.dtype == _F32 else _ode.ode_crossing_kernel
    call_parallel(kernel, c.objective, *_args(c), c.opts["rtol"], c.opts["max_steps"], c.out,
                  c.status, np.zeros(c.n, dtype=np.int64))


def _h_advance(c):
    k = _ex
    c.launch(k.advance_kernel, k.advance_kernel_serial, c.objective, *_args(c), c.out, c.status,
             *_host_tables(c))


def _h_gd(c):
    o = c.opts
    args = (c.objective, c.f["depth"], c.f["lam"], c.f["rho"], c.f["lr"], c.f["momentum"],
            o["layers"], o["decoder"], o["target"], c.t, c.out, c.status)
    # the work is every step up to the last record (a step of 5 layers ~ one trajectory point)
    steps = int(c.t[-1]) + 1 if c.t.shape[0] else 0
    c.launch(_gd.gd_kernel, _gd.gd_kernel_serial, *args, work=c.n * steps)


def _h_gd_crossing(c):
    o = c.opts
    args = (c.objective, c.f["depth"], c.f["lam"], c.f["rho"], c.f["lr"], c.f["momentum"],
            o["layers"], o["decoder"], o["target"], c.f["p"], o["max_steps"], c.out, c.status)
    # unknown work (up to max_steps per feature): parallel unless the batch is tiny
    c.launch(_gd.gd_crossing_kernel, _gd.gd_crossing_kernel_serial, *args, work=c.n * 64)


def _h_flow(c):
    o = c.opts
    call_parallel(_gd.flow_kernel, c.t, c.objective, c.f["depth"], c.f["lam"], c.f["rho"],
                  o["layers"], o["decoder"], o["rtol"], o["max_steps"], c.out, c.status,
                  np.zeros(c.n, dtype=np.int64))


def _h_flow_ema(c):
    o = c.opts
    call_parallel(_gd.flow_ema_kernel, c.t, c.f["depth"], c.f["lam"], c.f["rho"], c.f["ema_time"],
                  o["layers"], o["decoder"], o["target"], o["rtol"], o["max_steps"], c.out,
                  c.status, np.zeros(c.n, dtype=np.int64))


def _h_stable_lr(c):
    c.launch(_gd.stable_lr_kernel, _gd.stable_lr_kernel_serial, c.objective, *_args(c), c.out)


def _h_fixed_point(c):
    _ex.fixed_point_kernel(c.objective, *_args(c), c.out)


def _h_rhs(c):
    _ex.rhs_kernel(c.objective, *_args(c), c.out)


# ---------------------------------------------------------------------------
# device adapters (CUDA entry points through CuPy, chunked)
# ---------------------------------------------------------------------------
def _gpu():
    from . import _gpu

    return _gpu


def _d_trajectory_exact(c):
    _gpu().trajectory(c, "exact")


def _d_trajectory_ode(c):
    _gpu().trajectory(c, "ode")


def _d_trajectory_ema(c):
    _gpu().trajectory(c, "ema")


def _d_gd(c):
    _gpu().gd(c, crossing=False)


def _d_gd_crossing(c):
    _gpu().gd(c, crossing=True)


def _d_flow(c):
    _gpu().flow(c)


def _d_flow_ema(c):
    _gpu().flow(c, ema=True)


def _d_stable_lr(c):
    _gpu().elementwise(c, "gd_kernels.cu", "fd_gd_stable_lr", pre=(_i32(c.objective),))


def _d_time_to_reach(c):
    _gpu().elementwise(c, "exact_kernels.cu", "fd_time_to_reach", pre=(_i32(c.objective),))


def _d_critical_time(c):
    cp = c.inputs.cp
    _gpu().elementwise(c, "exact_kernels.cu", "fd_critical_time", pre=(_i32(c.objective),),
                       mid=(_i32(c.opts["asymptotic"]), cp.asarray(_critical_levels(c))))


def _d_critical_time_ode(c):
    g, cp = _gpu(), c.inputs.cp
    f32 = c.dtype == _F32
    g.elementwise(c, "ode_kernels.cu", "fd_ode_crossing_f32" if f32 else "fd_ode_crossing",
                  pre=(_i32(c.objective),),
                  mid=((np.float32 if f32 else np.float64)(c.opts["rtol"]),
                       np.int64(c.opts["max_steps"])),
                  post=lambda n: (cp.zeros(n, dtype=np.int64),))


def _d_advance(c):
    g = _gpu()
    g.elementwise(c, "exact_kernels.cu", "fd_advance", pre=(_i32(c.objective),),
                  post=g._tables(c.inputs.cp, c.objective, c.depth_range()))


def _d_fixed_point(c):
    _gpu().elementwise(c, "exact_kernels.cu", "fd_fixed_point", pre=(_i32(c.objective),))


def _d_rhs(c):
    _gpu().elementwise(c, "exact_kernels.cu", "fd_rhs", pre=(_i32(c.objective),))


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------
_TRAJ = ("depth", "lam", "rho", "eps")
TRAJECTORY_EXACT = Kernel("trajectory(method='exact')", _TRAJ, _h_trajectory_exact,
                          _d_trajectory_exact, status=True, result=WEIGHT)
TRAJECTORY_ODE = Kernel("trajectory(method='ode')", _TRAJ, _h_trajectory_ode, _d_trajectory_ode,
                        status=True, result=WEIGHT, dtypes=_F32_TOO)
TRAJECTORY_EMA = Kernel("trajectory(objective='jepa-ema')", (*_TRAJ, "ema_time"),
                        _h_trajectory_ema, _d_trajectory_ema, status=True, result=WEIGHT)
# serial costs per feature relative to a trajectory point (~90 ns), measured: a time ~200 ns,
# a critical time ~150 ns (an advance: kernels/_flat.py)
TIME_TO_REACH = Kernel("time_to_reach", ("depth", "lam", "rho", "eps", "w"), _h_time_to_reach,
                       _d_time_to_reach, result=TIME, cost=2)
_CRIT = ("depth", "lam", "rho", "eps", "p")
CRITICAL_EXACT = Kernel("critical_time(method='exact')", _CRIT, _h_critical_time,
                        _d_critical_time, result=TIME, cost=2)
CRITICAL_ASYMPTOTIC = Kernel("critical_time(method='asymptotic')", _CRIT, _h_critical_time,
                             _d_critical_time, result=TIME)
CRITICAL_ODE = Kernel("critical_time(method='ode')", _CRIT, _h_critical_time_ode,
                      _d_critical_time_ode, status=True, result=TIME, dtypes=_F32_TOO)
ADVANCE = Kernel("advance", ("depth", "lam", "rho", "w", "dt"), _h_advance, _d_advance,
                 status=True, result=WEIGHT, cost=_flat.ADVANCE_COST, flat=_flat.advance_flat)
# one step of L layers costs about what one exact trajectory point does at L = 5
GD = Kernel("gd_trajectory", ("depth", "lam", "rho", "lr", "momentum", "eps"), _h_gd, _d_gd,
            status=True, result=WEIGHT, benign=(C.OSCILLATED,))
GD_CROSSING = Kernel("gd_critical_step", ("depth", "lam", "rho", "lr", "momentum", "eps", "p"),
                     _h_gd_crossing, _d_gd_crossing, status=True, result=TIME)
FLOW = Kernel("flow_trajectory", ("depth", "lam", "rho", "eps"), _h_flow, _d_flow, status=True,
              result=WEIGHT)
FLOW_EMA = Kernel("flow_trajectory(objective='jepa-ema')", ("depth", "lam", "rho", "eps", "ema_time"),
                  _h_flow_ema, _d_flow_ema, status=True, result=WEIGHT)
# a few multiplications and two powers: about a trajectory point
GD_STABLE_LR = Kernel("gd_stable_lr", ("depth", "lam", "rho", "momentum"), _h_stable_lr,
                      _d_stable_lr, result=TIME)
FIXED_POINT = Kernel("fixed_point", ("depth", "rho"), _h_fixed_point, _d_fixed_point,
                     result=WEIGHT)
RHS = Kernel("rhs", ("depth", "w", "lam", "rho"), _h_rhs, _d_rhs, result=RATE)


# ---------------------------------------------------------------------------
# option checks and kernel selection
# ---------------------------------------------------------------------------
def _is_default_zero(x) -> bool:
    if x is None:
        return False
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return x == 0.0
    a = np.asarray(x) if isinstance(x, np.ndarray) or np.isscalar(x) else None
    return a is not None and a.dtype.kind in "iuf" and a.size > 0 and not np.any(a)


def _select_trajectory(args):
    obj = objective_code(args["objective"], tuple(C.OBJECTIVES))
    opts = {"objective": obj, "rtol": v.rtol_value(args["rtol"]),
            "max_steps": max_steps(args["max_steps"]),
            "return_status": v.flag("return_status", args["return_status"])}
    method = args["method"]
    if obj == C.JEPA_EMA:
        method = v.check_choice("method", "ode" if method is None else method, ("exact", "ode"))
        if method != "ode":
            raise ValueError("objective='jepa-ema' has no closed form; use method='ode'.")
        return TRAJECTORY_EMA, opts
    method = v.check_choice("method", "exact" if method is None else method, ("exact", "ode"))
    if not _is_default_zero(args["ema_time"]):
        raise ValueError(f"`ema_time` applies to objective='jepa-ema' only; got "
                         f"objective={args['objective']!r}.")
    return (TRAJECTORY_EXACT if method == "exact" else TRAJECTORY_ODE), opts


def _select_critical_time(args):
    method = v.check_choice("method", args["method"], ("exact", "asymptotic", "ode"))
    opts = {"objective": objective_code(args["objective"], _JEPA_MAE),
            "rtol": v.rtol_value(args["rtol"]), "max_steps": max_steps(args["max_steps"]),
            "return_status": v.flag("return_status", args["return_status"]),
            "asymptotic": method == "asymptotic"}
    return {"exact": CRITICAL_EXACT, "asymptotic": CRITICAL_ASYMPTOTIC,
            "ode": CRITICAL_ODE}[method], opts


def _momentum_option(args, obj: int) -> None:
    """``momentum``: required by jepa-ema, refused by the others (a 0 placeholder there)."""
    if obj == C.JEPA_EMA:
        if args["momentum"] is None:
            raise TypeError("objective 'jepa-ema' needs `momentum` (the EMA momentum per step).")
        return
    # 0 (the placeholder below, as a dask block re-enters here) is no momentum
    if args["momentum"] is not None and not _is_default_zero(args["momentum"]):
        raise ValueError(f"`momentum` applies to objective 'jepa-ema' only; got "
                         f"objective={args['objective']!r}.")
    args["momentum"] = 0.0


def _select_gd(args):
    """Options of ``gd_trajectory``; fills the placeholders of unused per-feature inputs.

    ``eps`` (the balanced initialisation) and ``layers``/``decoder`` (any aligned
    one) are exclusive; ``momentum`` belongs to jepa-ema.  An unused one becomes
    a placeholder in the features (1.0 resp. 0.0) that the kernel never reads.
    """
    obj = objective_code(args["objective"], tuple(C.OBJECTIVES))
    opts = {"objective": obj, "return_status": v.flag("return_status", args["return_status"])}
    given = args["layers"] is not None, args["decoder"] is not None
    if any(given) and not all(given):
        raise ValueError("`layers` and `decoder` are given together (an aligned initialisation); "
                         "got only `" + ("layers" if given[0] else "decoder") + "`.")
    if all(given):
        if args["eps"] is not None:
            raise ValueError("pass either `eps` (the balanced initialisation of assumption 3.1) or "
                             "`layers` and `decoder`, not both.")
        if _arrays.is_dask(*(args[k] for k in ("lam", "rho", "lr", "momentum", "depth"))):
            raise TypeError("`layers`/`decoder` cannot be combined with dask.array inputs (the "
                            "per-layer state is not chunked); pass NumPy arrays, or `eps`.")
        args["eps"] = 1.0
    elif args["eps"] is None:
        raise TypeError("gd_trajectory() needs `eps` (the balanced initialisation) or "
                        "`layers` and `decoder`.")
    _momentum_option(args, obj)
    if obj != C.JEPA_EMA and args["target"] is not None:
        raise ValueError("`target` applies to objective 'jepa-ema' only.")
    return GD, opts


def _select_stable_lr(args):
    """Options of ``gd_stable_lr``: the objective; ``momentum`` as for gd_trajectory."""
    obj = objective_code(args["objective"], tuple(C.OBJECTIVES))
    _momentum_option(args, obj)
    return GD_STABLE_LR, {"objective": obj}


def _select_flow(args):
    """Options of ``flow_trajectory`` (the start as for gd_trajectory; jepa-ema: its target
    lag ``ema_time`` instead of a momentum per step, a 0 placeholder in ``momentum``)."""
    obj = objective_code(args["objective"], tuple(C.OBJECTIVES))
    args["momentum"] = 0.0 if obj == C.JEPA_EMA else None
    if obj != C.JEPA_EMA and not _is_default_zero(args["ema_time"]):
        raise ValueError(f"`ema_time` applies to objective 'jepa-ema' only; got "
                         f"objective={args['objective']!r}.")
    _, opts = _select_gd(args)
    opts.update(objective=obj, rtol=v.rtol_value(args["rtol"]),
                max_steps=max_steps(args["max_steps"]))
    return (FLOW_EMA if obj == C.JEPA_EMA else FLOW), opts


def _select_gd_crossing(args):
    _, opts = _select_gd(args)
    opts["max_steps"] = max_steps(args["max_steps"])
    return GD_CROSSING, opts


def _prepare_gd(args, opts, f, shape):
    """The initial state (layers (n, L), decoder (n,), target (n, L)), new arrays the
    kernel overwrites: from ``layers``/``decoder``/``target`` (broadcast to the
    features' shape, one depth for all) or balanced from ``eps``."""
    n = int(np.prod(shape, dtype=np.int64))
    depth = f["depth"]
    bound = C.DIVERGENCE_NORM
    if args["layers"] is not None:
        if n and depth.min() != depth.max():
            raise ValueError("`layers` needs one `depth` for all features; got depths from "
                             f"{int(depth.min())} to {int(depth.max())}.")
        L = int(depth[0]) if n else 1
        layers = v.layer_values("layers", args["layers"], shape + (L,), bound).reshape(n, L)
        decoder = v.layer_values("decoder", args["decoder"], shape, bound).reshape(n)
        target = None
        if args["target"] is not None:
            target = v.layer_values("target", args["target"], shape + (L,), bound).reshape(n, L)
    else:
        # assumption 3.1: every layer and the predictor/decoder eps^(1/L) (MATH.md)
        L = int(depth.max()) if n else 1
        root = np.exp(np.log(f["eps"]) / depth)
        layers = np.repeat(root[:, None], L, axis=1)
        decoder = root.copy()
        target = None
    if opts["objective"] == C.JEPA_EMA:
        target = layers.copy() if target is None else target  # the trainer's default: a copy
    else:
        target = layers  # not read
    opts.update(layers=layers, decoder=decoder, target=target)


def _simple(kernel):
    def select(args):
        return kernel, {"objective": objective_code(args["objective"], _JEPA_MAE)}

    return select


# ---------------------------------------------------------------------------
# operations
# ---------------------------------------------------------------------------
#: the per-layer initial state of the gradient-descent operations (``_prepare_gd``)
_STATE = ("layers", "decoder", "target")
trajectory = Operation("trajectory", ("lam", "rho", "eps", "depth", "ema_time"),
                       _select_trajectory, (TRAJECTORY_EXACT, TRAJECTORY_ODE, TRAJECTORY_EMA),
                       grid=True, out=True)
time_to_reach = Operation("time_to_reach", ("w", "lam", "rho", "eps", "depth"),
                          _simple(TIME_TO_REACH), (TIME_TO_REACH,))
critical_time = Operation("critical_time", ("lam", "rho", "eps", "p", "depth"),
                          _select_critical_time, (CRITICAL_EXACT, CRITICAL_ASYMPTOTIC, CRITICAL_ODE))
advance = Operation("advance", ("w", "dt", "lam", "rho", "depth"), _simple(ADVANCE), (ADVANCE,),
                    out=True)
gd_trajectory = Operation("gd_trajectory", ("lam", "rho", "lr", "momentum", "eps", "depth"),
                          _select_gd, (GD,), grid=True, grid_of=v.step_grid, prepare=_prepare_gd,
                          state=_STATE)
gd_critical_step = Operation("gd_critical_step", ("lam", "rho", "lr", "momentum", "eps", "p", "depth"),
                             _select_gd_crossing, (GD_CROSSING,), prepare=_prepare_gd,
                             state=_STATE)
flow_trajectory = Operation("flow_trajectory", ("lam", "rho", "eps", "depth", "ema_time"), _select_flow,
                            (FLOW, FLOW_EMA), grid=True, prepare=_prepare_gd, state=_STATE)
fixed_point = Operation("fixed_point", ("rho", "depth"), _simple(FIXED_POINT), (FIXED_POINT,))
gd_stable_lr = Operation("gd_stable_lr", ("lam", "rho", "momentum", "depth"), _select_stable_lr,
                         (GD_STABLE_LR,))
rhs = Operation("rhs", ("w", "lam", "rho", "depth"), _simple(RHS), (RHS,))
