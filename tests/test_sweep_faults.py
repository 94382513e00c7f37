"""Fault injection: writers SIGKILLed at random moments of creation and of computation, and
two or three writers started together, embedded and on a LocalCluster.

Kills at filesystem operations: a forked child runs the sweep with ``os.replace``,
``os.rename``, ``os.fsync``, ``os.mkdir``, ``os.unlink``, ``os.rmdir`` and ``os.link``
wrapped so that the process SIGKILLs itself just before its N-th such call, N drawn at
random (seeded) from the calls a full run makes while creating the store, or while
computing.  Every state a crash can leave between two of these calls is reached this way.
Kills at random wall-clock times: real ``fastdyn sweep`` processes (``slow``).
After every kill the same command is run again; the store must end byte-identical to an
uninterrupted run, with nothing left next to it.  The short sets run by default; the long
sets (>= 24 kills of each kind) are marked ``slow``.
"""

import json
import os
import signal
import subprocess
import sys
import time
import traceback

import numpy as np
import pytest

pytest.importorskip("zarr")

from fastdyn._sweep import _config, _store, open_sweep, sweep  # noqa: E402
from store_tree import leftovers, tree, write_toml  # noqa: E402

CFG = dict(
    n_features=600, seed=21, objectives=["jepa", "mae"], depths=[3], eps=[1e-3],
    quantities=["trajectory", "critical_time", "learning_order"],
    times=dict(start=1e-2, stop=1e6, num=8), chunk_size=100,
    lam=dict(distribution="loguniform", low=0.5, high=2.0),
    rho=dict(distribution="uniform", low=0.3, high=1.0),
)
OTHER = {**CFG, "seed": 22, "depths": [2, 4]}
_OPS = ("replace", "rename", "fsync", "mkdir", "unlink", "rmdir", "link")


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    base = tmp_path_factory.mktemp("refs")
    out = {}
    for name, cfg in (("cfg", CFG), ("other", OTHER)):
        sweep(cfg, base / f"{name}.zarr", progress=False)
        out[name] = tree(base / f"{name}.zarr")
    return out


