"""Dask: a real LocalCluster (2 worker processes) writes the same store as the
embedded run, bit for bit; dask.array inputs through the dispatch layer."""


import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("zarr")

import fastdyn as fd  # noqa: E402
from fastdyn._sweep import open_sweep, sweep  # noqa: E402
from fastdyn._arrays import is_dask  # noqa: E402


def apply(func, arrays, kwargs):
    """A public function on dask-array inputs (the dispatch layer maps it over the blocks)."""
    return func(**arrays, **kwargs)

from store_tree import tree  # noqa: E402

CONFIG = dict(
    n_features=6000, seed=5, objectives=["jepa", "mae"], depths=[2, 5], eps=[1e-3],
    quantities=["trajectory", "critical_time", "learning_order"],
    times=dict(start=1e-2, stop=1e6, num=32), chunk_size=700,
    lam=dict(distribution="loguniform", low=0.5, high=2.0),
    rho=dict(distribution="uniform", low=0.3, high=1.0),
)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    path = tmp_path_factory.mktemp("emb") / "e.zarr"
    sweep(CONFIG, path, progress=False)
    return path


@pytest.mark.parametrize("how", ["client", "address"])
def test_distributed_equals_embedded_bit_for_bit(client, embedded, tmp_path, how):
    path = tmp_path / "d.zarr"
    scheduler = client if how == "client" else client.scheduler.address
    report = sweep(CONFIG, path, scheduler=scheduler, progress=False)
    assert report.computed == report.n_chunks == 9
    # both worker processes took part
    assert len(client.scheduler_info()["workers"]) == 2
    a, b = tree(path), tree(embedded)
    assert a.keys() == b.keys() and a == b
    e, d = open_sweep(embedded, engine="numpy"), open_sweep(path, engine="numpy")
    assert np.array_equal(e["trajectory"], d["trajectory"])


def test_distributed_resume_of_embedded_store(client, embedded, tmp_path):
    import shutil

    import zarr

    path = tmp_path / "r.zarr"
    shutil.copytree(embedded, path)
    root = zarr.open_group(path, mode="r+")
    for k in (0, 4, 8):
        root["chunk_done"][k] = 0
    root["critical_time"][1, 1, 0, 2800:3500] = 0.0
    report = sweep(CONFIG, path, scheduler=client, progress=False)
    assert report.computed == 3
    assert tree(path) == tree(embedded)


def test_bad_scheduler_type(tmp_path):
    with pytest.raises(TypeError, match="`scheduler`"):
        sweep(CONFIG, tmp_path / "x.zarr", scheduler=3, progress=False)
    assert not (tmp_path / "x.zarr").exists()


# ---------------------------------------------------------------- dask.array inputs

T = np.geomspace(1e-2, 1e6, 12)
RNG = np.random.default_rng(3)
LAM = RNG.uniform(0.5, 2.0, (40, 30))
RHO = RNG.uniform(0.3, 1.0, (40, 30))
W = RNG.uniform(1e-3, 0.2, (40, 30))

CASES = [
    (fd.trajectory, dict(lam=LAM, rho=RHO, eps=1e-3, depth=5), dict(t=T, objective="jepa"), True),
    (fd.trajectory, dict(lam=LAM, rho=RHO[0], eps=1e-2, depth=3), dict(t=T, objective="mae",
                                                                      method="ode"), True),
    (fd.critical_time, dict(lam=LAM, rho=RHO, eps=1e-3, depth=4), dict(objective="mae", p=0.3), False),
    (fd.time_to_reach, dict(w=W, lam=LAM, rho=RHO, eps=1e-3, depth=2), dict(objective="jepa"), False),
    (fd.advance, dict(w=W, dt=0.7, lam=LAM, rho=RHO, depth=5), dict(objective="mae"), False),
    (fd.fixed_point, dict(rho=RHO, depth=np.arange(1, 31)), dict(objective="mae"), False),
    (fd.rhs, dict(w=W, lam=LAM, rho=RHO, depth=5), dict(objective="jepa"), False),
]


@pytest.mark.parametrize("func, arrays, kwargs, time_axis", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_apply_matches_numpy(func, arrays, kwargs, time_axis):
    first = next(iter(arrays))       # the first per-feature argument becomes a chunked dask array
    lazy = {k: da.from_array(v, chunks=(13, 7)) if k == first else v for k, v in arrays.items()}
    res = apply(func, lazy, kwargs)
    assert isinstance(res, da.Array) and res.dtype == np.float64
    assert res._meta.ndim == res.ndim and isinstance(res._meta, np.ndarray)
    expect = func(**arrays, **kwargs)
    assert res.shape == expect.shape
    assert res.chunks[:2] == ((13, 13, 13, 1), (7, 7, 7, 7, 2))
    if time_axis:
        assert res.chunks[2] == (T.size,)
    assert np.array_equal(res.compute(scheduler="sync"), expect)


@given(n=st.integers(1, 60), c1=st.integers(1, 60), c2=st.integers(1, 60),
       objective=st.sampled_from(["jepa", "mae"]))
def test_apply_any_chunks(n, c1, c2, objective):
    lam, rho = LAM.reshape(-1)[:n], RHO.reshape(-1)[:n]
    res = apply(fd.trajectory, dict(lam=da.from_array(lam, chunks=c1), rho=da.from_array(rho, chunks=c2),
                                    eps=1e-3, depth=5), dict(t=T, objective=objective))
    assert res.shape == (n, T.size)
    expect = fd.trajectory(T, lam, rho, depth=5, eps=1e-3, objective=objective)
    assert np.array_equal(res.compute(scheduler="sync"), expect)


def test_apply_on_cluster(client):
    lam = da.from_array(LAM, chunks=(10, 30))
    res = apply(fd.critical_time, dict(lam=lam, rho=RHO, eps=1e-3, depth=5), dict(objective="jepa"))
    got = client.compute(res).result()
    assert np.array_equal(got, fd.critical_time(LAM, RHO, depth=5, eps=1e-3, objective="jepa"))


@pytest.mark.parametrize("kwargs, needle", [(dict(out=np.empty((40, 30, 12))), "`out`"),
                                            (dict(return_status=True), "`return_status=True`")])
def test_apply_unsupported_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        apply(fd.trajectory, dict(lam=da.from_array(LAM), rho=RHO, eps=1e-3, depth=5),
              dict(t=T, objective="jepa", **kwargs))


def test_apply_shape_mismatch():
    with pytest.raises(ValueError, match="do not broadcast"):
        apply(fd.critical_time, dict(lam=da.from_array(LAM), rho=RHO[:3], eps=1e-3, depth=5),
              dict(objective="jepa"))


def test_apply_bad_times_named():
    with pytest.raises(ValueError, match="`t`"):
        apply(fd.trajectory, dict(lam=da.from_array(LAM), rho=RHO, eps=1e-3, depth=5),
              dict(t=np.array([1.0, 0.5]), objective="jepa"))


def test_apply_bad_values_raise_at_compute():
    lam = LAM.copy()
    lam[3, 4] = -1.0
    res = apply(fd.critical_time, dict(lam=da.from_array(lam, chunks=(20, 30)), rho=RHO, eps=1e-3,
                                       depth=5), dict(objective="jepa"))
    with pytest.raises(ValueError, match="`lam`"):
        res.compute(scheduler="sync")


def test_is_dask():
    assert is_dask(1.0, da.zeros(3)) and not is_dask(1.0, np.zeros(3), [1, 2])
