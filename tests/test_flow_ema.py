"""jepa-ema gradient flow from any aligned start (``fd.flow_trajectory(objective="jepa-ema")``,
``kernels/cuda/flow.h``, issue 15).

Checked against independent references:

* from the balanced start with the target equal to the online network, the two-state
  system of ``fd.trajectory(objective="jepa-ema")`` (``kernels/cuda/ema.h``: another
  formulation, in per-layer logarithms) to 1e-10 over depths and target lags;
* the finite-learning-rate recursion (``fd.gd_trajectory``, itself equal to the full-matrix
  trainer) converges to it at first order in ``lr`` from an unbalanced start with an
  unbalanced target, at the momentum that keeps the lag ``E = L lr m / (1 - m)`` fixed;
* its end: the limit fixed by the conserved gaps (as for JEPA: ``v = rho``);
* the GPU entry point built for the host, and the CuPy stand-in: the CPU's values.
"""

from __future__ import annotations

import numpy as np
import pytest

import cuda_host
import fastdyn as fd

LAM, RHO, DEPTH = 1.3, 0.9, 3
LAYERS, DECODER, TARGET = np.array([0.6, -0.5, 0.55]), 0.3, np.array([0.5, -0.6, 0.45])


@pytest.mark.parametrize("depth", [1, 2, 5])
@pytest.mark.parametrize("ema_time", [0.5, 5.0, 50.0])
def test_balanced_start_is_the_two_state_system(depth, ema_time):
    rng = np.random.default_rng(depth)
    lam, rho, eps = 10 ** rng.uniform(-0.5, 0.5, 8), rng.uniform(0.7, 1.3, 8), 10 ** rng.uniform(-2, -1, 8)
    t_half = fd.critical_time(lam, rho, depth=depth, eps=eps, objective="jepa", p=0.5)
    t = t_half[:, None] * np.array([0.0, 1e-3, 0.1, 0.5, 1.0, 2.0, 10.0])
    for i in range(lam.size):  # one time grid per feature (the plateaus differ)
        kw = dict(depth=depth, objective="jepa-ema", eps=eps[i], ema_time=ema_time, rtol=1e-12,
                  max_steps=10**6)
        got = fd.flow_trajectory(t[i], lam[i], rho[i], **kw)
        want = fd.trajectory(t[i], lam[i], rho[i], **kw)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=0.0)
        assert want[-1] > 2 * want[0]  # it learned


@pytest.mark.parametrize("ema_time", [0.5, 3.0])
def test_gradient_descent_converges_to_it_at_first_order(ema_time):
    t = 30.0  # mid-rise; a whole number of steps at every lr below
    want = fd.flow_trajectory([t], LAM, RHO, depth=DEPTH, objective="jepa-ema", layers=LAYERS,
                              decoder=DECODER, target=TARGET, ema_time=ema_time, rtol=1e-12)[0]
    jepa = fd.flow_trajectory([t], LAM, RHO, depth=DEPTH, objective="jepa", layers=LAYERS,
                              decoder=DECODER, rtol=1e-12)[0]
    assert abs(want / jepa - 1) > 0.05  # the target's lag matters here
    errs = []
    for lr in (4e-3, 2e-3, 1e-3, 5e-4):
        k = int(round(t / (DEPTH * lr)))
        assert k * DEPTH * lr == pytest.approx(t, rel=1e-12)
        m = ema_time / (ema_time + DEPTH * lr)  # E = L lr m / (1 - m)
        assert fd.train.ema_time(lr, m, DEPTH) == pytest.approx(ema_time, rel=1e-12)
        got = fd.gd_trajectory([k], LAM, RHO, depth=DEPTH, objective="jepa-ema", lr=lr, momentum=m,
                               layers=LAYERS, decoder=DECODER, target=TARGET)[0]
        errs.append(abs(got / want - 1))
    errs = np.array(errs)
    assert 1e-8 < errs[-1] < 1e-3
    np.testing.assert_allclose(errs[:-1] / errs[1:], 2.0, atol=0.2)


def test_ends_at_the_conserved_gap_limit():
    w = fd.flow_trajectory([1e4], LAM, RHO, depth=DEPTH, objective="jepa-ema", layers=LAYERS,
                           decoder=DECODER, target=TARGET, ema_time=3.0)[0]
    want = np.prod(np.sqrt(RHO**2 + LAYERS**2 - DECODER**2))  # v = rho, a_l^2 = v^2 + c_l
    assert w == pytest.approx(want, rel=1e-9)


def test_no_lag_is_jepa():
    t = np.array([0.0, 3.0, 30.0])
    kw = dict(depth=DEPTH, layers=LAYERS, decoder=DECODER)
    np.testing.assert_array_equal(
        fd.flow_trajectory(t, LAM, RHO, objective="jepa-ema", ema_time=0.0, target=TARGET, **kw),
        fd.flow_trajectory(t, LAM, RHO, objective="jepa", **kw))


