"""The GPU entry points of the exact solver (``kernels/cuda/exact_kernels.cu``) against the CPU kernels.

Both run the same per-feature functions of ``kernels/cuda/exact.h`` (the only
definition of the math): the CPU kernels of ``kernels/_exact.py`` call them
through fastdyn's CPU library, the GPU entry points through one CUDA thread per
feature.  Every entry point is compared with its CPU twin (the serial kernels
take the same arguments) on hypothesis-drawn features over the whole domain and
on fixed corner cases, in two places:

* ``host``: the ``.cu`` file compiled as plain C++ by the system compiler
  (``tests/cuda_host.py``): the same source, the same compiler and libm as the
  CPU library, so every result must be identical to the bit (this checks the
  entry points' argument lists, strides and loops, in CI) -- except the
  trajectory, the flow map and the exact critical time, which the CPU solves across features in vector
  registers with its own exp/log (``simd.h``, ``vecmath.h``): those agree to
  TOL relative like the GPU, with non-finite values, zeros and statuses exact;
* ``gpu`` (``-m gpu``, on a machine with CuPy and a GPU): NVRTC through CuPy,
  fastdyn's options; 1e-12 relative (the device's libm differs), non-finite
  values, zeros and statuses exactly.

The compile-time checks of the constant tables in closed.h fire on a corrupted
entry, and the sources compile with ``nvcc`` when it is available, so that a
syntax error in device code never needs a GPU to show.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cuda_host
from fastdyn.kernels import _exact, _gen_tables, _inverse

SRC = "exact_kernels.cu"
TOL = 1e-12
MAX_DEPTH = 64
# "no inverse table" for the CPU kernels; the C entry points take a null pointer
NO_TABLE = _exact._NO_TABLE

JEPA, MAE = 0, 1
DEVICES = ["host", pytest.param("gpu", marks=pytest.mark.gpu)]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def assert_agree(got, want, what, device="host", simd=False, **params):
    """``got`` (entry point) equals ``want`` (CPU kernel).

    ``host``: bit for bit (NaN where NaN), unless ``simd`` (the CPU kernel runs
    simd.h's vector path).  ``gpu`` or ``simd``: TOL relative; inf, 0 and NaN
    exactly.  On failure names the first bad index and that feature's
    parameters.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    with np.errstate(all="ignore"):
        both_nan = np.isnan(got) & np.isnan(want)
        if device == "host" and not simd:
            ok = both_nan | (bits(got) == bits(want))
        else:
            exact = ~np.isfinite(want) | (want == 0.0)
            ok = np.where(exact, (got == want) | both_nan,
                          np.abs(got - want) <= TOL * np.abs(want))
    if not ok.all():
        idx = np.unravel_index(int(np.argmin(ok.ravel())), ok.shape)
        feat = idx[0]
        info = {k: (v[feat] if np.ndim(v) else v) for k, v in params.items()}
        pytest.fail(f"{what} ({device}): entry point {got[idx]!r} != CPU kernel {want[idx]!r} "
                    f"at index {idx}; {info}")


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def fixed_points(objective, depth, rho):
    out = np.empty(rho.shape[0])
    _exact.fixed_point_kernel(objective, depth, rho, out)
    return out


def feature_arrays(feats):
    depth = np.array([f[0] for f in feats], dtype=np.int64)
    lam = np.array([f[1] for f in feats])
    rho = np.array([f[2] for f in feats])
    return depth, lam, rho


def log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10.0**x)


objectives = st.sampled_from([JEPA, MAE])
depths = st.integers(1, MAX_DEPTH)
lams = log_uniform(1e-6, 1e6)
rhos = log_uniform(1e-3, 1e3)


@st.composite
def starts(draw, objective, depth, rho):
    """A start weight: anywhere in [1e-30, 1e3], or near the fixed point on either side."""
    kind = draw(st.sampled_from(["wide", "below", "above", "wide"]))
    if kind == "wide":
        return draw(log_uniform(1e-30, 1e3))
    w_star = float(fixed_points(objective, np.array([depth], np.int64), np.array([rho]))[0])
    gap = draw(log_uniform(1e-15, 0.9))
    return w_star * (1.0 - gap) if kind == "below" else w_star * (1.0 + gap)