def _child(cfg, path, kill_at, overwrite):
    """Fork a sweep that SIGKILLs itself before its ``kill_at``-th filesystem call.

    Returns ``(killed, {"total": calls, "created": calls when the store was ready})``.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: never returns into pytest
        code = 1
        try:
            os.close(r)
            count = [0]
            real_prepare = _store.prepare

            def wrap(f):
                def g(*a, **k):
                    count[0] += 1
                    if count[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return f(*a, **k)
                return g

            for name in _OPS:
                setattr(os, name, wrap(getattr(os, name)))
            seen = {}

            def prepare(*a, **k):
                plan = real_prepare(*a, **k)
                seen["created"] = count[0]
                return plan

            _store.prepare = prepare
            sweep(cfg, path, progress=False, overwrite=overwrite)
            os.write(w, json.dumps({"total": count[0], **seen}).encode())
            code = 0
        except BaseException:
            os.write(w, json.dumps({"error": traceback.format_exc()}).encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True, {}
    info = json.loads(data)
    assert "error" not in info, info.get("error")
    return False, info


@pytest.fixture(scope="module")
def op_counts(tmp_path_factory):
    """Filesystem calls of an uninterrupted run: while creating, in all (fresh and overwrite)."""
    base = tmp_path_factory.mktemp("count")
    killed, fresh = _child(CFG, str(base / "s.zarr"), -1, False)
    assert not killed
    sweep(OTHER, base / "o.zarr", progress=False)
    killed, over = _child(CFG, str(base / "o.zarr"), -1, True)
    assert not killed
    assert 0 < fresh["created"] < fresh["total"] and 0 < over["created"] < over["total"]
    return {"fresh": fresh, "overwrite": over}


def _points(lo, hi, n, seed):
    """``n`` distinct kill points in ``[lo, hi]``, drawn with ``seed``, or all of them."""
    pts = np.arange(lo, hi + 1)
    if pts.size <= n:
        return [int(p) for p in pts]
    return sorted(int(p) for p in np.random.default_rng(seed).choice(pts, n, replace=False))


def _kill_cases(n_create, n_compute, n_overwrite, seed):
    return ([("create", i, seed) for i in range(n_create)] +
            [("compute", i, seed) for i in range(n_compute)] +
            [("overwrite", i, seed) for i in range(n_overwrite)])


def _kill_and_resume(refs, op_counts, tmp_path, phase, index, seed, n):
    path = str(tmp_path / "s.zarr")
    counts = op_counts["overwrite" if phase == "overwrite" else "fresh"]
    lo, hi = (1, counts["created"]) if phase != "compute" else (counts["created"] + 1, counts["total"])
    kill_at = _points(lo, hi, n, seed)[index]
    overwrite = phase == "overwrite"
    old = None
    if overwrite:
        sweep(OTHER, path, progress=False)
        old = tree(path)
    killed, _ = _child(CFG, path, kill_at, overwrite)
    assert killed, f"kill point {kill_at} of {counts} was never reached"
    layout = _store.Layout.of(_config.load(CFG))
    # creation is atomic: the store is absent, the old one (overwrite) or a complete skeleton
    if phase != "compute" and os.path.exists(path):
        if old is not None and _store.read_meta(path) != layout.meta:
            assert tree(path) == old
        else:
            assert _store.metadata_problems(path, _store.skeleton(layout)) == {}
    report = sweep(CFG, path, progress=False, overwrite=overwrite)
    assert not report.repaired
    assert tree(path) == refs["cfg"], f"kill point {kill_at}"
    assert leftovers(path) == []
    assert open_sweep(path, engine="numpy")["lam"].shape == (600,)


SHORT = _kill_cases(5, 5, 3, seed=0)


@pytest.mark.parametrize("phase, index, seed", SHORT, ids=[f"{c[0]}-{c[1]}" for c in SHORT])
def test_sigkill_then_resume_is_byte_identical(refs, op_counts, tmp_path, phase, index, seed):
    _kill_and_resume(refs, op_counts, tmp_path, phase, index, seed, n=5 if phase != "overwrite" else 3)


LONG = _kill_cases(24, 24, 12, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("phase, index, seed", LONG, ids=[f"{c[0]}-{c[1]}" for c in LONG])
def test_sigkill_then_resume_is_byte_identical_long(refs, op_counts, tmp_path, phase, index, seed):
    _kill_and_resume(refs, op_counts, tmp_path, phase, index, seed, n=24 if phase != "overwrite" else 12)


# ---------------------------------------------------------------- real processes

CLI_CFG = dict(
    n_features=48000, seed=5, objectives=["jepa", "mae"], depths=[2, 5], eps=[1e-3],
    quantities=["trajectory", "critical_time", "learning_order"],
    times=dict(start=1e-2, stop=1e6, num=64), chunk_size=4000,
    lam=dict(distribution="loguniform", low=0.5, high=2.0),
    rho=dict(distribution="uniform", low=0.3, high=1.0),
)
CLI_OTHER = {**CLI_CFG, "seed": 6}
# the writers' studies: small, since they start at a barrier (see _writers)
W_CFG = {**CLI_CFG, "n_features": 8000, "chunk_size": 1000}
W_OTHER = {**W_CFG, "seed": 6, "depths": [3]}


def _refs(base, studies):
    out = {}
    for name, cfg in studies:
        toml = write_toml(cfg, base / f"{name}.toml")
        sweep(toml, base / f"{name}.zarr", progress=False)
        meta = _store.read_meta(str(base / f"{name}.zarr"))
        out[name] = {"toml": toml, "tree": tree(base / f"{name}.zarr"), "meta": meta}
    return out


@pytest.fixture(scope="module")
def cli_refs(tmp_path_factory):
    """The writers' two studies, as TOML files with their reference stores."""
    return _refs(tmp_path_factory.mktemp("clirefs"), (("a", W_CFG), ("b", W_OTHER)))


@pytest.fixture(scope="module")
def kill_ref(tmp_path_factory):
    """The study killed at random times, with its reference store."""
    return _refs(tmp_path_factory.mktemp("killref"), (("cli", CLI_CFG),))


def _cmd(toml, store, *extra):
    return [sys.executable, "-m", "fastdyn._sweep.cli", "sweep", str(toml), "--store", str(store),
            "--quiet", *extra]


@pytest.fixture(scope="module")
def cli_seconds(kill_ref, tmp_path_factory):
    """Wall-clock seconds of one uninterrupted ``fastdyn sweep`` process (start to exit)."""
    path = tmp_path_factory.mktemp("time") / "t.zarr"
    t0 = time.monotonic()
    subprocess.run(_cmd(kill_ref["cli"]["toml"], path), check=True, capture_output=True)
    return time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.parametrize("i", range(12))
