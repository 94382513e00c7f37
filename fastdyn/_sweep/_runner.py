"""Run a study chunk by chunk: in this process (embedded) or on a Dask cluster.

Both paths call the same :func:`write_chunk`, which depends only on the study
and the chunk index (parameters come from ``SeedSequence(seed, spawn_key=
(chunk,))``, every kernel is per-feature deterministic), so the bytes written
for a chunk are the same whichever process computes it and in whatever order.

A chunk is written in two steps.  :func:`write_chunk` computes it, writes its
data files, reads them back (checking each file's checksum), fsyncs them and
their directories and returns the chunk's completion record; then the process
holding the store's lock commits that record (:func:`fastdyn._sweep._store.commit`).
Embedded, the commit runs on a background thread while the next chunk
computes, so the fsyncs cost no wall-clock time; on a cluster the workers write
data only and the coordinator commits.
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..kernels._constants import NON_FINITE, OUT_OF_DOMAIN, SUCCESS
from . import _lock, _store
from ._config import Study, draw, imbalanced_start, in_domain, start_noise


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
        status is not SUCCESS (all of them are recorded in the store's
        ``status`` array, and ``gd_status`` for ``gd_critical_step``),
        out-of-domain ones included.
    seconds : float
        Wall-clock time of this call.
    out_of_domain : int
        Of ``failed_features``, those whose sampled ``lam`` or ``rho`` lies
        outside the documented domain (status ``OUT_OF_DOMAIN``, values NaN).
    repaired : dict
        Chunks that were marked done but failed verification, and were
        recomputed: chunk index -> the problems found.
    repaired_metadata : list of str
        Metadata files rewritten (missing or damaged) and leftovers removed.
    """

    store: str
    n_chunks: int
    computed: int
    failed_features: int
    seconds: float
    out_of_domain: int = 0
    repaired: dict = field(default_factory=dict)
    repaired_metadata: list = field(default_factory=list)


