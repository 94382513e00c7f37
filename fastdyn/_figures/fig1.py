"""Figure 1: deep linear networks trained with MAE and JEPA on two feature distributions.

Rows: distribution 1 (``lam`` and ``rho`` both rising with the feature index)
and distribution 2 (``lam`` rising, ``rho`` falling).  Columns: (a, d) the
feature parameters; (b, e) MAE and (c, f) JEPA, ``||Wbar e_i||`` of every
feature against the training iteration, coloured by feature index (section 2,
figure 1 of the paper).

Claim (section 2): both objectives learn distribution 1 in the same order
(higher ``lam`` first); on distribution 2 MAE keeps that order while JEPA
inverts it, learning the features with higher ``rho`` first.

Setting (appendix A.1): ``x, y`` jointly Gaussian with diagonal covariances
(:func:`fastdyn.models.gaussian`, default ``Syy = Sxx``), width ``d = 100``,
encoder depth ``L = 5``, SGD on minibatches of 1000 fresh samples
(:func:`fastdyn.train.train`), one network per panel.

Parameters the paper does not state (chosen once):

- initialisation: assumption 3.1 (balanced, ``W_a = eps^(1/L) U_a`` with Haar
  orthogonal ``U_a``), ``eps = 0.03``, so that every feature starts at
  ``||Wbar e_i|| = eps`` and the learning times can be set against the exact
  critical times of eq. 11 (figure 5 drops this assumption);
- ``lam = linspace(1, 1.2, d)``; ``rho = linspace(0.7, 1, d)`` (distribution 1)
  or ``linspace(1, 0.7, d)`` (distribution 2).  ``rho`` must stay well above
  ``(2 eps)^(1/L) = 0.57``: below it JEPA's fixed point ``rho^L`` is within a
  factor 2 of the initial weight and the feature is never "learned"; and the
  ``lam`` range must be narrow, since JEPA's dependence on ``rho`` enters at
  relative order ``eps^(1/L) / rho`` (eq. 12) and has to outweigh ``1/lam``;
- training length ``t_end = L * lr * steps`` of ODE time (MATH.md): 1700 for
  JEPA and 30 for MAE, about 1.5 times the largest exact critical time (JEPA
  1.1e3, MAE 20); the paper's 5000 iterations are reduced to **2000** (run
  time) with the learning rates raised to keep ``t_end``: JEPA ``lr =
  0.17``, MAE ``lr = 0.003`` (the largest stable rates at the fixed point
  are about 1.5 and 0.25; JEPA under SGD diverged at 0.65);
- learning time of a feature: the first recorded iteration at which
  ``||Wbar e_i||`` reaches ``p = 0.5`` of its **theoretical fixed point**
  (corollary 3.3: ``rho^L`` JEPA, ``rho^(L/(L+1))`` MAE); 201 recorded
  iterations per run; training seed 1 (data and initialisation).

``quick=True`` (tests, previews): ``d = 24`` and 1000 iterations with the same
``t_end`` (rates doubled).

Run time of ``fastdyn figure 1`` on 2 shared, loaded CPU cores (load 4-6):
about 60 s with ``OPENBLAS_NUM_THREADS=1`` (7-10 ms per SGD step of the
100-wide network, half of it drawing the minibatch), 250 s with OpenBLAS's
default 2 threads, which contend with the other load; at the paper's 5000
iterations (``data(steps=5000)``) about 2.5 times longer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _api, models
from .. import train as _train
from ..analysis import compare_orders
from . import array_module, bar, caption, pyplot, save

OBJECTIVES = ("mae", "jepa")
DISTRIBUTIONS = ("rho rising", "rho falling")


@dataclass(frozen=True)
class Setting:
    """Everything that defines one trained figure (figures 1 and 5)."""

    number: int
    depth: int
    dim: int
    batch: int
    steps: int
    lam: tuple[float, float]
    rho: tuple[float, float]
    init: str
    eps: float | None
    t_end: dict            # objective -> ODE time L * lr * steps at the end of training
    p: float
    reference: str         # "fixed point" (theory's, corollary 3.3) or "level" (absolute)
    n_records: int
    seed: int
    quick_dim: int
    quick_steps: int
    level: float = 0.5     # the absolute level of reference "level"

    def lr(self, objective: str, steps: int) -> float:
        """Learning rate that reaches ``t_end`` in ``steps`` iterations."""
        return self.t_end[objective] / (self.depth * steps)


SETTING = Setting(
    number=1, depth=5, dim=100, batch=1000, steps=2000, lam=(1.0, 1.2), rho=(0.7, 1.0),
    init="orthogonal", eps=0.03, t_end={"mae": 30.0, "jepa": 1700.0}, p=0.5,
    reference="fixed point", n_records=201, seed=1, quick_dim=24, quick_steps=1000,
)
PARAMS = {"setting": SETTING}

CAPTION = (
    "Figure 1. Deep linear networks (d = {d}, L = {L}) trained by SGD (minibatch {batch}) on "
    "Gaussian data, balanced init eps = {eps} (assumption 3.1). Rows: lam = {lam0:g}..{lam1:g} "
    "rising with rho = {rho0:g}..{rho1:g} rising (top) or falling (bottom); (a, d) feature "
    "parameters; (b, e) MAE, (c, f) JEPA: ||Wbar e_i|| per feature, colour = feature index i. "
    "{steps} iterations (paper: 5000), lr MAE {lr_m:.3g}, JEPA {lr_j:.3g} (ODE time L lr k = "
    "{t_m:g} / {t_j:g}); seed {seed}. Learning time: first iteration at p = {p} of the fixed "
    "point; tau = Kendall tau between the learning order and decreasing lam / rho. MAE learns "
    "by lam on both; JEPA by rho, inverting MAE's order on distribution 2 (bottom)."
)


def features(setting: Setting, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lam, rho)``, shape (2, dim) each: row 0 rho rising, row 1 rho falling."""
    lam = np.linspace(*setting.lam, dim)
    up = np.linspace(*setting.rho, dim)
    return np.stack([lam, lam]), np.stack([up, up[::-1]])


