"""Issue 16's table: the exact solver across features against the scalar path, scipy and the ODE.

One run (``pytest bench/bench_core.py bench/bench_simd.py --benchmark-enable``)
measures, at N = 1e6 features of the core workload (depth 5, eps 1e-3, 64
times), on the machine's cores:

* the exact trajectory and the exact critical time through the public API
  (the CPU library's block path, ``kernels/cuda/simd.h``: features in vector
  registers) and through the scalar path (``exact.h``'s per-feature functions
  in a ``prange`` loop, what the kernels ran before: the baseline of the same
  run), each with its ratio to scipy's ``solve_ivp`` where it is a trajectory;
* the per-feature cost of the flow map in a user's own ``@njit`` loop
  (``fastdyn.kernels.advance_batch``, every feature at its own weight; a flow
  state stepped by ``advance_state``, one solve per step), and of the scalar
  ``advance_weight_tabulated`` called per feature;
* instructions per feature-time (valgrind's callgrind, collection switched on
  only inside the library function, so the Python driver costs nothing),
  block path against scalar path: repeatable where the timings of this shared
  machine are not.  Valgrind emulates no AVX-512, so it runs the x86-64-v3
  clone (AVX2 and FMA, 4 lanes); the timings run the best clone the machine has.

The ODE rows of the table are bench_core's ``test_trajectory_ode``; the advance
per-call row is bench_core's ``test_advance_100_features``.
"""

import ast
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from numba import njit, prange

import fastdyn as fd
from fastdyn.kernels import JEPA, MAE, _inverse, advance_batch, advance_state, advance_weight_tabulated, flow_state
from fastdyn.kernels._lib import data_ptr, ext, ptr_at
from workload import DEPTH, EPS, N_TIMES, _RESULTS, record, workload

N = 1_000_000
CODE = {"jepa": JEPA, "mae": MAE}


@njit(parallel=True, cache=True)
def _scalar_trajectory(t, objective, depth, lam, rho, eps, out, status, ts, td):
    """The scalar path: exact.h's trajectory_row, one feature per iteration."""
    for i in prange(lam.shape[0]):
        status[i] = ext.trajectory_row(t.shape[0], data_ptr(t), objective, depth, lam[i], rho[i], eps,
                                       ptr_at(out, i), 1, data_ptr(ts), data_ptr(td))


@njit(parallel=True, cache=True)
def _scalar_critical(objective, depth, lam, rho, eps, p, f_star, out):
    for i in prange(lam.shape[0]):
        out[i] = ext.critical_time(objective, depth, lam[i], rho[i], eps, p, f_star)


def _scipy_rate(objective):
    from bench_core import scipy_rate

    return scipy_rate(objective)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_trajectory_exact_scalar_path(benchmark, objective):
    t, lam, rho = workload(objective, N)
    code = CODE[objective]
    ts, td = _inverse.tables_for_range(code, DEPTH, DEPTH)
    out = np.empty((N, N_TIMES))
    status = np.empty(N, dtype=np.int8)
    run = lambda: _scalar_trajectory(t, code, DEPTH, lam, rho, EPS, out, status, ts, td)
    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    # the same values as the block path, to the accuracy bound's rounding
    vec = fd.trajectory(t, lam[:20_000], rho[:20_000], depth=DEPTH, eps=EPS, objective=objective)
    benchmark.extra_info["max_rel_vs_block_path"] = float(np.max(np.abs(vec / out[:20_000] - 1)))
    record(benchmark, "trajectory exact, scalar path", objective, N, N * N_TIMES, "feature-times/s",
           _scipy_rate(objective))


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_critical_time_exact_scalar_path(benchmark, objective):
    _, lam, rho = workload(objective, N)
    code = CODE[objective]
    f_star = float(ext_level(code))
    out = np.empty(N)
    run = lambda: _scalar_critical(code, DEPTH, lam, rho, EPS, 0.5, f_star, out)
    run()
    benchmark.pedantic(run, rounds=5, iterations=1)
    record(benchmark, "critical_time exact, scalar path", objective, N, N, "features/s")


def ext_level(code):
    from fastdyn.kernels._lib import lib

    return lib.fdh_critical_level(code, DEPTH, 0.5)


# ---------------------------------------------------------------------------
# the flow map inside a user's @njit loop
# ---------------------------------------------------------------------------
@njit(cache=True)
def _user_batch_steps(objective, depth, lam, rho, w, dt, steps, status, ts, td):
    for _ in range(steps):
        advance_batch(objective, depth, lam, rho, w, dt, w, status, ts, td)


