"""The flat call of ``advance`` (one compiled call: scans, kernel, result scans) against the general path.

``fastdyn._dispatch._host_flat`` takes 1-D float64 arrays of one length, Python
floats and an int depth; everything else goes through the general path.  The
two must agree bit for bit on values, on statuses and errors, on ``out``
aliasing, and on the result contract (never NaN with SUCCESS).  The general
path is reached here by passing the depth as a NumPy integer, which the flat
path does not take.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastdyn as fd
from fastdyn import _dispatch
from fastdyn import _operations as ops
from fastdyn.kernels import _flat
from fastdyn.kernels._constants import PARALLEL_MIN_WORK

OBJECTIVES = ["jepa", "mae"]
# serial and parallel kernels: the parallel twin from PARALLEL_MIN_WORK / cost features
N_PARALLEL = PARALLEL_MIN_WORK // _flat.ADVANCE_COST + 1


def _inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    lam = 10.0 ** rng.uniform(-2, 2, n)
    rho = 10.0 ** rng.uniform(-1, 1, n)
    w = 10.0 ** rng.uniform(-6, 0, n) * rho
    dt = 10.0 ** rng.uniform(-3, 3, n)
    return w, dt, lam, rho


def _general(w, dt, lam, rho, depth, objective, **kw):
    """The general path: a NumPy integer depth is not a flat call."""
    return fd.advance(w, dt, lam, rho, depth=np.int64(depth), objective=objective, **kw)


def _spied_advance(calls):
    """``advance`` with its flat call and its general host adapter recorded in ``calls``."""

    def flat(*a):
        calls.append("flat")
        return _flat.advance_flat(*a)

    def host(c):
        calls.append("general")
        ops.ADVANCE.host(c)

    kernel = dataclasses.replace(ops.ADVANCE, flat=flat, host=host)
    op = dataclasses.replace(ops.advance, select=lambda args: (kernel, {"objective": 0}))
    return lambda **kw: _dispatch.call(op, dict(objective="jepa", out=None, backend="auto", **kw))


def test_the_flat_path_is_taken():
    """A flat call runs the compiled function once and no general adapter; a NumPy int depth the general."""
    calls = []
    run = _spied_advance(calls)
    w, dt, lam, rho = _inputs(10)
    got = run(w=w, dt=dt, lam=lam, rho=rho, depth=5)
    assert calls == ["flat"]
    calls.clear()
    want = run(w=w, dt=dt, lam=lam, rho=rho, depth=np.int64(5))
    assert calls == ["general"]
    np.testing.assert_array_equal(got, want)
    calls.clear()
    w, dt, lam, rho = _inputs(N_PARALLEL)  # the parallel kernel's size: the general path
    run(w=w, dt=dt, lam=lam, rho=rho, depth=5)
    assert calls == ["general"]


@pytest.mark.parametrize("n", [1, 7, 100, N_PARALLEL])
@pytest.mark.parametrize("depth", [1, 2, 5, 64])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_bit_identical_to_the_general_path(objective, depth, n):
    w, dt, lam, rho = _inputs(n, seed=depth)
    got = fd.advance(w, dt, lam, rho, depth=depth, objective=objective)
    want = _general(w, dt, lam, rho, depth, objective)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scalars", [("dt",), ("lam", "rho"), ("w", "dt"), ("w", "lam", "rho")])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_python_floats_with_arrays(objective, scalars):
    w, dt, lam, rho = _inputs(50, seed=3)
    args = dict(w=w, dt=dt, lam=lam, rho=rho)
    for k in scalars:
        args[k] = float(args[k][0])
    got = fd.advance(args["w"], args["dt"], args["lam"], args["rho"], depth=4, objective=objective)
    want = _general(args["w"], args["dt"], args["lam"], args["rho"], 4, objective)
    np.testing.assert_array_equal(got, want)


@given(st.lists(st.tuples(st.floats(-6, 6), st.floats(-3, 3), st.floats(-200, 2), st.floats(-300, 300)),
                min_size=1, max_size=20),
       st.integers(1, 64), st.sampled_from(OBJECTIVES))
def test_whole_domain_matches_the_general_path(rows, depth, objective):
    """log10 of lam, rho, w / w_inf and dt over the documented domain (w and dt clipped to it)."""
    a = np.array(rows)
    lam, rho = 10.0 ** a[:, 0], 10.0 ** a[:, 1]
    w_inf = fd.fixed_point(rho, depth=depth, objective=objective)
    w = np.clip(w_inf * 10.0 ** a[:, 2], 1e-200, 1e200)
    dt = 10.0 ** a[:, 3]
    got, want = [], []
    for f, res in ((fd.advance, got), (_general, want)):
        try:
            if f is fd.advance:
                res.append(fd.advance(w, dt, lam, rho, depth=depth, objective=objective))
            else:
                res.append(_general(w, dt, lam, rho, depth, objective))
        except (ValueError, fd.SolverError) as e:
            res.append(f"{type(e).__name__}: {e}")
    if isinstance(want[0], str):
        assert got[0] == want[0]
    else:
        np.testing.assert_array_equal(got[0], want[0])
        assert np.all(np.isfinite(got[0])) and np.all(got[0] > 0)


_BAD = [(k, v) for k in ("w", "dt", "lam", "rho") for v in (np.nan, -1.0, np.inf, 0.0, 1e301)
        if not (k == "dt" and v == 0.0)]  # (dt = 0 is in the domain)


@pytest.mark.parametrize(("name", "bad"), _BAD)
def test_bad_input_gets_the_general_message(name, bad):
    w, dt, lam, rho = _inputs(8, seed=5)
    args = dict(w=w, dt=dt, lam=lam, rho=rho)
    args[name] = args[name].copy()
    args[name][3] = bad
    with pytest.raises(ValueError) as flat:
        fd.advance(**args, depth=5, objective="mae")
    with pytest.raises(ValueError) as general:
        _general(**args, depth=5, objective="mae")
    assert str(flat.value) == str(general.value)
    assert f"`{name}`" in str(flat.value) and f"{name}[3]" in str(flat.value)


def test_bad_input_writes_nothing():
    w, dt, lam, rho = _inputs(8, seed=6)
    lam[7] = -1.0
    out = np.full(8, 7.0)
    with pytest.raises(ValueError, match=r"lam\[7\]"):
        fd.advance(w, dt, lam, rho, depth=5, objective="jepa", out=out)
    np.testing.assert_array_equal(out, 7.0)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_out_is_w(objective):
    w, dt, lam, rho = _inputs(40, seed=7)
    want = fd.advance(w, dt, lam, rho, depth=3, objective=objective)
    got = fd.advance(w, dt, lam, rho, depth=3, objective=objective, out=w)
    assert got is w
    np.testing.assert_array_equal(w, want)


@pytest.mark.parametrize("shift", [1, -1])
def test_out_overlapping_an_input_goes_through_a_temporary(shift):
    """``out`` a shifted view of the buffer ``w`` lives in: the flat call refuses it, the general path copies."""
    n = 30
    w0, dt, lam, rho = _inputs(n + 1, seed=8)
    dt, lam, rho = dt[:n], lam[:n], rho[:n]
    want = fd.advance(w0[1:].copy() if shift == 1 else w0[:-1].copy(), dt, lam, rho, depth=5,
                      objective="jepa")
    buf = w0.copy()
    w, out = (buf[1:], buf[:-1]) if shift == 1 else (buf[:-1], buf[1:])
    got = fd.advance(w, dt, lam, rho, depth=5, objective="jepa", out=out)
    np.testing.assert_array_equal(got, want)


def test_out_of_the_wrong_kind_gets_the_general_message():
    w, dt, lam, rho = _inputs(5)
    with pytest.raises(ValueError, match="shape"):
        fd.advance(w, dt, lam, rho, depth=5, objective="jepa", out=np.empty(4))
    with pytest.raises(TypeError, match="float64"):
        fd.advance(w, dt, lam, rho, depth=5, objective="jepa", out=np.empty(5, np.float32))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_not_flat_calls_still_work(objective):
    """Lists, 0-d, broadcasting, float32 and empty inputs: the general path's results."""
    w, dt, lam, rho = _inputs(6, seed=9)
    want = fd.advance(w, dt, lam, rho, depth=5, objective=objective)
    np.testing.assert_array_equal(fd.advance(list(w), dt, lam, rho, depth=5, objective=objective), want)
    np.testing.assert_array_equal(fd.advance(w.astype(np.float32).astype(float), dt, lam, rho, depth=5,
                                             objective=objective),
                                  fd.advance(w.astype(np.float32), dt, lam, rho, depth=5,
                                             objective=objective))
    assert fd.advance(np.empty(0), 1.0, np.empty(0), np.empty(0), depth=5, objective=objective).shape == (0,)
    one = fd.advance(float(w[0]), float(dt[0]), float(lam[0]), float(rho[0]), depth=5, objective=objective)
    assert isinstance(one, float) and one == want[0]
    strided = np.repeat(w, 2)[::2]
    np.testing.assert_array_equal(fd.advance(strided, dt, lam, rho, depth=5, objective=objective), want)


