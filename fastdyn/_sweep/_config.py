"""Sweep configurations: parse, validate and normalise, before any work starts.

A study is given as a TOML file (``fastdyn sweep CONFIG.toml``) or as a dict
(``fastdyn.sweep(config)``) with the same keys::

    n_features = 10_000_000        # with random parameters (else: the arrays' length)
    seed = 0                       # with random parameters
    objectives = ["jepa", "mae"]   # eq. 7 (JEPA), eq. 8 (MAE)
    depths = [5]                   # encoder depths L in 1..64
    eps = [1e-3]                   # initial weights w(0) (assumption 3.1)
    quantities = ["trajectory", "critical_time", "learning_order"]
    times = {start = 1e-2, stop = 1e6, num = 64, spacing = "log"}   # or a list
    method = "exact"               # or "ode" (then rtol)
    p = 0.5                        # critical-time fraction of eq. 11
    dtype = "float64"              # storage dtype of trajectories and critical times
    compression = "none"           # or "zstd"
    chunk_size = 65536             # features per chunk (default: see ``default_chunk_size``)
    order_bins = {low = -3.0, high = 30.0, per_decade = 10}
    lr = [1e-2, 1e-1]              # learning rates of the gradient-descent quantities
    gd_max_steps = 100_000         # step budget per feature of gd_critical_step
    imbalance = [0.0, 0.2]         # imbalance delta of gd_critical_step's initialisation

The gradient-descent quantities (population gradient descent per feature at a
finite learning rate, from the balanced start ``w(0) = eps``; objectives JEPA
and MAE): ``gd_critical_step`` (:func:`fastdyn.gd_critical_step` at fraction
``p``, for every learning rate of ``lr`` and imbalance of ``imbalance``) and
``gd_stable_lr`` (:func:`fastdyn.gd_stable_lr`, which depends on neither
``eps`` nor ``lr``).  An imbalance ``delta > 0`` starts every layer and the
predictor/decoder at ``eps^(1/L) exp(delta z)``, independent standard normal
``z`` per layer and feature, the layers rescaled so that ``w(0) = eps`` still
(:func:`imbalanced_start`); ``delta = 0`` is the balanced start of assumption
3.1.  The draws ``z`` of chunk ``k`` and depth ``L`` come from
``SeedSequence(seed, spawn_key=(k, 1, L))``: the same for every objective,
``eps`` and ``delta`` (common random numbers), independent of ``lam`` and ``rho``.

    [lam]                          # per-feature covariance lam_i = Syx_ii
    distribution = "loguniform"    # uniform | loguniform | lognormal | constant
    low = 0.5
    high = 2.0

    [rho]                          # per-feature regression coefficient rho_i
    distribution = "uniform"
    low = 0.3
    high = 1.0

``lam`` and ``rho`` may instead be given arrays: a list, a NumPy array (dict
configs only), a number (constant) or ``{file = "params.npz", key = "lam"}``
(``.npy`` files need no key).  Or, instead of ``lam`` and ``rho``, a
generative model of :mod:`fastdyn.models` gives them in closed form::

    [model]
    name = "random_masking"        # gaussian | random_masking | temporal
    factor_var = [4.0, 3.0, 2.0, 1.0]
    noise_var = 0.5
    keep_prob = 0.5

(the other keys are the model function's arguments).  The study's features
are the model's features with ``lam > 0`` (random masking gives ``lam <= 0``
to factors of at most average variance, which eq. 7, 8 never learn); their
indices are recorded in the metadata (``config.model.features``).  Every
problem is reported as a ``ValueError``
(wrong value) or ``TypeError`` (wrong kind) naming the key.

The normalised form (:meth:`Study.normalized`) is what the store records as metadata
and compares on resume: given arrays enter it by their SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..kernels._constants import (
    DEFAULT_GD_STEPS,
    DEFAULT_MAX_STEPS,
    EPS_MAX,
    EPS_MIN,
    LAM_MAX,
    LAM_MIN,
    MAX_DEPTH,
    MAX_STEPS_LIMIT,
    RHO_MAX,
    RHO_MIN,
    RTOL_MAX,
    RTOL_MIN,
    T_MAX,
)

_TOP_KEYS = {
    "n_features", "seed", "objectives", "depths", "eps", "quantities", "times", "method",
    "rtol", "max_steps", "p", "dtype", "compression", "chunk_size", "order_bins", "lam", "rho",
    "model", "lr", "gd_max_steps", "imbalance",
}
_MODELS = ("gaussian", "random_masking", "temporal")
_QUANTITIES = ("trajectory", "critical_time", "learning_order", "gd_critical_step", "gd_stable_lr")
_DISTRIBUTIONS = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "lognormal": ("mean", "sigma"),
    "constant": ("value",),
}
# Largest chunk of a trajectory array, in feature-times: 2**22 float64 = 32 MiB.
_CHUNK_FEATURE_TIMES = 2**22
_CHUNK_MAX_FEATURES = 2**20
#: the largest imbalance delta: exp(delta z) stays far inside gd_critical_step's bound on
#: layer values (1e12) for any realistic number of standard normal draws
IMBALANCE_MAX = 1.0
#: the documented domain of the per-feature parameters (fastdyn.kernels._constants)
DOMAIN = {"lam": (LAM_MIN, LAM_MAX), "rho": (RHO_MIN, RHO_MAX)}
#: a lognormal whose mean +- this many sigmas (in log space) misses the domain is refused:
#: the chance of a single draw inside is then below 1e-23
_LOGNORMAL_SIGMAS = 10.0


@dataclass(frozen=True)
class Param:
    """One per-feature parameter: a distribution or a given array."""

    name: str
    distribution: str | None = None          # None: given array
    args: tuple[float, ...] = ()
    values: np.ndarray | None = None
    digest: str | None = None

    def normalized(self) -> dict[str, Any]:
        if self.distribution is None:
            return {"array_sha256": self.digest, "length": int(self.values.shape[0])}
        return {"distribution": self.distribution,
                **dict(zip(_DISTRIBUTIONS[self.distribution], self.args))}


@dataclass(frozen=True)
class Study:
    """A validated study; ``normalized()`` is its identity in the store."""

    n_features: int
    seed: int | None
    objectives: tuple[str, ...]
    depths: tuple[int, ...]
    eps: tuple[float, ...]
    quantities: tuple[str, ...]
    times: np.ndarray | None
    method: str
    rtol: float
    max_steps: int
    p: float
    dtype: str
    compression: str
    chunk_size: int
    order_edges: np.ndarray | None
    lam: Param
    rho: Param
    model: dict | None = None
    lrs: tuple[float, ...] | None = None     # with quantity gd_critical_step
    gd_max_steps: int | None = None          # with quantity gd_critical_step
    imbalance: tuple[float, ...] | None = None   # with quantity gd_critical_step

    @property
    def n_chunks(self) -> int:
        return -(-self.n_features // self.chunk_size)

    @property
    def n_times(self) -> int:
        return 0 if self.times is None else int(self.times.shape[0])

    def chunk_bounds(self, i: int) -> tuple[int, int]:
        lo = i * self.chunk_size
        return lo, min(lo + self.chunk_size, self.n_features)

    def normalized(self) -> dict[str, Any]:
        """JSON-compatible canonical form: equal for configs giving equal results."""
        return {
            "n_features": self.n_features,
            "seed": self.seed,
            "objectives": list(self.objectives),
            "depths": list(self.depths),
            "eps": [float(e) for e in self.eps],
            "quantities": list(self.quantities),
            "times": None if self.times is None else [float(x) for x in self.times],
            "method": self.method,
            "rtol": self.rtol,
            "max_steps": self.max_steps,
            "p": self.p,
            "dtype": self.dtype,
            "compression": self.compression,
            "chunk_size": self.chunk_size,
            "order_edges": (None if self.order_edges is None
                            else [float(x) for x in self.order_edges]),
            "lam": self.lam.normalized(),
            "rho": self.rho.normalized(),
            "model": self.model,
            # only with gradient descent: the identity of every other study is unchanged
            **({} if self.lrs is None else {"lr": [float(x) for x in self.lrs],
                                            "gd_max_steps": self.gd_max_steps,
                                            "imbalance": [float(x) for x in self.imbalance]}),
        }


def default_chunk_size(n_times: int) -> int:
    """Features per chunk: 2**22 feature-times (32 MiB of float64), at most 2**20 features.

    A function of the config only (never of the machine), so that a resumed or
    distributed run cuts the study into the same chunks, hence draws the same
    random parameters.  A chunk's fixed cost (Zarr writes of a few arrays, the
    done record, a Dask task) is 4-20 ms on the 2-core machine, against about
    0.25 s to compute 2**22 exact feature-times: a few percent.  Larger chunks
    would not cut the per-byte cost of writing, and the peak memory (a few
    32 MiB blocks plus the interpreter, about 0.3 GB) stays far below 2 GB.
    """
    per = _CHUNK_FEATURE_TIMES // max(n_times, 1)
    return int(max(1024, min(_CHUNK_MAX_FEATURES, per)))


def load(config: str | os.PathLike | dict) -> Study:
    """Parse a TOML path or a dict into a validated :class:`Study`."""
    base = "."
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: the same parser as a package
            import tomli as tomllib
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except FileNotFoundError:
            raise ValueError(f"config file {path!r} does not exist.") from None
        except IsADirectoryError:
            raise ValueError(f"config file {path!r} is a directory, not a TOML file.") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"config file {path!r} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ValueError(f"config file {path!r} cannot be read: {exc.strerror or exc}.") from None
        base = os.path.dirname(os.path.abspath(path))
    elif isinstance(config, dict):
        raw = dict(config)
    else:
        raise TypeError(f"`config` must be a path to a TOML file or a dict; got {type(config).__name__}.")
    return _validate(raw, base)


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_real(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _real(key: str, x, *, lo=None, hi=None, lo_open=True, hi_open=False) -> float:
    if not _is_real(x):
        raise TypeError(f"config key `{key}` must be a number; got {x!r}.")
    x = float(x)
    bad = not math.isfinite(x)
    if lo is not None:
        bad |= x <= lo if lo_open else x < lo
    if hi is not None:
        bad |= x >= hi if hi_open else x > hi
    if bad:
        rng = (("(" if lo_open else "[") + f"{lo if lo is not None else '-inf'}, "
               f"{hi if hi is not None else 'inf'}" + (")" if hi_open or hi is None else "]"))
        raise ValueError(f"config key `{key}` must be finite and in {rng}; got {x!r}.")
    return x


def _int(key: str, x, *, lo: int, hi: int | None = None) -> int:
    if not _is_int(x):
        raise TypeError(f"config key `{key}` must be an integer; got {x!r}.")
    if x < lo or (hi is not None and x > hi):
        raise ValueError(f"config key `{key}` must be in [{lo}, {hi if hi is not None else 'inf'}]; "
                         f"got {x!r}.")
    return int(x)


def _list(key: str, x) -> list:
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(f"config key `{key}` must not be empty.")
        return list(x)
    return [x]


def _choice(key: str, x, allowed) -> str:
    if not isinstance(x, str):
        raise TypeError(f"config key `{key}` must be a string; got {x!r}.")
    if x not in allowed:
        raise ValueError(f"config key `{key}` must be one of {', '.join(map(repr, allowed))}; got {x!r}.")
    return x


def _no_duplicates(key: str, values: list) -> None:
    for i, x in enumerate(values):
        if x in values[:i]:
            raise ValueError(f"config key `{key}` lists {x!r} twice ({key}[{i}]).")


def _param(name: str, spec, base: str) -> Param:
    if spec is None:
        raise ValueError(f"config key `{name}` is required (a distribution table or an array).")
    if isinstance(spec, dict) and "distribution" in spec:
        dist = _choice(f"{name}.distribution", spec["distribution"], tuple(_DISTRIBUTIONS))
        names = _DISTRIBUTIONS[dist]
        for k in spec:
            if k != "distribution" and k not in names:
                raise ValueError(f"unknown config key `{name}.{k}` for distribution {dist!r}; "
                                 f"expected {', '.join(names)}.")
        for k in names:
            if k not in spec:
                raise ValueError(f"config key `{name}.{k}` is required for distribution {dist!r}.")
        dom_lo, dom_hi = DOMAIN[name]
        if dist in ("uniform", "loguniform"):
            low = _real(f"{name}.low", spec["low"], lo=0.0)
            high = _real(f"{name}.high", spec["high"], lo=0.0)
            if not high > low:
                raise ValueError(f"config key `{name}.high` must exceed `{name}.low` = {low!r}; "
                                 f"got {high!r}.")
            # partly outside is allowed: those draws get the status OUT_OF_DOMAIN
            if high < dom_lo:
                raise ValueError(f"config key `{name}.high` = {high!r} puts the whole distribution "
                                 f"below the documented domain [{dom_lo!r}, {dom_hi!r}] of `{name}`.")
            if low > dom_hi:
                raise ValueError(f"config key `{name}.low` = {low!r} puts the whole distribution "
                                 f"above the documented domain [{dom_lo!r}, {dom_hi!r}] of `{name}`.")
            args = (low, high)
        elif dist == "lognormal":
            # |mean| <= 300 and sigma <= 10 keep exp(mean + sigma z) inside float64
            # for |z| < 40, i.e. for any realistic number of draws
            mean = _real(f"{name}.mean", spec["mean"], lo=-300.0, hi=300.0, lo_open=False)
            sigma = _real(f"{name}.sigma", spec["sigma"], lo=0.0, hi=10.0)
            reach = _LOGNORMAL_SIGMAS * sigma
            if mean + reach < math.log(dom_lo) or mean - reach > math.log(dom_hi):
                raise ValueError(
                    f"config key `{name}.mean` = {mean!r} (with `{name}.sigma` = {sigma!r}) puts "
                    f"the distribution outside the documented domain [{dom_lo!r}, {dom_hi!r}] of "
                    f"`{name}`: exp(mean +- {_LOGNORMAL_SIGMAS:g} sigma) misses it.")
            args = (mean, sigma)
        else:
            value = _real(f"{name}.value", spec["value"], lo=0.0)
            _in_domain_or_raise(f"{name}.value", name, value)
            args = (value,)
        return Param(name, dist, args)
    if isinstance(spec, dict) and "file" in spec:
        for k in spec:
            if k not in ("file", "key"):
                raise ValueError(f"unknown config key `{name}.{k}`; expected file, key.")
        fname = spec["file"]
        if not isinstance(fname, (str, os.PathLike)):
            raise TypeError(f"config key `{name}.file` must be a path; got {fname!r}.")
        fpath = os.path.join(base, os.fspath(fname))
        try:
            loaded = np.load(fpath, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"config key `{name}.file`: cannot read {fpath!r} ({exc}).") from None
        if isinstance(loaded, np.lib.npyio.NpzFile):
            key = spec.get("key", name)
            if key not in loaded.files:
                raise ValueError(f"config key `{name}.key`: {key!r} is not in {fpath!r} "
                                 f"(it holds {', '.join(loaded.files)}).")
            values = loaded[key]
        else:
            values = loaded
        return _given(name, values)
    if isinstance(spec, dict):
        raise ValueError(f"config key `{name}` must hold `distribution` or `file`; "
                         f"got keys {', '.join(spec)}.")
    return _given(name, spec)


def _in_domain_or_raise(key: str, name: str, value: float) -> None:
    lo, hi = DOMAIN[name]
    if not lo <= value <= hi:
        raise ValueError(f"config key `{key}` = {value!r} is outside the documented domain "
                         f"[{lo!r}, {hi!r}] of `{name}`.")


def _given(name: str, values, param: str | None = None) -> Param:
    """A given array (or constant) for parameter ``param`` (default: ``name``)."""
    param = name if param is None else param
    if _is_real(values):
        v = _real(name, values, lo=0.0)
        _in_domain_or_raise(name, param, v)
        return Param(name, "constant", (v,))
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"config key `{name}` must hold real numbers; got dtype {arr.dtype}.")
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"config key `{name}` must be a non-empty 1-D array; got shape {arr.shape}.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"config key `{name}` must be positive and finite; {name}[{i}] = {float(arr[i])!r}.")
    lo, hi = DOMAIN[param]
    if not np.any((arr >= lo) & (arr <= hi)):
        # some values outside are allowed: those features get the status OUT_OF_DOMAIN
        raise ValueError(f"config key `{name}` lies entirely outside the documented domain "
                         f"[{lo!r}, {hi!r}] of `{param}`; {name}[0] = {float(arr[0])!r}.")
    return Param(name, None, (), arr, hashlib.sha256(arr.tobytes()).hexdigest())


def _times(spec) -> np.ndarray:
    if isinstance(spec, dict):
        for k in spec:
            if k not in ("start", "stop", "num", "spacing"):
                raise ValueError(f"unknown config key `times.{k}`; expected start, stop, num, spacing.")
        for k in ("start", "stop", "num"):
            if k not in spec:
                raise ValueError(f"config key `times.{k}` is required.")
        spacing = _choice("times.spacing", spec.get("spacing", "log"), ("log", "linear"))
        num = _int("times.num", spec["num"], lo=1, hi=100_000)
        lo = 0.0 if spacing == "log" else -1.0
        start = _real("times.start", spec["start"], lo=lo, lo_open=spacing == "log")
        if spacing == "linear" and start < 0:
            raise ValueError(f"config key `times.start` must be >= 0; got {start!r}.")
        stop = _real("times.stop", spec["stop"], lo=0.0, hi=T_MAX, lo_open=False)
        if stop < start:
            raise ValueError(f"config key `times.stop` must be >= `times.start` = {start!r}; got {stop!r}.")
        t = np.geomspace(start, stop, num) if spacing == "log" else np.linspace(start, stop, num)
        return t
    vals = _list("times", spec)
    t = np.empty(len(vals))
    for i, x in enumerate(vals):
        t[i] = _real(f"times[{i}]", x, lo=0.0, hi=T_MAX, lo_open=False)
    d = np.flatnonzero(np.diff(t) < 0)
    if d.size:
        i = int(d[0]) + 1
        raise ValueError(f"config key `times` must be non-decreasing; times[{i}] = {float(t[i])!r} < "
                         f"times[{i - 1}] = {float(t[i - 1])!r}.")
    return t


def _order_edges(spec) -> np.ndarray:
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise TypeError(f"config key `order_bins` must be a table; got {spec!r}.")
    for k in spec:
        if k not in ("low", "high", "per_decade"):
            raise ValueError(f"unknown config key `order_bins.{k}`; expected low, high, per_decade.")
    low = _real("order_bins.low", spec.get("low", -3.0), lo=-300.0, hi=300.0)
    high = _real("order_bins.high", spec.get("high", 30.0), lo=-300.0, hi=308.0)
    per = _int("order_bins.per_decade", spec.get("per_decade", 10), lo=1, hi=1000)
    if not high > low:
        raise ValueError(f"config key `order_bins.high` must exceed `order_bins.low` = {low!r}; "
                         f"got {high!r}.")
    n = int(round((high - low) * per))
    if n < 1 or n > 100_000:
        raise ValueError(f"config key `order_bins` gives {n} bins; at most 100000 are allowed.")
    return np.linspace(low, high, n + 1)


def _validate(raw: dict, base: str) -> Study:
    for k in raw:
        if k not in _TOP_KEYS:
            raise ValueError(f"unknown config key `{k}`; known keys: {', '.join(sorted(_TOP_KEYS))}.")
    model = None
    if "model" in raw:
        for k in ("lam", "rho"):
            if k in raw:
                raise ValueError(f"config keys `model` and `{k}` exclude each other: the model gives "
                                 "lam and rho.")
        model, lam, rho = _model(raw["model"])
    else:
        lam = _param("lam", raw.get("lam"), base)
        rho = _param("rho", raw.get("rho"), base)
    lengths = {p.name: p.values.shape[0] for p in (lam, rho) if p.values is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"config keys `lam` and `rho` are arrays of different lengths {lengths}.")
    random = any(p.distribution not in (None, "constant") for p in (lam, rho))
    if "n_features" in raw:
        n = _int("n_features", raw["n_features"], lo=1, hi=2**53)
        for name, m in lengths.items():
            if m != n:
                raise ValueError(f"config key `n_features` = {n} differs from the length {m} of `{name}`.")
    elif lengths:
        n = next(iter(lengths.values()))
    else:
        raise ValueError("config key `n_features` is required when no parameter is a given array.")
    if random:
        if "seed" not in raw:
            raise ValueError("config key `seed` is required when a parameter is random.")
        seed = _int("seed", raw["seed"], lo=0, hi=2**128 - 1)
    else:
        seed = _int("seed", raw["seed"], lo=0, hi=2**128 - 1) if "seed" in raw else None

    objectives = _list("objectives", raw.get("objectives", ["jepa", "mae"]))
    for i, o in enumerate(objectives):
        _choice(f"objectives[{i}]", o, ("jepa", "mae"))
    _no_duplicates("objectives", objectives)
    depths = [_int(f"depths[{i}]", d, lo=1, hi=MAX_DEPTH)
              for i, d in enumerate(_list("depths", raw.get("depths", [5])))]
    _no_duplicates("depths", depths)
    eps = [_real(f"eps[{i}]", e, lo=EPS_MIN, hi=EPS_MAX, lo_open=False)
           for i, e in enumerate(_list("eps", raw.get("eps", [1e-3])))]
    _no_duplicates("eps", eps)
    quantities = _list("quantities", raw.get("quantities", ["trajectory", "critical_time"]))
    for i, q in enumerate(quantities):
        _choice(f"quantities[{i}]", q, _QUANTITIES)
    _no_duplicates("quantities", quantities)
    quantities = [q for q in _QUANTITIES if q in quantities]   # canonical order
    times = None
    if "trajectory" in quantities:
        if "times" not in raw:
            raise ValueError("config key `times` is required with quantity 'trajectory'.")
        times = _times(raw["times"])
    elif "times" in raw:
        raise ValueError("config key `times` is given but quantity 'trajectory' is not requested.")
    method = _choice("method", raw.get("method", "exact"), ("exact", "ode"))
    rtol = _real("rtol", raw.get("rtol", 1e-8), lo=RTOL_MIN, hi=RTOL_MAX, lo_open=False)
    max_steps = _int("max_steps", raw.get("max_steps", DEFAULT_MAX_STEPS), lo=1, hi=MAX_STEPS_LIMIT)
    p = _real("p", raw.get("p", 0.5), lo=0.0, hi=1.0, hi_open=True)
    dtype = _choice("dtype", raw.get("dtype", "float64"), ("float64", "float32"))
    compression = _choice("compression", raw.get("compression", "none"), ("none", "zstd"))
    n_times = 0 if times is None else times.shape[0]
    chunk = (_int("chunk_size", raw["chunk_size"], lo=1, hi=2**40) if "chunk_size" in raw
             else default_chunk_size(n_times))
    chunk = min(chunk, n)
    edges = _order_edges(raw.get("order_bins")) if "learning_order" in quantities else None
    if "order_bins" in raw and edges is None:
        raise ValueError("config key `order_bins` is given but quantity 'learning_order' is not requested.")
    lrs = gd_max_steps = imbalance = None
    if "gd_critical_step" in quantities:
        if "lr" not in raw:
            raise ValueError("config key `lr` is required with quantity 'gd_critical_step'.")
        lrs = [_real(f"lr[{i}]", x, lo=0.0, hi=T_MAX) for i, x in enumerate(_list("lr", raw["lr"]))]
        _no_duplicates("lr", lrs)
        gd_max_steps = _int("gd_max_steps", raw.get("gd_max_steps", DEFAULT_GD_STEPS), lo=1,
                            hi=MAX_STEPS_LIMIT)
        imbalance = [_real(f"imbalance[{i}]", x, lo=0.0, hi=IMBALANCE_MAX, lo_open=False)
                     for i, x in enumerate(_list("imbalance", raw.get("imbalance", [0.0])))]
        _no_duplicates("imbalance", imbalance)
        if seed is None and any(imbalance):
            raise ValueError("config key `seed` is required when `imbalance` has a nonzero value "
                             "(the initialisation is random).")
        lrs, imbalance = tuple(lrs), tuple(imbalance)
    else:
        for k in ("lr", "gd_max_steps", "imbalance"):
            if k in raw:
                raise ValueError(f"config key `{k}` is given but quantity 'gd_critical_step' is "
                                 "not requested.")
    return Study(n, seed, tuple(objectives), tuple(depths), tuple(eps), tuple(quantities), times,
                 method, rtol, max_steps, p, dtype, compression, chunk, edges, lam, rho, model,
                 lrs, gd_max_steps, imbalance)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return np.asarray(x).tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _model(spec) -> tuple[dict, Param, Param]:
    """``lam, rho`` of a generative model of :mod:`fastdyn.models` (closed forms)."""
    import inspect

    from .. import models

    if not isinstance(spec, dict):
        raise TypeError(f"config key `model` must be a table with `name`; got {spec!r}.")
    if "name" not in spec:
        raise ValueError("config key `model.name` is required (gaussian, random_masking, temporal).")
    name = _choice("model.name", spec["name"], _MODELS)
    factory = getattr(models, name)
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    params = inspect.signature(factory).parameters
    for k in kwargs:
        if k not in params:
            raise ValueError(f"unknown config key `model.{k}` for model {name!r}; expected "
                             f"{', '.join(params)}.")
    try:
        m = factory(**kwargs)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"config key `model` ({name}): {exc}") from None
    # random masking gives lam <= 0 to factors with at most the average variance:
    # eq. 7, 8 never learn them, so the study keeps the others (their indices are recorded)
    keep = np.flatnonzero((np.asarray(m.lam) > 0) & (np.asarray(m.rho) > 0))
    if keep.size == 0:
        raise ValueError(f"config key `model` ({name}): no feature has lam > 0 and rho > 0, so none "
                         "is ever learned.")
    lam = _given("model lam", np.asarray(m.lam)[keep], "lam")
    rho = _given("model rho", np.asarray(m.rho)[keep], "rho")
    meta = {"spec": _jsonable(spec), "features": keep.tolist()}
    return meta, Param("lam", None, (), lam.values, lam.digest), \
        Param("rho", None, (), rho.values, rho.digest)


def draw(study: Study, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """``lam, rho`` of one chunk, identical whatever process draws them.

    Random parameters come from ``SeedSequence(seed, spawn_key=(chunk,))``,
    i.e. the ``chunk``-th child of ``SeedSequence(seed).spawn(...)``: a chunk's
    draws depend only on the seed, the chunk index and the chunk size.
    ``lam`` is drawn before ``rho`` from the same generator.
    """
    lo, hi = study.chunk_bounds(chunk)
    m = hi - lo
    rng = None
    out = []
    for prm in (study.lam, study.rho):
        if prm.values is not None:
            out.append(prm.values[lo:hi])
            continue
        if prm.distribution == "constant":
            out.append(np.full(m, prm.args[0]))
            continue
        if rng is None:
            rng = np.random.Generator(np.random.PCG64(
                np.random.SeedSequence(study.seed, spawn_key=(chunk,))))
        a, b = prm.args
        if prm.distribution == "uniform":
            x = rng.uniform(a, b, m)
        elif prm.distribution == "loguniform":
            # exp(log(.)) may round a hair outside [a, b]: the support is [a, b]
            x = np.clip(np.exp(rng.uniform(math.log(a), math.log(b), m)), a, b)
        else:
            x = rng.lognormal(a, b, m)
        out.append(x)
    return out[0], out[1]


def in_domain(lam: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Boolean mask of the features whose ``lam`` and ``rho`` lie in the documented domain."""
    return ((lam >= LAM_MIN) & (lam <= LAM_MAX)) & ((rho >= RHO_MIN) & (rho <= RHO_MAX))



