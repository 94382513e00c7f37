"""Run a study chunk by chunk: in this process (embedded) or on a Dask cluster.

Both paths call the same :func:`run_chunk`, which depends only on the study
and the chunk index (parameters come from ``SeedSequence(seed, spawn_key=
(chunk,))``, every kernel is per-feature deterministic), so the bytes written
for a chunk are the same whichever process computes it and in whatever order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ._config import Study, draw
from ._progress import Progress


@dataclass(frozen=True)
class SweepReport:
    """What a call of :func:`fastdyn.sweep` did.

    Attributes
    ----------
    store : str
        Path of the Zarr store.
    n_chunks : int
        Chunks of the study.
    computed : int
        Chunks computed by this call (the others were already done).
    failed_features : int
        Feature-combinations, in the chunks computed by this call, whose
        solver reported a non-zero ``Status`` (all of them are recorded in the
        store's ``status`` array).
    seconds : float
        Wall-clock time of this call.
    """

    store: str
    n_chunks: int
    computed: int
    failed_features: int
    seconds: float


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float(np.dot(rx, rx)) * float(np.dot(ry, ry)))
    return float(np.dot(rx, ry)) / den if den > 0 else math.nan


def _order_counts(tc: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of log10(t*) in the bins of ``edges`` plus one bin below, one above.

    ``t* = 0`` (features starting at or above ``p w(inf)``) falls in the lowest
    bin, ``t* = inf`` (crossing beyond float64) in the highest.
    """
    with np.errstate(divide="ignore"):
        lt = np.log10(tc)
    idx = np.searchsorted(edges, lt, side="right")
    return np.bincount(idx, minlength=edges.shape[0] + 1).astype(np.int64)


def _solver(backend: str):
    """``(trajectory, critical_time, kwargs)``: the public functions and ``backend=``.

    ``"gpu"`` sends each chunk's NumPy inputs to the GPU and gets NumPy back
    (``fastdyn.trajectory``'s ``backend="gpu"``); ``"cpu"`` runs the Numba
    kernels on all cores.
    """
    import fastdyn as fd

    return fd.trajectory, fd.critical_time, {"backend": backend}


def check_backend(backend: str) -> None:
    """Reject an unknown backend, or a GPU that cannot run, before any work starts."""
    import fastdyn as fd

    if backend not in ("cpu", "gpu"):
        raise ValueError(f"`backend` must be 'cpu' or 'gpu'; got {backend!r}.")
    if backend == "gpu":
        try:   # one feature: fails fast where CuPy or a device is missing
            fd.critical_time(1.0, 0.5, depth=2, eps=1e-3, objective="jepa", backend="gpu")
        except Exception as exc:
            raise ValueError(f"`backend` = 'gpu' cannot run here: {exc}") from exc


def open_arrays(path: str) -> dict:
    """The store's arrays by name, opened once (each open costs a metadata read)."""
    import zarr

    root = zarr.open_group(path, mode="r+")
    return {name: arr for name, arr in root.arrays()}


def run_chunk(study: Study, path: str, chunk: int, backend: str = "cpu",
              arrays: dict | None = None) -> tuple[int, int, int]:
    """Compute and store one chunk (all objectives, depths, eps); record it as done last.

    Returns ``(chunk, features in the chunk, failed feature-combinations)``.
    Peak memory: one ``(C, T)`` trajectory block (plus its storage-dtype copy)
    and a few ``(C,)`` vectors.  ``arrays`` (from :func:`open_arrays`) saves
    reopening the store for every chunk of an embedded run.
    """
    trajectory, critical_time, extra = _solver(backend)
    root = open_arrays(path) if arrays is None else arrays
    lo, hi = study.chunk_bounds(chunk)
    lam, rho = draw(study, chunk)
    root["lam"][lo:hi] = lam
    root["rho"][lo:hi] = rho
    want_tc = "critical_time" in study.quantities or "learning_order" in study.quantities
    failed = 0
    for io, obj in enumerate(study.objectives):
        for idp, depth in enumerate(study.depths):
            for ie, eps in enumerate(study.eps):
                status = np.zeros(hi - lo, dtype=np.int8)
                if "trajectory" in study.quantities:
                    w, st = trajectory(study.times, lam, rho, depth=depth, eps=eps, objective=obj,
                                       method=study.method, rtol=study.rtol,
                                       max_steps=study.max_steps, return_status=True, **extra)
                    status = np.where(status != 0, status, st)
                    root["trajectory"][io, idp, ie, lo:hi, :] = w.astype(study.dtype, copy=False)
                    del w
                if want_tc:
                    tc, st = critical_time(lam, rho, depth=depth, eps=eps, objective=obj,
                                           p=study.p, method=study.method, rtol=study.rtol,
                                           max_steps=study.max_steps, return_status=True, **extra)
                    status = np.where(status != 0, status, st)
                    if "critical_time" in study.quantities:
                        root["critical_time"][io, idp, ie, lo:hi] = tc.astype(study.dtype, copy=False)
                    if "learning_order" in study.quantities:
                        ok = st == 0
                        root["order_counts"][io, idp, ie, chunk, :] = _order_counts(
                            tc[ok], study.order_edges)
                        root["order_corr_lam"][io, idp, ie, chunk] = _spearman(tc[ok], lam[ok])
                        root["order_corr_rho"][io, idp, ie, chunk] = _spearman(tc[ok], rho[ok])
                root["status"][io, idp, ie, lo:hi] = status
                failed += int(np.count_nonzero(status))
    # the completion record goes last: a chunk marked done has all its data on disk
    root["chunk_done"][chunk] = 1
    return chunk, hi - lo, failed


def _client(scheduler):
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    if isinstance(scheduler, str):
        return Client(scheduler), True
    raise TypeError("`scheduler` must be None, a scheduler address such as 'tcp://host:port' or a "
                    f"distributed.Client; got {type(scheduler).__name__}.")


def run(study: Study, path: str, todo: list[int], *, scheduler=None, backend: str = "cpu",
        progress: Progress) -> tuple[int, int]:
    """Compute the chunks ``todo``; returns (chunks computed, failed feature-combinations)."""
    failed = 0
    if scheduler is None:
        arrays = open_arrays(path)
        for chunk in todo:
            _, m, f = run_chunk(study, path, chunk, backend, arrays)
            failed += f
            progress.update(m)
        return len(todo), failed
    from distributed import as_completed

    client, own = _client(scheduler)
    try:
        # the study (with any given parameter arrays) travels to each worker once
        [study_f] = client.scatter([study], broadcast=True)
        futures = [client.submit(run_chunk, study_f, path, c, backend, pure=False,
                                 key=f"fastdyn-sweep-chunk-{c}-{time.time_ns()}") for c in todo]
        for fut in as_completed(futures):
            _, m, f = fut.result()
            failed += f
            progress.update(m)
            fut.release()
    finally:
        if own:
            client.close()
    return len(todo), failed
