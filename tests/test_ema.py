"""The JEPA-EMA two-state ODE (kernels/cuda/ema.h: CPU kernel kernels/_ema.py, GPU entry
point fd_ema_trajectory of kernels/cuda/ode_kernels.cu; API fastdyn/_ema.py).

References: an independent mpmath Taylor integration of the system in the
weights themselves (not the kernel's log variables); eq. 7 (closed form) at
``ema_time = 0``; the full-matrix EMA trainer, whose error against the ODE
shrinks linearly with the learning rate at fixed ``ema_time``.  The GPU entry
point against the CPU kernel: bit for bit built on the host, 1e-12 on a GPU
(``-m gpu``).
"""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

import cuda_host
import fastdyn as fd
from fastdyn import train as tr
from fastdyn.kernels import _ema
from fastdyn.kernels._constants import MAX_STEPS
from fastdyn.kernels._lib import lib

def trajectory_ema(t, lam, rho, **kwargs):
    """``fd.trajectory(objective="jepa-ema")``: the two-state ODE through the public API."""
    return fd.trajectory(t, lam, rho, objective="jepa-ema", **kwargs)


LAM = np.array([1.0, 0.7, 1.5])
RHO = np.array([0.9, 0.6, 0.8])


def mp_reference(t_end, lam, rho, depth, eps, ema, dps=30):
    """``w(t_end)`` by mpmath's Taylor-series ODE solver on (w, w_tgt)."""
    with mpmath.workdps(dps):
        lam, rho, L, E = mpmath.mpf(lam), mpmath.mpf(rho), depth, mpmath.mpf(ema)

        def f(_, z):
            w, wt = z
            dw = lam * wt * w ** (2 - mpmath.mpf(1) / L) - lam / rho * w**3
            dwt = L / E * wt * ((w / wt) ** (mpmath.mpf(1) / L) - 1)
            return [dw, dwt]

        sol = mpmath.odefun(f, 0, [mpmath.mpf(eps), mpmath.mpf(eps)])
        return float(sol(mpmath.mpf(t_end))[0])


@pytest.mark.parametrize("depth, ema", [(1, 0.5), (2, 2.0), (3, 0.7), (4, 5.0)])
def test_matches_mpmath_reference(depth, ema):
    t_end = 2.0
    w = trajectory_ema([t_end], 2.0, 0.95, depth=depth, eps=0.4, ema_time=ema, rtol=1e-11)
    ref = mp_reference(t_end, 2.0, 0.95, depth, 0.4, ema, dps=20)
    assert w[0] == pytest.approx(ref, rel=1e-9)
    assert abs(ref - 0.4) > 0.03           # it moved


@settings(max_examples=25)
@given(lam=st.floats(0.1, 10), rho=st.floats(0.1, 1.5), depth=st.integers(1, 8),
       log_eps=st.floats(-4, -1.5))
def test_zero_ema_time_is_eq7(lam, rho, depth, log_eps):
    eps = 10.0**log_eps
    tc = fd.critical_time(lam, rho, depth=depth, eps=eps, objective="jepa")
    t = np.linspace(0, 2 * tc, 9) if np.isfinite(tc) and tc > 0 else np.linspace(0, 10, 9)
    w = trajectory_ema(t, lam, rho, depth=depth, eps=eps, ema_time=0.0, rtol=1e-10)
    # backward error in time (the end of a plateau is ill-conditioned in t): w is the
    # exact eq. 7 weight at a time within a relative 1e-7 of t (w is monotone in t)
    lo = fd.trajectory(t * (1 - 1e-7), lam, rho, depth=depth, eps=eps, objective="jepa")
    hi = fd.trajectory(t * (1 + 1e-7), lam, rho, depth=depth, eps=eps, objective="jepa")
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    assert np.all(w >= lo * (1 - 1e-9)) and np.all(w <= hi * (1 + 1e-9))


def test_small_ema_time_approaches_jepa_linearly():
    t = np.array([4.0, 8.0])
    jepa = fd.trajectory(t, LAM, RHO, depth=2, eps=0.2, objective="jepa")
    d = [np.abs(trajectory_ema(t, LAM, RHO, depth=2, eps=0.2, ema_time=e, rtol=1e-11)
                - jepa).max() for e in (0.02, 0.01, 0.005)]
    assert d[0] > 5e-4
    assert 1.8 < d[0] / d[1] < 2.2 and 1.8 < d[1] / d[2] < 2.2


@given(lam=st.floats(0.2, 5), rho=st.floats(0.3, 1.2), depth=st.integers(1, 6),
       ema=st.floats(0.0, 20.0), log_eps=st.floats(-2, 0.3))
