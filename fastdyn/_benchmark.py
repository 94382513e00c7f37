"""``fastdyn bench``: the standard benchmark of ``bench/`` for a user's own machine.

Workload (the core issue's): JEPA and MAE, depth 5, ``eps = 1e-3``, ``lam``
log-uniform in [0.5, 2], ``rho`` uniform in [0.3, 1], 64 log-spaced output
times from 1e-2 to three times the largest critical time of the paper's
leading-order forms (eq. 12 / eq. 13).  ``bench/workload.py`` imports the
workload from here, so the pytest-benchmark suite and this command measure
the same thing.

Every rate is the best of a few rounds after a warm-up call (which pays the
one-off JIT compilation).  The baseline, measured in the same run, is what
users write today: ``scipy.integrate.solve_ivp`` (RK45, rtol 1e-8, atol
1e-12) on all features as one vectorized system, on a subset (its cost per
feature-time is taken as constant in N).  When diffrax (JAX) is installed,
its Dopri5 with the same tolerances on the same vectorized system is a
second baseline (compiled by a warm-up call first).  torchode has no
baseline here; the header says whether it is installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from collections.abc import Callable

import numpy as np

DEPTH = 5
EPS = 1e-3
N_TIMES = 64
SIZES = [1_000, 10_000, 100_000, 1_000_000]
SCIPY_N = {"jepa": 1_000, "mae": 10_000}
OBJECTIVES = ("jepa", "mae")


def workload(objective: str, n: int, seed: int = 0):
    """``(t, lam, rho)`` of the standard workload: ``t`` shape (64,), ``lam, rho`` shape (n,)."""
    import fastdyn as fd

    rng = np.random.default_rng(seed)
    lam = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    rho = rng.uniform(0.3, 1.0, n)
    # the largest leading-order critical time over the distribution: lam = 0.5, rho = 0.3
    t_max = 3.0 * fd.critical_time(0.5, 0.3, depth=DEPTH, eps=EPS, objective=objective,
                                   method="asymptotic")
    t = np.geomspace(1e-2, t_max, N_TIMES)
    return t, lam, rho


def scipy_problem(objective: str, n: int):
    """``(t, lam, rho, f)`` with ``f(t, w)`` the vectorized right-hand side of eq. 7 / eq. 8."""
    t, lam, rho = workload(objective, n)
    a = 3.0 - (1.0 / DEPTH if objective == "jepa" else (DEPTH + 1.0) / DEPTH)
    return t, lam, rho, (lambda _, w: lam * (w**a - w**3 / rho))


def run_scipy(objective: str, n: int):
    """solve_ivp RK45 (rtol 1e-8, atol 1e-12) on ``n`` features as one system."""
    from scipy.integrate import solve_ivp

    t, _, _, f = scipy_problem(objective, n)
    sol = solve_ivp(f, (0.0, t[-1]), np.full(n, EPS), method="RK45", t_eval=t, rtol=1e-8, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol


def diffrax_solver(objective: str, n: int):
    """A jitted diffrax Dopri5 solve (rtol 1e-8, atol 1e-12) of the subset, or None.

    The same problem as :func:`run_scipy`: all ``n`` features as one
    vectorized system, one adaptive step size for all.  Returns a
    zero-argument callable giving the ``(64, n)`` solution, or None when
    diffrax is not installed.
    """
    try:
        import diffrax
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    t, lam, rho, _ = scipy_problem(objective, n)
    a = 3.0 - (1.0 / DEPTH if objective == "jepa" else (DEPTH + 1.0) / DEPTH)
    term = diffrax.ODETerm(lambda _, w, args: args[0] * (w**a - w**3 / args[1]))
    ts = jnp.asarray(t)

    @jax.jit
    def solve(lam, rho):
        sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), 0.0, float(t[-1]), None, jnp.full(n, EPS),
                                  args=(lam, rho), saveat=diffrax.SaveAt(ts=ts),
                                  stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-12),
                                  max_steps=2**20)
        return sol.ys

    lam_j, rho_j = jnp.asarray(lam), jnp.asarray(rho)
    return lambda: np.asarray(solve(lam_j, rho_j).block_until_ready())


def best_time(fn: Callable[[], object], rounds: int, warm_up: bool = True) -> float:
    """Smallest wall-clock time of ``rounds`` calls of ``fn`` (after one warm-up call)."""
    if warm_up:
        fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def header() -> list[str]:
    """Machine and versions."""
    import numba

    import fastdyn

    return [
        f"machine: {_cpu_model()}, {os.cpu_count()} logical cores, {platform.platform()}",
        f"numba threads: {numba.get_num_threads()}",
        f"versions: fastdyn {fastdyn.__version__}, python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {_version('scipy')}, numba {numba.__version__}",
        f"other solvers: diffrax {_version('diffrax')} (baseline when installed), "
        f"torchode {_version('torchode')} (no baseline)",
    ]


def measure(sizes: list[int], rounds: int, objectives=OBJECTIVES, scipy_n=None, out=print) -> list[dict]:
    """Run the benchmark; print and return one record per (method, objective, N)."""
    import fastdyn as fd

    scipy_n = dict(SCIPY_N if scipy_n is None else scipy_n)
    rows = []
    out(f"{'method':34s} {'objective':9s} {'N':>9s} {'rate':>11s}  {'unit':18s} {'vs scipy':>9s}"
        f" {'vs diffrax':>10s}")

    def emit(method, objective, n, rate, unit, base, dfx_base=None):
        ratio = rate / base if base else None
        dratio = rate / dfx_base if dfx_base else None
        rows.append(dict(method=method, objective=objective, n=n, rate=rate, unit=unit, vs_scipy=ratio,
                         vs_diffrax=dratio))
        r = f"{ratio:8.1f}x" if ratio is not None else ""
        d = f"{dratio:9.1f}x" if dratio is not None else ""
        out(f"{method:34s} {objective:9s} {n:9d} {rate:11.3e}  {unit:18s} {r:>9s} {d:>10s}")

    for objective in objectives:
        ns = scipy_n[objective]
        # pure Python/NumPy: nothing to compile, so no warm-up call (it would double the
        # longest part of the benchmark)
        sec = best_time(lambda: run_scipy(objective, ns), 1, warm_up=False)
        base = ns * N_TIMES / sec
        emit(f"scipy solve_ivp RK45 (N={ns})", objective, ns, base, "feature-times/s", None)
        dfx = diffrax_solver(objective, ns)
        dfx_base = None
        if dfx is not None:
            dfx_base = ns * N_TIMES / best_time(dfx, rounds)
            emit(f"diffrax Dopri5 (N={ns})", objective, ns, dfx_base, "feature-times/s", base)
        for n in sizes:
            t, lam, rho = workload(objective, n)
            w = np.empty((n, N_TIMES))
            kw = dict(depth=DEPTH, eps=EPS, objective=objective)
            sec = best_time(lambda: fd.trajectory(t, lam, rho, out=w, **kw), rounds)
            emit("trajectory exact", objective, n, n * N_TIMES / sec, "feature-times/s", base,
                 dfx_base)
            sec = best_time(lambda: fd.trajectory(t, lam, rho, out=w, method="ode", rtol=1e-8, **kw),
                            rounds)
            emit("trajectory ode rtol 1e-8", objective, n, n * N_TIMES / sec, "feature-times/s", base,
                 dfx_base)
            sec = best_time(lambda: fd.critical_time(lam, rho, **kw), rounds)
            emit("critical_time exact", objective, n, n / sec, "features/s", None)
        t, lam, rho = workload(objective, 100)
        w0 = fd.trajectory(t[:1], lam, rho, depth=DEPTH, eps=EPS, objective=objective)[:, 0]
        reps = 200
        sec = best_time(lambda: [fd.advance(w0, 0.5, lam, rho, depth=DEPTH, objective=objective)
                                 for _ in range(reps)], rounds)
        emit("advance, 100 features", objective, 100, reps / sec, "calls/s", None)
    return rows


#: bytes per feature a benchmark case holds (64 float64 output times, parameters, statuses)
BYTES_PER_FEATURE = 1024
#: more timed rounds than this are a typo (each round of the full benchmark takes minutes)
MAX_ROUNDS = 1000


def _check(args) -> str | None:
    """The first bad option of ``args`` as an argparse-style message, or None.

    The parser checks that the numbers are positive integers; what it cannot
    know is checked here: sizes the machine's memory cannot hold (a
    MemoryError traceback otherwise) and an absurd number of rounds.
    """
    from ._cli import physical_memory

    mem = physical_memory()
    if mem is not None:
        most = mem // BYTES_PER_FEATURE
        for option, values in (("--sizes", args.sizes or []), ("--scipy-n", [args.scipy_n or 0])):
            for n in values:
                if n > most:
                    return (f"argument {option}: must be at most {most} ({BYTES_PER_FEATURE} "
                            f"bytes per feature; this machine has {mem / 2**30:.0f} GiB of "
                            f"memory); got {n}")
    if args.rounds > MAX_ROUNDS:
        return f"argument --rounds: must be at most {MAX_ROUNDS}; got {args.rounds}"
    return None


def main(args) -> int:
    """Entry point of ``fastdyn bench`` (namespace: sizes, rounds, objectives, quick, scipy_n)."""
    from ._cli import error

    bad = _check(args)
    if bad is not None:
        return error("fastdyn bench", bad)
    try:
        return _run(args)
    except MemoryError as exc:  # the machine's memory, not the input: one line, exit 1
        return error("fastdyn bench", f"out of memory: {exc}", status=1)


def _run(args) -> int:
    sizes = list(args.sizes) if args.sizes else ([1_000, 100_000] if args.quick else SIZES)
    # solve_ivp's cost is set by its step count (the stiffest feature), nearly
    # independent of N at these sizes: a smaller subset would not be quicker
    scipy_n = {o: args.scipy_n or SCIPY_N[o] for o in OBJECTIVES}
    print("fastdyn bench: workload depth 5, eps 1e-3, 64 log-spaced times, lam log-uniform [0.5, 2], "
          "rho uniform [0.3, 1]")
    for line in header():
        print(line)
    print("baseline: scipy solve_ivp RK45 rtol 1e-8 atol 1e-12, one vectorized system on a subset, "
          "measured in this run; rates are the best of "
          f"{args.rounds} round(s) after a warm-up call")
    measure(sizes, args.rounds, tuple(args.objectives), scipy_n)
    return 0
