"""Generative data models of the paper, with closed-form feature parameters.

Littwin et al., *How JEPA Avoids Noisy Features* (NeurIPS 2024), section 4.1
and appendix C, describe data whose second moments are simultaneously
diagonalisable, so that every feature direction ``e_i`` has a covariance
``lam_i = e_i^T Syx e_i`` and a regression coefficient
``rho_i = lam_i / (e_i^T Sxx e_i)`` (``Sxx = E[x x^T]``, ``Syx = E[y x^T]``,
no mean subtraction: every model here has zero mean).  Each model below gives
these parameters in closed form **and** samples real ``(x, y)`` pairs, so that
the theory (the per-feature ODEs eq. 7, 8 solved by :mod:`fastdyn`) and
training on data can be compared:

- :func:`gaussian`: ``x, y`` jointly Gaussian with diagonal covariances and
  given ``lam``, ``rho`` (figures 1 and 5, appendix A.1).
- :func:`random_masking`: ``z = s B + eta`` and complementary random masks
  with keep probability ``f`` (appendix C.1, eq. 122-126, theorem C.1).
- :func:`temporal`: images ``v_a`` flickering with AR(1) amplitudes plus
  per-image pixel noise, ``x = z_t``, ``y = z_{t+1}`` (eq. 15, 16, appendix
  C.2, eq. 134-141, figure 3).

Every model object has ``dim`` (data dimension ``d``), ``lam``, ``rho``
(closed forms, shape ``(k,)``), ``basis`` (``(d, k)``, orthonormal columns
``e_i``), the population second moments ``sxx``, ``syx``, ``syy`` (``(d, d)``)
and ``sample(n, rng=None, *, xp=None) -> (x, y)`` (float64, shape ``(n, d)``).
All arrays held by a model are read-only.

Estimators for comparing samples with the closed forms:
:func:`empirical_covariances`, :func:`empirical_lam_rho` (with Monte Carlo
standard errors) and :func:`offdiagonal_error` (how far the empirical ``Syx``
is from diagonal in the eigenbasis of the empirical ``Sxx``, figure 6).

Examples
--------
Figure 3: the temporal model's closed forms against 500k samples.

>>> import fastdyn.models as fm
>>> model = fm.temporal()                # gamma = (0.99, 0.95), sigma = (1, 0.5)
>>> model.lam, model.rho                 # eq. 140, 141
(array([0.99, 0.95]), array([0.495, 0.76 ]))
>>> x, y = model.sample(500_000, rng=0)  # x = z_t, y = z_{t+1}; shape (500000, 32)
>>> lam, rho = fm.empirical_lam_rho(x, y, model.basis)
>>> bool(abs(lam - model.lam).max() < 0.02 and abs(rho - model.rho).max() < 0.02)
True
>>> sxx, syx = fm.empirical_covariances(x, y)
>>> bool(fm.offdiagonal_error(sxx, syx) < 0.05)   # figure 6
True

GPU sampling: ``sample(..., xp=cupy)`` draws with CuPy's generator and returns
CuPy arrays; the estimators accept CuPy arrays and keep the computation on the
device (``offdiagonal_error`` copies its ``(d, d)`` inputs to the host).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
import scipy.signal
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from . import _validate as v
from .kernels._constants import STRUCT_RTOL

__all__ = [
    "GaussianModel",
    "MaskingModel",
    "TemporalModel",
    "empirical_covariances",
    "empirical_lam_rho",
    "gaussian",
    "offdiagonal_error",
    "random_masking",
    "temporal",
]

# Gaussian model: Syy within this many ulps of its lower bound lam*rho counts
# as the boundary (y = rho x exactly), on both sides of the bound.
_BOUNDARY_ULPS = 4


# --------------------------------------------------------------------------
# validation helpers (the checks themselves: fastdyn._validate; array
# modules and host/device transfers: fastdyn._arrays)
# --------------------------------------------------------------------------

def _vector(name: str, x: ArrayLike) -> NDArray[np.float64]:
    """Real, finite values as a float64 array (own copy) of at most one dimension."""
    a = np.array(v.finite(name, x), dtype=np.float64)  # own copy
    if a.ndim > 1:
        raise ValueError(f"`{name}` must be a scalar or 1-D; got shape {a.shape}.")
    return a


def _nonempty(name: str, a: np.ndarray) -> None:
    if a.size == 0:
        raise ValueError(f"`{name}` must not be empty.")


def _same_length(**arrays: np.ndarray) -> int:
    """Broadcast 0-d/1-d arrays to one length; raise naming all of them."""
    lengths = {name: (a.shape[0] if a.ndim else None) for name, a in arrays.items()}
    sizes = {n for n in lengths.values() if n is not None}
    if len(sizes) > 1:
        listed = ", ".join(f"`{k}` (length {n})" for k, n in lengths.items() if n is not None)
        raise ValueError(f"{listed} must have the same length.")
    return sizes.pop() if sizes else 1


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _samples(name: str, n: object, d: int, arrays: int = 2) -> int:
    """A sample count ``n >= 1`` for which ``arrays`` float64 arrays of shape (n, d) exist."""
    what = f"the samples, {arrays} array{'s' if arrays > 1 else ''} of shape ({name}, {d})"
    return v.array_count(name, n, 8 * arrays * max(d, 1), what)


def _generator(rng: object, xp: Any) -> Any:
    """A random generator of the array module ``xp`` from ``rng``.

    ``rng`` is None (fresh entropy), a non-negative int seed, or a
    :class:`numpy.random.Generator`.  For a non-NumPy ``xp`` (CuPy), an int
    seeds ``xp.random.default_rng``; a NumPy generator supplies the seed (so
    results are reproducible but differ from the NumPy draws); a generator of
    ``xp`` itself is used as is.
    """
    if xp is np:
        return np.random.default_rng(v.seed("rng", rng, (np.random.Generator,)))
    if isinstance(rng, np.random.Generator):
        return xp.random.default_rng(int(rng.integers(2**63)))
    if hasattr(rng, "standard_normal") and hasattr(rng, "random"):
        return rng  # a generator of ``xp``
    return xp.random.default_rng(v.seed("rng", rng, (np.random.Generator,)))


def _module(xp: Any, rng: Any = None) -> Any:
    """The array module: ``xp`` if given (checked), else that of a CuPy generator, else NumPy."""
    if xp is not None:
        return _arrays.array_module(xp)
    return _arrays.generator_module(rng) or np


def _data(name: str, a: Any) -> Any:
    """Validate a sample matrix ``(n, d)``: real floating/integer, finite, n >= 1."""
    device = _arrays.is_device_array(a)
    if not device:
        a = v._as_real(name, a)
    elif a.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must be real-valued (integer or floating point); "
                        f"got dtype {a.dtype}.")
    if a.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D, shape (n, d); got shape {tuple(a.shape)}.")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"`{name}` must have at least one row and column; got shape {tuple(a.shape)}.")
    if not device:
        return v.finite(name, a)
    if a.dtype.kind == "f":
        # max and min propagate NaN: one reduction pair on the happy path
        lo, hi = float(a.min()), float(a.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            v.finite(name, _arrays.to_host(a))
    return a if a.dtype == np.float64 else a.astype(np.float64)


def _representable(what: str, fix: str, **arrays: Any) -> None:
    """Refuse a result that left float64 (overflow to inf, or NaN from inf - inf).

    One min/max reduction per array (on the device where the arrays live);
    the message names the first non-finite element.
    """
    for name, a in arrays.items():
        lo, hi = float(a.min()), float(a.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            h = np.asarray(_arrays.to_host(a))
            i = v.first_index(~np.isfinite(h))
            raise ValueError(f"{what} overflow float64: {name}{list(i)} = {v._fmt(h[i])}; {fix}.")


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------


class _Model:
    """Common attributes; see the module docstring."""

    dim: int
    lam: NDArray[np.float64]
    rho: NDArray[np.float64]
    basis: NDArray[np.float64]
    sxx: NDArray[np.float64]
    syx: NDArray[np.float64]
    syy: NDArray[np.float64]

    def _set_common(self, lam, rho, basis, sxx, syx, syy) -> None:
        # Valid parameters can still leave the float64 range (variances of
        # 1e200 square to inf, 1e-200 to 0): refuse rather than hold NaN/inf.
        named = (("lam", lam), ("rho", rho), ("basis", basis), ("sxx", sxx), ("syx", syx), ("syy", syy))
        for name, a in named:
            bad = ~np.isfinite(a)
            if bad.any():
                raise ValueError(
                    f"the parameters overflow or underflow float64: {type(self).__name__}."
                    f"{name}{list(v.first_index(bad))} = {v._fmt(a[v.first_index(bad)])}; rescale the data."
                )
        self.lam = _readonly(lam)
        self.rho = _readonly(rho)
        self.basis = _readonly(basis)
        self.sxx = _readonly(sxx)
        self.syx = _readonly(syx)
        self.syy = _readonly(syy)
        self.dim = int(self.basis.shape[0])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} dim={self.dim} features={self.lam.shape[0]}>"


class GaussianModel(_Model):
    """Jointly Gaussian ``(x, y)`` with diagonal covariances; see :func:`gaussian`.

    Attributes
    ----------
    dim : int
        Data dimension ``d`` (= number of features ``k``).
    lam, rho : ndarray, shape (d,)
        The requested feature parameters.
    sigma2 : ndarray, shape (d,)
        ``Sxx_ii = lam_i / rho_i``.
    syy_diag : ndarray, shape (d,)
        ``Syy_ii`` (given or the default).
    basis : ndarray, shape (d, d)
        The identity: the features are the coordinates.
    sxx, syx, syy : ndarray, shape (d, d)
        ``diag(sigma2)``, ``diag(lam)``, ``diag(syy_diag)``.
    """

    def __init__(self, lam: ArrayLike, rho: ArrayLike, syy: ArrayLike | None = None) -> None:
        """The model of :func:`gaussian`, with its checks."""
        with np.errstate(all="ignore"):  # out-of-range results are refused by _set_common
            self._build(*_gaussian_parameters(lam, rho, syy))

    def _build(self, lam, rho, syy_diag) -> None:
        sigma2 = lam / rho
        d = lam.shape[0]
        self.sigma2 = _readonly(sigma2)
        self.syy_diag = _readonly(syy_diag)
        # y = (lam/sigma^2) x + residual: regression slope rho, residual
        # variance Syy - lam^2/Sxx = Syy - lam*rho >= 0.  Within the 4-ulp
        # slack that gaussian() accepts, the residual is set to 0: the square
        # root would turn a rounding-level excess eps*Syy into a spurious
        # residual standard deviation sqrt(eps*Syy) ~ 1e-8.
        resid = syy_diag - lam * rho
        resid[resid <= _BOUNDARY_ULPS * np.finfo(float).eps * syy_diag] = 0.0
        self._x_scale = _readonly(np.sqrt(sigma2))
        self._y_slope = _readonly(rho)
        self._y_resid = _readonly(np.sqrt(resid))
        self._set_common(lam, rho, np.eye(d), np.diag(sigma2), np.diag(lam), np.diag(syy_diag))

    def sample(self, n: int, rng: Any = None, *, xp: Any = None) -> tuple[Any, Any]:
        """Draw ``n`` independent pairs.

        Parameters
        ----------
        n : int
            Number of samples, ``n >= 1``.
        rng : None, int or numpy.random.Generator, optional
            Source of randomness (a seed is passed to ``default_rng``).
        xp : module, optional
            Array module (``numpy`` by default, ``cupy`` to sample on a GPU;
            a CuPy generator as ``rng`` implies ``cupy``).

        Returns
        -------
        x, y : ndarray, shape (n, d), float64
            ``x_i = sigma_i g_i``, ``y_i = rho_i x_i + sqrt(Syy_ii - lam_i rho_i) g'_i``
            with independent standard normal ``g, g'``.
        """
        n = _samples("n", n, self.dim)
        xp = _module(xp, rng)
        gen = _generator(rng, xp)
        d = self.dim
        g = gen.standard_normal((2, n, d))
        x, y = g[0], g[1]  # disjoint halves of one buffer, scaled in place
        x *= xp.asarray(self._x_scale)
        y *= xp.asarray(self._y_resid)
        y += x * xp.asarray(self._y_slope)
        return x, y


class MaskingModel(_Model):
    """Random masking with isotropic noise; see :func:`random_masking`.

    Attributes
    ----------
    dim : int
        Data dimension ``d`` (= number of factors = number of features ``k``).
    factor_var : ndarray, shape (d,)
        ``E[s_k^2]``.
    noise_var : float
        ``E[eta^2]``.
    keep_prob : float
        ``f``.
    basis : ndarray, shape (d, d)
        Column ``k`` is the factor direction ``b_k`` (row ``k`` of the paper's
        ``B``, eq. 122).
    lam, rho : ndarray, shape (d,)
        Eq. 125 and eq. 126.
    sigma2 : ndarray, shape (d,)
        Eq. 124, ``b_k^T Sxx b_k``.
    szz : ndarray, shape (d, d)
        ``E[z z^T] = B^T Sigma_s B + E[eta^2] I`` (eq. 131).
    sxx, syx, syy : ndarray, shape (d, d)
        Eq. 128, 129 (transposed; it is symmetric), 130.
    """

    def __init__(self, factor_var: ArrayLike, noise_var: float, keep_prob: float,
                 basis: ArrayLike | None = None) -> None:
        """The model of :func:`random_masking`, with its checks."""
        with np.errstate(all="ignore"):  # out-of-range results are refused by _set_common
            self._build(*_random_masking_parameters(factor_var, noise_var, keep_prob, basis))

    def _build(self, factor_var, noise_var, keep_prob, basis) -> None:
        f = keep_prob
        mean_s = float(np.mean(factor_var))  # the paper's E[s^2] = (1/d) sum_k E[s_k^2]
        self.factor_var = _readonly(factor_var)
        self.noise_var = float(noise_var)
        self.keep_prob = float(f)
        szz = (basis * factor_var) @ basis.T + noise_var * np.eye(basis.shape[0])
        szz = 0.5 * (szz + szz.T)
        dzz = np.diag(np.diag(szz))
        # eq. 124-126, written as in the paper (the tests check them against
        # a brute-force expectation over all masks)
        sigma2 = f * f * factor_var + f * noise_var + (f - f * f) * mean_s
        lam = f * (1.0 - f) * (factor_var - mean_s)
        self.sigma2 = _readonly(sigma2)
        self.szz = _readonly(szz)
        self._basis_t = _readonly(basis.T)
        self._s_std = _readonly(np.sqrt(factor_var))
        self._set_common(
            lam,
            lam / sigma2,
            basis,
            f * f * szz + (f - f * f) * dzz,  # eq. 128
            f * (1.0 - f) * (szz - dzz),  # eq. 129
            (1.0 - f) ** 2 * szz + (f - f * f) * dzz,  # eq. 130
        )

    def sample(self, n: int, rng: Any = None, *, xp: Any = None) -> tuple[Any, Any]:
        """Draw ``n`` independent masked pairs.

        Parameters
        ----------
        n : int
            Number of samples, ``n >= 1``.
        rng : None, int or numpy.random.Generator, optional
            Source of randomness.
        xp : module, optional
            Array module (``numpy`` by default, ``cupy`` to sample on a GPU;
            a CuPy generator as ``rng`` implies ``cupy``).

        Returns
        -------
        x, y : ndarray, shape (n, d), float64
            ``z = s B + eta`` (eq. 122) with Gaussian ``s_k ~ N(0, E[s_k^2])``,
            ``eta_i ~ N(0, E[eta^2])``; ``x = z * m``, ``y = z * (1 - m)`` with
            independent ``m_i ~ Bernoulli(f)`` (eq. 123).
        """
        n = _samples("n", n, self.dim)
        xp = _module(xp, rng)
        gen = _generator(rng, xp)
        d = self.dim
        s = gen.standard_normal((n, d)) * xp.asarray(self._s_std)
        z = s @ xp.asarray(self._basis_t)
        z += math.sqrt(self.noise_var) * gen.standard_normal((n, d))
        keep = gen.random((n, d)) < self.keep_prob
        x = xp.where(keep, z, 0.0)
        y = z - x  # exactly z * (1 - m): one of the two terms is 0
        return x, y


class TemporalModel(_Model):
    """Flickering images with AR(1) amplitudes; see :func:`temporal`.

    Attributes
    ----------
    dim : int
        Number of pixels ``d``.
    images : ndarray, shape (M, d)
        Row ``a`` is the image ``v^a``.
    gamma : ndarray, shape (M,)
        Lag-one autocorrelations ``gamma_a`` (eq. 135).
    noise_std : ndarray, shape (M,)
        ``sigma_a``: the standard deviation of the noise on the pixels of image ``a``.
    region : ndarray of int64, shape (d,)
        ``a(i)``: the image whose region contains pixel ``i``.
    basis : ndarray, shape (d, M)
        ``v^a / ||v^a||``: the ``k = M`` features of eq. 140-141.  The
        remaining directions (inside a region, orthogonal to its image) carry
        noise only and have ``lam = rho = 0``; they are not listed.
    lam, rho : ndarray, shape (M,)
        Eq. 140, 141 (eq. 16).
    sxx, syx, syy : ndarray, shape (d, d)
        Eq. 139, eq. 138 (``Syx = Sxy``, symmetric) and ``Syy = Sxx``
        (the process is stationary).
    """

    def __init__(self, images: ArrayLike | None = None, gamma: ArrayLike = (0.99, 0.95),
                 noise_std: ArrayLike = (1.0, 0.5), region: ArrayLike | None = None) -> None:
        """The model of :func:`temporal`, with its checks."""
        with np.errstate(all="ignore"):  # out-of-range results are refused by _set_common
            self._build(*_temporal_parameters(images, gamma, noise_std, region))

    def _build(self, images, gamma, noise_std, region) -> None:
        norm2 = np.einsum("ai,ai->a", images, images)
        noise_pix = noise_std[region]
        self.images = _readonly(images)
        self.gamma = _readonly(gamma)
        self.noise_std = _readonly(noise_std)
        region = np.array(region, dtype=np.int64)
        region.setflags(write=False)
        self.region = region
        self._noise_pix = _readonly(noise_pix)
        lam = gamma * norm2  # eq. 140
        rho = gamma * norm2 / (noise_std**2 + norm2)  # eq. 141
        sxx = images.T @ images + np.diag(noise_pix**2)  # eq. 139
        syx = (images.T * gamma) @ images  # eq. 138
        self._set_common(lam, rho, (images / np.sqrt(norm2)[:, None]).T, sxx, syx, sxx)

    def sample(
        self, n: int, rng: Any = None, *, xp: Any = None, contiguous: bool = False
    ) -> tuple[Any, Any]:
        """Draw ``n`` pairs ``(x, y) = (z_t, z_{t+1})`` of eq. 15.

        Parameters
        ----------
        n : int
            Number of pairs, ``n >= 1``.
        rng : None, int or numpy.random.Generator, optional
            Source of randomness.
        xp : module, optional
            Array module (``numpy`` by default, ``cupy`` to sample on a GPU;
            a CuPy generator as ``rng`` implies ``cupy``).
        contiguous : bool, optional
            False (default): ``n`` independent pairs, each from its own
            stationary sequence (``u(t) ~ N(0, 1)``, then one AR(1) step,
            eq. 137), so sample averages converge at the i.i.d. rate.  True:
            the ``n`` consecutive pairs of one sequence ``z_1, ..., z_{n+1}``
            as in the paper's simulations (figure 3(e), figure 6; ``T = n + 1``);
            successive pairs are correlated over about ``1/(1 - gamma)`` steps.

        Returns
        -------
        x, y : ndarray, shape (n, d), float64
            ``z_t = sum_a u_a(t) v^a + xi_t`` (eq. 134), ``xi_{t,i} ~ N(0, sigma_{a(i)}^2)``
            independent over time and pixels.
        """
        n = _samples("n", n, self.dim)
        contiguous = v.flag("contiguous", contiguous)
        xp = _module(xp, rng)
        gen = _generator(rng, xp)
        m, d = self.images.shape
        gam = xp.asarray(self.gamma)
        innov = xp.asarray(np.sqrt(1.0 - self.gamma**2))
        images = xp.asarray(self.images)
        noise = xp.asarray(self._noise_pix)
        if not contiguous:
            u0 = gen.standard_normal((n, m))
            u1 = gam * u0 + innov * gen.standard_normal((n, m))  # eq. 137
            g = gen.standard_normal((2, n, d))
            x, y = g[0], g[1]
            x *= noise
            y *= noise
            return _add_images(x, u0, images), _add_images(y, u1, images)
        z = self.sample_sequence(n + 1, gen, xp=xp)
        return z[:-1].copy(), z[1:].copy()

    def sample_sequence(self, length: int, rng: Any = None, *, xp: Any = None) -> Any:
        """One stationary sequence ``z_1, ..., z_T`` of eq. 134, 137.

        Parameters
        ----------
        length : int
            ``T >= 1``.
        rng : None, int or numpy.random.Generator, optional
            Source of randomness.
        xp : module, optional
            Array module (``numpy`` by default, ``cupy`` to sample on a GPU;
            a CuPy generator as ``rng`` implies ``cupy``).

        Returns
        -------
        z : ndarray, shape (T, d), float64
            ``u_a(1) ~ N(0, 1)``, ``u_a(t+1) = gamma_a u_a(t) + sqrt(1 - gamma_a^2) eta``:
            every ``z_t`` has the stationary distribution.
        """
        length = _samples("length", length, self.dim, arrays=1)
        xp = _module(xp, rng)
        gen = _generator(rng, xp)  # a Generator passes through unchanged
        m, d = self.images.shape
        eta = gen.standard_normal((length, m))
        u = _ar1(eta, self.gamma, xp)
        z = gen.standard_normal((length, d))
        z *= xp.asarray(self._noise_pix)
        return _add_images(z, u, xp.asarray(self.images))


def _add_images(z: Any, u: Any, images: Any) -> Any:
    """``z += u @ images`` in place (``u``: (n, M), ``images``: (M, d)).

    For the few images of the temporal model a rank-one update per image is
    several times faster than a matrix product with inner dimension M (which
    OpenBLAS handles poorly); many images go through the matrix product.
    """
    m = images.shape[0]
    if m > 8:
        z += u @ images
        return z
    for a in range(m):
        z += u[:, a : a + 1] * images[a]
    return z


def _ar1(eta: Any, gamma: np.ndarray, xp: Any) -> Any:
    """Stationary AR(1) paths from standard normal innovations (eq. 137).

    ``u[0] = eta[0]``, ``u[t] = gamma u[t-1] + sqrt(1 - gamma^2) eta[t]``,
    column by column; ``eta`` has shape ``(T, M)``, ``gamma`` shape ``(M,)``.
    NumPy: the exact sequential recursion (``scipy.signal.lfilter``).  Other
    array modules: :func:`_ar1_scan`.
    """
    if xp is not np:
        return _ar1_scan(eta, gamma, xp)
    u = np.empty_like(eta)
    u[0] = eta[0]
    for a, g in enumerate(gamma):
        c = math.sqrt(1.0 - g * g)
        if eta.shape[0] > 1:
            # lfilter: u[t] = g u[t-1] + c eta[t]; the initial state carries g u[0]
            u[1:, a] = scipy.signal.lfilter([c], [1.0, -g], eta[1:, a], zi=[g * u[0, a]])[0]
    return u


def _ar1_scan(eta: Any, gamma: np.ndarray, xp: Any) -> Any:
    """The recursion of :func:`_ar1` as a parallel prefix scan (for GPUs).

    Step ``t`` is the affine map ``u -> A_t u + b_t`` with ``A_0 = 0``,
    ``b_0 = eta_0`` and ``A_t = gamma``, ``b_t = sqrt(1 - gamma^2) eta_t``;
    composing ``(A1, b1)`` then ``(A2, b2)`` gives ``(A1 A2, A2 b1 + b2)``.
    Hillis-Steele doubling: ``ceil(log2 T)`` vectorised passes.  Every factor
    has ``|A| < 1``, so the composition is as well conditioned as the
    sequential recursion (``A`` may underflow to 0, harmlessly).
    """
    t = eta.shape[0]
    gam = xp.asarray(gamma)
    b = eta * xp.asarray(np.sqrt(1.0 - gamma**2))
    b[0] = eta[0]
    a = xp.ones_like(eta) * gam
    a[0] = 0.0
    k = 1
    while k < t:
        b_new = b.copy()
        b_new[k:] = a[k:] * b[:-k] + b[k:]
        a_new = a.copy()
        a_new[k:] = a[k:] * a[:-k]
        a, b = a_new, b_new
        k *= 2
    return b


def gaussian(lam: ArrayLike, rho: ArrayLike, *, syy: ArrayLike | None = None) -> GaussianModel:
    """Jointly Gaussian views with diagonal covariances (figures 1 and 5).

    Feature ``i`` is coordinate ``i``: ``Sxx = diag(lam / rho)``,
    ``Syx = diag(lam)``, ``Syy = diag(syy)``, and the coordinates are
    independent (appendix A.1: "x, y from a jointly Gaussian distribution with
    diagonal covariances").

    Parameters
    ----------
    lam : array_like, shape (d,) or scalar
        Covariances ``lam_i = Syx_ii``: finite and nonzero.
    rho : array_like, shape (d,) or scalar
        Regression coefficients ``rho_i = lam_i / Sxx_ii``: finite, nonzero,
        with the sign of ``lam_i`` (so that ``Sxx_ii > 0``).
    syy : array_like, shape (d,) or scalar, optional
        ``Syy_ii = E[y_i^2]``.  The joint covariance of ``(x_i, y_i)`` is
        positive semi-definite iff ``syy_i >= lam_i rho_i`` (= ``lam_i^2 / Sxx_ii``);
        equality makes ``y_i = rho_i x_i`` exactly.  Default:
        ``Sxx_ii * max(1, rho_i^2)``, i.e. ``y`` has the variance of ``x``
        (correlation ``rho_i``) wherever ``|rho_i| <= 1``, and the smallest
        valid value otherwise.

    Returns
    -------
    GaussianModel
        With ``lam``, ``rho`` as given (broadcast to one length ``d``) and
        ``basis`` the ``(d, d)`` identity.

    Raises
    ------
    ValueError
        If a value is not finite, ``lam`` or ``rho`` is zero, their signs
        differ, ``syy`` is below ``lam * rho`` (no Gaussian has these
        moments), or the lengths differ; the message names the first bad index.
    """
    return GaussianModel(lam, rho, syy)


def _gaussian_parameters(lam: ArrayLike, rho: ArrayLike, syy: ArrayLike | None):
    """The checked parameters of :func:`gaussian` (the checks of its docstring)."""
    lam_a = _vector("lam", lam)
    rho_a = _vector("rho", rho)
    arrays = {"lam": lam_a, "rho": rho_a}
    if syy is not None:
        arrays["syy"] = _vector("syy", syy)
    d = _same_length(**arrays)
    for name, a in arrays.items():
        _nonempty(name, a)
    lam_a, rho_a = (np.broadcast_to(a, (d,)).copy() for a in (lam_a, rho_a))
    v.require("lam", lam_a, lam_a != 0, "nonzero")
    v.require("rho", rho_a, rho_a != 0, "nonzero")
    v.require(
        "rho", rho_a, np.sign(rho_a) == np.sign(lam_a), "of the sign of `lam` (Sxx = lam/rho > 0)"
    )
    with np.errstate(over="ignore", under="ignore"):
        sxx = lam_a / rho_a
        floor = lam_a * rho_a  # lam^2 / Sxx: the variance of y explained by x
    v.require("lam", lam_a, np.isfinite(sxx) & (sxx != 0), "such that lam/rho is finite and nonzero")
    v.require("lam", lam_a, np.isfinite(floor), "such that lam*rho is finite")
    if syy is None:
        syy_a = np.maximum(sxx, floor)
    else:
        syy_a = np.broadcast_to(arrays["syy"], (d,)).copy()
        # 4 ulps of slack: a user who passes syy = lam*rho computed another way
        # (e.g. lam**2 / sxx) must not be refused over rounding
        bad = syy_a < floor * (1.0 - _BOUNDARY_ULPS * np.finfo(float).eps)
        if bad.any():
            i = v.first_index(bad)
            raise ValueError(
                f"`syy` must be at least lam*rho (= lam^2/Sxx) for a positive "
                f"semi-definite joint covariance; syy[{i[0]}] = {v._fmt(syy_a[i])} < "
                f"lam[{i[0]}]*rho[{i[0]}] = {v._fmt(floor[i])}."
            )
    return lam_a, rho_a, syy_a


def random_masking(
    factor_var: ArrayLike,
    noise_var: float,
    keep_prob: float,
    *,
    basis: ArrayLike | None = None,
) -> MaskingModel:
    """Random masking with isotropic noise (appendix C.1, theorem C.1).

    A sample ``z = sum_k s_k b_k + eta`` (eq. 122, ``b_k`` = row ``k`` of
    ``B``) is split by a random mask ``m`` (``m_i = 1`` with probability
    ``f``, independently) into ``x = z * m`` and ``y = z * (1 - m)``
    (eq. 123).  ``Sxx`` and ``Syx`` (eq. 128, 129) are simultaneously
    diagonal in the basis ``b_k`` with (eq. 124-126)::

        sigma_k^2 = f^2 E[s_k^2] + f E[eta^2] + (f - f^2) E[s^2]
        lam_k     = f (1 - f) (E[s_k^2] - E[s^2])
        rho_k     = lam_k / sigma_k^2

    where ``E[s^2] = (1/d) sum_k E[s_k^2]``.  The paper derives this for
    random ``B_ki ~ N(0, 1/d)`` in the limit ``d -> infinity``; it holds
    *exactly* for every ``d`` when ``B`` is orthogonal and the diagonal of
    ``E[z z^T]`` is constant (then ``Diag(E[z z^T]) = (E[s^2] + E[eta^2]) I``,
    eq. 133).  The default ``B``, the normalised Sylvester-Hadamard matrix
    (entries ``+-1/sqrt(d)``, the size of ``N(0, 1/d)`` entries), satisfies
    both for every power of two ``d``.

    Parameters
    ----------
    factor_var : array_like, shape (d,)
        ``E[s_k^2] >= 0``, the variances of the factors (zeros make the
        coefficients sparse, as in the paper's gamma-sparse model).
    noise_var : float
        ``E[eta^2] >= 0``, the isotropic noise variance.
    keep_prob : float
        ``f`` in (0, 1), the probability that a coordinate goes to ``x``.
    basis : array_like, shape (d, d), optional
        Orthogonal matrix whose column ``k`` is ``b_k``, such that
        ``sum_k basis[i, k]^2 E[s_k^2]`` is the same for every ``i``.
        Default: normalised Sylvester-Hadamard (``d`` a power of two).

    Returns
    -------
    MaskingModel
        ``k = d`` features.  ``lam_k`` (and ``rho_k``) are negative for
        factors with less than the average variance and zero at the average:
        such features are never learned by eq. 7, 8.

    Raises
    ------
    ValueError
        If ``keep_prob`` is outside (0, 1), a variance is negative or not
        finite, all variances are zero, ``d`` is not a power of two without
        ``basis``, or ``basis`` is not orthogonal or violates the constant
        diagonal; the message names the first bad index.
    """
    return MaskingModel(factor_var, noise_var, keep_prob, basis)


def _random_masking_parameters(
    factor_var: ArrayLike, noise_var: float, keep_prob: float, basis: ArrayLike | None
):
    """The checked parameters of :func:`random_masking` (the checks of its docstring)."""
    fv = _vector("factor_var", factor_var)
    if fv.ndim != 1:
        raise ValueError(f"`factor_var` must be 1-D, shape (d,); got shape {fv.shape}.")
    _nonempty("factor_var", fv)
    v.require("factor_var", fv, fv >= 0, "non-negative")
    nv = v.nonnegative_finite("noise_var", noise_var)
    if nv.ndim != 0:
        raise ValueError(f"`noise_var` must be a scalar; got shape {nv.shape}.")
    f = v.fraction("keep_prob", keep_prob)
    if f.ndim != 0:
        raise ValueError(f"`keep_prob` must be a scalar; got shape {f.shape}.")
    if fv.sum() == 0 and nv == 0:
        raise ValueError("`factor_var` and `noise_var` are all zero: the data would be 0.")
    d = fv.shape[0]
    if basis is None:
        if d & (d - 1):
            raise ValueError(
                f"`factor_var` must have a power-of-two length when `basis` is not "
                f"given (the default basis is the Sylvester-Hadamard matrix); got length {d}."
            )
        b = scipy.linalg.hadamard(d).astype(np.float64) / math.sqrt(d)
    else:
        b = np.array(v.finite("basis", basis), dtype=np.float64)
        if b.shape != (d, d):
            raise ValueError(
                f"`basis` must have shape (d, d) = ({d}, {d}) to match `factor_var`; "
                f"got shape {b.shape}."
            )
        gram = b.T @ b - np.eye(d)
        bad = np.abs(gram) > STRUCT_RTOL * d
        if bad.any():
            i, j = v.first_index(bad)
            raise ValueError(
                f"`basis` must have orthonormal columns; (basis.T @ basis)[{i}, {j}] = "
                f"{v._fmt(gram[i, j] + (i == j))}."
            )
        diag = (b * b) @ fv  # diagonal of B^T Sigma_s B
        mean = fv.mean()
        bad = np.abs(diag - mean) > STRUCT_RTOL * max(mean, np.finfo(float).tiny) * d
        if bad.any():
            i = v.first_index(bad)[0]
            raise ValueError(
                "`basis` must give E[z z^T] a constant diagonal (sum_k basis[i, k]^2 "
                f"factor_var[k] = mean(factor_var) = {v._fmt(mean)} for every i, theorem C.1); "
                f"at i = {i} it is {v._fmt(diag[i])}."
            )
    return fv, float(nv), float(f), b


def _default_images() -> tuple[np.ndarray, np.ndarray]:
    """Two unit-norm 4x4 images side by side in a 4x8 frame (d = 32 pixels).

    Image 1 is a diagonal cross in the left half, image 2 a square ring in
    the right half; pixel ``i`` is ``(i // 8, i % 8)`` of the frame.
    """
    frame = np.zeros((2, 4, 8))
    r = np.arange(4)
    frame[0, r, r] = 1.0
    frame[0, r, 3 - r] = 1.0
    frame[1, :, 4:] = 1.0
    frame[1, 1:3, 5:7] = 0.0
    images = frame.reshape(2, 32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    region = np.repeat([[0, 0, 0, 0, 1, 1, 1, 1]], 4, axis=0).reshape(32)
    return images, region


def temporal(
    images: ArrayLike | None = None,
    gamma: ArrayLike = (0.99, 0.95),
    noise_std: ArrayLike = (1.0, 0.5),
    *,
    region: ArrayLike | None = None,
) -> TemporalModel:
    """Flickering images with AR(1) amplitudes (eq. 15, appendix C.2).

    ``z_t = sum_a u_a(t) v^a + xi_t`` (eq. 134) with stationary AR(1)
    amplitudes ``u_a(t+1) = gamma_a u_a(t) + sqrt(1 - gamma_a^2) eta``
    (eq. 135-137) and pixel noise ``xi_{t,i} ~ N(0, sigma_{a(i)}^2)``
    independent over time; the views are ``x = z_t``, ``y = z_{t+1}``.  The
    images occupy disjoint regions of the frame, so the ``v^a`` are orthogonal
    eigenvectors of ``Sxx`` and ``Syx`` (eq. 138, 139) with (eq. 140, 141)::

        lam_a = gamma_a ||v^a||^2,   rho_a = gamma_a ||v^a||^2 / (sigma_a^2 + ||v^a||^2)

    The defaults reproduce figure 3: two images, ``gamma = (0.99, 0.95)``,
    noise standard deviations 1 and 0.5, so ``lam`` decreases from feature 1
    to 2 while ``rho`` increases (``lam = (0.99, 0.95)``,
    ``rho = (0.495, 0.76)`` with the default unit-norm images).

    Parameters
    ----------
    images : array_like, shape (M, d), optional
        Row ``a`` is ``v^a``, nonzero, supported inside its region.  Default:
        two unit-norm 4x4 images (a cross and a ring) side by side in a 4x8
        frame, ``d = 32``, regions the left and right halves.
    gamma : array_like, shape (M,)
        ``gamma_a`` with ``|gamma_a| < 1``.
    noise_std : array_like, shape (M,)
        ``sigma_a >= 0``, the noise standard deviation on the pixels of region ``a``.
    region : array_like of int, shape (d,), optional
        ``a(i)`` in ``0..M-1``, the region of pixel ``i``.  Default: the image
        that is nonzero at pixel ``i`` (then the supports must be disjoint and
        cover every pixel).

    Returns
    -------
    TemporalModel
        ``k = M`` features with basis ``v^a / ||v^a||``.

    Raises
    ------
    ValueError
        If ``|gamma_a| >= 1``, ``sigma_a < 0``, a value is not finite, an image
        is zero or reaches outside its region, supports overlap or leave a
        pixel uncovered (without ``region``), or the lengths do not match; the
        message names the first bad index.
    """
    return TemporalModel(images, gamma, noise_std, region)


def _temporal_parameters(
    images: ArrayLike | None, gamma: ArrayLike, noise_std: ArrayLike, region: ArrayLike | None
):
    """The checked parameters of :func:`temporal` (the checks of its docstring)."""
    if images is None:
        if region is not None:
            raise ValueError("`region` needs `images`: the default images come with their regions.")
        img, region = _default_images()
    else:
        img = np.array(v._as_float64("images", images), dtype=np.float64)
        if img.ndim != 2:
            raise ValueError(f"`images` must be 2-D, shape (M, d); got shape {img.shape}.")
        _nonempty("images", img)
        v.finite("images", img)
    m, d = img.shape
    g = _vector("gamma", gamma)
    s = _vector("noise_std", noise_std)
    for name, a in (("gamma", g), ("noise_std", s)):
        if a.shape != (m,):
            raise ValueError(
                f"`{name}` must have one entry per image, shape ({m},); got shape {a.shape}."
            )
    v.require("gamma", g, np.abs(g) < 1, "in the open interval (-1, 1)")
    v.require("noise_std", s, s >= 0, "non-negative")
    zero = ~np.any(img != 0, axis=1)
    if zero.any():
        raise ValueError(f"`images` must be nonzero; images[{v.first_index(zero)[0]}] is all zeros.")
    support = img != 0
    if region is None:
        count = support.sum(axis=0)
        if (count > 1).any():
            i = v.first_index(count > 1)[0]
            a, b = np.flatnonzero(support[:, i])[:2]
            raise ValueError(
                f"`images` must have disjoint supports (or pass `region`); images[{a}, {i}] "
                f"and images[{b}, {i}] are both nonzero."
            )
        if (count == 0).any():
            i = v.first_index(count == 0)[0]
            raise ValueError(
                f"pixel {i} is zero in every image: pass `region` to assign it a noise level."
            )
        reg = np.argmax(support, axis=0)
    else:
        reg_in = np.asarray(region)
        if reg_in.dtype.kind in "iu" and reg_in.shape != (d,):
            raise ValueError(f"`region` must have shape (d,) = ({d},); got shape {reg_in.shape}.")
        reg = v.integer_array("region", reg_in, 0, m - 1, f"an image index in 0..{m - 1}")
        outside = support & (reg[None, :] != np.arange(m)[:, None])
        if outside.any():
            a, i = v.first_index(outside)
            raise ValueError(
                f"`images` must be zero outside their regions; images[{a}, {i}] = "
                f"{v._fmt(img[a, i])} but region[{i}] = {reg[i]}."
            )
    return img, g, s, reg


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------


def _pair(x: Any, y: Any) -> tuple[Any, Any]:
    _arrays.select_backend("auto", {"x": x, "y": y})  # refuses mixed NumPy/CuPy samples
    x = _data("x", x)
    y = _data("y", y)
    if tuple(x.shape) != tuple(y.shape):
        raise ValueError(
            f"`x` and `y` must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}."
        )
    return x, y


def empirical_covariances(x: ArrayLike, y: ArrayLike) -> tuple[Any, Any]:
    """Empirical second moments ``(Sxx_hat, Syx_hat)`` of paired samples.

    Parameters
    ----------
    x, y : array_like, shape (n, d)
        Paired samples (NumPy or CuPy arrays), one sample per row.

    Returns
    -------
    sxx : ndarray, shape (d, d)
        ``x^T x / n``, the estimate of ``E[x x^T]`` (exactly symmetric).
    syx : ndarray, shape (d, d)
        ``y^T x / n``, the estimate of ``E[y x^T]``.

    Notes
    -----
    No means are subtracted: the paper's ``Sxx`` and ``Syx`` are second
    moments, and the models have zero mean.
    """
    x, y = _pair(x, y)
    n = x.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):  # refused below
        sxx = (x.T @ x) / n
        sxx = 0.5 * (sxx + sxx.T)
        syx = (y.T @ x) / n
    _representable("the second moments of `x` and `y`", "rescale the samples", sxx=sxx, syx=syx)
    return sxx, syx


def empirical_lam_rho(
    x: ArrayLike, y: ArrayLike, basis: ArrayLike, *, return_stderr: bool = False
) -> tuple[Any, ...]:
    """Empirical feature parameters along given directions.

    With ``p = x e_i`` and ``q = y e_i`` (``e_i`` = column ``i`` of
    ``basis``): ``lam_i = mean(q p)`` (``e_i^T Syx_hat e_i``) and
    ``rho_i = lam_i / mean(p^2)`` (``lam_i / e_i^T Sxx_hat e_i``).

    Parameters
    ----------
    x, y : array_like, shape (n, d)
        Paired samples.
    basis : array_like, shape (d, k)
        Feature directions (a model's ``basis``).
    return_stderr : bool, optional
        Also return Monte Carlo standard errors, estimated from the samples
        assuming independent rows: ``std(q p) / sqrt(n)`` for ``lam`` and, by
        the delta method for the ratio of means,
        ``sqrt(var(a - rho b) / n) / mean(b)`` with ``a = q p``, ``b = p^2``
        for ``rho``.  Needs ``n >= 2``.  For correlated rows (one temporal
        sequence, ``contiguous=True``) they are too small; use batch means.

    Returns
    -------
    lam, rho : ndarray, shape (k,)
    lam_stderr, rho_stderr : ndarray, shape (k,)
        Only with ``return_stderr=True``.

    Raises
    ------
    ValueError
        If shapes do not match, a value is not finite, or ``x`` has zero
        empirical variance along a column of ``basis`` (``rho`` undefined).
    """
    x, y = _pair(x, y)
    return_stderr = v.flag("return_stderr", return_stderr)
    if _arrays.is_device_array(x):
        e = _arrays.to_device(_arrays.module_of(x), basis, np.float64)
        eh = _arrays.to_host(e)
    else:
        _arrays.select_backend("auto", {"x": x, "basis": basis})  # a CuPy basis with NumPy x
        e = eh = v._as_float64("basis", basis)
    if e.ndim != 2 or e.shape[0] != x.shape[1] or e.shape[1] < 1:
        raise ValueError(
            f"`basis` must have shape (d, k) with d = {x.shape[1]} (the columns of `x`) and "
            f"k >= 1; got shape {tuple(e.shape)}."
        )
    v.finite("basis", eh)
    n = x.shape[0]
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        p = x @ e
        q = y @ e
        a = q * p
        b = p * p
        lam = a.mean(axis=0)
        s = b.mean(axis=0)
    sh = np.asarray(_arrays.to_host(s))
    zero = sh == 0
    if zero.any():
        raise ValueError(
            f"`x` has zero empirical variance along basis[:, {v.first_index(zero)[0]}] (or it "
            "underflows float64): rho is undefined."
        )
    fix = "rescale the samples"
    _representable("the empirical moments along `basis`", fix, lam=lam, var=s)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        rho = lam / s
    _representable("the empirical regression coefficients", fix, rho=rho)
    if not return_stderr:
        return lam, rho
    if n < 2:
        raise ValueError(f"standard errors need at least 2 samples; got n = {n}.")
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        lam_se = (((a - lam) ** 2).sum(axis=0) / (n - 1) / n) ** 0.5
        r = a - rho * b  # the linearisation of mean(a)/mean(b) has residual mean(r)/mean(b)
        rho_se = (((r - r.mean(axis=0)) ** 2).sum(axis=0) / (n - 1) / n) ** 0.5 / s
    _representable("the standard errors", fix, lam_stderr=lam_se, rho_stderr=rho_se)
    return lam, rho, lam_se, rho_se


def offdiagonal_error(sxx: ArrayLike, syx: ArrayLike, *, normalize: bool = True) -> float:
    """How far ``Syx`` is from diagonal in the eigenbasis of ``Sxx`` (figure 6).

    With ``U`` the orthonormal eigenvectors of the symmetric ``Sxx``
    (``numpy.linalg.eigh``) and ``M = U^T Syx U``, the error is the relative
    Frobenius norm of the off-diagonal part::

        ||M - Diag(M)||_F / ||M||_F        (0 if M = 0)

    or, with ``normalize=False``, the mean of the squared off-diagonal
    elements ``||M - Diag(M)||_F^2 / (d (d - 1))`` (figure 6's measure).  For
    simultaneously diagonalisable population moments the error is 0; for
    empirical moments of ``n`` samples it falls as ``n^(-1/2)``
    (``normalize=False``: ``n^(-1)``).  Where ``Sxx`` has repeated
    eigenvalues, ``U`` is not unique inside the eigenspace and the error is
    meaningful only if ``Syx`` is a multiple of the identity there.

    Parameters
    ----------
    sxx : array_like, shape (d, d)
        Symmetric (up to relative ``1e-10``).
    syx : array_like, shape (d, d)

    Returns
    -------
    float
    """
    a = v.square_matrix("sxx", _arrays.to_host(sxx))
    c = v._as_float64("syx", _arrays.to_host(syx))
    if c.shape != a.shape:
        raise ValueError(f"`syx` must have the shape of `sxx`, {a.shape}; got shape {c.shape}.")
    v.finite("syx", c)
    normalize = v.flag("normalize", normalize)
    v.symmetric("sxx", a, STRUCT_RTOL)
    d = a.shape[0]
    # Scale both matrices by powers of two (exact): U does not depend on the
    # scale of Sxx, M scales with Syx, and the squares below neither overflow
    # (entries up to 1e308) nor underflow (1e-300) in the scaled units.
    ea, ec = (int(np.frexp(np.max(np.abs(x)))[1]) for x in (a, c))
    a, c = np.ldexp(a, -ea), np.ldexp(c, -ec)
    _, u = np.linalg.eigh(0.5 * (a + a.T))
    m = u.T @ c @ u
    off = m - np.diag(np.diag(m))
    off2 = float(np.sum(off * off))
    if not normalize:
        if d < 2:
            return 0.0
        with np.errstate(over="ignore"):
            mean = float(np.ldexp(off2 / (d * (d - 1)), 2 * ec))
        if mean == math.inf:
            raise ValueError(
                "the mean squared off-diagonal element of `syx` in the eigenbasis of `sxx` "
                f"overflows float64 (about 2**{2 * ec} times {off2 / (d * (d - 1)):.3g}); rescale "
                "`syx` or use normalize=True."
            )
        return mean
    total = float(np.sum(m * m))
    return math.sqrt(off2 / total) if total > 0 else 0.0