def start_noise(study: Study, chunk: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The standard normal draws ``(z_layers (C, L), z_decoder (C,))`` of an imbalanced start.

    From ``SeedSequence(seed, spawn_key=(chunk, 1, depth))``: independent of the
    chunk's ``lam, rho`` (spawn key ``(chunk,)``) and of every other chunk and depth.
    """
    lo, hi = study.chunk_bounds(chunk)
    rng = np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(study.seed, spawn_key=(chunk, 1, depth))))
    return rng.standard_normal((hi - lo, depth)), rng.standard_normal(hi - lo)


def imbalanced_start(z_layers: np.ndarray, z_decoder: np.ndarray, eps: float, delta: float):
    """Layers ``(n, L)`` and decoder ``(n,)`` = ``eps^(1/L) exp(delta z)``, the layers rescaled
    so that their product is ``eps`` (``w(0) = eps``, up to rounding): an aligned
    initialisation ``delta`` away from the balanced one of assumption 3.1 (figure 7, sweeps)."""
    depth = z_layers.shape[1]
    root = eps ** (1.0 / depth)
    layers = root * np.exp(delta * z_layers)
    layers *= (eps / np.prod(layers, axis=1))[:, None] ** (1.0 / depth)
    decoder = root * np.exp(delta * z_decoder)
    return layers, decoder
