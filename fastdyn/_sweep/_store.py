"""The Zarr (v3) store of a sweep: layout, atomic creation, completion records, verification.

Layout (``F`` features, ``T`` times, ``C`` features per chunk, ``K`` chunks,
``B`` histogram bins, ``O, D, E, I, R`` = number of objectives, depths, eps,
imbalances and learning rates; a chunk's completion record holds ``2 + 2 n`` numbers, ``n`` =
files a chunk writes)::

    lam, rho                    (feature,)                        float64, chunks (C,)
    time                        (time,)                           float64
    trajectory                  (objective, depth, eps, feature, time)   chunks (1, 1, 1, C, T)
    critical_time               (objective, depth, eps, feature)         chunks (O, D, E, C)
    status                      (objective, depth, eps, feature)  int8,  chunks (O, D, E, C)
    order_counts                (objective, depth, eps, chunk, bin)      int64, chunks (O, D, E, 1, B)
    order_edges                 (edge,)                           float64
    order_corr_lam, order_corr_rho  (objective, depth, eps, chunk)       float64, chunks (O, D, E, 1)
    gd_critical_step            (objective, depth, eps, imbalance, lr, feature)
                                                                  float64, chunks (O, D, E, I, R, C)
    gd_status                   (objective, depth, eps, imbalance, lr, feature)
                                                                  int8,  chunks (O, D, E, I, R, C)
    gd_stable_lr                (objective, depth, feature)              float64, chunks (O, D, C)
    chunk_done                  (chunk,)                          uint8, chunks (1,)
    chunk_record                (chunk, record)                   uint64, chunks (1, 2 + 2 n)

Every chunk file ends with Zarr's ``crc32c`` checksum of its bytes (the
``crc32c`` codec), so any reader, xarray included, detects a flipped byte.
The root group's attributes hold ``fastdyn_sweep``: the normalised config,
fastdyn's version, the coordinate labels and the format version.

A chunk of the study (``C`` features, every objective, depth and eps) writes
the ``n`` files listed by :meth:`Layout.chunk_files`; it is *done* when, after
all of them are written and fsync'ed, its completion record is:
``chunk_record[k]`` = ``[identity, n, size_0, crc_0, ..., size_n-1, crc_n-1]``
(``identity``: the first 8 bytes of the SHA-256 of the store's metadata; the
sizes and trailing checksums of the chunk's files as read back from disk),
then ``chunk_done[k] = 1``, each written to a temporary file, fsync'ed,
renamed into place and its directory fsync'ed.

Verification of a done chunk (:func:`check_chunk`): ``quick`` compares every
file's size and trailing checksum with the record (one ``stat`` and a 4-byte
read per file: catches missing, truncated, replaced files and a record of the
wrong length); ``full`` also recomputes each file's checksum over its bytes
(catches flipped bytes).  Metadata (every ``zarr.json`` and the ``time`` and
``order_edges`` data) is a function of the metadata alone: :func:`skeleton`
regenerates it byte for byte, so it is verified by comparison and repaired
by rewriting.

Creation is atomic: the skeleton is written and fsync'ed in a hidden sibling
directory ``.<name>.creating-<random>`` and renamed to the store's path; a
replaced store (``overwrite``) is first renamed to ``.<name>.trash-<random>``.
Leftovers of killed writers (those directories, Zarr's ``*.partial`` files) are
removed by the next writer, which holds the store's lock (:mod:`._lock`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..kernels._constants import (
    DIVERGED,
    MAX_STEPS,
    NO_CONVERGENCE,
    NON_FINITE,
    OUT_OF_DOMAIN,
    SUCCESS,
)
from ._config import Study

FORMAT = 2
ATTR = "fastdyn_sweep"
DONE = "chunk_done"
RECORD = "chunk_record"
_COMBO_DIMS = ("objective", "depth", "eps")
#: every array name any sweep store may hold: a directory holding only these
#: (and ``zarr.json``) is recognised as a fastdyn store, even with damaged metadata
KNOWN_NAMES = frozenset({"lam", "rho", "time", "trajectory", "critical_time", "status",
                         "order_counts", "order_edges", "order_corr_lam", "order_corr_rho",
                         "gd_critical_step", "gd_status", "gd_stable_lr", DONE, RECORD})
_CREATING, _TRASH = "creating", "trash"

#: the meaning and units of every array, stored as its Zarr (hence xarray) attributes
_STATUS_FLAGS = {SUCCESS: "success", MAX_STEPS: "max_steps", NON_FINITE: "non_finite",
                 NO_CONVERGENCE: "no_convergence", OUT_OF_DOMAIN: "out_of_domain"}
_GD_STATUS_FLAGS = {SUCCESS: "success", MAX_STEPS: "max_steps", NON_FINITE: "non_finite",
                    OUT_OF_DOMAIN: "out_of_domain", DIVERGED: "diverged"}
ATTRS = {
    "lam": {"long_name": "lam_i = Syx_ii, covariance of feature i between input and target",
            "units": "1", "comment": "per-feature parameter of eq. 7, 8 (data variance units)"},
    "rho": {"long_name": "rho_i = lam_i / Sxx_ii, regression coefficient of feature i",
            "units": "1", "comment": "per-feature parameter of eq. 7, 8; fixed points rho^L "
                                     "(JEPA), rho^(L/(L+1)) (MAE)"},
    "time": {"long_name": "training time t of the per-feature ODEs (eq. 7, 8)",
             "units": "ODE time (t = L * gradient-flow time)"},
    "trajectory": {"long_name": "w_i(t) = ||Wbar e_i||, norm of column i of the end-to-end encoder",
                   "units": "1", "comment": "solution of eq. 7 (JEPA) or eq. 8 (MAE) with w(0) = eps; "
                                            "NaN where status is not 0"},
    "critical_time": {"long_name": "critical time t*: w_i(t*) = p w_i(inf) (eq. 11)",
                      "units": "ODE time (t = L * gradient-flow time)",
                      "comment": "inf: the crossing lies beyond float64; NaN where status is not 0"},
    "status": {"long_name": "per-feature solver status (fastdyn.Status)", "units": "1",
               "flag_values": list(_STATUS_FLAGS), "flag_meanings": " ".join(_STATUS_FLAGS.values()),
               "comment": "out_of_domain: lam or rho outside the documented domain; nothing computed"},
    "order_counts": {"long_name": "histogram of log10(t*) over the chunk's features with status 0",
                     "units": "count",
                     "comment": "bin 0: below order_edges[0]; bin j: [edges[j-1], edges[j]); "
                                "last bin: at or above order_edges[-1] (inf included)"},
    "order_edges": {"long_name": "edges of the log10(t*) histogram bins",
                    "units": "log10(ODE time)"},
    "order_corr_lam": {"long_name": "Spearman rank correlation of t* with lam over the chunk's "
                                    "features with status 0", "units": "1",
                       "comment": "NaN where lam or t* is constant in the chunk"},
    "order_corr_rho": {"long_name": "Spearman rank correlation of t* with rho over the chunk's "
                                    "features with status 0", "units": "1",
                       "comment": "NaN where rho or t* is constant in the chunk"},
    "gd_critical_step": {
        "long_name": "first gradient-descent step k with w_i(k) >= p w_i(limit), from w(0) = eps "
                     "(layers eps^(1/L) exp(imbalance z), rescaled) at learning rate lr "
                     "(fastdyn.gd_critical_step)",
        "units": "steps (ODE time t = L lr k)",
        "comment": "an exact integer; NaN where gd_status is not 0"},
    "gd_status": {"long_name": "per-feature status of gd_critical_step (fastdyn.Status)",
                  "units": "1", "flag_values": list(_GD_STATUS_FLAGS),
                  "flag_meanings": " ".join(_GD_STATUS_FLAGS.values()),
                  "comment": "max_steps: not reached within gd_max_steps steps; diverged: a layer "
                             "value left 1e12 first; out_of_domain: lam or rho outside the "
                             "documented domain, nothing computed"},
    "gd_stable_lr": {
        "long_name": "largest stable learning rate at the balanced fixed point "
                     "(fastdyn.gd_stable_lr)",
        "units": "learning rate per step",
        "comment": "inf: beyond float64 (every learning rate is stable); NaN only where lam or "
                   "rho is outside the documented domain (status out_of_domain)"},
    DONE: {"long_name": "completion flag of each chunk of features (1: done and recorded)",
           "units": "1"},
    RECORD: {"long_name": "completion record of each chunk: [identity, n_files, (size, crc32c) "
                          "of each file]", "units": "1"},
}


class StoreError(ValueError):
    """The store cannot be used as asked: not a sweep store, another study, incomplete."""


class StoreDamaged(StoreError):
    """Chunks marked done, or metadata, that fail verification.

    Attributes
    ----------
    chunks : dict
        Damaged chunk index -> list of problems (one string per file).
    metadata : list of str
        Metadata files that are missing or differ from what the config gives.
    """

    def __init__(self, message: str, chunks: dict, metadata: list):
        super().__init__(message)
        self.chunks = chunks
        self.metadata = metadata


def _version() -> str:
    from .. import __version__

    return __version__


def metadata(study: Study) -> dict:
    """The root attributes: what a resume compares before it writes anything (JSON round trip)."""
    meta = {
        "format": FORMAT,
        "fastdyn_version": _version(),
        "config": study.normalized(),
        "n_chunks": study.n_chunks,
        "coords": {"objective": list(study.objectives), "depth": list(study.depths),
                   "eps": [float(e) for e in study.eps],
                   **({} if study.lrs is None else
                      {"imbalance": [float(x) for x in study.imbalance],
                       "lr": [float(x) for x in study.lrs]})},
    }
    # the comparison sees exactly what the store records
    return json.loads(json.dumps(meta))


@dataclass(frozen=True)
class Spec:
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: str
    compressed: bool


class Layout:
    """Everything about a store that follows from its metadata: arrays, files, records."""

    def __init__(self, meta: dict):
        self.meta = meta
        cfg = meta["config"]
        self.F, self.C = int(cfg["n_features"]), int(cfg["chunk_size"])
        self.K = -(-self.F // self.C)
        self.n_o, self.n_d, self.n_e = len(cfg["objectives"]), len(cfg["depths"]), len(cfg["eps"])
        self.n_i, self.n_r = len(cfg.get("imbalance") or ()), len(cfg.get("lr") or ())
        self.quantities = tuple(cfg["quantities"])
        self.times = None if cfg["times"] is None else np.asarray(cfg["times"], dtype=np.float64)
        self.edges = (None if cfg["order_edges"] is None
                      else np.asarray(cfg["order_edges"], dtype=np.float64))
        self.dtype, self.compression = cfg["dtype"], cfg["compression"]
        text = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
        self.identity = int.from_bytes(hashlib.sha256(text).digest()[:8], "little")
        self.specs = self._specs()
        self.n_files = len(self.chunk_files(0))
        self.record_len = 2 + 2 * self.n_files

    @classmethod
    def of(cls, study: Study) -> Layout:
        return cls(metadata(study))

    def _specs(self) -> dict[str, Spec]:
        n_o, n_d, n_e = self.n_o, self.n_d, self.n_e
        F, C, K = self.F, self.C, self.K
        combo = (n_o, n_d, n_e)
        specs = {
            "lam": Spec(("feature",), (F,), (C,), "float64", True),
            "rho": Spec(("feature",), (F,), (C,), "float64", True),
        }
        if "trajectory" in self.quantities:
            T = int(self.times.shape[0])
            specs["time"] = Spec(("time",), (T,), (T,), "float64", False)
            specs["trajectory"] = Spec(_COMBO_DIMS + ("feature", "time"), combo + (F, T),
                                       (1, 1, 1, C, T), self.dtype, True)
        if "critical_time" in self.quantities:
            specs["critical_time"] = Spec(_COMBO_DIMS + ("feature",), combo + (F,), combo + (C,),
                                          self.dtype, True)
        specs["status"] = Spec(_COMBO_DIMS + ("feature",), combo + (F,), combo + (C,), "int8", True)
        if "learning_order" in self.quantities:
            B = int(self.edges.shape[0]) + 1   # plus one bin below and one above (inf included)
            specs["order_counts"] = Spec(_COMBO_DIMS + ("chunk", "bin"), combo + (K, B),
                                         combo + (1, B), "int64", False)
            specs["order_edges"] = Spec(("edge",), (B - 1,), (B - 1,), "float64", False)
            for name in ("order_corr_lam", "order_corr_rho"):
                specs[name] = Spec(_COMBO_DIMS + ("chunk",), combo + (K,), combo + (1,), "float64",
                                   False)
        if "gd_critical_step" in self.quantities:
            gd, dims = combo + (self.n_i, self.n_r), _COMBO_DIMS + ("imbalance", "lr", "feature")
            # steps as exact integers (float32 would round them above 2**24): always float64
            specs["gd_critical_step"] = Spec(dims, gd + (F,), gd + (C,), "float64", True)
            specs["gd_status"] = Spec(dims, gd + (F,), gd + (C,), "int8", True)
        if "gd_stable_lr" in self.quantities:
            specs["gd_stable_lr"] = Spec(("objective", "depth", "feature"), (n_o, n_d, F),
                                         (n_o, n_d, C), "float64", True)
        specs[DONE] = Spec(("chunk",), (K,), (1,), "uint8", False)
        n = len(self._chunk_files(0, specs))
        specs[RECORD] = Spec(("chunk", "record"), (K, 2 + 2 * n), (1, 2 + 2 * n), "uint64", False)
        return specs

    @staticmethod
    def _key(name: str, coords) -> str:
        # Zarr v3's default chunk key encoding with separator "/" (the arrays' metadata says so)
        return f"{name}/c/" + "/".join(str(int(c)) for c in coords)

    def _chunk_files(self, k: int, specs: dict) -> list[str]:
        files = [self._key("lam", (k,)), self._key("rho", (k,))]
        if "trajectory" in specs:
            files += [self._key("trajectory", (i, j, e, k, 0)) for i in range(self.n_o)
                      for j in range(self.n_d) for e in range(self.n_e)]
        if "critical_time" in specs:
            files.append(self._key("critical_time", (0, 0, 0, k)))
        files.append(self._key("status", (0, 0, 0, k)))
        if "order_counts" in specs:
            files += [self._key("order_counts", (0, 0, 0, k, 0)),
                      self._key("order_corr_lam", (0, 0, 0, k)),
                      self._key("order_corr_rho", (0, 0, 0, k))]
        if "gd_critical_step" in specs:
            files += [self._key("gd_critical_step", (0, 0, 0, 0, 0, k)),
                      self._key("gd_status", (0, 0, 0, 0, 0, k))]
        if "gd_stable_lr" in specs:
            files.append(self._key("gd_stable_lr", (0, 0, k)))
        return files

    def chunk_files(self, k: int) -> list[str]:
        """The files chunk ``k`` writes (relative to the store), in record order."""
        return self._chunk_files(k, self.specs)

    def done_key(self, k: int) -> str:
        return self._key(DONE, (k,))

    def record_key(self, k: int) -> str:
        return self._key(RECORD, (k, 0))

    def codecs(self, spec: Spec):
        from zarr.codecs import Crc32cCodec, ZstdCodec

        comp = [ZstdCodec(level=1)] if spec.compressed and self.compression == "zstd" else []
        return comp + [Crc32cCodec()]


# ---------------------------------------------------------------- files, fsync

def _crc(data: bytes) -> int:
    import google_crc32c   # Zarr's own crc32c implementation (a dependency of zarr)

    return int(google_crc32c.value(data))


def zarr_chunk(values: np.ndarray) -> bytes:
    """The bytes Zarr writes for one uncompressed chunk: little-endian C-order data + crc32c."""
    raw = np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
    return raw + _crc(raw).to_bytes(4, "little")


#: False only to measure what durability costs (bench/bench_sweep.py); never in real use
FSYNC = True


def fsync_path(path: str | os.PathLike) -> None:
    if not FSYNC:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_POOL: tuple[int, ThreadPoolExecutor] | None = None    # (owner pid, pool): none survives a fork


def fsync_all(paths) -> None:
    """fsync files and directories concurrently: a journaling filesystem commits them together.

    (One at a time, each small-file fsync costs a journal commit, ~5 ms on the
    2-core machine; 16 at once cost about one.)
    """
    global _POOL
    paths = list(dict.fromkeys(paths))
    if len(paths) <= 1:
        for p in paths:
            fsync_path(p)
        return
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(8, thread_name_prefix="fastdyn-fsync"))
    for f in [_POOL[1].submit(fsync_path, p) for p in paths]:
        f.result()


def _ancestors(root: str, rel: str) -> list[str]:
    """The directories from ``rel``'s parent up to ``root`` (inclusive)."""
    out, d = [], os.path.dirname(rel)
    while d:
        out.append(os.path.join(root, d))
        d = os.path.dirname(d)
    out.append(root)
    return out


