// Precomputed inverse of the time coordinate F: seed from the per-depth table,
// one Halley step, bracketed fallback.
//
// F depends on q alone (not on the feature), so its inverse is tabulated once
// per (objective, depth) and reused for every feature and every time.  The
// table stores sigma against a target variable in which the inverse is
// asymptotically linear at both ends:
//
// * growth: chi = F for F >= -1 and chi = -(1 + log(-F)) below
//   (plateau: -F ~ e^(-M sigma)/M, so sigma ~ (chi + 1 - log M)/M);
// * decay: chi = H - 1 for H >= 1 and chi = log H below.
//
// chi is continuous with a continuous first derivative; the junction (chi = -1
// resp. 0) is a knot, so the piecewise cubic Hermite table (exact derivatives
// dsigma/dchi = 1/(dchi/dsigma), spacing 1/16 on [-40, 40]) interpolates smooth
// pieces only and seeds sigma to ~1e-8.  One Halley step on chi(F(sigma)) - chi_T
// (cubic convergence) then reaches rounding level; outside the table, or if the
// step is not small, the bracketed solver of closed.h takes over.
//
// The host builds the tables (build_inverse_row, through the CPU library:
// fastdyn.kernels._inverse.tables_for, lazily per depth) and both backends read
// them as flat arrays of shape (2, 2 * MAX_DEPTH, N_KNOTS), C order:
// [branch (0 growth, 1 decay), objective * 64 + depth - 1, knot].
// A null tab_sigma means "no table": the bracketed solver alone.
#pragma once

#include "closed.h"
#include "config.h"
#include "family.h"

