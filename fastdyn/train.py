"""Batched trainer of the deep linear JEPA / MAE networks the per-feature ODEs describe.

The model is eq. 3 of the paper: an encoder of ``depth`` d x d layers,
``Wbar = W_L ... W_1``, and a linear predictor / decoder ``V``.  The losses are
eq. 5,

    JEPA  1/2 E||V Wbar x - SG(T) y||^2,   T = Wbar  (stop-gradient target)
    MAE   1/2 E||V Wbar x - y||^2,

and ``"jepa-ema"``, where the target ``T = Tbar = T_L ... T_1`` is a separate
encoder whose layers follow an exponential moving average of the online layers
after every step, ``T_a <- m T_a + (1 - m) W_a`` (momentum ``m``; the framing of
the second description in ``shared/paper``).

Both losses are quadratic in the data, so a gradient depends on the data only
through its second moments ``Cxx = E[x x^T]``, ``Cyx = E[y x^T]``.  Gradient
descent on the population loss uses the exact ``Sxx``, ``Syx``; SGD uses the
moments of each minibatch, which gives exactly the minibatch gradient.  With
``M = V Wbar``, ``P_a = W_L ... W_{a+1}``, ``Q_a = W_{a-1} ... W_1``:

    R = M Cxx - T Cyx   (JEPA, JEPA-EMA)      R = M Cxx - Cyx   (MAE)
    grad W_a = P_a^T V^T R Q_a^T,             grad V = R Wbar^T          (eq. 20-21)

Many seeds train together: every weight is stacked along a leading seed axis
and every product is one batched ``matmul`` (NumPy on the CPU, CuPy on the GPU,
the same code).

Time (MATH.md): the ODE time of eq. 7/8 is ``t = depth * lr * k`` after ``k``
steps of learning rate ``lr``.  For ``"jepa-ema"`` the EMA enters the
per-feature ODE (``fastdyn.trajectory(..., objective="jepa-ema")``) through
``ema_time = depth * lr * m / (1 - m)``, the lag of the target behind the
online weights in ODE time units (:func:`ema_time`); ``m = 0`` is plain JEPA.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from . import _validate as v
from .kernels._constants import (DIVERGENCE_NORM, JEPA, MAE, MAX_DEPTH, MAX_STEPS_LIMIT, STRUCT_RTOL,
                                 T_MAX)
from .kernels._constants import OBJECTIVES as _OBJECTIVE_CODES

__all__ = ["TrainResult", "ema_time", "gaussian_sampler", "train"]

OBJECTIVES = tuple(_OBJECTIVE_CODES)   # "jepa", "mae", "jepa-ema"
INITS = ("orthogonal", "gaussian")
STATUS_OK = 0
STATUS_DIVERGED = 1
# a seed is stopped once the Frobenius norm of all its weights exceeds DIVERGENCE_NORM
# (kernels/_constants.py; or is not finite): products of 2 L + 2 such matrices stay in float64
_DEFAULT_RECORDS = 1000


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns (NumPy arrays, also after GPU training).

    Attributes
    ----------
    steps : ndarray of int64, shape (R,)
        The recorded step numbers ``k`` (0 is the initialisation).
    t : ndarray, shape (R,)
        Their ODE time ``depth * lr * k`` (MATH.md), the ``t`` of
        ``fastdyn.trajectory``.
    w : ndarray, shape (S, R, K)
        ``||Wbar b_j||`` for every seed, recorded step and basis column ``b_j``
        (``S`` seeds, ``K`` basis vectors).
    loss : ndarray, shape (S, R), or None
        Loss of eq. 5 at the recorded steps: the population loss where
        ``Sxx, Syx, Syy`` are known, else the loss of the minibatch of that
        step (an extra minibatch is drawn for ``k == steps``); None for
        population training without ``Syy``.
    status : ndarray of int8, shape (S,)
        0: trained to the end; 1: stopped because it diverged.
    stop_step : ndarray of int64, shape (S,)
        The last step of a valid state: ``steps`` for a seed that trained to
        the end.  A stopped seed keeps its weights of ``stop_step`` (finite,
        norm <= ``DIVERGENCE_NORM``), and its later records repeat them.
    layers : ndarray, shape (S, depth, d, d)
        Final encoder layers ``W_1 ... W_L`` (``layers[:, a-1]`` is ``W_a``).
    decoder : ndarray, shape (S, d, d)
        Final predictor / decoder ``V``.
    target : ndarray, shape (S, depth, d, d), or None
        Final EMA target layers (``"jepa-ema"`` only).
    ema_time : float or None
        ``depth * lr * m / (1 - m)`` for ``"jepa-ema"``: pass it to
        ``fastdyn.trajectory(..., objective="jepa-ema", ema_time=...)``.
    max_stable_lr : float or None
        When a seed diverged: an estimate of the largest stable learning rate
        (``2 / |largest eigenvalue|`` of the Jacobian of the gradient at the
        balanced fixed point of the theory).  None otherwise.
    """

    steps: NDArray[np.int64]
    t: NDArray[np.float64]
    w: NDArray[np.float64]
    loss: NDArray[np.float64] | None
    status: NDArray[np.int8]
    stop_step: NDArray[np.int64]
    layers: np.ndarray
    decoder: np.ndarray
    target: np.ndarray | None
    ema_time: float | None
    max_stable_lr: float | None


