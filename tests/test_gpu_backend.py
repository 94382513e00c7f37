"""The GPU backend end to end: backend selection, validation, chunking, kernels, parity.

Every test runs against two devices:

* ``host``: :mod:`fake_cupy`, a strict stand-in for CuPy whose ``RawModule``
  compiles the real ``kernels/cuda/*.cu`` sources with the host C++ compiler:
  it runs in CI, without a GPU, and tests all of fastdyn's GPU code path
  except NVRTC itself;
* ``gpu``: the real CuPy on an NVIDIA GPU (marked ``gpu``; skipped where CuPy
  or a device is missing).  Run just these with ``pytest -m gpu``.

CPU/GPU parity target (issue 3): 1e-12 relative in float64.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import cuda_host
import fake_cupy
import fastdyn as fd
from fastdyn import _gpu

PARITY_RTOL = 1e-12


@pytest.fixture
def fake(monkeypatch):
    """The host stand-in only (tests of chunking and launches)."""
    fake_cupy.reset()
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(_gpu, "_MODULES", {})
    monkeypatch.setattr(_gpu, "_TABLES", {})
    yield fake_cupy
    fake_cupy.reset()


def _params(n=300, seed=0, objective="jepa"):
    rng = np.random.default_rng(seed)
    lam = np.exp(rng.uniform(np.log(0.1), np.log(10.0), n))
    rho = rng.uniform(0.2, 1.5, n)
    depth = rng.integers(1, 9, n)
    eps = np.exp(rng.uniform(np.log(1e-6), np.log(2.0), n))  # both branches
    return lam, rho, depth, eps


def _times(objective):
    t_max = 3 * float(np.max(fd.critical_time(0.1, 0.2, depth=8, eps=1e-6, objective=objective,
                                              method="asymptotic")))
    return np.concatenate([[0.0], np.geomspace(1e-3, t_max, 15)])


def _close(got, want, rtol=PARITY_RTOL):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    same = (got == want) | np.isclose(got, want, rtol=rtol, atol=0.0)
    assert same.all(), f"max rel. diff {np.nanmax(np.abs(got / want - 1)):.3g}"


def _get(x):
    return x.get() if hasattr(x, "get") and not isinstance(x, np.ndarray) else x


# --------------------------------------------------------------------------
# backend selection (no CuPy needed)
# --------------------------------------------------------------------------
def test_importing_fastdyn_and_cpu_calls_never_import_cupy():
    code = ("import sys, fastdyn as fd; fd.trajectory([1.0], 1.0, 0.5, depth=2, eps=1e-3, "
            "objective='jepa'); fd.critical_time(1.0, 0.5, depth=2, eps=1e-3, objective='mae'); "
            "print('cupy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("backend, exc, match", [
    ("tpu", ValueError, "`backend` must be 'auto', 'cpu' or 'gpu'; got 'tpu'"),
    (1, TypeError, "`backend` must be a str"),
])
def test_bad_backend(backend, exc, match):
    with pytest.raises(exc, match=match):
        fd.fixed_point(0.5, depth=2, objective="jepa", backend=backend)


def test_float32_exact_is_refused_with_where_it_is_supported():
    with pytest.raises(ValueError, match=r"`dtype=float32` is supported only by "
                                         r"trajectory\(method='ode'\) \(on the CPU and GPU\); use float64"):
        fd.trajectory([1.0], 1.0, 0.5, depth=2, eps=1e-3, method="exact", dtype=np.float32)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_float32_ode_on_the_cpu_tracks_the_exact_solution(objective):
    lam, rho, depth, eps = _params(n=200, seed=3, objective=objective)
    eps = np.clip(eps, 1e-3, None)
    t = _times(objective)
    want = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective=objective)
    got = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective=objective, method="ode",
                        rtol=1e-5, dtype=np.float32)
    assert got.dtype == np.float32
    _close(got.astype(np.float64), want, rtol=1e-3)
    tc = fd.critical_time(lam, rho, depth=depth, eps=eps, objective=objective, method="ode",
                          rtol=1e-5, dtype=np.float32)
    tc_want = fd.critical_time(lam, rho, depth=depth, eps=eps, objective=objective)
    assert tc.dtype == np.float32
    assert (tc_want == 0).any() and (tc_want > 0).any()  # both cases are drawn
    _close(tc.astype(np.float64), tc_want, rtol=1e-3)  # 0 exactly where eps is already past p


def test_float32_on_the_cpu_refuses_unrepresentable_times():
    with pytest.raises(ValueError, match=r"`t` is not representable in float32; t\[1\] = 1e\+300"):
        fd.trajectory([0.0, 1e300], 1.0, 0.5, depth=2, eps=1e-3, method="ode", dtype=np.float32)


def test_mixed_inputs_name_the_fix(cp):
    with pytest.raises(TypeError, match=r"mixed NumPy and CuPy inputs: `w` and `lam` on the GPU, "
                                        r"`rho` on the CPU.*`cupy.asarray\(rho\)`.*`w.get\(\)`"):
        fd.rhs(cp.asarray([0.1, 0.2]), cp.asarray([1.0, 2.0]), np.array([0.5, 0.5]), depth=2,
               objective="jepa")


def test_device_arrays_with_cpu_backend_are_refused(cp):
    with pytest.raises(TypeError, match=r"backend='cpu'.*`lam` is a CuPy array.*lam.get\(\)"):
        fd.critical_time(cp.asarray([1.0]), 0.5, depth=2, eps=1e-3, objective="jepa", backend="cpu")


# --------------------------------------------------------------------------
# parity with the CPU, device inputs (results stay on the device)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["jepa", "mae", "jepa-ema"])
def test_gradient_descent_parity(cp, objective):
    """gd_trajectory / gd_critical_step on the GPU (NumPy inputs, backend='gpu'): gd.h."""
    lam, rho, depth, _ = _params(n=150, seed=8)
    kw = {"momentum": 0.6} if objective == "jepa-ema" else {}
    steps = np.array([0, 1, 10, 100, 400])
    want, st_want = fd.gd_trajectory(steps, lam, rho, depth=depth, objective=objective, lr=0.02,
                                     eps=1e-2, return_status=True, **kw)
    got, st = fd.gd_trajectory(steps, lam, rho, depth=depth, objective=objective, lr=0.02,
                               eps=1e-2, return_status=True, backend="gpu", **kw)
    assert isinstance(got, np.ndarray)
    _close(got, want)
    np.testing.assert_array_equal(st, st_want)
    layers = np.random.default_rng(3).uniform(0.1, 0.5, (150, 3))
    k_want = fd.gd_critical_step(lam, rho, depth=3, objective=objective, lr=0.05, layers=layers,
                                 decoder=0.2, **kw)
    k = fd.gd_critical_step(lam, rho, depth=3, objective=objective, lr=0.05, layers=layers,
                            decoder=0.2, backend="gpu", **kw)
    np.testing.assert_array_equal(k, k_want)


@pytest.mark.parametrize("objective", ["jepa", "mae", "jepa-ema"])
@pytest.mark.parametrize("start", ["balanced", "layers"])
def test_gradient_descent_device_inputs_give_device_results(cp, objective, start):
    """CuPy inputs (the backend follows the array type): CuPy results, the CPU's values."""
    lam, rho, _, _ = _params(n=130, seed=12)
    rng = np.random.default_rng(13)
    lr = 10.0 ** rng.uniform(-2.5, 0.5, lam.size)  # monotone, oscillating and diverging features
    kw = {"momentum": rng.uniform(0.0, 0.9, lam.size)} if objective == "jepa-ema" else {}
    if start == "balanced":
        init = {"eps": 10.0 ** rng.uniform(-3, -1, lam.size)}
    else:
        init = {"layers": rng.uniform(0.05, 0.5, (lam.size, 3)) * rng.choice([-1, 1], (lam.size, 3)),
                "decoder": rng.uniform(0.05, 0.5, lam.size)}
        if objective == "jepa-ema":
            init["target"] = rng.uniform(0.05, 0.5, (lam.size, 3))
    steps = np.array([0, 1, 10, 100, 400])
    want, st_want = fd.gd_trajectory(steps, lam, rho, depth=3, objective=objective, lr=lr,
                                     return_status=True, **init, **kw)
    assert len(set(st_want.tolist())) == 3
    dev = {k: cp.asarray(x) for k, x in {**init, **kw}.items()}
    got, st = fd.gd_trajectory(cp.asarray(steps), cp.asarray(lam), cp.asarray(rho), depth=3,
                               objective=objective, lr=cp.asarray(lr), return_status=True, **dev)
    assert isinstance(got, cp.ndarray) and isinstance(st, cp.ndarray)
    got = _get(got)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))  # the diverged features' NaN
    _close(got[~np.isnan(want)], want[~np.isnan(want)])
    np.testing.assert_array_equal(_get(st), st_want)
    k_want, ks_want = fd.gd_critical_step(lam, rho, depth=3, objective=objective, lr=lr / 10,
                                          max_steps=2000, return_status=True, **init, **kw)
    k, ks = fd.gd_critical_step(cp.asarray(lam), cp.asarray(rho), depth=3, objective=objective,
                                lr=cp.asarray(lr / 10), max_steps=2000, return_status=True, **dev)
    assert isinstance(k, cp.ndarray)
    np.testing.assert_array_equal(_get(k), k_want)
    np.testing.assert_array_equal(_get(ks), ks_want)


