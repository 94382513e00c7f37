"""The Zarr (v3) store of a sweep: layout, metadata, completion records.

Layout (``F`` features, ``T`` times, ``C`` features per chunk, ``K`` chunks,
``B`` histogram bins; ``O, D, E`` = number of objectives, depths, eps)::

    lam, rho                   (feature,)                        float64, chunks (C,)
    time                       (time,)                           float64
    trajectory                 (objective, depth, eps, feature, time)   chunks (1, 1, 1, C, T)
    critical_time              (objective, depth, eps, feature)         chunks (1, 1, 1, C)
    status                     (objective, depth, eps, feature)  int8 (fastdyn.Status codes)
    order_counts               (objective, depth, eps, chunk, bin)      int64
    order_corr_lam, order_corr_rho  (objective, depth, eps, chunk)      float64
    chunk_done                 (chunk,)                          uint8, chunks (1,)

The root group's attributes hold ``fastdyn_sweep``: the normalised config,
fastdyn's version, the coordinate labels and the format version.

Atomicity: Zarr's ``LocalStore`` writes every chunk file to a temporary
``*.partial`` file and renames it into place, so a reader sees either the old
or the new chunk, never a torn one.  A sweep chunk writes all its data first
and its ``chunk_done`` record last: a chunk recorded as done is complete, and
a chunk killed half-way is recomputed (and overwritten with identical bytes)
on resume.  Leftover ``*.partial`` files of killed writes are removed before
a resume.  (Renames are atomic against a killed process, not against a power
failure: nothing is fsync'ed.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._config import Study

FORMAT = 1
ATTR = "fastdyn_sweep"
_COMBO_DIMS = ("objective", "depth", "eps")


def _version() -> str:
    from .. import __version__

    return __version__


def metadata(study: Study) -> dict:
    """The root attributes: what a resume compares before it writes anything."""
    return {
        "format": FORMAT,
        "fastdyn_version": _version(),
        "config": study.normalized(),
        "n_chunks": study.n_chunks,
        "coords": {"objective": list(study.objectives), "depth": list(study.depths),
                   "eps": [float(e) for e in study.eps]},
    }


def _codecs(study: Study):
    if study.compression == "zstd":
        from zarr.codecs import ZstdCodec

        return [ZstdCodec(level=1)]
    return None


def array_specs(study: Study) -> dict[str, tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...], str]]:
    """name -> (dimension names, shape, chunks, dtype) of every array of the study."""
    n_o, n_d, n_e = len(study.objectives), len(study.depths), len(study.eps)
    F, C, K, T = study.n_features, study.chunk_size, study.n_chunks, study.n_times
    specs = {
        "lam": (("feature",), (F,), (C,), "float64"),
        "rho": (("feature",), (F,), (C,), "float64"),
        "status": (_COMBO_DIMS + ("feature",), (n_o, n_d, n_e, F), (1, 1, 1, C), "int8"),
        "chunk_done": (("chunk",), (K,), (1,), "uint8"),
    }
    if "trajectory" in study.quantities:
        specs["time"] = (("time",), (T,), (T,), "float64")
        specs["trajectory"] = (_COMBO_DIMS + ("feature", "time"), (n_o, n_d, n_e, F, T), (1, 1, 1, C, T),
                               study.dtype)
    if "critical_time" in study.quantities:
        specs["critical_time"] = (_COMBO_DIMS + ("feature",), (n_o, n_d, n_e, F), (1, 1, 1, C), study.dtype)
    if "learning_order" in study.quantities:
        B = study.order_edges.shape[0] + 1   # plus one bin below and one above (inf included)
        specs["order_counts"] = (_COMBO_DIMS + ("chunk", "bin"), (n_o, n_d, n_e, K, B), (1, 1, 1, 1, B),
                                 "int64")
        specs["order_edges"] = (("edge",), (B - 1,), (B - 1,), "float64")
        for name in ("order_corr_lam", "order_corr_rho"):
            specs[name] = (_COMBO_DIMS + ("chunk",), (n_o, n_d, n_e, K), (1, 1, 1, 1), "float64")
    return specs


def _diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k, "<missing>"), b.get(k, "<missing>")
        if isinstance(x, dict) and isinstance(y, dict):
            out += _diff(x, y, f"{prefix}{k}.")
        elif x != y:
            sx, sy = json.dumps(x), json.dumps(y)
            sx = sx if len(sx) < 60 else sx[:57] + "..."
            sy = sy if len(sy) < 60 else sy[:57] + "..."
            out.append(f"`{prefix}{k}`: store has {sx}, config has {sy}")
    return out


def clean_partial(path: str | os.PathLike) -> int:
    """Remove the temporary files of chunk writes killed before their rename."""
    n = 0
    for p in Path(path).rglob("*.partial"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def open_or_create(path: str | os.PathLike, study: Study, *, overwrite: bool = False):
    """Open the store for ``study``, creating it if needed; refuse a mismatching one.

    Returns the root ``zarr.Group``.  Raises ``ValueError`` naming the keys in
    which an existing store's recorded config differs from ``study``.
    """
    import zarr

    path = os.fspath(path)
    meta = metadata(study)
    # JSON round trip: the comparison sees exactly what the store records
    meta = json.loads(json.dumps(meta))
    if os.path.exists(path):
        # never delete or write into anything but an empty directory or a sweep store,
        # not even with overwrite=True
        try:
            root = zarr.open_group(path, mode="r+")
        except Exception:
            if os.path.isdir(path) and not os.listdir(path):
                root = None
            else:
                raise ValueError(f"`store` {path!r} exists and is not a fastdyn sweep store; "
                                 "choose another path.") from None
        if root is not None and root.attrs.get(ATTR) is None:
            raise ValueError(f"`store` {path!r} is a Zarr group without fastdyn sweep metadata; "
                             "choose another path.")
        if root is not None and not overwrite:
            old = root.attrs[ATTR]
            diffs = _diff(old, meta)
            if diffs:
                raise ValueError(
                    f"`store` {path!r} holds a different sweep; refusing to mix results. "
                    "Differences: " + "; ".join(diffs) +
                    ". Use another store path, or overwrite=True (--overwrite) to discard it.")
            clean_partial(path)
            return root
    root = zarr.open_group(path, mode="w")
    root.attrs[ATTR] = meta
    codecs = _codecs(study)
    for name, (dims, shape, chunks, dtype) in array_specs(study).items():
        small = name in ("chunk_done", "order_counts", "order_corr_lam", "order_corr_rho", "time",
                         "order_edges", "status")
        root.create_array(name, shape=shape, chunks=chunks, dtype=dtype, dimension_names=dims,
                          fill_value=np.nan if np.dtype(dtype).kind == "f" else 0,
                          compressors=None if small and name != "status" else codecs)
    if "time" in root:
        root["time"][:] = study.times
    if "order_edges" in root:
        root["order_edges"][:] = study.order_edges
    return root


def done_chunks(root) -> np.ndarray:
    """Boolean array over chunks: True where the chunk's completion record exists."""
    return np.asarray(root["chunk_done"][:]) == 1
