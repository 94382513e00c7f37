"""Sweep stores you can trust: damage detected, named and repaired byte for byte; metadata
repaired; one writer at a time; out-of-domain features; units; the command line's errors.

Fault injection by killing writers is in tests/test_sweep_faults.py.
"""

import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("zarr")

import fastdyn as fd  # noqa: E402
from fastdyn._sweep import (  # noqa: E402
    StoreDamaged,
    StoreError,
    StoreLocked,
    _config,
    _lock,
    _store,
    open_sweep,
    sweep,
    verify,
)
from fastdyn._sweep._runner import _store_values  # noqa: E402
from fastdyn._sweep.cli import EXIT_LOCKED  # noqa: E402
from fastdyn._sweep.cli import main as cli_main  # noqa: E402
from fastdyn.kernels._constants import (  # noqa: E402
    LAM_MAX,
    LAM_MIN,
    MAX_STEPS_LIMIT,
    NON_FINITE,
    OUT_OF_DOMAIN,
    RHO_MAX,
    RHO_MIN,
    RTOL_MIN,
    SUCCESS,
    T_MAX,
)
from store_tree import leftovers, tree, write_toml  # noqa: E402

CFG = dict(
    n_features=900, seed=3, objectives=["jepa", "mae"], depths=[2, 5], eps=[1e-3],
    quantities=["trajectory", "critical_time", "learning_order"],
    times=dict(start=1e-2, stop=1e6, num=8), chunk_size=150,
    lam=dict(distribution="loguniform", low=0.5, high=2.0),
    rho=dict(distribution="uniform", low=0.3, high=1.0),
)
LAYOUT = _store.Layout.of(_config.load(CFG))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    report = sweep(CFG, path, progress=False)
    assert report.computed == 6 and report.failed_features == 0
    return path


@pytest.fixture
def store(reference, tmp_path):
    path = tmp_path / "s.zarr"
    shutil.copytree(reference, path)
    return path


def _flip(path, rel, n=8, seed=0):
    """XOR ``n`` bytes of the file's data (not its trailing checksum) with 0xFF."""
    p = os.path.join(path, rel)
    data = bytearray(open(p, "rb").read())
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(data) - 4, size=n, replace=False):
        data[i] ^= 0xFF
    open(p, "wb").write(bytes(data))


def _truncate(path, rel, keep):
    p = os.path.join(path, rel)
    data = open(p, "rb").read()
    open(p, "wb").write(data[:keep(len(data))])


def _append(path, rel, extra=b"\0" * 8):
    with open(os.path.join(path, rel), "ab") as f:
        f.write(extra)


def _delete(path, rel):
    os.unlink(os.path.join(path, rel))


def _replace_with_other_chunk(path, rel, other):
    shutil.copyfile(os.path.join(path, other), os.path.join(path, rel))