def test_gradient_descent_device_inputs_are_checked_like_the_cpu_ones(cp):
    with pytest.raises(ValueError, match=r"`lr` must be in \(0, 1e\+300\].*lr\[1\] = -1.0"):
        fd.gd_trajectory([0, 1], cp.asarray([1.0, 2.0]), 0.8, depth=2, objective="jepa",
                         lr=cp.asarray([0.1, -1.0]), eps=1e-3)
    with pytest.raises(ValueError, match=r"`layers` must be nonzero.*layers\[1, 0\] = 0.0"):
        fd.gd_critical_step(cp.asarray([1.0, 2.0]), 0.8, depth=2, objective="jepa", lr=0.1,
                            layers=cp.asarray([[0.1, 0.2], [0.0, 0.2]]), decoder=0.1)
    with pytest.raises(TypeError, match=r"mixed NumPy and CuPy inputs: `lam` on the GPU, "
                                        r"`layers` on the CPU"):
        fd.gd_trajectory([0, 1], cp.asarray([1.0, 2.0]), 0.8, depth=2, objective="jepa", lr=0.1,
                         layers=np.full((2, 2), 0.1), decoder=0.1)
    with pytest.raises(fd.SolverError, match=r"the first is at index 1 \(DIVERGED\)"):
        fd.gd_trajectory([0, 1000], cp.asarray([1.0, 2.0]), 0.8, depth=2, objective="jepa",
                         lr=cp.asarray([0.1, 1e4]), eps=1e-1)