def test_sigkill_at_a_random_time_then_resume(kill_ref, cli_seconds, tmp_path, i):
    path = tmp_path / "s.zarr"
    delay = np.random.default_rng(100 + i).uniform(0.0, cli_seconds)
    proc = subprocess.Popen(_cmd(kill_ref["cli"]["toml"], path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # where the kill landed (shown with -rP): before the store existed, in creation, computing
    n_done = len(os.listdir(path / "chunk_done" / "c")) if (path / "chunk_done" / "c").exists() else 0
    print(f"killed after {delay:.2f} s of {cli_seconds:.2f}: store "
          f"{'absent' if not path.exists() else f'with {n_done} of 12 chunks done'}")
    done = subprocess.run(_cmd(kill_ref["cli"]["toml"], path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert tree(path) == kill_ref["cli"]["tree"] and leftovers(path) == []


# a writer process: imports everything, waits at the barrier (a file appearing), then runs the
# command line; so all writers reach the store's lock within milliseconds of each other
_WRITER = ("import os, sys, time\n"
           "import fastdyn._sweep, fastdyn._sweep._runner, fastdyn._sweep.cli, zarr, scipy.stats\n"
           "go = sys.argv[1]\n"
           "open(go + '.' + str(os.getpid()), 'w').close()\n"
           "while not os.path.exists(go):\n"
           "    time.sleep(0.001)\n"
           "sys.exit(fastdyn._sweep.cli.main(sys.argv[2:]))\n")


def _writers(cli_refs, path, which, extra=()):
    """Run one ``fastdyn sweep`` per entry of ``which`` ("a"/"b"), released together."""
    go = f"{path}.go"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, go] + _cmd(cli_refs[w]["toml"], path,
                                                                        *extra)[3:],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in which]
    deadline = time.monotonic() + 300
    while sum(os.path.exists(f"{go}.{p.pid}") for p in procs) < len(procs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    open(go, "w").close()
    out = []
    for p in procs:
        _, e = p.communicate(timeout=600)
        out.append((p.returncode, e))
    for p in procs:
        os.unlink(f"{go}.{p.pid}")
    os.unlink(go)
    return out


def _check_writers(cli_refs, path, which, results):
    lock = f"{path}.lock"
    for w, (code, err) in zip(which, results):
        assert "Traceback" not in err, err
        if code == 75:       # refused: names the lock and its holder, in one line
            assert lock in err and " pid " in err and err.count("\n") == 1, err
        else:
            assert code == 0, err
    codes = [code for code, _ in results]
    # released together: one writer wins the lock, every other one is refused
    assert codes.count(0) == 1 and codes.count(75) == len(codes) - 1, codes
    meta = _store.read_meta(str(path))
    winner = next(w for w in "ab" if cli_refs[w]["meta"] == meta)
    assert tree(path) == cli_refs[winner]["tree"]            # never a mixed store
    assert leftovers(path) == []
    return winner, codes


WRITERS = [("a", "a"), ("a", "b", "a"), ("a", "a", "a"), ("b", "a")]


@pytest.mark.parametrize("which", WRITERS[:2], ids=["".join(w) for w in WRITERS[:2]])
def test_writers_started_together(cli_refs, tmp_path, which):
    path = tmp_path / "s.zarr"
    _check_writers(cli_refs, path, which, _writers(cli_refs, path, which))


@pytest.mark.slow
@pytest.mark.parametrize("repeat", range(3))
@pytest.mark.parametrize("which", WRITERS, ids=["".join(w) for w in WRITERS])
def test_writers_started_together_long(cli_refs, tmp_path, which, repeat):
    path = tmp_path / "s.zarr"
    _check_writers(cli_refs, path, which, _writers(cli_refs, path, which))


@pytest.fixture(scope="module")
def cluster_address():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("which", [("a", "b")], ids=["ab"])
def test_writers_started_together_on_a_cluster(cli_refs, cluster_address, tmp_path, which):
    path = tmp_path / "s.zarr"
    results = _writers(cli_refs, path, which, ("--scheduler", cluster_address))
    _check_writers(cli_refs, path, which, results)


@pytest.mark.slow
@pytest.mark.parametrize("repeat", range(3))
@pytest.mark.parametrize("which", WRITERS, ids=["".join(w) for w in WRITERS])
def test_writers_started_together_on_a_cluster_long(cli_refs, cluster_address, tmp_path, which,
                                                    repeat):
    path = tmp_path / "s.zarr"
    results = _writers(cli_refs, path, which, ("--scheduler", cluster_address))
    _check_writers(cli_refs, path, which, results)