def learning_steps(w: np.ndarray, steps: np.ndarray, reference: np.ndarray, p: float):
    """First recorded step at which each feature reaches ``p * reference``.

    Parameters
    ----------
    w : ndarray, shape (R, n)
        ``||Wbar e_i||`` at the recorded steps.
    steps : ndarray, shape (R,)
        The recorded steps.
    reference : ndarray, shape (n,)
        Per-feature reference value (fixed point or final value).
    p : float
        Fraction in (0, 1).

    Returns
    -------
    ndarray, shape (n,)
        float64 steps; ``inf`` for a feature that never reaches it.
    """
    reached = w >= p * reference
    first = np.argmax(reached, axis=0)
    return np.where(reached.any(axis=0), steps[first].astype(np.float64), np.inf)


def _train_one(model, setting: Setting, objective: str, dim: int, steps: int, xp_name: str,
               seed: int):
    """One SGD run; returns ``(steps (R,), w (R, dim), status)``."""
    record = np.unique(np.rint(np.linspace(0, steps, setting.n_records)).astype(np.int64))
    lr = setting.lr(objective, steps)
    if xp_name == "gpu":
        # GaussianModel.sample draws with NumPy; the trainer's sampler draws on the device
        data = _train.gaussian_sampler(model.sxx, model.syx, model.syy)
        basis = np.eye(dim)
    else:
        data, basis = model, None
    kw = {"eps": setting.eps} if setting.eps is not None else {}
    res = _train.train(data, objective=objective, depth=setting.depth, lr=lr, steps=steps,
                       record=record, seeds=1, batch_size=setting.batch, init=setting.init,
                       basis=basis, seed=seed, backend=xp_name, **kw)
    return res.steps, res.w[0], int(res.status[0])


