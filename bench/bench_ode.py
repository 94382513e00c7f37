"""The adaptive integrator (kernels/cuda/ode.h) on the core workload: steps and instructions.

Timings on a shared 2-core machine move by tens of percent from run to run;
the instructions the CPU library executes per feature-time do not.  This file
counts them with ``valgrind --tool=callgrind`` (collection switched on only
inside ``ode::integrate_feature``, the per-feature function of the library, so the
Python driver costs nothing) on the first ``N_COUNTED`` features of the
workload, and reports the step counts (accepted plus rejected) beside them.
The throughput at N = 1e6 is bench_core.py's ``test_trajectory_ode``.
Skipped without valgrind.
"""

import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastdyn.kernels import _lib
from workload import DEPTH, EPS, N_TIMES, _RESULTS, workload

N_COUNTED = 500
RTOL = 1e-8
OBJECTIVE_CODE = {"jepa": 0, "mae": 1}

# the driver run under valgrind: ctypes only (no numpy import under the emulator)
_DRIVER = textwrap.dedent("""
    import array, ctypes, sys
    lib_path, data, objective, depth, eps, rtol = sys.argv[1:7]
    lib = ctypes.CDLL(lib_path)
    f = lib.fdh_ode_trajectory_row
    f.restype = ctypes.c_int8
    D, L = ctypes.c_double, ctypes.c_longlong
    f.argtypes = [L, ctypes.c_void_p, L, L, D, D, D, D, L, ctypes.c_void_p, L, ctypes.c_void_p]
    a = array.array("d")
    with open(data, "rb") as fh:
        a.frombytes(fh.read())
    nt = int(a[0]); n = int(a[1])
    t = (D * nt)(*a[2:2 + nt]); lam = a[2 + nt:2 + nt + n]; rho = a[2 + nt + n:2 + nt + 2 * n]
    out = (D * nt)(); ns = L(0); steps = 0; bad = 0
    for i in range(n):
        bad += f(nt, t, int(objective), int(depth), lam[i], rho[i], float(eps), float(rtol), 100000,
                 out, 1, ctypes.byref(ns)) != 0
        steps += ns.value
    print(steps, bad)
""")


def count_instructions(objective, n, tmp_path, rtol=RTOL):
    """(instructions per feature-time, steps per feature) of the library on n workload features."""
    t, lam, rho = workload(objective, n)
    data = tmp_path / f"{objective}.bin"
    np.concatenate([[t.size, n], t, lam, rho]).astype("<f8").tofile(data)
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    out_file = tmp_path / f"callgrind.{objective}.out"
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--toggle-collect=*ode::integrate_feature*",
         f"--callgrind-out-file={out_file}", sys.executable, str(driver), str(_lib.PATH),
         str(data), str(OBJECTIVE_CODE[objective]), str(DEPTH), repr(EPS), repr(rtol)],
        capture_output=True, text=True, check=True)
    steps, bad = (int(x) for x in proc.stdout.split())
    assert bad == 0
    totals = re.search(r"^(?:totals|summary): (\d+)", out_file.read_text(), re.M)
    return int(totals.group(1)) / (n * t.size), steps / n


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.parametrize("objective", ["jepa", "mae"])
def test_ode_instructions_per_feature_time(objective, tmp_path):
    ipft, steps = count_instructions(objective, N_COUNTED, tmp_path)
    _RESULTS.append((f"ode rtol=1e-8 instructions (N={N_COUNTED})", objective, N_COUNTED, ipft,
                     "instr/feature-time", None))
    _RESULTS.append((f"ode rtol=1e-8 steps (N={N_COUNTED})", objective, N_COUNTED, steps,
                     "steps/feature", None))
    print(f"\n{objective}: {ipft:.0f} instructions per feature-time, {steps:.1f} steps per feature "
          f"(depth {DEPTH}, eps {EPS}, {N_TIMES} times, rtol {RTOL})")
