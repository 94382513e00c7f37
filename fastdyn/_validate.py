"""Validation of user input at the API boundary.

Every public function of :mod:`fastdyn` checks its arguments once, here, and
hands the compiled kernels arrays that need no further checks.  Errors follow
the SciPy style: the message names the parameter, states the requirement and
shows the offending value; for arrays it names the first bad element (in C
order) by its index, e.g.::

    ValueError: `lam` must be positive and finite; lam[1, 3] = -2.0.

Wrong *kinds* of input (a string where a number belongs, a boolean or complex
array, an output array of the wrong dtype) raise :class:`TypeError`; wrong
*values* or shapes raise :class:`ValueError`.  Nothing here uses ``assert``,
so the checks survive ``python -O``.

The functions are on the hot path: users call the API in loops with arrays of
about a hundred features.  The happy path therefore costs a handful of
vectorized NumPy reductions per array (a minimum and a maximum, which also
catch NaN because both propagate it); the element-wise search for the first
bad index runs only once a check has failed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .kernels import _checks
from .kernels._constants import (
    DOMAIN_SLACK,
    EPS_MAX,
    EPS_MIN,
    JEPA,
    LAM_MAX,
    LAM_MIN,
    MAE,
    MAX_DEPTH,
    MAX_STEPS_LIMIT,
    OBJECTIVES,
    RHO_MAX,
    RHO_MIN,
    RTOL_MAX,
    RTOL_MIN,
    T_MAX,
    W_MAX,
    W_MIN,
)

__all__ = [
    "DOMAINS",
    "Domain",
    "MAX_DEPTH",
    "RTOL_MAX",
    "broadcast",
    "check_choice",
    "depth_array",
    "flag",
    "in_domain",
    "integer",
    "fraction",
    "nonnegative_finite",
    "objective_code",
    "output_array",
    "positive_finite",
    "rtol_value",
    "time_grid",
]

_OBJECTIVE_CODES = {k: c for k, c in OBJECTIVES.items() if c in (JEPA, MAE)}
_OBJECTIVES = tuple(_OBJECTIVE_CODES)


class Domain:
    """A closed or open interval of fastdyn's documented domain (``kernels._constants``).

    Closed bounds are accepted to within 8 ulps (the rounding of ``10**k`` and
    ``np.logspace``); open bounds are exact.
    """

    __slots__ = ("lo", "lo_closed", "hi", "hi_closed", "requirement")

    def __init__(self, lo: float, hi: float, lo_closed: bool = True, hi_closed: bool = True):
        self.lo = lo * (1.0 - DOMAIN_SLACK) if lo_closed else lo
        self.hi = hi * (1.0 + DOMAIN_SLACK) if hi_closed else hi
        self.lo_closed, self.hi_closed = lo_closed, hi_closed
        left, right = "[" if lo_closed else "(", "]" if hi_closed else ")"
        self.requirement = f"in {left}{lo:g}, {hi:g}{right}"

    def __repr__(self) -> str:
        return f"Domain({self.requirement})"


#: The documented domain of every per-feature parameter (README, "Domain").
DOMAINS = {
    "lam": Domain(LAM_MIN, LAM_MAX),
    "rho": Domain(RHO_MIN, RHO_MAX),
    "eps": Domain(EPS_MIN, EPS_MAX),
    "w": Domain(W_MIN, W_MAX),
    "t": Domain(0.0, T_MAX),
    "dt": Domain(0.0, T_MAX),
    "ema_time": Domain(0.0, T_MAX),
    "p": Domain(0.0, 1.0, lo_closed=False, hi_closed=False),
    "lr": Domain(0.0, T_MAX, lo_closed=False),
    "momentum": Domain(0.0, 1.0, hi_closed=False),
}

_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
_REAL_KINDS = "iuf"
_INF = math.inf
_min = np.minimum.reduce
_max = np.maximum.reduce
_all = np.logical_and.reduce
# np.broadcast takes at most NPY_MAXARGS (64 in NumPy 2, 32 before) operands.
_BROADCAST_MAXARGS = 32


# --------------------------------------------------------------------------
# message helpers (only run once something is wrong)
# --------------------------------------------------------------------------


def _fmt(value: object) -> str:
    """Format a NumPy or Python scalar the way Python prints it (``-2.0``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _location(name: str, a: np.ndarray, flat: int) -> str:
    """``"got v"`` for a 0-d array, ``"name[i, j] = v"`` otherwise."""
    if a.ndim == 0:
        return f"got {_fmt(a[()])}"
    index = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    return f"{name}[{', '.join(map(str, index))}] = {_fmt(a[index])}"


def _choices(allowed: tuple[str, ...]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [repr(c) for c in allowed]
    if len(quoted) <= 1:
        return "".join(quoted)
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


# --------------------------------------------------------------------------
# conversion and range checks
# --------------------------------------------------------------------------


def _as_real(name: str, x: ArrayLike) -> np.ndarray:
    """Return ``x`` as an ndarray of integer or floating dtype, else raise."""
    if type(x) is np.ndarray:
        a = x
    else:
        try:
            a = np.asarray(x)
        except ValueError as exc:  # ragged nested sequences
            raise ValueError(
                f"`{name}` must be a real number or an array of real numbers; "
                f"could not convert it to an array: {exc}"
            ) from exc
        except TypeError as exc:
            raise TypeError(
                f"`{name}` must be a real number or an array of real numbers; "
                f"could not convert it to an array: {exc}"
            ) from exc
    if a.dtype.kind not in _REAL_KINDS:
        if a.dtype.kind == "O" and isinstance(x, int) and not isinstance(x, bool):
            raise ValueError(
                f"`{name}` must fit in a 64-bit number; got an int with "
                f"{len(str(abs(x)))} digits."
            )
        raise TypeError(
            f"`{name}` must be real-valued (integer or floating point); "
            f"got dtype {a.dtype}."
        )
    return a


def _as_float64(name: str, x: ArrayLike) -> NDArray[np.float64]:
    """Real ``x`` as a float64 array; a float64 ndarray is returned as is."""
    a = _as_real(name, x)
    if a.dtype != _F64:
        if a.dtype.itemsize > 8:  # long double: may overflow, reported as inf
            with np.errstate(over="ignore"):
                return a.astype(_F64)
        a = a.astype(_F64)
    return a


def _in_interval(
    a: np.ndarray, lo: float, lo_closed: bool, hi: float, hi_closed: bool
) -> bool:
    """Whether every element of ``a`` lies in the interval (NaN never does)."""
    if a.ndim == 0:
        mn = mx = a.item()
    elif a.size == 0:
        return True
    else:
        # minimum and maximum propagate NaN, which then fails both tests
        mn = _min(a, axis=None)
        mx = _max(a, axis=None)
    return bool(
        (mn >= lo if lo_closed else mn > lo) and (mx <= hi if hi_closed else mx < hi)
    )


def _interval_mask(
    a: np.ndarray, lo: float, lo_closed: bool, hi: float, hi_closed: bool
) -> np.ndarray:
    """Element-wise version of :func:`_in_interval` (the slow, error path)."""
    good = np.greater_equal(a, lo) if lo_closed else np.greater(a, lo)
    good &= np.less_equal(a, hi) if hi_closed else np.less(a, hi)
    return good


def _check_interval(
    name: str,
    a: np.ndarray,
    requirement: str,
    lo: float,
    lo_closed: bool,
    hi: float,
    hi_closed: bool,
) -> None:
    """Raise ValueError naming the first element of ``a`` outside the interval."""
    if _in_interval(a, lo, lo_closed, hi, hi_closed):
        return
    good = _interval_mask(a, lo, lo_closed, hi, hi_closed)
    flat = int(np.argmin(good, axis=None))  # first False, in C order
    raise ValueError(f"`{name}` must be {requirement}; {_location(name, a, flat)}.")


# --------------------------------------------------------------------------
# public checks
# --------------------------------------------------------------------------


def check_choice(name: str, value: object, allowed: Iterable[str]) -> str:
    """Check that a string option is one of the allowed values.

    Parameters
    ----------
    name : str
        Parameter name used in error messages, e.g. ``"method"``.
    value : object
        The value passed by the user.  Matching is exact (case-sensitive).
    allowed : iterable of str
        The accepted values, in the order the error message lists them.

    Returns
    -------
    str
        ``value`` as a plain :class:`str`.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        If ``value`` is not one of ``allowed``.

    Examples
    --------
    >>> check_choice("method", "exact", ("exact", "rk"))
    'exact'
    """
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a str; got {type(value).__name__}.")
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"`{name}` must be {_choices(allowed)}; got {str(value)!r}.")
    return str(value)


def objective_code(objective: object) -> int:
    """Integer code of an objective name, as the kernels expect it.

    Parameters
    ----------
    objective : {'jepa', 'mae'}
        The training objective (case-sensitive).

    Returns
    -------
    int
        ``0`` for ``'jepa'`` and ``1`` for ``'mae'``.

    Raises
    ------
    TypeError
        If ``objective`` is not a string.
    ValueError
        If ``objective`` is any other string, e.g.
        "`objective` must be 'jepa' or 'mae'; got 'xyz'."
    """
    return _OBJECTIVE_CODES[check_choice("objective", objective, _OBJECTIVES)]


def positive_finite(name: str, x: ArrayLike) -> NDArray[np.float64]:
    """Check that every value is real, finite and strictly positive.

    Parameters
    ----------
    name : str
        Parameter name used in error messages, e.g. ``"lam"``.
    x : array_like
        A Python or NumPy real scalar, a (nested) list, or an array of
        integer or floating dtype.

    Returns
    -------
    ndarray of float64
        ``x`` as an array of at least 0 dimensions.  A float64 ndarray is
        returned as is (no copy); other real dtypes are converted.

    Raises
    ------
    TypeError
        If ``x`` is boolean, complex, a string, an object array or otherwise
        not real-valued.
    ValueError
        If a value is NaN, infinite, zero or negative; the message shows the
        first such element, e.g. "`lam` must be positive and finite;
        lam[1, 3] = -2.0."
    """
    a = _as_float64(name, x)
    _check_interval(name, a, "positive and finite", 0.0, False, _INF, False)
    return a


def nonnegative_finite(name: str, x: ArrayLike) -> NDArray[np.float64]:
    """Check that every value is real, finite and non-negative (zero allowed).

    Parameters
    ----------
    name : str
        Parameter name used in error messages, e.g. ``"dt"``.
    x : array_like
        A real scalar, list or array (see :func:`positive_finite`).

    Returns
    -------
    ndarray of float64
        ``x`` as an array of at least 0 dimensions; no copy for float64.

    Raises
    ------
    TypeError
        If ``x`` is not real-valued.
    ValueError
        If a value is NaN, infinite or negative, e.g. "`dt` must be
        non-negative and finite; dt[2] = -1.0."
    """
    a = _as_float64(name, x)
    _check_interval(name, a, "non-negative and finite", 0.0, True, _INF, False)
    return a


def fraction(name: str, p: ArrayLike) -> NDArray[np.float64]:
    """Check that every value lies strictly between 0 and 1.

    Parameters
    ----------
    name : str
        Parameter name used in error messages, e.g. ``"p"``.
    p : array_like
        A real scalar, list or array (see :func:`positive_finite`).

    Returns
    -------
    ndarray of float64
        ``p`` as an array of at least 0 dimensions; no copy for float64.

    Raises
    ------
    TypeError
        If ``p`` is not real-valued.
    ValueError
        If a value is NaN or outside the open interval (0, 1), e.g.
        "`p` must be in the open interval (0, 1); p[0] = 1.0."
    """
    a = _as_float64(name, p)
    _check_interval(name, a, "in the open interval (0, 1)", 0.0, False, 1.0, False)
    return a


def depth_array(depth: ArrayLike, name: str = "depth") -> NDArray[np.int64]:
    """Check network depths: integers ``L`` with ``1 <= L <= MAX_DEPTH``.

    Parameters
    ----------
    depth : array_like
        An integer scalar or array.  Floating values are accepted when they
        are integral (``3.0``) and converted.
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    ndarray of int64
        The depths, of at least 0 dimensions.  An int64 ndarray is returned as
        is (no copy).

    Raises
    ------
    TypeError
        If ``depth`` is boolean, complex, a string or otherwise not real.
    ValueError
        If a value is not integral or lies outside ``[1, 64]``, e.g.
        "`depth` must be an integer in [1, 64]; depth[2] = 2.5."
    """
    requirement = f"an integer in [1, {MAX_DEPTH}]"
    if type(depth) is int:  # fast path; also reports huge ints faithfully
        if 1 <= depth <= MAX_DEPTH:
            return np.array(depth, dtype=_I64)
        raise ValueError(f"`{name}` must be {requirement}; got {depth!r}.")
    if (type(depth) is np.ndarray and depth.dtype == _I64 and depth.ndim == 1
            and depth.flags.c_contiguous and _checks.first_outside(depth, 1, MAX_DEPTH) < 0):
        return depth  # one compiled pass (the hot path of per-feature depths)
    a = _as_real(name, depth)
    if a.dtype.kind in "iu":
        _check_interval(name, a, requirement, 1, True, MAX_DEPTH, True)
        return a.astype(_I64, copy=False)
    # floating: the range check also rejects NaN and inf, so the cast is safe
    if _in_interval(a, 1.0, True, float(MAX_DEPTH), True):
        d = a.astype(_I64)
        if _all(np.equal(d, a), axis=None):
            return d
    good = _interval_mask(a, 1.0, True, float(MAX_DEPTH), True)
    good &= np.equal(np.trunc(a), a)
    flat = int(np.argmin(good, axis=None))
    raise ValueError(f"`{name}` must be {requirement}; {_location(name, a, flat)}.")


def time_grid(t: ArrayLike, name: str = "t") -> NDArray[np.float64]:
    """Check a grid of output times: 1-D, in ``[0, T_MAX]``, non-decreasing.

    Parameters
    ----------
    t : array_like
        One-dimensional real times.  Empty grids are allowed; repeated times
        are allowed.
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    ndarray of float64, shape (n,)
        The grid; a 1-D float64 ndarray is returned as is (no copy).

    Raises
    ------
    TypeError
        If ``t`` is not real-valued.
    ValueError
        If ``t`` is not 1-D ("`t` must be a 1-D array; got shape (2, 3)."),
        holds a NaN or a time outside ``[0, 1e300]``, or decreases somewhere: the
        message names the first index ``i`` with ``t[i] < t[i-1]``, e.g.
        "`t` must be non-decreasing; t[3] = 1.0 < t[2] = 2.0."
    """
    a = _as_float64(name, t)
    if a.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array; got shape {a.shape}.")
    d = DOMAINS["t"]
    _check_interval(name, a, f"{d.requirement} (fastdyn's domain)", d.lo, True, d.hi, True)
    if a.size > 1:
        rising = np.greater_equal(a[1:], a[:-1])
        if not _all(rising):
            i = int(np.argmin(rising)) + 1
            raise ValueError(
                f"`{name}` must be non-decreasing; "
                f"{name}[{i}] = {_fmt(a[i])} < {name}[{i - 1}] = {_fmt(a[i - 1])}."
            )
    return a


def rtol_value(rtol: ArrayLike, name: str = "rtol") -> float:
    """Check a relative tolerance: a real scalar in ``[RTOL_MIN, RTOL_MAX]``.

    Parameters
    ----------
    rtol : float
        A Python or NumPy real scalar, or a 0-d array.
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    float
        The tolerance as a Python float.

    Raises
    ------
    TypeError
        If ``rtol`` is boolean, complex, a string or otherwise not real.
    ValueError
        If ``rtol`` is not a scalar, or is NaN or outside ``[1e-14, 0.01]``
        (below 1e-14 float64 cannot resolve a step), e.g.
        "`rtol` must be in [1e-14, 0.01]; got 0.5."
    """
    if type(rtol) is float:
        value = rtol
    else:
        a = _as_real(name, rtol)
        if a.ndim != 0:
            raise ValueError(f"`{name}` must be a scalar; got an array of shape {a.shape}.")
        value = float(a)
    if not RTOL_MIN <= value <= RTOL_MAX:
        raise ValueError(f"`{name}` must be in [{RTOL_MIN!r}, {RTOL_MAX!r}]; got {value!r}.")
    return value


def in_domain(name: str, x: ArrayLike, domain: Domain | None = None) -> NDArray[np.float64]:
    """Check that every value lies in the documented domain of parameter ``name``.

    Parameters
    ----------
    name : str
        The parameter (``"lam"``, ``"rho"``, ``"eps"``, ``"w"``, ``"t"``,
        ``"dt"``, ``"p"``, ``"ema_time"``); it selects the interval of
        :data:`DOMAINS` and names the parameter in messages.
    x : array_like
        A real scalar, list or array (see :func:`positive_finite`).
    domain : Domain, optional
        Another interval (default ``DOMAINS[name]``).

    Returns
    -------
    ndarray of float64
        ``x`` as an array of at least 0 dimensions; no copy for float64.

    Raises
    ------
    TypeError
        If ``x`` is not real-valued.
    ValueError
        If a value is NaN or outside the interval, naming the first, e.g.
        "`lam` must be in [1e-06, 1e+06] (fastdyn's domain); lam[2] = 0.0."
    """
    d = DOMAINS[name] if domain is None else domain
    if type(x) is float:  # the scalar fast path (every step of a user's loop)
        if (x >= d.lo if d.lo_closed else x > d.lo) and (x <= d.hi if d.hi_closed else x < d.hi):
            return np.array(x)
    elif type(x) is np.ndarray and x.dtype == _F64 and x.ndim == 1 and x.flags.c_contiguous:
        # one compiled pass instead of a min and a max (8x cheaper at 100 features)
        scan = _checks.first_outside if d.lo_closed else _checks.first_outside_open
        if scan(x, d.lo, d.hi) < 0:
            return x
    a = _as_float64(name, x)
    _check_interval(name, a, f"{d.requirement} (fastdyn's domain)", d.lo, d.lo_closed, d.hi,
                    d.hi_closed)
    return a


def flag(name: str, value: object) -> bool:
    """A real boolean option (``True``/``False`` or a NumPy bool); TypeError otherwise.

    ``"yes"``, ``1`` or ``None`` are refused: a truthy value is not a flag.
    """
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"`{name}` must be True or False; got {value!r}.")


