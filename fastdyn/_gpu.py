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


def cupy():
    """Import CuPy and check that a device exists, with an actionable message."""
    try:
        import cupy as cp
    except ImportError as exc:
        raise RuntimeError(
            "backend='gpu' needs CuPy: install the wheel matching your CUDA driver, "
            "e.g. `pip install cupy-cuda12x` (see https://docs.cupy.dev/en/stable/install.html)."
        ) from exc
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, no device
        raise RuntimeError(f"backend='gpu' needs an NVIDIA GPU; CUDA reports: {exc}") from exc
    if count < 1:
        raise RuntimeError("backend='gpu' needs an NVIDIA GPU; CUDA reports no device.")
    return cp


def available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device."""
    try:
        cupy()
    except RuntimeError:
        return False
    return True


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

    lo, hi = depths_host_range
    tab_s, tab_d = _inverse.tables_for(objective, np.array([lo, hi], dtype=np.int64))
    version = int(_inverse._BUILT.sum())
    dev = cp.cuda.runtime.getDevice()
    cached = _TABLES.get(dev)
    if cached is None or cached[0] != version:
        cached = (version, cp.asarray(tab_s), cp.asarray(tab_d))
        _TABLES[dev] = cached
    return cached[1], cached[2]


# ---------------------------------------------------------------------------
# validation of device arrays: a cheap min/max test on the device; on failure
# the host validator reruns on a copy, so the message is exactly the CPU one
# ---------------------------------------------------------------------------
_INTERVALS = {
    # kind: (validator, lo, lo_closed, hi, hi_closed)
    "positive": (v.positive_finite, 0.0, False, math.inf, False),
    "nonnegative": (v.nonnegative_finite, 0.0, True, math.inf, False),
    "fraction": (v.fraction, 0.0, False, 1.0, False),
}


def _host_copy(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _min_max(cp, a) -> tuple[float, float]:
    mm = cp.stack((a.min(), a.max())).get()  # one synchronisation
    return float(mm[0]), float(mm[1])


def check_device(cp, kind: str, name: str, a):
    """Validate a CuPy array (or a host scalar) like the CPU path; return a float64 device array."""
    validator, lo, lo_c, hi, hi_c = _INTERVALS[kind]
    if not isinstance(a, cp.ndarray):
        return cp.asarray(validator(name, a))
    if a.dtype.kind not in "iuf":
        validator(name, _host_copy(a))  # raises the CPU path's TypeError
        raise TypeError(f"`{name}` must be real-valued; got dtype {a.dtype}.")
    a = a.astype(cp.float64, copy=False)
    if a.size:
        mn, mx = _min_max(cp, a)
        ok = (mn >= lo if lo_c else mn > lo) and (mx <= hi if hi_c else mx < hi)
        if not ok:
            validator(name, _host_copy(a))
            raise ValueError(f"`{name}` is out of range: min {mn!r}, max {mx!r}.")
    return a


def check_depth_device(cp, depth):
    if not isinstance(depth, cp.ndarray):
        return cp.asarray(v.depth_array(depth))
    if depth.dtype.kind not in "iuf":
        v.depth_array(_host_copy(depth))
        raise TypeError(f"`depth` must be integer-valued; got dtype {depth.dtype}.")
    d = depth.astype(cp.int64)
    if depth.size:
        mn, mx = _min_max(cp, d)
        integral = depth.dtype.kind in "iu" or bool((d == depth).all())
        if not (integral and 1 <= mn and mx <= v.MAX_DEPTH):
            v.depth_array(_host_copy(depth))
            raise ValueError(f"`depth` must be an integer in [1, {v.MAX_DEPTH}].")
    return d


def broadcast_shape(named: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """Common shape, with the CPU path's message when the shapes do not broadcast."""
    try:
        return np.broadcast_shapes(*named.values())
    except ValueError:
        listed = ", ".join(f"`{k}` (shape {s})" for k, s in named.items())
        raise ValueError(f"{listed} do not broadcast together.") from None


def flat_device(cp, a, shape, dtype):
    """1-D contiguous device copy of ``a`` broadcast to ``shape``."""
    return cp.ascontiguousarray(cp.broadcast_to(a.astype(dtype, copy=False), shape)).reshape(-1)


