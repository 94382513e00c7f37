"""Bad input to fastdyn.models, fastdyn.train, fastdyn.analysis and the commands (issue 10).

Each case is one bad input found by trying the API as a new user would, and
the error it must now give: a ``ValueError``/``TypeError`` whose message names
the parameter in backticks, the value and, for arrays, the first bad index;
for the commands exit status 2 and one argparse-style line naming the option,
never a traceback.  (The cases that already behaved are in the modules' own
tests: ``test_models.BAD``, ``test_train.test_bad_input_names_parameter``,
``test_analysis.test_bad_input_names_parameter_value_and_index``.)
"""

from __future__ import annotations

import importlib.util
import math
import re
import types

import numpy as np
import pytest

import fastdyn.analysis as an
import fastdyn.models as fm
import fastdyn.train as tr
from fastdyn import _arrays, _benchmark, demo
from fastdyn import _cli

HAS_CUPY = importlib.util.find_spec("cupy") is not None
BIG = np.array([0, 2**63], dtype=np.uint64)      # a huge unsigned value, shown as itself


def _gauss():
    return fm.gaussian([0.5, 1.0, 2.0], [0.9, 0.6, 0.4])


def _diag():
    return (np.diag([1.0, 2.0, 3.0]), np.diag([0.5, 1.0, 1.5]))


def _train(data=None, **change):
    kw = dict(objective="jepa", depth=2, lr=0.01, steps=5)
    return tr.train(_diag() if data is None else data, **{**kw, **change})


def _sgd(sampler):
    return tr.train(sampler, objective="jepa", depth=2, lr=0.01, steps=3, batch_size=4)


def _sampler():
    return tr.gaussian_sampler(np.eye(2), np.zeros((2, 2)), np.eye(2))


RNG = np.random.default_rng(0)

