"""Embedded sweeps: config validation, results against the public API, metadata
round trip, refusal of mismatching stores, and a real kill-and-resume."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("zarr")

import fastdyn as fd  # noqa: E402
from fastdyn._sweep import SweepData, open_sweep, sweep  # noqa: E402
from fastdyn._sweep import _config  # noqa: E402
from fastdyn._sweep._runner import Bar  # noqa: E402
from fastdyn._sweep.cli import main as cli_main  # noqa: E402
from store_tree import tree  # noqa: E402


def base_config(**over):
    cfg = dict(
        n_features=5000, seed=7, objectives=["jepa", "mae"], depths=[1, 5], eps=[1e-3, 1e-2],
        quantities=["trajectory", "critical_time", "learning_order"],
        times=dict(start=1e-2, stop=1e6, num=16), chunk_size=1500,
        lam=dict(distribution="loguniform", low=0.5, high=2.0),
        rho=dict(distribution="uniform", low=0.3, high=1.0),
    )
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "s.zarr"
    report = sweep(base_config(), path, progress=False)
    return path, report


# ---------------------------------------------------------------- config validation

BAD_CONFIGS = [
    ({"nfeatures": 10}, ValueError, "`nfeatures`"),
    ({"lam": dict(distribution="uniform", low=0.5, hi=2.0)}, ValueError, "`lam.hi`"),
    ({"lam": dict(distribution="gamma", low=0.5, high=2.0)}, ValueError, "`lam.distribution`"),
    ({"lam": dict(distribution="uniform", low=2.0, high=0.5)}, ValueError, "`lam.high`"),
    ({"rho": dict(distribution="uniform", low=0.0, high=0.5)}, ValueError, "`rho.low`"),
    ({"rho": dict(distribution="lognormal", mean=0.0)}, ValueError, "`rho.sigma`"),
    ({"lam": [1.0, -2.0, 3.0], "rho": 0.5, "n_features": 3}, ValueError, "lam[1] = -2.0"),
    ({"lam": [1.0, 2.0], "rho": [0.5, 0.4, 0.3]}, ValueError, "different lengths"),
    ({"depths": [0]}, ValueError, "`depths[0]`"),
    ({"depths": [5, 65]}, ValueError, "`depths[1]`"),
    ({"depths": [5, 5]}, ValueError, "`depths` lists 5 twice"),
    ({"depths": [2.5]}, TypeError, "`depths[0]`"),
    ({"eps": [1e-3, -1.0]}, ValueError, "`eps[1]`"),
    ({"objectives": ["jepa", "byol"]}, ValueError, "`objectives[1]`"),
    ({"quantities": ["trajectory", "loss"]}, ValueError, "`quantities[1]`"),
    ({"p": 1.0}, ValueError, "`p`"),
    ({"rtol": 0.0}, ValueError, "`rtol`"),
    ({"method": "rk4"}, ValueError, "`method`"),
    ({"dtype": "float16"}, ValueError, "`dtype`"),
    ({"chunk_size": 0}, ValueError, "`chunk_size`"),
    ({"n_features": 0}, ValueError, "`n_features`"),
    ({"n_features": True}, TypeError, "`n_features`"),
    ({"seed": -1}, ValueError, "`seed`"),
    ({"times": [1.0, 3.0, 2.0]}, ValueError, "times[2] = 2.0"),
    ({"times": dict(start=1e-2, stop=1e3)}, ValueError, "`times.num`"),
    ({"times": dict(start=0.0, stop=1e3, num=4)}, ValueError, "`times.start`"),
    ({"times": dict(start=1e-2, stop=1e3, num=4, step=2)}, ValueError, "`times.step`"),
    ({"order_bins": dict(low=3.0, high=1.0)}, ValueError, "`order_bins.high`"),
    ({"quantities": ["critical_time"]}, ValueError, "`times` is given"),
]


@pytest.mark.parametrize("over, exc, needle", BAD_CONFIGS, ids=[b[2] for b in BAD_CONFIGS])
def test_bad_config_rejected_before_any_work(tmp_path, over, exc, needle):
    store = tmp_path / "never.zarr"
    with pytest.raises(exc) as info:
        sweep(base_config(**over), store, progress=False)
    assert needle in str(info.value)
    assert not store.exists()


@pytest.mark.parametrize("missing, needle", [("seed", "`seed`"), ("n_features", "`n_features`"),
                                             ("lam", "`lam`")])
def test_required_keys(missing, needle):
    cfg = base_config()
    del cfg[missing]
    with pytest.raises(ValueError, match=needle):
        _config.load(cfg)


def test_toml_equals_dict(tmp_path):
    text = """
