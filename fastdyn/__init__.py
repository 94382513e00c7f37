"""fastdyn: compiled per-feature learning dynamics of deep linear JEPA and MAE.

Littwin et al., "How JEPA Avoids Noisy Features" (NeurIPS 2024) reduce the
training of deep linear JEPA and MAE encoders to one scalar ODE per feature
(eq. 7, eq. 8).  fastdyn solves them for millions of features at once, exactly
(closed-form implicit solutions) or by an adaptive integrator.

Public API (plain arrays in, arrays out): :func:`trajectory`,
:func:`time_to_reach`, :func:`critical_time`, :func:`advance`,
:func:`fixed_point`, :func:`rhs`; scalar ``@njit`` functions for users' own
Numba code live in :mod:`fastdyn.kernels`.
"""

from ._api import *  # noqa: F403  (the public names are listed once, in _api.__all__)
from ._api import __all__ as __all__

__version__ = "0.1.0"