def _fake_flat(code, value):
    """A flat call that writes ``value`` into feature 2 and reports ``code`` (stands for a kernel fault)."""

    def flat(objective, depth, lam, rho, w, dt, out, status, ts, td):
        out[:] = 1.0
        out[2] = value
        return code

    return flat


@pytest.mark.parametrize("value", [np.nan, np.inf, 0.0, -1.0])
def test_a_bad_result_gets_the_result_contract(value):
    """FLAT_BAD_RESULT: the general checks mark it NON_FINITE and raise SolverError at index 2."""
    kernel = dataclasses.replace(ops.ADVANCE, flat=_fake_flat(_flat.FLAT_BAD_RESULT, value))
    op = dataclasses.replace(ops.advance, select=lambda args: (kernel, {"objective": 0}))
    w, dt, lam, rho = _inputs(5)
    with pytest.raises(fd.SolverError, match=r"index 2 \(NON_FINITE\)") as e:
        _dispatch.call(op, dict(w=w, dt=dt, lam=lam, rho=rho, depth=5, objective="jepa", out=None,
                                backend="auto"))
    status = e.value.status
    assert status.tolist() == [0, 0, fd.Status.NON_FINITE, 0, 0]


def test_a_bad_input_code_runs_the_general_path():
    """FLAT_BAD_INPUT: whatever the flat call wrote, the general path computes the result."""
    kernel = dataclasses.replace(ops.ADVANCE, flat=_fake_flat(_flat.FLAT_BAD_INPUT, np.nan))
    op = dataclasses.replace(ops.advance, select=lambda args: (kernel, {"objective": 0}))
    w, dt, lam, rho = _inputs(5)
    got = _dispatch.call(op, dict(w=w, dt=dt, lam=lam, rho=rho, depth=5, objective="jepa", out=None,
                                  backend="auto"))
    np.testing.assert_array_equal(got, fd.advance(w, dt, lam, rho, depth=5, objective="jepa"))
