"""The exact solver across features (``kernels/cuda/simd.h``) and its vector math (``vecmath.h``).

The CPU library solves trajectories, the flow map and critical times for
blocks of features at once, in vector registers, with its own branch-free
exp, expm1, log and log1p.  Here:

* each of those functions is within 1 ulp of mpmath (200 bits) over its range,
  and gives the C library's values at the special arguments;
* a feature's result depends on its own inputs only: alone, in any block,
  at any position, next to features of other depths or on the scalar
  fallbacks (decay branch, the fixed point, t = 0, targets beyond float64), it
  is the same to the bit (hypothesis);
* the block path agrees with the scalar solver of ``exact.h`` (what the GPU
  runs) to 1e-12 relative, with statuses, zeros and non-finite values exact;
* builds for the baseline x86-64, x86-64-v3 and x86-64-v4 (``tests/simd_probe.cpp``,
  the instruction sets the library is cloned for) give the installed
  library's bits: no rounding depends on the machine.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastdyn._benchmark import workload
from fastdyn.kernels import _inverse
from fastdyn.kernels._lib import lib

ROOT = Path(__file__).resolve().parents[1]
CUDA = ROOT / "kernels" / "cuda"
PROBE = Path(__file__).resolve().parent / "simd_probe.cpp"
P = ctypes.POINTER(ctypes.c_double)
P8 = ctypes.POINTER(ctypes.c_int8)
P64 = ctypes.POINTER(ctypes.c_int64)
# the library's clones (simd.h: arch=x86-64-v4, arch=x86-64-v3, default) and the CPU flags each needs
V3, V4 = ("avx2", "fma", "bmi2"), ("avx512f", "avx512dq", "avx512bw", "avx512vl")
FUNCS = {"exp": (0, mpmath.exp, np.exp), "expm1": (1, mpmath.expm1, np.expm1), "log": (2, mpmath.log, np.log),
         "log1p": (3, mpmath.log1p, np.log1p), "atan": (4, mpmath.atan, np.arctan)}
ATAN2 = 5  # vm_eval's code of atan2(x, y)
ATAN2_ULP = 1.5  # atan2's bound: the rounding of y/x adds up to half an ulp (the others: 1)
TOL = 1e-12


def ptr(a, t=P):
    return a.ctypes.data_as(t)


def vm_eval(name, x, fn=None, y=None):
    """vecmath.h's function `name` at x (atan2: at (x, y))."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = x if y is None else np.ascontiguousarray(y, dtype=np.float64)
    out = np.empty_like(x)
    code = ATAN2 if name == "atan2" else FUNCS[name][0]
    (fn or lib.fdh_vm_eval)(code, x.size, ptr(x), ptr(y), ptr(out))
    return out


def ulps(got, x, ref):
    """|got - ref(x)| in units of the last place of ref(x) (subnormal spacing below 2^-1022)."""
    errs = np.empty(x.size)
    with mpmath.workprec(200):
        for i, (g, xi) in enumerate(zip(got, x)):
            r = ref(mpmath.mpf(float(xi)))
            rf = float(r)
            unit = max(np.spacing(abs(rf)), 5e-324)
            errs[i] = float(abs(mpmath.mpf(float(g)) - r) / unit)
    return errs


RANGES = {
    "exp": [(-745.1, 709.78, "uniform"), (-1.0, 1.0, "uniform"), (-745.13, -708.0, "uniform"),
            (708.0, 709.78, "uniform")],
    "expm1": [(-0.35, 0.35, "uniform"), (-2.0, 2.0, "uniform"), (-60.0, 709.0, "uniform"),
              (-60.0, 0.0, "exp"), (30.0, 45.0, "uniform")],
    "log": [(-744.0, 709.0, "exp"), (0.5, 2.0, "uniform"), (0.9999, 1.0001, "uniform"),
            (-744.4, -708.0, "exp")],
    "log1p": [(-60.0, 40.0, "exp"), (-0.5, 1.0, "uniform"), (-60.0, -1e-9, "negexp")],
    # every interval of the reduction and its breakpoints (7/16, 11/16, 19/16, 39/16), both signs
    "atan": [(-4.0, 4.0, "uniform"), (-700.0, 700.0, "exp"), (0.42, 0.46, "uniform"), (0.67, 0.70, "uniform"),
             (1.17, 1.20, "uniform"), (2.42, 2.45, "uniform"), (-2.45, -0.42, "uniform")],
}
CASES = [(name, lo, hi, kind) for name, rs in RANGES.items() for lo, hi, kind in rs]


