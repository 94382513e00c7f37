"""A stand-in for the subset of CuPy that fastdyn's GPU backend uses, running on the host.

CI has no GPU, yet the GPU glue (backend selection, validation of device
arrays, chunking, the time-major scratch and its transpose, kernel argument
lists and their C types, status handling) must be tested there.  This module
provides a ``cupy``-like namespace whose arrays wrap NumPy arrays and whose
``RawModule`` compiles the very same ``kernels/cuda/*.cu`` source with the
host C++ compiler (``config.h`` turns the CUDA entry points into plain loops)
and calls the entry points through ctypes.

It is deliberately strict where CuPy is strict: a fake device array refuses
implicit conversion to NumPy (``np.asarray`` raises ``TypeError`` as CuPy
does), and assigning a NumPy array into a device array is refused, so a test
catches an implicit host/device copy in fastdyn's code.  Free memory is
configurable (``runtime.free``) and an allocation limit (``ALLOC_LIMIT``)
raises ``OutOfMemoryError``, to exercise the chunking and its retry.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import types
from pathlib import Path

import numpy as np

import cuda_host

float64 = np.float64
float32 = np.float32
int64 = np.int64
int32 = np.int32
int8 = np.int8

#: allocations of more bytes than this raise OutOfMemoryError (None: no limit)
ALLOC_LIMIT: int | None = None
#: every kernel launch: (name, grid, block, n, args)
LAUNCHES: list[tuple[str, tuple, tuple, int, tuple]] = []


class OutOfMemoryError(MemoryError):
    pass


def _check_alloc(nbytes: int) -> None:
    if ALLOC_LIMIT is not None and nbytes > ALLOC_LIMIT:
        raise OutOfMemoryError(f"fake device: {nbytes} bytes over the limit {ALLOC_LIMIT}")


def _unwrap(x):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError("fake cupy: a NumPy array where a device array belongs (implicit host->device copy)")
    return x


def _key(key):
    """An index: device masks and index arrays index device arrays (as in CuPy)."""
    return key._a if isinstance(key, ndarray) else key


def _wrap(x):
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, (np.generic, bool, int, float)):
        return ndarray(np.asarray(x))
    return x


class _Flags:
    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous


class ndarray:  # noqa: N801 (CuPy's name)
    __array_priority__ = 1000

    def __init__(self, a: np.ndarray):
        self._a = a

    # --- what CuPy refuses -------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly."
        )

    # --- attributes ----------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    T = property(lambda self: ndarray(self._a.T))
    flags = property(lambda self: _Flags(self._a))

    def get(self, out=None):
        if out is not None:
            out[...] = self._a
            return out
        return self._a.copy()

    def astype(self, dtype, copy=True):
        _check_alloc(self._a.size * np.dtype(dtype).itemsize)
        return ndarray(self._a.astype(dtype, copy=copy))

    def reshape(self, *shape):
        return ndarray(self._a.reshape(*shape))

    def copy(self):
        return ndarray(self._a.copy())

    def min(self, *a, **k):
        return _wrap(self._a.min(*a, **k))

    def max(self, *a, **k):
        return _wrap(self._a.max(*a, **k))

    def any(self, *a, **k):
        return _wrap(self._a.any(*a, **k))

    def all(self, *a, **k):
        return _wrap(self._a.all(*a, **k))

    def sum(self, *a, **k):
        return _wrap(self._a.sum(*a, **k))

    def ravel(self):
        return ndarray(self._a.ravel())

    def __len__(self):
        return len(self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_key(key)])

    def __setitem__(self, key, value):
        self._a[_key(key)] = _unwrap(value)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __repr__(self):
        return f"fake_cupy.ndarray({self._a!r})"


def _binop(name):
    def op(self, other):
        return _wrap(getattr(self._a, name)(_unwrap(other)))

    return op


for _name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__sub__",
              "__mul__", "__truediv__", "__and__", "__or__", "__radd__", "__rsub__", "__rmul__",
              "__rtruediv__"):
    setattr(ndarray, _name, _binop(_name))
ndarray.__hash__ = None
ndarray.__invert__ = lambda self: ndarray(~self._a)


def asarray(x, dtype=None):
    if isinstance(x, ndarray):
        return x if dtype is None else x.astype(dtype, copy=False)
    a = np.array(x, dtype=dtype)  # the explicit host->device copy
    _check_alloc(a.nbytes)
    return ndarray(a)


def empty(shape, dtype=np.float64):
    _check_alloc(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return ndarray(np.empty(shape, dtype=dtype))


def zeros(shape, dtype=np.float64):
    _check_alloc(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return ndarray(np.zeros(shape, dtype=dtype))


def ascontiguousarray(a):
    _check_alloc(a._a.nbytes)
    return ndarray(np.ascontiguousarray(a._a))


def broadcast_to(a, shape):
    return ndarray(np.broadcast_to(_unwrap(a), shape))


def stack(arrays):
    return ndarray(np.stack([_unwrap(a) for a in arrays]))


def isfinite(a):
    return ndarray(np.isfinite(a._a))


def may_share_memory(a, b):
    return np.may_share_memory(_unwrap(a), _unwrap(b))


class _Pool:
    def free_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _Pool()


def get_default_memory_pool():
    return _POOL


class _Runtime:
    free = 1 << 34
    total = 1 << 34

    def getDeviceCount(self):  # noqa: N802 (CuPy's name)
        return 1

    def getDevice(self):  # noqa: N802
        return 0

    def memGetInfo(self):  # noqa: N802
        return self.free, self.total


class _Device:
    """``cupy.cuda.Device()``: the host runs every launch synchronously."""

    def __init__(self, device=0):
        self.id = device

    def synchronize(self):
        pass


cuda = types.SimpleNamespace(runtime=_Runtime(), Device=_Device,
                             memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError))


class _Function:
    def __init__(self, lib, name):
        self._fn = getattr(lib, name)
        self._fn.restype = None
        self.name = name

    def __call__(self, grid, block, args):
        n = int(args[0])
        if grid[0] * block[0] < n:
            raise ValueError(f"launch of {self.name} covers {grid[0] * block[0]} threads for {n} features")
        LAUNCHES.append((self.name, grid, block, n, tuple(args)))
        self._fn(*[cuda_host.arg(_unwrap_arg(a)) for a in args])


def _unwrap_arg(a):
    if isinstance(a, ndarray):
        return a._a
    if isinstance(a, np.ndarray):
        raise TypeError("fake cupy: a NumPy array passed to a kernel (host memory on the device)")
    if not isinstance(a, np.generic):
        raise TypeError(f"kernel scalars must be NumPy scalars with an exact C type; got {type(a).__name__}")
    return a


class RawModule:
    """Compile ``code`` as C++ with the host compiler and load it (cached by content)."""

    def __init__(self, code: str, options=()):
        cxx = cuda_host.compiler()
        includes = [o for o in options if o.startswith("-I")]
        digest = hashlib.sha256((code + "\0".join(options)).encode() + cuda_host._digest().encode()).hexdigest()[:16]
        out = cuda_host._CACHE / f"raw-{digest}.so"
        if not out.exists():
            cuda_host._CACHE.mkdir(parents=True, exist_ok=True)
            src = out.with_suffix(f".{os.getpid()}.cc")
            src.write_text(code)
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            subprocess.run([cxx, "-x", "c++", "-std=c++17", "-O2", "-fPIC", "-shared", *includes,
                            str(src), "-o", str(tmp)], check=True, capture_output=True, text=True)
            os.replace(tmp, out)
            src.unlink()
        self._lib = ctypes.CDLL(str(out))

    def get_function(self, name):
        return _Function(self._lib, name)


def reset() -> None:
    global ALLOC_LIMIT
    ALLOC_LIMIT = None
    LAUNCHES.clear()
    cuda.runtime.free = 1 << 34


__all__ = [n for n in dir() if not n.startswith("_")]
_ = Path
