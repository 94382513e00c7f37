"""Tests of the API-boundary validation in ``fastdyn._validate``.

Every bad input kind is one parametrized case whose full message is matched,
index included.  Good inputs must come back unchanged (dtype, shape, and the
very same object for float64 / int64 arrays).  Hypothesis plants one bad
element at a random position of a random array and checks that exactly that
index is reported.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastdyn._validate import (
    MAX_DEPTH,
    RTOL_MAX,
    RTOL_MIN,
    broadcast,
    check_choice,
    depth_array,
    fraction,
    nonnegative_finite,
    objective_code,
    output_array,
    positive_finite,
    rtol_value,
    time_grid,
)

NAN = math.nan
INF = math.inf
REAL = "must be real-valued (integer or floating point); got dtype"


def exactly(message: str) -> str:
    """A ``match=`` pattern that accepts ``message`` and nothing else."""
    return "^" + re.escape(message) + "$"


def planted(shape: tuple[int, ...], at: tuple[int, ...], value: float) -> np.ndarray:
    """An array of ones with ``value`` at index ``at``."""
    a = np.ones(shape)
    a[at] = value
    return a


# --------------------------------------------------------------------------
# objective_code and check_choice
# --------------------------------------------------------------------------


@pytest.mark.parametrize("objective, code", [("jepa", 0), ("mae", 1), (np.str_("mae"), 1)])
def test_objective_code(objective, code):
    result = objective_code(objective)
    assert result == code and type(result) is int


def test_objective_codes_match_kernels():
    family = pytest.importorskip("fastdyn.kernels._family")
    assert objective_code("jepa") == family.JEPA
    assert objective_code("mae") == family.MAE


@pytest.mark.parametrize(
    "objective, message",
    [
        ("xyz", "`objective` must be 'jepa' or 'mae'; got 'xyz'."),
        ("JEPA", "`objective` must be 'jepa' or 'mae'; got 'JEPA'."),
        ("Mae", "`objective` must be 'jepa' or 'mae'; got 'Mae'."),
        (" jepa", "`objective` must be 'jepa' or 'mae'; got ' jepa'."),
        ("", "`objective` must be 'jepa' or 'mae'; got ''."),
    ],
)
def test_objective_code_unknown(objective, message):
    with pytest.raises(ValueError, match=exactly(message)):
        objective_code(objective)


@pytest.mark.parametrize(
    "objective, typename",
    [(0, "int"), (None, "NoneType"), (b"jepa", "bytes"), (["jepa"], "list")],
)
def test_objective_code_not_a_string(objective, typename):
    with pytest.raises(TypeError, match=exactly(f"`objective` must be a str; got {typename}.")):
        objective_code(objective)


@pytest.mark.parametrize(
    "value, allowed",
    [("exact", ("exact",)), ("rk", ["exact", "rk"]), (np.str_("c"), ("a", "b", "c"))],
)
def test_check_choice_accepts(value, allowed):
    result = check_choice("method", value, allowed)
    assert result == value and type(result) is str


@pytest.mark.parametrize(
    "allowed, message",
    [
        (("a",), "`method` must be 'a'; got 'x'."),
        (("a", "b"), "`method` must be 'a' or 'b'; got 'x'."),
        (("a", "b", "c"), "`method` must be 'a', 'b' or 'c'; got 'x'."),
    ],
)
def test_check_choice_unknown(allowed, message):
    with pytest.raises(ValueError, match=exactly(message)):
        check_choice("method", "x", allowed)


@pytest.mark.parametrize("value, typename", [(1, "int"), (None, "NoneType"), (1.5, "float")])
def test_check_choice_not_a_string(value, typename):
    with pytest.raises(TypeError, match=exactly(f"`method` must be a str; got {typename}.")):
        check_choice("method", value, ("a", "b"))


# --------------------------------------------------------------------------
# positive_finite, nonnegative_finite, fraction: good inputs
# --------------------------------------------------------------------------

FLOAT_CHECKS = [positive_finite, nonnegative_finite, fraction]


@pytest.mark.parametrize("check", FLOAT_CHECKS)
@pytest.mark.parametrize(
    "x",
    [
        np.array([0.25, 0.5, 0.75]),
        np.full((2, 3), 0.5),
        np.asfortranarray(np.full((3, 2), 0.5)),
        np.full(10, 0.5)[::3],
        np.array(0.5),
        np.empty(0),
        np.empty((2, 0, 3)),
    ],
    ids=["1d", "2d", "fortran", "strided", "0d", "empty", "empty-3d"],
)
def test_float64_array_passes_through_without_copy(check, x):
    assert check("x", x) is x


@pytest.mark.parametrize("check", FLOAT_CHECKS)
def test_read_only_float64_array_passes_through(check):
    x = np.full(3, 0.5)
    x.setflags(write=False)
    assert check("x", x) is x


@pytest.mark.parametrize("check", FLOAT_CHECKS)
@pytest.mark.parametrize(
    "x, shape",
    [
        (0.5, ()),
        (np.float64(0.5), ()),
        (np.float32(0.5), ()),
        ([0.5, 0.25], (2,)),
        ([[0.5], [0.25]], (2, 1)),
        ((0.5, 0.25, 0.125), (3,)),
        (np.array([0.5, 0.25], dtype=np.float32), (2,)),
        (np.array([0.5, 0.25], dtype=np.float16), (2,)),
        (np.array([0.5, 0.25], dtype=">f8"), (2,)),
        (np.array([0.5, 0.25], dtype=np.longdouble), (2,)),
        ([], (0,)),
    ],
)
def test_real_inputs_are_converted_to_float64(check, x, shape):
    a = check("x", x)
    assert type(a) is np.ndarray and a.dtype == np.float64 and a.shape == shape
    np.testing.assert_array_equal(a, np.asarray(x, dtype=np.float64))


@pytest.mark.parametrize(
    "x, shape", [(2, ()), (np.int64(2), ()), ([1, 2, 3], (3,)), (np.arange(1, 7, dtype=np.uint8).reshape(2, 3), (2, 3))]
)
def test_integers_are_converted_to_float64(x, shape):
    a = positive_finite("x", x)
    assert a.dtype == np.float64 and a.shape == shape
    np.testing.assert_array_equal(a, x)


@pytest.mark.parametrize("x", [0, 0.0, -0.0, [0.0, 1.0], np.zeros((2, 2))])
def test_nonnegative_finite_accepts_zero(x):
    np.testing.assert_array_equal(nonnegative_finite("dt", x), x)


@pytest.mark.parametrize("x", [5e-324, 1.7976931348623157e308, [1e-300, 1e300]])
def test_positive_finite_extremes(x):
    np.testing.assert_array_equal(positive_finite("lam", x), x)


# --------------------------------------------------------------------------
# positive_finite, nonnegative_finite, fraction: bad values
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check, name, x, message",
    [
        (positive_finite, "lam", planted((2, 4), (1, 3), -2.0), "`lam` must be positive and finite; lam[1, 3] = -2.0."),
        (positive_finite, "lam", planted((2, 4), (0, 2), 0.0), "`lam` must be positive and finite; lam[0, 2] = 0.0."),
        (positive_finite, "lam", [1.0, -0.0], "`lam` must be positive and finite; lam[1] = -0.0."),
        (positive_finite, "lam", [1.0, 2.0, NAN], "`lam` must be positive and finite; lam[2] = nan."),
        (positive_finite, "lam", [INF, 1.0], "`lam` must be positive and finite; lam[0] = inf."),
        (positive_finite, "lam", [1.0, -INF], "`lam` must be positive and finite; lam[1] = -inf."),
        (positive_finite, "lam", [1, 2, -3], "`lam` must be positive and finite; lam[2] = -3.0."),
        (positive_finite, "lam", [[1.0, -1.0], [NAN, 1.0]], "`lam` must be positive and finite; lam[0, 1] = -1.0."),
        (positive_finite, "lam", planted((2, 3, 4), (1, 1, 1), -1.0),
         "`lam` must be positive and finite; lam[1, 1, 1] = -1.0."),
        (positive_finite, "lam", np.array([1.0, 2.0, 0.0])[::-1], "`lam` must be positive and finite; lam[0] = 0.0."),
        (positive_finite, "lam", np.asfortranarray(planted((2, 4), (1, 0), -2.0)),
         "`lam` must be positive and finite; lam[1, 0] = -2.0."),
        (positive_finite, "lam", np.array([1.0, -1.0], dtype=np.float32), "`lam` must be positive and finite; lam[1] = -1.0."),
        (positive_finite, "lam", np.array([1e300], dtype=np.longdouble) * 1e300, "`lam` must be positive and finite; lam[0] = inf."),
        (positive_finite, "lam", -2.0, "`lam` must be positive and finite; got -2.0."),
        (positive_finite, "lam", 0, "`lam` must be positive and finite; got 0.0."),
        (positive_finite, "lam", NAN, "`lam` must be positive and finite; got nan."),
        (positive_finite, "lam", np.float32(-INF), "`lam` must be positive and finite; got -inf."),
        (positive_finite, "lam", np.array(0.0), "`lam` must be positive and finite; got 0.0."),
        (nonnegative_finite, "dt", [0.0, 1.0, -1.0], "`dt` must be non-negative and finite; dt[2] = -1.0."),
        (nonnegative_finite, "dt", [0.0, NAN], "`dt` must be non-negative and finite; dt[1] = nan."),
        (nonnegative_finite, "dt", [[0.0], [INF]], "`dt` must be non-negative and finite; dt[1, 0] = inf."),
        (nonnegative_finite, "dt", -5e-324, "`dt` must be non-negative and finite; got -5e-324."),
        (fraction, "p", [1.0], "`p` must be in the open interval (0, 1); p[0] = 1.0."),
        (fraction, "p", [0.5, 0.0], "`p` must be in the open interval (0, 1); p[1] = 0.0."),
        (fraction, "p", [0.5, 1.5], "`p` must be in the open interval (0, 1); p[1] = 1.5."),
        (fraction, "p", [0.5, NAN], "`p` must be in the open interval (0, 1); p[1] = nan."),
        (fraction, "p", -0.1, "`p` must be in the open interval (0, 1); got -0.1."),
    ],
)
def test_bad_values_name_the_first_bad_index(check, name, x, message):
    with pytest.raises(ValueError, match=exactly(message)):
        check(name, x)


@pytest.mark.parametrize("check", FLOAT_CHECKS)
@pytest.mark.parametrize(
    "x, dtype",
    [
        (True, "bool"),
        ([True, False], "bool"),
        (np.bool_(True), "bool"),
        (1j, "complex128"),
        (np.array([0.5 + 0j]), "complex128"),
        (np.complex64(0.5), "complex64"),
        ("0.5", "<U3"),
        (["0.5"], "<U3"),
        (b"0.5", "|S3"),
        (None, "object"),
        (np.array([0.5, None]), "object"),
        ([0.5, "a"], "<U32"),
        (np.array(["2024-01-01"], dtype="datetime64[D]"), "datetime64[D]"),
        (np.array([1], dtype="timedelta64[s]"), "timedelta64[s]"),
    ],
)
def test_non_real_kinds_raise_type_error(check, x, dtype):
    with pytest.raises(TypeError, match=exactly(f"`x` {REAL} {dtype}.")):
        check("x", x)


@pytest.mark.parametrize("x", [[[1.0], [1.0, 2.0]], [1.0, [2.0]]])
def test_ragged_sequence_raises_value_error(x):
    with pytest.raises(ValueError, match="^" + re.escape("`lam` must be a real number or an array of real numbers; could not convert")):
        positive_finite("lam", x)


@pytest.mark.parametrize("x, digits", [(10**30, 31), (-(10**400), 401)])
def test_int_too_large_raises_value_error(x, digits):
    with pytest.raises(ValueError, match=exactly(f"`lam` must fit in a 64-bit number; got an int with {digits} digits.")):
        positive_finite("lam", x)


# --------------------------------------------------------------------------
# depth_array
# --------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [np.array([1, 2, 64]), np.array(3), np.empty((0, 2), dtype=np.int64)])
def test_depth_int64_array_passes_through(depth):
    assert depth_array(depth) is depth


@pytest.mark.parametrize(
    "depth, shape",
    [
        (1, ()),
        (MAX_DEPTH, ()),
        (np.int32(5), ()),
        (np.uint64(5), ()),
        (3.0, ()),
        (np.float32(64.0), ()),
        ([1, 2, 3], (3,)),
        ([1.0, 2.0], (2,)),
        (np.array([[1, 64]], dtype=np.uint8), (1, 2)),
        (np.array([[1.0], [7.0]]), (2, 1)),
        (np.array([4, 5], dtype=np.uint64), (2,)),
        ([], (0,)),
        (np.empty((0, 3)), (0, 3)),
    ],
)
def test_depth_integral_values_become_int64(depth, shape):
    d = depth_array(depth)
    assert type(d) is np.ndarray and d.dtype == np.int64 and d.shape == shape
    np.testing.assert_array_equal(d, depth)


@pytest.mark.parametrize(
    "depth, message",
    [
        (0, "got 0."),
        (65, "got 65."),
        (-1, "got -1."),
        (10**30, f"got {10**30}."),
        (2.5, "got 2.5."),
        (NAN, "got nan."),
        (INF, "got inf."),
        (64.5, "got 64.5."),
        (1.0000000001, "got 1.0000000001."),
        (np.int8(-3), "got -3."),
        (np.array(0), "got 0."),
        ([1, 2, 2.5], "depth[2] = 2.5."),
        ([3, 0, 99], "depth[1] = 0."),
        ([[3, 3], [3, 65]], "depth[1, 1] = 65."),
        ([[3.0, NAN], [0.0, 3.0]], "depth[0, 1] = nan."),
        (np.array([2**63 + 5, 1], dtype=np.uint64), f"depth[0] = {2**63 + 5}."),
        (np.array([1, 2, 300], dtype=np.int16), "depth[2] = 300."),
        (np.array([[1.0, 2.0, -INF]]), "depth[0, 2] = -inf."),
    ],
)
def test_depth_bad_values(depth, message):
    with pytest.raises(ValueError, match=exactly("`depth` must be an integer in [1, 64]; " + message)):
        depth_array(depth)


@pytest.mark.parametrize(
    "depth, dtype",
    [(True, "bool"), (np.array([True, False]), "bool"), ("3", "<U1"), (3 + 0j, "complex128"), (None, "object")],
)
def test_depth_non_real_kinds(depth, dtype):
    with pytest.raises(TypeError, match=exactly(f"`depth` {REAL} {dtype}.")):
        depth_array(depth)


# --------------------------------------------------------------------------
# time_grid
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "t", [np.array([0.0, 0.5, 0.5, 2.0]), np.empty(0), np.array([3.0]), np.linspace(0, 1, 5)[::2]]
)
def test_time_grid_float64_passes_through(t):
    assert time_grid(t) is t


@pytest.mark.parametrize("t", [[0, 1, 2], [0.0, 1e-300, 1e300], [], (0.5,), np.array([1, 2], dtype=np.float32)])
def test_time_grid_converts(t):
    a = time_grid(t)
    assert a.dtype == np.float64 and a.ndim == 1
    np.testing.assert_array_equal(a, t)


@pytest.mark.parametrize("t, shape", [(1.0, "()"), (np.array(0.0), "()"), (np.zeros((2, 3)), "(2, 3)"), ([[0.0]], "(1, 1)")])
def test_time_grid_must_be_1d(t, shape):
    with pytest.raises(ValueError, match=exactly(f"`t` must be a 1-D array; got shape {shape}.")):
        time_grid(t)


@pytest.mark.parametrize(
    "t, message",
    [
        ([0.0, -1.0], "`t` must be in [0, 1e+300] (fastdyn's domain); t[1] = -1.0."),
        ([0.0, 1.0, NAN], "`t` must be in [0, 1e+300] (fastdyn's domain); t[2] = nan."),
        ([0.0, INF], "`t` must be in [0, 1e+300] (fastdyn's domain); t[1] = inf."),
        ([0.0, 2e300], "`t` must be in [0, 1e+300] (fastdyn's domain); t[1] = 2e+300."),
        ([-0.5], "`t` must be in [0, 1e+300] (fastdyn's domain); t[0] = -0.5."),
        ([0.0, 1.0, 2.0, 1.0], "`t` must be non-decreasing; t[3] = 1.0 < t[2] = 2.0."),
        ([1.0, 0.0, 2.0, 1.5], "`t` must be non-decreasing; t[1] = 0.0 < t[0] = 1.0."),
        ([0, 3, 2], "`t` must be non-decreasing; t[2] = 2.0 < t[1] = 3.0."),
    ],
)
def test_time_grid_bad_values(t, message):
    with pytest.raises(ValueError, match=exactly(message)):
        time_grid(t)


@pytest.mark.parametrize("t, dtype", [([True, False], "bool"), (["0"], "<U1"), ([0j], "complex128")])
def test_time_grid_non_real_kinds(t, dtype):
    with pytest.raises(TypeError, match=exactly(f"`t` {REAL} {dtype}.")):
        time_grid(t)


# --------------------------------------------------------------------------
# rtol_value
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rtol, expected",
    [
        (1e-6, 1e-6),
        (RTOL_MAX, 0.01),
        (RTOL_MIN, 1e-14),
        (np.float64(1e-8), 1e-8),
        (np.float32(0.001), float(np.float32(0.001))),
        (np.array(1e-4), 1e-4),
    ],
)
def test_rtol_accepts(rtol, expected):
    value = rtol_value(rtol)
    assert type(value) is float and value == expected


@pytest.mark.parametrize(
    "rtol, shown",
    [(0.5, "0.5"), (0.0, "0.0"), (0, "0.0"), (1, "1.0"), (-1e-6, "-1e-06"), (NAN, "nan"), (INF, "inf"),
     (5e-324, "5e-324"), (9.9e-15, "9.9e-15"),
     (0.010000000000000002, "0.010000000000000002"), (np.float32(0.02), repr(float(np.float32(0.02))))],
)
def test_rtol_out_of_range(rtol, shown):
    with pytest.raises(ValueError, match=exactly(f"`rtol` must be in [1e-14, 0.01]; got {shown}.")):
        rtol_value(rtol)


@pytest.mark.parametrize("rtol, shape", [([1e-3], "(1,)"), (np.full((2, 2), 1e-3), "(2, 2)"), ([], "(0,)")])
def test_rtol_must_be_scalar(rtol, shape):
    with pytest.raises(ValueError, match=exactly(f"`rtol` must be a scalar; got an array of shape {shape}.")):
        rtol_value(rtol)


@pytest.mark.parametrize("rtol, dtype", [(True, "bool"), ("1e-3", "<U4"), (1e-3j, "complex128"), (None, "object")])
def test_rtol_non_real_kinds(rtol, dtype):
    with pytest.raises(TypeError, match=exactly(f"`rtol` {REAL} {dtype}.")):
        rtol_value(rtol)


# --------------------------------------------------------------------------
# broadcast
# --------------------------------------------------------------------------


def test_broadcast_same_shapes_returns_the_inputs():
    lam, rho, depth = np.ones((2, 3)), np.full((2, 3), 2.0), np.full((2, 3), 4)
    arrays, shape = broadcast(lam=lam, rho=rho, depth=depth)
    assert shape == (2, 3)
    assert arrays[0] is lam and arrays[1] is rho and arrays[2] is depth


def test_broadcast_keeps_keyword_order():
    a, b = np.array([1.0, 2.0]), np.array(3.0)
    (x, y), _ = broadcast(rho=b, lam=a)
    np.testing.assert_array_equal(x, [3.0, 3.0])
    assert y is a


@pytest.mark.parametrize(
    "shapes, expected",
    [
        ([(3,), ()], (3,)),
        ([(), (), ()], ()),
        ([(2, 1), (3,), ()], (2, 3)),
        ([(4, 1, 5), (3, 1), (1,)], (4, 3, 5)),
        ([(0,), ()], (0,)),
        ([(1,), (0, 1)], (0, 1)),
    ],
)
def test_broadcast_shapes_and_views(shapes, expected):
    inputs = {f"a{i}": np.arange(math.prod(s), dtype=float).reshape(s) for i, s in enumerate(shapes)}
    arrays, shape = broadcast(**inputs)
    assert shape == expected
    for a, original in zip(arrays, inputs.values()):
        assert a.shape == expected and a.dtype == original.dtype
        np.testing.assert_array_equal(a, np.broadcast_to(original, expected))
        if original.shape == expected:
            assert a is original
        else:
            assert not a.flags.writeable  # a view: writing would alias elements
            assert a.size == 0 or np.shares_memory(a, original)  # no copy


@pytest.mark.parametrize("scalar", [np.array(2), np.array(2.5, dtype=np.float32), np.array(True), np.array("s"), np.array(None)])
def test_broadcast_zero_d_of_any_dtype(scalar):
    (view, _), shape = broadcast(s=scalar, a=np.ones(3))
    assert shape == (3,) and view.dtype == scalar.dtype and view.shape == (3,)
    assert all(v == scalar[()] for v in view.tolist())


def test_broadcast_accepts_array_likes():
    (a, b), shape = broadcast(lam=[1.0, 2.0], rho=3.0)
    assert shape == (2,)
    np.testing.assert_array_equal(a, [1.0, 2.0])
    np.testing.assert_array_equal(b, [3.0, 3.0])


def test_broadcast_nothing():
    assert broadcast() == ((), ())


def test_broadcast_many_arrays():
    inputs = {f"a{i}": np.ones((1, 3)) if i else np.ones((2, 1)) for i in range(70)}
    arrays, shape = broadcast(**inputs)
    assert shape == (2, 3) and len(arrays) == 70


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"lam": np.ones(3), "rho": np.ones(4)},
         "`lam` (shape (3,)), `rho` (shape (4,)) do not broadcast together."),
        ({"lam": np.ones(3), "rho": np.ones(4), "depth": np.array(3)},
         "`lam` (shape (3,)), `rho` (shape (4,)), `depth` (shape ()) do not broadcast together."),
        ({"w0": np.ones((2, 3)), "t": np.ones((3, 2))},
         "`w0` (shape (2, 3)), `t` (shape (3, 2)) do not broadcast together."),
        ({f"a{i}": np.ones(2 if i else 3) for i in range(40)},
         ", ".join(f"`a{i}` (shape ({2 if i else 3},))" for i in range(40)) + " do not broadcast together."),
    ],
    ids=["two", "three", "2d", "forty"],
)
def test_broadcast_mismatch_names_every_parameter(inputs, message):
    with pytest.raises(ValueError, match=exactly(message)):
        broadcast(**inputs)


# --------------------------------------------------------------------------
# output_array
# --------------------------------------------------------------------------


@pytest.mark.parametrize("shape, expected", [((3, 4), (3, 4)), ((), ()), ([5], (5,)), (7, (7,)), ((0,), (0,))])
def test_output_array_allocates(shape, expected):
    out = output_array(None, shape)
    assert type(out) is np.ndarray and out.dtype == np.float64 and out.shape == expected
    assert out.flags.writeable


@pytest.mark.parametrize("out", [np.zeros((3, 4)), np.zeros((4, 3)).T, np.zeros((3, 8))[:, ::2]])
def test_output_array_returns_the_given_array(out):
    assert output_array(out, (3, 4)) is out


@pytest.mark.parametrize(
    "out, message",
    [
        ([0.0, 0.0], "`out` must be a numpy.ndarray or None; got list."),
        (0.0, "`out` must be a numpy.ndarray or None; got float."),
        (np.float64(0.0), "`out` must be a numpy.ndarray or None; got float64."),
        (np.zeros(2, dtype=np.float32), "`out` must have dtype float64; got dtype float32."),
        (np.zeros(2, dtype=np.int64), "`out` must have dtype float64; got dtype int64."),
        (np.zeros(2, dtype=">f8"), "`out` must have dtype float64; got dtype >f8."),
        (np.zeros(2, dtype=np.complex128), "`out` must have dtype float64; got dtype complex128."),
    ],
)
def test_output_array_wrong_kind(out, message):
    with pytest.raises(TypeError, match=exactly(message)):
        output_array(out, (2,))


@pytest.mark.parametrize(
    "out, shape, message",
    [
        (np.zeros((4, 3)), (3, 4), "`out` must have shape (3, 4); got shape (4, 3)."),
        (np.zeros(12), (3, 4), "`out` must have shape (3, 4); got shape (12,)."),
        (np.zeros((1, 3)), (3,), "`out` must have shape (3,); got shape (1, 3)."),
        (np.zeros(()), (1,), "`out` must have shape (1,); got shape ()."),
    ],
)
def test_output_array_wrong_shape(out, shape, message):
    with pytest.raises(ValueError, match=exactly(message)):
        output_array(out, shape)


def _flag_cleared() -> np.ndarray:
    out = np.zeros(3)
    out.setflags(write=False)
    return out


@pytest.mark.parametrize(
    "out", [np.broadcast_to(np.zeros(1), (3,)), _flag_cleared()], ids=["broadcast-view", "flag-cleared"]
)
def test_output_array_read_only(out):
    with pytest.raises(ValueError, match=exactly("`res` must be writeable; got a read-only array.")):
        output_array(out, (3,), name="res")


# --------------------------------------------------------------------------
# hypothesis: the reported index is the planted one
# --------------------------------------------------------------------------

_positive = st.floats(min_value=5e-324, max_value=1.7976931348623157e308)
_nonnegative = st.floats(min_value=0.0, max_value=1.7976931348623157e308)
_inside = st.floats(min_value=5e-324, max_value=0.9999999999999999)

PLANTED = {
    "positive_finite": (
        lambda x: positive_finite("lam", x), "lam", np.float64, _positive,
        [0.0, -0.0, -1.0, -5e-324, NAN, INF, -INF],
    ),
    "nonnegative_finite": (
        lambda x: nonnegative_finite("dt", x), "dt", np.float64, _nonnegative,
        [-1.0, -5e-324, NAN, INF, -INF],
    ),
    "fraction": (
        lambda x: fraction("p", x), "p", np.float64, _inside,
        [0.0, -0.0, 1.0, 1.5, -0.5, NAN, INF, -INF],
    ),
    "depth-int": (
        depth_array, "depth", np.int64, st.integers(1, MAX_DEPTH), [0, -1, 65, 2**40, -(2**63)],
    ),
    "depth-float": (
        depth_array, "depth", np.float64, st.integers(1, MAX_DEPTH).map(float),
        [0.0, 65.0, 2.5, 1.0000000000000002, 63.99999999999999, NAN, INF, -INF],
    ),
}


def _lay_out(a: np.ndarray, layout: str) -> np.ndarray:
    """The same logical array in another memory layout."""
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "reversed":  # negative strides on every axis
        flipped = np.flip(a).copy()
        return np.flip(flipped)
    if layout == "strided":  # every other element of a larger buffer
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a


@pytest.mark.parametrize("kind", list(PLANTED))
@given(data=st.data())
def test_reported_index_is_the_planted_one(kind, data):
    check, name, dtype, good, bad_values = PLANTED[kind]
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5), label="shape")
    a = data.draw(hnp.arrays(dtype, shape, elements=good), label="good")
    index = tuple(data.draw(st.integers(0, n - 1), label=f"index[{k}]") for k, n in enumerate(shape))
    bad = data.draw(st.sampled_from(bad_values), label="bad")
    a[index] = bad
    x = _lay_out(a, data.draw(st.sampled_from(["C", "fortran", "reversed", "strided"]), label="layout"))
    np.testing.assert_array_equal(x, a)  # same logical array, NaN included

    with pytest.raises(ValueError) as info:
        check(x)
    expected = f"{name}[{', '.join(map(str, index))}] = {bad!r}."
    assert str(info.value).endswith("; " + expected), (str(info.value), expected)


@given(data=st.data())
def test_time_grid_reports_the_planted_decrease(data):
    steps = data.draw(hnp.arrays(np.float64, st.integers(2, 30), elements=st.floats(1e-3, 1e3)), label="steps")
    t = np.cumsum(steps)
    i = data.draw(st.integers(1, t.size - 1), label="i")
    t[i] = data.draw(st.floats(0.0, t[i - 1], exclude_max=True), label="t[i]")
    with pytest.raises(ValueError) as info:
        time_grid(t)
    assert str(info.value) == (
        f"`t` must be non-decreasing; t[{i}] = {float(t[i])!r} < t[{i - 1}] = {float(t[i - 1])!r}."
    )


@pytest.mark.parametrize("check", FLOAT_CHECKS)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0), elements=_inside))
def test_good_float64_arrays_pass_unchanged(check, x):
    before = x.copy()
    assert check("x", x) is x
    np.testing.assert_array_equal(x, before)