def draw(lo, hi, kind, n, seed):
    rng = np.random.default_rng(seed)
    u = rng.uniform(lo, hi, n)
    return {"uniform": u, "exp": np.exp(u), "negexp": -np.exp(u)}[kind]


@pytest.mark.parametrize("name, lo, hi, kind", CASES)
def test_vector_math_is_within_one_ulp(name, lo, hi, kind):
    x = draw(lo, hi, kind, 4000, seed=hash((name, lo)) % 2**32)
    err = ulps(vm_eval(name, x), x, FUNCS[name][1])
    assert err.max() <= 1.0, f"{name} on {kind}[{lo}, {hi}]: {err.max():.3f} ulp at x={x[err.argmax()]!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name, lo, hi, kind", CASES)
def test_vector_math_is_within_one_ulp_thorough(name, lo, hi, kind):
    x = draw(lo, hi, kind, 200_000, seed=1 + hash((name, lo)) % 2**32)
    err = ulps(vm_eval(name, x), x, FUNCS[name][1])
    assert err.max() <= 1.0, f"{name} on {kind}[{lo}, {hi}]: {err.max():.3f} ulp at x={x[err.argmax()]!r}"


def atan2_ulps(y, x):
    errs = np.empty(x.size)
    got = vm_eval("atan2", y, y=x)
    with mpmath.workprec(200):
        for i, (g, yi, xi) in enumerate(zip(got, y, x)):
            r = mpmath.atan2(mpmath.mpf(float(yi)), mpmath.mpf(float(xi)))
            errs[i] = float(abs(mpmath.mpf(float(g)) - r) / max(np.spacing(abs(float(r))), 5e-324))
    return errs


# angles in every octant (uniform on the circle), radii over the whole range, and the
# solver's use: y = sin(2 pi k/n) > 0, x = s - cos(2 pi k/n), s in (1/2, 1]
ATAN2_CASES = ["circle", "radii", "solver"]


def atan2_args(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "circle":
        a = rng.uniform(-np.pi, np.pi, n)
        return np.sin(a), np.cos(a)
    if kind == "radii":
        return rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-300, 300, n), rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-300, 300, n)
    th = 2 * np.pi * rng.integers(1, 33, n) / rng.integers(66, 130, n)
    return np.sin(th), rng.uniform(0.5, 1.0, n) - np.cos(th)


@pytest.mark.parametrize("kind", ATAN2_CASES)
def test_vector_atan2_is_within_its_bound(kind):
    y, x = atan2_args(kind, 4000, seed=ATAN2_CASES.index(kind))
    err = atan2_ulps(y, x)
    assert err.max() <= ATAN2_ULP, f"atan2 on {kind}: {err.max():.3f} ulp at y, x = {y[err.argmax()]!r}, {x[err.argmax()]!r}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ATAN2_CASES)
def test_vector_atan2_is_within_its_bound_thorough(kind):
    y, x = atan2_args(kind, 200_000, seed=10 + ATAN2_CASES.index(kind))
    err = atan2_ulps(y, x)
    assert err.max() <= ATAN2_ULP, f"atan2 on {kind}: {err.max():.3f} ulp at y, x = {y[err.argmax()]!r}, {x[err.argmax()]!r}"


ATAN2_SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e300, -1e300]


def test_vector_atan2_special_values_are_the_c_librarys():
    y, x = (a.ravel() for a in np.meshgrid(ATAN2_SPECIAL, ATAN2_SPECIAL))
    want = np.arctan2(y, x)
    got = vm_eval("atan2", y, y=x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))
    assert np.all(np.abs(got[ok] - want[ok]) <= np.spacing(np.abs(want[ok])))