def integer(name: str, value: object, lo: int, hi: int) -> int:
    """An integer option in ``[lo, hi]`` as a Python int (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer; got {type(value).__name__} {value!r}.")
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"`{name}` must be an integer in [{lo}, {hi}]; got {v}.")
    return v


def _broadcast_view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Read-only view of ``a`` broadcast to ``shape``."""
    if a.ndim == 0 and a.dtype.kind in "biuf":
        # a 0-d array is one contiguous element: a stride-0 view of it is
        # ten times cheaper to build than np.broadcast_to's
        view = np.ndarray(shape, a.dtype, a, 0, (0,) * len(shape))
        view.setflags(write=False)
        return view
    return np.broadcast_to(a, shape)


def broadcast(**arrays: ArrayLike) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """Broadcast named arrays against each other.

    Parameters
    ----------
    **arrays : array_like
        The arrays, by parameter name (used in the error message), in the
        order they are to be returned.

    Returns
    -------
    arrays : tuple of ndarray
        The inputs in keyword order.  An array that already has the broadcast
        shape is returned as is; the others are returned as read-only
        broadcast views (no data is copied).
    shape : tuple of int
        The common broadcast shape.

    Raises
    ------
    ValueError
        If the shapes are incompatible; the message lists every parameter
        with its shape, e.g. "`lam` (shape (3,)), `rho` (shape (4,)) do not
        broadcast together."

    Examples
    --------
    >>> import numpy as np
    >>> (lam, depth), shape = broadcast(lam=np.ones(3), depth=np.array(2))
    >>> shape, depth
    ((3,), array([2, 2, 2]))
    """
    # plain loops: generator expressions cost more than the checks themselves
    arrs = [a if type(a) is np.ndarray else np.asarray(a) for a in arrays.values()]
    if not arrs:
        return (), ()
    shape = arrs[0].shape
    for a in arrs:
        if a.shape != shape:
            break
    else:
        return tuple(arrs), shape
    try:
        if len(arrs) <= _BROADCAST_MAXARGS:
            shape = np.broadcast(*arrs).shape
        else:
            shape = np.broadcast_shapes(*[a.shape for a in arrs])
    except ValueError:
        listed = ", ".join(
            f"`{name}` (shape {a.shape})" for name, a in zip(arrays, arrs)
        )
        raise ValueError(f"{listed} do not broadcast together.") from None
    out = []
    for a in arrs:
        out.append(a if a.shape == shape else _broadcast_view(a, shape))
    return tuple(out), shape