def ema_time(lr: float, momentum: float, depth: int) -> float:
    """ODE-time lag ``depth * lr * m / (1 - m)`` of an EMA target.

    A training run with learning rate ``lr`` and target update
    ``T_a <- m T_a + (1 - m) W_a`` after every step lets the target lag the
    online weights by ``m / (1 - m)`` steps, i.e. ``lr m / (1 - m)`` of
    gradient-flow time and ``depth * lr * m / (1 - m)`` of the ODE time
    ``t = depth * lr * k``.  This is the ``ema_time`` of the two-state ODE
    ``fastdyn.trajectory(..., objective="jepa-ema")``; ``m = 0`` gives 0,
    the stop-gradient JEPA of eq. 7.

    Parameters
    ----------
    lr : float
        Learning rate ``> 0``.
    momentum : float
        EMA momentum ``m`` in [0, 1).
    depth : int
        Encoder depth ``L >= 1``.

    Returns
    -------
    float
    """
    lr = v.scalar("lr", lr)
    m = v.scalar("momentum", momentum, _momentum)
    depth = _depth(depth)
    lag = depth * lr * m / (1.0 - m)
    if not lag <= T_MAX:
        raise ValueError(
            f"`lr`, `momentum` and `depth` must give an EMA lag depth*lr*m/(1-m) in fastdyn's "
            f"domain [0, {T_MAX:g}]; got {lag!r} (lr={lr!r}, momentum={m!r}, depth={depth})."
        )
    return lag


# ---------------------------------------------------------------------------
# validation (the checks: fastdyn._validate; messages name the parameter, the
# value and for arrays the first bad index)
# ---------------------------------------------------------------------------
def _momentum(name: str, value: object) -> np.ndarray:
    return v.interval(name, value, 0.0, 1.0, hi_closed=False)


def _depth(depth: object) -> int:
    return v.count("depth", depth, 1, MAX_DEPTH, " (fastdyn's domain)")


def _psd(what: str, ev: np.ndarray) -> None:
    """Refuse a symmetric matrix (ascending eigenvalues ``ev``) with a clearly negative one."""
    if ev[0] < -STRUCT_RTOL * max(1.0, abs(ev[-1])):
        raise ValueError(f"{what} must be positive semi-definite; its smallest eigenvalue is "
                         f"{v._fmt(ev[0])}.")


def _second_moments(names: tuple[str, str, str], sxx, syx, syy):
    """Host float64 ``(sxx, syx, syy or None)``: finite, (d, d), ``sxx`` symmetric and PSD."""
    sxx = v.square_matrix(names[0], _arrays.to_host(sxx))
    v.symmetric(names[0], sxx, STRUCT_RTOL)
    _psd(f"`{names[0]}`", np.linalg.eigvalsh(0.5 * (sxx + sxx.T)))
    syx = v.matrix(names[1], _arrays.to_host(syx), sxx.shape)
    syy = None if syy is None else v.matrix(names[2], _arrays.to_host(syy), sxx.shape)
    return sxx, syx, syy