TRAJ2 = LAYOUT.chunk_files(2)[2 + 1]          # trajectory of (jepa, depth 5) in chunk 2
CHUNK_DAMAGE = [
    # (id, damage, chunk, what the problem says, found by the quick check too)
    ("flipped-trajectory", lambda p: _flip(p, TRAJ2), 2, "fails its crc32c checksum", False),
    ("flipped-status", lambda p: _flip(p, "status/c/0/0/0/3", 2), 3, "fails its crc32c", False),
    ("flipped-lam", lambda p: _flip(p, "lam/c/4", 1), 4, "fails its crc32c checksum", False),
    ("flipped-order-counts", lambda p: _flip(p, "order_counts/c/0/0/0/1/0", 3), 1, "fails its crc32c",
     False),
    ("truncated-trajectory", lambda p: _truncate(p, TRAJ2, lambda n: n // 2), 2,
     "bytes, its record says", True),
    ("truncated-to-nothing", lambda p: _truncate(p, "critical_time/c/0/0/0/0", lambda n: 0), 0,
     "has 0 bytes, its record says", True),
    ("deleted-trajectory", lambda p: _delete(p, TRAJ2), 2, f"{TRAJ2} is missing", True),
    ("deleted-rho", lambda p: _delete(p, "rho/c/5"), 5, "rho/c/5 is missing", True),
    ("other-chunks-file", lambda p: _replace_with_other_chunk(p, TRAJ2, LAYOUT.chunk_files(1)[3]), 2,
     "is not the file its record describes", True),
    ("record-too-short", lambda p: _truncate(p, LAYOUT.record_key(3), lambda n: n - 8), 3,
     f"completion record {LAYOUT.record_key(3)} has", True),
    ("record-too-long", lambda p: _append(p, LAYOUT.record_key(3)), 3,
     f"completion record {LAYOUT.record_key(3)} has", True),
    ("record-flipped", lambda p: _flip(p, LAYOUT.record_key(1), 1), 1, "fails its crc32c", True),
    ("record-deleted", lambda p: _delete(p, LAYOUT.record_key(4)), 4, "missing", True),
    ("done-flag-too-long", lambda p: _append(p, LAYOUT.done_key(5), b"\1"), 5,
     f"{LAYOUT.done_key(5)} has 6 bytes, expected 5", True),
]


@pytest.mark.parametrize("damage, chunk, needle, quick", [c[1:] for c in CHUNK_DAMAGE],
                         ids=[c[0] for c in CHUNK_DAMAGE])
def test_chunk_damage_detected_named_and_repaired(reference, store, capsys, damage, chunk, needle,
                                                 quick):
    damage(store)
    health = verify(store)
    assert not health.healthy and list(health.damaged) == [chunk]
    assert any(needle in p for p in health.damaged[chunk]), health.damaged
    assert bool(verify(store, full=False).damaged) == quick
    with pytest.raises(StoreDamaged) as info:
        open_sweep(store, engine="numpy")
    msg = str(info.value)
    assert f"chunk {chunk}: " in msg and needle in msg and "fastdyn sweep CONFIG --store" in msg
    assert list(info.value.chunks) == [chunk]
    assert cli_main(["verify", str(store)]) == 1
    err = capsys.readouterr().err
    assert f"chunk {chunk}: " in err and "DAMAGED" in err
    report = sweep(CFG, store, progress=False)
    assert report.computed == 1 and list(report.repaired) == [chunk]
    assert tree(store) == tree(reference)
    assert verify(store).complete
    assert leftovers(store) == []


def test_quick_resume_misses_only_flipped_bytes(reference, store):
    _flip(store, TRAJ2)
    assert sweep(CFG, store, progress=False, verify="quick").computed == 0
    assert sweep(CFG, store, progress=False).repaired.keys() == {2}
    assert tree(store) == tree(reference)


def test_lazy_read_of_flipped_bytes_raises(store):
    pytest.importorskip("xarray")
    _flip(store, TRAJ2)
    ds = open_sweep(store)                   # quick check at open: the file's size and tail match
    with pytest.raises(ValueError, match="checksum"):
        ds["trajectory"].values             # ... and Zarr's crc32c refuses the damaged chunk
    with pytest.raises(StoreDamaged, match="chunk 2: "):
        open_sweep(store, verify="full")


META_DAMAGE = [
    ("deleted-array-metadata", lambda p: _delete(p, "trajectory/zarr.json"), "trajectory/zarr.json is missing"),
    ("corrupted-array-metadata", lambda p: open(os.path.join(p, "status/zarr.json"), "w").write("{"),
     "status/zarr.json is damaged"),
    ("truncated-array-metadata", lambda p: _truncate(p, "critical_time/zarr.json", lambda n: n // 2),
     "critical_time/zarr.json is damaged"),
    ("flipped-time", lambda p: _flip(p, "time/c/0", 1), "time/c/0 is damaged"),
    ("deleted-order-edges", lambda p: _delete(p, "order_edges/c/0"), "order_edges/c/0 is missing"),
    ("deleted-chunk-done-metadata", lambda p: _delete(p, "chunk_done/zarr.json"),
     "chunk_done/zarr.json is missing"),
    ("deleted-root-metadata", lambda p: _delete(p, "zarr.json"), "root metadata (zarr.json)"),
    ("corrupted-root-metadata", lambda p: open(os.path.join(p, "zarr.json"), "w").write('{"attr'),
     "root metadata (zarr.json)"),
    ("root-metadata-without-attributes",
     lambda p: open(os.path.join(p, "zarr.json"), "w").write('{"zarr_format": 3, "node_type": "group"}'),
     "root metadata (zarr.json)"),
]


@pytest.mark.parametrize("damage, needle", [c[1:] for c in META_DAMAGE], ids=[c[0] for c in META_DAMAGE])
def test_metadata_damage_detected_named_and_repaired(reference, store, capsys, damage, needle):
    damage(store)
    with pytest.raises(StoreDamaged) as info:
        open_sweep(store, engine="numpy")
    assert needle in str(info.value) and "fastdyn sweep CONFIG --store" in str(info.value)
    assert cli_main(["verify", str(store)]) == 1
    assert needle in capsys.readouterr().err
    report = sweep(CFG, store, progress=False)
    assert report.computed == 0 and report.repaired_metadata
    assert tree(store) == tree(reference)
    assert verify(store).complete


def test_deleted_completion_flag_is_an_unfinished_chunk(reference, store):
    _delete(store, LAYOUT.done_key(2))
    assert verify(store).healthy and not verify(store).complete
    with pytest.raises(StoreError, match="5 of 6 chunks"):
        open_sweep(store)
    report = sweep(CFG, store, progress=False)
    assert report.computed == 1 and not report.repaired
    assert tree(store) == tree(reference)


def test_leftover_partial_files_removed(reference, store):
    (store / "trajectory" / "c" / "0" / "0" / "0" / "1" / "0.abc.partial").write_bytes(b"torn")
    (store / "zarr.abc.partial").write_bytes(b"{")
    report = sweep(CFG, store, progress=False)
    assert report.repaired_metadata == ["removed 2 temporary file(s) of killed writes"]
    assert tree(store) == tree(reference)


def test_damaged_root_with_another_studys_chunks_refused(store):
    _delete(store, "zarr.json")
    before = tree(store)
    with pytest.raises(StoreError, match="chunks of another study"):
        sweep({**CFG, "seed": 4}, store, progress=False)
    assert tree(store) == before
    assert sweep({**CFG, "seed": 4}, store, progress=False, overwrite=True).computed == 6


def test_legacy_partial_creation_rebuilt(reference, tmp_path):
    # what a creation killed half-way left with fastdyn <= 0.2.0.dev0: a Zarr group without the
    # sweep's attributes and some of its arrays
    import zarr

    path = tmp_path / "s.zarr"
    root = zarr.open_group(path, mode="w")
    root.create_array("lam", shape=(900,), chunks=(150,), dtype="float64")
    root.create_array("chunk_done", shape=(6,), chunks=(1,), dtype="uint8")
    report = sweep(CFG, path, progress=False)
    assert report.computed == 6
    assert tree(path) == tree(reference)


def test_legacy_complete_store_refused_then_overwritten(reference, store):
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"]["fastdyn_sweep"]["format"] = 1
    (store / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="`format`: store has 1, config has 2"):
        sweep(CFG, store, progress=False)
    with pytest.raises(StoreError, match="sweep format 1"):
        open_sweep(store)
    assert sweep(CFG, store, progress=False, overwrite=True).computed == 6
    assert tree(store) == tree(reference)


def test_creation_leftovers_removed(reference, tmp_path):
    path = tmp_path / "s.zarr"
    for kind in ("creating", "trash"):
        junk = tmp_path / f".s.zarr.{kind}-0123456789ab"
        junk.mkdir()
        (junk / "zarr.json").write_text("{")
    (tmp_path / ".other.zarr.creating-0123456789ab").mkdir()      # another store's: untouched
    sweep(CFG, path, progress=False)
    assert leftovers(path) == []
    assert (tmp_path / ".other.zarr.creating-0123456789ab").exists()
    assert tree(path) == tree(reference)


def test_store_is_a_file(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(StoreError, match="not a directory"):
        sweep(CFG, tmp_path / "f", progress=False)
    assert (tmp_path / "f").read_text() == "mine"


def test_store_parent_directories_created(reference, tmp_path):
    sweep(CFG, tmp_path / "a" / "b" / "s.zarr", progress=False)
    assert tree(tmp_path / "a" / "b" / "s.zarr") == tree(reference)


# ---------------------------------------------------------------- records and metadata

def test_records_describe_the_files(reference):
    import zarr

    root = zarr.open_group(reference, mode="r")
    rec = np.asarray(root["chunk_record"][...])           # Zarr reads the raw-written records
    assert rec.shape == (6, LAYOUT.record_len)
    assert LAYOUT.n_files == 11
    assert np.all(rec[:, 0] == LAYOUT.identity) and np.all(rec[:, 1] == 11)
    for k in range(6):
        for i, rel in enumerate(LAYOUT.chunk_files(k)):
            data = open(os.path.join(reference, rel), "rb").read()
            assert rec[k, 2 + 2 * i] == len(data)
            assert rec[k, 3 + 2 * i] == int.from_bytes(data[-4:], "little")
    assert np.array_equal(root["chunk_done"][...], np.ones(6, np.uint8))


def test_every_variable_has_units_and_meaning(reference):
    xr = pytest.importorskip("xarray")
    ds = open_sweep(reference)
    assert isinstance(ds, xr.Dataset) and "chunk_record" not in ds
    names = set(ds.variables) - {"objective", "depth", "eps"}
    assert names == {"lam", "rho", "time", "trajectory", "critical_time", "status", "order_counts",
                     "order_edges", "order_corr_lam", "order_corr_rho", "chunk_done"}
    for name in names:
        assert ds[name].attrs["long_name"] and ds[name].attrs["units"], name
    assert ds["status"].attrs["flag_values"] == [0, 1, 2, 3, OUT_OF_DOMAIN]
    assert ds["status"].attrs["flag_meanings"].split()[OUT_OF_DOMAIN] == "out_of_domain"
    assert "eq. 11" in ds["critical_time"].attrs["long_name"]
    d = open_sweep(reference, engine="numpy")
    assert "chunk_record" not in d


def test_metadata_is_a_function_of_the_config(reference, tmp_path):
    # the skeleton regenerates every metadata file byte for byte: what repair relies on
    skel = _store.skeleton(LAYOUT)
    assert {k for k in tree(reference) if k.endswith("zarr.json")} <= set(skel)
    for rel, data in skel.items():
        assert (reference / rel).read_bytes() == data


# ---------------------------------------------------------------- one writer at a time

def test_second_writer_refused_naming_lock_and_holder(tmp_path):
    path = tmp_path / "s.zarr"
    with _lock.acquire(str(path)):
        with pytest.raises(StoreLocked) as info:
            sweep(CFG, path, progress=False)
    msg = str(info.value)
    assert f"{path}.lock" in msg and f"pid {os.getpid()}" in msg and os.uname().nodename in msg
    assert info.value.holder["pid"] == os.getpid()
    assert not path.exists()                 # refused before anything was written
    assert leftovers(path) == []             # the holder removed its lock file


def test_second_writer_waits(reference, tmp_path):
    path = tmp_path / "s.zarr"
    lease = _lock.acquire(str(path))
    threading.Timer(0.5, lease.release).start()
    t0 = time.monotonic()
    sweep(CFG, path, progress=False, wait=30)
    assert time.monotonic() - t0 >= 0.45
    assert tree(path) == tree(reference)


def test_waiter_on_an_unlinked_lock_file_retries(tmp_path):
    # the holder unlinks its lock file on release: a waiter that had opened the old file must
    # not believe it holds the lock of the path
    path = str(tmp_path / "s.zarr")
    first = _lock.acquire(path)
    got = {}
    waiter = threading.Thread(target=lambda: got.setdefault("lease", _lock.acquire(path, wait=30)))
    waiter.start()
    time.sleep(0.3)
    first.release()
    waiter.join(30)
    assert got["lease"].fd is not None
    with pytest.raises(StoreLocked):
        _lock.acquire(path)
    assert _lock.holder(path)["token"] == got["lease"].token
    got["lease"].release()
    assert _lock.holder(path) == {}


def test_lock_of_a_killed_writer_is_not_stale(reference, tmp_path):
    path = tmp_path / "s.zarr"
    pid = os.fork()
    if pid == 0:   # child: take the lock and die without releasing it
        try:
            _lock.acquire(str(path))
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert json.loads((tmp_path / "s.zarr.lock").read_text())["pid"] == pid
    sweep(CFG, path, progress=False)
    assert tree(path) == tree(reference) and leftovers(path) == []


def test_verify_reports_the_writer(reference, capsys):
    with _lock.acquire(str(reference)) as lease:
        assert verify(reference).lock_holder["token"] == lease.token
        assert cli_main(["verify", str(reference)]) == 0
        assert f"being written by host {os.uname().nodename} pid {os.getpid()}" in capsys.readouterr().out


def test_lease_check():
    with pytest.raises(_lock.LeaseLost, match="wrote nothing"):
        _lock.check("/nonexistent/s.zarr.lock", "abc")


# ---------------------------------------------------------------- the documented domain

OOD_CONFIGS = [
    ({"rho": dict(distribution="constant", value=RHO_MAX * 2)}, "`rho.value`"),
    ({"rho": RHO_MIN / 2}, "`rho`"),
    ({"lam": dict(distribution="uniform", low=LAM_MIN / 100, high=LAM_MIN / 10)}, "`lam.high`"),
    ({"lam": dict(distribution="loguniform", low=LAM_MAX * 2, high=LAM_MAX * 4)}, "`lam.low`"),
    ({"rho": dict(distribution="lognormal", mean=np.log(RHO_MAX) + 21.0, sigma=2.0)}, "`rho.mean`"),
    ({"rho": dict(distribution="lognormal", mean=np.log(RHO_MIN) - 11.0, sigma=1.0)}, "`rho.mean`"),
    ({"lam": [LAM_MAX * 2, LAM_MAX * 3], "rho": 0.5, "n_features": 2}, "`lam` lies entirely outside"),
    ({"eps": [1e-31]}, "`eps[0]`"),
    ({"eps": [1e-3, 2e3]}, "`eps[1]`"),
    ({"times": [0.0, T_MAX * 10]}, "`times[1]`"),
    ({"times": dict(start=1.0, stop=T_MAX * 10, num=4)}, "`times.stop`"),
    ({"rtol": RTOL_MIN / 10}, "`rtol`"),
    ({"max_steps": MAX_STEPS_LIMIT + 1}, "`max_steps`"),
]


@pytest.mark.parametrize("over, needle", OOD_CONFIGS, ids=[c[1] for c in OOD_CONFIGS])
def test_out_of_domain_config_refused(tmp_path, over, needle):
    with pytest.raises(ValueError) as info:
        sweep({**CFG, **over}, tmp_path / "s.zarr", progress=False)
    assert needle in str(info.value)
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize("over", [
    {"lam": dict(distribution="uniform", low=LAM_MIN / 10, high=LAM_MIN * 10)},
    {"rho": dict(distribution="lognormal", mean=np.log(RHO_MAX), sigma=1.0)},
    {"lam": [LAM_MAX * 2, 1.0], "rho": 0.5, "n_features": 2, "chunk_size": 2},
], ids=["uniform", "lognormal", "array"])
def test_partly_out_of_domain_config_accepted(over):
    _config.load({**CFG, **over})


def test_loguniform_draws_stay_in_their_support():
    # exp(log(low)) may round below low: with low = LAM_MIN a draw would leave the domain
    cfg = {**CFG, "n_features": 10**6, "chunk_size": 10**6, "lam": dict(distribution="loguniform",
                                                                       low=LAM_MIN, high=LAM_MAX)}
    lam, _ = _config.draw(_config.load(cfg), 0)
    assert lam.min() >= LAM_MIN and lam.max() <= LAM_MAX


def test_out_of_domain_features_get_a_status(tmp_path):
    # rho lognormal around the domain's top, at depth 64: a few percent of the draws fall outside,
    # and lam uniform straddles LAM_MIN
    cfg = dict(n_features=2000, seed=1, objectives=["jepa", "mae"], depths=[5, 64], eps=[1e-3],
               quantities=["trajectory", "critical_time", "learning_order"], times=[0.0, 1.0, 1e3],
               chunk_size=700, lam=dict(distribution="uniform", low=LAM_MIN / 2, high=LAM_MIN * 20),
               rho=dict(distribution="lognormal", mean=np.log(RHO_MAX) - 3.0, sigma=1.5))
    report = sweep(cfg, tmp_path / "s.zarr", progress=False)
    d = open_sweep(tmp_path / "s.zarr", engine="numpy")
    lam, rho = d["lam"], d["rho"]
    out = ~((lam >= LAM_MIN) & (lam <= LAM_MAX) & (rho >= RHO_MIN) & (rho <= RHO_MAX))
    assert 20 < out.sum() < 400                        # both kinds of bad draws happen
    assert (lam < LAM_MIN).any() and (rho > RHO_MAX).any()
    status = d["status"]
    assert np.all(status[..., out] == OUT_OF_DOMAIN)
    assert np.all(status[..., ~out] != OUT_OF_DOMAIN)
    assert np.all(np.isnan(d["trajectory"][..., out, :])) and np.all(np.isnan(d["critical_time"][..., out]))
    assert report.out_of_domain == 4 * out.sum()
    assert report.failed_features == np.count_nonzero(status) >= report.out_of_domain
    ok = status == SUCCESS
    assert np.all(np.isfinite(d["trajectory"][ok]))            # never a non-finite value with status 0
    assert not np.any(np.isnan(d["critical_time"][ok]))         # (t* = inf: beyond float64)
    for io, obj in enumerate(cfg["objectives"]):
        for idp, depth in enumerate(cfg["depths"]):
            w, st = fd.trajectory(d["time"], lam[~out], rho[~out], depth=depth, eps=1e-3, objective=obj,
                                  return_status=True)
            assert np.array_equal(d["trajectory"][io, idp, 0][~out], w)
            tc = fd.critical_time(lam[~out], rho[~out], depth=depth, eps=1e-3, objective=obj)
            assert np.array_equal(d["critical_time"][io, idp, 0][~out], tc)
            assert np.array_equal(status[io, idp, 0][~out] == SUCCESS, st == SUCCESS)
            # the learning-order summaries count only features with status 0
            assert d["order_counts"][io, idp, 0].sum() == np.count_nonzero(status[io, idp, 0] == 0)


def test_all_features_of_a_chunk_out_of_domain(tmp_path):
    cfg = dict(lam=[1.0, 2.0, LAM_MAX * 2, LAM_MAX * 3], rho=0.5, chunk_size=2, objectives=["mae"],
               depths=[3], eps=[1e-3], quantities=["critical_time", "learning_order"])
    report = sweep(cfg, tmp_path / "s.zarr", progress=False)
    d = open_sweep(tmp_path / "s.zarr", engine="numpy")
    assert report.failed_features == report.out_of_domain == 2
    assert list(d["status"][0, 0, 0]) == [0, 0, OUT_OF_DOMAIN, OUT_OF_DOMAIN]
    assert list(d["order_counts"][0, 0, 0].sum(axis=1)) == [2, 0]
    # two features: t* falls with lam; no feature: no correlation
    assert d["order_corr_lam"][0, 0, 0, 0] == -1.0 and np.isnan(d["order_corr_lam"][0, 0, 0, 1])


def test_float32_overflow_is_not_a_success(tmp_path):
    # depth 20, rho = 1e3: the fixed point rho^20 = 1e60 exceeds float32 (3.4e38)
    cfg = dict(lam=[1.0, 1.0], rho=[0.5, RHO_MAX], chunk_size=2, objectives=["jepa"], depths=[20],
               eps=[1e-3], quantities=["trajectory"], times=[0.0, 1e6], dtype="float32")
    sweep(cfg, tmp_path / "s.zarr", progress=False)
    d = open_sweep(tmp_path / "s.zarr", engine="numpy")
    w64 = fd.trajectory([0.0, 1e6], [1.0, 1.0], [0.5, RHO_MAX], depth=20, eps=1e-3, objective="jepa")
    assert np.isfinite(w64).all() and w64[1, 1] > np.finfo(np.float32).max
    assert list(d["status"][0, 0, 0]) == [SUCCESS, NON_FINITE]


@pytest.mark.parametrize("inf_ok, expect", [(True, [0, NON_FINITE, 0, NON_FINITE, 1]),
                                            (False, [0, NON_FINITE, NON_FINITE, NON_FINITE, 1])])
def test_stored_values_never_non_finite_with_success(inf_ok, expect):
    values = np.array([1.0, 1e39, np.inf, np.nan, np.nan])
    status = np.array([0, 0, 0, 0, 1], dtype=np.int8)      # a failure keeps its own code
    stored = _store_values(values, status, "float32", inf_ok=inf_ok)
    assert stored.dtype == np.float32 and list(status) == expect


# ---------------------------------------------------------------- command line errors

def _config_file(tmp_path, **over):
    """CFG (updated by ``over``) as a TOML file."""
    return write_toml({**CFG, **over}, tmp_path / "c.toml")


def test_config_file_equals_dict(tmp_path):
    assert _config.load(_config_file(tmp_path)).normalized() == _config.load(CFG).normalized()


@pytest.mark.parametrize("case", ["config-is-a-directory", "config-missing", "config-not-toml",
                                  "store-is-a-file", "store-not-a-sweep", "backend-gpu-unavailable",
                                  "store-another-study"])
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, monkeypatch, case):
    cfg = _config_file(tmp_path)
    args = ["sweep", str(cfg), "--store", str(tmp_path / "s.zarr"), "--quiet"]
    option = "--store"
    if case == "config-is-a-directory":
        (tmp_path / "d").mkdir()
        args, option = ["sweep", str(tmp_path / "d")], "CONFIG"
    elif case == "config-missing":
        args[1], option = str(tmp_path / "nope.toml"), "CONFIG"
    elif case == "config-not-toml":
        (tmp_path / "b.toml").write_bytes(b"\xff\xfe\x00")
        args[1], option = str(tmp_path / "b.toml"), "CONFIG"
    elif case == "store-is-a-file":
        (tmp_path / "s.zarr").write_text("x")
    elif case == "store-not-a-sweep":
        (tmp_path / "s.zarr").mkdir()
        (tmp_path / "s.zarr" / "notes.txt").write_text("x")
    elif case == "backend-gpu-unavailable":
        def no_gpu(*a, **k):
            raise RuntimeError("no CUDA device\nsecond line")
        monkeypatch.setattr(fd, "critical_time", no_gpu)
        args += ["--backend", "gpu"]
        option = "--backend"
    elif case == "store-another-study":
        sweep({**CFG, "seed": 99}, tmp_path / "s.zarr", progress=False)
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"fastdyn sweep: error: argument {option}: ")


def test_cli_unreachable_scheduler(tmp_path, capsys):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        assert cli_main(["sweep", str(_config_file(tmp_path)), "--scheduler", "tcp://127.0.0.1:1",
                         "--store", str(tmp_path / "s.zarr")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastdyn sweep: error: argument --scheduler: ")
    assert not (tmp_path / "s.zarr").exists()


def test_cli_locked_store(tmp_path, capsys):
    path = tmp_path / "s.zarr"
    with _lock.acquire(str(path)):
        assert cli_main(["sweep", str(_config_file(tmp_path)), "--store", str(path)]) == EXIT_LOCKED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}.lock" in err and f"pid {os.getpid()}" in err


def test_cli_wait_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["sweep", "c.toml", "--wait", "-1"])
    assert info.value.code == 2 and "argument --wait: must be a number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["missing", "file", "foreign"])
def test_cli_verify_bad_store(tmp_path, capsys, what):
    path = tmp_path / "s.zarr"
    if what == "file":
        path.write_text("x")
    elif what == "foreign":
        path.mkdir()
        (path / "notes.txt").write_text("x")
    assert cli_main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastdyn verify: error: argument STORE: ")


def test_cli_verify_healthy_and_incomplete(reference, store, capsys):
    assert cli_main(["verify", str(reference), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "healthy, complete: 6 of 6 chunks" in out and "sizes and recorded checksums" in out
    _delete(store, LAYOUT.done_key(0))
    assert cli_main(["verify", str(store)]) == 1
    assert "healthy, incomplete" in capsys.readouterr().out


def test_cli_reports_repairs(store, capsys):
    _flip(store, TRAJ2)
    assert cli_main(["sweep", str(_config_file(store.parent)), "--store", str(store)]) == 0
    err = capsys.readouterr().err
    assert "1 damaged chunk(s) recomputed (chunk 2: " in err and "crc32c" in err


def test_cli_reports_out_of_domain(tmp_path, capsys):
    cfg = tmp_path / "o.toml"
    cfg.write_text(f'lam = [1.0, {LAM_MAX * 2}]\nrho = 0.5\nquantities = ["critical_time"]\n'
                   'objectives = ["jepa"]\ndepths = [5]\n')
    assert cli_main(["sweep", str(cfg), "--no-progress"]) == 0
    assert "1 feature-combinations failed (1 with lam or rho outside the documented domain)" in \
        capsys.readouterr().err


@pytest.mark.parametrize("kwargs, exc, needle", [
    (dict(verify="yes"), ValueError, "`verify`"),
    (dict(wait=-1.0), ValueError, "`wait`"),
    (dict(wait="5"), ValueError, "`wait`"),
    (dict(progress="yes"), TypeError, "`progress`"),
    (dict(overwrite=1), TypeError, "`overwrite`"),
], ids=["verify", "wait-negative", "wait-string", "progress", "overwrite"])
def test_bad_sweep_arguments_refused_before_any_work(tmp_path, kwargs, exc, needle):
    with pytest.raises(exc, match=needle):
        sweep(CFG, tmp_path / "s.zarr", **{"progress": False, **kwargs})
    assert not (tmp_path / "s.zarr").exists() and leftovers(tmp_path / "s.zarr") == []


@pytest.mark.parametrize("kwargs, exc, needle", [
    (dict(verify="yes"), ValueError, "`verify`"),
    (dict(engine="pandas"), ValueError, "`engine`"),
    (dict(allow_incomplete="no"), TypeError, "`allow_incomplete`"),
], ids=["verify", "engine", "allow_incomplete"])
def test_bad_open_sweep_arguments(reference, kwargs, exc, needle):
    with pytest.raises(exc, match=needle):
        open_sweep(reference, **kwargs)


def test_bad_store_type():
    with pytest.raises(TypeError, match="`store` must be a path"):
        open_sweep(3)
    with pytest.raises(TypeError, match="`store` must be a path"):
        sweep(CFG, 3, progress=False)


def test_worker_of_a_gone_coordinator_writes_nothing(tmp_path):
    # a Dask task whose coordinator lost the lock (killed, then another sweep took it) refuses
    # before writing anything
    from fastdyn._sweep._runner import _worker_task

    path = tmp_path / "s.zarr"
    study = _config.load(CFG)
    with _lock.acquire(str(path)) as lease:
        _store.prepare(str(path), study)
        before = tree(path)
        with pytest.raises(_lock.LeaseLost, match="wrote nothing"):
            _worker_task(study, str(path), 0, "cpu", (lease.lock, "a-coordinator-long-gone"))
        assert tree(path) == before
        _, m, failed, ood, rec = _worker_task(study, str(path), 0, "cpu", (lease.lock, lease.token))
        assert m == 150 and failed == ood == 0
        assert _store.record_problems(str(path), LAYOUT, 0, rec, full=True) == []
