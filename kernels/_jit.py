"""fastdyn's ``njit``: where compiled kernels are cached and which threads run them.

Every kernel module imports :func:`njit` from here instead of from Numba, so
two process-wide choices are made once, before the first kernel compiles.

Threading layer (fork safety)
-----------------------------
A ``prange`` kernel runs on Numba's threading layer.  On Linux, pip's Numba
picks GNU OpenMP when TBB is missing, and GNU OpenMP is not fork safe: after
one parallel call in a parent, a child made by ``fork`` (Python's default
start method on Linux: ``multiprocessing``, ``concurrent.futures``, joblib)
that calls a parallel kernel aborts with "fork() called from a process
already using GNU OpenMP" or hangs.  fastdyn therefore asks for Numba's
``"safe"`` layer, Intel TBB (a dependency of fastdyn on the platforms with
wheels): it is both fork safe and thread safe.  pip installs TBB's shared
library into ``<prefix>/lib``, which is not on the loader's path of Numba's
``tbbpool`` extension, so it is loaded here by its full path first.

Without TBB fastdyn falls back to Numba's ``workqueue`` layer, which is fork
safe but not thread safe: :func:`call_parallel` then serialises the parallel
kernels of concurrent threads (each call still uses every core), so threads
stay correct, only not concurrent.  A process whose threading layer was
started before fastdyn was imported keeps it; :func:`threading_layer` says
which one runs.

Cache
-----
``cache=True`` kernels are cached in a per-user folder (``$FASTDYN_CACHE_DIR``,
else ``$XDG_CACHE_HOME/fastdyn`` or ``~/.cache/fastdyn``), never next to the
installed sources: cache files written into ``site-packages/fastdyn`` at run
time survive ``pip uninstall`` and turn the leftover folder into a namespace
package that shadows a later (editable) install.  The folder is chosen at
decoration time through Numba's ``config.CACHE_DIR`` and restored afterwards,
so users' own cached functions are unaffected.  A ``NUMBA_CACHE_DIR`` set by
the user wins.  Numba names each cache file after the source's path, so
installs in different places never share entries.  Inside that folder each
build of the kernels gets its own subfolder, named by the hash of the C++
sources of the CPU library and of the kernel modules
(:func:`._source_hash.kernels_hash`): Numba checks only the source file of each
cached function, so without it a kernel cached before an edit of another
module, or against an older library, would be reused.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from pathlib import Path

import numba
from numba import config as _config

from ._source_hash import kernels_hash

__all__ = ["cache_dir", "njit", "call_parallel", "threading_layer"]


def cache_dir() -> Path:
    """The folder of fastdyn's Numba cache."""
    if os.environ.get("FASTDYN_CACHE_DIR"):
        return Path(os.environ["FASTDYN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastdyn"


def _load_tbb() -> bool:
    """Make ``libtbb`` loadable for Numba's ``tbbpool`` (pip puts it in ``<prefix>/lib``)."""
    names = {"linux": ["libtbb.so.12"], "darwin": ["libtbb.12.dylib"],
             "win32": ["tbb12.dll"]}.get(sys.platform, [])
    for name in names:
        try:  # already on the loader's path (conda, system TBB)
            ctypes.CDLL(name, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            return True
        except OSError:
            pass
        for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, sys.exec_prefix)):
            for sub in ("lib", "Library/bin", "bin"):
                path = os.path.join(prefix, sub, name)
                if os.path.exists(path):
                    try:
                        ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
                        return True
                    except OSError:
                        pass
    return False


def _threading_started() -> bool:
    try:
        numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return False
    return True


def _configure_threading() -> None:
    """Choose the layer before Numba starts its threads (public config only).

    ``THREADING_LAYER = "default"`` with the priority ``tbb, workqueue, omp``
    makes Numba load TBB when it can and the fork-safe ``workqueue``
    otherwise (it always loads, so GNU OpenMP is never reached).
    """
    if os.environ.get("NUMBA_THREADING_LAYER") or _threading_started():
        return  # the user's (or an earlier) choice stands
    _load_tbb()
    _config.THREADING_LAYER = "default"
    _config.THREADING_LAYER_PRIORITY = ["tbb", "workqueue", "omp"]


_configure_threading()
_BUILD = "kernels-" + kernels_hash()  # this build's subfolder of the cache
_LOCK = threading.Lock()
_THREAD_SAFE_LAYERS = ("tbb", "omp")
_SAFE = [False]  # known, after a first launch, to run on a thread-safe layer


def call_parallel(kernel, *args):
    """``kernel(*args)`` for a parallel (``prange``) kernel, safe from any thread.

    Free under a thread-safe layer (TBB, OpenMP).  Under ``workqueue``, which
    aborts when two threads launch parallel work at once, the calls of
    concurrent threads are serialised (each still uses every core).
    """
    if _SAFE[0]:
        return kernel(*args)
    with _LOCK:
        result = kernel(*args)
        _SAFE[0] = numba.threading_layer() in _THREAD_SAFE_LAYERS
    return result


def threading_layer() -> str:
    """The threading layer that runs fastdyn's parallel kernels (``"tbb"``, ``"workqueue"``...)."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return _config.THREADING_LAYER


@contextlib.contextmanager
def _fastdyn_cache():
    if os.environ.get("NUMBA_CACHE_DIR"):
        yield
        return
    old = _config.CACHE_DIR
    _config.CACHE_DIR = str(cache_dir() / _BUILD)
    try:
        yield
    finally:
        _config.CACHE_DIR = old


def njit(*args, **kwargs):
    """``numba.njit`` whose ``cache=True`` writes into :func:`cache_dir` (same arguments)."""
    if args and callable(args[0]):  # bare @njit
        return njit(*args[1:], **kwargs)(args[0])

    def decorate(func):
        with _fastdyn_cache():
            return numba.njit(*args, **kwargs)(func)

    return decorate