def _flow_problem(objective, n=90, seed=14):
    """Unbalanced aligned starts (negative layers among them; |a_l| > v, so that no layer
    has to pass through 0 on the way to the limit)."""
    rng = np.random.default_rng(seed)
    lam = 10.0 ** rng.uniform(-1, 1, n)
    rho = rng.uniform(0.5, 1.5, n)
    layers = rng.uniform(0.25, 0.6, (n, 3)) * rng.choice([-1, 1], (n, 3))
    decoder = rng.uniform(0.02, 0.2, n)
    t = np.concatenate([[0.0], np.geomspace(1e-2, 1e4 if objective == "jepa" else 1e2, 9)])
    return lam, rho, layers, decoder, t


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("max_steps", [150, 100_000])
def test_flow_trajectory_entry_point_on_the_host_equals_the_cpu_kernel(objective, max_steps):
    """fd_flow_trajectory (gd_kernels.cu) built for the host: bit for bit the CPU kernel."""
    lam, rho, layers, decoder, t = _flow_problem(objective)
    n, nt = lam.size, t.size
    want, st_want = fd.flow_trajectory(t, lam, rho, depth=3, objective=objective, layers=layers,
                                       decoder=decoder, max_steps=max_steps, return_status=True)
    if max_steps == 150:  # a budget some features exhaust
        assert {int(x) for x in st_want} == {fd.Status.SUCCESS, fd.Status.MAX_STEPS}
    w = np.full((nt, n), -1.0)
    status = np.full(n, -1, dtype=np.int8)
    nsteps = np.zeros(n, dtype=np.int64)
    cuda_host.call("gd_kernels.cu", "fd_flow_trajectory", np.int64(n),
                   np.int32(0 if objective == "jepa" else 1), np.full(n, 3, dtype=np.int64), lam, rho,
                   np.ones(n), np.ascontiguousarray(layers), decoder, np.int64(3), np.int64(nt), t,
                   np.float64(1e-10), np.int64(max_steps), w, status, nsteps)
    np.testing.assert_array_equal(w.T, want)
    np.testing.assert_array_equal(status, st_want)
    assert np.all(nsteps > 0)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_flow_trajectory_on_the_device(cp, objective):
    lam, rho, layers, decoder, t = _flow_problem(objective, seed=15)
    want = fd.flow_trajectory(t, lam, rho, depth=3, objective=objective, layers=layers,
                              decoder=decoder)
    got = fd.flow_trajectory(cp.asarray(t), cp.asarray(lam), cp.asarray(rho), depth=3,
                             objective=objective, layers=cp.asarray(layers),
                             decoder=cp.asarray(decoder))
    assert isinstance(got, cp.ndarray)
    _close(_get(got), want)
    host_in, st = fd.flow_trajectory(t, lam, rho, depth=3, objective=objective, eps=1e-2,
                                     backend="gpu", return_status=True)
    assert type(host_in) is np.ndarray and not st.any()
    _close(host_in, fd.flow_trajectory(t, lam, rho, depth=3, objective=objective, eps=1e-2))
    with pytest.raises(fd.SolverError, match=r"MAX_STEPS"):
        fd.flow_trajectory(t, lam, rho, depth=3, objective=objective, eps=1e-2, backend="gpu",
                           max_steps=3)


