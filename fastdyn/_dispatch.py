"""The one dispatch layer between a user's call and the kernels.

Every public per-feature function of :mod:`fastdyn` is an :class:`Operation`
(declared as data in :mod:`fastdyn._operations`) and runs through
:func:`call`, which does, once and in this order:

1. dask.array inputs: one lazy ``map_blocks`` whose blocks call the same
   operation on NumPy blocks (:func:`_dask_call`);
2. the scalar options (objective, method, rtol, max_steps, flags, dtype) are
   checked and select one :class:`Kernel` of the operation;
3. the backend follows the array type (:func:`fastdyn._arrays.select_backend`);
4. the per-feature inputs are checked against the documented domain
   (``fastdyn._validate.DOMAINS``; on the device with one min/max reduction
   per array), broadcast and flattened;
5. the output: a user's ``out`` is written directly when it is contiguous and
   shares no memory with an input, else through a temporary (as NumPy's
   ufuncs do), so aliasing never changes a result;
6. the kernel runs: serial below :data:`PARALLEL_MIN_WORK` (feature-times x ``Kernel.cost``), the
   parallel (``prange``) twin above it (thread safe under any threading
   layer, :func:`fastdyn.kernels._jit.call_parallel`); on the GPU in chunks
   sized from the free device memory;
7. the domain contract is enforced on the results: a value that is not what
   the kernel's result kind allows (a non-positive or non-finite weight, a NaN
   time, a non-finite rate) turns its feature's status into ``NON_FINITE``, or
   raises a ``ValueError`` naming the index for kernels without statuses;
   failed features raise :class:`SolverError` unless ``return_status=True``.

Kernel authors write the per-feature math and a thin adapter
(``host(call)`` / ``device(call)``); API authors write a docstring and one
:func:`call`.  Neither validates, loops over features or handles statuses.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import _arrays
from . import _validate as v
from .kernels import _checks, _inverse
from .kernels._flat import FLAT_BAD_INPUT, FLAT_OK
from .kernels import _constants as C
from .kernels._jit import call_parallel

__all__ = ["Call", "Kernel", "Operation", "SolverError", "Status", "call"]

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_I8 = np.dtype(np.int8)
_STRIDES_1D = (_F64.itemsize,)  # a C-contiguous 1-D float64 array's strides
_min = np.minimum.reduce
_max = np.maximum.reduce


class Status(enum.IntEnum):
    """Per-feature status codes returned with ``return_status=True``."""

    SUCCESS = C.SUCCESS
    MAX_STEPS = C.MAX_STEPS
    NON_FINITE = C.NON_FINITE
    NO_CONVERGENCE = C.NO_CONVERGENCE
    OUT_OF_DOMAIN = C.OUT_OF_DOMAIN  #: sweeps only: a sampled feature outside the domain
    DIVERGED = C.DIVERGED  #: gradient descent: the state left the divergence bound
    OSCILLATED = C.OSCILLATED  #: gradient descent: w reversed direction (values valid)


class SolverError(RuntimeError):
    """Some features failed; ``.status`` holds the per-feature status array."""

    def __init__(self, message: str, status):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------
# declarations
# ---------------------------------------------------------------------------
#: what a kernel's values may be (the domain contract on results)
WEIGHT = "weight"  # positive and finite
TIME = "time"      # >= 0; inf means "never reached" (or beyond float64)
RATE = "rate"      # finite
_RESULT_KINDS = {WEIGHT: _checks.RESULT_WEIGHT, TIME: _checks.RESULT_TIME, RATE: _checks.RESULT_RATE}


@dataclass(frozen=True)
class Kernel:
    """One implementation of an operation: the same argument layout on both backends.

    Attributes
    ----------
    label : str
        How messages name it, e.g. ``"trajectory(method='exact')"``.
    features : tuple of str
        The per-feature inputs in the kernel's order (each checked against
        ``DOMAINS`` or as depths).
    host, device : callable or None
        ``host(call)`` / ``device(call)`` fill ``call.out`` (and
        ``call.status``) from the flat inputs of :class:`Call`; None where the
        backend has no implementation.
    status : bool
        Whether the kernel reports per-feature statuses.
    result : {"weight", "time", "rate"}
        The contract its values are checked against.
    dtypes : dict
        Backend -> the floating dtypes it computes in (the first is the default).
    cost : int
        Serial cost of one feature (times one time point) in exact trajectory
        points, for the serial/parallel choice (``PARALLEL_MIN_WORK``).
    benign : tuple of int
        Non-zero statuses that are information, not failure (the values are
        valid, no :class:`SolverError`): ``OSCILLATED`` of gradient descent.
    flat : callable or None
        The compiled flat call (:mod:`fastdyn.kernels._flat`), for an
        element-wise kernel with statuses and inverse tables:
        ``flat(objective, depth, *other features, out, status, tab_sigma,
        tab_dsigma) -> FLAT_*`` (features in the order of ``features``, depth
        first and an int).  The dispatch layer takes it for 1-D float64
        arrays of one length and Python floats (:func:`_host_flat`).
    """

    label: str
    features: tuple[str, ...]
    host: Callable | None
    device: Callable | None = None
    status: bool = False
    result: str = WEIGHT
    dtypes: dict = field(default_factory=lambda: {"cpu": (_F64,), "gpu": (_F64,)})
    cost: int = 1
    benign: tuple = ()
    flat: Callable | None = None


@dataclass(frozen=True)
class Operation:
    """A public per-feature function, as data.

    Attributes
    ----------
    name : str
        The public name.
    features : tuple of str
        Every per-feature argument the function takes (dask-mapped, part of
        backend selection).
    select : callable
        ``select(args) -> (kernel, options)``: checks the scalar options of
        ``args`` (the user's keyword arguments) and picks the kernel.
    kernels : tuple of Kernel
        Every kernel ``select`` may pick (for messages: where a dtype runs).
    grid : bool
        Whether the result gains a trailing axis from the grid ``t``
        (``trajectory``: times; ``gd_trajectory``: steps, passed as ``t``).
    out : bool
        Whether the function takes ``out=``.
    grid_of : callable
        The grid's validator (:func:`fastdyn._validate.time_grid` or ``step_grid``).
    prepare : callable or None
        ``prepare(args, opts, flat, shape)``: checks and builds per-feature inputs
        that are not scalars per feature (the layers of ``gd_trajectory``) once
        the features' shape is known, into ``opts``: host arrays (the GPU path
        uploads them chunk by chunk).  With CuPy inputs the per-feature inputs
        and ``state`` are copied to the host once for it (checked there, with
        the CPU path's messages); the kernel runs on the device and the results
        stay there.
    state : tuple of str
        Further array arguments that ``prepare`` reads (``layers``, ``decoder``,
        ``target``): part of backend selection like the features.
    """

    name: str
    features: tuple[str, ...]
    select: Callable
    kernels: tuple[Kernel, ...]
    grid: bool = False
    out: bool = False
    grid_of: Callable = v.time_grid
    prepare: Callable | None = None
    state: tuple[str, ...] = ()


class Call:
    """The resolved state of one call, handed to a kernel adapter.

    ``f`` maps each of the kernel's features to a flat array (int64 depths,
    float inputs); ``out`` is the flat ``(n,)`` or C-contiguous ``(n, nt)``
    output, ``status`` the int8 ``(n,)`` statuses (or None); ``opts`` the
    checked options; ``objective`` the kernel code; ``t`` the checked grid.
    On the GPU, ``inputs`` is a :class:`fastdyn._gpu.Inputs` instead of ``f``.
    """

    __slots__ = ("kernel", "objective", "opts", "f", "n", "t", "out", "status", "dtype",
                 "inputs", "_scalars", "_range")

    def __init__(self, kernel, objective, opts, f, n, t, out, status, dtype, scalars):
        self.kernel, self.objective, self.opts, self.f = kernel, objective, opts, f
        self.n, self.t, self.out, self.status, self.dtype = n, t, out, status, dtype
        self.inputs = None
        self._scalars = scalars
        self._range = None

    def scalar(self, name: str):
        """The value of input ``name`` where the user passed one value for all features, else None."""
        return self._scalars.get(name)

    def depth_range(self) -> tuple[int, int]:
        """``(min, max)`` of the depths (free when the user passed one depth)."""
        if self._range is None:
            d = self._scalars.get("depth")
            if d is not None:
                self._range = (d, d)
            elif self.n == 0:
                self._range = (1, 1)
            elif self.inputs is not None and self.inputs.on_device:
                from . import _gpu

                lo, hi = _gpu.min_max(self.inputs.cp, self.inputs.arrays["depth"])
                self._range = (int(lo), int(hi))
            else:
                d = self.f["depth"] if self.f is not None else self.inputs.arrays["depth"]
                self._range = (int(_min(d)), int(_max(d)))
        return self._range

    def launch(self, parallel, serial, *args, work: int | None = None) -> None:
        """Run a host kernel: serial for small work, the ``prange`` twin (thread safe) above.

        ``work`` in trajectory points; by default features x grid points x
        ``Kernel.cost`` (an adapter whose work is not its output size passes it).
        """
        if work is None:
            work = self.n * (self.t.shape[0] if self.t is not None else 1) * self.kernel.cost
        if work >= C.PARALLEL_MIN_WORK:
            call_parallel(parallel, *args)
        else:
            serial(*args)


# ---------------------------------------------------------------------------
# option checks shared by the operations
# ---------------------------------------------------------------------------
def objective_code(objective, allowed: tuple[str, ...]) -> int:
    """The kernel code of an objective among ``allowed`` (names of ``OBJECTIVES``)."""
    if objective in allowed:  # the fast path: a str among the allowed names
        return C.OBJECTIVES[objective]
    v.check_choice("objective", objective, allowed)
    return C.OBJECTIVES[str(objective)]  # a str subclass (np.str_)


def max_steps(value) -> int:
    return v.integer("max_steps", value, 1, C.MAX_STEPS_LIMIT)


def dtype_of(kernel: Kernel, dtype, where: str, op: Operation):
    """The computing dtype: ``None`` is the kernel's default; others must be supported."""
    if dtype is None:
        return kernel.dtypes[where][0]
    allowed = kernel.dtypes.get(where, ())
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"`dtype` must be float64 or float32; got {dtype!r}.") from None
    if dt in allowed:
        return dt
    if dt not in (_F64, _F32):
        raise ValueError(f"`dtype` must be float64 or float32; got {dt.name}.")
    where_ok = []
    for k in op.kernels:
        backends = [w.upper() for w, d in k.dtypes.items() if dt in d]
        if backends:
            where_ok.append(f"{k.label} (on the {' and '.join(backends)})")
    hint = (f"supported only by {' and '.join(where_ok)}" if where_ok
            else f"not supported by `{op.name}`")
    raise ValueError(f"`dtype={dt.name}` is {hint}; use float64.")