class Bar:
    """tqdm progress over chunks, with the feature rate; silent unless stderr is a terminal.

    ``enabled=None`` leaves the choice to tqdm (``disable=None``: shown only when
    ``file`` is a terminal).
    """

    def __init__(self, total: int, done: int = 0, *, enabled: bool | None = None, file=None,
                 desc: str = "fastdyn sweep"):
        from tqdm import tqdm

        self.tqdm = tqdm(total=total, initial=done, unit="chunk", desc=desc,
                         file=sys.stderr if file is None else file,
                         disable=None if enabled is None else not enabled, mininterval=0.2,
                         dynamic_ncols=True, smoothing=0.1)
        self.features = 0
        self.t0 = time.perf_counter()

    def update(self, features: int) -> None:
        """One more chunk of ``features`` features is done."""
        self.features += features
        rate = self.features / max(time.perf_counter() - self.t0, 1e-9)
        self.tqdm.set_postfix_str(f"{rate:.3g} features/s", refresh=False)
        self.tqdm.update(1)

    def close(self) -> None:
        self.tqdm.close()


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either is constant or empty."""
    from scipy.stats import rankdata

    if x.shape[0] < 2:
        return math.nan

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


def _gd_solvers():
    """``(gd_critical_step, gd_stable_lr)``: the public gradient-descent functions."""
    import fastdyn as fd

    return fd.gd_critical_step, fd.gd_stable_lr


def _stable_lr(func, ok: np.ndarray, lam: np.ndarray, rho: np.ndarray, **kw) -> np.ndarray:
    """``func(lam, rho, ...)`` on the in-domain features; NaN elsewhere (never fails inside)."""
    if ok.all():
        return func(lam, rho, **kw)
    vals = np.full(ok.shape[0], np.nan)
    if ok.any():
        vals[ok] = func(lam[ok], rho[ok], **kw)
    return vals


def _critical_step(func, ok: np.ndarray, lam, rho, start: dict, **kw):
    """``func`` (gd_critical_step) on the in-domain features with their part of the start."""
    if ok.all():
        return func(lam, rho, return_status=True, **start, **kw)
    vals = np.full(ok.shape[0], np.nan)
    st = np.full(ok.shape[0], OUT_OF_DOMAIN, dtype=np.int8)
    if ok.any():
        part = {k: (x if np.ndim(x) == 0 else x[ok]) for k, x in start.items()}
        vals[ok], st[ok] = func(lam[ok], rho[ok], return_status=True, **part, **kw)
    return vals, st


def _gd_chunk(study: Study, chunk: int, lam, rho, ok, extra: dict):
    """The gradient-descent quantities of one chunk: ``(steps, gd_status, stable_lr)``.

    ``steps``, ``gd_status``: ``(O, D, E, I, R, C)`` or None; ``stable_lr``: ``(O, D, C)``
    or None.  A NaN step (any failure) never keeps status SUCCESS (``_store_values``).
    Imbalance 0 is the balanced start (``eps``); the others start from
    :func:`imbalanced_start` with the chunk's draws of :func:`start_noise` per depth.
    """
    crit, stable = _gd_solvers()
    q, m = study.quantities, lam.shape[0]
    combo = (len(study.objectives), len(study.depths))
    steps = status = lr_max = None
    if "gd_critical_step" in q:
        gd = combo + (len(study.eps), len(study.imbalance), len(study.lrs))
        steps = np.full(gd + (m,), np.nan)
        status = np.empty(gd + (m,), dtype=np.int8)
    if "gd_stable_lr" in q:
        lr_max = np.full(combo + (m,), np.nan)
    for idp, depth in enumerate(study.depths):
        noise = (start_noise(study, chunk, depth)
                 if steps is not None and any(study.imbalance) else None)
        for io, obj in enumerate(study.objectives):
            if lr_max is not None:
                lr_max[io, idp] = _stable_lr(stable, ok, lam, rho, depth=depth, objective=obj,
                                             **extra)
            if steps is None:
                continue
            for ie, eps in enumerate(study.eps):
                for ii, delta in enumerate(study.imbalance):
                    if delta == 0.0:
                        start = {"eps": eps}
                    else:
                        layers, decoder = imbalanced_start(*noise, eps, delta)
                        start = {"layers": layers, "decoder": decoder}
                    for ir, lr in enumerate(study.lrs):
                        k, st = _critical_step(crit, ok, lam, rho, start, objective=obj,
                                               depth=depth, lr=lr, p=study.p,
                                               max_steps=study.gd_max_steps, **extra)
                        st = np.array(st, dtype=np.int8)
                        steps[io, idp, ie, ii, ir] = _store_values(k, st, "float64", inf_ok=False)
                        status[io, idp, ie, ii, ir] = st
    return steps, status, lr_max


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


def open_arrays(path: str, layout: _store.Layout) -> dict:
    """The study's data arrays by name, opened once for writing (every chunk file written)."""
    import zarr

    root = zarr.open_group(path, mode="r+")
    return {name: root[name].with_config({"write_empty_chunks": True})
            for name in layout.specs if name not in (_store.DONE, _store.RECORD)}


def _merge(status: np.ndarray, new: np.ndarray) -> None:
    """Keep the first failure of each feature: write ``new`` where ``status`` is SUCCESS."""
    np.copyto(status, new, where=status == SUCCESS)


def _solve(func, ok: np.ndarray, lead: tuple, lam: np.ndarray, rho: np.ndarray, out_shape: tuple,
           **kw):
    """``func(*lead, lam, rho, ...)`` on the in-domain features only; NaN, OUT_OF_DOMAIN elsewhere."""
    if ok.all():
        return func(*lead, lam, rho, return_status=True, **kw)
    vals = np.full(out_shape, np.nan)
    st = np.full(ok.shape[0], OUT_OF_DOMAIN, dtype=np.int8)
    if ok.any():
        # the core functions refuse out-of-domain input: they only see the in-domain features
        vals[ok], st[ok] = func(*lead, lam[ok], rho[ok], return_status=True, **kw)
    return vals, st


