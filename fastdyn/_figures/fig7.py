"""Figure 7 (beyond the paper): does the learning order survive a finite learning rate and an unbalanced start?

The paper's predictions come from gradient flow (learning rate -> 0) from the
balanced initialisation of assumption 3.1.  Here a million features (JEPA and
MAE, depth 5) are trained by the exact per-feature recursion of population
gradient descent (:func:`fastdyn.gd_critical_step`: diagonal data, aligned
network), and the order in which they are learned is compared with the
theory's:

(a) Kendall's tau between the gradient-descent order and the gradient-flow
    order (exact critical times, eq. 11), against the learning rate as a
    fraction of the smallest derived stability threshold over the features
    (:func:`fastdyn.gd_stable_lr`: ``2 / (lam rho^(2L-1))`` JEPA,
    ``2 / ((L+1) lam rho^((L-1)/(L+1)))`` MAE);
(b) the same against the imbalance of the initialisation at ``lr = 0.1`` of
    the threshold: every layer and the predictor/decoder ``eps^(1/L)
    exp(delta z)`` with independent standard normal ``z`` per layer and
    feature, rescaled so that ``w(0) = eps`` still (the theory's prediction is
    kept: gradient flow from the balanced start), at two scales ``eps``;
(c) the paper's claim itself: Kendall's tau between the learning order and
    decreasing ``rho`` (JEPA favours high ``rho``) and decreasing ``lam``
    (MAE favours high ``lam``) against the learning rate.

Parameters (chosen once): ``lam`` log-uniform on [0.5, 2] and ``rho`` uniform
on [0.8, 1.2], independent (seed 0); depth 5; ``eps = 0.1`` (JEPA's fixed point
``rho^5`` stays above ``2 eps`` for ``rho > 0.72``; ``eps = 0.05`` as the
second scale in (b)); learning defined at ``p = 0.5`` of the limit (the fixed
point; for an unbalanced start the limit fixed by the conserved quantities);
learning-rate fractions 0.05 .. 1.5.  Above 1 some features are beyond their
threshold: they are counted in ``unstable`` and kept in the order only if
they reached the level (an overshoot counts).  ``quick=True``: 20,000 features.

Run time of ``fastdyn figure 7`` on the 2-core CI machine: 4.3 minutes (1e6
features, about 3e10 feature-steps; most of it JEPA at the second, smaller
scale of panel b); ``--quick``: 13 s.

Measured (1e6 features): (a) tau(GD, flow) from 0.9997 (JEPA) / 0.998 (MAE) at
0.05 lr_max to 0.992 / 0.941 at 1.5 lr_max; no feature failed to reach its level
(the threshold concerns the fixed point, reached after the crossing); (b) at
0.1 lr_max, tau falls to 0.47 (JEPA) / 0.58 (MAE) at delta = 0.4 (eps = 0.1);
(c) tau(order, rho) stays 0.19 - 0.20 for JEPA and -0.03 - -0.04 for MAE at
every lr: JEPA's preference for high rho survives a finite learning rate.
"""

from __future__ import annotations

import numpy as np

from .. import _api
from ..analysis import compare_orders
from . import bar, caption, pyplot, save

OBJECTIVES = ("jepa", "mae")
BACKENDS = ("cpu",)  # the figure is computed on the CPU (gd_* run on the GPU from NumPy inputs)
PARAMS = {
    "n": 1_000_000, "quick_n": 20_000, "depth": 5, "lam": (0.5, 2.0), "rho": (0.8, 1.2),
    "eps": 0.1, "eps_second": 0.05, "p": 0.5, "seed": 0,
    "lr_fractions": (0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5),
    "imbalance": (0.0, 0.05, 0.1, 0.2, 0.4), "imbalance_lr_fraction": 0.1,
}

CAPTION = (
    "Figure 7 (beyond the paper). {n:,} features, lam log-uniform on [{lam0:g}, {lam1:g}], rho "
    "uniform on [{rho0:g}, {rho1:g}], depth {L}, population gradient descent per feature "
    "(diagonal data, aligned network), learned at p = {p} of the limit. (a) Kendall tau between "
    "the gradient-descent and the gradient-flow learning orders against lr / lr_max (lr_max: the "
    "smallest derived stability threshold over the features), eps = {eps}. (b) The same against "
    "the imbalance delta of the initialisation (layers eps^(1/L) exp(delta z), rescaled to "
    "w(0) = eps) at lr = {lr_imb} lr_max, eps = {eps} and {eps2}. (c) tau between the "
    "gradient-descent order and decreasing rho / lam. Seed {seed}."
)


def features(n: int, seed: int):
    rng = np.random.default_rng(seed)
    lam = 10.0 ** rng.uniform(*np.log10(PARAMS["lam"]), n)
    rho = rng.uniform(*PARAMS["rho"], n)
    return lam, rho, rng


def unbalanced(rng, n: int, depth: int, eps: float, delta: float):
    """Layers (n, L) and decoder (n,) = eps^(1/L) exp(delta z), rescaled to prod = eps
    (the construction of the sweeps' ``imbalance``; z: the layers' draws first)."""
    from .._sweep._config import imbalanced_start

    return imbalanced_start(rng.standard_normal((n, depth)), rng.standard_normal(n), eps, delta)


