"""Figure 2: the ODE solutions (eq. 7, eq. 8) for three feature families, depth 5.

Rows: JEPA (a-c), MAE (d-f).  Columns:

- (a, d) ``rho = 1``, ``lam`` rising (darker = higher ``lam``);
- (b, e) ``lam = 1``, ``rho`` rising (darker = higher ``rho``);
- (c, f) ``lam`` rising and ``rho`` falling (darker = higher ``lam``, lower ``rho``).

Claim (section 4): both objectives learn greedily in ``lam``; only JEPA
learns greedily in ``rho``; with opposite trends JEPA inverts MAE's order.

Parameters the paper does not state (chosen once): ``eps = 1e-3``, six
features per panel, ``lam`` in ``linspace(1, 2, 6)`` (a), ``rho`` in
``linspace(0.4, 1, 6)`` (b), ``lam`` in ``linspace(1, 1.2, 6)`` with ``rho``
in ``linspace(1, 0.4, 6)`` (c), ``p = 0.5`` for the critical times, a linear
time axis up to 1.6 times the panel's largest critical time, 400 times.
Curves are the exact closed-form solutions (:func:`fastdyn.trajectory`).

Run time of ``fastdyn figure 2`` on 2 shared, loaded CPU cores: about 3 s.
"""

from __future__ import annotations

import numpy as np

from .. import _api
from .._arrays import to_host
from . import array_module, bar, caption, pyplot, save, shades

PARAMS = {
    "depth": 5,
    "eps": 1e-3,
    "p": 0.5,
    "n": 6,
    "lam": {"a": (1.0, 2.0), "b": (1.0, 1.0), "c": (1.0, 1.2)},
    "rho": {"a": (1.0, 1.0), "b": (0.4, 1.0), "c": (1.0, 0.4)},
    "n_times": 400,
    "t_max_factor": 1.6,
}
OBJECTIVES = ("jepa", "mae")
PANELS = ("a", "b", "c")

CAPTION = (
    "Figure 2. Exact solutions of the JEPA (top, eq. 7) and MAE (bottom, eq. 8) ODEs, depth L = 5, "
    "eps = 1e-3. (a, d) rho = 1, lam = 1..2, darker = higher lam. (b, e) lam = 1, rho = 0.4..1, "
    "darker = higher rho. (c, f) lam = 1..1.2 rising while rho = 1..0.4 falls, darker = higher lam. "
    "Dots: critical times t* (p = 0.5, eq. 11). Both objectives are greedy in lam; only JEPA is "
    "greedy in rho, and JEPA inverts MAE's order in (c, f)."
)


def features(panel: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lam, rho)`` of one panel, shape (n,) each."""
    return (np.linspace(*PARAMS["lam"][panel], n), np.linspace(*PARAMS["rho"][panel], n))


def data(*, quick: bool = False, backend: str = "cpu", progress: bool = False) -> dict:
    """The curves behind figure 2.

    Parameters
    ----------
    quick : bool
        Fewer output times (60 instead of 400); the critical times are the same.
    backend : {"cpu", "gpu"}
        Array module of the feature parameters and the critical times.
    progress : bool
        Show a progress bar (stderr, terminals only).

    Returns
    -------
    dict
        ``lam``, ``rho``: shape (3, n) per panel; ``tstar``: (2, 3, n) exact
        critical times per objective and panel; ``t``: (2, 3, T) time grids;
        ``w``: (2, 3, n, T) weights ``||Wbar e_i||``; ``fixed``: (2, 3, n).
    """
    xp = array_module(backend)
    n, L, eps, p = PARAMS["n"], PARAMS["depth"], PARAMS["eps"], PARAMS["p"]
    nt = 60 if quick else PARAMS["n_times"]
    lam = np.stack([features(k, n)[0] for k in PANELS])
    rho = np.stack([features(k, n)[1] for k in PANELS])
    tstar = np.empty((2, 3, n))
    tgrid = np.empty((2, 3, nt))
    w = np.empty((2, 3, n, nt))
    fixed = np.empty((2, 3, n))
    from ..analysis import _critical_times

    jobs = [(i, j) for i in range(2) for j in range(3)]
    for i, j in bar(jobs, total=len(jobs), desc="figure 2", enabled=progress):
        obj = OBJECTIVES[i]
        ts = _critical_times(xp, xp.asarray(lam[j]), xp.asarray(rho[j]), L, eps, obj, p)
        tstar[i, j] = to_host(ts)
        tgrid[i, j] = np.linspace(0.0, PARAMS["t_max_factor"] * tstar[i, j].max(), nt)
        w[i, j] = _api.trajectory(tgrid[i, j], lam[j], rho[j], depth=L, eps=eps, objective=obj)
        fixed[i, j] = _api.fixed_point(rho[j], depth=L, objective=obj)
    return {"lam": lam, "rho": rho, "tstar": tstar, "t": tgrid, "w": w, "fixed": fixed}


def plot(d: dict, paths) -> list[str]:
    """Draw figure 2 from :func:`data` and write it to ``paths``."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    titles = {"a": "rho = 1, lam rising", "b": "lam = 1, rho rising",
              "c": "lam rising, rho falling"}
    letters = "abcdef"
    for i, obj in enumerate(OBJECTIVES):
        cols = shades("Blues" if obj == "jepa" else "Oranges", d["lam"].shape[1])
        for j, panel in enumerate(PANELS):
            ax = axes[i, j]
            for k in range(d["lam"].shape[1]):
                ax.plot(d["t"][i, j], d["w"][i, j, k], color=cols[k], lw=1.6,
                        label=f"lam={d['lam'][j, k]:.2f}, rho={d['rho'][j, k]:.2f}")
                ts = d["tstar"][i, j, k]
                ax.plot([ts], [PARAMS["p"] * d["fixed"][i, j, k]], "o", color=cols[k], ms=3)
            ax.set_title(f"({letters[3 * i + j]}) {obj.upper()}: {titles[panel]}", fontsize=10)
            ax.set_xlabel("t")
            ax.set_ylabel("||W e_i||")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
            ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    caption(fig, CAPTION)
    return save(fig, paths)
