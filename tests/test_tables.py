"""Constant tables of the exact method are checked when defined (and the checks can fail)."""

import numpy as np
import pytest

from fastdyn.kernels import _closed


def tables():
    return [_closed._CJ, _closed._COS1, _closed._SIN1, _closed._COS2, _closed._SIN2]


def test_tables_pass_their_checks():
    _closed._check_tables(*tables())


@pytest.mark.parametrize("which, index, msg", [
    (0, (5, 2), "binomial table row 5"),
    (0, (127, 64), "binomial table row 127"),
    (1, (7, 2), "do not sum to zero"),
    (2, (9, 3), r"entry \(9, 3\)"),
    (3, (64, 10), r"entry \(64, 10\)"),
    (4, (3, 1), r"entry \(3, 1\)"),
])
def test_corrupted_table_is_rejected(which, index, msg):
    bad = [t.copy() for t in tables()]
    bad[which][index] *= 1 + 1e-9
    with pytest.raises(RuntimeError, match=msg):
        _closed._check_tables(*bad)


@pytest.mark.parametrize("degree", [0, 2, 20, 46])
def test_gauss_legendre_rule_integrates_even_monomials_exactly(degree):
    """24 nodes: exact up to degree 47 (odd degrees vanish by symmetry)."""
    assert np.dot(_closed._GL_W, _closed._GL_X**degree) == pytest.approx(2.0 / (degree + 1), rel=1e-14)
