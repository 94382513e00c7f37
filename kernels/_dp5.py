"""Dormand-Prince 5(4) entries as scalar compile-time constants for the @njit steppers.

One source: the arrays of :mod:`._tableau`, checked there when defined.  Numba
folds module-level floats into the compiled code, so the stepper bodies of
``_ode`` and ``_ema`` read like the textbook formulas.
"""

from ._tableau import A as _A
from ._tableau import B5 as _B
from ._tableau import C as _C
from ._tableau import E as _E
from ._tableau import P as _P

C2, C3, C4, C5, C6 = (float(_C[i]) for i in range(1, 6))
A21 = float(_A[1, 0])
A31, A32 = float(_A[2, 0]), float(_A[2, 1])
A41, A42, A43 = float(_A[3, 0]), float(_A[3, 1]), float(_A[3, 2])
A51, A52, A53, A54 = (float(_A[4, i]) for i in range(4))
A61, A62, A63, A64, A65 = (float(_A[5, i]) for i in range(5))
B1, B2, B3, B4, B5, B6 = (float(_B[i]) for i in range(6))   # B5[6] = 0: FSAL
E1, E2, E3, E4, E5, E6, E7 = (float(_E[i]) for i in range(7))
P10, P11, P12, P13 = (float(_P[0, j]) for j in range(4))
P20, P21, P22, P23 = (float(_P[1, j]) for j in range(4))
P30, P31, P32, P33 = (float(_P[2, j]) for j in range(4))
P40, P41, P42, P43 = (float(_P[3, j]) for j in range(4))
P50, P51, P52, P53 = (float(_P[4, j]) for j in range(4))
P60, P61, P62, P63 = (float(_P[5, j]) for j in range(4))
P70, P71, P72, P73 = (float(_P[6, j]) for j in range(4))

__all__ = [n for n in dir() if n[0] in "ABCEP" and n[1:].isdigit()]