def check_representable(name: str, host: np.ndarray, dtype) -> None:
    """Refuse positive values that ``dtype`` rounds to zero or infinity (first bad index)."""
    with np.errstate(over="ignore", under="ignore"):  # what the check below looks for
        b = host.reshape(-1).astype(dtype)
    bad = np.flatnonzero(~((b > 0) & np.isfinite(b)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"`{name}` is not representable in {np.dtype(dtype).name}; "
            f"{name}[{i}] = {v._fmt(host.reshape(-1)[i])} (use dtype=float64)."
        )


def to_dtype_checked(cp, name: str, a, dtype):
    """Cast validated (positive) float64 device values to ``dtype``, refusing what it cannot hold."""
    if dtype == np.float64:
        return a
    b = a.astype(dtype)
    if b.size:
        mn, mx = _min_max(cp, b)
        if not (mn > 0.0 and mx < math.inf):
            check_representable(name, _host_copy(a), dtype)
    return b


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
                raise MemoryError(_NO_ROOM) from None
            cp.get_default_memory_pool().free_all_blocks()
            mid = (i0 + i1) // 2
            ranges[k:k + 1] = [(i0, mid), (mid, i1)]


_NO_ROOM = ("the GPU has too little free memory for even one feature; free device memory "
            "or use backend='cpu'.")


def _clear_oom(fn):
    """Turn a device out-of-memory error outside the chunk loop into a clear MemoryError."""
    import functools

    @functools.wraps(fn)
    def wrapper(inp, *args, **kwargs):
        try:
            return fn(inp, *args, **kwargs)
        except inp.cp.cuda.memory.OutOfMemoryError:
            raise MemoryError(_NO_ROOM) from None

    return wrapper


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
    for dst, src in pairs:
        if dst is not None:
            dst[i0:i1] = src if inp.on_device else src.get()


def _sc(x, dtype=np.int64):
    """Kernel scalar with an exact C type (CuPy maps NumPy scalars to C types)."""
    return dtype(x)


@_clear_oom
def trajectory(inp: Inputs, n: int, t_host: np.ndarray, objective: int, method: str,
               rtol: float, max_steps: int, depth_range: tuple[int, int], out):
    """Fill ``out`` (``(n, T)``, host or device) and return the int8 status (same side)."""
    cp, dtype = inp.cp, inp.dtype
    nt = t_host.shape[0]
    t_dev = cp.asarray(t_host.astype(np.float64 if method == "exact" else dtype))
    status = (cp if inp.on_device else np).zeros(n, dtype=np.int8)
    if method == "exact":
        tab_s, tab_d = _tables(cp, objective, depth_range)
    itemsize = np.dtype(dtype).itemsize
    bytes_per_feature = 2 * nt * itemsize + 6 * 8 + 16

    def body(i0, i1):
        c = i1 - i0
        scratch = cp.empty((nt, c), dtype=dtype)
        st = cp.zeros(c, dtype=np.int8)
        common = (_sc(c), _sc(nt), t_dev, _sc(objective, np.int32), inp.chunk("depth", i0, i1),
                  inp.chunk("lam", i0, i1), inp.chunk("rho", i0, i1), inp.chunk("eps", i0, i1))
        if method == "exact":
            _launch(cp, "exact_kernels.cu", "fd_trajectory_exact", c,
                    common + (scratch, _sc(1), _sc(c), st, tab_s, tab_d))
        else:
            f32 = dtype == np.float32
            nsteps = cp.zeros(c, dtype=np.int64)
            _launch(cp, "ode_kernels.cu", "fd_ode_trajectory_f32" if f32 else "fd_ode_trajectory", c,
                    common + (_sc(rtol, np.float32 if f32 else np.float64), _sc(max_steps),
                              scratch, _sc(1), _sc(c), st, nsteps))
        _put(inp, i0, i1, (out, cp.ascontiguousarray(scratch.T)), (status, st))

    _run_chunked(cp, n, bytes_per_feature, body)
    return status


@_clear_oom
def elementwise(inp: Inputs, n: int, source: str, kernel: str, pre: tuple, names: tuple,
                mid: tuple = (), post=(), with_status: bool = False, out=None,
                out_dtype=None):
    """Run a one-output-per-feature kernel: ``kernel(n, *pre, *inputs, *mid, out[, status], *post)``.

    ``post`` is a tuple, or a callable of the chunk length returning one
    (per-chunk scratch such as step counters).  Returns ``(out, status)`` on
    the inputs' side (status None without one).
    """
    cp = inp.cp
    xp = cp if inp.on_device else np
    out_dtype = out_dtype or inp.dtype
    res = out if out is not None else xp.empty(n, dtype=out_dtype)
    status = xp.zeros(n, dtype=np.int8) if with_status else None

    def body(i0, i1):
        c = i1 - i0
        o = cp.empty(c, dtype=out_dtype)
        args = (_sc(c),) + pre + tuple(inp.chunk(k, i0, i1) for k in names) + mid + (o,)
        st = cp.zeros(c, dtype=np.int8) if with_status else None
        if with_status:
            args += (st,)
        _launch(cp, source, kernel, c, args + (post(c) if callable(post) else post))
        _put(inp, i0, i1, (res, o), (status, st))

    _run_chunked(cp, n, 8 * (len(names) + 3), body)
    return res, status


def ode_crossing(inp: Inputs, n: int, objective: int, rtol: float, max_steps: int):
    """Crossing times of the adaptive integrator (``critical_time(method="ode")``)."""
    f32 = inp.dtype == np.float32
    return elementwise(
        inp, n, "ode_kernels.cu", "fd_ode_crossing_f32" if f32 else "fd_ode_crossing",
        (_sc(objective, np.int32),), ("depth", "lam", "rho", "eps", "p"),
        mid=(_sc(rtol, np.float32 if f32 else np.float64), _sc(max_steps)),
        post=lambda c: (inp.cp.zeros(c, dtype=np.int64),), with_status=True)