def output_array(
    out: np.ndarray | None, shape: tuple[int, ...] | int, name: str = "out"
) -> NDArray[np.float64]:
    """Check a user-supplied output array, or allocate one.

    Parameters
    ----------
    out : ndarray or None
        The output array passed by the user, or None.
    shape : tuple of int
        The shape the result must have.
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    ndarray of float64
        ``out`` itself, or, if ``out`` is None, a new *uninitialized* float64
        array of the given shape (the kernels write every element).

    Raises
    ------
    TypeError
        If ``out`` is not an ndarray, or its dtype is not native float64.
    ValueError
        If ``out`` has the wrong shape ("`out` must have shape (3, 4); got
        shape (4, 3).") or is read-only.
    """
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if out is None:
        return np.empty(shape, dtype=_F64)
    if not isinstance(out, np.ndarray):
        raise TypeError(
            f"`{name}` must be a numpy.ndarray or None; got {type(out).__name__}."
        )
    if out.dtype != _F64:
        raise TypeError(f"`{name}` must have dtype float64; got dtype {out.dtype}.")
    if out.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape}; got shape {out.shape}.")
    if not out.flags.writeable:
        raise ValueError(f"`{name}` must be writeable; got a read-only array.")
    return out


# --------------------------------------------------------------------------
# options and arrays of models, train, analysis and the commands
# --------------------------------------------------------------------------
# The same conventions as above (the parameter in backticks, the value, the
# first bad index); these serve the layers above the core API, whose inputs
# are counts, seeds, dtypes, data matrices and integer step lists rather than
# per-feature parameters.


