"""Monte Carlo sweeps over feature parameters, streamed to a Zarr store.

``fastdyn.sweep(config, store)`` runs a study (see :mod:`fastdyn._sweep._config`
for the config keys) chunk by chunk, in this process or on a Dask cluster,
and ``fastdyn.open_sweep(store)`` reads the result back.  Dask, distributed,
zarr and xarray are imported only when these functions run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._config import load
from ._lock import LeaseLost, StoreLocked
from ._runner import SweepReport
from ._store import StoreDamaged, StoreError

__all__ = ["LeaseLost", "StoreDamaged", "StoreError", "StoreHealth", "StoreLocked", "SweepData",
           "SweepReport", "open_sweep", "sweep", "verify"]


class _Param:
    """Tag a ValueError/TypeError raised inside with the argument it is about (for the CLI)."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is not None and isinstance(exc, (ValueError, TypeError)) \
                and not hasattr(exc, "fastdyn_param"):
            exc.fastdyn_param = self.name
        return False


def sweep(
    config: str | os.PathLike | dict,
    store: str | os.PathLike,
    *,
    scheduler: Any = None,
    backend: str = "cpu",
    progress: bool | None = None,
    overwrite: bool = False,
    verify: str = "full",
    wait: float = 0.0,
) -> SweepReport:
    """Run a study and stream its results to a Zarr store, resumably and verifiably.

    Per feature ``i`` the study draws (or takes) ``lam_i`` and ``rho_i`` and,
    for every objective, depth ``L`` and initial weight ``eps`` of the config,
    solves eq. 7 (JEPA) or eq. 8 (MAE) for the requested quantities: the
    trajectory ``w_i(t)`` at the output times, the critical time of eq. 11 and
    learning-order summaries (per chunk: a histogram of ``log10 t*`` and the
    Spearman correlations of ``t*`` with ``lam`` and with ``rho``, over the
    chunk's features whose status is SUCCESS; NaN where a parameter or ``t*``
    is constant within the chunk, as a correlation is then undefined).  The
    gradient-descent quantities run the per-feature recursion at a finite
    learning rate from the balanced start ``w(0) = eps``:
    ``gd_critical_step`` (:func:`fastdyn.gd_critical_step` for every learning
    rate of the config's ``lr``, step budget ``gd_max_steps``; its statuses in
    ``gd_status``) and ``gd_stable_lr`` (:func:`fastdyn.gd_stable_lr`).

    Features whose ``lam`` or ``rho`` falls outside the documented domain
    (``fastdyn.kernels._constants``) are not computed: their status is
    ``OUT_OF_DOMAIN``, their values NaN, and they count as failures.  A value
    that is not finite in the storage dtype (a float32 overflow) gets
    ``NON_FINITE``: no NaN or inf is ever stored with status SUCCESS (a
    critical time of ``inf``, "beyond float64", excepted).

    Parameters
    ----------
    config : path or dict
        A TOML file or a dict with the keys of :mod:`fastdyn._sweep._config`.
        The whole config is validated before any work starts.
    store : path
        Directory of the Zarr store.  If it holds the same study (same
        normalised config and fastdyn version), its done chunks are verified
        and only missing or damaged chunks are computed (damaged metadata is
        rewritten); if it holds a different one, a ``StoreError`` (a
        ``ValueError``) names the differing keys and nothing is written.
        The store's lock file is ``store + ".lock"``.
    scheduler : None, str or distributed.Client
        None: run in this process, chunk after chunk, each chunk on all cores
        (Numba threads); memory stays at a few chunks whatever the study size.
        ``"tcp://host:port"`` or a ``distributed.Client``: one Dask task per
        chunk; workers write their chunks' data to ``store`` themselves, so it
        must be a path every worker sees (a shared filesystem); this process
        holds the lock and commits each chunk.
    backend : {"cpu", "gpu"}
        ``"cpu"``: Numba threads on all cores.  ``"gpu"``: each chunk is sent
        to the GPU (``backend="gpu"`` of :func:`fastdyn.trajectory`); checked
        with a one-feature call before any work starts.
    progress : bool or None
        tqdm progress bar on stderr (chunks done, features/s, time left).
        None: only when stderr is a terminal.
    overwrite : bool
        Discard whatever sweep store (complete, partial or damaged) is at
        ``store`` first.  Never deletes a directory that is not a sweep store.
    verify : {"full", "quick"}
        How a resume checks the chunks already done: ``"full"`` reads every
        file and checks its crc32c checksum (about 1 s per 10 GB cached, a
        disk read otherwise); ``"quick"`` compares sizes and recorded
        checksums only (one ``stat`` and a 4-byte read per file).
    wait : float
        Seconds to wait for another sweep that holds the store's lock; then
        (or at once, with 0) :class:`StoreLocked` names the lock and its holder.

    Returns
    -------
    SweepReport
        Chunks computed by this call, failed feature-combinations (see the
        store's ``status`` array), of them out of domain, chunks repaired,
        wall-clock seconds.

    Notes
    -----
    Results are bit-for-bit reproducible: chunk ``k`` draws its parameters
    from ``numpy.random.SeedSequence(seed, spawn_key=(k,))`` and every kernel
    is per-feature deterministic, so embedded, distributed, resumed and
    repaired runs write identical stores.  A chunk counts as done only after
    its data files, then its completion record (their sizes and checksums),
    are fsync'ed with their directories; the store itself is created in a
    sibling directory and renamed into place.  See :mod:`fastdyn._sweep._store`.
    """
    from . import _lock, _store
    from ._runner import Bar, check_backend, connect, run

    with _Param("config"):
        study = load(config)
    with _Param("backend"):
        check_backend(backend)
    for name, value, allowed, what in (("progress", progress, (bool, type(None)), "True, False or None"),
                                       ("overwrite", overwrite, (bool,), "True or False")):
        with _Param(name):
            if not isinstance(value, allowed):
                raise TypeError(f"`{name}` must be {what}; got {value!r}.")
    with _Param("verify"):
        if verify not in ("full", "quick"):
            raise ValueError(f"`verify` must be 'full' or 'quick'; got {verify!r}.")
    with _Param("wait"):
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
            raise ValueError(f"`wait` must be a number of seconds >= 0; got {wait!r}.")
    t0 = time.perf_counter()
    with _Param("store"):
        if not isinstance(store, (str, os.PathLike)):
            raise TypeError(f"`store` must be a path; got {type(store).__name__}.")
        path = os.path.abspath(os.fspath(store))
        if os.path.lexists(path) and not os.path.isdir(path):
            raise _store.StoreError(f"`store` {path!r} exists and is not a directory; choose "
                                    "another path.")
    client, own = None, False
    with _Param("scheduler"):
        if scheduler is not None:
            client, own = connect(scheduler)
    try:
        with _Param("store"):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with _lock.acquire(path, float(wait)) as lease:
                plan = _store.prepare(path, study, overwrite=overwrite, verify=verify)
                bar = Bar(study.n_chunks, study.n_chunks - len(plan.todo), enabled=progress)
                try:
                    computed, failed, ood = run(study, path, plan.layout, plan.todo, lease=lease,
                                                client=client, backend=backend, progress=bar)
                finally:
                    bar.close()
    finally:
        if own:
            client.close()
    return SweepReport(path, study.n_chunks, computed, failed, time.perf_counter() - t0, ood,
                       plan.damaged, plan.repaired_metadata)


