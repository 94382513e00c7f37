"""MAE's two series tables (``kernels/_gen_tables.py``, compiled into ``closed.h``) and the
functions that sum them, against mpmath references that do not use the same formulas.

* ``G(s) = R(s) + log(1 - s)`` on ``[1/2, 1]`` (Chebyshev series, ``mae_g``): against
  the integral ``int_0^s (n t/(1 - t^n) - 1/(1 - t)) dt`` by quadrature and, at ``s = 1``,
  against its closed form ``-gamma - digamma(2/n) - log n``;
* ``Lambda(psi) = log(n/(n-2) - n psi P(psi))`` on the plateau ``psi <= 2^-n`` (power
  series, ``mae_lambda``): against the logarithm of the summed series;
* the compiled ``R(s)`` above the plateau (scalar ``mae_r`` and the vector lanes'
  ``mae_r_closed``) and the plateau's ``chi`` with its two derivatives
  (``chi_growth_mae_plateau``), in units of their rounding bounds.

Every bound is a multiple of eps times the magnitudes the rounding acts on, computed from
the reference (the conditioning of each formula), not a fixed tolerance.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

from fastdyn.kernels import _gen_tables
from test_simd import P, probe, ptr

EPS = 2.0 ** -53
DPS = 40


def _clenshaw_exact(coeffs, x):
    """The stored doubles' Chebyshev sum at x, in mpmath (no rounding of ours)."""
    b1 = b2 = mp.mpf(0)
    for c in reversed(coeffs[1:]):
        b1, b2 = mp.mpf(c) + 2 * x * b1 - b2, b1
    return mp.mpf(coeffs[0]) + x * b1 - b2


def _g_by_quadrature(n, s):
    # the integrand's removable singularity at t = 1 is cancelled at 2 DPS digits
    with mp.workdps(2 * DPS):
        return mp.quad(lambda t: n * t / (1 - t ** n) - 1 / (1 - t), [0, mp.mpf(s)], method="gauss-legendre")


def _plateau_series(psi, n):
    return mp.nsum(lambda k: psi ** k / (2 + k * n), [0, mp.inf])


@pytest.mark.parametrize("n", [2, 3, 4, 6, 11, 33, 65])
def test_chebyshev_series_of_g_matches_the_integral(n):
    coeffs = _gen_tables.mae_g_chebyshev()[n - 2]
    # what the stored series can reach: half an ulp of each coefficient, plus the cut
    bound = EPS * sum(abs(c) for c in coeffs) + _gen_tables.MAE_G_TAIL * max(1.0, abs(coeffs[0]) * 2)
    with mp.workdps(DPS):
        for s in ["0.5", "0.5000001", "0.6", "0.75", "0.9", "0.99", "0.999999", "1"]:
            s = mp.mpf(s)
            want = _g_by_quadrature(n, s)
            got = _clenshaw_exact(coeffs, 4 * s - 3)
            assert abs(got - want) <= bound, (n, s, got - want, bound)


@pytest.mark.parametrize("n", [2, 3, 5, 16, 64, 65])
def test_g_at_one_is_the_digamma_limit(n):
    """G(1) = lim_{s->1} R(s) + log(1 - s) = -gamma - digamma(2/n) - log n."""
    coeffs = _gen_tables.mae_g_chebyshev()[n - 2]
    with mp.workdps(DPS):
        want = -mp.euler - mp.digamma(mp.mpf(2) / n) - mp.log(n)
        got = mp.fsum(mp.mpf(c) for c in coeffs)
        assert abs(got - want) <= EPS * sum(abs(c) for c in coeffs), (n, got - want)


@pytest.mark.parametrize("n", [3, 4, 6, 11, 33, 65])
def test_power_series_of_lambda_matches_the_logarithm(n):
    coeffs = _gen_tables.mae_lambda_series()[n - 3]
    with mp.workdps(DPS):
        for psi in mp.linspace(0, mp.mpf(2) ** -n, 9):
            want = mp.log(mp.mpf(n) / (n - 2) - n * psi * _plateau_series(psi, n))
            got = mp.fsum(mp.mpf(c) * psi ** k for k, c in enumerate(coeffs))
            bound = EPS * mp.fsum(abs(c) * psi ** k for k, c in enumerate(coeffs)) + _gen_tables.MAE_LAMBDA_TAIL
            assert abs(got - want) <= bound, (n, psi, got - want)


def _r_exact(n, s):
    """R(s) = n int_0^s t/(1 - t^n) dt above the plateau: G by quadrature minus log(1 - s)."""
    return _g_by_quadrature(n, s) - mp.log(1 - s)


