"""``fastdyn bench``: the workload, the baseline, the printed table (not its timings)."""

import argparse

import numpy as np
import pytest

import fastdyn as fd
from fastdyn import _benchmark as B
from fastdyn._sweep.cli import main as cli_main


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_workload_definition(objective):
    t, lam, rho = B.workload(objective, 10_000)
    assert t.shape == (B.N_TIMES,) and lam.shape == rho.shape == (10_000,)
    assert t[0] == 1e-2
    assert t[-1] == pytest.approx(3 * fd.critical_time(0.5, 0.3, depth=B.DEPTH, eps=B.EPS,
                                                        objective=objective, method="asymptotic"))
    assert np.allclose(np.diff(np.log(t)), np.log(t[-1] / t[0]) / (B.N_TIMES - 1))
    assert 0.5 <= lam.min() and lam.max() <= 2.0 and 0.3 <= rho.min() and rho.max() <= 1.0
    t2, lam2, _ = B.workload(objective, 10_000)
    assert np.array_equal(lam, lam2)


def test_scipy_baseline_solves_the_same_problem():
    # the ratio means something only if solve_ivp integrates eq. 8 from w(0) = eps
    sol = B.run_scipy("mae", 50)
    t, lam, rho = B.workload("mae", 50)
    exact = fd.trajectory(t, lam, rho, depth=B.DEPTH, eps=B.EPS, objective="mae")
    assert np.max(np.abs(sol.y / exact - 1)) < 1e-4


def test_best_time_takes_the_minimum_after_warm_up():
    calls = []
    assert B.best_time(lambda: calls.append(1), 3) >= 0.0
    assert len(calls) == 4
    B.best_time(lambda: calls.append(1), 2, warm_up=False)
    assert len(calls) == 6


def test_measure_rows_and_ratios(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "diffrax", None)     # import diffrax raises ImportError
    assert B.diffrax_solver("mae", 10) is None
    lines = []
    rows = B.measure([300], 1, ("mae",), {"mae": 50}, out=lines.append)
    methods = [r["method"] for r in rows]
    assert methods == ["scipy solve_ivp RK45 (N=50)", "trajectory exact", "trajectory ode rtol 1e-8",
                       "critical_time exact", "advance, 100 features"]
    base = rows[0]["rate"]
    for r in rows:
        assert np.isfinite(r["rate"]) and r["rate"] > 0
    for r in rows[1:3]:
        assert r["vs_scipy"] == r["rate"] / base
    assert rows[3]["vs_scipy"] is None and rows[0]["vs_scipy"] is None
    assert all(r["vs_diffrax"] is None for r in rows)
    assert len(lines) == 1 + len(rows) and "vs scipy" in lines[0]


def test_cli_bench_prints_header_and_table(capsys):
    assert cli_main(["bench", "--sizes", "200", "--rounds", "1", "--objectives", "mae",
                     "--scipy-n", "50"]) == 0
    out = capsys.readouterr().out
    import numba
    import scipy

    assert f"fastdyn {fd.__version__}" in out and f"numpy {np.__version__}" in out
    assert f"numba {numba.__version__}" in out and f"scipy {scipy.__version__}" in out
    assert "logical cores" in out and "diffrax" in out and "torchode" in out
    assert "trajectory exact" in out and "x\n" in out


@pytest.mark.parametrize("argv, needle", [(["bench", "--sizes", "0"], "positive integer"),
                                          (["bench", "--rounds", "x"], "positive integer"),
                                          (["bench", "--objectives", "byol"], "invalid choice")])
def test_cli_bench_rejects_bad_arguments(argv, needle, capsys):
    with pytest.raises(SystemExit):
        cli_main(argv)
    assert needle in capsys.readouterr().err


def test_bench_defaults():
    from fastdyn._sweep.cli import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench"])
    assert args.sizes is None and args.rounds == 3 and args.objectives == ["jepa", "mae"]


def test_diffrax_baseline_solves_the_same_problem():
    pytest.importorskip("diffrax")
    ys = B.diffrax_solver("mae", 50)()
    t, lam, rho = B.workload("mae", 50)
    exact = fd.trajectory(t, lam, rho, depth=B.DEPTH, eps=B.EPS, objective="mae")
    assert ys.shape == (B.N_TIMES, 50)
    assert np.max(np.abs(ys.T / exact - 1)) < 1e-4
    rows = B.measure([100], 1, ("mae",), {"mae": 50}, out=lambda line: None)
    assert rows[1]["method"] == "diffrax Dopri5 (N=50)"
    assert rows[1]["vs_scipy"] == rows[1]["rate"] / rows[0]["rate"]
    for r in rows[2:4]:
        assert r["vs_diffrax"] == r["rate"] / rows[1]["rate"]