@pytest.mark.parametrize("ema_time", [0.0, 0.5, 20.0])
def test_jepa_ema_trajectory_parity(cp, ema_time):
    """objective="jepa-ema" runs on the device: the same C++ integrator as the CPU (ema.h)."""
    lam, rho, depth, eps = _params(n=120, seed=5)
    eps = np.clip(eps, 1e-3, None)
    t = np.concatenate([[0.0], np.geomspace(1e-2, 200.0, 12)])
    want = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa-ema",
                         ema_time=ema_time)
    got = fd.trajectory(cp.asarray(t), cp.asarray(lam), cp.asarray(rho), depth=cp.asarray(depth),
                        eps=cp.asarray(eps), objective="jepa-ema", ema_time=ema_time)
    assert isinstance(got, cp.ndarray)
    _close(_get(got), want)
    host_in = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa-ema",
                            ema_time=ema_time, backend="gpu")
    assert isinstance(host_in, np.ndarray)
    _close(host_in, want)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("method", ["exact", "ode"])
def test_trajectory_parity(cp, objective, method):
    lam, rho, depth, eps = _params(objective=objective)
    t = _times(objective)
    want = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective=objective, method=method)
    got = fd.trajectory(cp.asarray(t), cp.asarray(lam), cp.asarray(rho), depth=cp.asarray(depth),
                        eps=cp.asarray(eps), objective=objective, method=method)
    assert isinstance(got, cp.ndarray)
    _close(got.get(), want)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("method", ["exact", "asymptotic", "ode"])
def test_critical_time_parity(cp, objective, method):
    lam, rho, depth, eps = _params(seed=1)
    eps = np.minimum(eps, 1e-2)
    want = fd.critical_time(lam, rho, depth=depth, eps=eps, objective=objective, method=method)
    got = fd.critical_time(cp.asarray(lam), cp.asarray(rho), depth=cp.asarray(depth),
                           eps=cp.asarray(eps), objective=objective, method=method)
    _close(got.get(), want)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_critical_time_parity_per_feature_p(cp, objective):
    lam, rho, depth, eps = _params(seed=2)
    p = np.random.default_rng(3).uniform(0.05, 0.95, lam.size)
    want = fd.critical_time(lam, rho, depth=depth, eps=eps, p=p, objective=objective)
    got = fd.critical_time(cp.asarray(lam), cp.asarray(rho), depth=cp.asarray(depth),
                           eps=cp.asarray(eps), p=cp.asarray(p), objective=objective)
    _close(got.get(), want)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_elementwise_parity(cp, objective):
    lam, rho, depth, eps = _params(seed=4)
    w = eps * 1.5
    dt = np.random.default_rng(5).exponential(2.0, lam.size)
    d = {k: cp.asarray(x) for k, x in dict(lam=lam, rho=rho, depth=depth, eps=eps, w=w, dt=dt).items()}
    _close(fd.rhs(d["w"], d["lam"], d["rho"], depth=d["depth"], objective=objective).get(),
           fd.rhs(w, lam, rho, depth=depth, objective=objective))
    _close(fd.fixed_point(d["rho"], depth=d["depth"], objective=objective).get(),
           fd.fixed_point(rho, depth=depth, objective=objective))
    _close(fd.time_to_reach(d["w"], d["lam"], d["rho"], depth=d["depth"], eps=d["eps"],
                            objective=objective).get(),
           fd.time_to_reach(w, lam, rho, depth=depth, eps=eps, objective=objective))
    _close(fd.advance(d["w"], d["dt"], d["lam"], d["rho"], depth=d["depth"], objective=objective).get(),
           fd.advance(w, dt, lam, rho, depth=depth, objective=objective))