@pytest.mark.parametrize("n", [3, 6, 17, 65])
def test_vector_lanes_r_within_its_rounding_bound(n):
    """mae_r_closed at s = 1 + em, em exact: |error| <= 8 eps (|G| + |log(1 - s)|)."""
    so = probe("x86-64")
    s = 1.0 - np.concatenate([np.geomspace(2.0 ** -50, 0.5 - 2.0 ** -30, 62), [2.0 ** -53, 0.25]])
    em = s - 1.0  # exact (Sterbenz): the inputs agree to the bit
    out = np.empty_like(s)
    so.probe_mae_r_lanes(n, s.size, ptr(s), ptr(em), ptr(out))
    with mp.workdps(DPS):
        for si, ei, got in zip(s, em, out):
            log_one_minus = mp.log(-mp.mpf(ei))
            want = _r_exact(n, mp.mpf(si))
            bound = 8 * EPS * (abs(want + log_one_minus) + abs(log_one_minus))
            assert abs(mp.mpf(got) - want) <= bound, (n, si)


@pytest.mark.parametrize("n", [3, 6, 17, 65])
def test_scalar_r_within_its_rounding_bound(n):
    """mae_r at sigma above the plateau, against R at the exact psi of that double sigma:
    the rounding of log psi (|lp| eps) moves s by |lp|/n eps relative, that is R by
    R'(s) s |lp|/n eps = n s^2/(1 - s^n) |lp|/n eps, beside 8 eps (|G| + |log(1 - s)|)."""
    so = probe("x86-64")
    with mp.workdps(DPS):
        s_plateau_end = mp.mpf(2) ** -n  # psi there
        sigma_lo = float(mp.log(s_plateau_end / (1 - s_plateau_end))) + 1e-9
    sigma = np.concatenate([np.linspace(sigma_lo, 5.0, 40), np.geomspace(5.0, 600.0, 24)])
    out = np.empty_like(sigma)
    so.probe_mae_r(n, sigma.size, ptr(sigma), ptr(out))
    with mp.workdps(DPS):
        for x, got in zip(sigma, out):
            # (1 - s from log psi: s itself keeps too few digits of it for sigma >> DPS)
            lp = -mp.log1p(mp.exp(-mp.mpf(x)))
            s = mp.exp(lp / n)
            log_one_minus = mp.log(-mp.expm1(lp / n))
            want = _g_by_quadrature(n, s) - log_one_minus
            one_minus_psi = -mp.expm1(lp)
            one_minus_s = -mp.expm1(lp / n)
            bound = EPS * (8 * (abs(want + log_one_minus) + abs(log_one_minus))
                           + 4 * s ** 2 / one_minus_psi * abs(lp) + 4 * abs(lp) / (n * one_minus_s) * s)
            assert abs(mp.mpf(got) - want) <= bound, (n, x, float((got - want) / bound))


@pytest.mark.parametrize("n", [3, 6, 17, 65])
def test_plateau_chi_and_derivatives_within_their_rounding_bounds(n):
    """chi_growth_mae_plateau against chi = -(1 + log(-F)) from mpmath's F = n s^2 P(psi) -
    n/(n-2) s^2/psi at the exact psi of each double sigma, chi' = F'/(-F), chi'' =
    F''/(-F) + chi'^2: chi within 8 eps (1 + |lp|) (the form's roundings act on
    (2/n - 1) log psi and Lambda), chi' within 8 eps, chi'' within 8 eps (chi'^2 + chi' (q-1))
    (its two terms nearly cancel)."""
    so = probe("x86-64")
    with mp.workdps(DPS):
        psi_end = mp.mpf(2) ** -n
        sigma_hi = float(mp.log(psi_end / (1 - psi_end))) - 1e-9
    sigma = np.concatenate([-np.geomspace(740.0, -sigma_hi + 1e-3, 40), [sigma_hi]])
    out = np.empty((sigma.size, 4))
    so.probe_mae_plateau(n, sigma.size, ptr(sigma), ptr(out))
    assert np.all(np.isfinite(out)), "every sigma here lies on the plateau"
    q = mp.mpf(2) * (n - 1) / n
    with mp.workdps(DPS):
        for x, (chi, d1, d2, _) in zip(sigma, out):
            psi = 1 / (1 + mp.exp(-mp.mpf(x)))
            s2 = psi ** (mp.mpf(2) / n)
            neg_f = mp.mpf(n) / (n - 2) * s2 / psi - n * s2 * _plateau_series(psi, n)
            fp = s2 / psi
            fpp = -fp * (q - 1) * (1 - psi)
            want_chi = -(1 + mp.log(neg_f))
            want_d1 = fp / neg_f
            want_d2 = fpp / neg_f + want_d1 ** 2
            lp = abs(mp.log(psi))
            assert abs(chi - want_chi) <= 8 * EPS * (1 + lp), (n, x, chi, want_chi)
            assert abs(d1 - want_d1) <= 8 * EPS * want_d1, (n, x)
            assert abs(d2 - want_d2) <= 8 * EPS * (want_d1 ** 2 + want_d1 * (q - 1)), (n, x)