def write_atomic(root: str, rel: str, data: bytes) -> None:
    """Write ``root/rel`` durably: temporary file, fsync, rename, fsync of the directories."""
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex}.partial"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_all(_ancestors(root, rel))


class _Bad(Exception):
    """A file that fails verification (the message says how)."""


def _read_chunk_file(path: str, expect_len: int | None = None) -> bytes:
    """The inner bytes of a Zarr chunk file after checking its trailing crc32c."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise _Bad("missing") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if expect_len is not None and size != expect_len:
            raise _Bad(f"has {size} bytes, expected {expect_len}")
        if size < 4:
            raise _Bad(f"has {size} bytes, too short for a checksummed chunk")
        # two reads rather than one and a slice: no copy of a 32 MiB chunk
        inner, tail = f.read(size - 4), f.read(4)
    if len(inner) != size - 4 or _crc(inner).to_bytes(4, "little") != tail:
        raise _Bad("fails its crc32c checksum (damaged bytes)")
    return inner


def file_record(path: str) -> tuple[int, int]:
    """``(size, crc32c)`` of a chunk file just written, after checking it reads back intact."""
    inner = _read_chunk_file(path)
    return len(inner) + 4, _crc(inner)


def _tail(path: str) -> bytes:
    with open(path, "rb") as f:
        f.seek(-4, os.SEEK_END)
        return f.read(4)


def chunk_record(root: str, layout: Layout, k: int) -> np.ndarray:
    """Read back chunk ``k``'s files, fsync them and their directories; return its record row."""
    files = layout.chunk_files(k)
    rec = np.zeros(layout.record_len, dtype=np.uint64)
    rec[0], rec[1] = layout.identity, layout.n_files
    for i, rel in enumerate(files):
        try:
            size, crc = file_record(os.path.join(root, rel))
        except _Bad as exc:
            raise OSError(f"chunk {k}: {rel} {exc} right after it was written") from None
        rec[2 + 2 * i], rec[3 + 2 * i] = size, crc
    dirs = [d for rel in files for d in _ancestors(root, rel)]
    fsync_all([os.path.join(root, rel) for rel in files] + dirs)
    return rec


