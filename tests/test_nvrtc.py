"""Compile the CUDA sources the way the GPU backend does: NVRTC, no standard headers.

``cupy.RawModule`` compiles ``kernels/cuda/*.cu`` at run time with NVRTC,
which has none of the host's standard headers (``<cmath>``, ``<cfloat>``...).
nvcc (checked by ``.ci/run``) is more forgiving, so a source that nvcc accepts
can still fail on the user's GPU.  This test compiles each source with NVRTC
itself, through ctypes, with the options fastdyn passes, for the Hopper
architecture (no GPU is needed to compile).  It skips where no NVRTC library
is installed (``pip install nvidia-cuda-nvrtc-cu12`` provides one).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import site
import sys

import pytest

from fastdyn import _gpu

SOURCES = sorted(p.name for p in _gpu._KERNEL_DIR.glob("*.cu"))


def _find_nvrtc():
    candidates = []
    for base in site.getsitepackages() + [site.getusersitepackages()]:
        candidates += glob.glob(os.path.join(base, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*"))
        candidates += glob.glob(os.path.join(base, "nvidia", "cu13", "lib", "libnvrtc.so*"))
    for root in ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"):
        candidates += glob.glob(os.path.join(root, "libnvrtc.so*"))
    found = ctypes.util.find_library("nvrtc")
    if found:
        candidates.append(found)
    for c in candidates:
        if "builtins" in c or "alt" in c:
            continue
        try:
            return ctypes.CDLL(c)
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def nvrtc():
    lib = _find_nvrtc()
    if lib is None:
        pytest.skip("no NVRTC library installed")
    return lib


def _compile(lib, source_name: str) -> tuple[int, str]:
    code = _gpu._source(source_name).encode()
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), code, source_name.encode(), 0, None, None)
    assert rc == 0
    options = [o.encode() for o in _gpu._NVRTC_OPTIONS]
    options += [f"-I{_gpu._KERNEL_DIR}".encode(), b"--gpu-architecture=compute_90"]
    arr = (ctypes.c_char_p * len(options))(*options)
    rc = lib.nvrtcCompileProgram(prog, len(options), arr)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return rc, log.value.decode(errors="replace")


def test_sources_exist():
    assert {"exact_kernels.cu", "ode_kernels.cu"} <= set(SOURCES)


@pytest.mark.skipif(sys.platform != "linux", reason="NVRTC lookup written for Linux")
@pytest.mark.parametrize("source", SOURCES)
def test_nvrtc_compiles(nvrtc, source):
    rc, log = _compile(nvrtc, source)
    assert rc == 0, f"NVRTC failed on {source}:\n{log}"
