"""GPU backend: the CUDA kernels of ``kernels/cuda`` launched through CuPy.

One thread per feature (grid-stride loop), every feature with its own step
size and status; no per-step host synchronisation.  The per-feature math lives
in ``kernels/cuda/*.h`` (host/device headers that the test suite also builds
as plain C++ and checks against the Numba kernels); the entry points are in
``exact_kernels.cu`` and ``ode_kernels.cu``, compiled once per device by
NVRTC through :class:`cupy.RawModule` and cached by CuPy.

Memory: features are processed in chunks sized from the device's free memory
(CuPy's pool included).  NumPy inputs (``backend="gpu"``) are copied to the
device chunk by chunk and the results copied back into a host array, so a
problem that fits in host memory never fails for lack of device memory.
CuPy inputs stay on the device: only the per-chunk scratch is bounded, the
result itself is a device array.  Trajectories are written time-major per
chunk (``(T, chunk)``, so that neighbouring threads write neighbouring
addresses) and transposed into the ``(features, T)`` result on the device.

CuPy is imported only when this module's functions run.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from . import _validate as v
from .kernels._constants import MAX_DEPTH

_KERNEL_DIR = Path(__file__).resolve().parent / "kernels" / "cuda"
if not _KERNEL_DIR.is_dir():  # editable installs map fastdyn.kernels to the repository's kernels/
    from . import kernels as _kernels_pkg

    _KERNEL_DIR = Path(_kernels_pkg.__file__).resolve().parent / "cuda"

_BLOCK = 256
#: NVRTC options (tests/test_nvrtc.py compiles with the same): C++17; unannotated
#: constexpr helpers (the tableau checks) may run on the device too; no fused
#: multiply-add contraction, which Numba does not do either: the GPU then rounds
#: like the CPU kernels (CPU/GPU parity of 1e-12 even where a plateau's end
#: amplifies rounding)
_NVRTC_OPTIONS = ("-std=c++17", "--device-as-default-execution-space", "--fmad=false")
#: fraction of the free device memory a chunk may use
_MEMORY_FRACTION = 0.5
_MODULES: dict[tuple[str, int], object] = {}
_TABLES: dict[int, tuple[int, object, object]] = {}


# ---------------------------------------------------------------------------
# modules and launches
# ---------------------------------------------------------------------------
def _source(name: str) -> str:
    """Kernel source, tagged with a digest of every header it may include.

    CuPy's compile cache is keyed by the source text: the digest makes an
    edited header recompile the module.
    """
    h = hashlib.sha256()
    for f in sorted(_KERNEL_DIR.glob("*.h")):
        h.update(f.read_bytes())
    return f"// fastdyn headers {h.hexdigest()[:16]}\n" + (_KERNEL_DIR / name).read_text()


def _module(cp, name: str):
    key = (name, cp.cuda.runtime.getDevice())
    mod = _MODULES.get(key)
    if mod is None:
        mod = cp.RawModule(code=_source(name), options=_NVRTC_OPTIONS + (f"-I{_KERNEL_DIR}",))
        _MODULES[key] = mod
    return mod


def _launch(cp, source: str, kernel: str, n: int, args: tuple) -> None:
    if n <= 0:
        return
    fn = _module(cp, source).get_function(kernel)
    fn(((n + _BLOCK - 1) // _BLOCK,), (_BLOCK,), args)


def _tables(cp, objective: int, depths_host_range: tuple[int, int]):
    """Device copies of the inverse tables of ``kernels/_inverse`` (built on the host)."""
    from .kernels import _inverse

    tab_s, tab_d = _inverse.tables_for_range(objective, *depths_host_range)
    version = _inverse.tables_version()
    dev = cp.cuda.runtime.getDevice()
    cached = _TABLES.get(dev)
    if cached is None or cached[0] != version:
        cached = (version, cp.asarray(tab_s), cp.asarray(tab_d))
        _TABLES[dev] = cached
    return cached[1], cached[2]


# ---------------------------------------------------------------------------
# inputs: validation of device arrays with one min/max reduction each; on
# failure the host validator reruns on a copy, so the message is the CPU one
# ---------------------------------------------------------------------------
def min_max(cp, a) -> tuple[float, float]:
    """``(a.min(), a.max())`` with one synchronisation."""
    mm = cp.stack((a.min(), a.max())).get()
    return float(mm[0]), float(mm[1])


def _host_copy(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def check_device(cp, name: str, a):
    """Validate a CuPy array like the CPU path; a float64 device array."""
    if a.dtype.kind not in "iuf":
        v.in_domain(name, _host_copy(a))  # raises the CPU path's TypeError
        raise TypeError(f"`{name}` must be real-valued; got dtype {a.dtype}.")
    a = a.astype(cp.float64, copy=False)
    if a.size:
        d = v.DOMAINS[name]
        mn, mx = min_max(cp, a)
        ok = (mn >= d.lo if d.lo_closed else mn > d.lo) and (mx <= d.hi if d.hi_closed else mx < d.hi)
        if not ok:
            v.in_domain(name, _host_copy(a))
            raise ValueError(f"`{name}` is out of range: min {mn!r}, max {mx!r}.")
    return a


def check_depth_device(cp, depth):
    """Validate CuPy depths like the CPU path; an int64 device array."""
    if depth.dtype.kind not in "iuf":
        v.depth_array(_host_copy(depth))
        raise TypeError(f"`depth` must be integer-valued; got dtype {depth.dtype}.")
    d = depth.astype(cp.int64)
    if depth.size:
        mn, mx = min_max(cp, d)
        integral = depth.dtype.kind in "iu" or bool((d == depth).all())
        if not (integral and 1 <= mn and mx <= MAX_DEPTH):
            v.depth_array(_host_copy(depth))
            raise ValueError(f"`depth` must be an integer in [1, {MAX_DEPTH}].")
    return d


def broadcast_shape(named: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """Common shape, with the CPU path's message when the shapes do not broadcast."""
    try:
        return np.broadcast_shapes(*named.values())
    except ValueError:
        listed = ", ".join(f"`{k}` (shape {s})" for k, s in named.items())
        raise ValueError(f"{listed} do not broadcast together.") from None