def require(name: str, a: np.ndarray, good: np.ndarray, requirement: str) -> None:
    """Raise ValueError at the first element (C order) of ``a`` where ``good`` is False.

    ``good`` is a boolean array of ``a``'s shape (NaN-aware masks are the
    caller's: ``~np.isnan`` is not implied).  Nothing happens when every
    element is good.
    """
    if _all(good, axis=None) if good.ndim else bool(good):
        return
    flat = int(np.argmin(good, axis=None))
    raise ValueError(f"`{name}` must be {requirement}; {_location(name, a, flat)}.")


def first_index(mask: np.ndarray) -> tuple[int, ...]:
    """Index (C order) of the first True element of a boolean array."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask, axis=None)), mask.shape))


def interval(
    name: str,
    x: ArrayLike,
    lo: float,
    hi: float,
    *,
    lo_closed: bool = True,
    hi_closed: bool = True,
    requirement: str | None = None,
) -> NDArray[np.float64]:
    """Check that every value lies in an interval (NaN never does); float64 out.

    The message states ``requirement`` (default ``"in [lo, hi)"`` and so on),
    e.g. "`momentum` must be in [0, 1); got 1.0."
    """
    if requirement is None:
        left, right = "[" if lo_closed else "(", "]" if hi_closed else ")"
        requirement = f"in {left}{lo:g}, {hi:g}{right}"
    a = _as_float64(name, x)
    _check_interval(name, a, requirement, lo, lo_closed, hi, hi_closed)
    return a


def finite(name: str, x: ArrayLike) -> NDArray[np.float64]:
    """Real and finite values of any shape, as float64 (no copy for float64)."""
    return interval(name, x, -_INF, _INF, lo_closed=False, hi_closed=False, requirement="finite")


def scalar(name: str, x: ArrayLike, check=positive_finite) -> float:
    """A real scalar checked by ``check(name, x)`` (default: positive and finite), as a float.

    Raises
    ------
    TypeError
        If ``x`` is not real (booleans and strings included).
    ValueError
        If ``x`` is an array of one or more dimensions, or fails ``check``.
    """
    a = check(name, x)
    if a.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar; got an array of shape {a.shape}.")
    return float(a)


def count(name: str, value: object, lo: int = 1, hi: int | None = None, why: str = "") -> int:
    """An integer option (Python or NumPy int, not bool) in ``[lo, hi]``, as a Python int.

    Messages: "`n` must be positive; got 0." (``lo=1``), "non-negative"
    (``lo=0``), "`depth` must be at most 64; got 65." (``hi``, followed by
    ``why`` when given).  Floats (even integral ones) raise TypeError, as
    :func:`integer` does.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        integer(name, value, lo, lo)  # raises the TypeError
    v = int(value)
    if v < lo:
        what = {0: "non-negative", 1: "positive"}.get(lo, f"at least {lo}")
        raise ValueError(f"`{name}` must be {what}; got {v}.")
    if hi is not None and v > hi:
        raise ValueError(f"`{name}` must be at most {hi}{why}; got {v}.")
    return v


