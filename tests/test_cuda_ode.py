"""The adaptive DP5(4) integrator (``kernels/cuda/ode.h``): CPU kernels and GPU entry points.

The integrator is defined once, in C++.  The CPU kernels (``kernels/_ode.py``,
float64 and ``_f32``) call it through fastdyn's CPU library; the GPU entry
points of ``kernels/cuda/ode_kernels.cu`` (the fixed ABI the GPU backend
launches) run it one thread per feature.  Tested here:

* the tableau: its compile-time checks reject corrupted coefficients;
* parity: the entry points give the same status, step count and values as the
  CPU kernels, on hypothesis-drawn features across the domain and on every
  status path: bit for bit where they are built as plain C++ on the host
  (``host``, in CI: the same source, compiler and libm), to 1e-12 on a real GPU
  (``gpu``, ``-m gpu``).  This covers the places where the time scale of a decay
  ``1/r_a = rho/(2 lam eps^2)`` exceeds the largest float64 (outside the
  documented domain: carried in logarithms) and where the rate K is subnormal
  in float64 (decays reaching their SIGMA phase after t ~ 1e305);
* float32 on the CPU (and, with ``-m gpu``, on the GPU) against the exact
  float64 solution (closed form, ``method="exact"``) of the float32-rounded
  inputs: the statements of the README's float32 section.  The time-shift
  (backward) guarantee, the crossing time, convergence as rtol falls,
  statuses, no NaN/inf on the whole domain (the two overflows behind former
  SUCCESS rows with NaN/inf: a decay time scale and a ratio w/w* beyond the
  float32 range), SUCCESS for every feature whose fixed point is a normal
  float32, including those whose GROW or SIGMA rate is subnormal in float32
  (integrated in a rescaled time unit 2^m, or frozen where the state cannot
  move), and where float32 loses the rho ordering of critical times at small eps;
* the GPU build: ``nvcc`` compiles the file (skipped without nvcc), and the
  float32 entry points contain no float64 instruction.

Units for float32: ``u = max(rtol, eps32)``; ``A = |log K| + (q-1)|log psi0|``
is the size of the logarithms the plateau time is formed from, whose float32
rounding (``A eps32``) moves every later time by that relative amount.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import cuda_host
import fastdyn as fd
import kernel_calls
from fastdyn.kernels import _ode
from fastdyn.kernels._constants import JEPA, MAE, MAX_STEPS, NON_FINITE, SUCCESS

SRC = "ode_kernels.cu"
E32 = float(np.finfo(np.float32).eps)
E64 = float(np.finfo(np.float64).eps)
FLT32 = np.finfo(np.float32)
NAMES = {JEPA: "jepa", MAE: "mae"}
MAX_STEPS_DEFAULT = 100_000


# ---------------------------------------------------------------------------
# runners: the CPU kernels ("cpu") and the four GPU entry points of the fixed ABI,
# built as C++ on the host ("host") or launched on a GPU ("gpu")
# ---------------------------------------------------------------------------
#: where the accuracy statements are checked: the CPU kernels, and the GPU with -m gpu
RUN = ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)]
#: where the entry points are compared with the CPU kernels
ENTRY = ["host", pytest.param("gpu", marks=pytest.mark.gpu)]


def _features(dtype, depth, *arrays):
    depth = np.ascontiguousarray(np.atleast_1d(depth), dtype=np.int64)
    arrays = [np.ascontiguousarray(np.atleast_1d(a), dtype=dtype) for a in arrays]
    n = max([depth.size] + [a.size for a in arrays])
    return [np.broadcast_to(depth, n).copy()] + [np.broadcast_to(a, n).copy() for a in arrays]


def _entry(where, name, n, *args):
    if where == "host":
        cuda_host.call(SRC, name, np.int64(n), *args)
    else:
        cuda_host.gpu_call(SRC, name, n, np.int64(n), *args)


def _outputs(shape, dtype):
    """Result, status and step-count arrays filled with sentinels (-1)."""
    return (np.full(shape, -1.0, dtype=dtype), np.full(shape[0], -1, dtype=np.int8),
            np.full(shape[0], -1, dtype=np.int64))


def trajectory(t, objective, depth, lam, rho, eps, rtol, dtype=np.float64,
               max_steps=MAX_STEPS_DEFAULT, where="cpu"):
    depth, lam, rho, eps = _features(dtype, depth, lam, rho, eps)
    t = np.ascontiguousarray(t, dtype=dtype)
    n, nt = lam.size, t.size
    w, status, nsteps = _outputs((n, nt), dtype)
    f32 = dtype == np.float32
    if where == "cpu":
        kernel = _ode.ode_trajectory_kernel_f32 if f32 else _ode.ode_trajectory_kernel
        kernel(t, objective, depth, lam, rho, eps, rtol, max_steps, w, status, nsteps)
    else:
        real = np.float32 if f32 else np.float64
        _entry(where, "fd_ode_trajectory_f32" if f32 else "fd_ode_trajectory", n, np.int64(nt), t,
               np.int32(objective), depth, lam, rho, eps, real(rtol), np.int64(max_steps), w,
               np.int64(nt), np.int64(1), status, nsteps)
    return w, status, nsteps


def crossing(objective, depth, lam, rho, eps, p, rtol, dtype=np.float64,
             max_steps=MAX_STEPS_DEFAULT, where="cpu"):
    depth, lam, rho, eps, p = _features(dtype, depth, lam, rho, eps, p)
    n = lam.size
    t_cross, status, nsteps = _outputs((n,), dtype)
    f32 = dtype == np.float32
    if where == "cpu":
        kernel = _ode.ode_crossing_kernel_f32 if f32 else _ode.ode_crossing_kernel
        kernel(objective, depth, lam, rho, eps, p, rtol, max_steps, t_cross, status, nsteps)
    else:
        real = np.float32 if f32 else np.float64
        _entry(where, "fd_ode_crossing_f32" if f32 else "fd_ode_crossing", n, np.int32(objective),
               depth, lam, rho, eps, p, real(rtol), np.int64(max_steps), t_cross, status, nsteps)
    return t_cross, status, nsteps


def assert_parity(where, got, want):
    """Entry point against the CPU kernel: bit for bit on the host, 1e-12 on a GPU."""
    if where == "host":
        got, want = np.asarray(got), np.asarray(want)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        keep = ~np.isnan(want)
        np.testing.assert_array_equal(got[keep].view(np.uint8), want[keep].view(np.uint8))
    else:
        assert_same_values(got, want)


def assert_same_values(a, b):
    """Equal NaN/inf pattern; finite values within 1e-12 relative (the CPU/GPU parity target)."""
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isinf(a), np.isinf(b))
    np.testing.assert_array_equal(a[np.isinf(a)], b[np.isinf(b)])
    fin = np.isfinite(a)
    scale = np.maximum(np.abs(a[fin]), np.finfo(np.float64).tiny)
    assert np.all(np.abs(a[fin] - b[fin]) <= 1e-12 * scale)


def log10_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda x: 10.0 ** x)


def log_magnitude(objective, depth, lam, rho, eps):
    """``A = |log K| + (q-1) |log psi0|``: float32 rounds the plateau time by ``A eps32``."""
    depth = np.asarray(depth, dtype=np.float64)
    q = 2 * depth if objective == JEPA else 2 * depth / (depth + 1)
    b = 2 / q
    lam, rho, eps = (np.asarray(x, dtype=np.float64) for x in (lam, rho, eps))
    return np.abs(np.log(b * lam) + (q - 1) * np.log(rho)) + (q - 1) * np.abs(
        b * np.log(eps) - np.log(rho))


# ---------------------------------------------------------------------------
# the tableau's compile-time checks
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("old, new", [
    ("A43 = 32.0 / 9.0", "A43 = 32.0 / 9.000001"),             # row sum of A != c
    ("B3 = 500.0 / 1113.0", "B3 = 500.0 / 1113.001"),           # sum(b) != 1, FSAL
    ("BH7 = 1.0 / 40.0", "BH7 = 1.0 / 40.001"),                 # sum(b_hat) != 1
    ("E5 = -17253.0 / 339200.0", "E5 = -17253.0 / 339201.0"),   # E != b - b_hat
    ("P33 = -68118460800.0 / 10900136933.0", "P33 = -68118460800.0 / 10900136934.0"),
])
def test_tableau_static_asserts_reject_corruption(tmp_path, old, new):
    cxx = cuda_host.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = (cuda_host.CUDA_DIR / "tableau.h").read_text()
    assert old in src
    (tmp_path / "tableau.h").write_text(src.replace(old, new))
    (tmp_path / "main.cpp").write_text('#include "tableau.h"\nint main() { return 0; }\n')
    ok = subprocess.run([cxx, "-std=c++17", "-fsyntax-only", "-I", str(tmp_path),
                         str(tmp_path / "main.cpp")], capture_output=True, text=True)
    assert ok.returncode != 0 and "DP5 tableau" in ok.stderr
    # the shipped table passes
    (tmp_path / "tableau.h").write_text(src)
    subprocess.run([cxx, "-std=c++17", "-fsyntax-only", "-I", str(tmp_path),
                    str(tmp_path / "main.cpp")], check=True, capture_output=True)


def test_host_build_has_no_float_promotion():
    """The float32 path never converts to double (-Wdouble-promotion), nor double to float."""
    cxx = cuda_host.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    res = subprocess.run([cxx, "-x", "c++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra",
                          "-Wdouble-promotion", "-Wfloat-conversion", "-Werror",
                          f"-I{cuda_host.CUDA_DIR}", str(cuda_host.CUDA_DIR / SRC)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------------------
# GPU build
# ---------------------------------------------------------------------------
NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not on PATH")


@needs_nvcc
def test_nvcc_compiles():
    root = Path(__file__).resolve().parents[1]
    subprocess.run([NVCC, "-std=c++17", "-arch=sm_90", "-c", "kernels/cuda/ode_kernels.cu",
                    "-o", "/dev/null"], cwd=root, check=True, capture_output=True, text=True)


@needs_nvcc
def test_ptx_float32_entries_use_no_float64(tmp_path):
    """Every f32 entry point compiles to PTX without a single f64 instruction."""
    ptx = tmp_path / "ode.ptx"
    subprocess.run([NVCC, "-std=c++17", "-arch=sm_90", "-ptx", str(cuda_host.CUDA_DIR / SRC),
                    "-o", str(ptx)], check=True, capture_output=True, text=True)
    text = ptx.read_text()
    bodies = {}
    for m in re.finditer(r"\.entry (\w+)\(", text):
        ends = [e for e in (text.find(".entry ", m.end()), text.find(".func ", m.end())) if e > 0]
        bodies[m.group(1)] = text[m.end(): min(ends) if ends else len(text)]
    assert set(bodies) == {"fd_ode_trajectory", "fd_ode_crossing", "fd_ode_trajectory_f32",
                           "fd_ode_crossing_f32", "fd_ema_trajectory"}
    f64 = re.compile(r"\.f64\b|%fd\d")     # a double instruction or register
    for name in ("fd_ode_trajectory_f32", "fd_ode_crossing_f32"):
        assert not f64.search(bodies[name]), name
    assert f64.search(bodies["fd_ode_trajectory"])   # the check can fail


# ---------------------------------------------------------------------------
# parity: the GPU entry points against the CPU kernels
# ---------------------------------------------------------------------------
T_GRID = np.concatenate([[0.0], np.logspace(-300, 300, 121)])


@pytest.mark.parametrize("where", ENTRY)
@given(
    objective=st.sampled_from([JEPA, MAE]),
    depth=st.integers(1, 64),
    lam=log10_uniform(1e-6, 1e6),
    rho=log10_uniform(1e-3, 1e3),
    eps=log10_uniform(1e-30, 1e3),
    p=st.floats(0.01, 0.99),
    rtol=st.sampled_from([1e-4, 1e-6, 1e-8, 1e-10, 1e-12]),
)
def test_float64_entry_points_match_cpu(where, objective, depth, lam, rho, eps, p, rtol):
    """Both branches (eps below/above w*), every phase: same status, nsteps and values."""
    args = (objective, depth, lam, rho, eps)
    w, s, n = trajectory(T_GRID, *args, rtol, where=where)
    w_ref, s_ref, n_ref = trajectory(T_GRID, *args, rtol)
    assert s[0] == s_ref[0] == SUCCESS
    assert n[0] == n_ref[0]
    assert_parity(where, w, w_ref)
    # the same with the output times a feature actually resolves (its own plateau)
    w_star = fd.fixed_point(rho, depth=depth, objective=NAMES[objective])
    assume(abs(math.log(eps / w_star)) > 1e-9)
    tc, s, n = crossing(*args, p, rtol, where=where)
    tc_ref, s_ref, n_ref = crossing(*args, p, rtol)
    assert s[0] == s_ref[0] == SUCCESS and n[0] == n_ref[0]
    assert_parity(where, tc, tc_ref)
    if 0.0 < tc[0] < 1e300:
        t = tc[0] * np.logspace(-3, 3, 31)
        w, s, n = trajectory(t, *args, rtol, where=where)
        w_ref, s_ref, n_ref = trajectory(t, *args, rtol)
        assert s[0] == s_ref[0] == SUCCESS and n[0] == n_ref[0]
        assert_parity(where, w, w_ref)


@pytest.mark.parametrize("where", ENTRY)
@pytest.mark.parametrize("objective", [JEPA, MAE])
def test_float64_entry_points_match_cpu_batch(where, objective):
    """300 random features over the whole domain in one launch (the per-feature loop)."""
    rng = np.random.default_rng(2024 + objective)
    n = 300
    depth = rng.integers(1, 65, n)
    lam, rho = 10.0 ** rng.uniform(-6, 6, n), 10.0 ** rng.uniform(-3, 3, n)
    eps, p = 10.0 ** rng.uniform(-30, 3, n), rng.uniform(0.01, 0.99, n)
    for rtol in (1e-4, 1e-8, 1e-12):
        w, s, k = trajectory(T_GRID, objective, depth, lam, rho, eps, rtol, where=where)
        w_ref, s_ref, k_ref = trajectory(T_GRID, objective, depth, lam, rho, eps, rtol)
        np.testing.assert_array_equal(s, s_ref)
        np.testing.assert_array_equal(k, k_ref)
        assert_parity(where, w, w_ref)
        tc, s, k = crossing(objective, depth, lam, rho, eps, p, rtol, where=where)
        tc_ref, s_ref, k_ref = crossing(objective, depth, lam, rho, eps, p, rtol)
        np.testing.assert_array_equal(s, s_ref)
        np.testing.assert_array_equal(k, k_ref)
        assert_parity(where, tc, tc_ref)


@pytest.mark.parametrize("objective", [JEPA, MAE])
def test_float32_host_entry_points_match_cpu_bitwise(objective):
    """float32: the entry points built on the host and the CPU's float32 kernels run the
    same code: the same statuses, step counts and bits on 400 features of the domain.
    (A GPU's float32 libm differs; there the accuracy tests below run on the device.)"""
    depth, lam, rho, eps = domain_batch(400, 17 + objective)
    p = np.random.default_rng(objective).uniform(0.05, 0.95, 400).astype(np.float32)
    for rtol in (1e-3, 1e-5):
        got = trajectory(T32_DOMAIN, objective, depth, lam, rho, eps, rtol, np.float32, where="host")
        want = trajectory(T32_DOMAIN, objective, depth, lam, rho, eps, rtol, np.float32)
        for g, w in zip(got[1:], want[1:]):
            np.testing.assert_array_equal(g, w)
        assert_parity("host", got[0], want[0])
        got = crossing(objective, depth, lam, rho, eps, p, rtol, np.float32, where="host")
        want = crossing(objective, depth, lam, rho, eps, p, rtol, np.float32)
        for g, w in zip(got[1:], want[1:]):
            np.testing.assert_array_equal(g, w)
        assert_parity("host", got[0], want[0])


@pytest.mark.parametrize("where", ENTRY)
def test_float64_subnormal_rate_matches_cpu(where):
    """Decays whose rate K is subnormal in float64 (JEPA, depth 32-64, rho ~ 4e-3): their
    SIGMA phase starts after t ~ 1e305; same status, nsteps and values as the CPU kernel
    up to DBL_MAX, and SUCCESS for all (the GPU port once returned NON_FINITE for ~20%)."""
    rng = np.random.default_rng(11)
    n = 400
    depth = rng.integers(32, 65, n)
    log_k = rng.uniform(-312, -307.6, n) * math.log(10)     # K from 1e-312 to 2.5e-308
    lam, eps = 10.0 ** rng.uniform(-6, 6, n), 10.0 ** rng.uniform(-30, 3, n)
    rho = np.exp((log_k - np.log(lam / depth)) / (2 * depth - 1))
    keep = (rho >= 1e-3) & (rho <= 1e3)
    assert keep.sum() > 100
    args = (JEPA, depth[keep], lam[keep], rho[keep], eps[keep])
    t = np.concatenate([[0.0], np.logspace(290, 308, 40), [np.finfo(np.float64).max]])
    w, s, k = trajectory(t, *args, 1e-8, where=where)
    w_ref, s_ref, k_ref = trajectory(t, *args, 1e-8)
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_array_equal(k, k_ref)
    assert_parity(where, w, w_ref)
    assert np.all(s == SUCCESS)


def test_strided_output_matches_row_major():
    """GPU layout (stride_feature 1, stride_time n) holds the same numbers, transposed."""
    rng = np.random.default_rng(5)
    n = 20
    depth, lam = rng.integers(1, 65, n), 10.0 ** rng.uniform(-2, 2, n)
    rho, eps = 10.0 ** rng.uniform(-1, 1, n), 10.0 ** rng.uniform(-8, 1, n)
    t = np.concatenate([[0.0], np.logspace(-5, 40, 30)])
    w, status, nsteps = trajectory(t, JEPA, depth, lam, rho, eps, 1e-8)
    args = _features(np.float64, depth, lam, rho, eps)
    out = np.full((t.size, n), -1.0)
    s2, k2 = np.empty(n, np.int8), np.empty(n, np.int64)
    cuda_host.call(SRC, "fd_ode_trajectory", np.int64(n), np.int64(t.size), t, np.int32(JEPA),
                   *args, np.float64(1e-8), np.int64(MAX_STEPS_DEFAULT), out, np.int64(1),
                   np.int64(n), s2, k2)
    np.testing.assert_array_equal(out.T, w)
    np.testing.assert_array_equal(s2, status)


@pytest.mark.parametrize("where", ["cpu", "host"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_batch(dtype, where):
    w, s, k = trajectory(np.array([1.0]), JEPA, np.zeros(0), np.zeros(0), np.zeros(0),
                         np.zeros(0), 1e-6, dtype=dtype, where=where)
    assert w.shape == (0, 1) and s.shape == (0,) and k.shape == (0,)
    tc, s, k = crossing(MAE, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0),
                        1e-6, dtype=dtype, where=where)
    assert tc.shape == (0,)
    # n = 0 with NULL-free but empty outputs must not touch memory: nt > 0, n = 0
    sentinel = np.full(3, 7.0, dtype=dtype)
    real = np.float64 if dtype == np.float64 else np.float32
    name = "fd_ode_trajectory" if dtype == np.float64 else "fd_ode_trajectory_f32"
    cuda_host.call(SRC, name, np.int64(0), np.int64(3), np.ones(3, dtype), np.int32(0),
                   np.zeros(1, np.int64), np.ones(1, dtype), np.ones(1, dtype), np.ones(1, dtype),
                   real(1e-6), np.int64(10), sentinel, np.int64(3), np.int64(1),
                   np.full(1, 9, np.int8), np.full(1, 9, np.int64))
    assert np.all(sentinel == 7.0)


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
class TestStatuses:
    """Every status path, in both precisions."""

    def test_max_steps(self, dtype, where):
        t = np.concatenate([[0.0], np.logspace(0, 14, 50)])
        w, s, k = trajectory(t, JEPA, 5, 1.0, 0.6, 1e-6, 1e-6, dtype=dtype, where=where, max_steps=5)
        assert s[0] == MAX_STEPS and k[0] == 5 and w[0, 0] == dtype(1e-6)
        finite = np.isfinite(w[0])
        first = np.argmin(finite)
        assert finite[:first].all() and np.isnan(w[0, first:]).all()
        tc, s, k = crossing(JEPA, 5, 1.0, 0.6, 1e-6, 0.5, 1e-6, dtype=dtype, where=where, max_steps=3)
        assert s[0] == MAX_STEPS and k[0] == 3 and np.isnan(tc[0])

    @pytest.mark.parametrize("bad", [math.inf, math.nan])
    def test_non_finite_rate(self, dtype, where, bad):
        w, s, k = trajectory([0.0, 1.0, 2.0], JEPA, 2, bad, 1.0, 0.1, 1e-6, dtype=dtype, where=where)
        assert s[0] == NON_FINITE and w[0, 0] == dtype(0.1) and np.isnan(w[0, 1:]).all()
        tc, s, k = crossing(JEPA, 2, bad, 1.0, 0.1, 0.5, 1e-6, dtype=dtype, where=where)
        assert s[0] == NON_FINITE and np.isnan(tc[0])

    @pytest.mark.parametrize("objective", [JEPA, MAE])
    @pytest.mark.parametrize("depth", [1, 2, 7, 64])
    def test_start_at_fixed_point(self, dtype, where, objective, depth):
        w, s, k = trajectory([0.0, 1.0, 1e30], objective, depth, 1.0, 1.0, 1.0, 1e-6,
                                  dtype=dtype, where=where)
        assert s[0] == SUCCESS and k[0] == 0 and np.all(w[0] == 1.0)
        tc, s, k = crossing(objective, depth, 1.0, 1.0, 1.0, 0.99, 1e-6, dtype=dtype, where=where)
        assert s[0] == SUCCESS and k[0] == 0 and tc[0] == 0.0

    def test_crossing_zero_for_decay_and_started_above(self, dtype, where):
        tc, s, k = crossing(JEPA, 3, 1.0, 0.5, [1.0, 0.124], 0.5, 1e-6, dtype=dtype, where=where)
        assert np.all(s == SUCCESS) and np.all(tc == 0.0) and np.all(k == 0)

    def test_times_zero_give_eps_exactly(self, dtype, where):
        w, s, k = trajectory([0.0, 0.0], MAE, [3, 5], [1.0, 2.0], [0.5, 3.0], [1e-3, 7.0],
                                  1e-6, dtype=dtype, where=where)
        assert np.all(s == SUCCESS) and np.all(k == 0)
        assert np.array_equal(w, np.array([[1e-3, 1e-3], [7.0, 7.0]], dtype=dtype))


@pytest.mark.parametrize("where", RUN)
def test_crossing_beyond_largest_value_is_inf(where):
    # float64: the plateau lasts ~1e330; float32: the critical time ~1e40 > 3.4e38
    tc, s, k = crossing(JEPA, 1, 1e-300, 1.0, 1e-30, 0.5, 1e-8, where=where)
    assert s[0] == SUCCESS and tc[0] == math.inf and k[0] < 10
    assert kernel_calls.exact_critical_time(JEPA, 1, 1e-10, 1.0, 1e-30)[0] > 3.5e38
    tc, s, k = crossing(JEPA, 1, 1e-10, 1.0, 1e-30, 0.5, 1e-5, dtype=np.float32, where=where)
    assert s[0] == SUCCESS and tc[0] == np.inf and k[0] < 10


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("objective", [JEPA, MAE])
def test_crossing_tolerance_floor_fixes_tiny_rtol(where, objective):
    """rtol 1e-15: the crossing's time tolerance is floored at 64 eps (without the floor
    some features came back NON_FINITE); every feature within 1e-12 of the exact time."""
    rng = np.random.default_rng(77)
    n = 300
    depth = rng.integers(1, 65, n)
    lam, rho = 10.0 ** rng.uniform(-3, 3, n), 10.0 ** rng.uniform(-3, 3, n)
    eps, p = 10.0 ** rng.uniform(-30, 1, n), rng.uniform(0.05, 0.95, n)
    tc, s, _ = crossing(objective, depth, lam, rho, eps, p, 1e-15, where=where)
    assert np.all(s == SUCCESS)
    exact = fd.critical_time(lam, rho, depth=depth, eps=eps, objective=NAMES[objective], p=p)
    fin = np.isfinite(exact) & (exact > 0)
    np.testing.assert_array_equal(tc[~fin], exact[~fin])
    assert np.all(np.abs(tc[fin] / exact[fin] - 1) <= 1e-12)


# ---------------------------------------------------------------------------
# float32 against the exact float64 solution of the float32-rounded inputs
# ---------------------------------------------------------------------------
def f32(x):
    return float(np.float32(x))


def time_shift_bracket(t, objective, depth, lam, rho, eps, rtol):
    """``(lo, hi)``, shape ``(n, nt)``: where the float32 weights of n features at the
    times t (nt) must lie.

    The exact weights (closed form, float64, of the given inputs) at the times
    ``t (1 -+ delta)``, ``delta = 100 (c rtol + A eps32)``, ``c = max(1e-3, 64
    eps32/rtol)``, widened by ``100 u`` in w: the float64 kernel's guarantee
    (test_ode_vs_exact) with the float32 machine epsilon, plus the float32
    rounding of the logarithms the plateau time is formed from.
    """
    depth = np.atleast_1d(np.asarray(depth))[:, None]
    lam, rho, eps = (np.atleast_1d(np.asarray(x, dtype=np.float64))[:, None]
                     for x in (lam, rho, eps))
    t = np.asarray(t, dtype=np.float64)
    u = max(rtol, E32)
    c = max(1e-3, 64 * E32 / rtol)
    delta = 100 * (c * rtol + log_magnitude(objective, depth, lam, rho, eps) * E32)
    kw = dict(depth=depth, objective=NAMES[objective])
    early = fd.advance(eps, t * (1 - delta), lam, rho, **kw)
    late = fd.advance(eps, t * (1 + delta), lam, rho, **kw)
    return np.minimum(early, late) * (1 - 100 * u), np.maximum(early, late) * (1 + 100 * u)


@pytest.mark.parametrize("where", RUN)
@given(
    objective=st.sampled_from([JEPA, MAE]),
    depth=st.integers(1, 64),
    lam=log10_uniform(1e-3, 1e3),
    rho=log10_uniform(0.1, 10.0),
    eps=log10_uniform(1e-6, 10.0),
    rtol=st.sampled_from([1e-3, 1e-4, 1e-5, 1e-6]),
)
def test_float32_time_shift_guarantee(where, objective, depth, lam, rho, eps, rtol):
    """w32(t) is the exact weight at a time within delta of t, up to 100 u in w
    (time_shift_bracket).  Where t |dlog w/dt| <= 1 this is a forward error
    O(u + A eps32).
    """
    lam, rho, eps = f32(lam), f32(rho), f32(eps)
    name = NAMES[objective]
    kw = dict(depth=depth, eps=eps, objective=name)
    w_star = float(fd.fixed_point(rho, depth=depth, objective=name))
    assume(1e-37 < w_star < 1e37 and abs(math.log(eps / w_star)) > 1e-3)
    w_half = math.exp(0.5 * (math.log(eps) + math.log(w_star)))
    scale = float(fd.time_to_reach(w_half, lam, rho, **kw))
    assume(1e-30 < scale < 1e30)
    t = (scale * np.logspace(-3, 3, 25)).astype(np.float32)
    w, s, _ = trajectory(t, objective, depth, lam, rho, eps, rtol, dtype=np.float32, where=where)
    assert s[0] == SUCCESS and np.all(np.isfinite(w))
    w, t = w[0].astype(np.float64), t.astype(np.float64)
    lo, hi = time_shift_bracket(t, objective, depth, lam, rho, eps, rtol)
    assert np.all((lo[0] <= w) & (w <= hi[0]))
    u = max(rtol, E32)
    a = float(log_magnitude(objective, depth, lam, rho, eps))
    exact = fd.trajectory(t, lam, rho, **kw)

    def cond_of(v):   # t |dlog w/dt| at a candidate value of w(t)
        return t * np.abs(fd.rhs(v, lam, rho, depth=depth, objective=name)) / v

    calm = np.maximum(cond_of(exact), cond_of(w)) <= 1.0
    assert np.all(np.abs(w[calm] / exact[calm] - 1) <= 100 * (u + a * E32))


def crossing_batch(objective, n, seed):
    rng = np.random.default_rng(seed)
    depth = rng.integers(1, 65, n)
    lam = (10.0 ** rng.uniform(-3, 3, n)).astype(np.float32)
    rho = (10.0 ** rng.uniform(-3, 3, n)).astype(np.float32)
    eps = (10.0 ** rng.uniform(-30, 1, n)).astype(np.float32)
    p = rng.uniform(0.05, 0.95, n).astype(np.float32)
    return depth, lam, rho, eps, p


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("rtol", [1e-3, 1e-4, 1e-5, 1e-6])
@pytest.mark.parametrize("objective", [JEPA, MAE])
def test_float32_crossing_time(where, objective, rtol):
    """|t32/t - 1| <= 100 (rtol + (A + 64) eps32); 0 and inf exactly where float64 says."""
    depth, lam, rho, eps, p = crossing_batch(objective, 1000, 31 + objective)
    tc, s, k = crossing(objective, depth, lam, rho, eps, p, rtol, dtype=np.float32, where=where)
    assert np.all(s == SUCCESS) and not np.isnan(tc).any() and k.max() < 200
    exact = fd.critical_time(lam.astype(float), rho.astype(float), depth=depth,
                             eps=eps.astype(float), objective=NAMES[objective], p=p.astype(float))
    beyond = exact > np.finfo(np.float32).max
    assert np.all(np.isinf(tc[beyond]))
    np.testing.assert_array_equal(tc[exact == 0], 0.0)
    fin = (exact > 0) & ~beyond
    a = log_magnitude(objective, depth, lam, rho, eps)[fin]
    err = np.abs(tc[fin].astype(float) / exact[fin] - 1)
    assert np.all(err <= 100 * (rtol + (a + 64) * E32))


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("objective", [JEPA, MAE])
def test_float32_converges_as_rtol_falls(where, objective):
    """Moderate features: the crossing-time error falls ~10x per decade of rtol, to the float32 floor."""
    rng = np.random.default_rng(3)
    n = 100
    depth = rng.integers(1, 9, n)
    lam = (10.0 ** rng.uniform(-1, 1, n)).astype(np.float32)
    rho = (10.0 ** rng.uniform(-0.5, 0.5, n)).astype(np.float32)
    eps = (10.0 ** rng.uniform(-3, -1, n)).astype(np.float32)
    p = np.full(n, 0.5, np.float32)
    exact = fd.critical_time(lam.astype(float), rho.astype(float), depth=depth,
                             eps=eps.astype(float), objective=NAMES[objective], p=0.5)
    grow = exact > 0
    errs = []
    for rtol in (1e-2, 1e-3, 1e-4, 1e-5):
        tc, s, _ = crossing(objective, depth, lam, rho, eps, p, rtol, dtype=np.float32, where=where)
        assert np.all(s == SUCCESS)
        errs.append(np.abs(tc[grow].astype(float) / exact[grow] - 1).max())
    assert errs[0] > 3 * errs[1] > 9 * errs[2]
    assert errs[0] > 100 * errs[3]


T32_DOMAIN = np.concatenate([[0.0], np.logspace(-30, 38, 61), [FLT32.max]]).astype(np.float32)


def domain_batch(n, seed):
    """n random float32 features on the whole documented domain."""
    rng = np.random.default_rng(seed)
    depth = rng.integers(1, 65, n)
    lam = (10.0 ** rng.uniform(-3, 3, n)).astype(np.float32)
    rho = (10.0 ** rng.uniform(-3, 3, n)).astype(np.float32)
    eps = (10.0 ** rng.uniform(-30, 3, n)).astype(np.float32)
    return depth, lam, rho, eps


def phase_rates(objective, depth, lam, rho, eps):
    """float64 logs of the rates the phases of ode.h run at: ``(log_r0, log_k)``.

    GROW (features starting below ``psi_sw = 1 - min(1/2, 1/(q-1))``, ``q > 1``) starts
    at t = 0 with ``|k1| = r0 (1 - psi0)`` in ``[r0/2, r0]``, ``r0 = (q-1) K psi0^(q-1)
    = (q-1) b lam eps^((q-1) b)``; ``log_r0`` is NaN for features without a GROW phase.
    SIGMA runs at ``K psi^(q-1)``, within ``[K/4, e K]``.
    """
    depth = np.asarray(depth, dtype=np.float64)
    q = 2 * depth if objective == JEPA else 2 * depth / (depth + 1)
    b = 2 / q
    lam, rho, eps = (np.asarray(x, dtype=np.float64) for x in (lam, rho, eps))
    log_k = np.log(b * lam) + (q - 1) * np.log(rho)
    lp0 = b * np.log(eps) - np.log(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp_sw = np.log1p(-np.minimum(0.5, 1 / (q - 1)))
        log_r0 = np.where((q > 1) & (lp0 < lp_sw), np.log(q - 1) + log_k + (q - 1) * lp0, np.nan)
    return log_r0, log_k


LOG_FLT_MIN = math.log(float(FLT32.tiny))


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("objective, seed", [(JEPA, 8), (MAE, 9)], ids=["jepa", "mae"])
def test_float32_no_nan_or_inf_on_the_domain(where, objective, seed):
    """t from 0 to FLT_MAX on the whole domain: every feature whose fixed point is a
    normal float32 comes back SUCCESS, finite, positive and within the time-shift
    bracket; the others NON_FINITE (finite up to the failure, NaN from there on).

    The JEPA batch holds the features that came back SUCCESS with NaN before the
    DECAY time scale was carried in logarithms, and the features whose GROW or SIGMA
    rate is subnormal in float32 and whose weight moves by more than 10% before
    FLT_MAX, which came back NON_FINITE (8% of the representable ones) before such
    phases were integrated in a rescaled time unit (ode.h, phase_time_unit).  MAE's
    rates are normal on the whole domain (r0 >= 1e-33, K >= 1e-6).
    """
    n, rtol = 400, 1e-5
    depth, lam, rho, eps = domain_batch(n, seed)
    w, s, k = trajectory(T32_DOMAIN, objective, depth, lam, rho, eps, rtol, dtype=np.float32, where=where)
    lam64, rho64, eps64 = (x.astype(np.float64) for x in (lam, rho, eps))
    w_star = fd.fixed_point(rho64, depth=depth, objective=NAMES[objective])
    representable = (w_star >= FLT32.tiny) & (w_star <= FLT32.max)
    log_r0, log_k = phase_rates(objective, depth, lam, rho, eps)
    end = fd.trajectory(np.array([float(FLT32.max)]), lam64, rho64, depth=depth, eps=eps64,
                        objective=NAMES[objective])
    moves = representable & (np.abs(end / eps64 - 1) > 0.1)
    tiny_grow = moves & (log_r0 < LOG_FLT_MIN)               # GROW starts subnormal
    tiny_sigma = moves & (log_k + 1 < LOG_FLT_MIN)           # SIGMA runs subnormal
    if objective == JEPA:
        assert 0 < representable.sum() < n      # both kinds occur
        slow_decay = representable & (eps64 > w_star) & (rho64 / (2 * lam64 * eps64**2) > FLT32.max)
        assert slow_decay.sum() >= 5
        assert tiny_grow.sum() >= 20 and tiny_sigma.sum() >= 10   # measured: 56, 31
    else:
        assert representable.all()              # MAE: w* = rho^(L/(L+1)) in [1e-3, 1e3]
        assert not np.any(log_r0 < LOG_FLT_MIN) and np.all(log_k + 1 > LOG_FLT_MIN)
    assert np.all(s[representable] == SUCCESS)
    assert np.all(s[~representable] == NON_FINITE)
    assert np.all(np.isnan(w[~representable][:, 1:]))
    for row in w[s == NON_FINITE]:              # finite up to the failure, NaN from there on
        first = np.argmin(np.isfinite(row))
        assert np.isfinite(row[:first]).all() and np.isnan(row[first:]).all() and first >= 1
    ok = s == SUCCESS
    assert np.all(np.isfinite(w[ok])) and np.all(w[ok] > 0)
    lo, hi = time_shift_bracket(T32_DOMAIN, objective, depth[ok], lam64[ok], rho64[ok],
                                eps64[ok], rtol)
    wok = w[ok].astype(np.float64)
    assert np.all((lo <= wok) & (wok <= hi))
    assert k.max() < 2000


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("rtol", [1e-3, 1e-6])
@pytest.mark.parametrize("depth, lam, rho, eps", [
    (10, 100.0, 1e-3, 1e-22),   # 1/r_a = rho/(2 lam eps^2) = 5e38: tau = inf in float32
    (50, 1.0, 0.18, 100.0),     # w* = 5.8e-38, w/w* = 1.7e39 at the start
], ids=["decay-time-scale", "ratio-to-fixed-point"])
def test_float32_decay_overflows(where, depth, lam, rho, eps, rtol):
    """The two causes of the former SUCCESS rows with NaN/inf, one small JEPA decay each
    (w* a normal float32): the DECAY phase's time scale beyond FLT_MAX (s_stop = 0 and a
    dense-output theta = 0/0 = NaN) and w/w* beyond FLT_MAX in the output (w* * inf).
    Now finite, within the time-shift bracket, within 100 (u + A eps32) of the exact
    weight where t |dlog w/dt| <= 1, and the weight does move (by more than 10%).
    """
    lam, rho, eps = f32(lam), f32(rho), f32(eps)
    w, s, _ = trajectory(T32_DOMAIN, JEPA, depth, lam, rho, eps, rtol, dtype=np.float32, where=where)
    assert s[0] == SUCCESS and np.all(np.isfinite(w)) and np.all(w > 0)
    t = T32_DOMAIN.astype(np.float64)
    w = w[0].astype(np.float64)
    lo, hi = time_shift_bracket(t, JEPA, depth, lam, rho, eps, rtol)
    assert np.all((lo[0] <= w) & (w <= hi[0]))
    exact = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa")
    assert exact[-1] < 0.9 * eps
    calm = t * np.abs(fd.rhs(exact, lam, rho, depth=depth, objective="jepa")) / exact <= 1.0
    assert calm.sum() > 30
    a = float(log_magnitude(JEPA, depth, lam, rho, eps))
    assert np.all(np.abs(w[calm] / exact[calm] - 1) <= 100 * (max(rtol, E32) + a * E32))


# JEPA features whose GROW or SIGMA rate is subnormal in float32 (checked in the test)
# and whose weight moves by more than 10% within the float32 range of t.  The port
# returned NON_FINITE on each of them before phases with tiny rates were integrated
# in a rescaled time unit (ode.h, phase_time_unit).
SUBNORMAL_RATE_CASES = {
    # GROW at r0 = 5e-39: the whole transition (w grows 2e20-fold) before FLT_MAX
    "grow-transition": ("grow", 10, 1.0, 1.0, 4.95e-21),
    # GROW at r0 = 1e-39: the start of the transition
    "grow-onset": ("grow", 3, 1.0, 1.0, 2.93e-24),
    # decay: DECAY phase, then SIGMA at K = 2e-39 (w* = 5.5e-19)
    "sigma-decay": ("sigma", 10, 1e-3, 0.01493, 1e-15),
    # growth that starts in SIGMA (eps = 0.7 w*) at K = 2e-39
    "sigma-growth": ("sigma", 10, 1e-3, 0.01493, 3.85e-19),
}


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("rtol", [1e-3, 1e-6])
@pytest.mark.parametrize("case", list(SUBNORMAL_RATE_CASES))
def test_float32_subnormal_phase_rate(where, case, rtol):
    """A phase whose float32 rate is subnormal: SUCCESS, within the time-shift bracket,
    within 100 (u + A eps32) of the exact weight where t |dlog w/dt| <= 1, and the
    critical time within 100 (rtol + (A + 64) eps32) where it is below FLT_MAX."""
    phase, depth, lam, rho, eps = SUBNORMAL_RATE_CASES[case]
    lam, rho, eps = f32(lam), f32(rho), f32(eps)
    log_r0, log_k = phase_rates(JEPA, depth, lam, rho, eps)
    log_rate = log_r0 if phase == "grow" else log_k + 1.0      # the largest rate of the phase
    assert math.log(2.0 ** -149) < log_rate < LOG_FLT_MIN
    w, s, k = trajectory(T32_DOMAIN, JEPA, depth, lam, rho, eps, rtol, dtype=np.float32, where=where)
    assert s[0] == SUCCESS and np.all(np.isfinite(w)) and np.all(w > 0) and k[0] < 200
    t = T32_DOMAIN.astype(np.float64)
    w = w[0].astype(np.float64)
    exact = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa")
    assert abs(exact[-1] / eps - 1) > 0.1                    # the weight does move
    lo, hi = time_shift_bracket(t, JEPA, depth, lam, rho, eps, rtol)
    assert np.all((lo[0] <= w) & (w <= hi[0]))
    calm = t * np.abs(fd.rhs(exact, lam, rho, depth=depth, objective="jepa")) / exact <= 1.0
    a = float(log_magnitude(JEPA, depth, lam, rho, eps))
    assert np.all(np.abs(w[calm] / exact[calm] - 1) <= 100 * (max(rtol, E32) + a * E32))
    t_star = float(fd.critical_time(lam, rho, depth=depth, eps=eps, objective="jepa", p=0.5))
    tc, s, _ = crossing(JEPA, depth, lam, rho, eps, 0.5, rtol, dtype=np.float32, where=where)
    assert s[0] == SUCCESS
    if t_star == 0.0 or t_star > float(FLT32.max):
        assert tc[0] == (0.0 if t_star == 0.0 else np.inf)
    else:
        assert abs(float(tc[0]) / t_star - 1) <= 100 * (rtol + (a + 64) * E32)


@pytest.mark.parametrize("where", RUN)
@given(
    phase=st.sampled_from(["grow", "sigma"]),
    depth=st.integers(2, 64),
    lam=log10_uniform(1e-3, 1e3),
    rho=log10_uniform(0.1, 1e3),
    log2_rate=st.floats(-149.0, -126.5),
    above=log10_uniform(1.01, 1e6),
    rtol=st.sampled_from([1e-3, 1e-5]),
)
def test_float32_subnormal_phase_rate_sweep(where, phase, depth, lam, rho, log2_rate, above, rtol):
    """JEPA features of the documented float32 domain whose GROW rate r0 (grow) or SIGMA
    rate K (sigma: a decay from eps = above * w*) is drawn in the subnormal range: SUCCESS,
    finite and within the time-shift bracket from t = 0 to FLT_MAX (eps, resp. rho,
    follow from the drawn rate; MAE's rates are normal on the whole domain)."""
    q, b = 2.0 * depth, 1.0 / depth
    rate = 2.0 ** log2_rate
    if phase == "grow":     # r0 = (q-1) b lam eps^((q-1) b)
        eps = (rate / ((q - 1) * b * lam)) ** (1 / ((q - 1) * b))
    else:                   # K = b lam rho^(q-1)
        rho = (rate / (b * lam)) ** (1 / (q - 1))
        eps = above * rho ** depth
    assume(1e-3 <= rho <= 1e3 and 1e-30 <= eps <= 1e3)
    lam, rho, eps = f32(lam), f32(rho), f32(eps)
    w_star = float(fd.fixed_point(rho, depth=depth, objective="jepa"))
    assume(float(FLT32.tiny) <= w_star <= float(FLT32.max))
    log_r0, log_k = phase_rates(JEPA, depth, lam, rho, eps)
    log_rate = log_r0 if phase == "grow" else log_k + 1.0
    assume(log_rate < LOG_FLT_MIN)
    w, s, k = trajectory(T32_DOMAIN, JEPA, depth, lam, rho, eps, rtol, dtype=np.float32, where=where)
    assert s[0] == SUCCESS and np.all(np.isfinite(w)) and np.all(w > 0) and k[0] < 500
    lo, hi = time_shift_bracket(T32_DOMAIN, JEPA, depth, lam, rho, eps, rtol)
    assert np.all((lo[0] <= w[0]) & (w[0] <= hi[0]))


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("event", [False, True], ids=["trajectory", "crossing"])
def test_float32_frozen_phase(where, event):
    """A GROW rate (r0 = 5.8e-43) whose product with the time left (t = 1e20) is below
    2^-64: the phase is frozen (rate 0, one step to the end) and the weight is eps to
    float32 precision (the exact weight moves by 3e-23 relative by t = 1e20).  Its
    crossing time (t_stop = FLT_MAX, so not frozen but rescaled) lies beyond FLT_MAX: inf."""
    depth, lam, rho, eps = 10, f32(1e-3), 1.0, f32(1.6e-21)
    log_r0, _ = phase_rates(JEPA, depth, lam, rho, eps)
    t = np.array([0.0, 1e-10, 1.0, 1e10, 1e20], np.float32)
    assert math.log(2.0 ** -149) < log_r0 < LOG_FLT_MIN
    assert log_r0 + math.log(1e20) < -64 * math.log(2)
    if event:
        tc, s, _ = crossing(JEPA, depth, lam, rho, eps, 0.5, 1e-5, dtype=np.float32, where=where)
        assert s[0] == SUCCESS and tc[0] == np.inf
        assert fd.critical_time(lam, rho, depth=depth, eps=eps, objective="jepa") > 1e41
        return
    w, s, k = trajectory(t, JEPA, depth, lam, rho, eps, 1e-5, dtype=np.float32, where=where)
    # one step; the state does not move (w(0) is eps itself, later outputs go through
    # log psi and carry its float32 rounding, A eps32)
    assert s[0] == SUCCESS and k[0] == 1 and w[0, 0] == np.float32(eps)
    assert np.all(w[0, 1:] == w[0, 1])
    exact = fd.trajectory(t.astype(float), lam, rho, depth=depth, eps=eps, objective="jepa")
    assert np.all(np.abs(exact / eps - 1) < 1e-12)       # float64 rounding: it moves by 3e-23
    a = float(log_magnitude(JEPA, depth, lam, rho, eps))
    assert np.all(np.abs(w[0].astype(float) / exact - 1) <= 100 * (1e-5 + a * E32))


@pytest.mark.parametrize("where", RUN)
def test_float64_decay_time_scale_beyond_float64_range(where):
    """The first of those overflows in float64, outside the documented domain: lam 1e-12,
    eps 1e-150 give 1/r_a = e^710.8 > DBL_MAX; the weight falls to 0.88 eps by DBL_MAX.
    Integrated to its accuracy bound, and the API's ODE method returns the same numbers
    (the former Numba kernel once returned SUCCESS with NaN here)."""
    depth, lam, rho, eps, rtol = 64, 1e-12, 1e-3, 1e-150, 1e-10
    assert math.log(rho / (2 * lam * eps * eps)) > math.log(np.finfo(np.float64).max)
    t = np.concatenate([[0.0], np.logspace(-300, 308, 41), [np.finfo(np.float64).max]])
    w, s, _ = trajectory(t, JEPA, depth, lam, rho, eps, rtol, where=where)
    exact, s_exact = kernel_calls.exact_trajectory(t, JEPA, depth, lam, rho, eps)
    exact = exact[0]
    assert s_exact[0] == SUCCESS
    assert s[0] == SUCCESS and np.all(np.isfinite(w)) and exact[-1] < 0.9 * eps
    a = float(log_magnitude(JEPA, depth, lam, rho, eps))
    assert np.all(np.abs(w[0] / exact - 1) <= 100 * (rtol + a * E64))
    w_cpu, s_cpu = kernel_calls.ode_trajectory(t, JEPA, depth, lam, rho, eps, rtol)
    assert s_cpu[0] == SUCCESS
    if where == "cpu":
        np.testing.assert_array_equal(w_cpu[0], w[0])


# ---------------------------------------------------------------------------
# float32 and the rho ordering of critical times
# ---------------------------------------------------------------------------
def rho_sensitivity(objective, depth, eps, rho=1.0, lam=1.0, p=0.5):
    """``S = |dlog t*/dlog rho|`` by a central difference of the exact float64 time."""
    h = 1e-4
    name = NAMES[objective]
    tp, tm = (float(fd.critical_time(lam, rho * (1 + s * h), depth=depth, eps=eps,
                                     objective=name, p=p)) for s in (1, -1))
    return abs(math.log(tp / tm)) / (2 * h)


ORDER_CASES = [(JEPA, 1, 1e-2), (JEPA, 1, 1e-4), (JEPA, 5, 1e-6), (JEPA, 64, 1e-6),
               (MAE, 2, 1e-4), (MAE, 20, 1e-2)]


@pytest.mark.parametrize("where", RUN)
@pytest.mark.parametrize("objective, depth, eps", ORDER_CASES)
def test_float32_rho_ordering(where, objective, depth, eps):
    """Two features with rho and rho (1 + delta): float32 keeps their critical-time order
    once S delta exceeds twice the crossing-time bound, and loses it (flips or ties) for a
    share (>= 10%) of pairs when S delta is 1e-6, S = |dlog t*/dlog rho|.

    At small eps t* hardly depends on rho (JEPA eq. 12: rho enters at relative order
    eps^(1/L); MAE eq. 13: at order eps^((L-1)/L)), so S, and with it the rho resolution
    of float32, shrinks with eps: see the table in the README's float32 section.
    """
    rng = np.random.default_rng(depth)
    n, rtol = 200, 1e-6
    s_rho = rho_sensitivity(objective, depth, eps)
    rho1 = (10.0 ** rng.uniform(-0.02, 0.02, n)).astype(np.float32)
    lam = np.ones(n, np.float32)
    a = log_magnitude(objective, depth, 1.0, 1.0, eps) + 1.0
    bound = 100 * (rtol + (a + 64) * E32)           # test_float32_crossing_time
    name = NAMES[objective]
    results = {}
    for label, gap in (("resolved", 4 * bound), ("unresolved", 1e-6)):
        delta = gap / s_rho
        rho2 = (rho1.astype(np.float64) * (1 + delta)).astype(np.float32)
        t1, s1, _ = crossing(objective, depth, lam, rho1, eps, 0.5, rtol, dtype=np.float32, where=where)
        t2, s2, _ = crossing(objective, depth, lam, rho2, eps, 0.5, rtol, dtype=np.float32, where=where)
        assert np.all(s1 == SUCCESS) and np.all(s2 == SUCCESS)
        x1, x2 = (fd.critical_time(1.0, r.astype(float), depth=depth, eps=f32(eps),
                                   objective=name, p=0.5) for r in (rho1, rho2))
        ok = np.sign(t2.astype(float) - t1.astype(float)) == np.sign(x2 - x1)
        results[label] = 1.0 - ok.mean()
    assert results["resolved"] == 0.0
    assert results["unresolved"] >= 0.1