def commit(root: str, layout: Layout, k: int, record: np.ndarray) -> None:
    """Make chunk ``k`` done: its record, then its flag, each durable before the next."""
    write_atomic(root, layout.record_key(k), zarr_chunk(record.reshape(1, -1)))
    write_atomic(root, layout.done_key(k), zarr_chunk(np.ones(1, dtype=np.uint8)))


def uncommit(root: str, layout: Layout, k: int) -> None:
    """Mark chunk ``k`` not done (before it is recomputed)."""
    for rel in (layout.done_key(k), layout.record_key(k)):
        try:
            os.unlink(os.path.join(root, rel))
        except FileNotFoundError:
            pass
    fsync_all([os.path.dirname(os.path.join(root, layout.done_key(k))),
               os.path.dirname(os.path.join(root, layout.record_key(k)))])


# ---------------------------------------------------------------- verification

def chunk_state(root: str, layout: Layout, k: int, full: bool) -> tuple[bool, list[str]]:
    """``(done, problems)`` of chunk ``k``: not done (no flag), done and healthy, or damaged."""
    try:
        flag = _read_chunk_file(os.path.join(root, layout.done_key(k)), 5)
    except _Bad as exc:
        if str(exc) == "missing":
            return False, []
        return True, [f"{layout.done_key(k)} {exc}"]
    if flag == b"\x00":
        return False, []
    if flag != b"\x01":
        return True, [f"{layout.done_key(k)} holds {flag[0]}, neither 0 nor 1"]
    rkey = layout.record_key(k)
    try:
        rec = np.frombuffer(_read_chunk_file(os.path.join(root, rkey), 8 * layout.record_len + 4),
                            dtype="<u8")
    except _Bad as exc:
        return True, [f"completion record {rkey} {exc}"]
    return True, record_problems(root, layout, k, rec, full)


