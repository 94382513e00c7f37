"""Tests of fastdyn.models: closed forms against independent derivations,
samplers against the closed forms at the Monte Carlo rate, estimators, input
validation.

Independent references used here:
- random masking: the second moments as a brute-force expectation over all
  ``2^d`` masks (sum of mask probabilities times the masked ``E[z z^T]``);
- temporal: the stationary covariance of the amplitude process from the
  discrete Lyapunov equation (scipy), and the sampler's own AR(1) recursion
  turned into a matrix by feeding it unit impulses;
- Monte Carlo: standard errors estimated from the samples (per-sample spread,
  or batch means for one correlated sequence), never guessed; a separate test
  checks that the standard errors are calibrated (mean squared z-score ~ 1),
  so the "within 4 standard errors" checks cannot pass by inflated errors.
"""

from __future__ import annotations

import itertools
import math
import sys
import types

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import fastdyn.models as fm

Z_FIXED = 4.0  # fixed-seed Monte Carlo checks: within 4 standard errors (figure 3)
# hypothesis runs up to 2000 examples x ~10 features under the thorough profile:
# 6 standard errors keep the family-wise false-alarm rate below 1e-5
Z_PROPERTY = 6.0


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def joint_min_eig(model) -> float:
    """Smallest eigenvalue of the joint covariance of (x, y), relative to its scale."""
    j = np.block([[model.sxx, model.syx.T], [model.syx, model.syy]])
    ev = np.linalg.eigvalsh(j)
    return ev[0] / max(1.0, ev[-1])


def batch_means(x, y, basis, batches=40):
    """Standard errors of (lam, rho) from batch means of consecutive rows."""
    n = x.shape[0] // batches * batches
    est = np.array(
        [fm.empirical_lam_rho(xb, yb, basis) for xb, yb in zip(
            np.split(x[:n], batches), np.split(y[:n], batches))]
    )  # (batches, 2, k)
    return est.std(axis=0, ddof=1) / math.sqrt(batches)


def assert_within(est, ref, se, z, what):
    """|est - ref| <= z * se everywhere; where the estimate is exact (se at
    rounding level, e.g. y = rho x on the Gaussian boundary) it must equal ref
    to rounding."""
    est, ref, se = np.asarray(est), np.asarray(ref), np.asarray(se)
    assert np.all(np.isfinite(est)) and np.all(se >= 0), (what, est, se)
    exact = se <= 1e-13 * np.abs(ref)
    np.testing.assert_allclose(est[exact], ref[exact], rtol=1e-12, atol=0)
    zs = np.abs(est - ref)[~exact] / se[~exact]
    assert zs.size == 0 or zs.max() <= z, (
        f"{what}: |z| = {zs.max():.2f} > {z}; est {est}, closed form {ref}, se {se}"
    )


def brute_force_masking(szz, f):
    """E[x x^T], E[y x^T], E[y y^T] summed over all 2^d masks."""
    d = szz.shape[0]
    emm = np.zeros((d, d))  # E[m m^T]
    e1m1m = np.zeros((d, d))  # E[(1-m)(1-m)^T]
    e1mm = np.zeros((d, d))  # E[(1-m) m^T]
    for bits in itertools.product((0.0, 1.0), repeat=d):
        m = np.array(bits)
        p = f ** m.sum() * (1 - f) ** (d - m.sum())
        emm += p * np.outer(m, m)
        e1m1m += p * np.outer(1 - m, 1 - m)
        e1mm += p * np.outer(1 - m, m)
    return emm * szz, e1mm * szz, e1m1m * szz


class _Dev:
    """A strict stand-in for a device (CuPy) array: wraps a NumPy array and
    refuses every implicit host/device mix (a NumPy array operand, assigning
    a NumPy array, ``np.asarray`` of it), as CuPy does."""

    __array_priority__ = 1000

    def __init__(self, a):
        self._a = np.asarray(a)

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit device -> host conversion")

    @staticmethod
    def _un(o):
        if isinstance(o, _Dev):
            return o._a
        if isinstance(o, np.ndarray) and o.ndim > 0:
            raise TypeError("host array mixed into a device expression")
        return o

    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    dtype = property(lambda self: self._a.dtype)
    T = property(lambda self: _Dev(self._a.T))

    def get(self):
        return self._a.copy()

    def copy(self):
        return _Dev(self._a.copy())

    def astype(self, dt):
        return _Dev(self._a.astype(dt))

    def __float__(self):
        return float(self._a)

    def __getitem__(self, k):
        return _Dev(self._a[k])

    def __setitem__(self, k, val):
        self._a[k] = self._un(val)

    def __neg__(self):
        return _Dev(-self._a)


def _dev_op(name):
    def op(self, other):
        return _Dev(getattr(self._a, name)(_Dev._un(other)))
    return op


for _name in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv",
              "pow", "matmul", "rmatmul", "lt", "gt", "eq"):
    setattr(_Dev, f"__{_name}__", _dev_op(f"__{_name}__"))