SPECIAL = np.array([0.0, -0.0, -1.0, 1.0, np.inf, -np.inf, np.nan, 5e-324, 1e-310, 2.2250738585072014e-308,
                    1.7976931348623157e308, 709.8, 709.78, -745.2, -745.1, -746.0, 1e-20, -1e-20, 0.5, -0.5])


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_vector_math_special_values_are_the_c_librarys(name):
    with np.errstate(all="ignore"):
        want = FUNCS[name][2](SPECIAL)
    got = vm_eval(name, SPECIAL)
    # NaN, +-inf, zeros (with their sign) and +-1 exactly; other values within an ulp
    exact = ~np.isfinite(want) | (want == 0.0) | (np.abs(want) == 1.0)
    np.testing.assert_array_equal(got[exact], want[exact])
    assert np.array_equal(np.signbit(got[exact & ~np.isnan(want)]), np.signbit(want[exact & ~np.isnan(want)]))
    rest = ~exact
    assert np.all(np.abs(got[rest] - want[rest]) <= np.spacing(np.abs(want[rest])))


# ---------------------------------------------------------------------------
# the block path: lane independence and agreement with the scalar solver
# ---------------------------------------------------------------------------
def tables(objective, depths):
    ts, td = _inverse.tables_for_range(objective, int(min(depths)), int(max(depths)))
    return np.ascontiguousarray(ts), np.ascontiguousarray(td)


def run_trajectory(t, objective, depth, lam, rho, eps, fn=None):
    n = lam.size
    out = np.empty((n, t.size))
    status = np.empty(n, dtype=np.int8)
    ts, td = tables(objective, depth)
    if fn is None:
        lib.fdh_trajectory_block(t.size, ptr(t), objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(eps), 0, n,
                                 ptr(out), t.size, 1, ptr(status, P8), ptr(ts), ptr(td))
    else:
        fn(t.size, ptr(t), objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(eps), n, ptr(out), ptr(status, P8),
           ptr(ts), ptr(td))
    return out, status


def run_advance(objective, depth, lam, rho, w, dt, fn=None):
    n = lam.size
    out = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    ts, td = tables(objective, depth)
    if fn is None:
        lib.fdh_advance_block(objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(w), ptr(dt), 0, n, ptr(out),
                              ptr(status, P8), ptr(ts), ptr(td))
    else:
        fn(objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(w), ptr(dt), n, ptr(out), ptr(status, P8), ptr(ts),
           ptr(td))
    return out, status


def run_critical(objective, depth, lam, rho, eps, p, fn=None):
    n = lam.size
    out = np.empty(n)
    levels = np.full(65, np.nan)
    if fn is None:
        lib.fdh_critical_block(objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(eps), ptr(p), ptr(levels), 0, n,
                               ptr(out))
    else:
        fn(objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(eps), ptr(p), ptr(levels), n, ptr(out))
    return out


def log_uniform(lo, hi):
    return st.floats(np.log(lo), np.log(hi)).map(np.exp)


@st.composite
def batches(draw, max_size=40):
    """Features of one objective: common lanes and every fallback (decay, fixed point, extremes)."""
    objective = draw(st.sampled_from([0, 1]))
    n = draw(st.integers(1, max_size))
    one_depth = draw(st.booleans())
    d0 = draw(st.sampled_from([1, 2, 3, 5, 8, 64]))
    depth = np.array([d0 if one_depth else draw(st.sampled_from([1, 2, 5, 64])) for _ in range(n)], dtype=np.int64)
    lam = np.array([draw(log_uniform(1e-3, 1e3)) for _ in range(n)])
    rho = np.array([draw(st.one_of(log_uniform(1e-3, 1.0), st.just(1.0), log_uniform(1.0, 10.0)))
                    for _ in range(n)])
    eps = np.array([draw(st.one_of(log_uniform(1e-30, 0.5), st.just(1e-3), log_uniform(0.5, 3.0)))
                    for _ in range(n)])
    # a feature exactly at its fixed point
    if n > 2 and draw(st.booleans()):
        eps[1] = np.exp(np.log(rho[1]) / (1.0 / depth[1] if objective == 0 else (depth[1] + 1.0) / depth[1]))
    return objective, depth, lam, rho, eps


times = st.lists(st.one_of(st.just(0.0), log_uniform(1e-8, 1e30)), min_size=1, max_size=8).map(
    lambda ts: np.array(sorted(ts)))


