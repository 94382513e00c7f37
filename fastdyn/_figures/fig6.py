"""Figure 6: simultaneous diagonalisability of the empirical moments versus sequence length.

Same setting as figure 3 (:func:`fastdyn.models.temporal` with its defaults).
For sequences of length ``T`` the empirical ``Syx`` is written in the
eigenbasis of the empirical ``Sxx``; the error is the mean of its squared
off-diagonal elements (:func:`fastdyn.models.offdiagonal_error` with
``normalize=False``), mean and 2 standard deviations over 10 runs.  It falls
with ``T``: the population moments are simultaneously diagonalisable.

Parameters the paper does not state (chosen once): ``T`` from ``10^2`` to
``10^5.3`` (10 log-spaced lengths; quick: ``10^2..10^3.7``, 5 lengths), seeds
per length and run, a log-log plot.

Run time of ``fastdyn figure 6`` on 2 shared, loaded CPU cores: about 55 s.
"""

from __future__ import annotations

import numpy as np

from .. import models
from . import array_module, bar, caption, pyplot, save

PARAMS = {"gamma": (0.99, 0.95), "noise_std": (1.0, 0.5), "log10_T": (2.0, 5.3, 10), "runs": 10}
QUICK = {"log10_T": (2.0, 3.7, 5)}

CAPTION = (
    "Figure 6. Simultaneous diagonalisability in the setting of figure 3: mean squared "
    "off-diagonal element of the empirical Sxy in the eigenbasis of the empirical Sxx, against the "
    "sequence length T (mean and 2 standard deviations over 10 runs; dashed: slope -1)."
)


def data(*, quick: bool = False, backend: str = "cpu", progress: bool = False) -> dict:
    """The arrays behind figure 6.

    Returns
    -------
    dict
        ``T`` (m,) sequence lengths; ``error`` (m, runs) off-diagonal errors.
    """
    xp = array_module(backend)
    prm = {**PARAMS, **(QUICK if quick else {})}
    model = models.temporal(gamma=PARAMS["gamma"], noise_std=PARAMS["noise_std"])
    lengths = np.unique(np.round(np.logspace(*prm["log10_T"][:2], prm["log10_T"][2])).astype(int))
    err = np.empty((lengths.size, prm["runs"]))
    jobs = [(i, r) for i in range(lengths.size) for r in range(prm["runs"])]
    for i, r in bar(jobs, total=len(jobs), desc="figure 6", enabled=progress):
        x, y = model.sample(int(lengths[i]) - 1, 5000 + 100 * i + r, xp=xp, contiguous=True)
        sxx, syx = models.empirical_covariances(x, y)
        err[i, r] = float(models.offdiagonal_error(sxx, syx, normalize=False))
    return {"T": lengths, "error": err}


def plot(d: dict, paths) -> list[str]:
    """Draw figure 6 from :func:`data` and write it to ``paths``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.6))
    mean, sd = d["error"].mean(axis=1), d["error"].std(axis=1, ddof=1)
    lo = np.maximum(mean - 2 * sd, mean * 1e-3)  # the band's lower edge on a log axis
    ax.fill_between(d["T"], lo, mean + 2 * sd, color="C0", alpha=0.25, lw=0, label="2 std, 10 runs")
    ax.plot(d["T"], mean, "o-", color="C0", ms=3, label="mean")
    ax.plot(d["T"], mean[0] * d["T"][0] / d["T"], "k--", lw=1, label="slope -1")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("mean squared off-diagonal error")
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    caption(fig, CAPTION)
    return save(fig, paths)
