"""The identity of the C++ sources behind fastdyn's CPU library (no imports beyond the stdlib).

``setup.py`` compiles the hash into the library (``fdh_source_hash``) and
:mod:`fastdyn.kernels._lib` compares it with the sources next to the installed
package at import, so a library built from other sources (an editable install
whose headers were edited since the last build) is refused with the command
that rebuilds it, instead of silently running old math.  The same hash names
the folder of fastdyn's Numba cache (:mod:`fastdyn.kernels._jit`), so cached
kernels never outlive the library (or the kernel modules) they were compiled
against.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

KERNELS = Path(__file__).resolve().parent
CUDA_DIR = KERNELS / "cuda"
#: the files the CPU library is compiled from (the .cu files are GPU entry points only)
LIBRARY_SUFFIXES = (".h", ".cpp")


def library_sources(cuda_dir: Path = CUDA_DIR) -> list[Path]:
    return sorted(p for p in cuda_dir.iterdir() if p.is_file() and p.suffix in LIBRARY_SUFFIXES)


def _digest(files) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def source_hash(cuda_dir: Path = CUDA_DIR) -> str:
    """Hash of the library's C++ sources (names and contents)."""
    return _digest(library_sources(cuda_dir))


def kernels_hash() -> str:
    """Hash of the C++ sources and of every Python module of the kernels package.

    Numba's cache checks only the source file of each cached function, not the
    modules it calls into nor the library behind its external symbols; keying
    the cache folder by this hash covers both.
    """
    return _digest(library_sources() + sorted(KERNELS.glob("*.py")))