@settings(max_examples=60, deadline=None)
@given(batch=batches(), t=times, perm_seed=st.integers(0, 2**32 - 1))
def test_a_features_trajectory_depends_on_its_own_inputs_only(batch, t, perm_seed):
    objective, depth, lam, rho, eps = batch
    out, status = run_trajectory(t, objective, depth, lam, rho, eps)
    perm = np.random.default_rng(perm_seed).permutation(lam.size)
    out_p, status_p = run_trajectory(t, objective, depth[perm], lam[perm], rho[perm], eps[perm])
    np.testing.assert_array_equal(out_p.view(np.int64), out[perm].view(np.int64))
    np.testing.assert_array_equal(status_p, status[perm])
    i = int(perm[0])
    alone, st_alone = run_trajectory(t, objective, depth[i:i + 1], lam[i:i + 1], rho[i:i + 1], eps[i:i + 1])
    np.testing.assert_array_equal(alone[0].view(np.int64), out[i].view(np.int64))
    assert st_alone[0] == status[i]


@settings(max_examples=60, deadline=None)
@given(batch=batches(), dt_log=st.floats(-8, 12), perm_seed=st.integers(0, 2**32 - 1))
def test_a_features_flow_map_and_critical_time_depend_on_its_own_inputs_only(batch, dt_log, perm_seed):
    objective, depth, lam, rho, w = batch
    dt = np.full(lam.size, 10.0 ** dt_log)
    p = np.full(lam.size, 0.5)
    perm = np.random.default_rng(perm_seed).permutation(lam.size)
    a, sa = run_advance(objective, depth, lam, rho, w, dt)
    a_p, sa_p = run_advance(objective, depth[perm], lam[perm], rho[perm], w[perm], dt[perm])
    np.testing.assert_array_equal(a_p.view(np.int64), a[perm].view(np.int64))
    np.testing.assert_array_equal(sa_p, sa[perm])
    c = run_critical(objective, depth, lam, rho, w, p)
    c_p = run_critical(objective, depth[perm], lam[perm], rho[perm], w[perm], p[perm])
    np.testing.assert_array_equal(c_p.view(np.int64), c[perm].view(np.int64))


def scalar_trajectory(t, objective, depth, lam, rho, eps):
    """exact.h's trajectory_row, one feature at a time (what the GPU runs per thread)."""
    out = np.empty((lam.size, t.size))
    status = np.empty(lam.size, dtype=np.int8)
    ts, td = tables(objective, depth)
    for i in range(lam.size):
        status[i] = lib.fdh_trajectory_row(t.size, ptr(t), objective, int(depth[i]), lam[i], rho[i], eps[i],
                                           ptr(out[i]), 1, ptr(ts), ptr(td))
    return out, status


def assert_close(got, want):
    exact = ~np.isfinite(want) | (want == 0.0)
    ok = np.where(exact, got == want, np.abs(got - want) <= TOL * np.abs(want))
    assert ok.all(), f"{got[~ok][:3]} != {want[~ok][:3]}"


@settings(max_examples=60, deadline=None)
@given(batch=batches(), t=times)
def test_the_block_path_agrees_with_the_scalar_solver(batch, t):
    objective, depth, lam, rho, eps = batch
    out, status = run_trajectory(t, objective, depth, lam, rho, eps)
    want, st_want = scalar_trajectory(t, objective, depth, lam, rho, eps)
    np.testing.assert_array_equal(status, st_want)
    assert_close(out, want)
    p = np.full(lam.size, 0.5)
    crit = run_critical(objective, depth, lam, rho, eps, p)
    crit_want = np.array([lib.fdh_critical_time(objective, int(d), a, r, e, 0.5, np.nan)
                          for d, a, r, e in zip(depth, lam, rho, eps)])
    assert_close(crit, crit_want)