@st.composite
def batches(draw, max_n=8):
    """(objective, depth, lam, rho, eps) for a batch of 1..max_n features."""
    objective = draw(objectives)
    n = draw(st.integers(1, max_n))
    feats = []
    for _ in range(n):
        depth = draw(depths)
        rho = draw(rhos)
        feats.append((depth, draw(lams), rho, draw(starts(objective, depth, rho))))
    depth, lam, rho = feature_arrays(feats)
    eps = np.array([f[3] for f in feats])
    return objective, depth, lam, rho, eps


def call(name, *args, device="host"):
    """Run entry point ``name`` (first argument: the number of features) on ``device``."""
    if device == "host":
        cuda_host.call(SRC, name, *args)
    else:
        cuda_host.gpu_call(SRC, name, int(args[0]), *args)


def run_trajectory(t, objective, depth, lam, rho, eps, tables, device="host"):
    n, nt = lam.shape[0], t.shape[0]
    ts, td = tables
    got = np.full((n, nt), -1.0)
    want = np.full((n, nt), -2.0)
    st_got = np.full(n, 99, np.int8)
    st_want = np.full(n, 98, np.int8)
    call("fd_trajectory_exact", np.int64(n), np.int64(nt), t, np.int32(objective), depth, lam, rho, eps,
         got, np.int64(nt), np.int64(1), st_got,
         None if ts is NO_TABLE else ts, None if td is NO_TABLE else td, device=device)
    _exact.trajectory_kernel_serial(t, objective, depth, lam, rho, eps, want, st_want, ts, td)
    return got, want, st_got, st_want


def run_advance(objective, depth, lam, rho, w, dt, tables, device="host"):
    n = lam.shape[0]
    ts, td = tables
    got, want = np.full(n, -1.0), np.full(n, -2.0)
    st_got, st_want = np.full(n, 99, np.int8), np.full(n, 98, np.int8)
    call("fd_advance", np.int64(n), np.int32(objective), depth, lam, rho, w, dt, got, st_got,
         None if ts is NO_TABLE else ts, None if td is NO_TABLE else td, device=device)
    _exact.advance_kernel_serial(objective, depth, lam, rho, w, dt, want, st_want, ts, td)
    return got, want, st_got, st_want


def run_time_to_reach(objective, depth, lam, rho, eps, w, device="host"):
    n = lam.shape[0]
    got, want = np.full(n, -1.0), np.full(n, -2.0)
    call("fd_time_to_reach", np.int64(n), np.int32(objective), depth, lam, rho, eps, w, got, device=device)
    _exact.time_to_reach_kernel_serial(objective, depth, lam, rho, eps, w, want)
    return got, want


def run_critical(objective, depth, lam, rho, eps, p, asymptotic, levels, device="host"):
    n = lam.shape[0]
    got, want = np.full(n, -1.0), np.full(n, -2.0)
    call("fd_critical_time", np.int64(n), np.int32(objective), depth, lam, rho, eps, p,
         np.int32(asymptotic), levels, got, device=device)
    _exact.critical_time_kernel_serial(objective, depth, lam, rho, eps, p, bool(asymptotic), levels, want)
    return got, want


def tables_of(objective, depth, use_table=True):
    if not use_table:
        return NO_TABLE, NO_TABLE
    return _inverse.tables_for(objective, depth)


# ---------------------------------------------------------------------------
# property tests: every entry point against the CPU kernels over the domain
# ---------------------------------------------------------------------------
times = st.lists(st.one_of(st.just(0.0), log_uniform(1e-12, 1e300)), min_size=1, max_size=12)


@pytest.mark.parametrize("device", DEVICES)
@given(batch=batches(), t=times, use_table=st.booleans())
def test_trajectory_matches_cpu(device, batch, t, use_table):
    objective, depth, lam, rho, eps = batch
    t = np.array(sorted(t))
    got, want, sg, sw = run_trajectory(t, objective, depth, lam, rho, eps,
                                       tables_of(objective, depth, use_table), device)
    assert_agree(got, want, "trajectory", device, simd=True, depth=depth, lam=lam, rho=rho, eps=eps)
    np.testing.assert_array_equal(sg, sw)


