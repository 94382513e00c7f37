"""fastdyn: compiled per-feature learning dynamics of deep linear JEPA and MAE.

Littwin et al., "How JEPA Avoids Noisy Features" (NeurIPS 2024) reduce the
training of deep linear JEPA and MAE encoders to one scalar ODE per feature
(eq. 7, eq. 8).  fastdyn solves them for millions of features at once, exactly
(closed-form implicit solutions) or by an adaptive integrator, on the CPU
(Numba) or an NVIDIA GPU (CuPy): the backend follows the array type.

Public API (plain arrays in, arrays out): :func:`trajectory`,
:func:`time_to_reach`, :func:`critical_time`, :func:`advance`,
:func:`fixed_point`, :func:`rhs`; :func:`sweep` / :func:`open_sweep` for
Monte Carlo studies streamed to Zarr.  Public submodules (imported on first
use): :mod:`fastdyn.analysis` (learning order, Kendall's tau, depth spread),
:mod:`fastdyn.models` (the paper's generative data models),
:mod:`fastdyn.train` (batched deep linear network trainer).  Scalar ``@njit``
functions for users' own Numba code live in :mod:`fastdyn.kernels`.
"""

import importlib

from ._api import *  # noqa: F403  (the core names are listed once, in _api.__all__)
from ._api import __all__ as _core

__version__ = "0.2.0.dev0"

_SUBMODULES = ("analysis", "models", "train")
_SWEEP = ("sweep", "open_sweep")
__all__ = [*_core, *_SWEEP]


def __getattr__(name: str):
    # submodules and the sweep API load lazily: `import fastdyn` stays cheap and
    # never imports matplotlib, dask, zarr or CuPy
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _SWEEP:
        return getattr(importlib.import_module("._sweep", __name__), name)
    raise AttributeError(f"module 'fastdyn' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES, *_SWEEP])