MODELS = [
    ("gaussian-empty", lambda: fm.gaussian([], []), ValueError, r"`lam` must not be empty"),
    ("GaussianModel-unchecked", lambda: fm.GaussianModel([1.0], [-0.5]), ValueError,
     r"`rho` must be of the sign of `lam` \(Sxx = lam/rho > 0\); rho\[0\] = -0.5"),
    ("MaskingModel-unchecked", lambda: fm.MaskingModel([1.0, 2.0], -0.1, 0.5), ValueError,
     r"`noise_var` must be non-negative and finite; got -0.1"),
    ("TemporalModel-unchecked", lambda: fm.TemporalModel(gamma=(0.9, 1.0)), ValueError,
     r"`gamma` must be in the open interval \(-1, 1\); gamma\[1\] = 1.0"),
    ("region-huge-uint", lambda: fm.temporal([[1.0, 0.0], [0.0, 1.0]], region=BIG), ValueError,
     r"`region` must be an image index in 0..1; region\[1\] = 9223372036854775808\."),
    ("sample-n-2**62", lambda: _gauss().sample(2**62), ValueError,
     r"`n` must be at most \d+ \(the samples, 2 arrays of shape \(n, 3\) must fit in a NumPy "
     r"array\); got 4611686018427387904"),
    ("sample-n-10**30", lambda: _gauss().sample(10**30), ValueError, r"`n` must be at most \d+"),
    ("sample_sequence-length-huge", lambda: fm.temporal().sample_sequence(2**62), ValueError,
     r"`length` must be at most \d+"),
    ("gaussian-xp-string", lambda: _gauss().sample(3, xp="numpy"), TypeError,
     r"`xp` must be an array module, not a string; got 'numpy': pass the module itself"),
    ("masking-xp-string", lambda: fm.random_masking([1.0, 2.0], 0.1, 0.5).sample(3, xp="cupy"),
     TypeError, r"`xp` must be an array module, not a string; got 'cupy'"),
    ("temporal-xp-string", lambda: fm.temporal().sample(3, xp="numpy"), TypeError,
     r"`xp` must be an array module, not a string"),
    ("sample_sequence-xp-string", lambda: fm.temporal().sample_sequence(3, xp="numpy"), TypeError,
     r"`xp` must be an array module, not a string"),
    ("sample-xp-module", lambda: _gauss().sample(3, xp=math), TypeError,
     r"`xp` must be an array module such as numpy or cupy; got module 'math'"),
    ("sample-rng-float", lambda: _gauss().sample(3, rng=1.5), TypeError,
     r"`rng` must be None, an int seed or a numpy Generator; got float 1.5"),
    ("sample-rng-bool", lambda: _gauss().sample(3, rng=True), TypeError,
     r"`rng` must be None, an int seed or a numpy Generator; got bool True"),
    ("sample-contiguous-str", lambda: fm.temporal().sample(3, contiguous="yes"), TypeError,
     r"`contiguous` must be True or False; got 'yes'"),
    ("covariances-overflow", lambda: fm.empirical_covariances(np.full((2, 2), 1e200), np.ones((2, 2))),
     ValueError, r"the second moments of `x` and `y` overflow float64: sxx\[0, 0\] = inf"),
    ("lam_rho-overflow-x", lambda: fm.empirical_lam_rho(np.full((3, 2), 1e200), np.ones((3, 2)),
                                                        np.eye(2)),
     ValueError, r"the empirical moments along `basis` overflow float64: var\[0\] = inf"),
    ("lam_rho-overflow-basis", lambda: fm.empirical_lam_rho(np.ones((3, 2)), np.ones((3, 2)),
                                                            1e200 * np.eye(2)),
     ValueError, r"overflow float64: lam\[0\] = inf"),
    ("lam_rho-underflow", lambda: fm.empirical_lam_rho(np.full((3, 2), 1e-200), np.ones((3, 2)),
                                                       np.eye(2)),
     ValueError, r"`x` has zero empirical variance along basis\[:, 0\] \(or it underflows"),
    ("lam_rho-no-columns", lambda: fm.empirical_lam_rho(np.ones((3, 2)), np.ones((3, 2)),
                                                        np.ones((2, 0))),
     ValueError, r"`basis` must have shape \(d, k\) with d = 2 .*k >= 1; got shape \(2, 0\)"),
    ("lam_rho-stderr-str", lambda: fm.empirical_lam_rho(RNG.random((3, 2)), RNG.random((3, 2)),
                                                        np.eye(2), return_stderr="yes"),
     TypeError, r"`return_stderr` must be True or False; got 'yes'"),
    ("lam_rho-stderr-int", lambda: fm.empirical_lam_rho(RNG.random((3, 2)), RNG.random((3, 2)),
                                                        np.eye(2), return_stderr=0),
     TypeError, r"`return_stderr` must be True or False; got 0"),
    ("offdiagonal-normalize-str", lambda: fm.offdiagonal_error(np.eye(2), np.eye(2), normalize="yes"),
     TypeError, r"`normalize` must be True or False; got 'yes'"),
    ("offdiagonal-mean-overflows", lambda: fm.offdiagonal_error(
        np.diag([1.0, 2.0]), np.array([[0.0, 1e300], [1e300, 0.0]]), normalize=False),
     ValueError, r"the mean squared off-diagonal element of `syx` .* overflows float64"),
    ("offdiagonal-empty", lambda: fm.offdiagonal_error(np.ones((0, 0)), np.ones((0, 0))), ValueError,
     r"`sxx` must be a square matrix \(d, d\) with d >= 1; got shape \(0, 0\)"),
]