def test_converges_to_jepa_fixed_point_and_never_emits_silent_nan(lam, rho, depth, ema,
                                                                   log_eps):
    t = np.array([0.0, 1.0, 1e3, 1e6, 1e300])
    w, status = trajectory_ema(t, lam, rho, depth=depth, eps=10.0**log_eps, ema_time=ema,
                               return_status=True)
    assert np.all(np.isfinite(w)) or status != fd.Status.SUCCESS
    if status == fd.Status.SUCCESS:
        assert w[0] == 10.0**log_eps
        assert w[-1] == pytest.approx(rho**depth, rel=1e-12)


def test_target_lags_online_on_the_growth_branch():
    t = np.linspace(0, 20, 21)
    n = 3
    w = np.empty((n, t.size))
    wt = np.empty((n, t.size))
    st_ = np.zeros(n, np.int8)
    ns = np.zeros(n, np.int64)
    _ema.ema_trajectory_kernel(t, np.full(n, 3), LAM, RHO, np.full(n, 0.1), np.full(n, 2.0),
                               1e-9, 100_000, w, wt, st_, ns)
    assert np.all(st_ == 0)
    assert np.all(wt[:, 1:] < w[:, 1:]) and np.all(np.diff(w, axis=1) > 0)


@pytest.mark.parametrize("depth, lam, rho, ema", [(1, 1.0, 0.5, 0.3), (5, 2.0, 0.9, 10.0),
                                                  (3, 0.1, 1.2, 1e-3), (64, 1.0, 1.01, 1.0)])