#: the byte size of one NumPy array must fit an intp
_MAX_ARRAY_BYTES = np.iinfo(np.intp).max


def array_count(name: str, value: object, unit_bytes: int, what: str) -> int:
    """A count ``n >= 1`` for which ``what`` (``n * unit_bytes`` bytes) can be one NumPy array.

    Without it ``n = 10**30`` samples ends in NumPy's "array is too big" or
    "Maximum allowed dimension exceeded"; machine memory is not checked (a
    too-large allocation stays NumPy's MemoryError, with its size).
    """
    hi = _MAX_ARRAY_BYTES // max(int(unit_bytes), 1)
    return count(name, value, 1, hi, f" ({what} must fit in a NumPy array)")


def seed(name: str, value: object, generators: tuple[type, ...] = ()) -> object:
    """A random seed: None, a non-negative integer, or an instance of ``generators``.

    Returns the value (a Python int for integers).  Booleans, floats,
    strings and sequences raise TypeError; negative integers ValueError
    ("`seed` must be a non-negative seed; got -1.").
    """
    if value is None or (generators and isinstance(value, generators)):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        what = "None, an int seed or a numpy Generator" if generators else "None or an int seed"
        shown = f" {value!r}" if isinstance(value, (float, str, bool, np.generic)) else ""
        raise TypeError(f"`{name}` must be {what}; got {type(value).__name__}{shown}.")
    if value < 0:
        raise ValueError(f"`{name}` must be a non-negative seed; got {int(value)}.")
    return int(value)


