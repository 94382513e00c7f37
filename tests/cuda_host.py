"""The GPU entry points of ``kernels/cuda/*.cu``, run on the host (CI) or on a real GPU.

``kernels/cuda/*.cu`` are written against ``kernels/cuda/config.h``, whose
macros turn them into plain C++ when no CUDA compiler is involved.  This
module compiles one of them with the system C++ compiler into a shared
library (cached by the hash of every file in ``kernels/cuda``) and loads it
with ctypes (:func:`call`), so that the tests run the GPU's entry points (their
argument lists, strides and loops) on the host and compare them with the CPU
kernels, which call the same per-feature functions through fastdyn's CPU
library: on the host the two agree bit for bit.  :func:`gpu_call` launches
the same entry point on a real GPU through CuPy (NVRTC, fastdyn's options),
for the parity tests marked ``gpu`` (1e-12: the device's libm differs).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

CUDA_DIR = Path(__file__).resolve().parents[1] / "kernels" / "cuda"
_CACHE = Path(os.environ.get("FASTDYN_HOST_BUILD_DIR", Path(tempfile.gettempdir()) / "fastdyn_host_build"))
_LOADED: dict[str, ctypes.CDLL] = {}


def _digest() -> str:
    h = hashlib.sha256()
    for f in sorted(CUDA_DIR.iterdir()):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")


def load(source: str) -> ctypes.CDLL:
    """Compile ``kernels/cuda/<source>`` as C++ (once) and load it; skip if no compiler."""
    if source in _LOADED:
        return _LOADED[source]
    cxx = compiler()
    if cxx is None:
        pytest.skip("no C++ compiler for the host build of the CUDA sources")
    out = _CACHE / f"{Path(source).stem}-{_digest()}.so"
    if not out.exists():
        _CACHE.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        cmd = [cxx, "-x", "c++", "-std=c++17", "-O2", "-fPIC", "-shared", "-Wall", "-Werror",
               "-fno-fast-math", "-ffp-contract=off", f"-I{CUDA_DIR}", str(CUDA_DIR / source), "-o", str(tmp)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        os.replace(tmp, out)  # atomic: concurrent test processes never load a half-written file
    lib = ctypes.CDLL(str(out))
    _LOADED[source] = lib
    return lib


def arg(x):
    """ctypes value of one kernel argument: arrays by pointer, NumPy scalars by their C type.

    ``None`` is a null pointer (e.g. "no inverse table" for the exact kernels).
    """
    if x is None:
        return ctypes.c_void_p(None)
    if isinstance(x, np.ndarray):
        if not x.flags.c_contiguous:
            raise ValueError("host kernels need C-contiguous arrays")
        return ctypes.c_void_p(x.ctypes.data)
    if isinstance(x, np.int64):
        return ctypes.c_longlong(int(x))
    if isinstance(x, np.int32):
        return ctypes.c_int(int(x))
    if isinstance(x, np.float64):
        return ctypes.c_double(float(x))
    if isinstance(x, np.float32):
        return ctypes.c_float(float(x))
    raise TypeError(f"kernel arguments must be NumPy arrays or NumPy scalars; got {type(x).__name__}")


def call(source: str, name: str, *args) -> None:
    """Run kernel ``name`` of ``source`` on the host: the same arguments a GPU launch takes."""
    fn = getattr(load(source), name)
    fn.restype = None
    fn(*[arg(a) for a in args])


def gpu_call(source: str, name: str, n: int, *args) -> None:
    """Launch kernel ``name`` of ``source`` on the GPU over ``n`` features (grid-stride).

    NumPy array arguments are copied to the device and back afterwards; NumPy
    scalars pass by value; ``None`` is a null pointer.
    """
    cp = real_cupy_or_skip()
    from fastdyn import _gpu

    mod = _GPU_MODULES.get(source)
    if mod is None:
        mod = cp.RawModule(code=_gpu._source(source),
                           options=tuple(_gpu._NVRTC_OPTIONS) + (f"-I{CUDA_DIR}",))
        _GPU_MODULES[source] = mod
    dev = [cp.asarray(a) if isinstance(a, np.ndarray) else (np.uint64(0) if a is None else a)
           for a in args]
    block = 128
    mod.get_function(name)((max(1, (int(n) + block - 1) // block),), (block,), tuple(dev))
    cp.cuda.runtime.deviceSynchronize()
    for a, d in zip(args, dev):
        if isinstance(a, np.ndarray):
            a[...] = cp.asnumpy(d)


_GPU_MODULES: dict = {}


def real_cupy_or_skip():
    """The real CuPy with a usable CUDA device, or skip the test (GPU tests and benchmarks)."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
        cupy.zeros(1)
    except Exception:
        pytest.skip("no CuPy with a CUDA device here")
    return cupy