for _name in ("iadd", "isub", "imul"):
    setattr(_Dev, f"__{_name}__", lambda self, o, _n=_name: (getattr(self._a, f"__{_n}__")(_Dev._un(o)), self)[1])
for _name in ("mean", "sum", "min", "max"):
    setattr(_Dev, _name, lambda self, *a, _n=_name, **k: _Dev(getattr(self._a, _n)(*a, **k)))


class _DevGenerator:
    def __init__(self, seed):
        self._g = np.random.default_rng(seed)

    def standard_normal(self, size):
        return _Dev(self._g.standard_normal(size))

    def random(self, size):
        return _Dev(self._g.random(size))


def _dev_asarray(a, dtype=None):
    if isinstance(a, _Dev):
        return a if dtype is None else a.astype(dtype)
    return _Dev(np.array(a, dtype=dtype))


fake_dev = types.ModuleType("fake_dev_module")
fake_dev.ndarray = _Dev
fake_dev.asarray = _dev_asarray
fake_dev.where = lambda c, a, b: _Dev(np.where(_Dev._un(c), _Dev._un(a), _Dev._un(b)))
fake_dev.ones_like = lambda a: _Dev(np.ones_like(a._a))
fake_dev.random = types.SimpleNamespace(default_rng=_DevGenerator)
_Dev.__module__ = "fake_dev_module"


@pytest.fixture
def dev(monkeypatch):
    """The strict fake device module, installed as ``cupy``: fastdyn._arrays detects
    device arrays as instances of ``sys.modules["cupy"].ndarray``, as for real CuPy."""
    monkeypatch.setitem(sys.modules, "fake_dev_module", fake_dev)
    monkeypatch.setitem(sys.modules, "cupy", fake_dev)
    return fake_dev


# --------------------------------------------------------------------------
# Gaussian model
# --------------------------------------------------------------------------


def test_gaussian_moments_and_default_syy():
    lam = np.array([0.5, 1.0, 2.0, -0.3])
    rho = np.array([0.25, 0.9, 3.0, -0.6])
    g = fm.gaussian(lam, rho)
    np.testing.assert_array_equal(g.basis, np.eye(4))
    np.testing.assert_allclose(np.diag(g.sxx), [2.0, 1.0 / 0.9, 2.0 / 3.0, 0.5], rtol=1e-15)
    np.testing.assert_array_equal(g.syx, np.diag(lam))
    # |rho| <= 1: y has the variance of x; rho > 1: smallest valid, lam*rho
    np.testing.assert_allclose(np.diag(g.syy), [2.0, 1.0 / 0.9, 6.0, 0.5], rtol=1e-15)
    assert g.dim == 4 and g.lam.shape == g.rho.shape == (4,)
    assert joint_min_eig(g) >= -1e-15


def test_gaussian_boundary_syy_is_exact_regression():
    lam, rho = np.array([1.5, 0.2]), np.array([0.5, 4.0])
    g = fm.gaussian(lam, rho, syy=lam**2 / (lam / rho))  # = lam*rho up to rounding
    x, y = g.sample(1000, rng=0)
    np.testing.assert_array_equal(y, x * rho)


def test_gaussian_scalar_broadcast():
    g = fm.gaussian(2.0, [0.5, 0.25])
    np.testing.assert_array_equal(g.lam, [2.0, 2.0])
    assert g.dim == 2


def test_model_arrays_are_read_only():
    g = fm.gaussian([1.0], [0.5])
    with pytest.raises(ValueError):
        g.lam[0] = 3.0


# --------------------------------------------------------------------------
# random masking (theorem C.1)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factor_var, noise_var, f",
    [
        ([4.0, 1.0, 0.0, 3.0], 0.5, 0.3),
        ([1.0, 1.0, 1.0, 1.0], 0.0, 0.5),
        ([9.0, 0.0, 0.0, 0.0, 2.0, 0.1, 0.0, 5.0], 1.0, 0.8),
        ([2.0], 0.25, 0.1),
    ],
)
def test_masking_against_brute_force_over_masks(factor_var, noise_var, f):
    check_masking(np.array(factor_var), noise_var, f)


@given(
    factor_var=st.lists(st.floats(0.0, 10.0), min_size=4, max_size=4),
    noise_var=st.floats(0.0, 5.0),
    f=st.floats(0.01, 0.99),
)
def test_masking_against_brute_force_property(factor_var, noise_var, f):
    if sum(factor_var) + noise_var < 1e-3:
        return
    check_masking(np.array(factor_var), noise_var, f)