def test_host_inputs_with_gpu_backend_return_numpy(cp):
    lam, rho, depth, eps = _params(n=50, seed=6)
    t = _times("jepa")
    got = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa", backend="gpu")
    assert type(got) is np.ndarray
    _close(got, fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa"))
    scalar = fd.fixed_point(0.5, depth=3, objective="mae", backend="gpu")
    assert float(scalar) == pytest.approx(0.5 ** 0.75, rel=1e-15)


def test_broadcasting_on_the_device(cp):
    lam = cp.asarray(np.linspace(0.5, 2.0, 4).reshape(4, 1))
    rho = cp.asarray(np.linspace(0.3, 1.0, 3))
    got = fd.critical_time(lam, rho, depth=3, eps=1e-3, objective="jepa")
    assert got.shape == (4, 3)
    _close(got.get(), fd.critical_time(lam.get(), rho.get(), depth=3, eps=1e-3, objective="jepa"))


def test_out_on_the_device(cp):
    lam, rho, depth, eps = _params(n=20, seed=7)
    t = _times("mae")
    out = cp.empty((20, t.size))
    res = fd.trajectory(cp.asarray(t), cp.asarray(lam), cp.asarray(rho), depth=cp.asarray(depth),
                        eps=cp.asarray(eps), objective="mae", out=out)
    assert res is out
    _close(out.get(), fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="mae"))


def test_empty_inputs(cp):
    got = fd.trajectory(cp.asarray(np.array([1.0, 2.0])), cp.asarray(np.empty(0)), 0.5, depth=2,
                        eps=1e-3, objective="jepa")
    assert got.shape == (0, 2)
    assert fd.critical_time(cp.asarray(np.empty(0)), 0.5, depth=2, eps=1e-3, objective="jepa").shape == (0,)


# --------------------------------------------------------------------------
# validation of device arrays: the CPU path's messages
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name, bad, match", [
    ("lam", [1.0, -2.0, 3.0], r"`lam` must be in \[1e-06, 1e\+06\] \(fastdyn's domain\); lam\[1\] = -2.0."),
    ("lam", [1.0, 1.0, np.nan], r"`lam` must be in \[1e-06, 1e\+06\] \(fastdyn's domain\); lam\[2\] = nan."),
    ("eps", [1.0, np.inf, 1.0], r"`eps` must be in \[1e-30, 1000\] \(fastdyn's domain\); eps\[1\] = inf."),
    ("depth", [1, 65, 2], r"`depth` must be an integer in \[1, 64\]; depth\[1\] = 65."),
    ("depth", [1.0, 2.5, 2.0], r"`depth` must be an integer in \[1, 64\]; depth\[1\] = 2.5."),
])
def test_device_validation_messages(cp, name, bad, match):
    args = dict(lam=np.ones(3), rho=np.full(3, 0.5), eps=np.full(3, 1e-3), depth=np.full(3, 2))
    args[name] = np.array(bad)
    dev = {k: cp.asarray(x) for k, x in args.items()}
    with pytest.raises(ValueError, match=match):
        fd.critical_time(dev["lam"], dev["rho"], depth=dev["depth"], eps=dev["eps"], objective="jepa")


def test_device_validation_of_p_and_dt(cp):
    with pytest.raises(ValueError, match=r"`p` must be in \(0, 1\) \(fastdyn's domain\); p\[0\] = 1.0."):
        fd.critical_time(cp.asarray([1.0]), 0.5, depth=2, eps=1e-3, p=cp.asarray([1.0]), objective="mae")
    with pytest.raises(ValueError, match=r"`dt` must be in \[0, 1e\+300\] \(fastdyn's domain\); dt\[1\] = -1.0."):
        fd.advance(cp.asarray([0.1, 0.1]), cp.asarray([1.0, -1.0]), 1.0, 0.5, depth=2, objective="mae")