TRAIN = [
    ("seed-negative", lambda: _train(seed=-1), ValueError,
     r"`seed` must be a non-negative seed; got -1"),
    ("seed-float", lambda: _train(seed=1.5), TypeError,
     r"`seed` must be None or an int seed; got float 1.5"),
    ("seed-str", lambda: _train(seed="a"), TypeError,
     r"`seed` must be None or an int seed; got str 'a'"),
    ("seed-bool", lambda: _train(seed=True), TypeError, r"`seed` must be None or an int seed; got bool"),
    ("seed-list", lambda: _train(seed=[1, 2]), TypeError, r"`seed` must be None or an int seed; got list"),
    ("dtype-unknown", lambda: _train(dtype="foo"), TypeError,
     r"`dtype` must be float64 or float32; got 'foo'"),
    ("dtype-int", lambda: _train(dtype=1), TypeError, r"`dtype` must be float64 or float32; got 1"),
    ("depth-65", lambda: _train(depth=65), ValueError,
     r"`depth` must be at most 64 \(fastdyn's domain\); got 65"),
    ("depth-huge", lambda: _train(depth=10**30), ValueError, r"`depth` must be at most 64"),
    ("lr-list", lambda: _train(lr=[0.01]), ValueError,
     r"`lr` must be a scalar; got an array of shape \(1,\)"),
    ("lr-bool", lambda: _train(lr=True), TypeError, r"`lr` must be real-valued"),
    ("lr-ode-time-overflow", lambda: _train(lr=1e300), ValueError,
     r"`lr` and `steps` must keep the ODE time depth\*lr\*steps in fastdyn's domain"),
    ("steps-huge", lambda: _train(steps=10**30), ValueError, r"`steps` must be at most 4611686018427387904"),
    ("steps-bool", lambda: _train(steps=True), TypeError, r"`steps` must be an integer; got bool"),
    ("seeds-float", lambda: _train(seeds=2.0), TypeError, r"`seeds` must be an integer; got float 2.0"),
    ("seeds-beyond-numpy", lambda: _train(seeds=2**62), ValueError,
     r"`seeds` must be at most \d+ \(the stacked weights .* must fit in a NumPy array\)"),
    ("batch_size-beyond-numpy", lambda: tr.train(_gauss(), objective="jepa", depth=2, lr=0.01,
                                                 steps=2, batch_size=2**61),
     ValueError, r"`batch_size` must be at most \d+"),
    ("eps-above-domain", lambda: _train(eps=1e300), ValueError,
     r"`eps` must be in \[1e-30, 1000\] \(fastdyn's domain\); got 1e\+300"),
    ("eps-subnormal", lambda: _train(eps=1e-320), ValueError, r"`eps` must be in \[1e-30, 1000\]"),
    ("record-empty", lambda: _train(record=[]), ValueError, r"`record` must hold at least one step"),
    ("record-huge-uint", lambda: _train(record=BIG), ValueError,
     r"`record` must be in \[0, steps\] = \[0, 5\]; record\[1\] = 9223372036854775808\."),
    ("basis-no-columns", lambda: _train(basis=np.ones((3, 0))), ValueError,
     r"`basis` must have shape \(d, K\) = \(3, K\) with K >= 1; got shape \(3, 0\)"),
    ("init-short-tuple", lambda: _train(init=(np.eye(3),)), TypeError, r"got a tuple of length 1"),
    ("init-nan", lambda: _train(init=(np.full((2, 3, 3), np.nan), np.eye(3))), ValueError,
     r"`init\[0\]` must be finite; init\[0\]\[0, 0, 0\] = nan"),
    ("momentum-list", lambda: _train(objective="jepa-ema", momentum=[0.5]), ValueError,
     r"`momentum` must be a scalar"),
    ("ema-lag-overflow", lambda: _train(objective="jepa-ema", lr=1e290, momentum=1 - 1e-16),
     ValueError, r"`lr`, `momentum` and `depth` must give an EMA lag"),
    ("sxx-empty", lambda: _train((np.ones((0, 0)), np.ones((0, 0)))), ValueError,
     r"`sxx` must be a square matrix \(d, d\) with d >= 1; got shape \(0, 0\)"),
    ("sxx-asymmetric", lambda: _train((np.array([[1.0, 2.0], [0.0, 1.0]]), np.eye(2))), ValueError,
     r"`sxx` must be symmetric; sxx\[0, 1\] = 2.0 but sxx\[1, 0\] = 0.0"),
    ("sxx-indefinite", lambda: _train((-np.eye(2), np.eye(2))), ValueError,
     r"`sxx` must be positive semi-definite; its smallest eigenvalue is -1.0"),
    ("data.sxx-asymmetric", lambda: _train(types.SimpleNamespace(
        sxx=np.array([[1.0, 2.0], [0.0, 1.0]]), syx=np.eye(2))), ValueError,
     r"`data.sxx` must be symmetric"),
    ("sampler-wrong-shape", lambda: _sgd(lambda n, rng: (np.zeros((n, 3)), np.zeros((n, 2)))),
     ValueError, r"`data` \(a sampler\) must return x and y of shape \(4, 3\); y of sample\(4, rng\) "
                 r"has shape \(4, 2\)"),
    ("sampler-nan", lambda: _sgd(lambda n, rng: (np.full((n, 3), np.nan), np.zeros((n, 3)))),
     ValueError, r"`data` \(a sampler\) returned a minibatch at step 0 with non-finite values"),
    ("sampler-1d", lambda: _sgd(lambda n, rng: (np.zeros(n), np.zeros(n))), ValueError,
     r"x of sample\(1, rng\) has shape \(1,\)"),
    ("sampler-not-a-pair", lambda: _sgd(lambda n, rng: 3), TypeError,
     r"`data` \(a sampler\) must return a pair \(x, y\) of arrays of shape \(n, d\); got int"),
    ("sampler-wrong-n", lambda: _sgd(lambda n, rng: (np.zeros((2, 3)), np.zeros((2, 3)))),
     ValueError, r"x of sample\(1, rng\) has shape \(2, 3\)"),
    ("sampler-strings", lambda: _sgd(lambda n, rng: (np.full((n, 3), "a"), np.full((n, 3), "a"))),
     TypeError, r"`data` \(a sampler\) must return real arrays; x of sample\(1, rng\) has dtype"),
    ("ema_time-overflow", lambda: tr.ema_time(1e308, 0.9, 2), ValueError,
     r"must give an EMA lag depth\*lr\*m/\(1-m\) in fastdyn's domain \[0, 1e\+300\]; got inf"),
    ("ema_time-depth-huge", lambda: tr.ema_time(0.1, 0.5, 10**400), ValueError,
     r"`depth` must be at most 64"),
    ("ema_time-depth-65", lambda: tr.ema_time(0.1, 0.5, 65), ValueError, r"`depth` must be at most 64"),
    ("gaussian_sampler-1d", lambda: tr.gaussian_sampler(np.ones(2), np.eye(2), np.eye(2)), ValueError,
     r"`sxx` must be a square matrix \(d, d\) with d >= 1; got shape \(2,\)"),
    ("gaussian_sampler-empty", lambda: tr.gaussian_sampler(*(np.ones((0, 0)),) * 3), ValueError,
     r"`sxx` must be a square matrix .* got shape \(0, 0\)"),
    ("gaussian_sampler-scalar", lambda: tr.gaussian_sampler(1.0, 1.0, 1.0), ValueError,
     r"`sxx` must be a square matrix .* got shape \(\)"),
    ("gaussian_sampler-syx-shape", lambda: tr.gaussian_sampler(np.eye(2), np.eye(3), np.eye(2)),
     ValueError, r"`syx` must have shape \(2, 2\); got shape \(3, 3\)"),
    ("sample-n-negative", lambda: _sampler()(-1, RNG), ValueError, r"`n` must be positive; got -1"),
    ("sample-n-float", lambda: _sampler()(2.5, RNG), TypeError, r"`n` must be an integer; got float 2.5"),
    ("sample-rng-seed", lambda: _sampler()(2, 0), TypeError,
     r"`rng` must be a numpy.random.Generator or a cupy.random.Generator; got int"),
    ("sample-rng-none", lambda: _sampler()(2, None), TypeError, r"`rng` must be a numpy.random.Generator"),
]
if not HAS_CUPY:
    TRAIN.append(("backend-gpu-without-cupy", lambda: _train(backend="gpu"),
                  _arrays.GPUUnavailableError, r"the GPU backend needs CuPy: install"))