def check_masking(fv, noise_var, f):
    d = fv.shape[0]
    model = fm.random_masking(fv, noise_var, f)
    h = scipy.linalg.hadamard(d) / math.sqrt(d)
    np.testing.assert_allclose(model.basis, h, rtol=0, atol=1e-15)
    szz = h @ np.diag(fv) @ h.T + noise_var * np.eye(d)  # eq. 131
    sxx, syx, syy = brute_force_masking(szz, f)
    scale = fv.max() + noise_var
    for got, ref in ((model.sxx, sxx), (model.syx, syx), (model.syy, syy)):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13 * scale)
    # simultaneous diagonalisation in the basis b_k, with the closed forms
    px, pyx = h.T @ sxx @ h, h.T @ syx @ h
    np.testing.assert_allclose(px - np.diag(np.diag(px)), 0, atol=1e-13 * scale)
    np.testing.assert_allclose(pyx - np.diag(np.diag(pyx)), 0, atol=1e-13 * scale)
    np.testing.assert_allclose(model.lam, np.diag(pyx), rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(model.sigma2, np.diag(px), rtol=1e-12)
    np.testing.assert_allclose(model.rho, np.diag(pyx) / np.diag(px), rtol=0, atol=1e-11)
    assert joint_min_eig(model) >= -1e-13


def test_masking_custom_basis_with_equal_variances():
    q, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((3, 3)))
    model = fm.random_masking([2.0, 2.0, 2.0], 1.0, 0.4, basis=q)
    np.testing.assert_allclose(model.lam, 0.0, atol=1e-15)
    np.testing.assert_allclose(model.sigma2, 0.16 * 2 + 0.4 + 0.24 * 2, rtol=1e-14)


# --------------------------------------------------------------------------
# temporal model (appendix C.2)
# --------------------------------------------------------------------------