def record_problems(root: str, layout: Layout, k: int, rec: np.ndarray, full: bool) -> list[str]:
    """How chunk ``k``'s files differ from its record ``rec`` (empty: they match)."""
    if int(rec[0]) != layout.identity:
        return [f"completion record {layout.record_key(k)} belongs to another study (identity "
                f"{int(rec[0]):016x}, this store's is {layout.identity:016x})"]
    if int(rec[1]) != layout.n_files:
        return [f"completion record {layout.record_key(k)} lists {int(rec[1])} files, expected "
                f"{layout.n_files}"]
    problems = []
    for i, rel in enumerate(layout.chunk_files(k)):
        size, crc = int(rec[2 + 2 * i]), int(rec[3 + 2 * i])
        path = os.path.join(root, rel)
        try:
            actual = os.stat(path).st_size
        except FileNotFoundError:
            problems.append(f"{rel} is missing")
            continue
        if actual != size:
            problems.append(f"{rel} has {actual} bytes, its record says {size}")
            continue
        if int.from_bytes(_tail(path), "little") != crc:
            problems.append(f"{rel} is not the file its record describes (checksum differs)")
            continue
        if full:
            try:
                _read_chunk_file(path, size)
            except _Bad as exc:
                problems.append(f"{rel} {exc}")
    return problems