def _store_values(values: np.ndarray, status: np.ndarray, dtype: str, *, inf_ok: bool) -> np.ndarray:
    """``values`` in the storage dtype; features with a non-finite value get NON_FINITE.

    Never NaN (nor, for weights, inf) with status SUCCESS: a solver's non-finite
    result, or a finite float64 that overflows float32 storage, is flagged.
    ``inf_ok``: ``inf`` is a legitimate critical time ("beyond float64").
    """
    with np.errstate(over="ignore"):      # an overflow to inf is flagged just below
        stored = values.astype(dtype, copy=False)
    bad = np.isnan(stored) if inf_ok else ~np.isfinite(stored)
    if inf_ok and stored is not values:
        bad |= np.isinf(stored) & np.isfinite(values)    # a finite float64 beyond float32
    if bad.ndim > 1:
        bad = bad.any(axis=tuple(range(1, bad.ndim)))
    status[bad & (status == SUCCESS)] = NON_FINITE
    return stored


def write_chunk(study: Study, path: str, layout: _store.Layout, chunk: int, backend: str = "cpu",
                arrays: dict | None = None, lease: tuple[str, str] | None = None,
                record: bool = True) -> tuple[int, int, int, int, np.ndarray | None]:
    """Compute chunk ``chunk`` (all objectives, depths, eps), write and fsync its data.

    Returns ``(chunk, features, failed feature-combinations, of them out of
    domain, completion record)``; the caller commits the record (``record=False``:
    None, the caller reads the files back itself with ``_store.chunk_record``).  ``lease``:
    ``(lock file, token)`` of the coordinator a Dask worker writes for, checked
    before anything is written.  Peak memory: one ``(C, T)`` trajectory block
    (plus its storage-dtype copy) and the chunk's ``(O, D, E, C)`` statuses and
    critical times.
    """
    trajectory, critical_time, extra = _solver(backend)
    q = study.quantities
    lo, hi = study.chunk_bounds(chunk)
    m = hi - lo
    lam, rho = draw(study, chunk)
    ok = in_domain(lam, rho)
    combo = (len(study.objectives), len(study.depths), len(study.eps))
    status = np.empty(combo + (m,), dtype=np.int8)
    status[...] = np.where(ok, SUCCESS, OUT_OF_DOMAIN).astype(np.int8)
    want_tc = "critical_time" in q or "learning_order" in q
    tc_all = np.full(combo + (m,), np.nan, dtype=study.dtype) if "critical_time" in q else None
    if "learning_order" in q:
        counts = np.zeros(combo + (1, study.order_edges.shape[0] + 1), dtype=np.int64)
        corr_lam = np.full(combo + (1,), np.nan)
        corr_rho = np.full(combo + (1,), np.nan)
    root = open_arrays(path, layout) if arrays is None else arrays
    if lease is not None:
        _lock.check(*lease)
    solver_kw = dict(objective=None, method=study.method, rtol=study.rtol, max_steps=study.max_steps,
                     **extra)
    for io, obj in enumerate(study.objectives):
        for idp, depth in enumerate(study.depths):
            for ie, eps in enumerate(study.eps):
                st = status[io, idp, ie]
                kw = {**solver_kw, "objective": obj, "depth": depth, "eps": eps}
                if "trajectory" in q:
                    w, s = _solve(trajectory, ok, (study.times,), lam, rho, (m, study.n_times), **kw)
                    _merge(st, s)
                    root["trajectory"][io, idp, ie, lo:hi, :] = _store_values(w, st, study.dtype,
                                                                              inf_ok=False)
                    del w
                if want_tc:
                    tc, s = _solve(critical_time, ok, (), lam, rho, (m,), p=study.p, **kw)
                    tcs = np.array(s, dtype=np.int8)      # the critical time's own status
                    stored = _store_values(tc, tcs, study.dtype, inf_ok=True)
                    _merge(st, tcs)
                    if tc_all is not None:
                        tc_all[io, idp, ie] = stored
                    if "learning_order" in q:
                        good = tcs == SUCCESS
                        counts[io, idp, ie, 0] = _order_counts(tc[good], study.order_edges)
                        corr_lam[io, idp, ie, 0] = _spearman(tc[good], lam[good])
                        corr_rho[io, idp, ie, 0] = _spearman(tc[good], rho[good])
    gd_steps = gd_status = gd_lr = None
    if "gd_critical_step" in q or "gd_stable_lr" in q:
        gd_steps, gd_status, gd_lr = _gd_chunk(study, chunk, lam, rho, ok, extra)
    root["lam"][lo:hi] = lam
    root["rho"][lo:hi] = rho
    if gd_steps is not None:
        root["gd_critical_step"][..., lo:hi] = gd_steps
        root["gd_status"][..., lo:hi] = gd_status
    if gd_lr is not None:
        root["gd_stable_lr"][..., lo:hi] = gd_lr
    if tc_all is not None:
        root["critical_time"][..., lo:hi] = tc_all
    root["status"][..., lo:hi] = status
    if "learning_order" in q:
        root["order_counts"][:, :, :, chunk:chunk + 1, :] = counts
        root["order_corr_lam"][:, :, :, chunk:chunk + 1] = corr_lam
        root["order_corr_rho"][:, :, :, chunk:chunk + 1] = corr_rho
    rec = _store.chunk_record(path, layout, chunk) if record else None
    failed = int(np.count_nonzero(status))
    ood = int(np.count_nonzero(status == OUT_OF_DOMAIN))
    if gd_status is not None:  # the gradient-descent feature-combinations count too
        failed += int(np.count_nonzero(gd_status))
        ood += int(np.count_nonzero(gd_status == OUT_OF_DOMAIN))
    return chunk, m, failed, ood, rec