def _covariances(data) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(sxx, syx, syy)`` of a model object or a tuple; None where unknown."""
    if isinstance(data, tuple):
        if len(data) not in (2, 3):
            raise ValueError(f"`data` as a tuple must be (sxx, syx) or (sxx, syx, syy); "
                             f"got a tuple of length {len(data)}.")
        return _second_moments(("sxx", "syx", "syy"), *data, *((None,) * (3 - len(data))))
    if hasattr(data, "sxx") and hasattr(data, "syx"):
        return _second_moments(("data.sxx", "data.syx", "data.syy"), data.sxx, data.syx,
                               getattr(data, "syy", None))
    return None, None, None


def _record_steps(record, steps: int) -> np.ndarray:
    if record is None:
        n = min(steps, _DEFAULT_RECORDS)
        return np.unique(np.rint(np.linspace(0, steps, n + 1)).astype(np.int64))
    r = record if isinstance(record, np.ndarray) else np.asarray(record)
    if r.size == 0:
        raise ValueError("`record` must hold at least one step; got an empty array.")
    r = v.integer_array("record", r, 0, steps, f"in [0, steps] = [0, {steps}]",
                        kind="an array of integer steps")
    if r.ndim != 1:
        raise ValueError(f"`record` must be a 1-D array; got shape {r.shape}.")
    if r.size > 1:
        rising = r[1:] > r[:-1]
        if not bool(np.all(rising)):
            i = int(np.argmin(rising)) + 1
            raise ValueError(f"`record` must be strictly increasing; "
                             f"record[{i}] = {r[i]} <= record[{i - 1}] = {r[i - 1]}.")
    return r


# ---------------------------------------------------------------------------
# samplers, initialisation
# ---------------------------------------------------------------------------
def _draw(sampler: Callable, n: int, rng, d: int | None = None):
    """``sampler(n, rng)``, checked to be a pair of real arrays of shape (n, d).

    The values are not scanned here (that would cost a pass over every
    minibatch); a non-finite draw is reported when it makes a seed diverge.
    """
    out = sampler(n, rng)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"`data` (a sampler) must return a pair (x, y) of arrays of shape "
                        f"(n, d); got {type(out).__name__} from sample({n}, rng).")
    pair = []
    for name, a in zip("xy", out):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            a = np.asarray(a)
        if a.dtype.kind not in "iuf":
            raise TypeError(f"`data` (a sampler) must return real arrays; {name} of "
                            f"sample({n}, rng) has dtype {a.dtype}.")
        want = (n, d if d is not None else (a.shape[1] if a.ndim == 2 else -1))
        if tuple(a.shape) != want or want[1] < 1:
            expect = f"({n}, d)" if d is None else f"({n}, {d})"
            raise ValueError(f"`data` (a sampler) must return x and y of shape {expect}; "
                             f"{name} of sample({n}, rng) has shape {tuple(a.shape)}.")
        pair.append(a)
    return pair


def gaussian_sampler(sxx: ArrayLike, syx: ArrayLike, syy: ArrayLike) -> Callable:
    """Sampler of centred jointly Gaussian ``(x, y)`` with the given covariances.

    ``[x; y] = F z`` with ``F F^T`` the joint covariance ``[[Sxx, Sxy], [Syx,
    Syy]]`` (a symmetric square root, so a positive semi-definite covariance
    works too).  The returned callable ``sample(n, rng)`` draws ``(x, y)``,
    each of shape ``(n, d)``, with ``rng`` a ``numpy.random.Generator`` or a
    ``cupy.random.Generator``; the arrays live where the generator does (the
    trainer's GPU path draws its minibatches on the device this way).

    Parameters
    ----------
    sxx, syx, syy : array_like, shape (d, d)
        ``E[x x^T]``, ``E[y x^T]``, ``E[y y^T]``.

    Returns
    -------
    callable
        ``sample(n, rng) -> (x, y)``.

    Raises
    ------
    ValueError
        If the joint covariance is not positive semi-definite.
    """
    sxx = v.square_matrix("sxx", _arrays.to_host(sxx))
    d = sxx.shape[0]
    syx = v.matrix("syx", _arrays.to_host(syx), (d, d))
    syy = v.matrix("syy", _arrays.to_host(syy), (d, d))
    joint = np.block([[sxx, syx.T], [syx, syy]])
    joint = 0.5 * (joint + joint.T)
    ev, vec = np.linalg.eigh(joint)
    _psd("the joint covariance of (x, y)", ev)
    factor_t = (vec * np.sqrt(np.clip(ev, 0.0, None))) @ vec.T   # symmetric root
    cache: dict[Any, Any] = {}

    def sample(n: int, rng):
        n = v.array_count("n", n, 32 * d, f"the draws, 2 arrays of shape (n, {2 * d})")
        xp = _arrays.generator_module(rng)
        if xp is None:
            raise TypeError(f"`rng` must be a numpy.random.Generator or a cupy.random.Generator; "
                            f"got {type(rng).__name__}.")
        key = id(xp)
        if key not in cache:
            cache[key] = xp.asarray(factor_t)
        z = rng.standard_normal((n, 2 * d))
        xy = z @ cache[key]
        return xy[:, :d], xy[:, d:]

    return sample


def _haar_orthogonal(rng: np.random.Generator, shape: tuple[int, ...], d: int) -> np.ndarray:
    """Haar-distributed orthogonal matrices, shape ``shape + (d, d)`` (QR with sign fix)."""
    z = rng.standard_normal(shape + (d, d))
    q, r = np.linalg.qr(z)
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def _initial_weights(init, objective, depth, d, seeds, eps, rng):
    """``(layers (S, L, d, d), decoder (S, d, d), target or None)`` on the host."""
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"`init` must be 'orthogonal', 'gaussian' or a tuple "
                             f"(layers, decoder[, target]); got {init!r}.")
        if init == "orthogonal":
            # assumption 3.1: W_a = eps^(1/L) U_a; V = eps^(1/L) I (JEPA, diagonal U_v) or
            # eps^(1/L) (U_L ... U_1)^T (MAE): every column norm of Wbar starts at eps
            scale = eps ** (1.0 / depth)
            u = _haar_orthogonal(rng, (seeds, depth), d)
            layers = scale * u
            if objective == "mae":
                prod = u[:, 0]
                for a in range(1, depth):
                    prod = u[:, a] @ prod
                decoder = scale * np.swapaxes(prod, -1, -2)
            else:
                decoder = np.broadcast_to(scale * np.eye(d), (seeds, d, d)).copy()
        else:
            # figure 5: "standard gaussian initialization with default scale": Gaussian
            # entries with the variance of PyTorch's default nn.Linear initialisation
            # (kaiming_uniform(a=sqrt(5)), ref. [38]): 1 / (3 fan_in)
            std = 1.0 / math.sqrt(3.0 * d)
            layers = std * rng.standard_normal((seeds, depth, d, d))
            decoder = std * rng.standard_normal((seeds, d, d))
        return layers, decoder, None
    if not isinstance(init, tuple) or len(init) not in (2, 3):
        got = f"a tuple of length {len(init)}" if isinstance(init, tuple) else type(init).__name__
        raise TypeError("`init` must be 'orthogonal', 'gaussian' or a tuple "
                        f"(layers, decoder[, target]); got {got}.")
    layers = v.matrix("init[0]", _arrays.to_host(init[0]))
    decoder = v.matrix("init[1]", _arrays.to_host(init[1]))
    if layers.shape == (depth, d, d):
        layers = np.broadcast_to(layers, (seeds, depth, d, d)).copy()
    if decoder.shape == (d, d):
        decoder = np.broadcast_to(decoder, (seeds, d, d)).copy()
    if layers.shape != (seeds, depth, d, d):
        raise ValueError(f"`init[0]` (layers) must have shape {(depth, d, d)} or "
                         f"{(seeds, depth, d, d)}; got shape {layers.shape}.")
    if decoder.shape != (seeds, d, d):
        raise ValueError(f"`init[1]` (decoder) must have shape {(d, d)} or {(seeds, d, d)}; "
                         f"got shape {decoder.shape}.")
    target = None
    if len(init) == 3 and init[2] is not None:
        target = v.matrix("init[2]", _arrays.to_host(init[2]))
        if target.shape == (depth, d, d):
            target = np.broadcast_to(target, (seeds, depth, d, d)).copy()
        if target.shape != (seeds, depth, d, d):
            raise ValueError(f"`init[2]` (target) must have shape {(depth, d, d)} or "
                             f"{(seeds, depth, d, d)}; got shape {target.shape}.")
    return layers, decoder, target


# ---------------------------------------------------------------------------
# the batched network (xp = numpy or cupy)
# ---------------------------------------------------------------------------
def _product(xp, layers):
    """``Wbar = W_L ... W_1`` for stacked layers (S, L, d, d)."""
    out = layers[:, 0]
    for a in range(1, layers.shape[1]):
        out = xp.matmul(layers[:, a], out)
    return out


def _gradients(xp, objective_code, layers, decoder, tbar, cxx, cyx):
    """Gradients of eq. 5 given second moments (eq. 20-21 and their MAE twins).

    ``cxx``, ``cyx``: (d, d) or (S, d, d).  ``tbar``: the stop-gradient target
    (ignored for MAE; ``None`` means the online ``Wbar``).  Returns
    ``(grad_layers (S, L, d, d), grad_decoder (S, d, d), wbar)``.
    """
    depth = layers.shape[1]
    # prefixes Q_a = W_{a-1} ... W_1 (Q_1 = I, not stored) and Wbar
    prefix = [None] * (depth + 1)
    prefix[1] = layers[:, 0]
    for a in range(2, depth + 1):
        prefix[a] = xp.matmul(layers[:, a - 1], prefix[a - 1])
    wbar = prefix[depth]
    m = xp.matmul(decoder, wbar)
    if objective_code == MAE:        # R = M Cxx - Cyx
        r = xp.matmul(m, cxx) - cyx
    else:                            # JEPA: R = M Cxx - SG(T) Cyx
        t = wbar if tbar is None else tbar
        r = xp.matmul(m, cxx) - xp.matmul(t, cyx)
    grad_v = xp.matmul(r, xp.swapaxes(wbar, -1, -2))
    # back-propagate B_a = P_a^T V^T R, from the top layer down
    g = xp.empty_like(layers)
    back = xp.matmul(xp.swapaxes(decoder, -1, -2), r)          # B_L
    for a in range(depth, 0, -1):
        if a == 1:
            g[:, 0] = back
        else:
            g[:, a - 1] = xp.matmul(back, xp.swapaxes(prefix[a - 1], -1, -2))
            back = xp.matmul(xp.swapaxes(layers[:, a - 1], -1, -2), back)
    return g, grad_v, wbar


def _loss(xp, objective_code, wbar, decoder, tbar, cxx, cyx, cyy):
    """Loss of eq. 5 from second moments, shape (S,)."""
    m = xp.matmul(decoder, wbar)
    quad = 0.5 * xp.sum(xp.matmul(m, cxx) * m, axis=(-2, -1))
    if objective_code == MAE:
        # tr(M Cxy) = sum(M * Cyx)
        return quad - xp.sum(m * cyx, axis=(-2, -1)) + 0.5 * xp.trace(cyy, axis1=-2, axis2=-1)
    t = wbar if tbar is None else tbar
    # tr(M Cxy T^T) = sum(T Cyx * M); tr(T Cyy T^T) = sum(T Cyy * T)
    cross = xp.sum(xp.matmul(t, cyx) * m, axis=(-2, -1))
    return quad - cross + 0.5 * xp.sum(xp.matmul(t, cyy) * t, axis=(-2, -1))


def _column_norms(xp, wbar, basis):
    """``||Wbar b_j||`` for every seed and column of ``basis``, shape (S, K)."""
    return xp.sqrt(xp.sum(xp.matmul(wbar, basis) ** 2, axis=-2))


# ---------------------------------------------------------------------------
# public trainer
# ---------------------------------------------------------------------------
def train(
    data,
    *,
    objective: str,
    depth: int,
    lr: float,
    steps: int,
    record: ArrayLike | None = None,
    seeds: int = 1,
    batch_size: int | None = None,
    init: str | tuple = "orthogonal",
    eps: float = 1e-3,
    momentum: float | None = None,
    basis: ArrayLike | None = None,
    seed: int | None = 0,
    backend: str = "cpu",
    dtype: type = np.float64,
) -> TrainResult:
    """Train ``seeds`` independent deep linear networks (eq. 3, 5) as one batch.

    Parameters
    ----------
    data : model, tuple or callable
        A model object with ``.sxx``, ``.syx`` (d, d) population covariances,
        optionally ``.syy``, ``.basis`` (d, K) and ``.sample(n, rng) -> (x,
        y)`` (``fastdyn.models``); or a tuple ``(sxx, syx)`` /
        ``(sxx, syx, syy)`` of arrays (d, d); or a sampler callable
        ``sample(n, rng) -> (x, y)``, each of shape (n, d), for SGD.
        ``Sxx = E[x x^T]``, ``Syx = E[y x^T]``.
    objective : {"jepa", "mae", "jepa-ema"}
        Loss of eq. 5; ``"jepa-ema"`` uses an EMA target encoder.
    depth : int
        Number ``L`` of encoder layers, 1..64 (fastdyn's domain).
    lr : float
        Learning rate ``eta`` (plain gradient descent, no momentum).
    steps : int
        Number of updates, ``>= 0``; the run's ODE time ``depth * lr * steps``
        must stay below 1e300.
    record : array_like of int, shape (R,), optional
        Strictly increasing steps in [0, steps] at which ``||Wbar b_j||`` and
        the loss are recorded (0: before training).  Default: up to 1001
        evenly spaced steps from 0 to ``steps``.
    seeds : int
        Number ``S`` of independent networks (own initialisation and own
        minibatches), trained together by batched matrix products.
    batch_size : int, optional
        None: gradient descent on the population loss (needs ``Sxx``,
        ``Syx``).  An int: SGD, each seed draws its own minibatch of this
        size every step from ``data.sample`` or the sampler.
    init : {"orthogonal", "gaussian"} or tuple
        ``"orthogonal"``: assumption 3.1, ``W_a = eps^(1/L) U_a`` with Haar
        random ``U_a`` per seed, ``V = eps^(1/L) I`` (JEPA) or
        ``eps^(1/L) (U_L ... U_1)^T`` (MAE), so ``||Wbar e|| = eps`` in every
        direction.  ``"gaussian"``: the default initialisation of figure 5,
        i.i.d. ``N(0, 1/(3 d))`` entries in every layer and ``V`` (the
        variance of PyTorch's default ``nn.Linear`` initialisation).  A tuple
        ``(layers, decoder[, target])`` of arrays ``(L, d, d)`` or
        ``(S, L, d, d)`` and ``(d, d)`` or ``(S, d, d)``: user weights, e.g.
        ``(res.layers, res.decoder, res.target)`` of an earlier run.
    eps : float
        Initialisation scale of ``"orthogonal"``.
    momentum : float, optional
        EMA momentum ``m`` in [0, 1), required for (and only for)
        ``"jepa-ema"``: after every step ``T_a <- m T_a + (1 - m) W_a``; the
        target starts as a copy of the online layers.  ``m = 0`` is JEPA.
    basis : array_like, shape (d, K), optional
        Directions ``b_j`` of the recorded ``||Wbar b_j||``.  Default: the
        model's ``.basis``, else the eigenvectors of ``Sxx`` (ascending
        eigenvalues), else the identity.
    seed : int or None
        Non-negative seed of the NumPy generator that draws initialisations
        and, on the CPU, minibatches (on the GPU a CuPy generator with the
        same seed); None: fresh entropy.
    backend : {"cpu", "gpu"}
        NumPy or CuPy (the same code path).  On the GPU, minibatches of a
        sampler callable / ``data.sample`` are drawn on the host and copied;
        samplers from :func:`gaussian_sampler` draw on the device.
    dtype : numpy dtype
        ``float64`` (default) or ``float32`` arithmetic.

    Returns
    -------
    TrainResult
        Plain NumPy arrays: ``w`` (S, R, K), ``loss`` (S, R), ``status`` and
        ``stop_step`` (S,), the final weights, ``t = depth * lr * steps``.

    Raises
    ------
    TypeError, ValueError
        For bad input, naming the parameter and the value (for arrays the
        first bad index): e.g. a negative, float or string ``seed``, an
        unknown ``dtype``, ``sxx`` that is not symmetric positive
        semi-definite, a sampler that returns arrays of the wrong shape.
    fastdyn.GPUUnavailableError
        ``backend="gpu"`` without CuPy or without a CUDA device (a
        ``RuntimeError``).

    Warns
    -----
    RuntimeWarning
        If a seed diverged: how many, where, and an estimate of the largest
        stable learning rate.  The seed is stopped (status 1) and keeps its
        last finite weights; the output holds no NaN or inf.

    Notes
    -----
    Under assumption 3.1 and population gradient descent with a small ``lr``,
    ``res.w[s, j]`` follows ``fastdyn.trajectory(res.t, lam, rho,
    depth=depth, eps=eps)`` (theorem 3.2, eq. 7 / 8) up to an error
    ``O(lr)``; for ``"jepa-ema"`` pass ``ema_time=res.ema_time``.
    """
    objective = v.check_choice("objective", objective, OBJECTIVES)
    depth = _depth(depth)
    lr = v.scalar("lr", lr)
    steps = v.count("steps", steps, 0, MAX_STEPS_LIMIT)
    seeds = v.count("seeds", seeds)
    eps = v.scalar("eps", eps)
    v.in_domain("eps", eps)
    seed = v.seed("seed", seed)
    dt = v.float_dtype("dtype", dtype)
    if objective == "jepa-ema":
        if momentum is None:
            raise TypeError("objective 'jepa-ema' needs `momentum` (the EMA momentum per step).")
        m = v.scalar("momentum", momentum, _momentum)
        ema_time(lr, m, depth)  # the lag must be in fastdyn's domain
    else:
        if momentum is not None:
            raise ValueError(f"`momentum` is only used by objective 'jepa-ema'; "
                             f"got momentum={momentum!r} with objective={objective!r}.")
        m = None
    if not depth * lr * steps <= T_MAX:
        raise ValueError(f"`lr` and `steps` must keep the ODE time depth*lr*steps in fastdyn's "
                         f"domain [0, {T_MAX:g}]; got {depth * lr * steps!r} (lr={lr!r}, "
                         f"steps={steps}, depth={depth}).")
    obj_code = MAE if objective == "mae" else JEPA
    rec = _record_steps(record, steps)

    sxx, syx, syy = _covariances(data)
    if batch_size is None:
        if sxx is None:
            raise TypeError("population gradient descent (batch_size=None) needs `data` with "
                            "covariances: a model with .sxx and .syx, or a tuple (sxx, syx).")
        sampler = None
    else:
        batch_size = v.count("batch_size", batch_size)
        if callable(data) and not hasattr(data, "sxx"):
            sampler = data
        elif hasattr(data, "sample"):
            sampler = data.sample
        else:
            raise TypeError("SGD (batch_size given) needs `data` with a sampler: a model with "
                            ".sample(n, rng) or a callable sample(n, rng) -> (x, y).")
    xp = _arrays.backend_module(backend)
    rng = np.random.default_rng(seed)

    if sxx is not None:
        d = sxx.shape[0]
    else:
        x0, _ = _draw(sampler, 1, rng if xp is np else _device_rng(xp, seed))
        d = int(x0.shape[-1])
    v.array_count("seeds", seeds, 8 * depth * d * d,
                  f"the stacked weights (seeds, {depth}, {d}, {d})")
    if batch_size is not None:
        v.array_count("batch_size", batch_size, 16 * seeds * d,
                      f"the minibatches of all seeds, 2 x ({seeds} batch_size, {d})")
    basis = _basis(basis, data, sxx, d)
    layers, decoder, target = _initial_weights(init, objective, depth, d, seeds, eps, rng)
    if objective == "jepa-ema" and target is None:
        target = layers.copy()
    if objective != "jepa-ema" and target is not None:
        raise ValueError("`init` has a target (third entry) but only objective 'jepa-ema' "
                         "uses one.")

    # --- to the device, in the working dtype
    def dev(a):
        return None if a is None else xp.asarray(a, dtype=dt)

    layers, decoder, target = dev(layers), dev(decoder), dev(target)
    basis_d = dev(basis)
    pop = (dev(sxx), dev(syx), dev(syy)) if sxx is not None else None
    # SGD draws from the sampler with a generator of the array module
    draw_rng = rng if xp is np else _device_rng(xp, seed)

    n_rec = rec.shape[0]
    w_out = xp.empty((seeds, n_rec, basis.shape[1]), dtype=dt)
    record_loss = (pop is not None and pop[2] is not None) or sampler is not None
    loss_out = xp.empty((seeds, n_rec), dtype=dt) if record_loss else None
    active = xp.ones(seeds, dtype=bool)
    stop_step = np.full(seeds, steps, dtype=np.int64)
    j = 0

    def moments(n):
        x, y = _draw(sampler, seeds * n, draw_rng, d)
        x = xp.asarray(x, dtype=dt).reshape(seeds, n, d)
        y = xp.asarray(y, dtype=dt).reshape(seeds, n, d)
        xt = xp.swapaxes(x, -1, -2)
        return xp.matmul(xt, x) / n, xp.matmul(xp.swapaxes(y, -1, -2), x) / n, y

    for k in range(steps + 1):
        recording = j < n_rec and rec[j] == k
        if k == steps and not recording:
            break
        if sampler is None:
            cxx, cyx, _ = pop
            batch_y = None
        else:
            cxx, cyx, batch_y = moments(batch_size)
        tbar = _product(xp, target) if target is not None else None
        if recording:
            wbar = _product(xp, layers)
            w_out[:, j] = _column_norms(xp, wbar, basis_d)
            if record_loss:
                if pop is not None and pop[2] is not None:
                    lx, lyx, lyy = pop
                else:
                    lx, lyx = cxx, cyx
                    lyy = xp.matmul(xp.swapaxes(batch_y, -1, -2), batch_y) / batch_size
                loss_out[:, j] = _loss(xp, obj_code, wbar, decoder, tbar, lx, lyx, lyy)
            j += 1
        if k == steps:
            break
        # a diverging seed may overflow here: it is stopped below, and never recorded
        with np.errstate(over="ignore", invalid="ignore"):
            g, gv, _ = _gradients(xp, obj_code, layers, decoder, tbar, cxx, cyx)
            new_layers = layers - lr * g
            new_decoder = decoder - lr * gv
            # stop seeds whose weights leave float64's comfortable range (or turn non-finite);
            # the sum of squares is inf/NaN in exactly those cases or above the bound
            sq = (xp.sum(new_layers * new_layers, axis=(1, 2, 3))
                  + xp.sum(new_decoder * new_decoder, axis=(1, 2)))
        ok = sq <= DIVERGENCE_NORM ** 2
        newly = active & ~ok
        if bool(xp.any(newly)):
            if sampler is not None and not bool(xp.all(xp.isfinite(cxx)) & xp.all(xp.isfinite(cyx))):
                raise ValueError(f"`data` (a sampler) returned a minibatch at step {k} with "
                                 "non-finite values (or second moments that overflow float64).")
            stop_step[_arrays.to_host(newly)] = k
            active = active & ok
        keep = active[:, None, None]
        layers = xp.where(keep[..., None], new_layers, layers)
        decoder = xp.where(keep, new_decoder, decoder)
        if target is not None:
            target = xp.where(keep[..., None], m * target + (1.0 - m) * layers, target)

    status = np.where(stop_step < steps, STATUS_DIVERGED, STATUS_OK).astype(np.int8)
    max_lr = None
    if np.any(status):
        with np.errstate(over="ignore", invalid="ignore"):  # an extreme Sxx: estimate 0 or inf
            max_lr = _stable_lr_estimate(obj_code, depth, sxx, syx, sampler, d, rng)
        bad = np.flatnonzero(status)
        warnings.warn(
            f"train: lr={lr!r} diverged for {bad.size} of {seeds} seeds (first: seed "
            f"{int(bad[0])} after step {int(stop_step[bad[0]])}); those seeds were stopped "
            f"(status 1) and keep their last finite weights. Estimated largest stable "
            f"learning rate: {max_lr:.3g} (2 / largest eigenvalue of the gradient's Jacobian "
            f"at the fixed point of the theory).",
            RuntimeWarning, stacklevel=2)
    return TrainResult(
        steps=rec, t=depth * lr * rec.astype(np.float64),
        w=_arrays.to_host(w_out).astype(np.float64),
        loss=None if loss_out is None else _arrays.to_host(loss_out).astype(np.float64),
        status=status, stop_step=stop_step,
        layers=_arrays.to_host(layers), decoder=_arrays.to_host(decoder),
        target=None if target is None else _arrays.to_host(target),
        ema_time=None if m is None else ema_time(lr, m, depth),
        max_stable_lr=max_lr,
    )


def _device_rng(xp, seed):
    return xp.random.default_rng(seed)


def _basis(basis, data, sxx, d) -> np.ndarray:
    if basis is None:
        basis = getattr(data, "basis", None)
        if basis is None:
            if sxx is None:
                return np.eye(d)
            return np.linalg.eigh(0.5 * (sxx + sxx.T))[1]
        name = "data.basis"
    else:
        name = "basis"
    b = v.matrix(name, _arrays.to_host(basis))
    if b.ndim != 2 or b.shape[0] != d or b.shape[1] < 1:
        raise ValueError(f"`{name}` must have shape (d, K) = ({d}, K) with K >= 1; "
                         f"got shape {b.shape}.")
    return b


# ---------------------------------------------------------------------------
# largest stable learning rate (estimate)
# ---------------------------------------------------------------------------
def _stable_lr_estimate(obj_code, depth, sxx, syx, sampler, d, rng, iters=60) -> float:
    """``2 / |mu|``, ``mu`` the dominant eigenvalue of the gradient's Jacobian.

    Evaluated at the balanced fixed point of the theory in the eigenbasis
    ``E`` of ``Sxx``: every layer and ``V`` equal ``E diag(u) E^T`` with
    ``u = rho`` (JEPA, ``w* = rho^L``) or ``rho^(1/(L+1))`` (MAE, ``w* =
    rho^(L/(L+1))``), ``rho_i = (E^T Syx E)_ii / (E^T Sxx E)_ii`` (0 where
    negative).  Gradient descent is linearly stable there iff ``lr < 2/|mu|``
    for real ``mu``; with a small initialisation the sharpness grows along
    the trajectory towards this value, so it bounds the stable rates of the
    whole run.  Power iteration on central-difference Jacobian-vector
    products; without covariances they are estimated from one large batch.
    """
    if sxx is None:
        x, y = (_arrays.to_host(a) for a in _draw(sampler, 20_000, rng, d))
        sxx, syx = x.T @ x / x.shape[0], y.T @ x / x.shape[0]
    ev, e = np.linalg.eigh(0.5 * (sxx + sxx.T))
    lam = np.einsum("ji,jk,ki->i", e, syx, e)
    rho = np.clip(lam / np.maximum(ev, 1e-300), 0.0, None)
    u = rho ** (1.0 / (depth + 1)) if obj_code == MAE else rho
    w_fp = (e * u) @ e.T
    p0 = np.concatenate([np.broadcast_to(w_fp, (depth + 1, d, d)).reshape(-1)])

    def grad(p):
        layers = p[: depth * d * d].reshape(1, depth, d, d)
        decoder = p[depth * d * d:].reshape(1, d, d)
        g, gv, _ = _gradients(np, obj_code, layers, decoder, None, sxx, syx)
        return np.concatenate([g.reshape(-1), gv.reshape(-1)])

    v = rng.standard_normal(p0.shape)
    v /= np.linalg.norm(v)
    h = 1e-6 * max(1.0, float(np.abs(p0).max()))
    mu = 0.0
    for _ in range(iters):
        jv = (grad(p0 + h * v) - grad(p0 - h * v)) / (2.0 * h)
        mu = float(np.linalg.norm(jv))
        if not mu > 0.0:
            return math.inf
        v = jv / mu
    return 2.0 / mu