# --------------------------------------------------------------------------
# failures come back as statuses; SolverError names the first
# --------------------------------------------------------------------------
def test_step_budget_on_the_device(cp):
    lam, rho, depth, eps = _params(n=10, seed=8)
    t = _times("jepa")
    dev = [cp.asarray(x) for x in (t, lam, rho, depth, eps)]
    w, status = fd.trajectory(dev[0], dev[1], dev[2], depth=dev[3], eps=dev[4], objective="jepa",
                              method="ode", max_steps=2, return_status=True)
    assert isinstance(status, cp.ndarray)
    assert (status.get() == fd.Status.MAX_STEPS).any()
    with pytest.raises(fd.SolverError, match=r"features failed; the first is at index \d+ \(MAX_STEPS\)"):
        fd.trajectory(dev[0], dev[1], dev[2], depth=dev[3], eps=dev[4], objective="jepa",
                      method="ode", max_steps=2)


# --------------------------------------------------------------------------
# float32 (ODE on the GPU only)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_float32_ode(cp, objective):
    lam, rho, depth, eps = _params(n=100, seed=9)
    eps = np.clip(eps, 1e-3, None)
    t = _times(objective)
    want = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective=objective)
    got = fd.trajectory(cp.asarray(t), cp.asarray(lam), cp.asarray(rho), depth=cp.asarray(depth),
                        eps=cp.asarray(eps), objective=objective, method="ode", rtol=1e-5,
                        dtype=np.float32)
    assert got.dtype == np.float32
    rel = np.abs(got.get().astype(np.float64) / want - 1.0)
    assert rel.max() < 1e-3


def test_float32_refuses_unrepresentable_values(cp):
    # every per-feature value of the domain is a normal float32; times up to 1e300 are not
    with pytest.raises(ValueError, match=r"`t` is not representable in float32; t\[2\] = 1e\+39"):
        fd.trajectory(cp.asarray([0.0, 1.0, 1e39]), cp.asarray([1.0, 1.0]), 0.5, depth=2,
                      eps=cp.asarray([1e-3, 1e-30]), method="ode", dtype=np.float32)
    # the same check for host inputs copied to the GPU
    with pytest.raises(ValueError, match=r"`t` is not representable in float32; t\[1\] = 1e\+300"):
        fd.trajectory([0.0, 1e300], [1.0, 2.0], 0.5, depth=2, eps=1e-3, method="ode",
                      dtype=np.float32, backend="gpu")


# --------------------------------------------------------------------------
# chunking (host stand-in: free memory and allocation limits are set by the test)
# --------------------------------------------------------------------------
def test_chunks_follow_free_memory(fake):
    lam, rho, depth, eps = _params(n=1000, seed=10)
    t = _times("jepa")
    whole = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa", backend="gpu")
    n_whole = len(fake.LAUNCHES)
    fake.LAUNCHES.clear()
    fake.cuda.runtime.free = 100 * (2 * t.size * 8 + 64) * 2  # about 100 features per chunk
    chunked = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="jepa", backend="gpu")
    assert n_whole == 1
    assert 8 <= len(fake.LAUNCHES) <= 12
    np.testing.assert_array_equal(chunked, whole)


def test_device_oom_halves_the_chunk(fake):
    lam, rho, depth, eps = _params(n=512, seed=11)
    t = _times("mae")
    want = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="mae", method="ode")
    fake.ALLOC_LIMIT = 64 * t.size * 8  # scratch of more than 64 features fails
    got = fd.trajectory(t, lam, rho, depth=depth, eps=eps, objective="mae", method="ode",
                        backend="gpu")
    _close(got, want)
    assert max(launch[3] for launch in fake.LAUNCHES) <= 64


def test_no_room_for_one_feature_is_a_clear_error(fake):
    fake.ALLOC_LIMIT = 8
    with pytest.raises(MemoryError, match="too little free memory for even one feature"):
        fd.trajectory(np.geomspace(1, 10, 4), [1.0, 2.0], 0.5, depth=2, eps=1e-3, backend="gpu")


def test_coalesced_layout(fake):
    """The trajectory kernel writes time-major scratch: stride 1 between features."""
    fd.trajectory(np.geomspace(1, 10, 4), np.ones(7), 0.5, depth=2, eps=1e-3, backend="gpu")
    name, grid, block, n, args = fake.LAUNCHES[-1]
    assert name == "fd_trajectory_exact" and n == 7 and block == (_gpu._BLOCK,)
    out, stride_feature, stride_time = args[8], args[9], args[10]
    assert out.shape == (4, 7) and (int(stride_feature), int(stride_time)) == (1, 7)