def skeleton(layout: Layout) -> dict[str, bytes]:
    """Every metadata file of a fresh store (and the ``time``, ``order_edges`` data), by path."""
    import zarr

    d: dict = {}
    store = zarr.storage.MemoryStore(store_dict=d)
    root = zarr.create_group(store, attributes={ATTR: layout.meta})
    for name, spec in layout.specs.items():
        root.create_array(name, shape=spec.shape, chunks=spec.chunks, dtype=spec.dtype,
                          dimension_names=spec.dims, attributes=ATTRS[name],
                          fill_value=np.nan if np.dtype(spec.dtype).kind == "f" else 0,
                          compressors=layout.codecs(spec))
    if "time" in layout.specs:
        root["time"][:] = layout.times
    if "order_edges" in layout.specs:
        root["order_edges"][:] = layout.edges
    return {k: v.to_bytes() for k, v in d.items()}


def metadata_problems(root: str, skel: dict[str, bytes]) -> dict[str, str]:
    """The metadata files of the store at ``root`` that are missing or differ from ``skel``."""
    out = {}
    for rel, data in skel.items():
        try:
            with open(os.path.join(root, rel), "rb") as f:
                if f.read() != data:
                    out[rel] = f"{rel} is damaged"
        except FileNotFoundError:
            out[rel] = f"{rel} is missing"
    return out