def _worker_task(study: Study, path: str, chunk: int, backend: str, lease: tuple[str, str]):
    """One Dask task: write chunk ``chunk``'s data under the coordinator's lease."""
    layout = _store.Layout.of(study)
    return write_chunk(study, path, layout, chunk, backend, lease=lease)


def connect(scheduler):
    """``(client, owned)`` for a ``scheduler`` argument; an unreachable address is a ValueError."""
    if not isinstance(scheduler, str):
        from distributed import Client

        if isinstance(scheduler, Client):
            return scheduler, False
        raise TypeError("`scheduler` must be None, a scheduler address such as 'tcp://host:port' "
                        f"or a distributed.Client; got {type(scheduler).__name__}.")
    from distributed import Client

    try:
        return Client(scheduler), True
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ValueError(f"`scheduler` {scheduler!r} cannot be reached: {exc}") from None


def run(study: Study, path: str, layout: _store.Layout, todo: list[int], *, lease: _lock.Lease,
        client=None, backend: str = "cpu", progress: Bar) -> tuple[int, int, int]:
    """Compute and commit the chunks ``todo`` (on ``client``'s cluster, if given).

    Returns (chunks computed, failed feature-combinations, of them out of domain).
    """
    failed = ood = 0
    if client is None:
        arrays = open_arrays(path, layout)

        def finish(chunk):
            _store.commit(path, layout, chunk, _store.chunk_record(path, layout, chunk))

        # a chunk's commit (read-back, fsyncs, record) overlaps the next chunk's computation;
        # at most one commit is pending
        with ThreadPoolExecutor(1, thread_name_prefix="fastdyn-commit") as committer:
            pending = None
            for chunk in todo:
                _, m, f, o, _ = write_chunk(study, path, layout, chunk, backend, arrays, record=False)
                failed, ood = failed + f, ood + o
                if pending is not None:
                    pending[0].result()
                    progress.update(pending[1])
                pending = (committer.submit(finish, chunk), m)
            if pending is not None:
                pending[0].result()
                progress.update(pending[1])
        return len(todo), failed, ood
    from distributed import as_completed

    futures = []
    try:
        # the study (with any given parameter arrays) travels to each worker once
        [study_f] = client.scatter([study], broadcast=True)
        futures = [client.submit(_worker_task, study_f, path, c, backend, (lease.lock, lease.token),
                                 pure=False, key=f"fastdyn-sweep-chunk-{c}-{lease.token}")
                   for c in todo]
        for fut in as_completed(futures):
            chunk, m, f, o, rec = fut.result()
            # the coordinator, holding the lock, commits what the worker wrote
            problems = _store.record_problems(path, layout, chunk, rec, full=False)
            if problems:
                raise OSError(f"chunk {chunk} as written by its worker does not match its record: "
                              + "; ".join(problems))
            _store.commit(path, layout, chunk, rec)
            failed, ood = failed + f, ood + o
            progress.update(m)
            fut.release()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
    return len(todo), failed, ood
