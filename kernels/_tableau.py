"""Dormand-Prince 5(4) tableau with Shampine's continuous extension, as data.

Seven stages in FSAL form (Dormand & Prince 1980): the seventh stage is
evaluated at the fifth-order solution, so its row of ``A`` equals ``B5`` and
it serves as the first stage of the next step.

    C    nodes, shape (7,)
    A    stage coefficients, shape (7, 7), strictly lower triangular
    B5   fifth-order weights (the solution that is propagated), shape (7,)
    B4   embedded fourth-order weights, shape (7,)
    E    error weights ``B5 - B4``: ``h * sum(E * k)`` estimates the local error
         of the fourth-order solution, shape (7,)
    P    dense output (Shampine 1986, the coefficients scipy's RK45 uses, with
         the optimal c_6 choice): ``y(t + theta h) = y + h * sum_i k_i *
         sum_j P[i, j] theta**(j + 1)``, a fourth-order continuous extension,
         shape (7, 4)

Every value is a quotient of integers, which Python rounds correctly to the
nearest float64.  The arrays are checked when this module is imported
(:func:`_check_tableau`); a broken table raises ``RuntimeError`` at import.
Compiled code reads the entries as constants (Numba freezes global arrays).
"""

import math

import numpy as np

C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0], dtype=np.float64)

A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0, 0.0, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0.0, 0.0],
        [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0],
    ],
    dtype=np.float64,
)

B5 = np.array(
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0],
    dtype=np.float64,
)

B4 = np.array(
    [5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40],
    dtype=np.float64,
)

# B5 - B4 written out exactly (not as a difference of rounded floats).
E = np.array(
    [71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40],
    dtype=np.float64,
)

P = np.array(
    [
        [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608,
         -12715105075 / 11282082432],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933,
         87487479700 / 32700410799],
        [0.0, -1754552775 / 470086768, 14199869525 / 1410260304,
         -10690763975 / 1880347072],
        [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408,
         701980252875 / 199316789632],
        [0.0, -282668133 / 205662961, 2019193451 / 616988883,
         -1453857185 / 822651844],
        [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ],
    dtype=np.float64,
)

#: classical order of the propagated solution and of the error estimator
ORDER = 5
ERROR_ORDER = 4

# Tolerance of the checks: sums of at most seven terms of size < 13, each
# correctly rounded, stay within a few units in the last place of 13.
_TOL = 1e-14


def _close(x, y):
    return abs(x - y) <= _TOL * max(1.0, abs(y))


def _check_tableau():
    """Raise RuntimeError unless the table is a consistent DP5(4) pair.

    Checks: shapes and dtype; ``A`` strictly lower triangular; row sums of
    ``A`` equal ``C``; FSAL (last row of ``A`` is ``B5``, last node 1);
    ``E == B5 - B4``; the quadrature order conditions ``sum b c**(k-1) = 1/k``
    (k = 1..5 for B5, k = 1..4 for B4, so sum(B5) == sum(B4) == 1); the dense
    output vanishes at theta = 0 (no constant term), reproduces ``B5`` at
    theta = 1, and satisfies its own quadrature conditions
    ``sum_i b_i(theta) c_i**(k-1) = theta**k / k`` for k = 1..4.
    """
    n = 7
    for name, arr, shape in (("C", C, (n,)), ("A", A, (n, n)), ("B5", B5, (n,)),
                             ("B4", B4, (n,)), ("E", E, (n,)), ("P", P, (n, 4))):
        if arr.shape != shape or arr.dtype != np.float64:
            raise RuntimeError(f"DP5 tableau: {name} has shape {arr.shape}, dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise RuntimeError(f"DP5 tableau: {name} is not finite")
    if np.any(np.triu(A) != 0.0):
        raise RuntimeError("DP5 tableau: A is not strictly lower triangular")
    for i in range(n):
        if not _close(math.fsum(A[i]), C[i]):
            raise RuntimeError(f"DP5 tableau: row {i} of A does not sum to C[{i}]")
    if C[n - 1] != 1.0 or np.any(A[n - 1] != B5):
        raise RuntimeError("DP5 tableau: last stage is not FSAL (A[6] != B5)")
    for i in range(n):
        if not _close(E[i], B5[i] - B4[i]):
            raise RuntimeError(f"DP5 tableau: E[{i}] != B5[{i}] - B4[{i}]")
    if not _close(math.fsum(B5), 1.0):
        raise RuntimeError("DP5 tableau: sum(B5) != 1")
    if not _close(math.fsum(B4), 1.0):
        raise RuntimeError("DP5 tableau: sum(B4) != 1")
    for weights, order, name in ((B5, 5, "B5"), (B4, 4, "B4")):
        for k in range(1, order + 1):
            s = math.fsum(weights[i] * C[i] ** (k - 1) for i in range(n))
            if not _close(s, 1.0 / k):
                raise RuntimeError(f"DP5 tableau: {name} fails sum b c^{k - 1} = 1/{k}")
    # dense output b_i(theta) = sum_j P[i, j] theta**(j + 1): b_i(0) = 0 holds
    # by construction (no constant column); at theta = 1 it must give B5.
    for i in range(n):
        if not _close(math.fsum(P[i]), B5[i]):
            raise RuntimeError(f"DP5 tableau: dense output row {i} does not give B5 at theta=1")
    for k in range(1, 5):
        for j in range(4):
            s = math.fsum(P[i, j] * C[i] ** (k - 1) for i in range(n))
            want = 1.0 / k if j + 1 == k else 0.0
            if not _close(s, want):
                raise RuntimeError(
                    f"DP5 tableau: dense output fails its order-{k} quadrature condition"
                )


_check_tableau()