def float_dtype(name: str, value: object, allowed=(np.float64, np.float32)) -> np.dtype:
    """A floating dtype among ``allowed`` (anything :func:`numpy.dtype` understands)."""
    listed = " or ".join(np.dtype(a).name for a in allowed)
    try:
        with warnings.catch_warnings():  # NumPy's deprecated aliases ("a") are refused below
            warnings.simplefilter("ignore", DeprecationWarning)
            dt = np.dtype(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be {listed}; got {value!r}.") from None
    if dt not in [np.dtype(a) for a in allowed]:
        raise TypeError(f"`{name}` must be {listed}; got {dt}.")
    return dt


def integer_array(
    name: str, x: ArrayLike, lo: int, hi: int, requirement: str, kind: str = "an integer array"
) -> NDArray[np.int64]:
    """An integer array (bools and floats refused) with every value in ``[lo, hi]``, as int64.

    The range is checked on the values as given, before the cast, so that a
    huge unsigned value is reported as itself.  ``kind`` words the TypeError
    ("`record` must be an array of integer steps; got dtype float64.").
    """
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"`{name}` must be {kind}; got dtype {a.dtype}.")
    if a.size:
        good = np.greater_equal(a, lo) & np.less_equal(a, hi)
        require(name, a, good, requirement)
    return a.astype(_I64, copy=False)


