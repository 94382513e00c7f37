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

from ._constants import JEPA, MAE, MAX_DEPTH
from ._lib import lib

N_KNOTS = int(lib.fdh_inverse_knots())

_SIGMA = np.full((2, 2 * MAX_DEPTH, N_KNOTS), np.nan)
_DSIGMA = np.full((2, 2 * MAX_DEPTH, N_KNOTS), np.nan)
_TABLES = (_SIGMA, _DSIGMA)
_BUILT: set[int] = set()  # the rows built (a set: the membership test of every call is ~30 ns)
_LOCK = threading.Lock()


def _pointer(a):
    return a.ctypes.data_as(lib.fdh_inverse_row.argtypes[2])


def tables_for(objective: int, depths: np.ndarray):
    """The (sigma, dsigma) tables with the rows of ``objective`` and ``depths`` built.

    Builds every depth between the smallest and the largest of ``depths``.
    """
    if depths.size:
        return tables_for_range(objective, int(depths.min()), int(depths.max()))
    return _TABLES


def tables_for_range(objective: int, depth_lo: int, depth_hi: int):
    """The tables with the rows of ``objective``, depths ``depth_lo..depth_hi``, built.

    Thread safe; a row is written completely before it is marked built.  The
    dispatch layer calls this every call: the check of built rows is cheap.
    """
    base = objective * MAX_DEPTH - 1
    if depth_lo == depth_hi and base + depth_lo in _BUILT:
        return _TABLES  # (one depth, built: one set lookup, what a user's time loop meets)
    for depth in range(depth_lo, depth_hi + 1):
        if base + depth not in _BUILT:
            break
    else:
        return _TABLES
    with _LOCK:
        for depth in range(depth_lo, depth_hi + 1):
            row = base + depth
            if row not in _BUILT:
                lib.fdh_inverse_row(objective, depth, _pointer(_SIGMA[0, row]),
                                    _pointer(_DSIGMA[0, row]), _pointer(_SIGMA[1, row]),
                                    _pointer(_DSIGMA[1, row]))
                _BUILT.add(row)
    return _TABLES


def tables_version() -> int:
    """How many rows are built: a device copy made at another version is stale."""
    return len(_BUILT)


def flow_tables(objective: int, depth_lo: int, depth_hi: int):
    """The inverse tables for users' ``@njit`` flow maps (``fastdyn.kernels.advance_batch``).

    Parameters
    ----------
    objective : int
        ``JEPA`` (0) or ``MAE`` (1).
    depth_lo, depth_hi : int
        The depths the tables must cover, ``1 <= depth_lo <= depth_hi <= 64``.

    Returns
    -------
    tab_sigma, tab_dsigma : ndarray
        Read them, never write them: they are shared by every call in the process.
    """
    for name, value in (("objective", objective), ("depth_lo", depth_lo), ("depth_hi", depth_hi)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    if objective not in (JEPA, MAE):
        raise ValueError(f"`objective` must be JEPA (0) or MAE (1); got {objective!r}.")
    if not 1 <= depth_lo <= depth_hi <= MAX_DEPTH:
        raise ValueError(f"`depth_lo`, `depth_hi` must satisfy 1 <= depth_lo <= depth_hi <= "
                         f"{MAX_DEPTH}; got {depth_lo!r}, {depth_hi!r}.")
    return tables_for_range(int(objective), int(depth_lo), int(depth_hi))