def vector_path_counts(objective, depth, lam, rho, eps, t, w, dt, p):
    """Results the scalar solver computed (simd_probe's count) for a trajectory, a flow map and a critical time."""
    so = probe("x86-64-v3" if cpu_has(V3) else "x86-64")
    for kind in range(3):
        so.probe_take_fallbacks(kind)
    run_trajectory(t, objective, depth, lam, rho, eps, so.probe_trajectory)
    run_advance(objective, depth, lam, rho, w, dt, so.probe_advance)
    run_critical(objective, depth, lam, rho, eps, p, so.probe_critical)
    return [so.probe_take_fallbacks(kind) for kind in range(3)]


@pytest.mark.parametrize("objective", [0, 1])
def test_the_workload_takes_the_vector_path(objective):
    """Depth 5, eps 1e-3 (bench/'s workload, its 64 times): every lane of every operation in vector registers.

    The times run to three times the largest leading-order critical time, where
    MAE's late lanes sit at their fixed point to float64 (sigma > 690).
    """
    t, lam, rho = workload(["jepa", "mae"][objective], 256)
    n = lam.shape[0]
    depth, eps = np.full(n, 5, dtype=np.int64), np.full(n, 1e-3)
    counts = vector_path_counts(objective, depth, lam, rho, eps, t, 2 * eps, np.full(n, 0.5), np.full(n, 0.5))
    assert counts == [0, 0, 0]
    out, _ = run_trajectory(t, objective, depth, lam, rho, eps)
    want, _ = scalar_trajectory(t, objective, depth, lam, rho, eps)
    assert_close(out, want)


@pytest.mark.parametrize("objective", [0, 1])
def test_a_flow_state_steps_in_vector_registers(objective):
    """bench/'s workload stepped through its 64 times by a flow state (probe built for one
    instruction set): no step leaves the vector path, and the weights are the library's
    trajectory, to the bit."""
    so = probe("x86-64-v3" if cpu_has(V3) else "x86-64")
    t, lam, rho = workload(["jepa", "mae"][objective], 256)
    n = lam.shape[0]
    depth, eps = np.full(n, 5, dtype=np.int64), np.full(n, 1e-3)
    ts, td = tables(objective, depth)
    state = np.empty((lib.fdh_state_rows(), n))
    so.probe_take_fallbacks(3)
    so.probe_state_init(objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(eps), n, ptr(state), ptr(ts), ptr(td))
    got, out, status = np.empty((n, t.size)), np.empty(n), np.zeros(n, dtype=np.int8)
    steps = np.diff(np.concatenate([[0.0], t]))
    for j, dt in enumerate(steps):
        so.probe_state_advance(objective, ptr(depth, P64), ptr(lam), ptr(rho), ptr(state), ptr(np.full(n, dt)),
                               n, ptr(out), ptr(status, P8), ptr(ts), ptr(td))
        got[:, j] = out
    assert so.probe_take_fallbacks(3) == 0
    assert np.all(status == 0)
    # the state's clock is the float64 sum of its steps (the grid to rounding)
    want, _ = run_trajectory(np.cumsum(steps), objective, depth, lam, rho, eps)
    np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("depth", [2, 3, 4, 5, 8, 17, 64])
def test_mae_above_the_plateau_takes_the_vector_path(depth):
    """MAE from s = psi^(1/n) in (1/2, 1): R(s)'s closed form (logs, atan2) in vector registers.

    No lane of the trajectory or the flow map leaves the vector path, and every
    result is within TOL of the scalar solver's.  The critical times from here
    to p = 0.995 are intervals too long for the block's Gauss-Legendre form: the
    scalar critical_time's by design (simd.h, critical_block), checked for their
    values only.
    """
    rng = np.random.default_rng(depth)
    n = 256
    lam, rho = 10.0 ** rng.uniform(-1, 1, n), 10.0 ** rng.uniform(-1, 0.5, n)
    b = (depth + 1.0) / depth
    s0 = rng.uniform(0.52, 0.98, n)
    eps = (s0 ** (depth + 1) * rho) ** (1.0 / b)  # psi0 = eps^b / rho = s0^n
    d = np.full(n, depth, dtype=np.int64)
    t = np.geomspace(1e-3, 1e3, 16)
    dt, p = np.full(n, 0.3), np.full(n, 0.995)
    assert vector_path_counts(1, d, lam, rho, eps, t, eps, dt, p)[:2] == [0, 0]
    out, status = run_trajectory(t, 1, d, lam, rho, eps)
    want, st_want = scalar_trajectory(t, 1, d, lam, rho, eps)
    np.testing.assert_array_equal(status, st_want)
    assert_close(out, want)
    ts, td = tables(1, d)
    st1 = np.empty(1, dtype=np.int8)
    adv, _ = run_advance(1, d, lam, rho, eps, dt)
    assert_close(adv, np.array([lib.fdh_advance(1, depth, a, r, e, 0.3, ptr(ts), ptr(td), ptr(st1, P8))
                                for a, r, e in zip(lam, rho, eps)]))
    crit = run_critical(1, d, lam, rho, eps, p)
    assert_close(crit, np.array([lib.fdh_critical_time(1, depth, a, r, e, 0.995, np.nan)
                                 for a, r, e in zip(lam, rho, eps)]))


