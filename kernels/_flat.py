"""Flat calls in one compiled call: the input scans, the kernel and the result scans.

A user's time loop calls ``fastdyn.advance`` every step on ~100 features.  The
general dispatch (``fastdyn._dispatch``) checks each input with its own
compiled scan, allocates the statuses, launches the kernel and scans the
results: five compiled calls and their Python glue, about 10 us, against a
kernel of 6 us.  For the common *flat* call (1-D float64 arrays of one length
that the serial kernel runs, Python floats, one integer depth) the dispatch
layer calls :func:`advance_flat` instead: all of it in one compiled call,
which reports what it found as a code; the dispatch layer forms any message
(kernels never raise).

Codes (int64): ``FLAT_OK`` every result SUCCESS and in the contract;
``FLAT_BAD_INPUT`` an input outside the domain, or ``out`` overlapping an input
without being it (nothing was written: the caller reruns the general path,
which names the parameter and the first bad index, or writes through a
temporary);
``FLAT_BAD_RESULT`` a status or value the general path's result checks must see
(the results and statuses are written; the caller hands them to those checks).
"""

import numpy as np
from numba import types
from numba.extending import overload

from . import _exact
from ._checks import first_outside
from ._constants import DOMAIN_SLACK, T_MAX, W_MAX, W_MIN
from ._constants import LAM_MAX, LAM_MIN, RHO_MAX, RHO_MIN
from ._jit import njit

FLAT_OK, FLAT_BAD_INPUT, FLAT_BAD_RESULT = 0, 1, 2

# the closed domain bounds of fastdyn._validate.DOMAINS (8 ulps of slack), frozen into the code
_LO, _HI = 1.0 - DOMAIN_SLACK, 1.0 + DOMAIN_SLACK
_LAM = (LAM_MIN * _LO, LAM_MAX * _HI)
_RHO = (RHO_MIN * _LO, RHO_MAX * _HI)
_W = (W_MIN * _LO, W_MAX * _HI)
_DT = (0.0, T_MAX * _HI)
#: an advance's cost in trajectory points (the dispatch layer runs the serial kernel below
#: PARALLEL_MIN_WORK / cost features): serial, vector path, 2026-12 on the 2-core EPYC,
#: ~75 ns per advance against ~40 ns per trajectory point; at 100 features the serial kernel
#: takes 7.6 us and the parallel one 9.5 us (the thread pool's start)
ADVANCE_COST = 2


def _column(x, n):
    """``x`` itself (a 1-D array) or ``n`` copies of the scalar ``x`` (compiled only)."""


@overload(_column)
def _column_impl(x, n):
    if isinstance(x, types.Array):
        return lambda x, n: x
    return lambda x, n: np.full(n, x)


def _outside(x, lo, hi):
    """Whether a value of ``x`` (scalar or 1-D array) is outside ``[lo, hi]`` (NaN too)."""


@overload(_outside)
def _outside_impl(x, lo, hi):
    if isinstance(x, types.Array):
        return lambda x, lo, hi: first_outside(x, lo, hi) >= 0
    return lambda x, lo, hi: not (x >= lo and x <= hi)


def _overlaps(x, out):
    """Whether the array ``x`` shares memory with ``out`` without being it (compiled only)."""


@overload(_overlaps)
def _overlaps_impl(x, out):
    if isinstance(x, types.Array):
        def check(x, out):
            a, b = x.ctypes.data, out.ctypes.data
            if a == b and x.shape[0] == out.shape[0]:
                return False  # out *is* x: element-wise, each value is read before it is written
            return a < b + out.nbytes and b < a + x.nbytes
        return check
    return lambda x, out: False


@njit(cache=True)
def advance_flat(objective, depth, lam, rho, w, dt, out, status, tab_sigma, tab_dsigma):
    """``fastdyn.advance`` on a flat call: scans, kernel and result scans; a ``FLAT_*`` code.

    ``w``, ``lam``, ``rho``, ``dt``: 1-D float64 arrays of the length of ``out``
    or floats; ``depth`` an int in 1..64 (checked by the caller); ``out``
    float64 and ``status`` int8, of length n; n below the parallel kernel's size
    (the serial kernel: the dispatch layer sends larger calls to the general path).
    """
    if (_outside(w, _W[0], _W[1]) or _outside(dt, _DT[0], _DT[1]) or _outside(lam, _LAM[0], _LAM[1])
            or _outside(rho, _RHO[0], _RHO[1])):
        return FLAT_BAD_INPUT
    if _overlaps(w, out) or _overlaps(dt, out) or _overlaps(lam, out) or _overlaps(rho, out):
        return FLAT_BAD_INPUT  # the general path writes through a temporary
    n = out.shape[0]
    d = np.full(n, depth)
    lc, rc, wc, tc = _column(lam, n), _column(rho, n), _column(w, n), _column(dt, n)
    _exact.advance_kernel_serial(objective, d, lc, rc, wc, tc, out, status, tab_sigma, tab_dsigma)
    for i in range(n):
        v = out[i]
        if status[i] != 0 or not (v > 0.0 and v < np.inf):
            return FLAT_BAD_RESULT
    return FLAT_OK