@pytest.mark.parametrize("device", DEVICES)
@given(batch=batches(), fracs=st.lists(st.floats(-0.5, 1.5), min_size=8, max_size=8))
def test_time_to_reach_matches_cpu(device, batch, fracs):
    """Targets between eps and the fixed point, behind eps, beyond the fixed point, at both."""
    objective, depth, lam, rho, eps = batch
    w_star = fixed_points(objective, depth, rho)
    f = np.array(fracs[: lam.shape[0]])
    w = np.exp(np.log(eps) + f * (np.log(w_star) - np.log(eps)))
    w[f == 0.0] = eps[f == 0.0]
    w[f == 1.0] = w_star[f == 1.0]
    got, want = run_time_to_reach(objective, depth, lam, rho, eps, w, device)
    assert_agree(got, want, "time_to_reach", device, depth=depth, lam=lam, rho=rho, eps=eps, w=w)


@pytest.mark.parametrize("device", DEVICES)
@given(batch=batches(), p_shared=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
       per_feature=st.booleans())
def test_critical_time_matches_cpu(device, batch, p_shared, per_feature):
    """Exact critical time with F(sigma*) precomputed per depth (one p) or per feature (NaN levels)."""
    objective, depth, lam, rho, eps = batch
    n = lam.shape[0]
    levels = np.full(MAX_DEPTH + 1, np.nan)
    if per_feature:
        p = np.linspace(0.05, 0.95, n) ** (1.0 / (1.0 + 10.0 * p_shared))
    else:
        p = np.full(n, p_shared)
        _exact.critical_levels(objective, int(depth.min()), int(depth.max()), p_shared, levels)
    got, want = run_critical(objective, depth, lam, rho, eps, p, 0, levels, device)
    assert_agree(got, want, "critical_time", device, simd=True, depth=depth, lam=lam, rho=rho, eps=eps, p=p)


@pytest.mark.parametrize("device", DEVICES)
@given(batch=batches())
def test_critical_time_asymptotic_matches_cpu(device, batch):
    objective, depth, lam, rho, eps = batch
    p = np.full(lam.shape[0], 0.5)
    got, want = run_critical(objective, depth, lam, rho, eps, p, 1, np.full(MAX_DEPTH + 1, np.nan),
                             device)
    assert_agree(got, want, "critical_time_asymptotic", device, depth=depth, lam=lam, rho=rho, eps=eps)


dts = st.one_of(st.just(0.0), log_uniform(1e-12, 1e300))


@pytest.mark.parametrize("device", DEVICES)
@given(batch=batches(), dt=st.lists(dts, min_size=8, max_size=8), use_table=st.booleans())
def test_advance_matches_cpu(device, batch, dt, use_table):
    objective, depth, lam, rho, w = batch
    dt = np.array(dt[: lam.shape[0]])
    got, want, sg, sw = run_advance(objective, depth, lam, rho, w, dt,
                                    tables_of(objective, depth, use_table), device)
    assert_agree(got, want, "advance", device, simd=True, depth=depth, lam=lam, rho=rho, w=w, dt=dt)
    np.testing.assert_array_equal(sg, sw)


@pytest.mark.parametrize("device", DEVICES)
@given(batch=batches())
def test_rhs_and_fixed_point_match_cpu(device, batch):
    objective, depth, lam, rho, w = batch
    n = lam.shape[0]
    got, want = np.full(n, -1.0), np.full(n, -2.0)
    call("fd_rhs", np.int64(n), np.int32(objective), depth, w, lam, rho, got, device=device)
    _exact.rhs_kernel(objective, depth, w, lam, rho, want)
    assert_agree(got, want, "rhs", device, depth=depth, lam=lam, rho=rho, w=w)
    call("fd_fixed_point", np.int64(n), np.int32(objective), depth, rho, got, device=device)
    _exact.fixed_point_kernel(objective, depth, rho, want)
    assert_agree(got, want, "fixed_point", device, depth=depth, rho=rho)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("objective", [JEPA, MAE])
