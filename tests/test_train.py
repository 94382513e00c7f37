"""The batched deep linear trainer against the theory it is meant to check.

* Gradients (eq. 20-21 and the MAE twins) against central finite differences of
  the loss, on random, unbalanced weights.
* Assumption 3.1, population gradient descent: ``||Wbar e_i||`` after ``k``
  steps against ``fastdyn.trajectory`` at ``t = depth * lr * k`` (MATH.md);
  the error is ``c * lr + O(lr^2)``: halving ``lr`` halves it, and Richardson
  extrapolation removes it.  ``t = lr * k`` (no factor ``depth``) is far off.
* Batching, user weights, rotated data bases, the Gaussian sampler, divergence,
  every bad input.
* SGD with the Gaussian initialisation of figure 5: JEPA learns features in the
  order of ``rho``, MAE in the order of ``lam``.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr

import fastdyn as fd
from fastdyn import train as tr

LAM = np.array([1.0, 0.7, 1.5])
RHO = np.array([0.9, 0.6, 0.8])
EPS = 0.3


def diag_data(lam=LAM, rho=RHO, basis=None):
    """Population covariances with features ``lam``, ``rho`` along ``basis`` columns."""
    b = np.eye(len(lam)) if basis is None else basis
    sxx = (b * (lam / rho)) @ b.T
    syx = (b * lam) @ b.T
    return sxx, syx


def private_sampler(lam, rho):
    """Independent of ``gaussian_sampler``: x_i = s_i z1, y_i = rho_i x_i + noise."""
    s2 = lam / rho

    def sample(n, rng):
        x = rng.standard_normal((n, len(lam))) * np.sqrt(s2)
        # Var(y) = rho^2 s2 + (s2 - rho^2 s2) = s2, Cov(y, x) = rho s2 = lam
        noise = rng.standard_normal((n, len(lam))) * np.sqrt(s2 * (1 - rho**2))
        return x, rho * x + noise

    return sample


# ---------------------------------------------------------------------------
# gradients against finite differences of the loss
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_gradient_matches_finite_differences(objective, depth):
    rng = np.random.default_rng(depth)
    d = 3
    a = rng.standard_normal((d, d))
    sxx = a @ a.T + np.eye(d)
    syx = rng.standard_normal((d, d))
    syy = np.eye(d) * 2.0
    layers = rng.standard_normal((1, depth, d, d)) * 0.7
    decoder = rng.standard_normal((1, d, d)) * 0.7
    # JEPA: the stop-gradient target is held at the current Wbar
    tbar = tr._product(np, layers) if objective == "jepa" else None
    code = 1 if objective == "mae" else 0

    def loss(lay, dec):
        wbar = tr._product(np, lay)
        return float(tr._loss(np, code, wbar, dec, tbar, sxx, syx, syy)[0])

    g, gv, _ = tr._gradients(np, code, layers, decoder, tbar, sxx, syx)
    h = 1e-6
    num = np.zeros_like(layers)
    for idx in np.ndindex(layers.shape):
        e = np.zeros_like(layers)
        e[idx] = h
        num[idx] = (loss(layers + e, decoder) - loss(layers - e, decoder)) / (2 * h)
    numv = np.zeros_like(decoder)
    for idx in np.ndindex(decoder.shape):
        e = np.zeros_like(decoder)
        e[idx] = h
        numv[idx] = (loss(layers, decoder + e) - loss(layers, decoder - e)) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gv, numv, rtol=1e-6, atol=1e-7)


def test_population_loss_matches_sample_average():
    """The second-moment loss equals the average over an explicit sample."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 3))
    y = rng.standard_normal((50, 3))
    layers = rng.standard_normal((1, 2, 3, 3))
    decoder = rng.standard_normal((1, 3, 3))
    wbar = layers[0, 1] @ layers[0, 0]
    cxx, cyx, cyy = x.T @ x / 50, y.T @ x / 50, y.T @ y / 50
    for code, target in [(0, wbar), (1, np.eye(3))]:
        direct = 0.5 * np.mean(np.sum((x @ (decoder[0] @ wbar).T - y @ target.T) ** 2, axis=1))
        got = tr._loss(np, code, wbar[None], decoder, None, cxx, cyx, cyy)[0]
        assert got == pytest.approx(direct, rel=1e-12)


