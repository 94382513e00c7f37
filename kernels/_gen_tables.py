"""Generator of the constant tables compiled into ``kernels/cuda/closed.h``.

The exact solver needs four constant tables: the binomial coefficients over j
of lemma B.6 re-expanded (integer q), a 24-point Gauss-Legendre rule and, per
MAE depth, the Chebyshev series of ``G(s) = R(s) + log(1 - s)`` on
``1/2 <= s <= 1`` (computed with mpmath from R's partial fractions over the
roots of unity) and the power series in psi of ``log(-F psi/s^2)`` on MAE's
plateau.  They are data in ``closed.h`` (hex-float literals, exact to the bit,
checked at compile time by static_asserts there); this script computes them
(MAE's series with mpmath, a test dependency: about 10 s) and writes that block::

    python3 kernels/_gen_tables.py            # rewrite the block in closed.h
    python3 kernels/_gen_tables.py --check    # exit 1 if closed.h differs

``tests/test_tables.py`` regenerates the block and compares it with the
committed header, so the data and its generator cannot drift apart.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

import mpmath as mp
import numpy as np

MAX_DEPTH = 64
GL_N = 24
HEADER = Path(__file__).resolve().parent / "cuda" / "closed.h"
BEGIN = "// BEGIN GENERATED DATA (python3 kernels/_gen_tables.py)\n"
END = "// END GENERATED DATA\n"


def binomials_over_j() -> list[float]:
    """``C(m, j)/j`` for odd ``m = 2L - 1`` (L = 1..64), j = 1..m: entry ``(L-1)^2 + j - 1``."""
    return [math.comb(2 * L - 1, j) / j for L in range(1, MAX_DEPTH + 1) for j in range(1, 2 * L)]


def gauss_legendre(n: int = GL_N) -> tuple[list[float], list[float]]:
    """Nodes and weights on [-1, 1] (numpy.polynomial.legendre.leggauss)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return [float(v) for v in x], [float(v) for v in w]


# G's series is cut where the coefficients left out sum to at most this much of
# max(1, max |G|) (R >= R(1/2) > 0.39 there, so this bounds R's relative error too)
MAE_G_TAIL = 2.0 ** -60
MAE_G_NODES = 96  # Chebyshev nodes (first kind) of the fit: more than the longest series (58)
MAE_G_DPS = 30