@pytest.mark.parametrize("objective,depth", [(0, 1), (0, 2), (0, 5), (0, 16), (0, 64), (1, 2), (1, 5), (1, 64)])
def test_critical_time_near_the_target_matches_mpmath(objective, depth):
    """Starts within e^1.2 of the target in psi, rho over 1e-3..1e3: JEPA's closed-form
    difference (jepa_delta_f, every lane in vector registers), MAE's Gauss-Legendre and plateau
    forms (K by mae_rho_power's refined root), each time backward stable against mpmath
    (test_exact's criterion: 1e-12 plus 64 ulps times the condition number)."""
    import fastdyn as fd
    import reference as ref

    rng = np.random.default_rng(100 + depth + 7 * objective)
    n = 16
    lam, rho = 10.0 ** rng.uniform(-3, 3, n), 10.0 ** rng.uniform(-3, 3, n)
    p = rng.uniform(0.05, 0.95, n)
    b = 1.0 / depth if objective == 0 else (depth + 1.0) / depth
    eps = np.exp((b * np.log(p) - rng.uniform(0.01, 1.2, n) + np.log(rho)) / b)  # lp1 - lp0 in (0.01, 1.2)
    d = np.full(n, depth, dtype=np.int64)
    so = probe("x86-64-v3" if cpu_has(V3) else "x86-64")
    so.probe_take_fallbacks(2)
    got = run_critical(objective, d, lam, rho, eps, p, so.probe_critical)
    if objective == 0:
        # every lane in vector registers, except where K = b lam rho^(2L-1) leaves the product
        # form's range (|(q-1) log rho| >= 600: depth 64 with rho beyond ~1e-2..1e2), by design
        beyond = int(np.sum(~(np.abs((2.0 * depth - 1.0) * np.log(rho)) < 600.0)))
        assert so.probe_take_fallbacks(2) == beyond
    np.testing.assert_array_equal(got.view(np.int64), run_critical(objective, d, lam, rho, eps, p).view(np.int64))
    name = "jepa" if objective == 0 else "mae"
    for i in range(n):
        want = ref.critical_time_mp(name, depth, lam[i], rho[i], eps[i], p[i])
        if want > mpmath.mpf("1.7e308"):  # (K below 1e-300 at depth 64: beyond float64)
            assert got[i] == np.inf
            continue
        w_star = float(fd.fixed_point(rho[i], depth=depth, objective=name))
        cond = ref.cond_time_mp(name, depth, lam[i], rho[i], eps[i], p[i] * w_star, time=want)
        err = float(abs((mpmath.mpf(got[i]) - want) / want))
        assert err <= TOL + 64.0 * (float(cond) + 1.0) * 2.0**-53, (i, err, float(cond))


# ---------------------------------------------------------------------------
# one result on every instruction set
# ---------------------------------------------------------------------------
MARCHES = {"x86-64": None, "x86-64-v3": V3, "x86-64-v4": V4}
# the CPU library's flags (setup.py), -fno-fast-math before the -fno- flags it would reset
# -Bsymbolic: the probe's calls bind to its own build.  When the library still exported the
# block functions' ifunc symbols (simd.h now gives them internal linkage), the dynamic linker
# resolved the probe's calls to the library loaded first: the probe ran the library's code and
# counted no fallback, whatever the code did.
FLAGS = ["-std=c++17", "-O3", "-fno-fast-math", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd",
         "-ffp-contract=off", "-DFD_NO_SIMD_CLONES", "-fPIC", "-shared", "-Wl,-Bsymbolic"]