# ---------------------------------------------------------------------------
# theory against networks: assumption 3.1, population gradient descent
# ---------------------------------------------------------------------------
def _gd_error(objective, depth, lr, t_end, basis=None, seeds=2):
    steps = int(round(t_end / (depth * lr)))
    data = diag_data(basis=basis)
    res = tr.train(data, objective=objective, depth=depth, lr=lr, steps=steps, seeds=seeds,
                   eps=EPS, record=[0, steps // 2, steps], basis=basis)
    ode = fd.trajectory(res.t, LAM, RHO, depth=depth, eps=EPS, objective=objective)
    return res, res.w - ode.T[None]


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_gradient_descent_matches_ode_with_error_linear_in_lr(objective, depth):
    t_end = 8.0 * depth          # the per-layer rates scale like lam / L
    lrs = [0.02 / depth, 0.01 / depth, 0.005 / depth]
    runs = [_gd_error(objective, depth, lr, t_end) for lr in lrs]
    errs = [r[1] for r in runs]
    size = [np.abs(e).max() for e in errs]
    # the weights moved far from eps: the comparison is not trivial
    assert np.abs(runs[-1][0].w[:, -1] - EPS).max() > 0.08
    assert size[0] < 0.02
    # the error is first order in lr: halving lr halves it
    for a, b in zip(size, size[1:]):
        assert 1.8 < a / b < 2.2
    # Richardson: 2 e(lr/2) - e(lr) is O(lr^2), much smaller than e(lr/2)
    extrapolated = np.abs(2 * errs[2] - errs[1]).max()
    assert extrapolated < 0.05 * size[2]


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_gradient_flow_extrapolation_reaches_ode_and_needs_factor_depth(objective):
    """MATH.md's full-matrix check (d = 3, L = 3): Richardson to O(lr^3)."""
    depth, t_end = 3, 9.0
    lrs = [0.004, 0.002, 0.001]
    runs = [_gd_error(objective, depth, lr, t_end, seeds=1) for lr in lrs]
    e1, e2, e3 = (r[1] for r in runs)
    # w(lr) = w0 + c1 lr + c2 lr^2: eliminate both terms
    extrapolated = (8 * e3 - 6 * e2 + e1) / 3
    assert np.abs(extrapolated).max() < 1e-7
    # t = tau (forgetting the factor L of appendix B.1) misses by orders of magnitude more
    res = runs[-1][0]
    wrong = fd.trajectory(res.t / depth, LAM, RHO, depth=depth, eps=EPS, objective=objective)
    assert np.abs(res.w[0] - wrong.T).max() > 1e-2


def test_rotated_basis_is_recorded_in_the_given_basis():
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    _, err_rot = _gd_error("jepa", 2, 0.0025, 8.0, basis=basis)
    _, err_std = _gd_error("jepa", 2, 0.0025, 8.0)
    assert np.abs(err_rot).max() < 2e-3
    np.testing.assert_allclose(err_rot, err_std, atol=1e-10)


def test_default_basis_is_eigenvectors_of_sxx():
    res = tr.train(diag_data(), objective="mae", depth=2, lr=0.01, steps=10, record=[10])
    # eigh orders eigenvalues lam/rho ascending: 1.111, 1.1667, 1.875 -> features 0, 1, 2
    ref = tr.train(diag_data(), objective="mae", depth=2, lr=0.01, steps=10, record=[10],
                   basis=np.eye(3))
    np.testing.assert_allclose(np.sort(res.w[0, 0]), np.sort(ref.w[0, 0]), rtol=1e-12)


# ---------------------------------------------------------------------------
# batching, user weights, EMA with momentum 0
# ---------------------------------------------------------------------------
def test_batched_seeds_equal_separate_runs():
    kw = dict(objective="mae", depth=3, lr=0.01, steps=50, record=[0, 25, 50])
    start = tr.train((*diag_data(), np.eye(3)), steps=0, objective="mae", depth=3, lr=0.01,
                     seeds=3, init="gaussian", seed=7, record=[0])
    batch = tr.train((*diag_data(), np.eye(3)), seeds=3, init=(start.layers, start.decoder), **kw)
    for s in range(3):
        one = tr.train((*diag_data(), np.eye(3)), init=(start.layers[s], start.decoder[s]), **kw)
        np.testing.assert_allclose(one.w[0], batch.w[s], rtol=1e-12)
        np.testing.assert_allclose(one.loss[0], batch.loss[s], rtol=1e-12)
    # different seeds got different initialisations
    assert not np.allclose(batch.w[0], batch.w[1])


def test_continuing_from_returned_weights_equals_one_run():
    full = tr.train(diag_data(), objective="jepa", depth=2, lr=0.01, steps=40, seeds=2,
                    record=[40])
    half = tr.train(diag_data(), objective="jepa", depth=2, lr=0.01, steps=20, seeds=2,
                    record=[20])
    rest = tr.train(diag_data(), objective="jepa", depth=2, lr=0.01, steps=20, seeds=2,
                    init=(half.layers, half.decoder), record=[20])
    np.testing.assert_allclose(rest.w, full.w, rtol=1e-13)


def test_ema_with_momentum_zero_is_jepa():
    kw = dict(depth=3, lr=0.01, steps=60, seeds=2, init="gaussian", seed=2, record=[0, 30, 60])
    jepa = tr.train(diag_data(), objective="jepa", **kw)
    ema = tr.train(diag_data(), objective="jepa-ema", momentum=0.0, **kw)
    np.testing.assert_array_equal(ema.w, jepa.w)
    assert ema.ema_time == 0.0


def test_ema_time_mapping():
    assert tr.ema_time(0.01, 0.9, 5) == pytest.approx(5 * 0.01 * 9.0)
    assert tr.ema_time(0.5, 0.0, 3) == 0.0


# ---------------------------------------------------------------------------
# SGD, samplers, losses
# ---------------------------------------------------------------------------
def test_gaussian_sampler_covariances():
    sxx, syx = diag_data()
    syy = np.diag(LAM / RHO)
    sample = tr.gaussian_sampler(sxx, syx, syy)
    x, y = sample(200_000, np.random.default_rng(0))
    assert x.shape == y.shape == (200_000, 3)
    n = x.shape[0]
    # 5 standard errors of a sample covariance of unit-order entries
    tol = 5 * 2 / math.sqrt(n)
    np.testing.assert_allclose(x.T @ x / n, sxx, atol=tol)
    np.testing.assert_allclose(y.T @ x / n, syx, atol=tol)
    np.testing.assert_allclose(y.T @ y / n, syy, atol=tol)


def test_sgd_with_large_batches_tracks_population_gd():
    kw = dict(objective="mae", depth=2, lr=0.02, steps=150, eps=EPS, seed=4, record=[150])
    pop = tr.train(diag_data(), **kw)
    sgd = tr.train(private_sampler(LAM, RHO), batch_size=20_000, seeds=2, **kw)
    assert sgd.loss is not None and sgd.loss.shape == (2, 1)
    np.testing.assert_allclose(sgd.w, np.broadcast_to(pop.w, sgd.w.shape), atol=0.02)
    # and the run actually moved the weights
    assert np.all(np.abs(pop.w - EPS) > 0.1)


def test_population_loss_needs_syy_and_decreases():
    no_syy = tr.train(diag_data(), objective="mae", depth=2, lr=0.02, steps=50)
    assert no_syy.loss is None
    sxx, syx = diag_data()
    res = tr.train((sxx, syx, sxx), objective="mae", depth=2, lr=0.02, steps=200)
    assert np.all(np.diff(res.loss[0]) <= 1e-15)
    # MAE population minimum: 1/2 tr(Syy) - 1/2 sum lam^2 / s^2
    assert res.loss[0, -1] > 0.5 * np.trace(sxx) - 0.5 * np.sum(LAM * RHO) - 1e-12


# ---------------------------------------------------------------------------
# divergence
# ---------------------------------------------------------------------------
def test_divergent_learning_rate_stops_seed_with_status_and_estimate():
    sxx, syx = diag_data()
    with pytest.warns(RuntimeWarning, match="largest stable learning rate"):
        res = tr.train((sxx, syx), objective="mae", depth=2, lr=5.0, steps=200, seeds=2,
                       init="gaussian", seed=0)
    assert np.all(res.status == tr.STATUS_DIVERGED)
    assert np.all(res.stop_step < 200)
    assert np.all(np.isfinite(res.w)) and np.all(np.isfinite(res.layers))
    assert 0.0 < res.max_stable_lr < 5.0
    # the estimate is meaningful: well below it, training converges to the fixed point
    ok = tr.train((sxx, syx), objective="mae", depth=2, lr=0.5 * res.max_stable_lr, steps=3000,
                  eps=0.3, record=[3000])
    assert np.all(ok.status == tr.STATUS_OK)
    np.testing.assert_allclose(ok.w[0, 0], RHO ** (2 / 3), rtol=1e-6)
    # and a little above it gradient descent does not settle
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bad = tr.train((sxx, syx), objective="mae", depth=2, lr=1.5 * res.max_stable_lr,
                       steps=3000, eps=0.3, record=[2999, 3000])
    assert bad.status[0] == tr.STATUS_DIVERGED or not np.allclose(bad.w[0, 1], RHO ** (2 / 3),
                                                                     rtol=1e-3)


def test_stable_run_has_no_estimate_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = tr.train(diag_data(), objective="jepa", depth=2, lr=0.01, steps=5)
    assert res.max_stable_lr is None and np.all(res.status == 0)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
GOOD = dict(objective="jepa", depth=2, lr=0.01, steps=5)


@pytest.mark.parametrize("change, exc, match", [
    (dict(objective="byol"), ValueError, "`objective` must be"),
    (dict(objective=3), TypeError, "`objective` must be a str"),
    (dict(depth=0), ValueError, "`depth` must be positive; got 0"),
    (dict(depth=2.0), TypeError, "`depth` must be an int"),
    (dict(lr=-1.0), ValueError, "`lr` must be positive and finite; got -1.0"),
    (dict(lr=math.nan), ValueError, "`lr` must be positive and finite"),
    (dict(steps=-1), ValueError, "`steps` must be non-negative; got -1"),
    (dict(seeds=0), ValueError, "`seeds` must be positive; got 0"),
    (dict(eps=0.0), ValueError, "`eps` must be positive"),
    (dict(record=[0, 3, 3]), ValueError, r"`record` must be strictly increasing; record\[2\] = 3"),
    (dict(record=[0, 9]), ValueError, r"`record` must be in \[0, steps\] = \[0, 5\]; record\[1\] = 9"),
    (dict(record=[0.5]), TypeError, "`record` must be an array of integer steps"),
    (dict(init="xavier"), ValueError, "`init` must be 'orthogonal', 'gaussian'"),
    (dict(init=(np.zeros((3, 3, 3)), np.zeros((3, 3)))), ValueError, r"`init\[0\]` \(layers\)"),
    (dict(momentum=0.5), ValueError, "`momentum` is only used by objective 'jepa-ema'"),
    (dict(objective="jepa-ema"), TypeError, "needs `momentum`"),
    (dict(objective="jepa-ema", momentum=1.0), ValueError, r"`momentum` must be in \[0, 1\); got 1.0"),
    (dict(basis=np.eye(4)), ValueError, r"`basis` must have shape \(d, K\) = \(3, K\)"),
    (dict(backend="tpu"), ValueError, "`backend` must be 'cpu' or 'gpu'"),
    (dict(dtype=np.int32), TypeError, "`dtype` must be float64 or float32"),
    (dict(batch_size=0), ValueError, "`batch_size` must be positive; got 0"),
])
def test_bad_input_names_parameter(change, exc, match):
    with pytest.raises(exc, match=match):
        tr.train(diag_data(), **{**GOOD, **change})


@pytest.mark.parametrize("data, exc, match", [
    ((np.eye(3), np.array([[1.0, np.nan, 0], [0, 1, 0], [0, 0, 1]])), ValueError,
     r"`syx` must be finite; syx\[0, 1\] = nan"),
    ((np.eye(3), np.eye(2)), ValueError, r"`syx` must have shape \(3, 3\)"),
    ((np.ones(3), np.eye(3)), ValueError, "`sxx` must be a square matrix"),
    ((np.eye(3),), ValueError, "must be \\(sxx, syx\\)"),
    (("a", np.eye(3)), TypeError, "`sxx` must be real-valued"),
    (lambda n, rng: (np.zeros((n, 3)), np.zeros((n, 3))), TypeError,
     "population gradient descent"),
])
def test_bad_data(data, exc, match):
    with pytest.raises(exc, match=match):
        tr.train(data, **GOOD)


def test_sgd_without_sampler_is_refused():
    with pytest.raises(TypeError, match="SGD \\(batch_size given\\) needs `data` with a sampler"):
        tr.train(diag_data(), batch_size=10, **GOOD)


def test_gaussian_sampler_rejects_indefinite_covariance():
    with pytest.raises(ValueError, match="positive semi-definite"):
        tr.gaussian_sampler(np.eye(2), 2 * np.eye(2), np.eye(2))


@given(lr=st.floats(1e-4, 0.05), depth=st.integers(1, 4),
       objective=st.sampled_from(["jepa", "mae", "jepa-ema"]), m=st.floats(0.0, 0.99))
def test_records_are_finite_with_status_over_the_domain(lr, depth, objective, m):
    """Any learning rate and initial scale: finite output, status 0 or 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = tr.train(diag_data(), objective=objective, depth=depth, lr=lr * 200, steps=30,
                       init="gaussian", momentum=m if objective == "jepa-ema" else None,
                       record=[0, 15, 30])
    assert np.all(np.isfinite(res.w)) and set(res.status.tolist()) <= {0, 1}
    assert res.t[-1] == pytest.approx(depth * lr * 200 * 30)


# ---------------------------------------------------------------------------
# SGD, Gaussian initialisation: learning order (figures 1 and 5)
# ---------------------------------------------------------------------------
def _learning_steps(d, steps, every, seeds=1, lr=0.05, level=0.3):
    """Learning step of every feature for JEPA and MAE on distribution 2.

    ``lam`` rises while ``rho`` falls (figure 1 (d)-(f)), depth 5, minibatch
    1000, Gaussian initialisation.  As in the figures a feature counts as
    learned once ``||Wbar e_i||`` reaches ``level`` (features never reaching
    it get step ``inf``, ranked last).
    """
    lam = np.linspace(0.5, 2.0, d)
    rho = np.linspace(1.0, 0.6, d)
    sample = private_sampler(lam, rho)
    out = {}
    for objective in ("jepa", "mae"):
        res = tr.train(sample, objective=objective, depth=5, lr=lr, steps=steps,
                       batch_size=1000, seeds=seeds, init="gaussian", seed=1,
                       record=np.arange(0, steps + 1, every))
        assert np.all(res.status == 0)
        hit = res.w >= level
        out[objective] = np.where(hit.any(axis=1), np.argmax(hit, axis=1) * every, np.inf)
    return lam, rho, out


def _assert_orders(lam, rho, steps_by_objective, margin):
    for s in range(steps_by_objective["jepa"].shape[0]):
        jepa, mae = steps_by_objective["jepa"][s], steps_by_objective["mae"][s]
        # JEPA: higher rho learned first (negative correlation of steps with rho) ...
        assert spearmanr(jepa, rho)[0] < -margin
        # ... MAE: higher lam learned first, although rho falls as lam rises
        assert spearmanr(mae, lam)[0] < -margin


def test_sgd_learning_order_fast():
    """Reduced figure 5 (d = 12, 1500 steps): the orders with a margin."""
    lam, rho, out = _learning_steps(d=12, steps=1500, every=10)
    _assert_orders(lam, rho, out, margin=0.4)   # measured: -0.52 (JEPA), -0.63 (MAE)


@pytest.mark.slow
def test_sgd_learning_order_figure5():
    """Figure 5 at full size: d = 100, depth 5, minibatch 1000, 5000 steps, 2 seeds."""
    lam, rho, out = _learning_steps(d=100, steps=5000, every=10, seeds=2)
    _assert_orders(lam, rho, out, margin=0.7)