def matrix(name: str, x: ArrayLike, shape: tuple[int, ...] | None = None) -> NDArray[np.float64]:
    """A real, finite float64 array (of ``shape`` if given); host values only."""
    a = _as_float64(name, x)
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)}; got shape {a.shape}.")
    return finite(name, a)


def square_matrix(name: str, x: ArrayLike) -> NDArray[np.float64]:
    """A real, finite, non-empty square matrix ``(d, d)`` as float64."""
    a = _as_float64(name, x)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ValueError(f"`{name}` must be a square matrix (d, d) with d >= 1; got shape {a.shape}.")
    return finite(name, a)


def symmetric(name: str, a: np.ndarray, rtol: float) -> np.ndarray:
    """Check that a finite square matrix is symmetric to ``rtol`` times its largest entry."""
    scale = float(_max(np.abs(a), axis=None)) if a.size else 0.0
    with np.errstate(over="ignore"):  # a difference that overflows is asymmetric anyway
        asym = np.abs(a - a.T) > rtol * scale
    if asym.any():
        i, j = first_index(asym)
        raise ValueError(
            f"`{name}` must be symmetric; {name}[{i}, {j}] = {_fmt(a[i, j])} but "
            f"{name}[{j}, {i}] = {_fmt(a[j, i])}."
        )
    return a