# ---------------------------------------------------------------------------
# the dispatcher
# ---------------------------------------------------------------------------
def call(op: Operation, args: dict):
    """Run operation ``op`` on the user's keyword arguments ``args``."""
    feats = op.features
    if "dask" in sys.modules and _arrays.is_dask(*[args[k] for k in feats]):
        return _dask_call(op, args)
    kernel, opts = op.select(args)
    backend = args["backend"]
    if kernel.flat is not None and (backend == "auto" or backend == "cpu"):
        res = _host_flat(op, kernel, opts, args)
        if res is not None:
            return res
    if backend == "auto" and "cupy" not in sys.modules:
        where, on_device = "cpu", False  # no CuPy imported: no device array can exist
    else:
        named = {k: args[k] for k in (*feats, *op.state)}
        if op.grid:
            named["t"] = args["t"]
        if op.out:
            named["out"] = args["out"]
        where, on_device = _arrays.select_backend(backend, named)
    if where == "cpu":
        if kernel.host is None:
            raise ValueError(f"{kernel.label} runs on the GPU only; pass CuPy arrays or "
                             f"backend='gpu'.")
        dtype = dtype_of(kernel, args.get("dtype"), where, op)
        return _host(op, kernel, opts, args, dtype)
    if kernel.device is None:
        raise ValueError(f"{kernel.label} runs on the CPU only; pass NumPy arrays "
                         f"(`x.get()`) and backend='auto' or 'cpu'.")
    dtype = dtype_of(kernel, args.get("dtype"), where, op)
    return _device(op, kernel, opts, args, dtype, on_device)


