"""GPU benchmarks (issue 3): skipped without CuPy and an NVIDIA GPU.

Run on a GPU machine: ``python3 -m pytest bench/bench_gpu.py --benchmark-enable -m gpu``.

Workload: the core issue's (depth 5, eps 1e-3, lam log-uniform [0.5, 2],
rho uniform [0.3, 1], 64 log-spaced times), on device arrays (the results
stay on the GPU; every round ends with a device synchronisation).

* exact ``trajectory``, N = 1e7 features x 64 times (target >= 1e10 feature-times/s on an H100);
* ODE ``trajectory``, N = 8.4e6, rtol 1e-8 (target <= 100 ms end to end), float64 and float32
  (float32 at rtol 1e-5: float32 cannot resolve 1e-8);
* diffrax (``jax.vmap`` over ``diffeqsolve``, Tsit5, PID controller, float64) on the same GPU
  and workload when jax and diffrax are installed (target: fastdyn >= 50x faster);
* the ratio to scipy's ``solve_ivp`` measured in the same run (bench_core's baseline).
"""

import time

import numpy as np
import pytest

import cuda_host
import fastdyn as fd
from bench_core import scipy_rate
from workload import DEPTH, EPS, N_TIMES, record, workload

pytestmark = pytest.mark.gpu

N_EXACT = 10_000_000
N_ODE = 8_400_000
N_DIFFRAX = 100_000


@pytest.fixture(scope="module")
def cp():
    return cuda_host.real_cupy_or_skip()


def _device_workload(cp, objective, n, dtype=np.float64):
    t, lam, rho = workload(objective, n)
    return (cp.asarray(t, dtype=dtype), cp.asarray(lam, dtype=dtype), cp.asarray(rho, dtype=dtype))


def _synced(cp, fn):
    def run():
        res = fn()
        cp.cuda.Device().synchronize()
        return res
    return run


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_gpu_exact_trajectory(benchmark, cp, objective):
    t, lam, rho = _device_workload(cp, objective, N_EXACT)
    run = _synced(cp, lambda: fd.trajectory(t, lam, rho, depth=DEPTH, eps=EPS, objective=objective))
    w = benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    assert w.shape == (N_EXACT, N_TIMES)
    rate = record(benchmark, "gpu trajectory exact", objective, N_EXACT, N_EXACT * N_TIMES,
                  "feature-times/s", scipy_rate(objective))
    benchmark.extra_info["target_rate"] = 1e10
    benchmark.extra_info["seconds"] = N_EXACT * N_TIMES / rate


@pytest.mark.parametrize("objective", ["jepa", "mae"])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-8), (np.float32, 1e-5)])
def test_gpu_ode_trajectory(benchmark, cp, objective, dtype, rtol):
    t, lam, rho = _device_workload(cp, objective, N_ODE, dtype)
    run = _synced(cp, lambda: fd.trajectory(t, lam, rho, depth=DEPTH, eps=EPS, objective=objective,
                                            method="ode", rtol=rtol, dtype=dtype))
    w = benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    # accuracy against the exact solution on the device, in tolerance units
    exact = fd.trajectory(t.astype(cp.float64), lam.astype(cp.float64), rho.astype(cp.float64),
                          depth=DEPTH, eps=EPS, objective=objective)
    err = float(cp.abs(w.astype(cp.float64) / exact - 1.0).max())
    benchmark.extra_info["max_rel_error"] = err
    benchmark.extra_info["ms_end_to_end"] = 1e3 * benchmark.stats.stats.min
    record(benchmark, f"gpu trajectory ode {np.dtype(dtype).name} rtol {rtol:g}", objective, N_ODE,
           N_ODE * N_TIMES, "feature-times/s", scipy_rate(objective))


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_gpu_critical_time(benchmark, cp, objective):
    _, lam, rho = _device_workload(cp, objective, N_EXACT)
    run = _synced(cp, lambda: fd.critical_time(lam, rho, depth=DEPTH, eps=EPS, objective=objective))
    benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    record(benchmark, "gpu critical_time exact", objective, N_EXACT, N_EXACT, "features/s")


def diffrax_solver(objective, n):
    """diffrax on the GPU: ``jax.vmap`` over ``diffeqsolve`` (Tsit5, PID, rtol 1e-8, float64).

    One adaptive solve per feature of the standard workload with ``n``
    features (shared with ``bench/gpu_proof.py``).  Returns ``(solve, args, (t, lam,
    rho))``: the jitted ``solve(*args)`` gives the ``(n, 64)`` weights as a JAX array
    (``solve.lower(*args).compile()`` compiles it ahead); ``t, lam, rho`` are the NumPy
    inputs.  Raises ImportError without jax or diffrax.

    JEPA is stiff for the explicit Tsit5 once a feature sits at its fixed point: the
    linearised rate there is ``-lam rho^(2L-1) / L`` (-0.4 at lam 2, rho 1), so stability
    caps the step near 9 and the fastest feature needs 1.2e6 steps (945,672 accepted,
    260,102 rejected) to reach the last time, 8.4e6; under ``vmap`` every feature
    iterates that long.  ``max_steps`` leaves room for that (the default 4096 would fail).
    """
    import os

    # JAX grabs 75% of the GPU's memory on its first use by default: CuPy shares the GPU
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import diffrax
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    t_h, lam_h, rho_h = workload(objective, n)
    a = 3.0 - (1.0 / DEPTH if objective == "jepa" else (DEPTH + 1.0) / DEPTH)
    term = diffrax.ODETerm(lambda _, w, args: args[0] * (w**a - w**3 / args[1]))
    ts = jnp.asarray(t_h)

    @jax.jit
    def solve(lam, rho):
        def one(lm, r):
            return diffrax.diffeqsolve(
                term, diffrax.Tsit5(), 0.0, ts[-1], None, EPS, args=(lm, r),
                stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-12),
                saveat=diffrax.SaveAt(ts=ts), max_steps=4_000_000).ys
        return jax.vmap(one)(lam, rho)

    return solve, (jnp.asarray(lam_h), jnp.asarray(rho_h)), (t_h, lam_h, rho_h)


@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_diffrax_same_gpu(benchmark, cp, objective):
    """diffrax on the same GPU: jax.vmap over diffeqsolve (Tsit5, PID, float64)."""
    pytest.importorskip("jax")
    pytest.importorskip("diffrax")
    solve, args, (t_h, lam_h, rho_h) = diffrax_solver(objective, N_DIFFRAX)
    solve(*args).block_until_ready()  # compile
    t0 = time.perf_counter()
    ys = solve(*args).block_until_ready()
    diffrax_rate = N_DIFFRAX * N_TIMES / (time.perf_counter() - t0)
    exact = fd.trajectory(t_h, lam_h, rho_h, depth=DEPTH, eps=EPS, objective=objective)
    benchmark.extra_info["diffrax_max_rel_error"] = float(np.max(np.abs(np.asarray(ys) / exact - 1)))
    benchmark.extra_info["diffrax_rate"] = diffrax_rate

    t, lam_d, rho_d = _device_workload(cp, objective, N_ODE)
    run = _synced(cp, lambda: fd.trajectory(t, lam_d, rho_d, depth=DEPTH, eps=EPS, objective=objective,
                                            method="ode", rtol=1e-8))
    benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    rate = record(benchmark, "gpu ode vs diffrax (ratio column: vs diffrax)", objective, N_ODE,
                  N_ODE * N_TIMES, "feature-times/s", diffrax_rate)
    benchmark.extra_info["vs_diffrax"] = rate / diffrax_rate
