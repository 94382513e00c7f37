"""`fastdyn sweep` quantities of gradient descent at a finite learning rate (issue 15):
``gd_critical_step`` per (objective, depth, eps, imbalance, lr) and ``gd_stable_lr`` per
(objective, depth), end to end through the command line, against the public API (the
imbalanced starts rebuilt from the documented seed rule), with statuses (never NaN with
SUCCESS), out-of-domain features, resume and config validation."""

import numpy as np
import pytest

pytest.importorskip("zarr")

import fastdyn as fd  # noqa: E402
from fastdyn._sweep import _config, open_sweep, sweep  # noqa: E402
from fastdyn._sweep.cli import main as cli_main  # noqa: E402
from store_tree import tree, write_toml  # noqa: E402


def gd_config(**over):
    cfg = dict(
        n_features=900, seed=5, objectives=["jepa", "mae"], depths=[1, 3], eps=[1e-2, 0.1],
        quantities=["critical_time", "gd_critical_step", "gd_stable_lr"],
        lr=[0.01, 0.3], gd_max_steps=3000, imbalance=[0.0, 0.3], chunk_size=400,
        lam=dict(distribution="loguniform", low=0.5, high=2.0),
        rho=dict(distribution="uniform", low=0.3, high=1.0),
    )
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory):
    """A small gradient-descent sweep run through ``fastdyn sweep CONFIG.toml``."""
    d = tmp_path_factory.mktemp("gd")
    cfg = write_toml(gd_config(), d / "gd.toml")
    assert cli_main(["sweep", str(cfg), "--quiet"]) == 0
    return d / "gd.zarr"


def test_values_equal_the_public_api(cli_store):
    d = open_sweep(cli_store, engine="numpy")
    study = _config.load(gd_config())
    lam, rho = d["lam"], d["rho"]
    assert d.dims["gd_critical_step"] == ("objective", "depth", "eps", "imbalance", "lr",
                                          "feature")
    assert d.dims["gd_stable_lr"] == ("objective", "depth", "feature")
    assert list(d.coords["lr"]) == [0.01, 0.3] and list(d.coords["imbalance"]) == [0.0, 0.3]
    for io, obj in enumerate(study.objectives):
        for idp, depth in enumerate(study.depths):
            np.testing.assert_array_equal(d["gd_stable_lr"][io, idp],
                                          fd.gd_stable_lr(lam, rho, depth=depth, objective=obj))
            z = _documented_noise(study, depth)
            for ie, eps in enumerate(study.eps):
                for ii, delta in enumerate(study.imbalance):
                    start = ({"eps": eps} if delta == 0 else
                             dict(zip(("layers", "decoder"), _config.imbalanced_start(*z, eps, delta))))
                    for ir, lr in enumerate(study.lrs):
                        k, st = fd.gd_critical_step(lam, rho, depth=depth, objective=obj, lr=lr,
                                                    p=study.p, max_steps=3000, return_status=True,
                                                    **start)
                        np.testing.assert_array_equal(d["gd_critical_step"][io, idp, ie, ii, ir], k)
                        np.testing.assert_array_equal(d["gd_status"][io, idp, ie, ii, ir], st)
    # the imbalance changes the answer (it is not a relabelled balanced start)
    assert not np.array_equal(d["gd_critical_step"][:, :, :, 0], d["gd_critical_step"][:, :, :, 1])


def _documented_noise(study, depth):
    """z of every chunk: SeedSequence(seed, spawn_key=(chunk, 1, depth)), layers' draws first."""
    zl, zv = [], []
    for k in range(study.n_chunks):
        lo, hi = study.chunk_bounds(k)
        rng = np.random.default_rng(np.random.SeedSequence(study.seed, spawn_key=(k, 1, depth)))
        zl.append(rng.standard_normal((hi - lo, depth)))
        zv.append(rng.standard_normal(hi - lo))
    return np.concatenate(zl), np.concatenate(zv)


@pytest.mark.parametrize("depth", [1, 2, 5])
@pytest.mark.parametrize("delta", [0.0, 0.05, 1.0])
def test_imbalanced_start_keeps_the_initial_weight(depth, delta):
    rng = np.random.default_rng(depth)
    z = rng.standard_normal((500, depth)), rng.standard_normal(500)
    layers, decoder = _config.imbalanced_start(*z, 1e-3, delta)
    # the product and the rescaling: a few roundings per layer
    np.testing.assert_allclose(np.prod(layers, axis=1), 1e-3, rtol=4 * depth * 2.0**-52)
    # log-deviations from the balanced root: delta (z - mean z) for the layers, delta z for v
    root = 1e-3 ** (1.0 / depth)
    np.testing.assert_allclose(np.log(layers / root), delta * (z[0] - z[0].mean(axis=1)[:, None]),
                               atol=1e-13)
    np.testing.assert_allclose(np.log(decoder / root), delta * z[1], atol=1e-13)


def test_statuses_never_nan_with_success(cli_store):
    d = open_sweep(cli_store, engine="numpy")
    steps, st = d["gd_critical_step"], d["gd_status"]
    assert set(np.unique(st)) == {fd.Status.SUCCESS, fd.Status.MAX_STEPS}  # both occur here
    np.testing.assert_array_equal(np.isnan(steps), st != fd.Status.SUCCESS)
    ok = st == fd.Status.SUCCESS
    assert np.all(steps[ok] == np.round(steps[ok])) and np.all(steps[ok] >= 0)
    assert np.all(d["gd_stable_lr"] > 0) and not d["status"].any()


