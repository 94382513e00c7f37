"""Precomputed inverse of the time coordinate ``F``: one table per (objective, depth).

``F`` depends on ``q`` alone (not on the feature), so its inverse is
tabulated once per depth and reused for every feature and every time; the
table variable, the knots and the seeding are described in
``kernels/cuda/inverse.h``, which builds the rows (``build_inverse_row``).
Rows are built lazily, per depth, on first use (about 3 ms per depth), by the
CPU library for both backends: :func:`tables_for` returns the two arrays the
exact kernels take, of shape ``(2, 2 * MAX_DEPTH, N_KNOTS)``, indexed
``[branch (0 growth, 1 decay), objective * MAX_DEPTH + depth - 1, knot]``.
"""

import threading

import numpy as np

from ._constants import MAX_DEPTH
from ._lib import lib

N_KNOTS = int(lib.fdh_inverse_knots())

_SIGMA = np.full((2, 2 * MAX_DEPTH, N_KNOTS), np.nan)
_DSIGMA = np.full((2, 2 * MAX_DEPTH, N_KNOTS), np.nan)
_BUILT = np.zeros(2 * MAX_DEPTH, dtype=bool)
_LOCK = threading.Lock()


def _pointer(a):
    return a.ctypes.data_as(lib.fdh_inverse_row.argtypes[2])


def tables_for(objective: int, depths: np.ndarray):
    """The (sigma, dsigma) tables with the rows of ``objective`` and ``depths`` built.

    Builds every depth between the smallest and the largest of ``depths``.
    Thread safe; a row is written completely before it is marked built.
    """
    if depths.size:
        lo, hi = int(depths.min()), int(depths.max())
        rows = [objective * MAX_DEPTH + d - 1 for d in range(lo, hi + 1)]
        if not _BUILT[rows].all():
            with _LOCK:
                for depth, row in zip(range(lo, hi + 1), rows):
                    if not _BUILT[row]:
                        lib.fdh_inverse_row(objective, depth, _pointer(_SIGMA[0, row]),
                                            _pointer(_DSIGMA[0, row]), _pointer(_SIGMA[1, row]),
                                            _pointer(_DSIGMA[1, row]))
                        _BUILT[row] = True
    return _SIGMA, _DSIGMA