def _host_flat(op: Operation, kernel: Kernel, opts: dict, args: dict):
    """The flat call in one compiled call (``kernel.flat``), or None: the general path.

    Flat: the non-depth features are C-contiguous 1-D float64 ndarrays of one
    length n >= 1 (below the parallel kernel's size) or Python floats,
    ``depth`` a Python int in 1..64, ``out`` None or a writeable C-contiguous
    float64 array of shape (n,); the compiled call sends back an ``out`` that
    overlaps an input without being it.  Anything else (lists, float32, CuPy,
    broadcasting, 0-d) is the general path's, and so is an input outside the
    domain: the compiled scans find it before anything is written, and the
    general path rechecks and names the parameter and index.  The results and
    statuses are the general path's, bit for bit (the same kernel).
    """
    depth = args["depth"]
    if type(depth) is not int or not 1 <= depth <= C.MAX_DEPTH:
        return None
    n = -1
    inputs = []
    for k in kernel.features[1:]:
        x = args[k]
        if type(x) is not float:
            # 1-D and C-contiguous as strides == (8,) (a 1-D array of 0 or 1 elements with other
            # strides, and a float64 dtype that is another object, take the general path)
            if type(x) is not np.ndarray or x.dtype is not _F64 or x.strides != _STRIDES_1D:
                return None
            if n < 0:
                n = x.shape[0]
            elif x.shape[0] != n:
                return None
        inputs.append(x)
    if n <= 0 or n * kernel.cost >= C.PARALLEL_MIN_WORK:
        # (the parallel kernels stay the general path's: a cached Numba function that calls a
        # prange kernel crashes when loaded from the cache, and the overhead matters less there)
        return None
    out = args["out"]
    if out is None:
        out = np.empty(n)
    elif (type(out) is not np.ndarray or out.dtype is not _F64 or out.strides != _STRIDES_1D
          or out.shape[0] != n or not out.flags.writeable):
        return None
    objective = opts["objective"]
    status = np.zeros(n, dtype=_I8)
    tables = _inverse.tables_for_range(objective, depth, depth)
    code = kernel.flat(objective, depth, *inputs, out, status, *tables)
    if code == FLAT_OK:
        return out
    if code == FLAT_BAD_INPUT:
        return None
    # a status or value for the general path's result checks (the kernel's outputs stand)
    c = Call(kernel, objective, opts, None, n, None, out, status, _F64, {"depth": depth})
    _enforce(c, np)
    return _result(op, kernel, opts, out, status, (n,), (n,), np)