namespace fastdyn {

constexpr double CHI_MIN = -40.0;
constexpr int KNOTS_PER_UNIT = 16;
constexpr int N_KNOTS = 1281;  // int(-2 CHI_MIN KNOTS_PER_UNIT) + 1
constexpr double KNOT_H = 1.0 / KNOTS_PER_UNIT;
static_assert(N_KNOTS == int(-2 * CHI_MIN * KNOTS_PER_UNIT) + 1, "table size");

struct ChiDerivs {  // chi(F(sigma)), d chi/d sigma, d2 chi/d sigma2, log psi
    double chi;
    double d1;
    double d2;
    double lp;
};

/// chi and derivatives on the growth branch for integer q = m + 1 (five
/// transcendental calls): F = sigma - Poly(y), F' = (1 + y)^m, F'' = -m F' (1 - psi).
FD_HD ChiDerivs chi_growth_integer(double sigma, int m) {
    const double dm = double(m);
    double lp, one_minus_psi, d1, log_poly, log_d1;
    if (sigma >= 0.0) {
        const double y = fd_exp(-sigma);
        const double l1 = fd_log1p(y);
        lp = -l1;
        one_minus_psi = y / (1.0 + y);
        d1 = fd_exp(dm * l1);
        double h = cj(m, m);
        for (int j = m - 1; j > 0; --j) h = h * y + cj(m, j);
        log_poly = fd_log(h) - sigma;
        log_d1 = dm * l1;
    } else {
        const double e = fd_exp(sigma);  // 1/y
        const double l1 = fd_log1p(e);
        lp = sigma - l1;
        one_minus_psi = 1.0 / (1.0 + e);
        double h = cj(m, 1);
        for (int j = 2; j <= m; ++j) h = h * e + cj(m, j);
        if (double(-m) * sigma < 700.0) {
            // plain arithmetic: Poly = h y^m, F' = (1 + e)^m y^m, y^m = e^(-m sigma)
            const double ym = fd_exp(double(-m) * sigma);
            d1 = fd_exp(dm * l1) * ym;
            const double neg_f = h * ym - sigma;
            if (neg_f <= 1.0) return {-neg_f, d1, -d1 * dm * one_minus_psi, lp};
            const double g1 = d1 / neg_f;
            return {-(1.0 + fd_log(neg_f)), g1, -g1 * dm * one_minus_psi + g1 * g1, lp};
        }
        log_d1 = dm * (l1 - sigma);
        log_poly = fd_log(h) - dm * sigma;
        d1 = fd_inf<double>();
    }
    double lnf;
    if (log_poly < 700.0) {
        const double f = sigma - fd_exp(log_poly);
        if (f >= -1.0) return {f, d1, -d1 * dm * one_minus_psi, lp};
        lnf = fd_log(-f);
    } else {
        lnf = log_poly + fd_log1p(-sigma * fd_exp(-log_poly));
    }
    // chi = -(1 + log(-F)): chi' = F'/(-F) = g1, chi'' = F''/(-F) + g1^2
    const double g1 = fd_exp(log_d1 - lnf);
    return {-(1.0 + lnf), g1, -g1 * dm * one_minus_psi + g1 * g1, lp};
}

/// chi and derivatives for MAE (n = L + 1 >= 3) on the plateau, s = psi^(1/n) <= 1/2 (as
/// log(psi)/n <= -log 2); chi = NaN above it (the caller falls back to the general form).
/// There -F = n/(n-2) s^2/psi - n s^2 P(psi) = (s^2/psi) B with B = n/(n-2) - n psi P(psi)
/// (P = R/(n s^2), mae_r_series) = e^Lambda(psi) (closed.h's mae_lambda), B > 2.8, so
/// -F > 2^(n-2) B > 1: chi = -(1 + log(-F)) = -(1 + (2/n - 1) log psi + Lambda(psi)),
/// chi' = F'/(-F) = 1/B and chi'' = F''/(-F) + chi'^2 = -(q-1)(1 - psi)/B + 1/B^2 (F' =
/// s^2/psi, F'' = -F'(q-1)(1 - psi)): neither s nor a logarithm of F.
FD_HD ChiDerivs chi_growth_mae_plateau(double sigma, int n, double q) {
    const double dn = double(n);
    const double e = fd_exp(sigma);
    const double l1 = fd_log1p(e);
    const double lp = sigma - l1;
    // above the plateau, or psi underflowed (sigma < -745): the general form in logarithms
    if (lp / dn > -FD_LOG2 || e == 0.0) return {fd_nan<double>(), 0.0, 0.0, lp};
    const double psi = e / (1.0 + e);
    const double one_minus_psi = 1.0 / (1.0 + e);
    const double g1 = 1.0 / (dn / (dn - 2.0) - dn * psi * mae_r_series(psi, n));
    return {-(1.0 + ((2.0 - dn) / dn * lp + mae_lambda(psi, n))), g1, -g1 * (q - 1.0) * one_minus_psi + g1 * g1,
            lp};
}

/// chi(F(sigma)), its first two sigma-derivatives, and log psi.
FD_HD_CALL ChiDerivs chi_derivs(double sigma, int branch, int objective, int depth, double q) {
    if (branch == GROWTH) {
        const int m = integer_m(objective, depth);
        if (m > 0) return chi_growth_integer(sigma, m);
        if (m < 0 && sigma < 0.0) {
            const ChiDerivs res = chi_growth_mae_plateau(sigma, depth + 1, q);
            if (res.chi == res.chi) return res;
        }
    }
    const double lp = log_psi_of_sigma<double>(sigma, branch);
    const double d1f = fd_exp((1.0 - q) * lp);  // F' = psi^(1-q)
    if (branch == GROWTH) {
        // F'' = -F' (q-1) (1 - psi),  log(1 - psi) = lp - sigma
        const double d2f = -d1f * (q - 1.0) * fd_exp(lp - sigma);
        const GrowthParts g = growth_parts(sigma, objective, depth);
        double lnf;
        if (g.log_big < 700.0) {
            const double f = g.s - fd_exp(g.log_big);
            if (f >= -1.0) return {f, d1f, d2f, lp};
            lnf = fd_log(-f);
        } else {
            lnf = g.log_big + fd_log1p(-g.s * fd_exp(-g.log_big));
        }
        // chi = -(1 + log(-F)): chi' = F'/(-F), chi'' = F''/(-F) + (F'/F)^2
        const double g1 = fd_exp((1.0 - q) * lp - lnf);
        const double g2 = d2f * fd_exp(-lnf);
        return {-(1.0 + lnf), g1, g2 + g1 * g1, lp};
    }
    // decay: H'' = H' (q-1)(psi - 1)
    const double d2f = d1f * (q - 1.0) * fd_expm1(lp);
    const double lh = decay_log_h(sigma, q);
    if (lh >= 0.0) return {fd_exp(lh) - 1.0, d1f, d2f, lp};
    // chi = log H: chi' = H'/H = g1, chi'' = H''/H - g1^2 = g1 ((q-1)(psi-1) - g1).
    // Formed from g1 alone: H''/H as d2f e^-lh overflows once H < 1e-308 (early decay at
    // large depth), and an infinite chi'' would turn the Halley step into 0.
    const double g1 = fd_exp((1.0 - q) * lp - lh);
    return {lh, g1, g1 * ((q - 1.0) * fd_expm1(lp) - g1), lp};
}

/// The table variable of a target F_T = t_sign e^t_log.
FD_HD double chi_of_target(double t_sign, double t_log, int branch) {
    if (branch == GROWTH) {
        if (t_sign < 0.0 && t_log > 0.0) return -(1.0 + t_log);
        return t_sign * fd_exp(t_log);
    }
    if (t_log < 0.0) return t_log;
    return fd_exp(t_log) - 1.0;
}

/// Growth seed beyond the last knot (sigma_k, slope dsigma_k = 1/F'(sigma_k)), dchi = chi - CHI_MAX
/// > 0.  There F = chi and F'(sigma) = (1 + e^-sigma)^(q-1) (JEPA's (1 + y)^m, m = q - 1; MAE's
/// psi^(1-q)) tends to 1: with delta = F'(sigma_k) - 1 = (q-1) e^-sigma_k to first order,
/// F(sigma) - F(sigma_k) = ds + delta (1 - e^-ds) + O(delta^2), inverted to the same order.  A
/// line at the knot's slope is off by delta dchi instead: for MAE at depth 64 the last knot lies
/// at sigma ~ 9 (F - sigma ~ 31), delta ~ 1e-4, and the seed missed by 0.08 at sigma ~ 460.
/// em = expm1(-dchi), from the caller's expm1 (simd.h's vector one on the host's block path).
template <typename Real>
FD_HD Real growth_seed_beyond(Real sigma_k, Real dsigma_k, Real dchi, Real em) {
    const Real delta = Real(1) / dsigma_k - Real(1);
    return sigma_k + dchi + delta * em;
}

/// Cubic Hermite interpolation of sigma(chi); outside the knots a line, and beyond the last
/// growth knot growth_seed_beyond.
FD_HD double table_seed(double chi, int branch, int objective, int depth, const double* tab_sigma,
                        const double* tab_dsigma) {
    const long long b = branch == GROWTH ? 0 : 1;
    const long long row = (long long)objective * MAX_DEPTH + depth - 1;
    const long long base = (b * 2 * MAX_DEPTH + row) * N_KNOTS;
    const double u = (chi - CHI_MIN) * KNOTS_PER_UNIT;
    if (u <= 0.0) {
        if (branch != GROWTH) {
            // early decay, below the table: H = x^q/q B(x) with x = 1 - e^-sigma = 1/psi and
            // B = betacf_b0(q, x) = 1 + q x/(q+1) + ... (closed.h).  Leading order x^q/q = H,
            // then two fixed-point corrections x = (q H / B(x))^(1/q): the map contracts by
            // about x/(q+1), so the seed is good to ~(x/(q+1))^3 (x <= 0.8 here, since
            // H < e^-40), and sigma = -log(1 - x) exactly (x alone is off by x/2 relative).
            const double q = family_q<double>(objective, depth);
            const double base = chi + fd_log(q);
            double x = fd_exp(base / q);
            for (int it = 0; it < 2; ++it) x = fd_exp((base - fd_log(betacf_b0(q, x))) / q);
            return -fd_log1p(-x);
        }
        return tab_sigma[base] + tab_dsigma[base] * (chi - CHI_MIN);
    }
    if (u >= N_KNOTS - 1) {
        const long long last = base + N_KNOTS - 1;
        const double dchi = chi + CHI_MIN;  // chi - CHI_MAX
        if (branch == GROWTH)
            return growth_seed_beyond(tab_sigma[last], tab_dsigma[last], dchi, fd_expm1(-dchi));
        return tab_sigma[last] + tab_dsigma[last] * dchi;
    }
    const long long k = (long long)u;
    const double th = u - double(k);
    const double s0 = tab_sigma[base + k];
    const double s1 = tab_sigma[base + k + 1];
    const double m0 = tab_dsigma[base + k] * KNOT_H;
    const double m1 = tab_dsigma[base + k + 1] * KNOT_H;
    const double th2 = th * th;
    const double th3 = th2 * th;
    return ((2.0 * th3 - 3.0 * th2 + 1.0) * s0 + (th3 - 2.0 * th2 + th) * m0 +
            (-2.0 * th3 + 3.0 * th2) * s1 + (th3 - th2) * m1);
}

struct SigmaSolve {
    double sigma;
    signed char status;
    double lp;
};

/// solve_sigma seeded from the table: usually one Halley step. lo_log = NaN
/// means F(lo) has not been evaluated yet.  tab_sigma == nullptr: no table.
FD_HD SigmaSolve solve_sigma_tabulated(double t_sign, double t_log, int branch, int objective, int depth,
                                       double lo, double lo_sign, double lo_log, const double* tab_sigma,
                                       const double* tab_dsigma) {
    const double inf = fd_inf<double>();
    if (tab_sigma != nullptr) {
        if ((branch == GROWTH && t_sign >= 0.0 && t_log > 700.0) || (branch == DECAY && t_log > 700.0))
            return {inf, SUCCESS, 0.0};  // F_T beyond float64: the fixed point
        const double q = family_q<double>(objective, depth);
        if (q == 1.0) {  // MAE depth 1: F = sigma on both branches (eq. 116)
            const double x = t_sign * fd_exp(t_log);
            return {x, SUCCESS, log_psi_of_sigma<double>(x, branch)};
        }
        const double chi_t = chi_of_target(t_sign, t_log, branch);
        double x = table_seed(chi_t, branch, objective, depth, tab_sigma, tab_dsigma);
        // a seed below the known lower bound starts from the bound instead
        x = py_max(x, lo);
        if ((branch == GROWTH || x > 0.0) && x < inf) {
            const ChiDerivs cd = chi_derivs(x, branch, objective, depth, q);
            const double r = cd.chi - chi_t;
            const double den = 2.0 * cd.d1 * cd.d1 - r * cd.d2;
            // a step formed from a non-finite derivative is no evidence of convergence
            if (den > 0.0 && den < inf && fd_fabs(cd.d1) < inf && fd_fabs(cd.d2) < inf) {
                const double step = -2.0 * r * cd.d1 / den;
                // the seed is good to ~1e-7; a Halley step from there is exact to rounding
                // (relative to sigma on the decay branch, where F ~ sigma^q near sigma = 0)
                const double scale = branch == GROWTH ? py_max(1.0, fd_fabs(x)) : x;
                if (fd_fabs(step) <= 1e-6 * scale) {
                    // log psi at the new state to second order, g = |1 - psi| = e^(lp - sigma):
                    // growth: lp' = g, lp'' = -(1 - g) g;  decay: lp' = -g, lp'' = (1 + g) g
                    double lp = cd.lp;
                    const double g = fd_exp(lp - x);
                    if (branch == GROWTH)
                        lp += g * step * (1.0 - 0.5 * (1.0 - g) * step);
                    else
                        lp -= g * step * (1.0 - 0.5 * (1.0 + g) * step);
                    return {x + step, SUCCESS, lp};
                }
            }
        }
    }
    if (lo_log != lo_log) {  // F(lo) not evaluated by the caller's fast path
        const SignedLog f = f_signed_log(lo, branch, objective, depth);
        lo_sign = f.sign;
        lo_log = f.log;
    }
    const SigmaStatus s = solve_sigma(t_sign, t_log, branch, objective, depth, lo, lo_sign, lo_log);
    return {s.sigma, s.status, log_psi_of_sigma<double>(s.sigma, branch)};
}

/// The target F_T = (sign, log|F_T|) of a table variable chi (inverse of chi_of_target).
FD_HD SignedLog target_of_chi(double chi, int branch) {
    if (branch == GROWTH) {
        if (chi >= -1.0) {
            if (chi > 0.0) return {1.0, fd_log(chi)};
            if (chi < 0.0) return {-1.0, fd_log(-chi)};
            return {0.0, -fd_inf<double>()};
        }
        return {-1.0, -(1.0 + chi)};
    }
    if (chi < 0.0) return {1.0, chi};
    return {1.0, fd_log1p(chi)};
}

/// Build the table rows of one (objective, depth): sigma and dsigma/dchi at the
/// N_KNOTS knots chi = CHI_MIN + k/KNOTS_PER_UNIT, on the growth and the decay
/// branch.  Each knot is solved by the bracketed solver (solve_sigma) from a
/// bound below every target, and its slope is 1/(dchi/dsigma) there: exact
/// derivatives, so the cubic Hermite interpolant seeds sigma to ~1e-8.
/// About 3 ms per (objective, depth) on the host; the host builds the tables
/// for both backends (the GPU receives them as flat arrays).
FD_HD_CALL void build_inverse_row(int objective, int depth, double* sig_growth, double* dsig_growth,
                                  double* sig_decay, double* dsig_decay) {
    const double q = family_q<double>(objective, depth);
    for (int b = 0; b < 2; ++b) {
        const int branch = b == 0 ? GROWTH : DECAY;
        const double lo = branch == GROWTH ? -700.0 : 1e-300;
        for (int k = 0; k < N_KNOTS; ++k) {
            const double chi = CHI_MIN + double(k) * KNOT_H;
            const SignedLog tg = target_of_chi(chi, branch);
            // a bound below every target: F(lo) in sign/log form
            double lo_s, lo_l;
            if (branch == GROWTH) {
                const GrowthParts g = growth_parts(lo, objective, depth);
                lo_s = -1.0;
                lo_l = g.log_big + fd_log1p(-g.s * fd_exp(-g.log_big));
            } else {
                lo_s = 1.0;
                lo_l = decay_log_h(lo, q);
            }
            const SigmaStatus s = solve_sigma(tg.sign, tg.log, branch, objective, depth, lo, lo_s, lo_l);
            const ChiDerivs cd = chi_derivs(s.sigma, branch, objective, depth, q);
            if (b == 0) {
                sig_growth[k] = s.sigma;
                dsig_growth[k] = 1.0 / cd.d1;
            } else {
                sig_decay[k] = s.sigma;
                dsig_decay[k] = 1.0 / cd.d1;
            }
        }
    }
}

}  // namespace fastdyn