__all__ += [
    "array_count", "count", "finite", "first_index", "float_dtype", "integer_array", "interval", "matrix",
    "require", "scalar", "seed", "square_matrix", "symmetric",
]


def representable(name: str, host: np.ndarray, dtype, zero_ok: bool = False) -> None:
    """Refuse positive values that ``dtype`` rounds to zero or infinity (first bad index)."""
    with np.errstate(over="ignore", under="ignore"):  # what the check below looks for
        b = host.reshape(-1).astype(dtype)
    good = np.isfinite(b) & ((b > 0) | ((host.reshape(-1) == 0) if zero_ok else False))
    bad = np.flatnonzero(~good)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"`{name}` is not representable in {np.dtype(dtype).name}; "
            f"{name}[{i}] = {_fmt(host.reshape(-1)[i])} (use dtype=float64)."
        )


def step_grid(steps: ArrayLike, name: str = "steps") -> NDArray[np.int64]:
    """Check a grid of gradient-descent steps: 1-D integers in ``[0, 2**62]``, non-decreasing.

    Raises
    ------
    TypeError
        If ``steps`` does not hold integers (floats, even integral ones, are refused:
        a step count is exact), e.g. "`steps` must hold integers; got dtype float64."
    ValueError
        If it is not 1-D, holds a negative or too large step, or decreases, naming the
        first bad index.
    """
    a = np.asarray(steps)
    if a.size == 0 and a.ndim == 1:  # an empty list is float64 to NumPy
        return np.empty(0, dtype=np.int64)
    if a.dtype.kind not in "iu" or a.dtype == np.bool_:
        raise TypeError(f"`{name}` must hold integers; got dtype {a.dtype}.")
    if a.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array; got shape {a.shape}.")
    hi = MAX_STEPS_LIMIT
    bad = np.flatnonzero((a < 0) | (a > hi)) if a.size else np.empty(0, dtype=np.intp)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"`{name}` must be in [0, {hi}]; {name}[{i}] = {int(a[i])}.")
    a = a.astype(np.int64, copy=False)
    if a.size > 1:
        rising = a[1:] >= a[:-1]
        if not _all(rising):
            i = int(np.argmin(rising)) + 1
            raise ValueError(f"`{name}` must be non-decreasing; "
                             f"{name}[{i}] = {int(a[i])} < {name}[{i - 1}] = {int(a[i - 1])}.")
    return np.ascontiguousarray(a)


def layer_values(name: str, x: ArrayLike, shape: tuple[int, ...], bound: float) -> NDArray[np.float64]:
    """Per-feature (per-layer) initial values: real, finite, nonzero, ``|x| <= bound``,
    broadcast to ``shape``; returned as a new C-contiguous float64 array (the kernels
    overwrite it with the state)."""
    a = _as_float64(name, x)
    try:
        view = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"`{name}` must broadcast to shape {shape} (the features' shape"
                         f"{', then the layers' if len(shape) and name != 'decoder' else ''}); "
                         f"got shape {a.shape}.") from None
    flat = a.reshape(-1)
    bad = np.flatnonzero(~(np.abs(flat) <= bound) | (flat == 0.0))
    if bad.size:
        i = int(bad[0])
        loc = np.unravel_index(i, a.shape) if a.ndim else ()
        where = f"{name}[{', '.join(map(str, loc))}]" if a.ndim else name
        raise ValueError(f"`{name}` must be nonzero and finite with magnitude at most {bound:g} "
                         f"(a zero layer keeps w = 0 forever); {where} = {_fmt(flat[i])}.")
    return np.array(view, dtype=np.float64, order="C")