def _orders_tau(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    return compare_orders(a[ok], b[ok]).tau, int(ok.size - ok.sum())


def data(*, quick: bool = False, backend: str = "cpu", progress: bool = False) -> dict:
    """The orders behind figure 7.

    Returns
    -------
    dict
        ``lr_fractions`` (F,), ``imbalance`` (D,); per objective ``o``:
        ``tau_flow[o]`` (F,), ``unstable[o]`` (F,) features that did not reach
        the level (diverged first), ``tau_rho[o]``, ``tau_lam[o]`` (F,),
        ``tau_flow_rho[o]``, ``tau_flow_lam[o]`` (the theory's own taus),
        ``tau_imbalance[o]`` (2, D) at ``eps`` and ``eps_second``, ``lr_max[o]``;
        scalars ``n``, ``depth``, ``eps``, ``p``.
    """
    if backend != "cpu":
        raise ValueError("figure 7 is computed on the CPU; use --backend cpu.")
    n = PARAMS["quick_n"] if quick else PARAMS["n"]
    depth, eps, p = PARAMS["depth"], PARAMS["eps"], PARAMS["p"]
    lam, rho, rng = features(n, PARAMS["seed"])
    fractions = np.array(PARAMS["lr_fractions"])
    deltas = np.array(PARAMS["imbalance"])
    out = {"lr_fractions": fractions, "imbalance": deltas, "n": n, "depth": depth, "eps": eps,
           "eps_second": PARAMS["eps_second"], "p": p}
    for key in ("tau_flow", "unstable", "tau_rho", "tau_lam", "tau_flow_rho", "tau_flow_lam",
                "tau_imbalance", "lr_max"):
        out[key] = {}
    jobs = [(o, "lr", f) for o in OBJECTIVES for f in fractions]
    jobs += [(o, "imb", (e, d)) for o in OBJECTIVES for e in (eps, PARAMS["eps_second"])
             for d in deltas]
    flow = {}
    for o in OBJECTIVES:
        lr_max = float(_api.gd_stable_lr(lam, rho, depth=depth, objective=o).min())
        out["lr_max"][o] = lr_max
        for e in (eps, PARAMS["eps_second"]):
            flow[o, e] = _api.critical_time(lam, rho, depth=depth, eps=e, objective=o, p=p)
        out["tau_flow_rho"][o] = compare_orders(flow[o, eps], 1.0 / rho).tau
        out["tau_flow_lam"][o] = compare_orders(flow[o, eps], 1.0 / lam).tau
        out["tau_flow"][o], out["unstable"][o] = np.empty(fractions.size), np.empty(fractions.size)
        out["tau_rho"][o], out["tau_lam"][o] = np.empty(fractions.size), np.empty(fractions.size)
        out["tau_imbalance"][o] = np.empty((2, deltas.size))
    for o, kind, x in bar(jobs, total=len(jobs), desc="figure 7", enabled=progress):
        lr_max = out["lr_max"][o]
        if kind == "lr":
            i = int(np.flatnonzero(fractions == x)[0])
            k, status = _api.gd_critical_step(lam, rho, depth=depth, objective=o, lr=x * lr_max,
                                              p=p, eps=eps, return_status=True)
            out["tau_flow"][o][i], out["unstable"][o][i] = _orders_tau(k, flow[o, eps])
            out["tau_rho"][o][i] = _orders_tau(k, 1.0 / rho)[0]
            out["tau_lam"][o][i] = _orders_tau(k, 1.0 / lam)[0]
        else:
            e, d = x
            row = 0 if e == eps else 1
            j = int(np.flatnonzero(deltas == d)[0])
            layers, decoder = unbalanced(np.random.default_rng(PARAMS["seed"] + 1 + j), n, depth,
                                         e, d)
            k, status = _api.gd_critical_step(lam, rho, depth=depth, objective=o,
                                              lr=PARAMS["imbalance_lr_fraction"] * lr_max, p=p,
                                              layers=layers, decoder=decoder, return_status=True)
            out["tau_imbalance"][o][row, j] = _orders_tau(k, flow[o, e])[0]
    return out


def plot(d: dict, paths) -> list[str]:
    """Draw figure 7 from :func:`data` and write it to ``paths``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
    colors = {"jepa": "C0", "mae": "C3"}
    ax = axes[0]
    for o in OBJECTIVES:
        ax.plot(d["lr_fractions"], d["tau_flow"][o], "o-", color=colors[o], label=o.upper())
    ax.axvline(1.0, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("lr / lr_max")
    ax.set_ylabel("Kendall tau (GD order, flow order)")
    ax.set_title("(a) finite learning rate", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1]
    for o in OBJECTIVES:
        for row, ls in ((0, "-"), (1, "--")):
            e = d["eps"] if row == 0 else d["eps_second"]
            ax.plot(d["imbalance"], d["tau_imbalance"][o][row], "o" + ls, color=colors[o],
                    label=f"{o.upper()}, eps = {e:g}")
    ax.set_xlabel("imbalance delta")
    ax.set_ylabel("Kendall tau (GD order, balanced flow order)")
    ax.set_title("(b) unbalanced initialisation", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    for o in OBJECTIVES:
        ax.plot(d["lr_fractions"], d["tau_rho"][o], "o-", color=colors[o],
                label=f"{o.upper()}: tau(order, rho)")
        ax.plot(d["lr_fractions"], d["tau_lam"][o], "s--", color=colors[o],
                label=f"{o.upper()}: tau(order, lam)")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("lr / lr_max")
    ax.set_ylabel("Kendall tau with decreasing rho / lam")
    ax.set_title("(c) which features come first", fontsize=9)
    ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.92, bottom=0.27, wspace=0.3)
    caption(fig, CAPTION.format(
        n=d["n"], lam0=PARAMS["lam"][0], lam1=PARAMS["lam"][1], rho0=PARAMS["rho"][0],
        rho1=PARAMS["rho"][1], L=d["depth"], p=d["p"], eps=d["eps"], eps2=d["eps_second"],
        lr_imb=PARAMS["imbalance_lr_fraction"], seed=PARAMS["seed"]))
    return save(fig, paths)