def _check_feature(name: str, x):
    return v.depth_array(x) if name == "depth" else v.in_domain(name, x)


def _flat(a: np.ndarray, dtype) -> np.ndarray:
    """1-D contiguous view (or copy, for broadcast or strided inputs) of ``a``."""
    if a.dtype == dtype and a.flags.c_contiguous:
        return a.reshape(-1)
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def _host_features(names, args: dict, dtype):
    """Check, broadcast and flatten the per-feature inputs: ``(flat, shape, scalars)``.

    The common case (arrays of one shape and scalars) takes no broadcast views:
    arrays are flattened in place (a view), scalars filled into new arrays.
    """
    checked, scalars = [], {}
    shape, same = None, True
    domains = v.DOMAINS
    for k in names:
        x = args[k]
        if type(x) is float and k != "depth":  # a Python float: checked here, no array made
            d = domains[k]
            if (x >= d.lo if d.lo_closed else x > d.lo) and (x <= d.hi if d.hi_closed else x < d.hi):
                scalars[k] = x
                checked.append(None)
                continue
        elif type(x) is int and k == "depth" and 1 <= x <= C.MAX_DEPTH:
            scalars[k] = x
            checked.append(None)
            continue
        a = _check_feature(k, x)
        checked.append(a)
        if a.ndim == 0:
            scalars[k] = a.item()
        elif shape is None:
            shape = a.shape
        elif a.shape != shape:
            same = False
    if not same:
        checked = [np.array(scalars[k]) if a is None else a for k, a in zip(names, checked)]
        arrays, shape = v.broadcast(**dict(zip(names, checked)))
        return ({k: _flat(a, _I64 if k == "depth" else dtype) for k, a in zip(names, arrays)},
                shape, scalars)
    if shape is None:
        shape = ()
    n = math.prod(shape)
    flat = {}
    for k, a in zip(names, checked):
        want = _I64 if k == "depth" else dtype
        if a is None or a.ndim == 0:
            buf = np.empty(n, dtype=want)
            buf.fill(scalars[k])
            flat[k] = buf
        else:
            flat[k] = _flat(a, want)
    return flat, shape, scalars


