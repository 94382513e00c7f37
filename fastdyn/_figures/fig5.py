"""Figure 5: deep linear networks with the default Gaussian initialisation, trained by SGD.

Same layout and data as figure 1 (:mod:`fastdyn._figures.fig1`): rows are
distribution 1 (``lam`` and ``rho`` rising) and distribution 2 (``lam``
rising, ``rho`` falling); columns (a, d) the feature parameters, (b, e) MAE,
(c, f) JEPA, ``||Wbar e_i||`` per feature against the iteration, coloured by
feature index.

Claim (section 4, appendix A.1): beyond gradient flow and assumption 3.1,
the order of feature learning is dictated by ``lam`` for MAE and by ``rho``
for JEPA; on distribution 2 JEPA again inverts MAE's order.

Setting (appendix A.1): ``x, y`` jointly Gaussian with diagonal covariances
(:func:`fastdyn.models.gaussian`, default ``Syy = Sxx``), ``d = 100``, depth
``L = 5``, SGD on minibatches of 1000 fresh samples, "standard gaussian
initialization with default scale": every entry of every layer and of ``V``
i.i.d. ``N(0, 1/(3 d))`` (the variance of PyTorch's default ``nn.Linear``
initialisation; :func:`fastdyn.train.train` with ``init="gaussian"``), so
``||Wbar e_i||`` starts near ``3^(-L/2) = 0.064``.

Parameters the paper does not state (chosen once):

- ``lam = linspace(1, 3, d)``, ``rho = linspace(0.75, 1, d)`` rising
  (distribution 1) or falling (distribution 2).  The ``lam`` range is wider
  than figure 1's: the random initial weights differ per feature by about
  10%, which a narrow ``lam`` range cannot outweigh;
- training length ``L * lr * steps`` = 50 (MAE) and 250 (JEPA) of ODE time;
  the paper's 5000 iterations reduced to **1000** (run time): ``lr = 0.01``
  (MAE), ``0.05`` (JEPA);
- learning time: without assumption 3.1 the theory's fixed point is not the
  scale of a feature (JEPA's weights overshoot ``rho^L``, low-``lam`` MAE
  features settle well below ``rho^(L/(L+1))``) and SGD keeps every weight
  moving, so a feature counts as learned at the first recorded iteration at
  which ``||Wbar e_i||`` reaches the **absolute level 0.5**; features that
  never reach it tie (at ``inf``) in the orders; 201 recorded iterations;
  training seed 1.

``quick=True`` (tests, previews): 500 iterations with the same training
length (rates doubled); ``d`` stays 100, since with a few features the random
initialisation mixes the features' directions and the per-feature picture
dissolves.

Run time of ``fastdyn figure 5`` on 2 shared, loaded CPU cores (load 4-6):
about 20 s with ``OPENBLAS_NUM_THREADS=1`` (OpenBLAS's default 2 threads
contend with the load and are several times slower); at the paper's 5000
iterations (``data(steps=5000)``) about 5 times longer.
"""

from __future__ import annotations

from .fig1 import Setting, caption_text, draw, run

SETTING = Setting(
    number=5, depth=5, dim=100, batch=1000, steps=1000, lam=(1.0, 3.0), rho=(0.75, 1.0),
    init="gaussian", eps=None, t_end={"mae": 50.0, "jepa": 250.0}, p=0.5,
    reference="level", n_records=201, seed=1, quick_dim=100, quick_steps=500, level=0.5,
)
PARAMS = {"setting": SETTING}

CAPTION = (
    "Figure 5. Deep linear networks (d = {d}, L = {L}) with the default Gaussian initialisation "
    "(entries N(0, 1/(3d)), no assumption 3.1), trained by SGD (minibatch {batch}) on Gaussian "
    "data. Rows: lam = {lam0:g}..{lam1:g} rising with rho = {rho0:g}..{rho1:g} rising (top) or "
    "falling (bottom); (a, d) feature parameters; (b, e) MAE, (c, f) JEPA: ||Wbar e_i|| per "
    "feature, colour = feature index i. {steps} iterations (paper: 5000), lr MAE {lr_m:.3g}, "
    "JEPA {lr_j:.3g}; seed {seed}. Learning time: first iteration with ||Wbar e_i|| >= "
    "{level}; tau = Kendall tau between the learning order and decreasing lam / rho (features "
    "never learned tie). The order follows lam for MAE and rho for JEPA."
)


def data(*, quick: bool = False, backend: str = "cpu", progress: bool = False,
         steps: int | None = None) -> dict:
    """The trained networks behind figure 5.

    Parameters
    ----------
    quick : bool
        500 iterations instead of 1000 (same training length ``L lr k``).
    backend : {"cpu", "gpu"}
        NumPy or CuPy training (:func:`fastdyn.train.train`).
    progress : bool
        Show a progress bar (stderr, terminals only).
    steps : int, optional
        Number of SGD iterations; learning rates follow so that
        ``L * lr * steps`` stays fixed.  ``steps=5000`` is the paper's setting.

    Returns
    -------
    dict
        As :func:`fastdyn._figures.fig1.run`; ``tstar`` is NaN (no theory
        for this initialisation) and ``reference`` holds the level 0.5.
    """
    return run(SETTING, quick=quick, backend=backend, progress=progress, steps=steps)


def plot(d: dict, paths) -> list[str]:
    """Draw figure 5 from :func:`data` and write it to ``paths``."""
    text = caption_text(CAPTION.replace("{level}", f"{SETTING.level:g}"), SETTING, d)
    return draw(d, paths, SETTING, text)