def test_random_corpus_matches_cpu(device, objective):
    """A fixed random corpus (20000 features over the domain, both sides of the fixed point):
    on the host bit for bit, on the GPU to 1e-12."""
    rng = np.random.default_rng(20240703 + objective)
    n = 20000

    def lu(lo, hi):
        return 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), n)

    depth = rng.integers(1, MAX_DEPTH + 1, n).astype(np.int64)
    lam, rho, eps = lu(1e-6, 1e6), lu(1e-3, 1e3), lu(1e-30, 1e3)
    w_star = fixed_points(objective, depth, rho)
    near = rng.random(n) < 0.25
    eps[near] = w_star[near] * (1 + rng.choice([-1.0, 1.0], near.sum()) * 10.0 ** rng.uniform(-15, -0.3, near.sum()))
    w = eps * lu(1e-3, 1e3)
    p = rng.uniform(0.01, 0.99, n)
    dt = lu(1e-10, 1e12)
    tables = tables_of(objective, depth)
    no_levels = np.full(MAX_DEPTH + 1, np.nan)
    results = [run_time_to_reach(objective, depth, lam, rho, eps, w, device),
               run_critical(objective, depth, lam, rho, eps, p, 0, no_levels, device),
               run_critical(objective, depth, lam, rho, eps, p, 1, no_levels, device),
               run_advance(objective, depth, lam, rho, w, dt, tables, device)[:2],
               run_advance(objective, depth[:2000], lam[:2000], rho[:2000], w[:2000], dt[:2000],
                           (NO_TABLE, NO_TABLE), device)[:2],
               run_trajectory(np.concatenate([[0.0], np.geomspace(1e-6, 1e15, 15)]), objective,
                              depth[:4000], lam[:4000], rho[:4000], eps[:4000], tables, device)[:2]]
    for what, (got, want) in zip(["time_to_reach", "critical_time", "critical_time_asymptotic",
                                  "advance", "advance (no table)", "trajectory"], results):
        assert_agree(got, want, what, device, simd=what in ("advance", "trajectory", "critical_time"))


# ---------------------------------------------------------------------------
# fixed corner cases
# ---------------------------------------------------------------------------
T_CORNERS = np.array([0.0, 1e-300, 1e-12, 1e-3, 1.0, 1e3, 1e10, 1e30, 1e100, 1e200, 1e300, 1.7e308])
LAM_RHO = [(1e-6, 1e-3), (1.0, 1.0), (1e6, 1e3), (1e6, 1e-3), (1e-6, 1e3), (3.0, 0.5)]


def corner_eps(objective, depth, rho, where):
    w_star = float(fixed_points(objective, np.array([depth], np.int64), np.array([rho]))[0])
    return {"below": w_star * (1 - 1e-13), "above": w_star * (1 + 1e-13), "at": w_star}.get(where, where)


def corner_batch(objective, depth, where):
    lam = np.array([lr[0] for lr in LAM_RHO])
    rho = np.array([lr[1] for lr in LAM_RHO])
    d = np.full(lam.shape[0], depth, np.int64)
    eps = np.array([corner_eps(objective, depth, r, where) for r in rho])
    return d, lam, rho, eps


EPS_CORNERS = [1e-300, 1e-100, 1e-30, 1e-3, "below", "at", "above", 1e3, 1e100]