@njit(cache=True)
def _user_scalar_steps(objective, depth, lam, rho, w, dt, steps, ts, td):
    worst = 0
    for _ in range(steps):
        for i in range(w.shape[0]):
            w[i], st = advance_weight_tabulated(objective, depth[i], lam[i], rho[i], w[i], dt[i], ts, td)
            worst = max(worst, st)
    return worst


@njit(cache=True)
def _user_state_steps(objective, depth, lam, rho, state, dt, steps, out, status, ts, td):
    for _ in range(steps):
        advance_state(objective, depth, lam, rho, state, dt, out, status, ts, td)


@pytest.mark.parametrize("how", ["advance_batch", "advance_state", "advance_weight_tabulated"])
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_flow_map_in_a_users_njit_loop(benchmark, objective, how):
    """ns per feature-step of the exact flow map, every feature at its own weight (1e5 features)."""
    n, steps = 100_000, 4
    _, lam, rho = workload(objective, n)
    code = CODE[objective]
    ts, td = _inverse.flow_tables(code, DEPTH, DEPTH)
    depth = np.full(n, DEPTH, dtype=np.int64)
    rng = np.random.default_rng(1)
    w0 = fd.trajectory(np.array([1.0]), lam, rho, depth=DEPTH, eps=EPS, objective=objective)[:, 0]
    w0 = w0 * (1.0 + 1e-3 * rng.uniform(size=n))  # no two features at one weight
    dt = np.full(n, 0.5)
    status = np.zeros(n, dtype=np.int8)
    w = w0.copy()
    # advance_state: a flow state made once at w0 (its start), stepped from there
    state0 = flow_state(code, depth, lam, rho, w0, ts, td)
    state = state0.copy()
    if how == "advance_batch":
        run = lambda: _user_batch_steps(code, depth, lam, rho, w, dt, steps, status, ts, td)
    elif how == "advance_state":
        run = lambda: _user_state_steps(code, depth, lam, rho, state, dt, steps, w, status, ts, td)
    else:
        run = lambda: _user_scalar_steps(code, depth, lam, rho, w, dt, steps, ts, td)
    run()

    def setup():
        w[:] = w0
        state[:] = state0

    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    ns = benchmark.stats.stats.min / (n * steps) * 1e9
    benchmark.extra_info["ns_per_feature_step"] = ns
    _RESULTS.append((f"flow map in user @njit: {how}", objective, n, ns, "ns/feature-step", None))


# ---------------------------------------------------------------------------
# instructions per feature-time (callgrind)
# ---------------------------------------------------------------------------
# the driver: bench/simd_callgrind.cpp, the headers built with the CPU library's flags (read from
# setup.py, the one definition); callgrind counts only inside its function fd_bench_run (the
# library's exported wrappers tail-call into ifunc'd clones, which callgrind attributes badly)
DRIVER = Path(__file__).resolve().parent / "simd_callgrind.cpp"
ROOT = DRIVER.parents[1]
N_COUNTED = 2000


def library_flags():
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "UNIX_FLAGS":
            return [f for f in ast.literal_eval(node.value) if f not in ("-fvisibility=hidden", "-g0")]
    raise LookupError("UNIX_FLAGS not found in setup.py")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("no g++")
    exe = tmp_path_factory.mktemp("callgrind") / "simd_callgrind"
    subprocess.run([cxx, *library_flags(), f"-I{ROOT / 'kernels' / 'cuda'}", str(DRIVER), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


def count_instructions(driver, op, path, objective):
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=fd_bench_run",
                           "--callgrind-out-file=/dev/null", str(driver), op, str(CODE[objective]),
                           str(N_COUNTED), path], capture_output=True, text=True, check=True)
    total = int(re.search(r"Collected : (\d+)", proc.stderr).group(1))
    assert total > 0, "callgrind collected nothing inside fd_bench_run"
    return total / (N_COUNTED * (N_TIMES if op == "trajectory" else 1))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("op", ["trajectory", "critical", "advance"])
def test_instructions_block_against_scalar_path(objective, op, driver):
    unit = "instr/feature-time" if op == "trajectory" else "instr/feature"
    counts = {path: count_instructions(driver, op, path, objective) for path in ("scalar", "vector")}
    for path, c in counts.items():
        _RESULTS.append((f"{op} exact instructions, {path} (x86-64-v3)", objective, N_COUNTED, c, unit, None))
    print(f"\n{objective} {op}: {counts['scalar']:.0f} -> {counts['vector']:.0f} {unit} "
          f"({counts['scalar'] / counts['vector']:.2f}x fewer)")
