"""Build step of fastdyn's CPU library (everything else is declared in pyproject.toml).

The per-feature math is defined once, in the C++ headers of ``kernels/cuda/``.
The GPU compiles them at run time (NVRTC through ``cupy.RawModule``); for the
CPU they are compiled here, when the package is built (``pip install .``, an
editable install, a wheel), by the system C++ compiler into the shared library
``fastdyn/kernels/_libfastdyn*.so`` that the Numba kernels call by symbol.
It is declared as an extension module (it has no Python module init; nothing
imports it as one) so that setuptools compiles it for every kind of build and
tags wheels that contain it for their platform.

Flags: C++17, ``-O3``, no fast-math and no floating-point contraction (no fused
multiply-add: the CPU rounds like the GPU build, which is compiled with
``--fmad=false``), hidden symbols except the exported per-feature functions.
``-fno-math-errno`` only drops the errno writes of libm calls (the values are
the same; the bitwise corpus tests build the sources at -O2 as well and
compare): with -O3 it makes the exact trajectory 3-7% faster on the 2-core CI
machine (serial kernel, 1e5 features x 64 times).
``-fno-trapping-math`` (floating-point exceptions are not observed: values are
unchanged) lets GCC turn the selects of the lane loops of ``simd.h`` into
blends, and ``-fopenmp-simd`` honours their ``#pragma omp simd`` (no OpenMP
runtime); ``simd.h`` compiles its block functions once per instruction set
(AVX-512, AVX2, baseline) and the loader picks the best the machine has.
The hash of the sources is compiled in, so that fastdyn refuses a library
built from other sources than the headers beside it (an editable install
after an edit: rerun ``pip install -e .``).
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
CUDA_DIR = ROOT / "kernels" / "cuda"

_spec = importlib.util.spec_from_file_location("_fastdyn_source_hash", ROOT / "kernels" / "_source_hash.py")
_source_hash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_source_hash)

# -fno-fast-math first: it turns -fmath-errno and -ftrapping-math back on, so after it
# the two -fno- flags would be lost (and with them the vector loops of simd.h: 3.4x)
UNIX_FLAGS = ["-std=c++17", "-O3", "-g0", "-fno-fast-math", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd",
              "-ffp-contract=off", "-fvisibility=hidden", "-fno-exceptions", "-fno-rtti", "-Wall"]
MSVC_FLAGS = ["/std:c++17", "/O2", "/fp:precise", "/W3"]

NO_COMPILER = (
    "fastdyn needs a C++17 compiler to build its CPU library (the per-feature math of "
    "kernels/cuda/*.h); none was found (looked for {tried}). Install one and run the same "
    "command again: Debian/Ubuntu `apt-get install g++`, Fedora `dnf install gcc-c++`, "
    "macOS `xcode-select --install`, conda `conda install cxx-compiler`; or point $CXX at one."
)


def _which(cmd):
    return shutil.which(cmd[0]) if cmd else None


class BuildLibrary(build_ext):
    """build_ext with the flags above and a clear error when there is no C++ compiler."""

    def build_extensions(self):
        compiler = self.compiler
        if compiler.compiler_type == "msvc":
            flags = MSVC_FLAGS
        else:
            flags = UNIX_FLAGS
            self._use_cxx_compiler(compiler)
        for ext in self.extensions:
            ext.extra_compile_args = flags + list(ext.extra_compile_args or [])
        super().build_extensions()

    @staticmethod
    def _use_cxx_compiler(compiler):
        """Compile and link with a C++ compiler that exists ($CXX, Python's, g++, clang++, c++)."""
        configured = list(getattr(compiler, "compiler_cxx", None) or [])
        candidates = [os.environ["CXX"].split()] if os.environ.get("CXX") else []
        candidates += [configured, ["g++"], ["clang++"], ["c++"]]
        tried = []
        for cand in candidates:
            if not cand:
                continue
            tried.append(cand[0])
            if _which(cand):
                cxx = cand
                break
        else:
            sys.exit("error: " + NO_COMPILER.format(tried=", ".join(dict.fromkeys(tried))))
        # the compile command keeps Python's flags (-fPIC, ...) behind the C++ compiler;
        # the link command likewise (-shared ...)
        so = list(compiler.compiler_so)
        compiler.set_executable("compiler_so", cxx + so[1:])
        compiler.set_executable("compiler_cxx", cxx)
        linker = list(compiler.linker_so)
        compiler.set_executable("linker_so", cxx + linker[1:])

    def get_export_symbols(self, ext):
        return []  # not a Python module: no PyInit_ symbol to export (Windows)


library = Extension(
    "fastdyn.kernels._libfastdyn",
    sources=[str(Path("kernels") / "cuda" / "host_library.cpp")],
    include_dirs=[str(Path("kernels") / "cuda")],
    depends=[str(p.relative_to(ROOT)) for p in _source_hash.library_sources(CUDA_DIR)],
    define_macros=[("FD_SOURCE_HASH", '"%s"' % _source_hash.source_hash(CUDA_DIR))],
    libraries=[] if sys.platform == "win32" else ["m"],
    language="c++",
)

setup(ext_modules=[library], cmdclass={"build_ext": BuildLibrary})
