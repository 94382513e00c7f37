"""The GPU proof's driver (bench/gpu_proof.sh, bench/gpu_proof.py) without a GPU.

* no CuPy, or CuPy without a device: the script says so, exits 3 and writes its summary;
* the benchmark stage on the host build of the CUDA sources (tests/fake_cupy.py) at tiny sizes:
  every figure is produced, the CPU/GPU parity and the ODE bounds hold, and the targets are
  judged from the figures (a host is far from the GPU rates, so those targets fail);
* the summary of the pytest stage fails on a skipped, failed or erring test;
* the ODE bound check rejects a result off by more than its bound.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gpu_proof

ROOT = Path(__file__).resolve().parents[1]

NO_CUPY = 'raise ImportError("no CuPy here (a test stub)")\n'
NO_DEVICE = '''import types
class CUDARuntimeError(RuntimeError):
    pass
class _Runtime:
    def getDeviceCount(self):
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
cuda = types.SimpleNamespace(runtime=_Runtime())
__version__ = "13.6.0"
'''
ZERO_DEVICES = NO_DEVICE.replace(
    'raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")', "return 0")


@pytest.mark.parametrize("stub, reason", [
    (NO_CUPY, "no GPU: CuPy cannot be imported (ImportError: no CuPy here (a test stub))"),
    (NO_DEVICE, "no GPU: CuPy finds no CUDA device (CUDARuntimeError: cudaErrorNoDevice"),
    (ZERO_DEVICES, "no GPU: CuPy finds no CUDA device (device count 0)"),
])
def test_no_gpu_is_said_and_recorded(tmp_path, stub, reason):
    (tmp_path / "stub" / "cupy").mkdir(parents=True)
    (tmp_path / "stub" / "cupy" / "__init__.py").write_text(stub)
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([str(tmp_path / "stub"), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run(["bash", str(ROOT / "bench" / "gpu_proof.sh")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == gpu_proof.NO_GPU, res.stderr
    assert reason in res.stderr
    summary = json.loads((out / "gpu_proof.json").read_text())
    assert summary["gpu"] is False and summary["pass"] is False and summary["complete"] is True
    assert summary["reason"].startswith(reason)
    assert sorted(p.name for p in out.iterdir()) == ["gpu_proof.json", "probe.json", "probe.log"]


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """The whole proof on tests/fake_cupy.py: one gpu test, tiny sizes (``run --fake-cupy``)."""
    out = tmp_path_factory.mktemp("proof")
    # the PYTHONPATH fallback: tested end to end, and the test never pip-installs anything
    env = dict(os.environ, GPU_PROOF_INSTALL="shim")
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_proof.py"), "run", "--fake-cupy",
                          "--out", str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]  # never a pass
    return out, json.loads((out / "gpu_proof.json").read_text())


@pytest.fixture(scope="module")
def host_bench(fake_run):
    return json.loads((fake_run[0] / "bench_results.json").read_text())


def test_fake_run_records_every_stage(fake_run):
    out, summary = fake_run
    assert summary["complete"] and summary["gpu"] and summary["device"]["fake_cupy"]
    assert summary["pass"] is False
    assert summary["failed_targets"][-1].startswith("--fake-cupy")
    assert summary["stages"]["install"]["ok"]
    assert summary["stages"]["install"]["method"].startswith("PYTHONPATH=")
    assert summary["bench_complete"] and summary["stages"]["bench"]["rc"] == 0
    pt = summary["stages"]["pytest_gpu"]
    assert pt["tests"] == 1
    # the one gpu test runs on a GPU and skips elsewhere; a skip fails the proof
    assert pt["ok"] is (pt["passed"] == 1)
    assert summary["targets"]["pytest -m gpu: all passed, none skipped"]["pass"] is pt["ok"]
    for name in ("gpu_proof.json", "probe.json", "install.log", "pytest_gpu.log", "pytest_gpu.xml",
                 "bench.log", "bench_results.json"):
        assert (out / name).is_file(), name
    assert "test_gpu_backend.py" in (out / "pytest_gpu.log").read_text()
    fig = summary["figures"]["exact_trajectory jepa"]
    assert fig["n"] == 1200 and fig["max_rel_err_vs_cpu_exact"] <= gpu_proof.TARGET_PARITY


def test_a_stage_past_its_limit_is_ended_with_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    rec = gpu_proof._run_stage(["bash", "-c", f"sleep 300 & echo $! > {pidfile}; wait"],
                               tmp_path / "stage.log", timeout=2)
    assert rec["timed_out"] and rec["rc"] != 0
    assert "killed after its time limit of 2 s" in (tmp_path / "stage.log").read_text()
    child = int(pidfile.read_text())
    for _ in range(50):  # the orphaned sleep is reaped by init shortly after the kill
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the stage's child {child} survived its kill")


def test_mark_killed_keeps_what_was_recorded(tmp_path):
    (tmp_path / "gpu_proof.json").write_text(json.dumps({"issue": 14, "gpu": True, "stages": {"probe": {}}}))
    assert gpu_proof.main(["mark-killed", "--out", str(tmp_path)]) == 0
    got = json.loads((tmp_path / "gpu_proof.json").read_text())
    assert got["stages"] == {"probe": {}} and got["pass"] is False and got["complete"] is False
    assert "outer time limit" in got["reason"]


def test_host_bench_produces_every_figure(host_bench):
    st = host_bench["stages"]
    assert host_bench["complete"] and host_bench["fake_cupy"]
    for o in ("jepa", "mae"):
        ex = st[f"exact_trajectory {o}"]
        assert ex["n"] == 1200 and ex["cpu_subset_n"] == 400 and len(ex["seconds"]) == 3
        assert ex["rate_feature_times_per_s"] == pytest.approx(1200 * 64 / min(ex["seconds"]))
        assert ex["max_rel_err_vs_cpu_exact"] <= gpu_proof.TARGET_PARITY
        assert st[f"critical_time {o}"]["max_rel_err_vs_cpu_exact"] <= gpu_proof.TARGET_PARITY
        for dt in ("float64", "float32"):
            ode = st[f"ode_trajectory {dt} {o}"]
            assert ode["failed_features"] == 0 and ode["cpu_subset_n"] == 250
            assert ode["best_ms"] == pytest.approx(1e3 * min(ode["seconds"]))
            assert ode["time_shift_bound"]["within_bound"], ode
    par = st["parity"]
    assert par["errors"] == {}
    # nine functions and methods x two objectives; gd_trajectory, gd_critical_step,
    # gd_stable_lr and flow_trajectory x three
    assert len(par["max_rel_diff"]) == 18 + 4 * 3
    for name in ("gd_trajectory", "gd_critical_step", "gd_stable_lr", "flow_trajectory"):
        assert {f"{name} [{o}]" for o in ("jepa", "mae", "jepa-ema")} <= set(par["max_rel_diff"])
    assert max(par["max_rel_diff"].values()) <= gpu_proof.TARGET_PARITY


def test_host_bench_diffrax_is_measured_or_said_missing(host_bench):
    for o in ("jepa", "mae"):
        rec = host_bench["stages"][f"diffrax {o}"]
        if importlib.util.find_spec("diffrax") is None or importlib.util.find_spec("jax") is None:
            assert rec["error"].startswith("jax/diffrax not importable")
        elif "solve_s_at_least" in rec:  # cut short by its time limit (15 s here): bounds
            assert rec["subprocess"]["timed_out"] and rec["solve_s_at_least"] > 0
            ratio = rec["fastdyn_same_n_rate"] / rec["rate_feature_times_per_s_at_most"]
            assert rec["vs_diffrax_same_n_at_least"] == pytest.approx(ratio)
        else:
            assert np.isfinite(rec["max_rel_err_vs_cpu_exact"]) and rec["compile_s"] > 0
            ratio = rec["fastdyn_ode_rate"] / rec["rate_feature_times_per_s"]
            assert rec["vs_diffrax"] == pytest.approx(ratio)


def test_targets_are_judged_from_the_figures(host_bench):
    targets = gpu_proof.evaluate(host_bench, {"ok": True, "tests": 3, "passed": 3})
    st = host_bench["stages"]
    for o in ("jepa", "mae"):
        rate = st[f"exact_trajectory {o}"]["rate_feature_times_per_s"]
        assert targets[f"exact trajectory rate [{o}]"] == {
            "value": rate, "target": ">= 1e+10 feature-times/s", "pass": rate >= 1e10}
        ms = st[f"ode_trajectory float64 {o}"]["best_ms"]
        assert targets[f"ode trajectory float64 ms [{o}]"]["pass"] == (ms <= 100)
        assert targets[f"ode trajectory float64 within its documented bound [{o}]"]["pass"]
        assert targets[f"parity exact trajectory at benchmark size [{o}]"]["pass"]
    assert all(targets[f"parity {k}"]["pass"] for k in st["parity"]["max_rel_diff"])
    assert targets["pytest -m gpu: all passed, none skipped"]["pass"]


def test_missing_figures_fail_their_targets():
    targets = gpu_proof.evaluate({"stages": {"exact_trajectory jepa": {"error": "RuntimeError: boom"}}}, None)
    assert targets and not any(v["pass"] for v in targets.values())


def _junit(tmp_path, cases):
    """A JUnit XML file as pytest writes it, for ``(classname, name, inner XML)`` test cases."""
    body = "".join(f'<testcase classname="{c}" name="{n}">{inner}</testcase>' for c, n, inner in cases)
    n_of = {tag: sum(f"<{tag} " in inner for *_, inner in cases) for tag in ("failure", "error", "skipped")}
    path = tmp_path / "junit.xml"
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
                    f'errors="{n_of["error"]}" failures="{n_of["failure"]}" skipped="{n_of["skipped"]}" '
                    f'tests="{len(cases)}">{body}</testsuite></testsuites>')
    return path


SKIP = '<skipped type="pytest.skip" message="no CuPy with a CUDA device here"/>'


@pytest.mark.parametrize("bad, ok", [
    ("", True),
    (SKIP, False),
    ('<failure message="assert 1 == 2"/>', False),
    ('<error message="fixture failed"/>', False),
])
def test_pytest_summary_fails_on_any_test_not_passed(tmp_path, bad, ok):
    got = gpu_proof.junit_summary(_junit(tmp_path, [("tests.t", "test_a", ""), ("tests.t", "test_b", bad)]))
    assert got["ok"] is ok
    assert got["passed"] == (2 if ok else 1)
    if not ok:
        assert got["not_passed"][0].startswith(f"{bad[1:bad.index(' ')]}: tests.t::test_b")


def test_pytest_summary_fails_without_tests(tmp_path):
    assert gpu_proof.junit_summary(_junit(tmp_path, []))["ok"] is False
    assert gpu_proof.junit_summary(tmp_path / "missing.xml")["ok"] is False


@pytest.mark.parametrize("module, counted", [
    ("tests.test_sweep", False),  # importorskip("zarr"): no gpu tests there, -m gpu deselects it all
    ("tests.test_gpu_backend", True),  # a module of gpu tests skipped whole hides them: a failure
    ("tests.test_no_such_module", True),  # unknown: counted
])
def test_pytest_summary_of_modules_skipped_at_collection(tmp_path, module, counted):
    skip = '<skipped type="pytest.skip" message="could not import \'zarr\'"/>'
    got = gpu_proof.junit_summary(_junit(tmp_path, [("tests.t", "test_a", ""), ("", module, skip)]))
    assert got["ok"] is not counted
    assert got["skipped"] == int(counted)
    listed = [] if counted else [f"{module}: could not import 'zarr'"]
    assert got["modules_skipped_without_gpu_tests"] == listed


def test_pytest_summary_counts_a_collection_error(tmp_path):
    err = '<error message="collection failure">ModuleNotFoundError: No module named \'zarr\'</error>'
    cases = [("tests.t", "test_a", ""), ("", "tests.test_sweep", err)]
    got = gpu_proof.junit_summary(_junit(tmp_path, cases))
    assert got["ok"] is False and got["errors"] == 1


@pytest.mark.parametrize("dtype_name, rtol", [("float64", 1e-8), ("float32", 1e-5)])
def test_ode_bound_check_rejects_a_shifted_result(dtype_name, rtol):
    import fastdyn as fd

    lam, rho = np.array([0.7, 1.3]), np.array([0.4, 0.9])
    t = np.geomspace(1e-2, 5e4, 32)
    exact = fd.trajectory(t, lam, rho, depth=5, eps=1e-3, objective="jepa")
    args = (t, lam, rho)
    kw = dict(objective="jepa", rtol=rtol, depth=5, eps=1e-3, dtype_name=dtype_name)
    assert gpu_proof.ode_time_shift_check(*args, exact, exact, **kw)["within_bound"]
    off = exact * (1 + 1000 * rtol)  # ten times the bound's 100 rtol in w, at every time
    got = gpu_proof.ode_time_shift_check(*args, off, exact, **kw)
    assert not got["within_bound"] and got["outside_bound"] > 0
