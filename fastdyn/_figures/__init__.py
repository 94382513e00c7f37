"""The paper's six figures, and figure 7 beyond it, reproduced by ``fastdyn figure N``.

One module per figure (``fig1`` .. ``fig6``), each with

- ``PARAMS``: the parameters, including those the paper does not state
  (chosen once; also listed in the module docstring and the caption);
- ``data(*, quick=False, backend="cpu", progress=False)``: the arrays behind
  the figure, as a dict of NumPy arrays and floats (the tests assert each
  figure's claim from these, not from pixels); ``quick`` shrinks sample sizes
  for tests;
- ``plot(data, paths)``: draws the figure with matplotlib (Agg) and writes it
  to every path in ``paths`` (format from the suffix).

matplotlib and tqdm are imported only when a figure is drawn or computed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from .. import _arrays

FIGURES = (1, 2, 3, 4, 5, 6, 7)
FORMATS = ("png", "pdf", "svg")


def module(n: int):
    """The module of figure ``n``."""
    if n not in FIGURES:
        raise ValueError(f"`N` must be one of {', '.join(map(str, FIGURES))}; got {n!r}.")
    try:
        return importlib.import_module(f"fastdyn._figures.fig{n}")
    except ModuleNotFoundError as exc:
        if exc.name != f"fastdyn._figures.fig{n}":
            raise
        raise NotImplementedError(f"figure {n} is not implemented yet.") from None


def array_module(backend: str):
    """``numpy`` for ``"cpu"``; ``cupy`` for ``"gpu"``, checked to reach a device.

    Raises
    ------
    TypeError, ValueError
        ``backend`` is not ``"cpu"`` or ``"gpu"``.
    fastdyn._arrays.GPUUnavailableError
        ``"gpu"`` without CuPy or a CUDA device (a ``RuntimeError``; the
        message says "needs CuPy and a CUDA device" and how to install CuPy).
    """
    try:
        return _arrays.backend_module(backend)
    except _arrays.GPUUnavailableError as exc:
        raise _arrays.GPUUnavailableError(
            f"backend 'gpu' needs CuPy and a CUDA device: {exc}") from exc


def bar(iterable: Iterable, *, total: int | None = None, desc: str = "",
             enabled: bool = False) -> Iterable:
    """A tqdm progress bar on stderr, shown only if ``enabled`` and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def caption(fig, text: str) -> None:
    """Write the caption (parameters included) under the axes."""
    fig.text(0.01, 0.005, text, ha="left", va="bottom", fontsize=7, wrap=True)


def save(fig, paths: Sequence[str | Path]) -> list[str]:
    """Write ``fig`` to every path; returns the paths written."""
    out = []
    for p in paths:
        p = Path(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=130)
        out.append(str(p))
    pyplot().close(fig)
    return out


def shades(cmap: str, n: int):
    """``n`` colours from light to dark (darker = higher parameter, as in the paper)."""
    plt = pyplot()
    import numpy as np

    return plt.get_cmap(cmap)(np.linspace(0.35, 1.0, n))
