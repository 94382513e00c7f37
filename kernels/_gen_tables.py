"""Generator of the constant tables compiled into ``kernels/cuda/closed.h``.

The exact solver needs three constant tables: the binomial coefficients over j
of lemma B.6 re-expanded (integer q), the roots of unity of the partial
fractions (MAE depth >= 2) and a 24-point Gauss-Legendre rule.  They are data
in ``closed.h`` (hex-float literals, exact to the bit, checked at compile time
by static_asserts there); this script computes them and writes that block::

    python3 kernels/_gen_tables.py            # rewrite the block in closed.h
    python3 kernels/_gen_tables.py --check    # exit 1 if closed.h differs

``tests/test_tables.py`` regenerates the block and compares it with the
committed header, so the data and its generator cannot drift apart.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

MAX_DEPTH = 64
GL_N = 24
HEADER = Path(__file__).resolve().parent / "cuda" / "closed.h"
BEGIN = "// BEGIN GENERATED DATA (python3 kernels/_gen_tables.py)\n"
END = "// END GENERATED DATA\n"


def binomials_over_j() -> list[float]:
    """``C(m, j)/j`` for odd ``m = 2L - 1`` (L = 1..64), j = 1..m: entry ``(L-1)^2 + j - 1``."""
    return [math.comb(2 * L - 1, j) / j for L in range(1, MAX_DEPTH + 1) for j in range(1, 2 * L)]


def roots_of_unity() -> dict[str, list[float]]:
    """cos/sin of ``theta_k = 2 pi k/n`` and of ``2 theta_k``, n = 3..65, k = 1..(n-1)/2."""
    out = {"COS1": [], "SIN1": [], "COS2": [], "SIN2": []}
    for n in range(3, MAX_DEPTH + 2):
        for k in range(1, (n - 1) // 2 + 1):
            th = 2.0 * math.pi * k / n
            out["COS1"].append(math.cos(th))
            out["SIN1"].append(math.sin(th))
            out["COS2"].append(math.cos(2 * th))
            out["SIN2"].append(math.sin(2 * th))
    return out


def gauss_legendre(n: int = GL_N) -> tuple[list[float], list[float]]:
    """Nodes and weights on [-1, 1] (numpy.polynomial.legendre.leggauss)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return [float(v) for v in x], [float(v) for v in w]


def _emit(values, per=4):
    items = [float(v).hex() for v in values]
    return " \\\n".join("    " + ", ".join(items[i:i + per]) + "," for i in range(0, len(items), per))


def render() -> str:
    """The generated block of closed.h, markers included."""
    roots = roots_of_unity()
    gl_x, gl_w = gauss_legendre()
    parts = [BEGIN,
             "// C(m, j)/j for odd m = 2L - 1 (L = 1..64), j = 1..m: entry (L - 1)^2 + j - 1.\n",
             f"#define FD_DATA_CJ \\\n{_emit(binomials_over_j())}\n\n"]
    for name, what in [("COS1", "cos(theta)"), ("SIN1", "sin(theta)"), ("COS2", "cos(2 theta)"),
                       ("SIN2", "sin(2 theta)")]:
        parts.append(f"// {what}, theta = 2 pi k / n, n = 3..65, k = 1..(n-1)/2, packed by n.\n")
        parts.append(f"#define FD_DATA_{name} \\\n{_emit(roots[name])}\n\n")
    parts.append(f"// {GL_N}-point Gauss-Legendre nodes and weights on [-1, 1] "
                 "(numpy.polynomial.legendre.leggauss).\n")
    parts.append(f"#define FD_DATA_GL_X \\\n{_emit(gl_x)}\n\n")
    parts.append(f"#define FD_DATA_GL_W \\\n{_emit(gl_w)}\n")
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
