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
from ._runner import SweepReport

__all__ = ["SweepData", "SweepReport", "open_sweep", "sweep"]


def sweep(
    config: str | os.PathLike | dict,
    store: str | os.PathLike,
    *,
    scheduler: Any = None,
    backend: str = "cpu",
    progress: bool | None = None,
    overwrite: bool = False,
) -> SweepReport:
    """Run a study and stream its results to a Zarr store, resumably.

    Per feature ``i`` the study draws (or takes) ``lam_i`` and ``rho_i`` and,
    for every objective, depth ``L`` and initial weight ``eps`` of the config,
    solves eq. 7 (JEPA) or eq. 8 (MAE) for the requested quantities: the
    trajectory ``w_i(t)`` at the output times, the critical time of eq. 11 and
    learning-order summaries (per chunk: a histogram of ``log10 t*`` and the
    Spearman correlations of ``t*`` with ``lam`` and with ``rho``, over the
    chunk's features whose status is SUCCESS; NaN where a parameter or ``t*``
    is constant within the chunk, as a correlation is then undefined).

    Parameters
    ----------
    config : path or dict
        A TOML file or a dict with the keys of :mod:`fastdyn._sweep._config`.
        The whole config is validated before any work starts.
    store : path
        Directory of the Zarr store.  If it holds the same study (same
        normalised config and fastdyn version), only chunks without a
        completion record are computed; if it holds a different one, a
        ``ValueError`` names the differing keys and nothing is written.
    scheduler : None, str or distributed.Client
        None: run in this process, chunk after chunk, each chunk on all cores
        (Numba threads); memory stays at a few chunks whatever the study size.
        ``"tcp://host:port"`` or a ``distributed.Client``: one Dask task per
        chunk; workers write their chunks to ``store`` themselves, so it must
        be a path every worker sees (a shared filesystem).
    backend : {"cpu", "gpu"}
        ``"cpu"``: Numba threads on all cores.  ``"gpu"``: each chunk is sent
        to the GPU (``backend="gpu"`` of :func:`fastdyn.trajectory`); checked
        with a one-feature call before any work starts.
    progress : bool or None
        Progress bar on stderr (chunks done, features/s, time left).  None:
        only when stderr is a terminal.
    overwrite : bool
        Discard an existing store at ``store`` first.

    Returns
    -------
    SweepReport
        Chunks computed by this call, failed feature-combinations (see the
        store's ``status`` array), wall-clock seconds.

    Notes
    -----
    Results are bit-for-bit reproducible: chunk ``k`` draws its parameters
    from ``numpy.random.SeedSequence(seed, spawn_key=(k,))`` and every kernel
    is per-feature deterministic, so embedded, distributed and resumed runs
    write identical stores.
    """
    from . import _store
    from ._progress import Progress
    from ._runner import check_backend, run

    study = load(config)
    check_backend(backend)
    if scheduler is not None and not isinstance(scheduler, str):
        from distributed import Client

        if not isinstance(scheduler, Client):
            raise TypeError("`scheduler` must be None, an address 'tcp://host:port' or a "
                            f"distributed.Client; got {type(scheduler).__name__}.")
    t0 = time.perf_counter()
    path = os.path.abspath(os.fspath(store))
    root = _store.open_or_create(path, study, overwrite=overwrite)
    done = _store.done_chunks(root)
    todo = [int(i) for i in np.flatnonzero(~done)]
    bar = Progress(study.n_chunks, int(done.sum()), enabled=progress)
    try:
        computed, failed = run(study, path, todo, scheduler=scheduler, backend=backend, progress=bar)
    finally:
        bar.close()
    return SweepReport(path, study.n_chunks, computed, failed, time.perf_counter() - t0)


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


def open_sweep(store: str | os.PathLike, *, engine: str = "auto", allow_incomplete: bool = False):
    """Read a sweep's store back with one call.

    Parameters
    ----------
    store : path
        The store written by :func:`fastdyn.sweep`.
    engine : {"auto", "xarray", "numpy"}
        ``"xarray"``: a lazy (dask-backed) ``xarray.Dataset`` with named
        dimensions ``objective, depth, eps, feature, time, chunk, bin`` and
        coordinates for objective, depth, eps and time.  ``"numpy"``: a
        :class:`SweepData` of in-memory arrays.  ``"auto"``: xarray when it
        is installed.
    allow_incomplete : bool
        Read a store whose sweep has not finished (missing chunks read as
        NaN / 0); by default that raises ``ValueError``.

    Returns
    -------
    xarray.Dataset or SweepData
    """
    import zarr

    from . import _store

    if engine not in ("auto", "xarray", "numpy"):
        raise ValueError(f"`engine` must be 'auto', 'xarray' or 'numpy'; got {engine!r}.")
    path = os.fspath(store)
    try:
        root = zarr.open_group(path, mode="r")
        meta = root.attrs[_store.ATTR]
    except Exception:
        raise ValueError(f"`store` {path!r} is not a fastdyn sweep store.") from None
    done = _store.done_chunks(root)
    if not allow_incomplete and not done.all():
        raise ValueError(f"`store` {path!r} is incomplete: {int(done.sum())} of {done.size} chunks "
                         "are done. Re-run the sweep with the same config to finish it, or pass "
                         "allow_incomplete=True.")
    coords = {k: np.asarray(v) for k, v in meta["coords"].items()}
    if engine == "auto":
        try:
            import xarray  # noqa: F401

            engine = "xarray"
        except ImportError:
            engine = "numpy"
    if engine == "xarray":
        import xarray as xr

        ds = xr.open_zarr(path, consolidated=False, chunks={})
        ds = ds.assign_coords(**coords)
        ds.attrs = {"fastdyn_version": meta["fastdyn_version"], "config": meta["config"],
                    "format": meta["format"]}
        return ds
    arrays, dims = {}, {}
    for name, arr in root.arrays():
        arrays[name] = np.asarray(arr[...])
        dims[name] = tuple(arr.metadata.dimension_names)
    if "time" in arrays:
        coords["time"] = arrays["time"]
    return SweepData(arrays, dims, coords, {"fastdyn_version": meta["fastdyn_version"],
                                             "config": meta["config"], "format": meta["format"]})