def test_per_feature_lags_broadcast():
    t = np.array([0.0, 3.0, 30.0])
    lags = np.array([0.5, 3.0, 20.0])
    got = fd.flow_trajectory(t, LAM, RHO, depth=DEPTH, objective="jepa-ema", eps=1e-2,
                             ema_time=lags)
    assert got.shape == (3, 3) and np.all(np.diff(got[:, -1]) < 0)  # a longer lag learns later
    np.testing.assert_array_equal(got[1], fd.flow_trajectory(
        t, LAM, RHO, depth=DEPTH, objective="jepa-ema", eps=1e-2, ema_time=3.0))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(objective="jepa", ema_time=1.0), ValueError, r"`ema_time` applies to objective 'jepa-ema' only"),
    (dict(objective="mae", ema_time=0.0, target=TARGET), ValueError,
     r"`target` applies to objective 'jepa-ema' only"),
    (dict(ema_time=[1.0, -1.0]), ValueError, r"`ema_time` must be in \[0, 1e\+300\].*ema_time\[1\] = -1.0"),
    (dict(target=[[0.1, 0.2, 0.0]] * 2), ValueError, r"`target` must be nonzero.*target\[0, 2\] = 0.0"),
])
def test_bad_input(kwargs, exc, match):
    args = dict(objective="jepa-ema", layers=LAYERS, decoder=DECODER, ema_time=1.0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fd.flow_trajectory([0.0, 1.0], [1.0, 2.0], RHO, depth=DEPTH, **args)


def test_step_budget_is_a_status():
    w, st = fd.flow_trajectory([0.0, 30.0], LAM, RHO, depth=DEPTH, objective="jepa-ema",
                               layers=LAYERS, decoder=DECODER, ema_time=0.01, max_steps=50,
                               return_status=True)
    assert st == fd.Status.MAX_STEPS and np.isnan(w[1]) and w[0] == pytest.approx(0.165)


def test_dask_inputs_give_the_numpy_values():
    da = pytest.importorskip("dask.array")
    lam = np.linspace(0.5, 2.0, 50)
    lags = np.linspace(0.5, 5.0, 50)
    kw = dict(depth=DEPTH, objective="jepa-ema", eps=1e-2)
    lazy = fd.flow_trajectory([0.0, 1.0, 10.0], da.from_array(lam, chunks=20), RHO,
                              ema_time=da.from_array(lags, chunks=20), **kw)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), fd.flow_trajectory(
        [0.0, 1.0, 10.0], lam, RHO, ema_time=lags, **kw))


# ---------------------------------------------------------------------------
# the GPU entry point: host build and the CuPy stand-in
# ---------------------------------------------------------------------------
def _problem(n=70, seed=21):
    rng = np.random.default_rng(seed)
    return dict(lam=10 ** rng.uniform(-1, 1, n), rho=rng.uniform(0.5, 1.5, n),
                layers=rng.uniform(0.25, 0.6, (n, 3)) * rng.choice([-1, 1], (n, 3)),
                decoder=rng.uniform(0.02, 0.2, n), target=rng.uniform(0.2, 0.6, (n, 3)),
                ema_time=10 ** rng.uniform(-1, 1.5, n))


@pytest.mark.parametrize("max_steps", [2000, 10**6])
def test_gpu_entry_point_on_the_host_equals_the_cpu_kernel(max_steps):
    p = _problem()
    n = p["lam"].size
    t = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 9)])
    want, st_want = fd.flow_trajectory(t, p["lam"], p["rho"], depth=3, objective="jepa-ema",
                                       layers=p["layers"], decoder=p["decoder"], target=p["target"],
                                       ema_time=p["ema_time"], max_steps=max_steps,
                                       return_status=True)
    if max_steps == 2000:  # a budget some features exhaust
        assert {int(s) for s in st_want} == {fd.Status.SUCCESS, fd.Status.MAX_STEPS}
    w = np.full((t.size, n), -1.0)
    status = np.full(n, -1, dtype=np.int8)
    nsteps = np.zeros(n, dtype=np.int64)
    cuda_host.call("gd_kernels.cu", "fd_flow_ema_trajectory", np.int64(n),
                   np.full(n, 3, dtype=np.int64), p["lam"], p["rho"], np.ones(n), p["ema_time"],
                   np.ascontiguousarray(p["layers"]), p["decoder"], np.ascontiguousarray(p["target"]),
                   np.int64(3), np.int64(t.size), t, np.float64(1e-10), np.int64(max_steps), w,
                   status, nsteps)
    np.testing.assert_array_equal(w.T, want)
    np.testing.assert_array_equal(status, st_want)


def test_device_inputs_give_device_results(cp):
    p = _problem(seed=22)
    t = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 9)])
    want = fd.flow_trajectory(t, p["lam"], p["rho"], depth=3, objective="jepa-ema", **{
        k: p[k] for k in ("layers", "decoder", "target", "ema_time")})
    got = fd.flow_trajectory(cp.asarray(t), cp.asarray(p["lam"]), cp.asarray(p["rho"]), depth=3,
                             objective="jepa-ema", **{k: cp.asarray(p[k]) for k in
                                                      ("layers", "decoder", "target", "ema_time")})
    assert isinstance(got, cp.ndarray)
    same = (got.get() == want) | np.isclose(got.get(), want, rtol=1e-12, atol=0.0)
    assert same.all()