def _host(op: Operation, kernel: Kernel, opts: dict, args: dict, dtype):
    names = kernel.features
    if dtype == _F64:
        f, shape, scalars = _host_features(names, args, dtype)
    else:  # checked in float64, then refused where float32 cannot hold a value
        f, shape, scalars = _host_features(names, args, _F64)
        for k, a in f.items():
            if k != "depth":
                v.representable(k, a, dtype)
                f[k] = a.astype(dtype)
    n = math.prod(shape)
    t = op.grid_of(args["t"]) if op.grid else None
    if op.prepare is not None:
        opts = dict(opts)
        op.prepare(args, opts, f, shape)
    if t is not None and dtype != _F64:
        v.representable("t", t, dtype, zero_ok=True)
    full = shape + (t.shape[0],) if op.grid else shape
    out = args.get("out") if op.out else None
    if out is None:
        res = work = np.empty(full, dtype=dtype)
    else:
        res = work = _host_output(out, full, dtype)
        if _needs_temporary(res, op, names, args, np):
            work = np.empty(full, dtype=dtype)
    flat_out = work.reshape((n, t.shape[0]) if op.grid else n)
    status = np.zeros(n, dtype=_I8) if kernel.status else None
    c = Call(kernel, opts.get("objective"), opts, f, n, t, flat_out, status, dtype, scalars)
    if n and (t is None or t.shape[0]):
        kernel.host(c)
        _enforce(c, np)
    if work is not res:
        res[...] = work
    return _result(op, kernel, opts, res, status, shape, full, np)


def _device(op: Operation, kernel: Kernel, opts: dict, args: dict, dtype, on_device: bool):
    from . import _gpu

    cp = _arrays.cupy()
    names = kernel.features
    t = None
    if op.grid:
        tt = args["t"]
        t = op.grid_of(tt.get() if _arrays.is_device_array(tt) else tt)
        if dtype != _F64:
            v.representable("t", t, dtype, zero_ok=True)
    scalars = {}
    if on_device and op.prepare is not None:
        # the per-layer initial state is checked and built on the host: one copy of the
        # per-feature inputs there (small next to the kernel's work), the results stay here
        args = {**args, **{k: _arrays.to_host(args[k]) for k in (*names, *op.state)}}
    if on_device and op.prepare is None:
        inputs, shape, scalars = _gpu.device_inputs(cp, {k: args[k] for k in names}, dtype)
    else:
        flat, shape, scalars = _host_features(names, args, _F64)
        if op.prepare is not None:
            opts = dict(opts)
            op.prepare(args, opts, flat, shape)
        inputs = _gpu.host_inputs(cp, flat, dtype)
    n = math.prod(shape)
    full = shape + (t.shape[0],) if op.grid else shape
    xp = cp if on_device else np
    out = args.get("out") if op.out else None
    res = _gpu.output(cp, out, full, dtype) if on_device else _host_output(out, full, dtype)
    work = res
    if out is not None and _needs_temporary(res, op, names, args, xp):
        work = xp.empty(full, dtype=dtype)
    status = xp.zeros(n, dtype=_I8) if kernel.status else None
    c = Call(kernel, opts.get("objective"), opts, None, n, t,
             work.reshape((n, t.shape[0]) if op.grid else n), status, dtype, scalars)
    c.inputs = inputs
    if n and (t is None or t.shape[0]):
        try:
            kernel.device(c)
        except cp.cuda.memory.OutOfMemoryError:  # outside the chunks (grid, tables)
            raise MemoryError(_gpu.NO_ROOM) from None
        _enforce(c, xp)
    if work is not res:
        res[...] = work
    return _result(op, kernel, opts, res, status, shape, full, xp)