def _flat_device(cp, a, shape, dtype):
    """1-D contiguous device copy of ``a`` broadcast to ``shape``."""
    return cp.ascontiguousarray(cp.broadcast_to(a.astype(dtype, copy=False), shape)).reshape(-1)


def _to_dtype_checked(cp, name: str, a, dtype):
    """Cast validated (positive) float64 device values to ``dtype``, refusing what it cannot hold."""
    if dtype == np.float64:
        return a
    b = a.astype(dtype)
    if b.size:
        mn, mx = min_max(cp, b)
        if not (mn > 0.0 and mx < math.inf):
            v.representable(name, _host_copy(a), dtype)
    return b


def device_inputs(cp, named: dict, dtype):
    """Validated, broadcast, flat device copies of the user's CuPy inputs.

    Host scalars among them are checked on the host and uploaded.  Returns
    ``(Inputs, shape, scalars)``; ``scalars`` holds the inputs given as one
    host value (``Call.scalar``).
    """
    arrs, scalars = {}, {}
    for k, a in named.items():
        if isinstance(a, cp.ndarray):
            arrs[k] = check_depth_device(cp, a) if k == "depth" else check_device(cp, k, a)
        else:
            h = v.depth_array(a) if k == "depth" else v.in_domain(k, a)
            if h.ndim == 0:
                scalars[k] = h.item()
            arrs[k] = cp.asarray(h)
    shape = broadcast_shape({k: a.shape for k, a in arrs.items()})
    flat = {}
    for k, a in arrs.items():
        f = _flat_device(cp, a, shape, np.int64 if k == "depth" else np.float64)
        flat[k] = f if k == "depth" else _to_dtype_checked(cp, k, f, dtype)
    return Inputs(cp, flat, True, dtype), shape, scalars


def host_inputs(cp, flat: dict, dtype):
    """Inputs for validated flat NumPy arrays (``backend="gpu"``), uploaded chunk by chunk."""
    if dtype != np.float64:
        for k, a in flat.items():
            if k != "depth":
                v.representable(k, a, dtype)
    return Inputs(cp, flat, False, dtype)


def output(cp, out, shape, dtype):
    """The device result: a new array, or the user's ``out`` (checked)."""
    if out is None:
        return cp.empty(shape, dtype=dtype)
    if not isinstance(out, cp.ndarray):
        raise TypeError(f"`out` must be a cupy.ndarray for CuPy inputs; got {type(out).__name__}.")
    if out.dtype != dtype:
        raise TypeError(f"`out` must have dtype {np.dtype(dtype).name}; got dtype {out.dtype}.")
    if out.shape != shape:
        raise ValueError(f"`out` must have shape {shape}; got shape {out.shape}.")
    return out


# ---------------------------------------------------------------------------
# chunked execution
# ---------------------------------------------------------------------------
def _free_bytes(cp) -> int:
    free, _ = cp.cuda.runtime.memGetInfo()
    return int(free) + int(cp.get_default_memory_pool().free_bytes())