@dataclass(frozen=True)
class StoreHealth:
    """The result of :func:`verify`.

    Attributes
    ----------
    store : str
    n_chunks : int
    done : int
        Chunks done and verified.
    damaged : dict
        Chunk index -> problems, for chunks marked done that fail verification.
    metadata : list of str
        Metadata files missing or damaged.
    checked : str
        ``"full"`` (every byte's checksum) or ``"quick"`` (sizes and recorded checksums).
    lock_holder : dict
        What the writer holding the store's lock recorded (empty: nobody writes).
    """

    store: str
    n_chunks: int
    done: int
    damaged: dict
    metadata: list
    checked: str
    lock_holder: dict

    @property
    def healthy(self) -> bool:
        return not self.damaged and not self.metadata

    @property
    def complete(self) -> bool:
        return self.healthy and self.done == self.n_chunks


def verify(store: str | os.PathLike, *, full: bool = True) -> StoreHealth:
    """Check a sweep store without changing it: metadata, every done chunk, the lock.

    Parameters
    ----------
    store : path
    full : bool
        True: read every file of every done chunk and check its crc32c
        checksum.  False: compare sizes and recorded checksums only.

    Returns
    -------
    StoreHealth

    Raises
    ------
    StoreError
        ``store`` is not a sweep store, or its root metadata is unreadable
        (:class:`StoreDamaged`; the sweep's config repairs it).
    """
    from . import _lock, _store

    path = os.path.abspath(os.fspath(store))
    layout, done, damaged, meta = _store.check_store(path, full=full)
    return StoreHealth(path, layout.K, len(done), damaged, meta, "full" if full else "quick",
                       _lock.holder(path))