def _needs_temporary(res, op: Operation, names, args: dict, xp) -> bool:
    """Whether a user's ``out`` must be filled through a temporary.

    Where it is strided, or may share memory with an input (as NumPy's ufuncs
    decide).  An input that *is* ``out`` (``advance(w, ..., out=w)``) is safe:
    every element-wise kernel reads feature i before it writes it.
    """
    if not res.flags.c_contiguous:
        return True
    share = xp.may_share_memory
    for k in (*names, "t") if op.grid else names:
        a = args[k]
        if a is not res and isinstance(a, xp.ndarray) and share(res, a):
            return True
    return False


def _host_output(out, shape, dtype):
    """A NumPy result for ``backend="gpu"`` with host inputs."""
    if dtype == _F64:
        return v.output_array(out, shape)
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.shape != shape:
        raise TypeError(f"`out` must be a {np.dtype(dtype).name} numpy.ndarray of shape {shape}.")
    return out


# ---------------------------------------------------------------------------
# the domain contract on results, statuses, the returned value
# ---------------------------------------------------------------------------
def _values_ok(res, kind: str, xp) -> bool:
    """One or two reductions: NaN propagates through min and max, so it always fails."""
    if res.size == 0:
        return True
    if xp is np:  # one compiled pass
        return _checks.first_bad_result(res.reshape(-1), _RESULT_KINDS[kind]) < 0
    else:
        from . import _gpu

        mn, mx = _gpu.min_max(xp, res)
        if kind == TIME:
            return mn >= 0.0
    if kind == WEIGHT:
        return bool(mn > 0.0 and mx < math.inf)
    return bool(mn > -math.inf and mx < math.inf)


def _bad_mask(res, kind: str, xp):
    """Element-wise version of :func:`_values_ok` (only once something is wrong)."""
    if kind == TIME:
        good = res >= 0.0
    elif kind == WEIGHT:
        good = (res > 0.0) & xp.isfinite(res)
    else:
        good = xp.isfinite(res)
    return ~good


def _enforce(c: Call, xp) -> None:
    """Never a non-finite (or negative) value with status SUCCESS."""
    kind = c.kernel.result
    if _values_ok(c.out, kind, xp):
        return
    bad = _bad_mask(c.out, kind, xp)
    if bad.ndim > 1:
        bad = bad.any(axis=1)
    if c.status is not None:
        counted = c.status == C.SUCCESS
        for code in c.kernel.benign:  # valid values: their contract is the same
            counted |= c.status == code
        c.status[bad & counted] = C.NON_FINITE
        return
    bad_h = _arrays.to_host(bad)
    i = int(np.flatnonzero(bad_h)[0])
    values = ", ".join(f"{k}={_arrays.to_host(c.f[k] if c.f is not None else c.inputs.arrays[k])[i]!r}"
                       for k in c.kernel.features)
    raise ValueError(
        f"{c.kernel.label}: the result is not representable in {np.dtype(c.dtype).name} for the "
        f"feature at "
        f"flat index {i} ({values}): {_arrays.to_host(c.out)[i]!r}.")