def run(setting: Setting, *, quick: bool, backend: str, progress: bool,
        steps: int | None = None) -> dict:
    """Train both objectives on both distributions of ``setting``.

    Returns
    -------
    dict
        ``lam``, ``rho`` (2, n): feature parameters per distribution;
        ``steps`` (R,) recorded iterations; ``t`` (2, R) their ODE time per
        objective (``L lr k``); ``w`` (2, 2, R, n) ``||Wbar e_i||`` indexed
        (distribution, objective, record, feature); ``reference`` (2, 2, n)
        the value of which ``p`` defines learning; ``learn_step`` (2, 2, n)
        learning times in iterations (``inf``: not learned); ``tstar`` (2, 2, n)
        exact critical times of eq. 11 in iterations (balanced init only, else
        NaN); ``status`` (2, 2) trainer status (0 ok); ``tau_lam``,
        ``tau_rho`` (2, 2) Kendall tau of the learning order with decreasing
        ``lam`` / ``rho``; ``inverted`` (2,) fraction of feature pairs JEPA
        orders opposite to MAE; ``lr`` (2,) per objective; scalars ``p``,
        ``depth``, ``n_steps``.
    """
    array_module(backend)  # fail early, with the message, when no device
    dim = setting.quick_dim if quick else setting.dim
    n_steps = int(steps) if steps is not None else (setting.quick_steps if quick else setting.steps)
    lam, rho = features(setting, dim)
    w = ref = learn = tstar = None
    status = np.zeros((2, 2), dtype=np.int8)
    jobs = [(i, j) for i in range(2) for j in range(2)]
    for i, j in bar(jobs, total=len(jobs), desc=f"figure {setting.number}", enabled=progress):
        obj = OBJECTIVES[j]
        model = models.gaussian(lam[i], rho[i])
        rec, wij, status[i, j] = _train_one(model, setting, obj, dim, n_steps, backend,
                                            setting.seed + 10 * i + j)
        if w is None:
            w = np.empty((2, 2, rec.size, dim))
            ref, learn, tstar = (np.empty((2, 2, dim)) for _ in range(3))
        w[i, j] = wij
        if setting.reference == "fixed point":
            ref[i, j] = _api.fixed_point(rho[i], depth=setting.depth, objective=obj)
            learn[i, j] = learning_steps(wij, rec, ref[i, j], setting.p)
        else:
            # without assumption 3.1 neither the fixed point of the theory nor the end of
            # training (SGD keeps the weights moving) is a per-feature scale: a feature is
            # learned when ||Wbar e_i|| first reaches one level common to all features
            ref[i, j] = setting.level
            learn[i, j] = learning_steps(wij, rec, ref[i, j], 1.0)
        if setting.init == "orthogonal":
            tc = _api.critical_time(lam[i], rho[i], depth=setting.depth, eps=setting.eps,
                                    objective=obj, p=setting.p)
            tstar[i, j] = tc / (setting.depth * setting.lr(obj, n_steps))
        else:
            tstar[i, j] = np.nan
    tau_lam = np.empty((2, 2))
    tau_rho = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            tau_lam[i, j] = compare_orders(learn[i, j], 1.0 / lam[i]).tau
            tau_rho[i, j] = compare_orders(learn[i, j], 1.0 / rho[i]).tau
    inverted = np.array([compare_orders(learn[i, 1], learn[i, 0]).inverted_fraction
                         for i in range(2)])
    lrs = np.array([setting.lr(o, n_steps) for o in OBJECTIVES])
    return {"lam": lam, "rho": rho, "steps": rec, "t": setting.depth * lrs[:, None] * rec,
            "w": w, "reference": ref, "learn_step": learn, "tstar": tstar, "status": status,
            "tau_lam": tau_lam, "tau_rho": tau_rho, "inverted": inverted, "lr": lrs,
            "p": setting.p, "depth": setting.depth, "n_steps": n_steps}