@dataclass
class SweepData:
    """A sweep read back into NumPy: ``data["trajectory"]``, ``data.coords``, ``data.attrs``.

    ``arrays`` maps array names to NumPy arrays with the dimensions listed in
    ``dims``; ``coords`` holds the labels of the objective, depth, eps and
    time dimensions; ``attrs`` the store's metadata (``attrs["config"]`` is
    the normalised config, ``attrs["fastdyn_version"]`` the version).
    """

    arrays: dict[str, np.ndarray]
    dims: dict[str, tuple[str, ...]]
    coords: dict[str, np.ndarray]
    attrs: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __contains__(self, name: str) -> bool:
        return name in self.arrays


def open_sweep(store: str | os.PathLike, *, engine: str = "auto", allow_incomplete: bool = False,
               verify: str = "auto"):
    """Read a sweep's store back with one call, after verifying it.

    Parameters
    ----------
    store : path
        The store written by :func:`fastdyn.sweep`.
    engine : {"auto", "xarray", "numpy"}
        ``"xarray"``: a lazy (dask-backed) ``xarray.Dataset`` with named
        dimensions ``objective, depth, eps, feature, time, chunk, bin`` and
        coordinates for objective, depth, eps and time; every variable's
        ``attrs`` give its meaning (``long_name``) and ``units``.  ``"numpy"``:
        a :class:`SweepData` of in-memory arrays.  ``"auto"``: xarray when it
        is installed.
    allow_incomplete : bool
        Read a store whose sweep has not finished (missing chunks read as
        NaN / 0); by default that raises :class:`StoreError`.
    verify : {"auto", "full", "quick"}
        Checks before anything is returned.  ``"quick"``: the metadata, and
        every done chunk's files against its completion record (sizes and
        recorded checksums).  ``"full"``: also every file's checksum over its
        bytes.  ``"auto"``: full for ``engine="numpy"`` (which reads all the
        data anyway), quick for the lazy xarray engine, whose reads then check
        each Zarr chunk's crc32c as it is loaded (a damaged byte raises there).

    Returns
    -------
    xarray.Dataset or SweepData

    Raises
    ------
    StoreDamaged
        A chunk marked done, or metadata, fails verification; the message names
        it and the repair (re-running the sweep with its config).
    StoreError
        ``store`` is not a sweep store, or is incomplete.
    """
    import zarr

    from . import _store

    if engine not in ("auto", "xarray", "numpy"):
        raise ValueError(f"`engine` must be 'auto', 'xarray' or 'numpy'; got {engine!r}.")
    if verify not in ("auto", "full", "quick"):
        raise ValueError(f"`verify` must be 'auto', 'full' or 'quick'; got {verify!r}.")
    if not isinstance(allow_incomplete, bool):
        raise TypeError(f"`allow_incomplete` must be True or False; got {allow_incomplete!r}.")
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"`store` must be a path; got {type(store).__name__}.")
    if engine == "auto":
        try:
            import xarray  # noqa: F401

            engine = "xarray"
        except ImportError:
            engine = "numpy"
    full = verify == "full" or (verify == "auto" and engine == "numpy")
    path = os.fspath(store)
    layout, done, damaged, meta_problems = _store.check_store(os.path.abspath(path), full=full)
    if damaged or meta_problems:
        raise StoreDamaged(_store.damage_message(path, damaged, meta_problems), damaged,
                           meta_problems)
    if not allow_incomplete and len(done) < layout.K:
        raise StoreError(f"`store` {path!r} is incomplete: {len(done)} of {layout.K} chunks are done. "
                         "Re-run the sweep with the same config to finish it, or pass "
                         "allow_incomplete=True.")
    meta = layout.meta
    coords = {k: np.asarray(v) for k, v in meta["coords"].items()}
    attrs = {"fastdyn_version": meta["fastdyn_version"], "config": meta["config"],
             "format": meta["format"]}
    if engine == "xarray":
        import xarray as xr

        ds = xr.open_zarr(path, consolidated=False, chunks={}).drop_vars(_store.RECORD)
        ds = ds.assign_coords(**coords)
        ds.attrs = attrs
        return ds
    root = zarr.open_group(path, mode="r")
    arrays, dims = {}, {}
    for name, arr in root.arrays():
        if name == _store.RECORD:
            continue
        arrays[name] = np.asarray(arr[...])
        dims[name] = tuple(arr.metadata.dimension_names)
    if "time" in arrays:
        coords["time"] = arrays["time"]
    return SweepData(arrays, dims, coords, attrs)