def _corner_params():
    for objective in (JEPA, MAE):
        for depth in (1, 2, 5, 64):
            for where in EPS_CORNERS:
                yield pytest.param(objective, depth, where,
                                   id=f"{'jepa' if objective == JEPA else 'mae'}-L{depth}-eps{where}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("objective, depth, where", list(_corner_params()))
def test_corner_cases_match_cpu(device, objective, depth, where):
    """Depths 1, 2, 5, 64; eps from 1e-300 to 1e100 and a hair either side of the
    fixed point; times up to 1.7e308; all four entry points with an iteration."""
    depth_a, lam, rho, eps = corner_batch(objective, depth, where)
    params = dict(depth=depth_a, lam=lam, rho=rho, eps=eps)
    tables = tables_of(objective, depth_a)
    got, want, sg, sw = run_trajectory(T_CORNERS, objective, depth_a, lam, rho, eps, tables, device)
    assert_agree(got, want, "trajectory", device, simd=True, **params)
    np.testing.assert_array_equal(sg, sw)
    for dt in (1e-300, 1e-6, 1.0, 1e300):
        got, want, sg, sw = run_advance(objective, depth_a, lam, rho, eps, np.full(lam.shape[0], dt),
                                        tables, device)
        assert_agree(got, want, f"advance dt={dt}", device, simd=True, **params)
        np.testing.assert_array_equal(sg, sw)
    w_star = fixed_points(objective, depth_a, rho)
    for frac in (1e-9, 0.5, 1 - 1e-9):
        w = np.exp(np.log(eps) + frac * (np.log(w_star) - np.log(eps)))
        got, want = run_time_to_reach(objective, depth_a, lam, rho, eps, w, device)
        assert_agree(got, want, f"time_to_reach frac={frac}", device, **params)
    levels = np.full(MAX_DEPTH + 1, np.nan)
    for asymptotic in (0, 1):
        got, want = run_critical(objective, depth_a, lam, rho, eps, np.full(lam.shape[0], 0.5),
                                 asymptotic, levels, device)
        assert_agree(got, want, f"critical_time asymptotic={asymptotic}", device, simd=not asymptotic, **params)


@pytest.mark.parametrize("objective", [JEPA, MAE])
def test_trajectory_strided_layout(objective):
    """stride_feature=1, stride_time=n (the GPU layout) writes the transpose of the host layout."""
    depth = np.array([1, 2, 5, 64, 3], np.int64)
    lam = np.array([1.0, 0.5, 2.0, 1e3, 1e-3])
    rho = np.array([0.9, 2.0, 0.3, 1.5, 10.0])
    eps = np.array([1e-3, 1e-6, 10.0, 1e-30, 1e-2])
    t = np.geomspace(1e-2, 1e12, 7)
    ts, td = _inverse.tables_for(objective, depth)
    n, nt = lam.shape[0], t.shape[0]
    rows = np.empty((n, nt))
    cols = np.empty((nt, n))
    s1, s2 = np.empty(n, np.int8), np.empty(n, np.int8)
    call("fd_trajectory_exact", np.int64(n), np.int64(nt), t, np.int32(objective), depth, lam, rho, eps,
         rows, np.int64(nt), np.int64(1), s1, ts, td)
    call("fd_trajectory_exact", np.int64(n), np.int64(nt), t, np.int32(objective), depth, lam, rho, eps,
         cols, np.int64(1), np.int64(n), s2, ts, td)
    np.testing.assert_array_equal(cols.T, rows)
    np.testing.assert_array_equal(s1, s2)
    assert np.all(np.diff(rows, axis=1)[[0, 1, 3, 4]] >= 0) and np.all(np.diff(rows[2]) <= 0)


@pytest.mark.parametrize("name", ["fd_trajectory_exact", "fd_time_to_reach", "fd_critical_time",
                                  "fd_advance", "fd_fixed_point", "fd_rhs"])
def test_empty_batch_touches_nothing(name):
    """n = 0: every kernel returns without reading or writing (sentinels survive)."""
    d = np.ones(1, np.int64)
    x = np.ones(1)
    out = np.full(4, 7.0)
    status = np.full(1, 5, np.int8)
    ts, td = _inverse.tables_for(JEPA, d)
    zero = np.int64(0)
    args = {
        "fd_trajectory_exact": (zero, np.int64(4), np.arange(4.0), np.int32(0), d, x, x, x, out,
                                np.int64(4), np.int64(1), status, ts, td),
        "fd_time_to_reach": (zero, np.int32(0), d, x, x, x, x, out),
        "fd_critical_time": (zero, np.int32(0), d, x, x, x, x, np.int32(0), np.full(65, np.nan), out),
        "fd_advance": (zero, np.int32(0), d, x, x, x, x, out, status, ts, td),
        "fd_fixed_point": (zero, np.int32(0), d, x, out),
        "fd_rhs": (zero, np.int32(0), d, x, x, x, out),
    }[name]
    call(name, *args)
    assert np.all(out == 7.0) and status[0] == 5


# ---------------------------------------------------------------------------
# constant tables of closed.h
# ---------------------------------------------------------------------------
def host_tables():
    cj = np.zeros((128, 128))
    glx, glw = np.zeros(24), np.zeros(24)
    mae_g = np.zeros(_gen_tables.mae_g_offsets()[-1])
    mae_lambda = np.zeros(_gen_tables.mae_lambda_offsets()[-1])
    call("fd_closed_tables", cj, glx, glw, mae_g, mae_lambda)
    return cj, glx, glw, mae_g, mae_lambda


def test_closed_tables_equal_the_generated_data_bit_for_bit():
    """The accessors of closed.h (cj, gl_x, mae_g_coeffs, ...) read back kernels/_gen_tables.py's values."""
    cj, glx, glw, mae_g, mae_lambda = host_tables()
    want_cj = _gen_tables.binomials_over_j()
    got_cj = [cj[2 * L - 1, j] for L in range(1, MAX_DEPTH + 1) for j in range(1, 2 * L)]
    np.testing.assert_array_equal(bits(got_cj), bits(want_cj))
    want_x, want_w = _gen_tables.gauss_legendre()
    np.testing.assert_array_equal(bits(glx), bits(want_x))
    np.testing.assert_array_equal(bits(glw), bits(want_w))
    np.testing.assert_array_equal(bits(mae_g), bits([v for c in _gen_tables.mae_g_chebyshev() for v in c]))
    np.testing.assert_array_equal(bits(mae_lambda), bits([v for c in _gen_tables.mae_lambda_series() for v in c]))


@pytest.mark.parametrize("macro, entry, message", [
    ("CJ", 4031, "binomial table"),  # C(127, 63)/63: the largest row
    ("MAE_G", 69, "series of G"),  # depth 5's first coefficient (the value at s = 1/2)
    ("MAE_G", 72, "series of G"),  # its fourth
    ("MAE_LAMBDA", 3, "series of Lambda"),  # n = 3's third power (the recurrence)
    ("GL_W", 7, "Gauss-Legendre"),
])
def test_corrupted_header_table_fails_to_compile(tmp_path, macro, entry, message):
    """The static_asserts of closed.h fire on a single entry off by a relative 1e-9."""
    cxx = cuda_host.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    text = (cuda_host.CUDA_DIR / "closed.h").read_text()
    block = re.search(rf"#define FD_DATA_{macro} \\\n(.*?)\n\n", text, re.S)
    literals = re.findall(r"-?0x[0-9a-fp.+-]+", block.group(1))
    bad = float.fromhex(literals[entry]) * (1 + 1e-9)
    new_block = block.group(1).replace(literals[entry] + ",", float(bad).hex() + ",", 1)
    assert new_block != block.group(1)
    for f in ("config.h", "family.h"):
        shutil.copy(cuda_host.CUDA_DIR / f, tmp_path / f)
    (tmp_path / "closed.h").write_text(text.replace(block.group(1), new_block))
    (tmp_path / "t.cpp").write_text('#include "closed.h"\n')
    res = subprocess.run([cxx, "-std=c++17", "-fsyntax-only", f"-I{tmp_path}", str(tmp_path / "t.cpp")],
                         capture_output=True, text=True)
    assert res.returncode != 0 and message in res.stderr


# ---------------------------------------------------------------------------
# the float instantiation of family.h
# ---------------------------------------------------------------------------
def test_family_float_does_not_promote(tmp_path):
    """Every float function of family.h compiles under -Wdouble-promotion -Werror."""
    cxx = cuda_host.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = tmp_path / "f.cpp"
    src.write_text(
        '#include "family.h"\nusing namespace fastdyn;\n'
        "float all(float w, float lam, float rho, int o, int d) {\n"
        "  float lp = log_psi_of_w<float>(o, d, w, rho);\n"
        "  return family_b<float>(o, d) + family_q<float>(o, d) + log_rate<float>(o, d, lam, rho)"
        " + w_of_log_psi<float>(o, d, lp, rho) + float(branch_of_log_psi<float>(lp))"
        " + sigma_of_log_psi<float>(lp) + log_psi_of_sigma<float>(lp, GROWTH)"
        " + log_psi_of_sigma<float>(lp, DECAY) + rhs<float>(o, d, w, lam, rho)"
        " + fixed_point<float>(o, d, rho);\n}\n")
    res = subprocess.run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Wdouble-promotion", "-Wfloat-conversion",
                          "-Werror", "-fsyntax-only", f"-I{cuda_host.CUDA_DIR}", str(src)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@given(objectives, st.lists(st.tuples(depths, log_uniform(1e-2, 1e2), log_uniform(1e-2, 1e2),
                                      log_uniform(0.5, 2.0)), min_size=1, max_size=8))
def test_family_float_matches_double(objective, feats):
    """Single precision: rhs and fixed point within their float rounding bound of the float64
    kernels (rho in [0.5, 2] keeps rho^64 and every rhs inside float's range)."""
    depth = np.array([f[0] for f in feats], np.int64)
    w32 = np.array([f[1] for f in feats], np.float32)
    lam32 = np.array([f[2] for f in feats], np.float32)
    rho32 = np.array([f[3] for f in feats], np.float32)
    n = depth.shape[0]
    rhs32, fix32 = np.empty(n, np.float32), np.empty(n, np.float32)
    call("fd_family_float", np.int64(n), np.int32(objective), depth, w32, lam32, rho32, rhs32, fix32)
    w, lam, rho = (a.astype(np.float64) for a in (w32, lam32, rho32))
    rhs64, fix64 = np.empty(n), np.empty(n)
    _exact.rhs_kernel(objective, depth, w, lam, rho, rhs64)
    _exact.fixed_point_kernel(objective, depth, rho, fix64)
    u = 2.0**-24
    b = np.where(objective == JEPA, 1.0 / depth, (depth + 1.0) / depth)
    lp = b * np.log(w) - np.log(rho)
    one_minus = np.abs(np.expm1(lp))
    # rhs = exp(log lam + a log w + log|1 - psi|): the exponent is rounded to u times the
    # sum of its terms' magnitudes, and |1 - psi| inherits lp's absolute rounding error
    # (u (b |log w| + |log rho| + 1)) amplified by psi / |1 - psi|
    cond = (np.abs(np.log(lam)) + (3.0 - b) * np.abs(np.log(w)) + np.abs(np.log(one_minus))
            + (b * np.abs(np.log(w)) + np.abs(np.log(rho)) + 1.0) / np.abs(np.expm1(-lp)) + 8.0)
    # away from the fixed point (where 1 - psi is ill-conditioned), inside float's range
    keep = (one_minus > 1e-3) & (np.abs(rhs64) > 1e-30) & (np.abs(rhs64) < 1e30)
    assert np.all(np.isfinite(rhs32)) and np.all(np.isfinite(fix32))
    assert np.all(np.abs(rhs32[keep] - rhs64[keep]) <= 4 * u * cond[keep] * np.abs(rhs64[keep]))
    cond_fix = np.abs(np.log(rho)) / b + 4
    assert np.all(np.abs(fix32 - fix64) <= 4 * u * cond_fix * fix64)


# ---------------------------------------------------------------------------
# device compilation
# ---------------------------------------------------------------------------
def test_nvcc_compiles_the_device_code(tmp_path):
    """``nvcc -std=c++17 -arch=sm_90 -c``: device-code errors show without a GPU."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not on PATH")
    res = subprocess.run([nvcc, "-std=c++17", "-arch=sm_90", f"-I{cuda_host.CUDA_DIR}", "-c",
                          str(cuda_host.CUDA_DIR / SRC), "-o", str(tmp_path / "exact_kernels.o")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]