def check_temporal(model):
    """Moments from the Lyapunov equation of the amplitude process, closed forms from them."""
    v, gam = model.images, model.gamma
    a = np.diag(gam)
    p = scipy.linalg.solve_discrete_lyapunov(a, np.diag(1 - gam**2))  # Cov(u_t), stationary
    noise = np.diag(model.noise_std[model.region] ** 2)
    sxx = v.T @ p @ v + noise  # Cov(z_t)
    syx = v.T @ (a @ p) @ v  # E[z_{t+1} z_t^T], u_{t+1} = A u_t + innovation
    np.testing.assert_allclose(model.sxx, sxx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.syx, syx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.syy, sxx, rtol=1e-12, atol=1e-14)
    e = v.T / np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(model.basis, e, rtol=1e-14)
    lam = np.einsum("ia,ij,ja->a", e, syx, e)
    rho = lam / np.einsum("ia,ij,ja->a", e, sxx, e)
    np.testing.assert_allclose(model.lam, lam, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(model.rho, rho, rtol=1e-12, atol=1e-15)
    # the image directions are eigenvectors of both (eq. 139 with disjoint regions)
    for mat in (sxx, syx):
        r = mat @ e - e * np.einsum("ia,ij,ja->a", e, mat, e)
        np.testing.assert_allclose(r, 0, atol=1e-13 * max(1.0, np.abs(mat).max()))
    assert fm.offdiagonal_error(model.sxx, model.syx) <= 1e-12
    assert joint_min_eig(model) >= -1e-13


def test_temporal_figure3_defaults():
    model = fm.temporal()
    assert model.dim == 32 and model.basis.shape == (32, 2)
    np.testing.assert_allclose(model.lam, [0.99, 0.95], rtol=1e-15)
    np.testing.assert_allclose(model.rho, [0.99 / 2, 0.95 / 1.25], rtol=1e-15)
    assert model.lam[0] > model.lam[1] and model.rho[0] < model.rho[1]  # figure 3(e)
    check_temporal(model)


@given(
    data=st.data(),
    m=st.integers(1, 4),
    width=st.integers(1, 4),
)
def test_temporal_against_lyapunov_property(data, m, width):
    gam = np.array(data.draw(st.lists(st.floats(-0.999, 0.999), min_size=m, max_size=m)))
    sig = np.array(data.draw(st.lists(st.floats(0.0, 3.0), min_size=m, max_size=m)))
    vals = data.draw(st.lists(st.floats(0.1, 3.0), min_size=m * width, max_size=m * width))
    images = np.zeros((m, m * width))
    for a in range(m):
        images[a, a * width:(a + 1) * width] = vals[a * width:(a + 1) * width]
    check_temporal(fm.temporal(images, gam, sig))


@pytest.mark.parametrize("gamma", [0.99, 0.5, -0.7, 0.0])
@pytest.mark.parametrize("scan", [False, True])
def test_ar1_recursion_is_stationary(gamma, scan):
    """The sampler's recursion as a matrix (unit impulses in) has the
    stationary AR(1) covariance gamma^|t - s| (eq. 135, 137) exactly."""
    t = 64
    eta = np.eye(t)  # column j: impulse at time j
    gam = np.full(t, gamma)
    lmat = fm._ar1_scan(eta, gam, np) if scan else fm._ar1(eta, gam, np)
    cov = lmat @ lmat.T
    lag = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    np.testing.assert_allclose(cov, float(gamma) ** lag, rtol=0, atol=1e-14)


def test_scan_equals_sequential_recursion():
    eta = np.random.default_rng(3).standard_normal((5000, 3))
    gam = np.array([0.999, 0.5, -0.9])
    np.testing.assert_allclose(fm._ar1_scan(eta, gam, np), fm._ar1(eta, gam, np), rtol=0, atol=1e-12)


wide = st.floats(1e-300, 1e300).map(float) | st.floats(-1e300, -1e-300)


@given(lam=st.lists(wide, min_size=1, max_size=3), rho=wide, v=wide, g=st.floats(-0.9999, 0.9999),
       sig=st.floats(0, 1e300), fv=st.lists(st.floats(0, 1e300), min_size=4, max_size=4))
def test_extreme_parameters_give_finite_models_or_valueerror(lam, rho, v, g, sig, fv):
    """Over the whole float64 range: a model with finite attributes, or a
    ValueError naming the problem; never a NaN or inf in a model."""
    makers = [
        lambda: fm.gaussian(lam, rho),
        lambda: fm.temporal([[v, 0.0], [0.0, 1.0]], [g, 0.5], [sig, 1.0]),
        lambda: fm.random_masking(fv, sig, 0.3),
    ]
    for make in makers:
        try:
            model = make()
        except ValueError:
            continue
        for name in ("lam", "rho", "basis", "sxx", "syx", "syy"):
            assert np.all(np.isfinite(getattr(model, name))), name


# --------------------------------------------------------------------------
# Monte Carlo rate: empirical lam, rho -> closed forms
# --------------------------------------------------------------------------

MODELS = {
    "gaussian": lambda: fm.gaussian(
        [0.5, 1.0, 2.0, 0.3, 1.2], [0.9, 0.5, 0.3, 2.0, 0.7], syy=[1.0, 3.0, 7.0, 1.0, 2.0]
    ),
    "masking": lambda: fm.random_masking([4.0, 1.0, 0.0, 3.0, 2.0, 0.5, 1.0, 5.0], 0.5, 0.3),
    "temporal": fm.temporal,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_monte_carlo_rate_iid(name):
    model = MODELS[name]()
    x, y = model.sample(40_000, rng=11)
    assert x.shape == y.shape == (40_000, model.dim) and x.dtype == np.float64
    lam, rho, lam_se, rho_se = fm.empirical_lam_rho(x, y, model.basis, return_stderr=True)
    ok = model.lam != 0  # a zero-lam masking factor: rho is estimated exactly 0 +- se too
    assert_within(lam, model.lam, lam_se, Z_FIXED, "lam")
    assert_within(rho[ok], model.rho[ok], rho_se[ok], Z_FIXED, "rho")


def test_monte_carlo_rate_one_sequence():
    """One sequence (figure 3(e)): consecutive pairs are correlated, standard
    errors from batch means of 5000 steps (50 x the correlation time)."""
    model = fm.temporal()
    x, y = model.sample(200_000, rng=12, contiguous=True)
    lam, rho = fm.empirical_lam_rho(x, y, model.basis)
    se = batch_means(x, y, model.basis)
    assert_within(lam, model.lam, se[0], Z_FIXED, "lam")
    assert_within(rho, model.rho, se[1], Z_FIXED, "rho")
    np.testing.assert_array_equal(x[1:], y[:-1])  # y is the next frame


@pytest.mark.parametrize("which", ["gaussian", "masking"])
def test_standard_errors_are_calibrated(which):
    """Mean squared z-score over many features ~ 1 (chi^2_1 mean): the
    standard errors are neither too small (false alarms) nor inflated
    (tests that cannot fail).  k features give sd sqrt(2/k) of the mean."""
    if which == "gaussian":
        r = np.random.default_rng(7)
        model = fm.gaussian(r.uniform(0.2, 2, 256), r.uniform(0.1, 0.95, 256))
    else:
        model = fm.random_masking(np.random.default_rng(8).uniform(0, 4, 128), 0.5, 0.4)
    x, y = model.sample(20_000, rng=9)
    lam, rho, lam_se, rho_se = fm.empirical_lam_rho(x, y, model.basis, return_stderr=True)
    k = model.lam.shape[0]
    tol = 4 * math.sqrt(2 / k)
    for est, ref, se in ((lam, model.lam, lam_se), (rho, model.rho, rho_se)):
        z2 = np.mean(((est - ref) / se) ** 2)
        assert abs(z2 - 1) < tol, z2


@given(
    lam=st.lists(st.floats(0.05, 5.0), min_size=1, max_size=6),
    rho_frac=st.floats(0.05, 2.0),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=25)
def test_monte_carlo_gaussian_property(lam, rho_frac, seed):
    lam = np.array(lam)
    rho = rho_frac * np.linspace(0.5, 1.0, lam.shape[0])
    model = fm.gaussian(lam, rho)
    x, y = model.sample(4000, rng=seed)
    est = fm.empirical_lam_rho(x, y, model.basis, return_stderr=True)
    assert_within(est[0], model.lam, est[2], Z_PROPERTY, "lam")
    # rho > 1 gives y = rho x exactly (default syy): se 0 and rho exact
    assert_within(est[1], model.rho, est[3], Z_PROPERTY, "rho")


@given(
    gam=st.lists(st.floats(-0.95, 0.95), min_size=1, max_size=3),
    sig=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=25)
def test_monte_carlo_temporal_property(gam, sig, seed):
    m = len(gam)
    images = np.kron(np.eye(m), np.array([[1.0, 0.5, -0.7]]))
    model = fm.temporal(images, gam, np.full(m, sig))
    x, y = model.sample(4000, rng=seed)
    lam, rho, lam_se, rho_se = fm.empirical_lam_rho(x, y, model.basis, return_stderr=True)
    assert_within(lam, model.lam, lam_se, Z_PROPERTY, "lam")
    assert_within(rho, model.rho, rho_se, Z_PROPERTY, "rho")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_monte_carlo_500k_figure3(name):
    model = MODELS[name]()
    x, y = model.sample(500_000, rng=21)
    lam, rho, lam_se, rho_se = fm.empirical_lam_rho(x, y, model.basis, return_stderr=True)
    ok = model.lam != 0
    assert_within(lam, model.lam, lam_se, Z_FIXED, "lam")
    assert_within(rho[ok], model.rho[ok], rho_se[ok], Z_FIXED, "rho")


@pytest.mark.slow
def test_monte_carlo_500k_one_sequence_figure3():
    model = fm.temporal()
    x, y = model.sample(500_000, rng=22, contiguous=True)
    lam, rho = fm.empirical_lam_rho(x, y, model.basis)
    se = batch_means(x, y, model.basis, batches=50)
    assert_within(lam, model.lam, se[0], Z_FIXED, "lam")
    assert_within(rho, model.rho, se[1], Z_FIXED, "rho")
    # 500k samples resolve the closed forms to about 1%
    np.testing.assert_allclose(lam, model.lam, rtol=0.03)


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------


def test_empirical_covariances_match_explicit_sums():
    r = np.random.default_rng(1)
    x, y = r.standard_normal((50, 3)), r.standard_normal((50, 3))
    sxx, syx = fm.empirical_covariances(x, y)
    ref_xx = sum(np.outer(a, a) for a in x) / 50
    ref_yx = sum(np.outer(b, a) for a, b in zip(x, y)) / 50
    np.testing.assert_allclose(sxx, ref_xx, rtol=1e-13)
    np.testing.assert_allclose(syx, ref_yx, rtol=1e-13)
    np.testing.assert_array_equal(sxx, sxx.T)


def test_empirical_lam_rho_is_quadratic_form_of_covariances():
    r = np.random.default_rng(2)
    x, y = r.standard_normal((200, 4)), r.standard_normal((200, 4))
    q, _ = np.linalg.qr(r.standard_normal((4, 4)))
    e = q[:, :3]
    lam, rho = fm.empirical_lam_rho(x, y, e)
    sxx, syx = fm.empirical_covariances(x, y)
    np.testing.assert_allclose(lam, np.einsum("ia,ij,ja->a", e, syx, e), rtol=1e-12)
    np.testing.assert_allclose(rho, lam / np.einsum("ia,ij,ja->a", e, sxx, e), rtol=1e-12)


def test_offdiagonal_error_known_value():
    a, b = 0.3, -0.4
    err = fm.offdiagonal_error(np.diag([2.0, 1.0]), np.array([[1.0, a], [b, 1.0]]))
    assert err == pytest.approx(math.sqrt((a * a + b * b) / (2 + a * a + b * b)), rel=1e-14)
    mse = fm.offdiagonal_error(np.diag([2.0, 1.0]), np.array([[1.0, a], [b, 1.0]]), normalize=False)
    assert mse == pytest.approx((a * a + b * b) / 2, rel=1e-14)
    assert fm.offdiagonal_error(np.eye(2), np.zeros((2, 2))) == 0.0


@pytest.mark.parametrize("scale_xx, scale_yx", [(1e300, 1.0), (1.0, 1e300), (1e-300, 1.0),
                                                 (1.0, 1e-300), (1e-300, 1e300)])
def test_offdiagonal_error_is_exact_at_the_float64_limits(scale_xx, scale_yx):
    """Squares of 1e300 overflow and of 1e-300 underflow: computed naively the error was
    inf/inf = NaN, or 0/0 -> 0 for a Syx far from diagonal.  It does not depend on the
    scales (U on Sxx's, the ratio on Syx's), and the mean square scales as Syx^2."""
    sxx, syx = np.diag([2.0, 1.0]), np.array([[1.0, 0.3], [-0.4, 1.0]])
    ref = fm.offdiagonal_error(sxx, syx)
    assert fm.offdiagonal_error(scale_xx * sxx, scale_yx * syx) == pytest.approx(ref, rel=1e-14)
    expected = 0.125 * scale_yx * scale_yx  # inf for Syx ~ 1e300: refused, never returned
    if expected == math.inf:
        with pytest.raises(ValueError, match=r"mean squared off-diagonal .* overflows float64"):
            fm.offdiagonal_error(scale_xx * sxx, scale_yx * syx, normalize=False)
    else:
        mse = fm.offdiagonal_error(scale_xx * sxx, scale_yx * syx, normalize=False)
        assert mse == pytest.approx(expected, rel=1e-14)


def test_mixed_host_and_device_samples_are_refused(dev):
    x = dev.asarray(np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"mixed NumPy and CuPy inputs: `x` on the GPU, `y` on the CPU"):
        fm.empirical_covariances(x, np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"mixed NumPy and CuPy inputs: `basis` on the GPU, `x`"):
        fm.empirical_lam_rho(np.ones((3, 2)), np.ones((3, 2)), dev.asarray(np.eye(2)))


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(2, 6))
def test_offdiagonal_error_is_rotation_invariant(seed, d):
    r = np.random.default_rng(seed)
    a = r.standard_normal((d, d))
    sxx = a @ a.T + 0.1 * np.eye(d)
    syx = r.standard_normal((d, d))
    q, _ = np.linalg.qr(r.standard_normal((d, d)))
    e0 = fm.offdiagonal_error(sxx, syx)
    e1 = fm.offdiagonal_error(q @ sxx @ q.T, q @ syx @ q.T)
    assert 0 < e0 <= 1
    assert e1 == pytest.approx(e0, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ["temporal", "masking"])
def test_offdiagonal_error_falls_with_samples(name):
    """Figure 6: the empirical moments approach simultaneous diagonalisability
    at the Monte Carlo rate: relative Frobenius error ~ n^(-1/2), mean squared
    off-diagonal element ~ n^(-1).  Log-log slopes of the mean log error over
    6 seeds at n = 1e3, 1e4, 1e5 (temporal: one sequence of length T = n + 1,
    as in figure 6; masking: independent samples, with factor variances whose
    eigenvalue gaps are resolved already at n = 1e3; observed slopes are
    -0.47 +- 0.03 and -0.98 +- 0.03)."""
    if name == "temporal":
        model, kw = fm.temporal(), {"contiguous": True}
    else:
        model, kw = fm.random_masking([8.0, 6.0, 4.0, 2.0, 0.0, 1.0, 3.0, 5.0], 0.5, 0.5), {}
    ns = [1_000, 10_000, 100_000]
    rel, mse = [], []
    for n in ns:
        covs = [fm.empirical_covariances(*model.sample(n, rng=s, **kw)) for s in range(6)]
        rel.append(np.mean([np.log(fm.offdiagonal_error(*c)) for c in covs]))
        mse.append(np.mean([np.log(fm.offdiagonal_error(*c, normalize=False)) for c in covs]))
    slope_rel = np.polyfit(np.log(ns), rel, 1)[0]
    slope_mse = np.polyfit(np.log(ns), mse, 1)[0]
    assert abs(slope_rel + 0.5) < 0.1, slope_rel
    assert abs(slope_mse + 1.0) < 0.2, slope_mse
    assert fm.offdiagonal_error(model.sxx, model.syx) <= 1e-12


# --------------------------------------------------------------------------
# samplers: reproducibility and array modules
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_seed_reproducibility(name):
    model = MODELS[name]()
    x0, y0 = model.sample(10, rng=3)
    x1, y1 = model.sample(10, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(x0, x1)
    np.testing.assert_array_equal(y0, y1)
    x2, _ = model.sample(10, rng=4)
    assert not np.array_equal(x0, x2)


def test_masking_views_are_complementary():
    model = MODELS["masking"]()
    x, y = model.sample(1000, rng=0)
    assert np.all((x == 0) | (y == 0))
    frac = np.mean(x != 0)
    assert abs(frac - model.keep_prob) < 4 * math.sqrt(0.3 * 0.7 / x.size)


@pytest.mark.parametrize(
    "name, contiguous",
    [("gaussian", False), ("masking", False), ("temporal", False), ("temporal", True)],
)
def test_device_array_path(name, contiguous, dev):
    """The code path taken for CuPy, run with a strict NumPy-backed fake
    device module: no host array may leak into device arithmetic, and the
    estimators keep device arrays on the device."""
    model = MODELS[name]()
    kw = {"contiguous": True} if contiguous else {}
    x, y = model.sample(40_000, rng=11, xp=dev, **kw)
    assert isinstance(x, _Dev) and x.shape == (40_000, model.dim) and x.dtype == np.float64
    out = fm.empirical_lam_rho(x, y, model.basis, return_stderr=True)
    assert all(isinstance(a, _Dev) for a in out)
    lam, rho, lam_se, rho_se = (a.get() for a in out)
    if contiguous:  # one correlated sequence: batch means on the host copy
        lam_se, rho_se = batch_means(x.get(), y.get(), model.basis)
    ok = model.lam != 0
    assert_within(lam, model.lam, lam_se, Z_FIXED, "lam")
    assert_within(rho[ok], model.rho[ok], rho_se[ok], Z_FIXED, "rho")
    sxx, syx = fm.empirical_covariances(x, y)
    assert isinstance(sxx, _Dev)
    ref = fm.empirical_covariances(x.get(), y.get())
    np.testing.assert_allclose(sxx.get(), ref[0], rtol=1e-12)
    assert fm.offdiagonal_error(sxx, syx) == pytest.approx(fm.offdiagonal_error(*ref), rel=1e-9)
    # a NumPy generator seeds the device generator reproducibly
    x1, _ = model.sample(10, rng=np.random.default_rng(0), xp=dev, **kw)
    x2, _ = model.sample(10, rng=np.random.default_rng(0), xp=dev, **kw)
    np.testing.assert_array_equal(x1.get(), x2.get())


def test_fake_device_is_strict(dev):
    d = dev.asarray(np.ones(3))
    for bad in (lambda: d * np.ones(3), lambda: np.ones(3) + d, lambda: np.asarray(d)):
        with pytest.raises(TypeError):
            bad()
    with pytest.raises(TypeError):
        d[:] = np.zeros(3)
    assert (d * 2.0).get().tolist() == [2.0, 2.0, 2.0]


def test_device_sequence_equals_numpy_sequence(dev):
    """Prefix scan (device path) and sequential recursion (NumPy path) on the
    same draws give the same sequence."""
    model = fm.temporal()
    z_np = model.sample_sequence(3000, rng=5)
    z_dev = model.sample_sequence(3000, rng=5, xp=dev)
    np.testing.assert_allclose(z_dev.get(), z_np, rtol=0, atol=1e-12)


def _cupy_or_skip():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.zeros(1)
    except Exception as exc:  # noqa: BLE001 (no device, no driver, ...)
        pytest.skip(f"no usable GPU: {exc}")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cupy_sampling(name):
    cupy = _cupy_or_skip()
    model = MODELS[name]()
    x, y = model.sample(40_000, rng=11, xp=cupy)
    assert isinstance(x, cupy.ndarray)
    lam, rho, lam_se, rho_se = (
        a.get() for a in fm.empirical_lam_rho(x, y, model.basis, return_stderr=True)
    )
    ok = model.lam != 0
    assert_within(lam, model.lam, lam_se, Z_FIXED, "lam")
    assert_within(rho[ok], model.rho[ok], rho_se[ok], Z_FIXED, "rho")


# --------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------

BAD = [
    (lambda: fm.gaussian([1.0, -1.0], [0.5, 0.5]), ValueError, r"`rho` must be of the sign of `lam`.*rho\[1\] = 0.5"),
    (lambda: fm.gaussian([1.0, 0.0], [0.5, 0.5]), ValueError, r"`lam` must be nonzero; lam\[1\] = 0.0"),
    (lambda: fm.gaussian([1.0, np.nan], [0.5, 0.5]), ValueError, r"`lam` must be finite; lam\[1\] = nan"),
    (lambda: fm.gaussian([1.0, 2.0], [0.5, 0.5, 0.5]), ValueError, r"`lam` \(length 2\), `rho` \(length 3\)"),
    (lambda: fm.gaussian([[1.0]], [0.5]), ValueError, r"`lam` must be a scalar or 1-D"),
    (lambda: fm.gaussian([1.0, 2.0], [0.5, 0.5], syy=[1.0, 0.99]), ValueError,
     r"`syy` must be at least lam\*rho.*syy\[1\] = 0.99 < lam\[1\]\*rho\[1\] = 1.0"),
    (lambda: fm.gaussian(["a"], [0.5]), TypeError, r"`lam` must be real-valued"),
    (lambda: fm.random_masking([1.0, 2.0], 0.1, 1.0), ValueError, r"`keep_prob` must be in the open interval \(0, 1\); got 1.0"),
    (lambda: fm.random_masking([1.0, 2.0], 0.1, 0.0), ValueError, r"`keep_prob`.*got 0.0"),
    (lambda: fm.random_masking([1.0, 2.0], 0.1, np.nan), ValueError, r"`keep_prob`"),
    (lambda: fm.random_masking([1.0, -2.0], 0.1, 0.5), ValueError, r"`factor_var` must be non-negative; factor_var\[1\] = -2.0"),
    (lambda: fm.random_masking([1.0, 2.0], -0.1, 0.5), ValueError, r"`noise_var` must be non-negative"),
    (lambda: fm.random_masking([0.0, 0.0], 0.0, 0.5), ValueError, r"all zero"),
    (lambda: fm.random_masking([1.0, 2.0, 3.0], 0.1, 0.5), ValueError, r"power-of-two length.*got length 3"),
    (lambda: fm.random_masking([1.0, 2.0], 0.1, 0.5, basis=[[1.0, 0.0], [0.5, 1.0]]), ValueError,
     r"`basis` must have orthonormal columns; \(basis.T @ basis\)\[0, 0\]"),
    (lambda: fm.random_masking([1.0, 2.0], 0.1, 0.5, basis=np.eye(2)), ValueError,
     r"constant diagonal.*at i = 0 it is 1.0"),
    (lambda: fm.random_masking([1.0, 2.0], 0.1, 0.5, basis=np.eye(3)), ValueError, r"`basis` must have shape \(d, d\) = \(2, 2\)"),
    (lambda: fm.temporal(gamma=(0.99, 1.0)), ValueError, r"`gamma` must be in the open interval \(-1, 1\); gamma\[1\] = 1.0"),
    (lambda: fm.temporal(gamma=(-1.5, 0.5)), ValueError, r"gamma\[0\] = -1.5"),
    (lambda: fm.temporal(noise_std=(1.0, -0.5)), ValueError, r"`noise_std` must be non-negative; noise_std\[1\] = -0.5"),
    (lambda: fm.temporal(gamma=(0.9,)), ValueError, r"`gamma` must have one entry per image, shape \(2,\)"),
    (lambda: fm.temporal([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]), ValueError,
     r"disjoint supports.*images\[0, 1\] and images\[1, 1\]"),
    (lambda: fm.temporal([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), ValueError, r"pixel 2 is zero in every image"),
    (lambda: fm.temporal([[1.0, 0.0], [0.0, 0.0]]), ValueError, r"images\[1\] is all zeros"),
    (lambda: fm.temporal([[1.0, 0.0], [0.0, 1.0]], region=[0, 2]), ValueError, r"`region` must be an image index in 0..1; region\[1\] = 2"),
    (lambda: fm.temporal([[1.0, 1.0], [0.0, 0.5]], region=[0, 1]), ValueError,
     r"zero outside their regions; images\[0, 1\] = 1.0 but region\[1\] = 1"),
    (lambda: fm.temporal([[1.0, 0.0], [0.0, 1.0]], region=[0.0, 1.0]), TypeError, r"`region` must be an integer array"),
    (lambda: fm.temporal(region=np.zeros(32, int)), ValueError, r"`region` needs `images`"),
    (lambda: fm.temporal([[1.0, np.inf]], gamma=[0.5], noise_std=[1.0]), ValueError, r"`images` must be finite; images\[0, 1\] = inf"),
    (lambda: fm.temporal().sample(0), ValueError, r"`n` must be positive; got 0"),
    (lambda: fm.temporal().sample(2.5), TypeError, r"`n` must be an integer"),
    (lambda: fm.temporal().sample(True), TypeError, r"`n` must be an integer"),
    (lambda: fm.temporal().sample(3, contiguous=1), TypeError, r"`contiguous` must be True or False; got 1"),
    (lambda: fm.gaussian([1.0], [0.5]).sample(3, rng=-1), ValueError, r"`rng` must be a non-negative seed; got -1"),
    (lambda: fm.gaussian([1.0], [0.5]).sample(3, rng="x"), TypeError, r"`rng` must be None, an int seed"),
    (lambda: fm.temporal().sample_sequence(0), ValueError, r"`length` must be positive"),
    (lambda: fm.empirical_covariances(np.ones((3, 2)), np.ones((3, 3))), ValueError, r"same shape; got \(3, 2\) and \(3, 3\)"),
    (lambda: fm.empirical_covariances(np.ones(3), np.ones(3)), ValueError, r"`x` must be 2-D"),
    (lambda: fm.empirical_covariances(np.ones((2, 2)), np.array([[1.0, 1.0], [np.nan, 1.0]])), ValueError,
     r"`y` must be finite; y\[1, 0\] = nan"),
    (lambda: fm.empirical_covariances(np.ones((0, 2)), np.ones((0, 2))), ValueError, r"at least one row"),
    (lambda: fm.empirical_lam_rho(np.ones((3, 2)), np.ones((3, 2)), np.eye(3)), ValueError, r"`basis` must have shape \(d, k\) with d = 2"),
    (lambda: fm.empirical_lam_rho(np.zeros((3, 2)), np.ones((3, 2)), np.eye(2)), ValueError, r"zero empirical variance along basis\[:, 0\]"),
    (lambda: fm.empirical_lam_rho(np.ones((1, 2)), np.ones((1, 2)), np.eye(2), return_stderr=True), ValueError, r"at least 2 samples"),
    (lambda: fm.offdiagonal_error(np.array([[1.0, 0.5], [0.4, 1.0]]), np.eye(2)), ValueError,
     r"`sxx` must be symmetric; sxx\[0, 1\] = 0.5 but sxx\[1, 0\] = 0.4"),
    (lambda: fm.offdiagonal_error(np.eye(2), np.eye(3)), ValueError, r"`syx` must have the shape of `sxx`"),
    (lambda: fm.offdiagonal_error(np.ones(3), np.ones(3)), ValueError, r"`sxx` must be a square"),
]


@pytest.mark.parametrize("call, exc, match", BAD, ids=range(len(BAD)))
def test_input_validation(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_docstring_examples():
    import doctest

    result = doctest.testmod(fm, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_a_numpy_generator_never_selects_cupy():
    """The array module follows a CuPy generator; NumPy generators, seeds and None keep NumPy."""
    from fastdyn.models import _module

    for rng in (None, 3, np.random.default_rng(0)):
        assert _module(None, rng) is np
