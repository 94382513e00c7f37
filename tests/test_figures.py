"""The paper's figures: each figure's claim asserted numerically from the data behind it.

Claims are checked on ``figN.data(quick=True)`` (seconds each); full-size
runs of every figure are marked ``slow``.  Orders come from critical times via
:mod:`fastdyn.analysis`, never from pixels.
"""

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastdyn as fd
from fastdyn import analysis as an
from fastdyn._figures import cli

ROOT = Path(__file__).resolve().parents[1]


def _fig(n):
    return importlib.import_module(f"fastdyn._figures.fig{n}")


def _data(n, quick=True):
    # each figure's data once per test session
    key = (n, quick)
    if key not in _CACHE:
        _CACHE[key] = _fig(n).data(quick=quick)
    return _CACHE[key]


_CACHE: dict = {}


# ---------------------------------------------------------------------------
# figure 2: greedy in lam for both, in rho only for JEPA, inversion in (c, f)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("objective", [0, 1], ids=["jepa", "mae"])
def test_fig2_both_objectives_are_greedy_in_lam(objective):
    d = _data(2)
    t = d["tstar"][objective, 0]  # panel (a)/(d): rho = 1, lam rising
    res = an.compare_orders(t, 1.0 / d["lam"][0])
    assert (res.tau, res.inverted_fraction) == (1.0, 0.0)  # higher lam strictly first


def test_fig2_only_jepa_is_greedy_in_rho():
    d = _data(2)
    tj, tm = d["tstar"][0, 1], d["tstar"][1, 1]  # panel (b)/(e): lam = 1, rho rising
    assert an.compare_orders(tj, 1.0 / d["rho"][1]).tau == 1.0
    spread_j, spread_m = tj.max() / tj.min() - 1, tm.max() / tm.min() - 1
    assert spread_j > 0.5 and spread_m < 1e-3  # MAE: the same time scale for every rho


def test_fig2_jepa_inverts_mae_order_when_lam_and_rho_have_opposite_trends():
    d = _data(2)
    tj, tm = d["tstar"][0, 2], d["tstar"][1, 2]
    assert an.compare_orders(tj, tm).inverted_fraction == 1.0
    assert an.compare_orders(tj, 1.0 / d["rho"][2]).tau == 1.0  # JEPA by rho
    assert an.compare_orders(tm, 1.0 / d["lam"][2]).tau == 1.0  # MAE by lam


def test_fig2_dots_lie_on_the_curves():
    # the dots (critical_time, closed form at psi*) lie on the curves (trajectory,
    # inverse of the closed form): w(t*) = p w(inf); curves end at the fixed point
    import fastdyn as fd

    d = _data(2)
    for i, obj in enumerate(("jepa", "mae")):
        for j in range(3):
            w = fd.trajectory(np.sort(d["tstar"][i, j]), d["lam"][j], d["rho"][j], depth=5,
                              eps=1e-3, objective=obj)
            order = np.argsort(d["tstar"][i, j])
            on = w[np.arange(w.shape[0]), np.argsort(order)]
            np.testing.assert_allclose(on, 0.5 * d["fixed"][i, j], rtol=1e-8)
    np.testing.assert_allclose(d["w"][..., -1], d["fixed"], rtol=1e-3)


# ---------------------------------------------------------------------------
# figure 4: spread grows with depth for JEPA, not for MAE
# ---------------------------------------------------------------------------


def test_fig4_jepa_spread_grows_with_depth():
    d = _data(4)
    assert np.all(np.diff(d["spread"][0]) > 0)
    assert d["spread"][0, -1] > 10 * d["spread"][0, 0]


def test_fig4_mae_learns_all_rho_at_nearly_the_same_time_at_every_depth():
    d = _data(4)
    assert np.all(d["spread"][1] < 5e-3)
    assert np.all(d["spread"][1] <= d["spread"][1, 0])  # no growth beyond the shallowest
    assert np.all(d["spread"][0, 1:] > 100 * d["spread"][1, 1:])


def test_fig4_spread_matches_the_plotted_critical_times_and_eq14():
    d = _data(4)
    t = d["tstar"]
    np.testing.assert_allclose(d["spread"], t.max(axis=2) / t.min(axis=2) - 1, rtol=1e-12)
    # eq. 14 is the leading order of a series of positive terms (eq. 12): it
    # underestimates, closely at L = 2 where eps^(1/L) = 0.01 is small
    rel = np.abs((d["exact"][0] - 1) / (d["predicted"][0] - 1) - 1)
    assert np.all(d["exact"][0] > d["predicted"][0]) and np.all(d["predicted"][0] > 1)
    assert rel[0] < 0.05


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def _parse(argv):
    p = argparse.ArgumentParser(prog="fastdyn")
    cli.add_parser(p.add_subparsers(dest="command"))
    return p.parse_args(argv)


@pytest.mark.parametrize("argv,formats", [
    (["figure", "2"], ["png"]),
    (["figure", "2", "--format", "pdf,svg"], ["pdf", "svg"]),
    (["figure", "2", "--format", "png", "--format", "svg"], ["png", "svg"]),
])
def test_cli_formats(argv, formats):
    assert cli._formats(_parse(argv).format) == formats


@pytest.mark.parametrize("out,expected", [
    (None, ["figure4.png", "figure4.svg"]),
    ("x/fig.png", ["x/fig.png", "x/fig.svg"]),
    ("x/fig", ["x/fig.png", "x/fig.svg"]),
])
def test_cli_output_paths(out, expected):
    assert [str(p) for p in cli._paths(4, out, ["png", "svg"])] == expected


