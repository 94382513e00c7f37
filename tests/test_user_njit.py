"""Users' own ``@njit`` code calling the scalar functions of ``fastdyn.kernels``.

The scalar functions call fastdyn's CPU library by symbol, so a user's
function compiles them into its own machine code: here they are called from
``@njit`` functions (plain and ``cache=True``, the latter in fresh processes
to show that a cached user function loads and runs), with the documented
argument types, and compared with the array API.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

import fastdyn as fd
from fastdyn.kernels import (
    JEPA,
    MAE,
    SUCCESS,
    advance_weight,
    critical_time_asymptotic,
    critical_time_exact,
    fixed_point,
    rhs,
    time_between,
)

NAMES = {JEPA: "jepa", MAE: "mae"}


@njit
def user_loop(objective, depth, lam, rho, w0, dt, n_steps):
    """A user's time loop: the exact flow map step by step, and the other scalars."""
    w = w0
    worst = SUCCESS
    for _ in range(n_steps):
        w, status = advance_weight(objective, depth, lam, rho, w, dt)
        if status != SUCCESS:
            worst = status
    return (w, worst, rhs(objective, depth, w, lam, rho), fixed_point(objective, depth, rho),
            time_between(objective, depth, lam, rho, w0, w),
            critical_time_exact(objective, depth, lam, rho, w0, 0.5),
            critical_time_asymptotic(objective, depth, lam, rho, w0))


@pytest.mark.parametrize("objective", [JEPA, MAE])
@pytest.mark.parametrize("depth, lam, rho, w0", [(1, 1.0, 0.5, 1e-3), (5, 2.0, 0.9, 1e-3),
                                                 (64, 0.5, 1.01, 0.2), (3, 1.0, 0.3, 2.0)])
def test_user_njit_loop_matches_the_array_api(objective, depth, lam, rho, w0):
    dt, n_steps = 0.5, 40
    w, worst, r, fp, t_back, tc, ta = user_loop(objective, depth, lam, rho, w0, dt, n_steps)
    kw = dict(depth=depth, objective=NAMES[objective])
    assert worst == SUCCESS
    # n exact steps of dt: the trajectory at n dt (the flow map composes)
    want = fd.trajectory([n_steps * dt], lam, rho, eps=w0, **kw)[0]
    assert w == pytest.approx(want, rel=1e-12)
    assert r == fd.rhs(w, lam, rho, **kw)
    assert fp == fd.fixed_point(rho, **kw)
    assert t_back == fd.time_to_reach(w, lam, rho, eps=w0, **kw)
    # the scalar solver against the array kernel's vector path: the same to rounding
    assert tc == pytest.approx(fd.critical_time(lam, rho, eps=w0, p=0.5, **kw), rel=1e-12)
    assert ta == fd.critical_time(lam, rho, eps=w0, method="asymptotic", **kw)


def test_integer_and_float32_arguments_are_converted():
    """depth as any integer, lam/rho/w as Python ints or float32: the same results."""
    @njit
    def mixed(d):
        return (rhs(JEPA, d, np.float32(0.25), 1, np.float32(0.5)),
                fixed_point(MAE, np.int32(d), 1))

    r, fp = mixed(np.int16(3))
    assert r == fd.rhs(float(np.float32(0.25)), 1.0, 0.5, depth=3, objective="jepa")
    assert fp == 1.0


def test_the_kernels_docstring_example_runs():
    import fastdyn.kernels as k

    namespace = {}
    example = "\n".join(line[4:] for line in k.__doc__.splitlines()
                        if line.startswith((">>> ", "... ")))
    exec(compile(example, "fastdyn.kernels docstring", "exec"), namespace)
    euler, exact = namespace["euler"], namespace["exact"]
    assert abs(euler - exact) < 1e-6 * exact


USER_MODULE = textwrap.dedent('''
    import sys
    from numba import njit
    from fastdyn.kernels import JEPA, advance_weight, critical_time_exact

    @njit(cache=True)
    def step(w):
        w1, status = advance_weight(JEPA, 5, 1.0, 0.8, w, 2.0)
        return w1 + critical_time_exact(JEPA, 5, 1.0, 0.8, 1e-3, 0.5), status

    value = step(1e-3)
    print(repr(value[0]), value[1], sum(step.stats.cache_hits.values()))
''')


def test_cached_user_function_loads_in_a_fresh_process(tmp_path):
    """A user's ``cache=True`` function that calls fastdyn's scalars: compiled in one
    process, loaded from the cache in the next (the library's symbols resolve there)."""
    (tmp_path / "user_mod.py").write_text(USER_MODULE)
    env_cmd = [sys.executable, "-c", "import user_mod"]
    runs = [subprocess.run(env_cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env={**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path / "c")})
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first, second = (r.stdout.split() for r in runs)
    assert first[0] == second[0] and first[1] == second[1] == "0"
    assert first[2] == "0" and second[2] == "1"  # compiled, then loaded from the cache
