"""Figure 4: the ODEs for depth 2, 5, 6, 7 at ``lam = 1``, darker for higher ``rho``.

Rows: JEPA (eq. 7), MAE (eq. 8); columns: depth ``L = 2, 5, 6, 7``.

Claim (section 4, appendix A): deeper JEPA encoders spread the learning of
features with equal ``lam`` and different ``rho`` wider in time (eq. 14:
relative spread about ``(2L-1)/(2L-2) (1/rho_min - 1/rho_max) eps^(1/L)``),
while MAE learns them all at nearly the same time at every depth.

Parameters the paper does not state (chosen once): ``eps = 1e-4``, six
features with ``rho`` in ``linspace(0.5, 1, 6)``, ``p = 0.5``, a linear time
axis per panel up to 1.6 times its largest critical time, 400 times.  Each
panel states the relative spread ``max t* / min t* - 1``
(:func:`fastdyn.analysis.depth_spread`) and, for JEPA, eq. 14's prediction of
``t*(rho_min) / t*(rho_max)`` next to the exact ratio
(:func:`fastdyn.analysis.corollary_ratio`).

Run time of ``fastdyn figure 4`` on 2 shared, loaded CPU cores: about 8 s.
"""

from __future__ import annotations

import numpy as np

from .. import _api
from .._arrays import to_host
from ..analysis import corollary_ratio, depth_spread
from . import array_module, bar, caption, pyplot, save, shades

PARAMS = {
    "depths": (2, 5, 6, 7),
    "lam": 1.0,
    "eps": 1e-4,
    "p": 0.5,
    "rho": (0.5, 1.0, 6),
    "n_times": 400,
    "t_max_factor": 1.6,
}
OBJECTIVES = ("jepa", "mae")

CAPTION = (
    "Figure 4. Exact solutions of the JEPA (top) and MAE (bottom) ODEs for depth L = 2, 5, 6, 7; "
    "lam = 1, eps = 1e-4, rho = 0.5..1 (6 features), darker = higher rho; dots: critical times "
    "(p = 0.5). 'spread' = max t*/min t* - 1; 'eq. 14' = corollary 3.6's t*(rho=0.5)/t*(rho=1) "
    "against the exact ratio. Only for JEPA does depth widen the spread in rho."
)


def data(*, quick: bool = False, backend: str = "cpu", progress: bool = False) -> dict:
    """The curves and spreads behind figure 4.

    Parameters
    ----------
    quick : bool
        Fewer output times (60 instead of 400); spreads and ratios are the same.
    backend : {"cpu", "gpu"}
        Array module of the spread computation.
    progress : bool
        Show a progress bar (stderr, terminals only).

    Returns
    -------
    dict
        ``depths`` (4,), ``rho`` (n,); ``tstar`` (2, 4, n) critical times;
        ``t`` (2, 4, T); ``w`` (2, 4, n, T); ``fixed`` (2, 4, n);
        ``spread`` (2, 4) relative spreads; ``predicted``, ``exact`` (2, 4):
        eq. 14's and the exact ``t*(rho_min) / t*(rho_max)``.
    """
    xp = array_module(backend)
    depths = np.array(PARAMS["depths"])
    rho = np.linspace(*PARAMS["rho"][:2], PARAMS["rho"][2])
    lam, eps, p = PARAMS["lam"], PARAMS["eps"], PARAMS["p"]
    nt = 60 if quick else PARAMS["n_times"]
    m, n = depths.size, rho.size
    tstar = np.empty((2, m, n))
    tgrid = np.empty((2, m, nt))
    w = np.empty((2, m, n, nt))
    fixed = np.empty((2, m, n))
    spread = np.empty((2, m))
    predicted = np.empty((2, m))
    exact = np.empty((2, m))
    for i, obj in enumerate(bar(OBJECTIVES, total=2, desc="figure 4", enabled=progress)):
        spread[i] = to_host(depth_spread(xp.asarray(rho), depths=xp.asarray(depths), lam=lam,
                                          eps=eps, objective=obj, p=p))
        ratio = corollary_ratio(rho.min(), rho.max(), lam=lam, depth=depths, eps=eps,
                                objective=obj, p=p)
        predicted[i], exact[i] = to_host(ratio.predicted), to_host(ratio.exact)
        for j, L in enumerate(depths):
            tstar[i, j] = _api.critical_time(lam, rho, depth=int(L), eps=eps, objective=obj, p=p)
            tgrid[i, j] = np.linspace(0.0, PARAMS["t_max_factor"] * tstar[i, j].max(), nt)
            w[i, j] = _api.trajectory(tgrid[i, j], lam, rho, depth=int(L), eps=eps, objective=obj)
            fixed[i, j] = _api.fixed_point(rho, depth=int(L), objective=obj)
    return {"depths": depths, "rho": rho, "tstar": tstar, "t": tgrid, "w": w, "fixed": fixed,
            "spread": spread, "predicted": predicted, "exact": exact}


def plot(d: dict, paths) -> list[str]:
    """Draw figure 4 from :func:`data` and write it to ``paths``."""
    plt = pyplot()
    m = d["depths"].size
    fig, axes = plt.subplots(2, m, figsize=(3.3 * m, 6.4))
    for i, obj in enumerate(OBJECTIVES):
        cols = shades("Blues" if obj == "jepa" else "Oranges", d["rho"].size)
        for j, L in enumerate(d["depths"]):
            ax = axes[i, j]
            for k, r in enumerate(d["rho"]):
                ax.plot(d["t"][i, j], d["w"][i, j, k], color=cols[k], lw=1.5, label=f"rho={r:.1f}")
                ax.plot([d["tstar"][i, j, k]], [PARAMS["p"] * d["fixed"][i, j, k]], "o",
                        color=cols[k], ms=3)
            ax.set_title(f"{obj.upper()}, L = {L}", fontsize=10)
            ax.set_xlabel("t")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
            note = f"spread {d['spread'][i, j]:.3g}"
            if obj == "jepa":
                note += f"\neq. 14: {d['predicted'][i, j]:.4f}\nexact:  {d['exact'][i, j]:.4f}"
            ax.text(0.97, 0.04, note, transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=7, family="monospace")
            if j == 0:
                ax.set_ylabel("||W e_i||")
                ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    caption(fig, CAPTION)
    return save(fig, paths)