def _result(op, kernel, opts, res, status, shape, full, xp):
    ret_status = opts.get("return_status", False)
    if status is not None:
        status = status.reshape(shape)
        if not ret_status:
            _raise_on_failure(status, kernel.label, xp, kernel.benign)
    elif ret_status:
        status = xp.zeros(shape, dtype=_I8)
    value = res[()] if full == () else res
    if ret_status:
        return value, (status[()] if shape == () else status)
    return value


def _raise_on_failure(status, what: str, xp, benign=()) -> None:
    if status.size == 0:
        return
    if xp is np:
        if _checks.first_nonzero(status.reshape(-1)) < 0:  # all SUCCESS
            return
        host = status
    else:
        if not bool(status.any()):
            return
        host = status.get()
    failed = host.reshape(-1) != C.SUCCESS
    for code in benign:
        failed &= host.reshape(-1) != code
    bad = np.flatnonzero(failed)
    if not bad.size:
        return
    first = np.unravel_index(bad[0], host.shape) if host.ndim > 1 else (int(bad[0]),)
    code = Status(int(host.reshape(-1)[bad[0]])).name
    idx = tuple(int(i) for i in first)
    raise SolverError(
        f"{what}: {bad.size} of {host.size} features failed; the first is at index "
        f"{idx if len(idx) != 1 else idx[0]} ({code}). Pass return_status=True to get "
        f"the per-feature status array instead of this error.",
        status,
    )


# ---------------------------------------------------------------------------
# dask.array inputs: one map_blocks over the feature chunks
# ---------------------------------------------------------------------------
def _dask_call(op: Operation, args: dict):
    """The operation on dask-array inputs: a lazy dask array, blocks computed by :func:`call`.

    The per-feature arguments are broadcast to one batch shape and their chunks
    unified; scalars and NumPy arrays become single-chunk dask arrays first.
    Options are checked now; the values of each block at compute time (errors
    then index into the failing block).  ``out`` and ``return_status=True``
    are not supported (a block cannot write into a user's array, and the
    status would be a second output).
    """
    import dask.array as da

    _, opts = op.select(args)  # option errors now, not at compute time
    if op.out and args.get("out") is not None:
        raise ValueError("`out` is not supported with dask-array inputs; the result is a "
                         "dask array.")
    if opts.get("return_status"):
        raise ValueError("`return_status=True` is not supported with dask-array inputs.")
    names = [k for k in op.features]
    arrays = []
    for name in names:
        x = args[name]
        if not _arrays.is_dask(x):
            x = np.asarray(x)
            x = da.from_array(x, chunks=x.shape)
        arrays.append(x)
    try:
        arrays = da.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"`{n}` (shape {tuple(a.shape)})" for n, a in zip(names, arrays))
        raise ValueError(f"{shapes} do not broadcast together.") from None
    ndim = arrays[0].ndim
    _, arrays = da.core.unify_chunks(*[x for a in arrays for x in (a, tuple(range(ndim)))])
    chunks = arrays[0].chunks
    dtype = np.dtype(args.get("dtype") or np.float64)
    rest = {k: val for k, val in args.items() if k not in names}
    if op.out:
        rest["out"] = None
    if op.grid:
        rest["t"] = t = op.grid_of(args["t"])  # checked once: the chunks need its length

    def block(*blocks):
        return np.asarray(call(op, {**rest, **dict(zip(names, blocks))}))

    token = f"fastdyn-{op.name}"
    if op.grid:
        return da.map_blocks(block, *arrays, dtype=dtype, chunks=chunks + ((t.shape[0],),),
                             new_axis=ndim, meta=np.empty((0,) * (ndim + 1), dtype=dtype),
                             token=token)
    return da.map_blocks(block, *arrays, dtype=dtype, chunks=chunks,
                         meta=np.empty((0,) * ndim, dtype=dtype), token=token)