def test_linear_tail_matches_matrix_exponential(depth, lam, rho, ema):
    k = lam * rho ** (2 * depth - 1) / depth
    beta = 1.0 / ema
    a_mat = np.array([[-k * (depth + 1), k * depth], [beta, -beta]])
    z0 = np.array([3e-10, -5e-10])
    log_k = math.log(lam) + (2 * depth - 1) * math.log(rho) - math.log(depth)
    for dt in [0.0, 0.1, 10.0, 1e4]:
        got = np.zeros(2)
        lib.fdh_ema_linear_tail(z0[0], z0[1], dt, float(depth), log_k, beta,
                                got.ctypes.data_as(lib.fdh_ema_linear_tail.argtypes[-1]))
        np.testing.assert_allclose(got, expm(a_mat * dt) @ z0, rtol=1e-10, atol=1e-25)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_matches_ema_trainer_with_error_linear_in_lr(depth):
    """Assumption 3.1, population GD, momentum m = E / (E + L lr): fixed ema_time E."""
    e_time, eps, t_end = 2.0, 0.3, 14.0
    sxx, syx = np.diag(LAM / RHO), np.diag(LAM)
    errs = []
    for lr in (0.04 / depth, 0.02 / depth, 0.01 / depth):
        steps = int(round(t_end / (depth * lr)))
        m = e_time / (e_time + depth * lr)
        res = tr.train((sxx, syx), objective="jepa-ema", momentum=m, depth=depth, lr=lr,
                       steps=steps, eps=eps, record=[0, steps // 2, steps])
        assert res.ema_time == pytest.approx(e_time, rel=1e-12)
        ode = trajectory_ema(res.t, LAM, RHO, depth=depth, eps=eps, ema_time=res.ema_time,
                             rtol=1e-11)
        errs.append(res.w[0] - ode.T)
    size = [np.abs(e).max() for e in errs]
    assert size[0] < 0.01
    assert 1.8 < size[0] / size[1] < 2.2 and 1.8 < size[1] / size[2] < 2.2
    assert np.abs(2 * errs[2] - errs[1]).max() < 0.05 * size[2]
    # the EMA visibly changes the dynamics: eq. 7 is far off at this ema_time
    jepa = fd.trajectory(res.t, LAM, RHO, depth=depth, eps=eps, objective="jepa")
    assert np.abs(jepa.T - res.w[0]).max() > 20 * size[2]


def test_step_budget_gives_status_and_error():
    w, status = trajectory_ema([1e3], 1.0, 0.5, depth=3, eps=0.01, ema_time=1.0, max_steps=5,
                               return_status=True)
    assert status == fd.Status.MAX_STEPS
    with pytest.raises(fd.SolverError, match="1 of 1 features failed"):
        trajectory_ema([1e3], 1.0, 0.5, depth=3, eps=0.01, ema_time=1.0, max_steps=5)


def test_shapes_and_broadcasting():
    w = trajectory_ema(np.linspace(0, 5, 4), np.ones((2, 3)), 0.8, depth=[1, 2, 3], eps=0.1,
                       ema_time=[[0.0], [1.0]])
    assert w.shape == (2, 3, 4)
    np.testing.assert_array_equal(w[0, 1], trajectory_ema(np.linspace(0, 5, 4), 1.0, 0.8,
                                                          depth=2, eps=0.1, ema_time=0.0))


@pytest.mark.parametrize("kw, exc, match", [
    (dict(ema_time=-1.0), ValueError, r"`ema_time` must be in \[0, 1e\+300\] \(fastdyn's domain\); got -1.0"),
    (dict(ema_time=[0.0, math.inf]), ValueError, r"ema_time\[1\] = inf"),
    (dict(lam=[1.0, -2.0]), ValueError, r"`lam` must be in \[1e-06, 1e\+06\] \(fastdyn's domain\); lam\[1\] = -2.0"),
    (dict(t=[2.0, 1.0]), ValueError, "`t` must be non-decreasing"),
    (dict(rtol=0.5), ValueError, "`rtol` must be in"),
    (dict(depth=0), ValueError, "`depth` must be an integer in"),
    (dict(max_steps=0), ValueError, r"`max_steps` must be an integer in \[1, 4611686018427387904\]; got 0"),
    (dict(ema_time="a"), TypeError, "`ema_time` must be real-valued"),
])
def test_bad_input(kw, exc, match):
    args = dict(t=[1.0], lam=1.0, rho=0.5, depth=2, eps=0.1, ema_time=1.0)
    args.update(kw)
    with pytest.raises(exc, match=match):
        trajectory_ema(args.pop("t"), args.pop("lam"), args.pop("rho"), **args)


# ---------------------------------------------------------------------------
# the GPU entry point (fd_ema_trajectory) against the CPU kernel
# ---------------------------------------------------------------------------
def _ema_batch(n, seed):
    rng = np.random.default_rng(seed)
    depth = rng.integers(1, 65, n)
    lam = 10.0 ** rng.uniform(-3, 3, n)
    rho = 10.0 ** rng.uniform(-1, 1, n)
    eps = 10.0 ** rng.uniform(-6, 1, n)
    ema = np.where(rng.random(n) < 0.2, 0.0, 10.0 ** rng.uniform(-3, 2, n))
    return depth, lam, rho, eps, ema


def _cpu_ema(t, depth, lam, rho, eps, ema, rtol, max_steps):
    n = lam.size
    w, wt = np.full((n, t.size), -1.0), np.full((n, t.size), -1.0)
    st_, ns = np.full(n, -1, np.int8), np.full(n, -1, np.int64)
    _ema.ema_trajectory_kernel(t, depth, lam, rho, eps, ema, rtol, max_steps, w, wt, st_, ns)
    return w, wt, st_, ns


def _entry_ema(where, t, depth, lam, rho, eps, ema, rtol, max_steps, time_major=False):
    n, nt = lam.size, t.size
    shape = (nt, n) if time_major else (n, nt)
    w, wt = np.full(shape, -1.0), np.full(shape, -1.0)
    st_, ns = np.full(n, -1, np.int8), np.full(n, -1, np.int64)
    strides = (np.int64(1), np.int64(n)) if time_major else (np.int64(nt), np.int64(1))
    args = (np.int64(n), np.int64(nt), t, depth, lam, rho, eps, ema, np.float64(rtol),
            np.int64(max_steps), w, wt, *strides, st_, ns)
    if where == "host":
        cuda_host.call("ode_kernels.cu", "fd_ema_trajectory", *args)
    else:
        cuda_host.gpu_call("ode_kernels.cu", "fd_ema_trajectory", n, *args)
    if time_major:
        w, wt = w.T, wt.T
    return w, wt, st_, ns


@pytest.mark.parametrize("where", ["host", pytest.param("gpu", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("rtol, max_steps", [(1e-6, 100_000), (1e-10, 100_000), (1e-8, 7)])
def test_gpu_entry_point_matches_cpu_kernel(where, rtol, max_steps):
    """200 features (ema_time 0 included), times from 0 to 1e6: the same statuses, step
    counts and values; bit for bit on the host.  max_steps = 7: the MAX_STEPS path."""
    depth, lam, rho, eps, ema = _ema_batch(200, 3)
    t = np.concatenate([[0.0], np.geomspace(1e-3, 1e6, 40)])
    got = _entry_ema(where, t, depth, lam, rho, eps, ema, rtol, max_steps)
    want = _cpu_ema(t, depth, lam, rho, eps, ema, rtol, max_steps)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(got[3], want[3])
    if max_steps == 7:
        assert np.any(want[2] == MAX_STEPS)
    for g, w in zip(got[:2], want[:2]):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        if where == "host":
            np.testing.assert_array_equal(g[~np.isnan(w)].view(np.int64), w[~np.isnan(w)].view(np.int64))
        else:
            np.testing.assert_allclose(g[~np.isnan(w)], w[~np.isnan(w)], rtol=1e-12, atol=0)


def test_gpu_entry_point_time_major_layout():
    """stride_feature 1, stride_time n (the GPU backend's coalesced layout): the transpose."""
    depth, lam, rho, eps, ema = _ema_batch(30, 4)
    t = np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 12)])
    rows = _entry_ema("host", t, depth, lam, rho, eps, ema, 1e-8, 100_000)
    cols = _entry_ema("host", t, depth, lam, rho, eps, ema, 1e-8, 100_000, time_major=True)
    for a, b in zip(rows, cols):
        np.testing.assert_array_equal(a, b)