def mae_g_exact(n: int, s) -> mp.mpf:
    """``G(s) = R(s) + log(1 - s)``, ``R(s) = n int_0^s t/(1 - t^n) dt``, at mpmath precision.

    The partial fractions over the n-th roots of unity without the root 1 (the
    pole that ``log(1 - s)`` cancels): analytic on [1/2, 1].
    """
    s = mp.mpf(s)
    g = -mp.log1p(s) if n % 2 == 0 else mp.mpf(0)
    for k in range(1, (n - 1) // 2 + 1):
        th = 2 * mp.pi * k / n
        d = s - mp.cos(th)
        g -= mp.cos(2 * th) * mp.log(d * d + mp.sin(th) ** 2)
        g -= 2 * mp.sin(2 * th) * (mp.atan2(mp.sin(th), d) - (mp.pi - th))
    return g


@functools.lru_cache(maxsize=None)
def mae_g_chebyshev() -> tuple[tuple[float, ...], ...]:
    """Chebyshev coefficients of G in ``x = 4 s - 3`` for n = depth + 1 = 2..65.

    Interpolation at ``MAE_G_NODES`` first-kind nodes, then cut after the last
    coefficient whose tail exceeds ``MAE_G_TAIL max(1, max|G|)``: 16 terms (n = 2)
    to 58 (n = 65), since the nearest other root of unity approaches s = 1 as n grows.
    """
    with mp.workdps(MAE_G_DPS):
        nodes = MAE_G_NODES
        ang = [mp.pi * (j + mp.mpf(1) / 2) / nodes for j in range(nodes)]
        xs = [mp.cos(a) for a in ang]
        out = []
        for n in range(2, MAX_DEPTH + 2):
            fs = [mae_g_exact(n, (x + 3) / 4) for x in xs]
            c = [2 * mp.fsum(f * mp.cos(k * a) for f, a in zip(fs, ang)) / nodes for k in range(nodes)]
            c[0] /= 2
            bound = MAE_G_TAIL * max(1, max(abs(f) for f in fs))
            tail, keep = mp.mpf(0), 1
            for k in range(nodes - 1, 0, -1):
                tail += abs(c[k])
                if tail > bound:
                    keep = k + 1
                    break
            out.append(tuple(float(v) for v in c[:keep]))
        return tuple(out)


MAE_LAMBDA_TAIL = 2.0 ** -64  # absolute: chi = -(1 + log(-F)) <= -1 - (n - 2) log 2 there


@functools.lru_cache(maxsize=None)
def mae_lambda_series() -> tuple[tuple[float, ...], ...]:
    """Power series of ``Lambda(psi) = log(n/(n-2) - n psi P(psi))`` for n = 3..65.

    On MAE's plateau (``s = psi^(1/n) <= 1/2``, ``psi <= 2^-n``) ``-F = (s^2/psi) e^Lambda``
    with ``P(psi) = sum_k psi^k/(2 + k n)`` (R's series), so ``log(-F) =
    (2/n - 1) log psi + Lambda(psi)`` takes neither ``s`` nor a logarithm.  Coefficient 0 is
    ``log(n/(n-2))``; the rest are those of ``log(1 - A)``, ``A = (n-2) psi P(psi) = sum_k
    a_k psi^k``, ``a_k = (n-2)/(2 + (k-1) n)``, by the recurrence of ``(1 - A) L' = -A'``:
    ``l_k = -a_k + (1/k) sum_{j<k} (k-j) a_j l_(k-j)``.  Cut where the terms left out sum to
    at most ``MAE_LAMBDA_TAIL`` at ``psi = 2^-n``.
    """
    out = []
    with mp.workdps(MAE_G_DPS):
        for n in range(3, MAX_DEPTH + 2):
            kmax = 80
            a = [mp.mpf(0)] + [mp.mpf(n - 2) / (2 + (k - 1) * n) for k in range(1, kmax + 1)]
            ell = [mp.log(mp.mpf(n) / (n - 2))]
            for k in range(1, kmax + 1):
                ell.append(-a[k] + mp.fsum((k - j) * a[j] * ell[k - j] for j in range(1, k)) / k)
            x = mp.mpf(2) ** -n
            tail, keep = mp.mpf(0), 1
            for k in range(kmax, 0, -1):
                tail += abs(ell[k]) * x ** k
                if tail > MAE_LAMBDA_TAIL:
                    keep = k + 1
                    break
            out.append(tuple(float(v) for v in ell[:keep]))
    return tuple(out)


def _offsets(series) -> list[int]:
    """First packed index of each series, then the total."""
    off = [0]
    for c in series:
        off.append(off[-1] + len(c))
    return off


def mae_lambda_offsets() -> list[int]:
    """First packed index of n's series (n = 3..65), then the total."""
    return _offsets(mae_lambda_series())


def mae_g_offsets() -> list[int]:
    """First packed index of depth L's series (L = 1..64), then the total."""
    return _offsets(mae_g_chebyshev())


def _emit(values, per=4):
    items = [float(v).hex() for v in values]
    return " \\\n".join("    " + ", ".join(items[i:i + per]) + "," for i in range(0, len(items), per))


def _packed(name: str, series, comment: str) -> str:
    """A packed table of series: its size, its offsets (``_offsets``) and its data."""
    offsets = _offsets(series)
    rows = " \\\n".join("    " + ", ".join(str(v) for v in offsets[i:i + 12]) + ","
                         for i in range(0, len(offsets), 12))
    return (f"{comment}; {offsets[-1]} in all.\n#define FD_{name}_SIZE {offsets[-1]}\n"
            f"#define FD_DATA_{name}_OFFSET \\\n{rows}\n\n"
            f"#define FD_DATA_{name} \\\n{_emit([v for c in series for v in c])}\n")


def render() -> str:
    """The generated block of closed.h, markers included."""
    gl_x, gl_w = gauss_legendre()
    parts = [BEGIN,
             "// C(m, j)/j for odd m = 2L - 1 (L = 1..64), j = 1..m: entry (L - 1)^2 + j - 1.\n",
             f"#define FD_DATA_CJ \\\n{_emit(binomials_over_j())}\n\n"]
    parts.append(f"// {GL_N}-point Gauss-Legendre nodes and weights on [-1, 1] "
                 "(numpy.polynomial.legendre.leggauss).\n")
    parts.append(f"#define FD_DATA_GL_X \\\n{_emit(gl_x)}\n\n")
    parts.append(f"#define FD_DATA_GL_W \\\n{_emit(gl_w)}\n\n")
    parts.append(_packed("MAE_G", mae_g_chebyshev(),
                         "// MAE: Chebyshev coefficients of G(s) = R(s) + log(1 - s) in x = 4 s - 3, s in [1/2, 1],\n"
                         "// depth L = 1..64 (n = L + 1) packed"))
    parts.append("\n")
    parts.append(_packed("MAE_LAMBDA", mae_lambda_series(),
                         "// MAE's plateau: power series in psi of Lambda = log(n/(n-2) - n psi P(psi)), n = 3..65\n"
                         "// packed"))
    parts.append(END)
    return "".join(parts)


def committed(text: str) -> str:
    """The generated block as it stands in the header text."""
    i, j = text.index(BEGIN), text.index(END)
    return text[i:j + len(END)]


def main(argv: list[str]) -> int:
    text = HEADER.read_text()
    new = render()
    if argv == ["--check"]:
        if committed(text) != new:
            print(f"{HEADER}: the generated data differs from kernels/_gen_tables.py", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: python3 kernels/_gen_tables.py [--check]", file=sys.stderr)
        return 2
    HEADER.write_text(text.replace(committed(text), new))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