def cpu_has(flags):
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    have = set(text.split())
    return all(f in have for f in flags)


@functools.lru_cache(maxsize=None)
def probe(march):
    """tests/simd_probe.cpp built for one instruction set (once per session)."""
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None or platform.machine() != "x86_64":
        pytest.skip("the instruction-set builds need g++ on x86-64")
    need = MARCHES[march]
    if need is not None and not cpu_has(need):
        pytest.skip(f"this CPU has no {need}")
    out = Path(tempfile.mkdtemp(prefix="fastdyn_probe_")) / f"probe_{march}.so"
    subprocess.run([cxx, *FLAGS, f"-march={march}", f"-I{CUDA}", str(PROBE), "-o", str(out)], check=True,
                   capture_output=True, text=True)
    so = ctypes.CDLL(str(out))
    i64 = ctypes.c_int64
    so.probe_vm_eval.argtypes = [i64, i64, P, P, P]
    so.probe_trajectory.argtypes = [i64, P, i64, P64, P, P, P, i64, P, P8, P, P]
    so.probe_advance.argtypes = [i64, P64, P, P, P, P, i64, P, P8, P, P]
    so.probe_critical.argtypes = [i64, P64, P, P, P, P, P, i64, P]
    so.probe_state_init.argtypes = [i64, P64, P, P, P, i64, P, P, P]
    so.probe_state_advance.argtypes = [i64, P64, P, P, P, P, i64, P, P8, P, P]
    so.probe_mae_r.argtypes = [i64, i64, P, P]
    so.probe_mae_r_lanes.argtypes = [i64, i64, P, P, P]
    so.probe_mae_plateau.argtypes = [i64, i64, P, P]
    for f in (so.probe_vm_eval, so.probe_trajectory, so.probe_advance, so.probe_critical, so.probe_state_init,
              so.probe_state_advance, so.probe_mae_r, so.probe_mae_r_lanes, so.probe_mae_plateau):
        f.restype = None
    so.probe_take_fallbacks.argtypes = [i64]
    so.probe_take_fallbacks.restype = i64
    return so


@pytest.mark.parametrize("march", sorted(MARCHES))
def test_every_instruction_set_gives_the_same_bits(march):
    so = probe(march)
    rng = np.random.default_rng(11)
    for name in sorted(FUNCS):
        x = draw(-700.0, 700.0, "uniform", 5000, 2) if name.startswith("exp") else draw(-700, 700, "exp", 5000, 2)
        np.testing.assert_array_equal(vm_eval(name, x, so.probe_vm_eval).view(np.int64),
                                      vm_eval(name, x).view(np.int64))
    y, x = atan2_args("circle", 5000, 3)
    np.testing.assert_array_equal(vm_eval("atan2", y, so.probe_vm_eval, y=x).view(np.int64),
                                  vm_eval("atan2", y, y=x).view(np.int64))
    n = 200
    lam, rho = 10.0 ** rng.uniform(-2, 2, n), 10.0 ** rng.uniform(-2, 0.5, n)
    eps = 10.0 ** rng.uniform(-20, 0, n)
    t = np.concatenate([[0.0], np.geomspace(1e-6, 1e20, 20)])
    for objective in (0, 1):
        for depth in (np.full(n, 5, dtype=np.int64), rng.choice([1, 2, 7, 64], n).astype(np.int64)):
            got, sg = run_trajectory(t, objective, depth, lam, rho, eps, so.probe_trajectory)
            want, sw = run_trajectory(t, objective, depth, lam, rho, eps)
            np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
            np.testing.assert_array_equal(sg, sw)
            dt = 10.0 ** rng.uniform(-6, 6, n)
            got, _ = run_advance(objective, depth, lam, rho, eps, dt, so.probe_advance)
            want, _ = run_advance(objective, depth, lam, rho, eps, dt)
            np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
            p = np.full(n, 0.5)
            got = run_critical(objective, depth, lam, rho, eps, p, so.probe_critical)
            want = run_critical(objective, depth, lam, rho, eps, p)
            np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