ANALYSIS = [
    ("learned_count-2d-index", lambda: an.learned_count([1.0], [[1.0, -2.0]]), ValueError,
     r"`t` must be non-negative \(inf allowed\); t\[0, 1\] = -2.0"),
    ("depth_spread-rho-index", lambda: an.depth_spread([0.5, 2000.0], depths=[2], eps=1e-3,
                                                       objective="jepa"),
     ValueError, r"`rho` must be in \[0.001, 1000\] \(fastdyn's domain\); rho\[1\] = 2000.0"),
    ("depth_spread-rho-negative", lambda: an.depth_spread([0.5, -1.0], depths=[2], eps=1e-3,
                                                          objective="jepa"),
     ValueError, r"`rho` must be in \[0.001, 1000\] \(fastdyn's domain\); rho\[1\] = -1.0"),
    ("corollary-0/0", lambda: an.corollary_ratio(0.01, 0.02, depth=5, eps=1e-3), ValueError,
     r"`rho` must give critical times t\* > 0 for corollary 3.6 .*for rho=0.01, rho_prime=0.02.*"
     r"t\*\(rho\) = 0.0: the feature starts at or above p times its fixed point"),
    ("corollary-0/x", lambda: an.corollary_ratio(0.2, 0.9, depth=5, eps=1e-3), ValueError,
     r"`rho` must give critical times t\* > 0"),
    ("corollary-x/0", lambda: an.corollary_ratio(0.9, [0.5, 0.2], depth=5, eps=1e-3), ValueError,
     r"`rho_prime` must give critical times t\* > 0 .*; at index \[1\], rho=0.9, rho_prime=0.2"),
    ("corollary-rho_prime-named", lambda: an.corollary_ratio(0.5, -1.0, depth=5, eps=1e-4), ValueError,
     r"`rho_prime` must be in \[0.001, 1000\] \(fastdyn's domain\); got -1.0"),
    ("corollary-rho_prime-nan", lambda: an.corollary_ratio(0.5, [1.0, np.nan], depth=5, eps=1e-4),
     ValueError, r"`rho_prime` must be in .*; rho_prime\[1\] = nan"),
    ("corollary-shapes", lambda: an.corollary_ratio([0.5, 0.6], [1.0, 1.0, 1.0], depth=5, eps=1e-4),
     ValueError, r"`rho` \(shape \(2,\)\), `rho_prime` \(shape \(3,\)\).* do not broadcast together"),
]