def _chunks(cp, n: int, bytes_per_feature: int):
    """Feature ranges whose per-chunk device memory fits the free memory."""
    budget = int(_free_bytes(cp) * _MEMORY_FRACTION)
    size = max(1, min(n, budget // max(1, bytes_per_feature)))
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def _run_chunked(cp, n: int, bytes_per_feature: int, body) -> None:
    """Call ``body(i0, i1)`` over chunks; on a device OOM, halve the chunk and retry."""
    ranges = _chunks(cp, n, bytes_per_feature)
    k = 0
    while k < len(ranges):
        i0, i1 = ranges[k]
        try:
            body(i0, i1)
            k += 1
        except cp.cuda.memory.OutOfMemoryError:
            if i1 - i0 <= 1:
                raise MemoryError(NO_ROOM) from None
            cp.get_default_memory_pool().free_all_blocks()
            mid = (i0 + i1) // 2
            ranges[k:k + 1] = [(i0, mid), (mid, i1)]


#: the message of every device out-of-memory error that chunking cannot avoid
NO_ROOM = ("the GPU has too little free memory for even one feature; free device memory "
            "or use backend='cpu'.")


class Inputs:
    """Per-feature inputs of one call: flat host arrays (uploaded per chunk) or flat device arrays."""

    def __init__(self, cp, arrays: dict, on_device: bool, dtype):
        self.cp, self.arrays, self.on_device, self.dtype = cp, arrays, on_device, dtype

    def chunk(self, name: str, i0: int, i1: int):
        a = self.arrays[name][i0:i1]
        if self.on_device:
            return a
        want = np.int64 if name == "depth" else self.dtype
        return self.cp.asarray(np.ascontiguousarray(a, dtype=want))


def _put(inp: Inputs, i0: int, i1: int, *pairs) -> None:
    """Write device chunks into the call's outputs (device arrays, or host arrays via ``get``)."""
    device = inp.cp.ndarray
    for dst, src in pairs:
        if dst is not None:
            dst[i0:i1] = src if isinstance(dst, device) else src.get()


def _sc(x, dtype=np.int64):
    """Kernel scalar with an exact C type (CuPy maps NumPy scalars to C types)."""
    return dtype(x)


def trajectory(c, method: str) -> None:
    """Fill ``c.out`` (``(n, T)``, host or device) and ``c.status`` with a trajectory kernel."""
    inp = c.inputs
    cp, dtype = inp.cp, inp.dtype
    nt = c.t.shape[0]
    t_dev = cp.asarray(c.t.astype(np.float64 if method == "exact" else dtype))
    if method == "ema":
        bytes_extra = nt * np.dtype(dtype).itemsize  # the target's scratch
    else:
        bytes_extra = 0
    if method == "exact":
        tab_s, tab_d = _tables(cp, c.objective, c.depth_range())
    itemsize = np.dtype(dtype).itemsize
    bytes_per_feature = 2 * nt * itemsize + bytes_extra + 7 * 8 + 16
    rtol, max_steps = c.opts.get("rtol"), c.opts.get("max_steps")

    def body(i0, i1):
        n = i1 - i0
        scratch = cp.empty((nt, n), dtype=dtype)
        st = cp.zeros(n, dtype=np.int8)
        feats = tuple(inp.chunk(k, i0, i1) for k in c.kernel.features)
        if method == "ema":  # the two-state system: no objective argument, a target scratch
            nsteps = cp.zeros(n, dtype=np.int64)
            target = cp.empty((nt, n), dtype=dtype)
            _launch(cp, "ode_kernels.cu", "fd_ema_trajectory", n,
                    (_sc(n), _sc(nt), t_dev) + feats + (_sc(rtol, np.float64), _sc(max_steps),
                                                        scratch, target, _sc(1), _sc(n), st, nsteps))
            _put(inp, i0, i1, (c.out, cp.ascontiguousarray(scratch.T)), (c.status, st))
            return
        common = (_sc(n), _sc(nt), t_dev, _sc(c.objective, np.int32)) + feats
        if method == "exact":
            _launch(cp, "exact_kernels.cu", "fd_trajectory_exact", n,
                    common + (scratch, _sc(1), _sc(n), st, tab_s, tab_d))
        else:
            f32 = dtype == np.float32
            nsteps = cp.zeros(n, dtype=np.int64)
            _launch(cp, "ode_kernels.cu", "fd_ode_trajectory_f32" if f32 else "fd_ode_trajectory", n,
                    common + (_sc(rtol, np.float32 if f32 else np.float64), _sc(max_steps),
                              scratch, _sc(1), _sc(n), st, nsteps))
        _put(inp, i0, i1, (c.out, cp.ascontiguousarray(scratch.T)), (c.status, st))

    _run_chunked(cp, c.n, bytes_per_feature, body)


def gd(c, crossing: bool) -> None:
    """Gradient descent per feature (gd_kernels.cu): ``c.out`` is ``w`` at the steps
    ``c.t`` (``(n, K)``) or, with ``crossing``, the first step at ``p`` of the limit.
    The initial state (``c.opts``: layers, decoder, target, built on the host by the
    dispatcher) is uploaded chunk by chunk with the features."""
    inp = c.inputs
    cp = inp.cp
    o = c.opts
    width = o["layers"].shape[1]
    nt = 0 if crossing else c.t.shape[0]
    rec = None if crossing else cp.asarray(c.t)
    bytes_per_feature = 8 * (2 * nt + 3 * width + 8) + 1

    def body(i0, i1):
        n = i1 - i0
        st = cp.zeros(n, dtype=np.int8)
        feats = tuple(inp.chunk(k, i0, i1) for k in c.kernel.features)
        state = tuple(cp.asarray(np.ascontiguousarray(o[k][i0:i1]))
                      for k in ("layers", "decoder", "target"))
        head = (_sc(n), _sc(c.objective, np.int32)) + feats + state + (_sc(width),)
        if crossing:
            k = cp.empty(n, dtype=np.float64)
            _launch(cp, "gd_kernels.cu", "fd_gd_crossing", n,
                    head + (_sc(o["max_steps"]), k, st))
            _put(inp, i0, i1, (c.out, k), (c.status, st))
        else:
            scratch = cp.empty((nt, n), dtype=np.float64)
            _launch(cp, "gd_kernels.cu", "fd_gd_trajectory", n,
                    head + (_sc(nt), rec, scratch, st))
            _put(inp, i0, i1, (c.out, cp.ascontiguousarray(scratch.T)), (c.status, st))

    _run_chunked(cp, c.n, bytes_per_feature, body)


def flow(c, ema: bool = False) -> None:
    """Gradient flow from an aligned start (``fd_flow_trajectory`` of gd_kernels.cu, flow.h;
    ``ema``: ``fd_flow_ema_trajectory``, with the target): ``c.out`` is ``w`` at the ODE
    times ``c.t`` (``(n, T)``); the initial state (``c.opts``: layers, decoder, target,
    built on the host) is uploaded chunk by chunk."""
    inp = c.inputs
    cp = inp.cp
    o = c.opts
    width = o["layers"].shape[1]
    nt = c.t.shape[0]
    t_dev = cp.asarray(np.ascontiguousarray(c.t, dtype=np.float64))
    bytes_per_feature = 8 * (2 * nt + 2 * width + 8) + 1

    def body(i0, i1):
        n = i1 - i0
        st = cp.zeros(n, dtype=np.int8)
        nsteps = cp.zeros(n, dtype=np.int64)
        feats = tuple(inp.chunk(k, i0, i1) for k in c.kernel.features)
        names = ("layers", "decoder", "target") if ema else ("layers", "decoder")
        state = tuple(cp.asarray(np.ascontiguousarray(o[k][i0:i1])) for k in names)
        scratch = cp.empty((nt, n), dtype=np.float64)
        head = (_sc(n),) if ema else (_sc(n), _sc(c.objective, np.int32))
        _launch(cp, "gd_kernels.cu", "fd_flow_ema_trajectory" if ema else "fd_flow_trajectory", n,
                head + feats + state
                + (_sc(width), _sc(nt), t_dev, _sc(o["rtol"], np.float64), _sc(o["max_steps"]),
                   scratch, st, nsteps))
        _put(inp, i0, i1, (c.out, cp.ascontiguousarray(scratch.T)), (c.status, st))

    _run_chunked(cp, c.n, bytes_per_feature, body)


def elementwise(c, source: str, kernel: str, pre: tuple = (), mid: tuple = (), post=()) -> None:
    """Run a one-output-per-feature kernel into ``c.out`` (and ``c.status``).

    The launch is ``kernel(n, *pre, *inputs, *mid, out[, status], *post)`` with
    the inputs in the order of ``c.kernel.features``; ``post`` is a tuple, or
    a callable of the chunk length returning one (per-chunk scratch such as
    step counters).
    """
    inp = c.inputs
    cp = inp.cp
    names = c.kernel.features
    with_status = c.status is not None

    def body(i0, i1):
        n = i1 - i0
        o = cp.empty(n, dtype=c.out.dtype)
        args = (_sc(n),) + pre + tuple(inp.chunk(k, i0, i1) for k in names) + mid + (o,)
        st = cp.zeros(n, dtype=np.int8) if with_status else None
        if with_status:
            args += (st,)
        _launch(cp, source, kernel, n, args + (post(n) if callable(post) else post))
        _put(inp, i0, i1, (c.out, o), (c.status, st))

    _run_chunked(cp, c.n, 8 * (len(names) + 3), body)