def test_out_of_domain_features(tmp_path):
    lam = np.array([1.0, 2e6, 0.7, 1.5])  # lam[1] outside [1e-6, 1e6]
    cfg = gd_config(lam=lam, rho=0.8, chunk_size=3)
    del cfg["n_features"]  # the seed stays: it draws the imbalanced starts
    report = sweep(cfg, tmp_path / "o.zarr", progress=False)
    d = open_sweep(tmp_path / "o.zarr", engine="numpy")
    assert np.all(d["gd_status"][..., 1] == fd.Status.OUT_OF_DOMAIN)
    assert np.all(np.isnan(d["gd_critical_step"][..., 1])) and np.all(np.isnan(d["gd_stable_lr"][..., 1]))
    inside = np.delete(d["gd_stable_lr"], 1, axis=-1)
    assert np.all(np.isfinite(inside))
    # every (objective, depth, eps) of status plus every (.., imbalance, lr) of gd_status
    assert report.out_of_domain == 2 * 2 * 2 + 2 * 2 * 2 * 2 * 2


def test_resume_gives_the_identical_store(tmp_path):
    import zarr

    cfg = gd_config(n_features=600, chunk_size=150)
    sweep(cfg, tmp_path / "ref.zarr", progress=False)
    path = tmp_path / "s.zarr"
    sweep(cfg, path, progress=False)
    root = zarr.open_group(path, mode="r+")
    root["chunk_done"][1] = 0                      # "killed" before its record
    root["chunk_done"][3] = 0
    root["gd_critical_step"][..., 450:600] = 7.0  # torn data of chunk 3
    root["gd_stable_lr"][..., 450:600] = 1.0
    report = sweep(cfg, path, progress=False)
    assert report.computed == 2
    assert tree(path) == tree(tmp_path / "ref.zarr")


def test_backend_is_passed_to_the_gd_solvers(tmp_path, monkeypatch):
    seen = []
    cpu = {"gd_critical_step": fd.gd_critical_step, "gd_stable_lr": fd.gd_stable_lr,
           "critical_time": fd.critical_time}

    def spy(name):
        def f(*args, backend="auto", **kw):
            seen.append((name, backend))
            return cpu[name](*args, backend="cpu", **kw)
        return f

    for name in cpu:
        monkeypatch.setattr(fd, name, spy(name))
    cfg = gd_config(n_features=200, chunk_size=100, objectives=["jepa"], depths=[2], eps=[0.1])
    sweep(cfg, tmp_path / "g.zarr", backend="gpu", progress=False)
    assert set(seen) == {("critical_time", "gpu"), ("gd_critical_step", "gpu"),
                         ("gd_stable_lr", "gpu")}
    for name in cpu:
        monkeypatch.setattr(fd, name, cpu[name])
    sweep(cfg, tmp_path / "c.zarr", progress=False)
    assert tree(tmp_path / "g.zarr") == tree(tmp_path / "c.zarr")


def test_studies_without_gradient_descent_keep_their_identity():
    """Older stores stay resumable: the new keys enter the metadata only when used."""
    cfg = gd_config(quantities=["critical_time"])
    del cfg["lr"], cfg["gd_max_steps"], cfg["imbalance"]
    plain = _config.load(cfg)
    assert "lr" not in plain.normalized() and "gd_max_steps" not in plain.normalized()
    gd = _config.load(gd_config(quantities=["gd_stable_lr", "gd_critical_step"]))
    assert gd.quantities == ("gd_critical_step", "gd_stable_lr")  # canonical order
    assert gd.normalized()["lr"] == [0.01, 0.3] and gd.normalized()["gd_max_steps"] == 3000
    assert gd.normalized()["imbalance"] == [0.0, 0.3]


def test_imbalance_needs_a_seed(tmp_path):
    cfg = gd_config(lam=[1.0, 2.0], rho=0.8)
    del cfg["n_features"], cfg["seed"]
    with pytest.raises(ValueError, match=r"config key `seed` is required when `imbalance` has a "
                                         r"nonzero value"):
        sweep(cfg, tmp_path / "n.zarr", progress=False)
    cfg["imbalance"] = [0.0]  # the balanced start alone needs none
    assert sweep(cfg, tmp_path / "n.zarr", progress=False).computed == 1


@pytest.mark.parametrize("over, exc, needle", [
    ({"lr": None}, ValueError, "config key `lr` is required with quantity 'gd_critical_step'"),
    ({"lr": [0.1, -1.0]}, ValueError, "config key `lr[1]` must be finite and in (0.0, 1e+300]"),
    ({"lr": [0.1, 0.1]}, ValueError, "config key `lr` lists 0.1 twice (lr[1])"),
    ({"lr": ["fast"]}, TypeError, "config key `lr[0]` must be a number"),
    ({"gd_max_steps": 0}, ValueError, "config key `gd_max_steps` must be in [1, "),
    ({"quantities": ["gd_stable_lr"]}, ValueError,
     "config key `lr` is given but quantity 'gd_critical_step' is not requested"),
    ({"quantities": ["gd_stable_lr"], "lr": None}, ValueError,
     "config key `gd_max_steps` is given but quantity 'gd_critical_step' is not requested"),
    ({"imbalance": [0.0, 1.5]}, ValueError, "config key `imbalance[1]` must be finite and in [0.0, 1.0]"),
    ({"imbalance": [0.2, 0.2]}, ValueError, "config key `imbalance` lists 0.2 twice (imbalance[1])"),
])
def test_bad_config(tmp_path, over, exc, needle):
    cfg = gd_config(**over)
    for k, v in over.items():
        if v is None:
            del cfg[k]
    with pytest.raises(exc) as err:
        sweep(cfg, tmp_path / "b.zarr", progress=False)
    assert needle in str(err.value)
    assert not (tmp_path / "b.zarr").exists()