n_features = 5000
seed = 7
objectives = ["jepa", "mae"]
depths = [1, 5]
eps = [1e-3, 1e-2]
quantities = ["trajectory", "critical_time", "learning_order"]
times = {start = 1e-2, stop = 1e6, num = 16}
chunk_size = 1500
[lam]
distribution = "loguniform"
low = 0.5
high = 2.0
[rho]
distribution = "uniform"
low = 0.3
high = 1.0
"""
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert _config.load(path).normalized() == _config.load(base_config()).normalized()


@pytest.mark.parametrize("text, needle", [("n_features = [", "not valid TOML"),
                                          ("speed = 1", "`speed`")])
def test_bad_toml(tmp_path, text, needle):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=needle):
        _config.load(path)


@pytest.mark.parametrize("n_times, expected", [(0, 2**20), (1, 2**20), (64, 65536), (4096, 1024),
                                               (10**5, 1024)])
def test_default_chunk_size(n_times, expected):
    assert _config.default_chunk_size(n_times) == expected


@given(n=st.integers(1, 10**6), c=st.integers(1, 10**5))
def test_chunks_partition_the_features(n, c):
    study = _config.load(base_config(n_features=n, chunk_size=c))
    bounds = [study.chunk_bounds(k) for k in range(study.n_chunks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(hi > lo for lo, hi in bounds)


@given(dist=st.sampled_from(["uniform", "loguniform"]), low=st.floats(1e-6, 1e3),
       ratio=st.floats(1.0 + 1e-6, 1e4), seed=st.integers(0, 2**64), chunk=st.integers(0, 10**6))
def test_draws_in_range_and_reproducible(dist, low, ratio, seed, chunk):
    high = low * ratio
    cfg = base_config(n_features=10**9, chunk_size=100, seed=seed,
                      lam=dict(distribution=dist, low=low, high=high))
    study = _config.load(cfg)
    lam, rho = _config.draw(study, chunk)
    lam2, rho2 = _config.draw(_config.load(cfg), chunk)
    assert np.array_equal(lam, lam2) and np.array_equal(rho, rho2)
    # loguniform: exp(log) may round a hair outside [low, high]
    assert lam.min() >= low * (1 - 1e-15) and lam.max() <= high * (1 + 1e-15)
    assert rho.min() >= 0.3 and rho.max() < 1.0


@pytest.mark.parametrize("seed", [0, 12345, 2**100])
def test_chunk_seed_is_the_spawned_child(seed):
    # documented: chunk k draws from the k-th child of SeedSequence(seed).spawn(...)
    child = np.random.SeedSequence(seed).spawn(5)[4]
    study = _config.load(base_config(seed=seed, chunk_size=1000))
    rng = np.random.Generator(np.random.PCG64(child))
    lam = np.exp(rng.uniform(np.log(0.5), np.log(2.0), 1000))
    assert np.array_equal(_config.draw(study, 4)[0], lam)


def test_chunks_draw_independent_streams():
    study = _config.load(base_config())
    a, _ = _config.draw(study, 0)
    b, _ = _config.draw(study, 1)
    assert not np.array_equal(a, b[: a.size])


# ---------------------------------------------------------------- results

def test_results_equal_public_api(small_store):
    path, report = small_store
    assert report.computed == report.n_chunks == 4 and report.failed_features == 0
    d = open_sweep(path, engine="numpy")
    study = _config.load(base_config())
    lam, rho = d["lam"], d["rho"]
    for k in range(study.n_chunks):
        lo, hi = study.chunk_bounds(k)
        dl, dr = _config.draw(study, k)
        assert np.array_equal(lam[lo:hi], dl) and np.array_equal(rho[lo:hi], dr)
    for i_o, obj in enumerate(study.objectives):
        for i_d, depth in enumerate(study.depths):
            for i_e, eps in enumerate(study.eps):
                w = fd.trajectory(study.times, lam, rho, depth=depth, eps=eps, objective=obj)
                tc = fd.critical_time(lam, rho, depth=depth, eps=eps, objective=obj, p=0.5)
                assert np.array_equal(d["trajectory"][i_o, i_d, i_e], w)
                assert np.array_equal(d["critical_time"][i_o, i_d, i_e], tc)
    assert not d["status"].any()


def test_learning_order_summaries(small_store):
    from scipy.stats import spearmanr

    path, _ = small_store
    d = open_sweep(path, engine="numpy")
    study = _config.load(base_config())
    edges = d["order_edges"]
    for k in range(study.n_chunks):
        lo, hi = study.chunk_bounds(k)
        tc = d["critical_time"][1, 1, 0, lo:hi]
        counts = d["order_counts"][1, 1, 0, k]
        assert counts.sum() == hi - lo
        inner, _ = np.histogram(np.log10(tc), bins=edges)
        # np.histogram closes its last bin on the right; fastdyn's bins are [a, b)
        assert np.array_equal(counts[1:-1][:-1], inner[:-1])
        assert d["order_corr_rho"][1, 1, 0, k] == pytest.approx(
            spearmanr(tc, d["rho"][lo:hi]).statistic, rel=1e-12)
        assert d["order_corr_lam"][1, 1, 0, k] == pytest.approx(
            spearmanr(tc, d["lam"][lo:hi]).statistic, rel=1e-12)


def test_metadata_round_trip(small_store):
    path, _ = small_store
    d = open_sweep(path, engine="numpy")
    assert isinstance(d, SweepData)
    assert d.attrs["fastdyn_version"] == fd.__version__
    assert d.attrs["config"] == json.loads(json.dumps(_config.load(base_config()).normalized()))
    assert list(d.coords["objective"]) == ["jepa", "mae"]
    assert list(d.coords["depth"]) == [1, 5] and list(d.coords["eps"]) == [1e-3, 1e-2]
    assert d.dims["trajectory"] == ("objective", "depth", "eps", "feature", "time")
    assert np.array_equal(d.coords["time"], np.geomspace(1e-2, 1e6, 16))


def test_open_as_xarray(small_store):
    xr = pytest.importorskip("xarray")
    path, _ = small_store
    ds = open_sweep(path)
    assert isinstance(ds, xr.Dataset)
    assert ds["trajectory"].dims == ("objective", "depth", "eps", "feature", "time")
    d = open_sweep(path, engine="numpy")
    sel = ds["trajectory"].sel(objective="mae", depth=5, eps=1e-2).values
    assert np.array_equal(sel, d["trajectory"][1, 1, 1])
    assert ds.attrs["fastdyn_version"] == fd.__version__


def test_given_arrays_and_file(tmp_path):
    rng = np.random.default_rng(1)
    lam, rho = rng.uniform(0.5, 2, 700), rng.uniform(0.3, 1, 700)
    np.savez(tmp_path / "p.npz", lam=lam, rho=rho)
    (tmp_path / "c.toml").write_text(
        'lam = {file = "p.npz"}\nrho = {file = "p.npz", key = "rho"}\nquantities = ["critical_time"]\n'
        'objectives = ["jepa", "mae"]\ndepths = [1, 5]\neps = [1e-3, 1e-2]\nchunk_size = 256\n')
    sweep(tmp_path / "c.toml", tmp_path / "s.zarr", progress=False)
    d = open_sweep(tmp_path / "s.zarr", engine="numpy")
    assert np.array_equal(d["lam"], lam) and np.array_equal(d["rho"], rho)
    tc = fd.critical_time(lam, rho, depth=5, eps=1e-2, objective="jepa")
    assert np.array_equal(d["critical_time"][0, 1, 1], tc)
    # the same arrays given inline are the same study
    inline = dict(lam=lam, rho=list(rho), quantities=["critical_time"], objectives=["jepa", "mae"],
                  depths=[1, 5], eps=[1e-3, 1e-2], chunk_size=256)
    assert sweep(inline, tmp_path / "s.zarr", progress=False).computed == 0
    inline["lam"] = lam.copy()
    inline["lam"][5] = np.nextafter(lam[5], 3.0)     # one ulp of one parameter is another study
    with pytest.raises(ValueError, match="lam.array_sha256"):
        sweep(inline, tmp_path / "s.zarr", progress=False)


def _model_config(model):
    cfg = base_config(model=model, quantities=["critical_time", "learning_order"], chunk_size=2)
    for k in ("lam", "rho", "n_features", "seed", "times"):
        del cfg[k]
    return cfg


@pytest.mark.parametrize("model", [
    {"name": "temporal"},
    {"name": "temporal", "gamma": [0.9, 0.99], "noise_std": [1.0, 0.1]},
    {"name": "random_masking", "factor_var": [4.0, 1.0, 3.0, 2.0], "noise_var": 0.5, "keep_prob": 0.5},
    {"name": "gaussian", "lam": [0.5, 1.0, 2.0], "rho": [0.9, 0.5, 0.3]},
])
def test_generative_model_parameters(tmp_path, model):
    import fastdyn.models as fm

    kwargs = {k: v for k, v in model.items() if k != "name"}
    m = getattr(fm, model["name"])(**kwargs)
    sweep(_model_config(model), tmp_path / "m.zarr", progress=False)
    d = open_sweep(tmp_path / "m.zarr", engine="numpy")
    # random masking: factor variances 4, 1, 3, 2 (average 2.5) leave features 0 and 2
    keep = [0, 2] if model["name"] == "random_masking" else list(range(m.lam.size))
    assert np.all(m.lam[keep] > 0) and np.all(np.delete(m.lam, keep) <= 0)
    lam, rho = m.lam[keep], m.rho[keep]
    assert np.array_equal(d["lam"], lam) and np.array_equal(d["rho"], rho)
    assert d.attrs["config"]["model"] == {"spec": model, "features": keep}
    tc = fd.critical_time(lam, rho, depth=5, eps=1e-2, objective="mae")
    assert np.array_equal(d["critical_time"][1, 1, 1], tc)


@pytest.mark.parametrize("model, exc, needle", [
    ({"name": "teapot"}, ValueError, "`model.name`"),
    ({"gamma": [0.9]}, ValueError, "`model.name`"),
    ({"name": "temporal", "gama": [0.9]}, ValueError, "`model.gama`"),
    ({"name": "random_masking", "factor_var": [1.0, 2.0], "noise_var": 0.5, "keep_prob": 1.5},
     ValueError, "config key `model` (random_masking)"),
    ({"name": "random_masking", "factor_var": [1.0, 1.0], "noise_var": 0.5, "keep_prob": 0.5},
     ValueError, "no feature has lam > 0"),
])
def test_bad_model_config(model, exc, needle):
    with pytest.raises(exc) as info:
        _config.load(_model_config(model))
    assert needle in str(info.value)


def test_model_excludes_lam():
    with pytest.raises(ValueError, match="`model` and `lam` exclude each other"):
        _config.load(base_config(model={"name": "temporal"}))


@pytest.mark.parametrize("over, key", [({"seed": 8}, "`config.seed`"),
                                       ({"depths": [1, 6]}, "`config.depths`"),
                                       ({"chunk_size": 1000}, "`config.chunk_size`"),
                                       ({"dtype": "float32"}, "`config.dtype`")])
def test_mismatching_store_refused_untouched(tmp_path, over, key):
    path = tmp_path / "s.zarr"
    cfg = base_config(n_features=300, chunk_size=100, times=[0.0, 1.0, 10.0])
    sweep(cfg, path, progress=False)
    before = tree(path)
    with pytest.raises(ValueError, match="refusing to mix results") as info:
        sweep({**cfg, **over}, path, progress=False)
    assert key in str(info.value)
    assert tree(path) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_foreign_directory_refused(tmp_path, overwrite):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a fastdyn sweep store"):
        sweep(base_config(n_features=10), tmp_path / "x", progress=False, overwrite=overwrite)
    assert (tmp_path / "x" / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_a_sweep_store(tmp_path):
    cfg = base_config(n_features=300, chunk_size=100)
    sweep(cfg, tmp_path / "s.zarr", progress=False)
    report = sweep({**cfg, "seed": 8}, tmp_path / "s.zarr", progress=False, overwrite=True)
    assert report.computed == 3
    assert open_sweep(tmp_path / "s.zarr", engine="numpy").attrs["config"]["seed"] == 8


def test_incomplete_store_refused_on_read(tmp_path):
    import zarr

    path = tmp_path / "s.zarr"
    sweep(base_config(n_features=300, chunk_size=100), path, progress=False)
    zarr.open_group(path, mode="r+")["chunk_done"][1] = 0
    with pytest.raises(ValueError, match="2 of 3 chunks"):
        open_sweep(path)
    assert open_sweep(path, engine="numpy", allow_incomplete=True)["lam"].shape == (300,)


def test_float32_storage(tmp_path):
    cfg = base_config(n_features=300, chunk_size=128, dtype="float32", objectives=["mae"],
                      depths=[5], eps=[1e-3])
    sweep(cfg, tmp_path / "s.zarr", progress=False)
    d = open_sweep(tmp_path / "s.zarr", engine="numpy")
    w = fd.trajectory(d.coords["time"], d["lam"], d["rho"], depth=5, eps=1e-3, objective="mae")
    assert d["trajectory"].dtype == np.float32
    assert np.array_equal(d["trajectory"][0, 0, 0], w.astype(np.float32))


def test_ode_method_records_status(tmp_path):
    # a step budget of 3 cannot reach late times: every feature fails, and says so
    cfg = base_config(n_features=50, chunk_size=20, method="ode", max_steps=3, objectives=["jepa"],
                      depths=[5], eps=[1e-3], quantities=["trajectory"])
    report = sweep(cfg, tmp_path / "s.zarr", progress=False)
    d = open_sweep(tmp_path / "s.zarr", engine="numpy")
    assert report.failed_features == 50
    assert np.all(d["status"] == int(fd.Status.MAX_STEPS))


@pytest.mark.parametrize("backend, needle", [("cuda", "`backend` must be 'cpu' or 'gpu'"),
                                             (None, "`backend` must be")])
def test_unknown_backend_rejected_before_work(tmp_path, backend, needle):
    with pytest.raises(ValueError, match=needle):
        sweep(base_config(n_features=10), tmp_path / "s.zarr", backend=backend, progress=False)
    assert not (tmp_path / "s.zarr").exists()


def test_gpu_backend_without_a_gpu_rejected_before_work(tmp_path, monkeypatch):
    def no_gpu(*args, backend="auto", **kw):
        raise RuntimeError("no CUDA device")

    monkeypatch.setattr(fd, "critical_time", no_gpu)
    with pytest.raises(ValueError, match="'gpu' cannot run here: no CUDA device"):
        sweep(base_config(n_features=10), tmp_path / "s.zarr", backend="gpu", progress=False)
    assert not (tmp_path / "s.zarr").exists()


def test_backend_is_passed_to_the_solvers(tmp_path, monkeypatch):
    seen = []
    cpu = {"trajectory": fd.trajectory, "critical_time": fd.critical_time}

    def spy(name):
        def f(*args, backend="auto", **kw):
            seen.append((name, backend))
            return cpu[name](*args, backend="cpu", **kw)
        return f

    for name in cpu:
        monkeypatch.setattr(fd, name, spy(name))
    cfg = base_config(n_features=300, chunk_size=100, objectives=["jepa"], depths=[5], eps=[1e-3])
    sweep(cfg, tmp_path / "g.zarr", backend="gpu", progress=False)
    assert seen[0] == ("critical_time", "gpu")          # the check before any work
    assert sorted(set(seen)) == [("critical_time", "gpu"), ("trajectory", "gpu")]
    assert len(seen) == 1 + 2 * 3
    for name in cpu:
        monkeypatch.setattr(fd, name, cpu[name])
    sweep(cfg, tmp_path / "c.zarr", progress=False)
    assert tree(tmp_path / "g.zarr") == tree(tmp_path / "c.zarr")


# ---------------------------------------------------------------- resume

def test_resume_recomputes_only_missing_chunks(tmp_path):
    import zarr

    cfg = base_config(n_features=1000, chunk_size=100)
    sweep(cfg, tmp_path / "ref.zarr", progress=False)
    path = tmp_path / "s.zarr"
    sweep(cfg, path, progress=False)
    root = zarr.open_group(path, mode="r+")
    # chunk 3 "killed" between its data and its record; chunk 7 with torn data
    root["chunk_done"][3] = 0
    root["chunk_done"][7] = 0
    root["trajectory"][0, 0, 0, 700:800] = 1.0
    (path / "trajectory" / "c" / "stray.abc.partial").write_bytes(b"torn")
    report = sweep(cfg, path, progress=False)
    assert report.computed == 2
    assert tree(path) == tree(tmp_path / "ref.zarr")


KILL_CONFIG = """
n_features = 12000
seed = 11
objectives = ["jepa", "mae"]
depths = [5]
eps = [1e-3]
quantities = ["trajectory", "critical_time"]
times = {start = 1e-2, stop = 1e6, num = 16}
chunk_size = 150
[lam]
distribution = "loguniform"
low = 0.5
high = 2.0
[rho]
distribution = "uniform"
low = 0.3
high = 1.0
"""


def _n_done(path):
    d = path / "chunk_done" / "c"
    return len([f for f in os.listdir(d) if not f.endswith(".partial")]) if d.exists() else 0


def test_kill_and_resume_gives_identical_store(tmp_path):
    cfg = tmp_path / "kill.toml"
    cfg.write_text(KILL_CONFIG)
    path = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "fastdyn._sweep.cli", "sweep", str(cfg), "--store", str(path),
           "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while _n_done(path) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    done_at_kill = _n_done(path)
    assert 5 <= done_at_kill < 80           # genuinely interrupted in the middle
    report = sweep(cfg, path, progress=False)
    assert report.computed == 80 - done_at_kill
    sweep(cfg, tmp_path / "ref.zarr", progress=False)
    a, b = tree(path), tree(tmp_path / "ref.zarr")
    assert a.keys() == b.keys()
    assert a == b


# ---------------------------------------------------------------- progress and command line

@pytest.mark.parametrize("enabled", [True, False])
def test_progress_bar(enabled):
    s = io.StringIO()
    bar = Bar(4, 1, enabled=enabled, file=s)
    for _ in range(3):
        bar.update(1000)
    bar.close()
    if enabled:
        last = s.getvalue().rstrip("\n").split("\r")[-1]
        # tqdm: "... 4/4 [elapsed<left, rate, 3e+03 features/s]"
        assert "4/4 " in last and "features/s" in last and "<00:00" in last
    else:
        assert s.getvalue() == ""


def test_progress_silent_when_not_a_terminal():
    s = io.StringIO()          # isatty() is False
    bar = Bar(2, enabled=None, file=s)
    bar.update(10)
    bar.close()
    assert s.getvalue() == ""


def test_cli_sweep(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(KILL_CONFIG.replace("12000", "300"))
    assert cli_main(["sweep", str(cfg), "--no-progress"]) == 0
    assert "2 of 2 chunks computed" in capsys.readouterr().out
    assert open_sweep(tmp_path / "c.zarr", engine="numpy")["lam"].shape == (300,)
    assert cli_main(["sweep", str(cfg), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    cfg.write_text(KILL_CONFIG.replace("seed = 11", "seed = 11\nspeed = 2"))
    assert cli_main(["sweep", str(cfg), "--store", str(tmp_path / "o.zarr")]) == 2
    assert "unknown config key `speed`" in capsys.readouterr().err
    assert not (tmp_path / "o.zarr").exists()


def test_cli_registers_both_subcommands():
    import argparse

    from fastdyn._sweep.cli import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", "c.toml", "--scheduler", "tcp://h:1", "--backend", "cpu",
                              "--no-progress"])
    assert args.scheduler == "tcp://h:1" and args.progress is False and callable(args.func)
    args = parser.parse_args(["bench", "--quick"])
    assert args.quick and callable(args.func)


def test_import_fastdyn_stays_light():
    code = ("import sys, fastdyn, fastdyn._sweep, fastdyn._sweep.cli; "
            "print(sorted(m for m in ('dask', 'distributed', 'zarr', 'xarray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