def read_meta(root: str) -> dict | None:
    """The ``fastdyn_sweep`` attributes of the store's root ``zarr.json``; None if unreadable."""
    try:
        with open(os.path.join(root, "zarr.json"), "rb") as f:
            doc = json.loads(f.read())
        meta = doc["attributes"][ATTR]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta if isinstance(meta, dict) else None


def looks_like_store(root: str) -> bool:
    """A directory that only holds what a sweep store holds (whatever its state)."""
    for name in os.listdir(root):
        if name.endswith(".partial") or name == "zarr.json" or name in KNOWN_NAMES:
            continue
        return False
    try:
        with open(os.path.join(root, "zarr.json"), "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return True           # a damaged root zarr.json among sweep arrays
    if not isinstance(doc, dict):
        return True
    if doc.get("node_type", "group") != "group":
        return False
    attrs = doc.get("attributes") or {}
    return not attrs or ATTR in attrs


def clean_partial(path: str | os.PathLike) -> int:
    """Remove the temporary files of writes killed before their rename."""
    n = 0
    for p in Path(path).rglob("*.partial"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def _aside(path: str, kind: str) -> str:
    parent, name = os.path.split(path)
    return os.path.join(parent, f".{name}.{kind}-{uuid.uuid4().hex[:12]}")


def clean_aside(path: str) -> list[str]:
    """Remove what killed writers left next to the store (creations, replaced stores)."""
    parent, name = os.path.split(path)
    removed = []
    try:
        entries = os.listdir(parent)
    except FileNotFoundError:
        return removed
    for entry in entries:
        if entry.startswith(f".{name}.{_CREATING}-") or entry.startswith(f".{name}.{_TRASH}-"):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
            removed.append(entry)
    return removed


def _write_tree(root: str, files: dict[str, bytes]) -> None:
    """Write ``files`` under a new directory ``root`` and make all of it durable."""
    dirs = {root}
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        dirs.update(_ancestors(root, rel))
    fsync_all([os.path.join(root, rel) for rel in files] + sorted(dirs, key=len, reverse=True))


def create(path: str, skel: dict[str, bytes], *, replace: bool = False) -> None:
    """Create the store at ``path`` atomically (replacing the one there if ``replace``)."""
    parent = os.path.dirname(path)
    tmp = _aside(path, _CREATING)
    _write_tree(tmp, skel)
    trash = None
    if replace:
        trash = _aside(path, _TRASH)
        os.rename(path, trash)
    # an empty directory at `path` is replaced atomically by rename(2)
    os.rename(tmp, path)
    fsync_path(parent)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


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


@dataclass
class Plan:
    """What a writer found in the store and must do."""

    layout: Layout
    todo: list[int]
    damaged: dict[int, list[str]] = field(default_factory=dict)
    repaired_metadata: list[str] = field(default_factory=list)
    created: bool = False


def prepare(path: str, study: Study, *, overwrite: bool = False, verify: str = "full") -> Plan:
    """Bring the store at ``path`` into a state where ``study``'s missing chunks can be written.

    Must be called holding the store's lock.  Creates the store atomically if
    there is none (or replaces it with ``overwrite``); refuses a directory that
    is not a sweep store, or a store of another study, without touching it;
    otherwise repairs damaged metadata, removes leftovers of killed writers,
    verifies every done chunk (``verify``: ``"quick"`` or ``"full"``) and
    returns the chunks to compute: those not done and those damaged (which are
    marked not done first).
    """
    layout = Layout.of(study)
    skel = skeleton(layout)
    clean_aside(path)
    every = list(range(layout.K))
    exists = os.path.lexists(path)
    if exists and not os.path.isdir(path):
        raise StoreError(f"`store` {path!r} exists and is not a directory; choose another path.")
    if not exists or not os.listdir(path):
        create(path, skel)
        return Plan(layout, every, created=True)
    if not looks_like_store(path):
        # never delete or write into anything but a sweep store, not even with overwrite=True
        raise StoreError(f"`store` {path!r} exists and is not a fastdyn sweep store; choose another "
                         "path.")
    old = read_meta(path)
    if old is not None and old != layout.meta and not overwrite:
        diffs = _diff(old, layout.meta)
        raise StoreError(
            f"`store` {path!r} holds a different sweep; refusing to mix results. Differences: "
            + "; ".join(diffs) + ". Use another store path, or overwrite=True (--overwrite) to "
            "discard it.")
    if overwrite:
        create(path, skel, replace=True)
        return Plan(layout, every, created=True)
    if old is None:
        # root metadata missing or damaged (or a creation by an older fastdyn, killed half-way):
        # the completion records say whether the chunks there are this study's
        foreign = []
        for k in every:
            try:
                rec = _read_chunk_file(os.path.join(path, layout.record_key(k)))
            except _Bad:
                continue
            if len(rec) >= 8 and int.from_bytes(rec[:8], "little") != layout.identity:
                foreign.append(k)
        if foreign:
            raise StoreError(
                f"`store` {path!r} has missing or damaged root metadata (zarr.json) and chunks "
                f"of another study (chunk {foreign[0]}); refusing to guess. Use overwrite=True "
                "(--overwrite) to discard it, or another store path.")
    plan = Plan(layout, [])
    removed = clean_partial(path)
    if removed:
        plan.repaired_metadata.append(f"removed {removed} temporary file(s) of killed writes")
    for rel, problem in metadata_problems(path, skel).items():
        write_atomic(path, rel, skel[rel])
        plan.repaired_metadata.append(f"rewrote {problem}")
    for name in os.listdir(path):
        if name in KNOWN_NAMES and name not in layout.specs:
            shutil.rmtree(os.path.join(path, name))
            plan.repaired_metadata.append(f"removed {name}/, which this study does not have")
    full = verify == "full"
    for k in every:
        done, problems = chunk_state(path, layout, k, full)
        if done and not problems:
            continue
        if problems:
            plan.damaged[k] = problems
            uncommit(path, layout, k)
        plan.todo.append(k)
    return plan


def check_store(path: str, *, full: bool) -> tuple[Layout, list[int], dict[int, list[str]], list[str]]:
    """Read-only health check: ``(layout, done chunks, damaged chunks, metadata problems)``.

    Raises :class:`StoreError` when ``path`` is not a sweep store, or when its
    root metadata is unreadable (nothing else can be checked then).
    """
    if not os.path.isdir(path):
        what = "does not exist" if not os.path.lexists(path) else "is not a directory"
        raise StoreError(f"`store` {path!r} {what}; it is not a fastdyn sweep store.")
    if not looks_like_store(path):
        raise StoreError(f"`store` {path!r} is not a fastdyn sweep store.")
    meta = read_meta(path)
    if meta is None:
        raise StoreDamaged(
            f"`store` {path!r}: its root metadata (zarr.json) is missing or damaged. Re-run the sweep "
            f"with its config (`fastdyn sweep CONFIG --store {path}`) to repair it.", {}, ["zarr.json"])
    if meta.get("format") != FORMAT:
        raise StoreError(
            f"`store` {path!r} is in sweep format {meta.get('format')!r} (fastdyn "
            f"{meta.get('fastdyn_version', '?')}), which records no chunk checksums; this fastdyn "
            f"reads format {FORMAT}. Re-run the sweep with --overwrite to rewrite it.")
    try:
        layout = Layout(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreDamaged(f"`store` {path!r}: its root metadata is damaged ({exc!r}). Re-run the "
                           f"sweep with its config (`fastdyn sweep CONFIG --store {path}`) to repair "
                           "it.", {}, ["zarr.json"]) from None
    meta_problems = list(metadata_problems(path, skeleton(layout)).values())
    done, damaged = [], {}
    for k in range(layout.K):
        is_done, problems = chunk_state(path, layout, k, full)
        if problems:
            damaged[k] = problems
        elif is_done:
            done.append(k)
    return layout, done, damaged, meta_problems


def damage_message(path: str, damaged: dict[int, list[str]], meta_problems: list[str]) -> str:
    """One paragraph naming the damage and the repair command."""
    parts = []
    if meta_problems:
        parts.append("metadata: " + "; ".join(meta_problems[:3])
                     + (f" (and {len(meta_problems) - 3} more)" if len(meta_problems) > 3 else ""))
    for k in sorted(damaged)[:3]:
        parts.append(f"chunk {k}: " + "; ".join(damaged[k][:2])
                     + (f" (and {len(damaged[k]) - 2} more)" if len(damaged[k]) > 2 else ""))
    if len(damaged) > 3:
        parts.append(f"and {len(damaged) - 3} more damaged chunks")
    return (f"`store` {path!r} is damaged: " + "; ".join(parts) + ". Re-run the sweep with the same "
            f"config (`fastdyn sweep CONFIG --store {path}`): it recomputes damaged chunks and "
            f"rewrites damaged metadata; `fastdyn verify {path}` lists all the damage.")