@pytest.mark.parametrize("argv", [["figure", "8"], ["figure", "2", "--backend", "tpu"]])
def test_cli_rejects_bad_arguments(argv):
    with pytest.raises(SystemExit):
        _parse(argv)


def test_cli_rejects_bad_format(capsys):
    assert _parse(["figure", "2", "--format", "jpg"]).func(
        _parse(["figure", "2", "--format", "jpg", "--quiet"])) == 2
    assert "--format must be one of png, pdf, svg; got 'jpg'" in capsys.readouterr().err


def test_cli_writes_png_and_svg(tmp_path):
    args = _parse(["figure", "4", "--out", str(tmp_path / "f4.png"), "--format", "png,svg",
                   "--quick", "--quiet"])
    assert args.func(args) == 0
    png, svg = tmp_path / "f4.png", tmp_path / "f4.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:2000]


def test_cli_gpu_backend_without_device_fails_clearly(capsys):
    try:
        import cupy

        cupy.zeros(1).sum().item()
        pytest.skip("a CUDA device is present")
    except ImportError:
        pass
    except Exception:
        pass
    args = _parse(["figure", "2", "--backend", "gpu", "--quick", "--quiet"])
    assert args.func(args) == 2  # one line, exit status 2, no traceback
    err = capsys.readouterr().err
    assert err.startswith("fastdyn figure: error: --backend gpu needs CuPy and a CUDA device")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_figure_command_does_not_import_matplotlib_until_it_runs():
    code = ("import sys; from fastdyn._figures import cli; "
            "assert 'matplotlib' not in sys.modules and 'tqdm' not in sys.modules")
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# ---------------------------------------------------------------------------
# full-size runs
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_full_size_figure_renders(n, tmp_path):
    mod = _fig(n)
    d = mod.data(quick=False)
    written = mod.plot(d, [tmp_path / f"fig{n}.png"])
    assert Path(written[0]).stat().st_size > 10_000


# ---------------------------------------------------------------------------
# figure 3: eq. 16 within the simulation's 2-standard-deviation bands
# figure 6: the off-diagonal error falls with T
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lam", "rho"])
def test_fig3_theory_lies_within_the_simulation_bands(name):
    d = _data(3)
    est = d[f"{name}_hat"]  # (lengths, runs, features)
    mean, sd = est.mean(axis=1), est.std(axis=1, ddof=1)
    assert np.all(np.abs(mean - d[name]) <= 2 * sd)
    assert np.all(sd[-1] < sd[0])  # the bands narrow as T grows


def test_fig3_lam_falls_and_rho_rises_from_feature_1_to_2():
    d = _data(3)
    assert d["lam"][0] > d["lam"][1] and d["rho"][0] < d["rho"][1]
    est = d["rho_hat"][-1].mean(axis=0)
    assert est[0] < est[1]


def test_fig6_offdiagonal_error_falls_with_T():
    d = _data(6)
    mean = d["error"].mean(axis=1)
    slope = np.polyfit(np.log(d["T"]), np.log(mean), 1)[0]
    assert slope < -0.7  # about T^-1 for the mean squared off-diagonal element
    assert mean[-1] < mean[0] / 10


# --------------------------------------------------------------------------
# figure 7 (beyond the paper): finite learning rate and unbalanced starts
# --------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_fig7_small_learning_rates_keep_the_flow_order(objective):
    d = _data(7)
    tau = d["tau_flow"][objective]
    assert tau[0] > 0.99  # lr = 0.05 lr_max: the flow's order
    assert np.all(np.diff(tau) < 0)  # and it degrades as lr grows
    assert tau[-1] > 0.9  # measured: even 1.5 lr_max keeps most of it


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_fig7_imbalance_degrades_the_order_more_than_lr(objective):
    d = _data(7)
    imb = d["tau_imbalance"][objective]
    assert np.all(imb[:, 0] > 0.99)  # delta = 0 is the balanced start
    assert np.all(np.diff(imb, axis=1) < 0)
    assert np.all(imb[:, -1] < 0.7)  # measured: delta = 0.4 loses most of the order


def test_fig7_jepa_favours_rho_more_than_mae_at_every_learning_rate():
    d = _data(7)
    assert np.all(d["tau_rho"]["jepa"] > d["tau_rho"]["mae"] + 0.1)
    assert np.all(d["tau_lam"]["mae"] > d["tau_lam"]["jepa"])
    # and at small lr the measured taus are the theory's own
    for o in ("jepa", "mae"):
        assert abs(d["tau_rho"][o][0] - d["tau_flow_rho"][o]) < 0.01


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_fig7_lr_max_is_the_smallest_derived_threshold(objective):
    """lr_max comes from fd.gd_stable_lr (one source), equal to the threshold written out."""
    from fastdyn._figures import fig7

    d = _data(7)
    lam, rho, _ = fig7.features(d["n"], fig7.PARAMS["seed"])
    L = d["depth"]
    if objective == "jepa":
        want = 2.0 / (lam * rho ** (2 * L - 1))
    else:
        want = 2.0 / ((L + 1) * lam * rho ** ((L - 1) / (L + 1)))
    assert d["lr_max"][objective] == pytest.approx(want.min(), rel=1e-14)
    assert d["lr_max"][objective] == fd.gd_stable_lr(lam, rho, depth=L, objective=objective).min()


def test_fig7_cli_refuses_the_gpu(capsys):
    args = _parse(["figure", "7", "--backend", "gpu", "--quick", "--quiet"])
    assert args.func(args) == 2
    assert "figure 7 runs on CPU only" in capsys.readouterr().err