CASES = [pytest.param(call, exc, match, id=f"{module}-{name}")
         for module, table in (("models", MODELS), ("train", TRAIN), ("analysis", ANALYSIS))
         for name, call, exc, match in table]


@pytest.mark.parametrize("call, exc, match", CASES)
def test_bad_input_names_the_parameter(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------
# commands: exit status 2, one argparse-style line naming the option
# --------------------------------------------------------------------------

DEMO = "fastdyn-demo: error: argument "
COMMANDS = [
    ("demo -n 0", demo.main, ["-n", "0"], DEMO + r"-n: `n` must be at least 1000; got 0\."),
    ("demo -n 10", demo.main, ["-n", "10"], DEMO + r"-n: `n` must be at least 1000; got 10\."),
    ("demo -n huge", demo.main, ["-n", str(10**15)],
     DEMO + r"-n: `n` must be at most \d+ \(the memory of this machine"),
    ("demo --depth 0", demo.main, ["--depth", "0"], DEMO + r"--depth: `depth` must be positive; got 0\."),
    ("demo --depth 65", demo.main, ["--depth", "65"],
     DEMO + r"--depth: `depth` must be at most 64; got 65\."),
    ("demo --eps 0", demo.main, ["--eps", "0"],
     DEMO + r"--eps: `eps` must be in \[1e-30, 1000\] \(fastdyn's domain\); got 0.0\."),
    ("demo --eps nan", demo.main, ["--eps", "nan"], DEMO + r"--eps: `eps` must be in .*; got nan\."),
    ("demo --eps 1e-40", demo.main, ["--eps", "1e-40"],
     DEMO + r"--eps: `eps` must be in .*; got 1e-40\."),
    ("demo --seed -1", demo.main, ["--seed", "-1"],
     DEMO + r"--seed: `seed` must be a non-negative seed; got -1\."),
    ("bench --sizes huge", _cli.main, ["bench", "--sizes", str(10**15)],
     r"fastdyn bench: error: argument --sizes: must be at most \d+ \(1024 bytes per feature"),
    ("bench --scipy-n huge", _cli.main, ["bench", "--scipy-n", str(10**15)],
     r"fastdyn bench: error: argument --scipy-n: must be at most \d+"),
    ("bench --rounds huge", _cli.main, ["bench", "--rounds", str(10**22)],
     r"fastdyn bench: error: argument --rounds: must be at most 1000; got 10{22}"),
]
if not HAS_CUPY:
    COMMANDS.append(("figure --backend gpu without CuPy", _cli.main,
                     ["figure", "2", "--backend", "gpu", "--quick", "--quiet"],
                     r"fastdyn figure: error: --backend gpu needs CuPy and a CUDA device: the GPU "
                     r"backend needs CuPy"))


def _exit_status(main, argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


@pytest.mark.parametrize("main, argv, match", [pytest.param(m, a, r, id=i) for i, m, a, r in COMMANDS])
def test_bad_command_line_exits_2_with_one_line(main, argv, match, capsys):
    assert _exit_status(main, argv) == 2
    out, err = capsys.readouterr()
    last = err.rstrip("\n").splitlines()[-1]
    assert "Traceback" not in err and out == ""
    assert re.fullmatch(match + r".*", last), last


def test_figure_out_that_cannot_be_created_exits_2_before_computing(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    from fastdyn._figures import fig2

    monkeypatch.setattr(fig2, "data", lambda **kw: pytest.fail("computed before checking --out"))
    argv = ["figure", "2", "--quick", "--quiet", "--out", str(blocker / "sub" / "f.png")]
    assert _exit_status(_cli.main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"fastdyn figure: error: --out {blocker / 'sub' / 'f.png'}: cannot create "
                          f"the folder")


def test_figure_out_folder_gets_the_default_name(tmp_path):
    from fastdyn._figures.cli import _paths

    assert _paths(4, str(tmp_path), ["png"]) == [tmp_path / "figure4.png"]
    assert _paths(4, str(tmp_path / "new") + "/", ["svg"]) == [tmp_path / "new" / "figure4.svg"]


def test_demo_reports_undefined_statistics_instead_of_nan(capsys):
    """eps = 2 starts every feature above half its fixed point: every t* = 0, no order."""
    assert demo.main(["-n", "1000", "--eps", "2"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    assert "undefined (all times equal)" in out
    assert "no learning order to compare" in out
    assert "as the paper predicts" not in out


def test_bench_checks_run_before_any_measurement(capsys, monkeypatch):
    monkeypatch.setattr(_benchmark, "_run", lambda args: pytest.fail("measured before checking"))
    assert _exit_status(_cli.main, ["bench", "--rounds", "1001"]) == 2
    err = capsys.readouterr().err
    assert err == "fastdyn bench: error: argument --rounds: must be at most 1000; got 1001\n"
