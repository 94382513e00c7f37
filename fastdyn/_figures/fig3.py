"""Figure 3: the temporal model (eq. 15): images, amplitudes, empirical moments, lam and rho.

Panels: (a) the images ``v1``, ``v2``; (b) the flickering amplitudes
``u_a(t)`` (AR(1), ``gamma = 0.99, 0.95``, eq. 137); (c) the empirical
``Sxx`` and (d) ``Sxy`` of one sequence of 500k samples; (e) ``lam`` and
``rho`` of eq. 16 against their estimates from sequences of length ``T``
(``x = z_t``, ``y = z_{t+1}``), mean and 2 standard deviations over 10 runs.
``lam`` decreases from feature 1 to 2 while ``rho`` increases, because the
noise standard deviation drops from 1 to 0.5.

Parameters the paper does not state (chosen once): the images (a unit-norm
4x4 cross and ring side by side in a 4x8 frame, :func:`fastdyn.models.temporal`'s
default), 200 steps shown in (b), ``T`` from ``10^2`` to ``10^5.3`` (10
log-spaced lengths; quick: ``10^2..10^3.7``, 5 lengths, and 20k samples for
(c, d)), seeds ``0..9`` per length.

Run time of ``fastdyn figure 3`` on 2 shared, loaded CPU cores: about 27 s.
"""

from __future__ import annotations

import numpy as np

from .. import models
from .._arrays import to_host
from . import array_module, bar, caption, pyplot, save

PARAMS = {
    "gamma": (0.99, 0.95),
    "noise_std": (1.0, 0.5),
    "n_cov": 500_000,
    "log10_T": (2.0, 5.3, 10),
    "runs": 10,
    "u_steps": 200,
}
QUICK = {"n_cov": 20_000, "log10_T": (2.0, 3.7, 5)}

CAPTION = (
    "Figure 3. Temporal model (eq. 15): (a) images v1 (cross), v2 (ring), 4x8 pixels; (b) AR(1) "
    "amplitudes u, gamma1 = 0.99, gamma2 = 0.95; (c) empirical Sxx and (d) Sxy from one sequence "
    "of 500k samples; (e) eq. 16 (lines) against estimates from sequences of length T (mean and "
    "2 standard deviations over 10 runs). Noise std 1 on image 1, 0.5 on image 2: lam falls "
    "from feature 1 to 2 while rho rises."
)


def data(*, quick: bool = False, backend: str = "cpu", progress: bool = False) -> dict:
    """The arrays behind figure 3.

    Returns
    -------
    dict
        ``images`` (2, 4, 8); ``u`` (steps, 2); ``sxx``, ``sxy`` (32, 32);
        ``T`` (m,) sequence lengths; ``lam_hat``, ``rho_hat`` (m, runs, 2)
        estimates; ``lam``, ``rho`` (2,) eq. 16.
    """
    xp = array_module(backend)
    prm = {**PARAMS, **(QUICK if quick else {})}
    model = models.temporal(gamma=PARAMS["gamma"], noise_std=PARAMS["noise_std"])
    rng = np.random.default_rng(0)
    g = np.asarray(model.gamma)
    u = np.empty((prm["u_steps"], g.size))
    u[0] = rng.standard_normal(g.size)
    for k in range(1, u.shape[0]):  # eq. 137
        u[k] = g * u[k - 1] + np.sqrt(1 - g**2) * rng.standard_normal(g.size)
    x, y = model.sample(prm["n_cov"], 1, xp=xp, contiguous=True)
    sxx, syx = models.empirical_covariances(x, y)
    del x, y
    lengths = np.unique(np.round(np.logspace(*prm["log10_T"][:2], prm["log10_T"][2])).astype(int))
    lam_hat = np.empty((lengths.size, prm["runs"], g.size))
    rho_hat = np.empty_like(lam_hat)
    jobs = [(i, r) for i in range(lengths.size) for r in range(prm["runs"])]
    for i, r in bar(jobs, total=len(jobs), desc="figure 3", enabled=progress):
        x, y = model.sample(int(lengths[i]) - 1, 1000 + 100 * i + r, xp=xp, contiguous=True)
        lh, rh = models.empirical_lam_rho(x, y, model.basis)
        lam_hat[i, r], rho_hat[i, r] = to_host(lh), to_host(rh)
    return {"images": np.asarray(model.images).reshape(-1, 4, 8), "u": u,
            "sxx": to_host(sxx), "sxy": to_host(syx).T, "T": lengths,
            "lam_hat": lam_hat, "rho_hat": rho_hat,
            "lam": np.asarray(model.lam), "rho": np.asarray(model.rho)}


def plot(d: dict, paths) -> list[str]:
    """Draw figure 3 from :func:`data` and write it to ``paths``."""
    plt = pyplot()
    fig = plt.figure(figsize=(13, 6.4))
    grid = fig.add_gridspec(2, 4)
    for a in range(2):
        ax = fig.add_subplot(grid[0, a])
        ax.imshow(d["images"][a], cmap="gray")
        ax.set_title(f"(a) v{a + 1}", fontsize=10)
        ax.set_xticks([]), ax.set_yticks([])
    ax = fig.add_subplot(grid[0, 2:])
    for a, c in enumerate(("C0", "C3")):
        ax.plot(d["u"][:, a], color=c, lw=1, label=f"u{a + 1}, gamma = {PARAMS['gamma'][a]}")
    ax.set_title("(b) amplitudes u(t)", fontsize=10)
    ax.set_xlabel("t")
    ax.legend(fontsize=7)
    for k, (key, title) in enumerate((("sxx", "(c) empirical Sxx"), ("sxy", "(d) empirical Sxy"))):
        ax = fig.add_subplot(grid[1, k])
        m = np.abs(d[key]).max()
        im = ax.imshow(d[key], cmap="RdBu_r", vmin=-m, vmax=m)
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046)
    logt = np.log10(d["T"])
    for k, (name, sym) in enumerate((("lam", "lam"), ("rho", "rho"))):
        ax = fig.add_subplot(grid[1, 2 + k])
        est = d[f"{name}_hat"]
        mean, sd = est.mean(axis=1), est.std(axis=1, ddof=1)
        for a, c in enumerate(("C0", "C3")):
            ax.fill_between(logt, mean[:, a] - 2 * sd[:, a], mean[:, a] + 2 * sd[:, a],
                            color=c, alpha=0.25, lw=0)
            ax.plot(logt, mean[:, a], "o-", color=c, ms=3, lw=1, label=f"simulation, feature {a + 1}")
            ax.axhline(d[name][a], color=c, ls="--", lw=1.2, label=f"theory (eq. 16), feature {a + 1}")
        ax.set_title(f"(e) {sym} vs sequence length", fontsize=10)
        ax.set_xlabel("log10(T)")
        ax.legend(fontsize=6)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    caption(fig, CAPTION)
    return save(fig, paths)