def data(*, quick: bool = False, backend: str = "cpu", progress: bool = False,
         steps: int | None = None) -> dict:
    """The trained networks behind figure 1.

    Parameters
    ----------
    quick : bool
        ``d = 30`` features and 800 iterations (same ODE time ``t_end``).
    backend : {"cpu", "gpu"}
        NumPy or CuPy training (:func:`fastdyn.train.train`).
    progress : bool
        Show a progress bar (stderr, terminals only).
    steps : int, optional
        Number of SGD iterations (default 2000, quick 800); learning rates
        follow so that ``L * lr * steps`` stays ``t_end``.  ``steps=5000``
        is the paper's setting.

    Returns
    -------
    dict
        See :func:`run`: ``w`` has shape (2, 2, R, d), indexed by
        (distribution: rho rising / falling, objective: MAE / JEPA, record,
        feature).
    """
    return run(SETTING, quick=quick, backend=backend, progress=progress, steps=steps)


def draw(d: dict, paths, setting: Setting, text: str) -> list[str]:
    """Draw a trained figure (1 or 5) from :func:`run`'s dict."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.4))
    n = d["lam"].shape[1]
    idx = np.arange(n)
    cmap = plt.get_cmap("viridis")
    cols = cmap(np.linspace(0.0, 1.0, n))
    letters = "abcdef"
    for i in range(2):
        ax = axes[i, 0]
        ax.plot(idx, d["lam"][i], color="C3", lw=2, label="lam (covariance)")
        ax.plot(idx, d["rho"][i], color="C0", lw=2, label="rho (regression coef.)")
        ax.scatter(idx, np.full(n, 0.02 + min(d["lam"][i].min(), d["rho"][i].min()) - 0.1),
                   c=cols, s=8, marker="s")
        ax.set_title(f"({letters[3 * i]}) distribution {i + 1}: lam rising, {DISTRIBUTIONS[i]}",
                     fontsize=9)
        ax.set_xlabel("feature index i (colour)")
        ax.legend(fontsize=7, loc="center right")
        for j, obj in enumerate(OBJECTIVES):
            ax = axes[i, j + 1]
            for k in range(n):
                ax.plot(d["steps"], d["w"][i, j, :, k], color=cols[k], lw=0.8)
            if setting.reference == "level":
                ax.axhline(setting.level, color="0.4", ls=":", lw=1)
            ax.set_title(f"({letters[3 * i + j + 1]}) {obj.upper()}, distribution {i + 1}",
                         fontsize=9)
            ax.set_xlabel("iteration")
            ax.set_ylabel("||Wbar e_i||")
            note = (f"lr = {d['lr'][j]:.3g}\ntau(order, lam) = {d['tau_lam'][i, j]:+.2f}\n"
                    f"tau(order, rho) = {d['tau_rho'][i, j]:+.2f}")
            if j == 1:
                note += f"\ninverted vs MAE: {d['inverted'][i]:.2f}"
            ax.text(0.03, 0.97, note, transform=ax.transAxes, ha="left", va="top",
                    fontsize=7, family="monospace",
                    bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    fig.subplots_adjust(left=0.05, right=0.9, top=0.95, bottom=0.16, hspace=0.35, wspace=0.25)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, n - 1))
    fig.colorbar(sm, cax=fig.add_axes((0.92, 0.3, 0.012, 0.5)), label="feature index i")
    caption(fig, text)
    return save(fig, paths)


def caption_text(template: str, setting: Setting, d: dict) -> str:
    """The caption of a trained figure, with the sizes and rates of ``d``."""
    return template.format(
        d=d["lam"].shape[1], L=setting.depth, batch=setting.batch, eps=setting.eps,
        lam0=setting.lam[0], lam1=setting.lam[1], rho0=setting.rho[0], rho1=setting.rho[1],
        steps=d["n_steps"], lr_m=d["lr"][0], lr_j=d["lr"][1], t_m=setting.t_end["mae"],
        t_j=setting.t_end["jepa"], seed=setting.seed, p=setting.p)


def plot(d: dict, paths) -> list[str]:
    """Draw figure 1 from :func:`data` and write it to ``paths``."""
    return draw(d, paths, SETTING, caption_text(CAPTION, SETTING, d))
