// The exact solver vectorized across features: blocks of W features in
// structure-of-arrays passes (host only; the GPU runs exact.h one thread per
// feature).
//
// A weight at time t solves chi(F(sigma)) = chi_T for sigma (inverse.h): a
// table seed and one Halley step.  exact.h does that one feature at a time in
// scalar code with the C library's exp/log.  Here W features (one depth, one
// objective) take each step together, in loops over lanes that the compiler
// turns into vector instructions (`#pragma omp simd`, the branch-free
// exp/log/log1p of vecmath.h, selects instead of branches):
//
//   1. target: tau = t + tau0, chi_T from K tau (or -(1 + log(-K tau)) on the
//      plateau), the same target as solve_at;
//   2. seed: the cubic Hermite table of inverse.h (gathers), linear beyond it;
//   3. chi and its two derivatives at the seed, on the common path of each
//      objective: JEPA's integer q (chi_growth_integer) in one form for both
//      signs of sigma, MAE's plateau series (chi_growth_mae_plateau) where
//      psi^(1/n) <= 1/2;
//   4. one Halley step, the same acceptance test as solve_sigma_tabulated,
//      log psi to second order, and w = w* psi^(1/b).
//
// Every lane that leaves the common path is finished by the scalar solver of
// exact.h from the same state afterwards: a step that is not accepted, MAE
// above the plateau, targets beyond float64, features on the decay branch or
// at the fixed point, MAE depth 1 (F = sigma).  A block of mixed depth runs
// its features as blocks of one lane: a feature's result depends on its own
// inputs only, never on the other features of the call.  The
// common-path formulas are the scalar ones rearranged without branches; where
// they differ they use fewer roundings (K tau instead of exp(log tau + log K);
// Poly = y h(y) instead of exp(log h - sigma); |1 - psi| from the logistic
// pieces instead of exp(lp - sigma)).  Results therefore differ from exact.h
// by rounding only (the accuracy tests bound both the same way), and are
// bit-identical whichever instruction set runs them (vecmath.h).
//
// Instruction sets: the block functions are compiled once per set
// (FD_SIMD_CLONES: AVX-512, AVX2, baseline x86-64) and the loader picks the
// best the machine has; elsewhere they are compiled for the target.
#pragma once

#include "closed.h"
#include "config.h"
#include "exact.h"
#include "family.h"
#include "inverse.h"

// GCC's code sinking and partial redundancy elimination move the table loads and
// the polynomial coefficients into one arm of a select, where they cannot be
// if-converted, and the lane loops stay scalar.  Both are off for this header
// and vecmath.h (values are unchanged: no floating-point option is touched).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-tree-sink", "no-tree-pre")
#define FD_SIMD_POP_OPTIONS
#endif

#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define FD_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FD_SIMD_CLONES
#endif
#define FD_LANES _Pragma("omp simd") for (int l = 0; l < W; ++l)

namespace fastdyn {
namespace simd {

constexpr int W = 8;  // lanes of a block: one AVX-512 register of doubles

/// Per-lane constants of a block's solve (scalar start_of, once per feature).
struct Block {
    int n;         // lanes in use (<= W); lanes n..W-1 repeat lane 0
    int m;         // integer_m of (objective, depth)
    int depth;
    int objective;
    double b, q;
    double vec[W];  // 1: the lane takes the vector path (growth branch, finite tau0); else 0
                    // (flags are doubles: a bool in a loop over doubles keeps GCC from vectorizing)
    double tau0[W], k_rate[W], log_k[W], w_star[W];
    Start st[W];
};

/// Result of one vector solve per lane.
struct Solved {
    double sigma[W], lp[W], w[W], sgn[W], lg[W];
    double ok[W];  // 1: solved; 0: finish with the scalar solver
};

/// Steps 1-4 for every lane at times t[l] from the lower bounds lo[l]: JEPA
/// (integer q) or MAE (plateau series).  Three passes over the lanes with the
/// polynomial between them, lanes innermost (GCC vectorizes loops over lanes
/// with straight-line bodies, not an outer lane loop around inner loops).
/// ok[l] is false where the lane must be finished by the scalar solver.
template <bool JEPA_KIND>
inline __attribute__((always_inline)) void solve_lanes_of(const Block& bk, const double* t, const double* lo,
                                                          const double* tab_sigma, const double* tab_dsigma,
                                                          Solved& out) {
    const double inf = __builtin_huge_val();
    const int branch_row = bk.objective * MAX_DEPTH + bk.depth - 1;  // growth rows first
    const double* ts = tab_sigma + (long long)branch_row * N_KNOTS;
    const double* td = tab_dsigma + (long long)branch_row * N_KNOTS;
    const int m = bk.m;
    const double dm = double(m);
    const int n_mae = bk.depth + 1;
    const double dn = double(n_mae);
    double x_[W], z_[W], chi_t_[W], lp_[W], omp_[W], pa_[W], pb_[W], aux_[W];
    FD_LANES {
        // 1. the target of solve_at: F_T = K (t + tau0) on the growth branch
        const double tau = t[l] + bk.tau0[l];
        const double lg = vm::log(tau < 0.0 ? -tau : tau) + bk.log_k[l];
        const double kt = bk.k_rate[l] * tau;
        const double chi_t = (tau < 0.0 && lg > 0.0) ? -(1.0 + lg) : kt;
        // 2. the table seed, linear beyond the knots (table_seed)
        const double u = (chi_t - CHI_MIN) * KNOTS_PER_UNIT;
        const bool below = !(u > 0.0);  // NaN too: a clamped index, the lane falls back
        const bool above = u >= double(N_KNOTS - 1);
        const double uc = below ? 0.0 : (above ? double(N_KNOTS - 2) : u);
        const int k = int(uc);
        const double th = uc - double(k);
        const double s0 = ts[k], s1 = ts[k + 1];
        const double m0 = td[k] * KNOT_H, m1 = td[k + 1] * KNOT_H;
        const double th2 = th * th, th3 = th2 * th;
        const double herm = ((2.0 * th3 - 3.0 * th2 + 1.0) * s0 + (th3 - 2.0 * th2 + th) * m0 +
                             (-2.0 * th3 + 3.0 * th2) * s1 + (th3 - th2) * m1);
        const double lin_lo = ts[0] + td[0] * (chi_t - CHI_MIN);
        const double lin_hi = ts[N_KNOTS - 1] + td[N_KNOTS - 1] * (chi_t + CHI_MIN);
        double x = below ? lin_lo : (above ? lin_hi : herm);
        x = lo[l] > x ? lo[l] : x;
        // 3. the logistic pieces of x for both signs: z = e^-|x|
        const bool pos = x >= 0.0;
        const double z = vm::exp(pos ? -x : x);
        const double l1 = vm::log1p(z);
        x_[l] = x;
        z_[l] = z;
        chi_t_[l] = chi_t;
        lp_[l] = pos ? -l1 : x - l1;
        omp_[l] = pos ? z / (1.0 + z) : 1.0 / (1.0 + z);  // 1 - psi
        // JEPA: F' = (1 + y)^m (y = e^-x);  MAE: psi
        aux_[l] = JEPA_KIND ? vm::exp(dm * l1) : (pos ? 1.0 / (1.0 + z) : z / (1.0 + z));
        out.sgn[l] = tau < 0.0 ? -1.0 : 1.0;
        out.lg[l] = lg;
        out.ok[l] = (tau >= 0.0 && lg > 700.0) ? 0.0 : bk.vec[l];  // F_T beyond float64: the scalar
    }
    if (JEPA_KIND) {
        // Poly(y) = sum_j C(m,j)/j y^j: x >= 0 as z hA(z) (Horner in y = z), x < 0 as
        // y^m hB(z) (Horner in 1/y = z): pa_ runs j = m-1..1, pb_ j = 2..m
        const double c_top = cj(m, m), c_one = cj(m, 1);
        FD_LANES {
            pa_[l] = c_top;
            pb_[l] = c_one;
        }
        for (int i = 0; i < m - 1; ++i) {
            const double ca = cj(m, m - 1 - i), cb = cj(m, 2 + i);
            FD_LANES {
                pa_[l] = pa_[l] * z_[l] + ca;
                pb_[l] = pb_[l] * z_[l] + cb;
            }
        }
    } else {
        // MAE: R(psi)/(n s^2) = sum_k psi^k/(2 + k n), psi = s^n <= 2^-n on the plateau:
        // 57/n + 2 terms reach 1e-17 (Horner from the smallest term)
        const int n_series = int(57.0 / dn) + 2;
        const double c_last = 1.0 / (2.0 + double((n_series - 1) * n_mae));
        FD_LANES pa_[l] = c_last;
        for (int kk = n_series - 2; kk >= 0; --kk) {
            const double c = 1.0 / (2.0 + double(kk * n_mae));
            FD_LANES pa_[l] = pa_[l] * aux_[l] + c;
        }
    }
    FD_LANES {
        const double x = x_[l], z = z_[l], omp = omp_[l];
        const bool pos = x >= 0.0;
        double neg_f, d1, d2, fallback;
        if (JEPA_KIND) {
            // F = x - Poly(y), F' = (1 + y)^m, F'' = -m F' (1 - psi); y^m = e^(m |x|) for x < 0
            const double mx = pos ? 0.0 : -dm * x;
            const double ym = vm::exp(mx);
            neg_f = (pos ? pa_[l] * z : pb_[l] * ym) - x;
            d1 = aux_[l] * ym;
            d2 = -d1 * dm * omp;
            fallback = mx >= 700.0 ? 1.0 : 0.0;  // y^m beyond float64: the scalar's logarithms
        } else {
            // MAE plateau (chi_growth_mae_plateau): s = psi^(1/n) <= 1/2,
            // -F = n/(n-2) s^2/psi - n s^2 R, F' = s^2/psi, F'' = -F' (q-1)(1 - psi)
            const double psi = aux_[l];
            const double s = vm::exp(lp_[l] / dn);
            const double s2 = s * s;
            d1 = s2 / psi;
            neg_f = dn / (dn - 2.0) * d1 - dn * s2 * pa_[l];
            d2 = -d1 * (bk.q - 1.0) * omp;
            fallback = pos ? 1.0 : 0.0;
            fallback = s > 0.5 ? 1.0 : fallback;
            fallback = z == 0.0 ? 1.0 : fallback;
        }
        const bool small = neg_f <= 1.0;  // F >= -1: chi = F, else chi = -(1 + log(-F))
        const double lnf = vm::log(small ? 1.0 : neg_f);
        const double g1 = d1 / neg_f;
        const double chi = small ? -neg_f : -(1.0 + lnf);
        const double c1 = small ? d1 : g1;
        const double c2 = small ? d2 : d2 / neg_f + g1 * g1;
        // 4. one Halley step, accepted as in solve_sigma_tabulated
        const double r = chi - chi_t_[l];
        const double den = 2.0 * c1 * c1 - r * c2;
        const double step = -2.0 * r * c1 / den;
        const double ax = x < 0.0 ? -x : x;
        const double scale = ax > 1.0 ? ax : 1.0;
        const double ast = step < 0.0 ? -step : step;
        const double ac1 = c1 < 0.0 ? -c1 : c1, ac2 = c2 < 0.0 ? -c2 : c2;
        // (a chain of selects on doubles: && of comparisons would not vectorize)
        double ok = out.ok[l];
        ok = den > 0.0 ? ok : 0.0;
        ok = den < inf ? ok : 0.0;
        ok = ac1 < inf ? ok : 0.0;
        ok = ac2 < inf ? ok : 0.0;
        ok = ast <= 1e-6 * scale ? ok : 0.0;
        ok = fallback == 0.0 ? ok : 0.0;
        // log psi at x + step to second order (g = 1 - psi)
        const double lp = lp_[l] + omp * step * (1.0 - 0.5 * (1.0 - omp) * step);
        out.sigma[l] = x + step;
        out.lp[l] = lp;
        out.w[l] = bk.w_star[l] * vm::exp(lp / bk.b);
        out.ok[l] = ok;
    }
}

inline __attribute__((always_inline)) void solve_lanes(const Block& bk, const double* t, const double* lo,
                                                       const double* tab_sigma, const double* tab_dsigma,
                                                       Solved& out) {
    if (bk.m > 0)
        solve_lanes_of<true>(bk, t, lo, tab_sigma, tab_dsigma, out);
    else
        solve_lanes_of<false>(bk, t, lo, tab_sigma, tab_dsigma, out);
}

/// True when features [first, first + n) share one depth.
inline bool one_depth(const long long* depth, long long first, int n) {
    for (int l = 1; l < n; ++l)
        if (depth[first + l] != depth[first]) return false;
    return true;
}

/// Per-feature constants of features first..first+n-1 (n <= W, one depth) of
/// one objective.  Returns false when the vector path does not apply (MAE depth
/// 1): the caller runs the scalar solver for every feature.
inline bool start_block(int objective, const long long* depth, const double* lam, const double* rho,
                        const double* w0, long long first, int n, Block& bk) {
    const int d0 = int(depth[first]);
    bk.n = n;
    bk.depth = d0;
    bk.objective = objective;
    bk.m = integer_m(objective, d0);
    if (bk.m == 0) return false;  // MAE depth 1: F = sigma, the scalar solver needs no table
    bk.b = family_b<double>(objective, d0);
    bk.q = family_q<double>(objective, d0);
    for (int l = 0; l < W; ++l) {
        const int i = l < n ? l : 0;
        const Start st = start_of(objective, d0, lam[first + i], rho[first + i], w0[first + i]);
        bk.st[l] = st;
        bk.vec[l] = (st.branch == GROWTH && st.tau0 > -fd_inf<double>() && st.tau0 < fd_inf<double>()) ? 1.0 : 0.0;
        bk.tau0[l] = st.tau0;
        bk.log_k[l] = st.log_k;
        bk.k_rate[l] = fd_exp(st.log_k);
        bk.w_star[l] = fd_exp(st.log_rho / st.b);
    }
    return true;
}

/// trajectory_row for features [first, first + n) into out (row stride rs,
/// time stride cs); the statuses into status.  n <= W; depth and the feature
/// arrays contiguous.
inline void trajectory_block(long long nt, const double* t, int objective, const long long* depth,
                             const double* lam, const double* rho, const double* eps, long long first, int n,
                             double* out, long long rs, long long cs, signed char* status, const double* tab_sigma,
                             const double* tab_dsigma) {
    if (!one_depth(depth, first, n)) {
        // one lane at a time: a feature's result never depends on its neighbours
        for (int l = 0; l < n; ++l)
            trajectory_block(nt, t, objective, depth, lam, rho, eps, first + l, 1, out, rs, cs, status, tab_sigma,
                             tab_dsigma);
        return;
    }
    Block bk;
    if (tab_sigma == nullptr || !start_block(objective, depth, lam, rho, eps, first, n, bk)) {
        for (int l = 0; l < n; ++l) {
            const long long i = first + l;
            status[i] = trajectory_row(nt, t, objective, int(depth[i]), lam[i], rho[i], eps[i],
                                       out + i * rs, cs, tab_sigma, tab_dsigma);
        }
        return;
    }
    double lo[W], lo_sign[W], lo_log[W], prev[W], tl[W];
    bool scalar_row[W];
    for (int l = 0; l < n; ++l) {
        const long long i = first + l;
        status[i] = SUCCESS;
        scalar_row[l] = bk.vec[l] == 0.0;
        if (scalar_row[l])  // decay branch, at the fixed point, an infinite plateau coordinate
            status[i] = trajectory_row(nt, t, objective, bk.depth, lam[i], rho[i], eps[i], out + i * rs, cs,
                                       tab_sigma, tab_dsigma);
    }
    for (int l = 0; l < W; ++l) {
        lo[l] = bk.st[l].s0;
        lo_sign[l] = bk.st[l].sign0;
        lo_log[l] = bk.st[l].log0;
        prev[l] = eps[first + (l < n ? l : 0)];
    }
    Solved sv;
    for (long long j = 0; j < nt; ++j) {
        const double tj = t[j];
        for (int l = 0; l < W; ++l) tl[l] = tj;
        solve_lanes(bk, tl, lo, tab_sigma, tab_dsigma, sv);
        for (int l = 0; l < n; ++l) {
            if (scalar_row[l]) continue;
            const long long i = first + l;
            double* o = out + i * rs + j * cs;
            if (tj == 0.0) {  // the start (lo stays)
                *o = eps[i];
                continue;
            }
            if (lo[l] == fd_inf<double>()) {  // at the fixed point to float64 precision
                *o = bk.w_star[l];
                continue;
            }
            double sig = sv.sigma[l], w = sv.w[l];
            if (sv.ok[l] != 0.0) {
                lo_sign[l] = sv.sgn[l];
                lo_log[l] = sv.lg[l];
            } else {
                const SolveAt r = solve_at(objective, bk.depth, bk.st[l], tj, lo[l], lo_sign[l], lo_log[l],
                                           tab_sigma, tab_dsigma);
                lo_sign[l] = r.f_sign;
                lo_log[l] = r.f_log;
                sig = r.sigma;
                w = bk.w_star[l] * fd_exp(r.lp / bk.b);
                if (r.status != SUCCESS) status[i] = r.status;
            }
            prev[l] = monotone(w, prev[l], bk.w_star[l], GROWTH);
            *o = prev[l];
            lo[l] = sig;
        }
    }
}

/// advance for features [first, first + n) (n <= W): out = the weight dt later.
inline void advance_block(int objective, const long long* depth, const double* lam, const double* rho,
                          const double* w, const double* dt, long long first, int n, double* out, signed char* status,
                          const double* tab_sigma, const double* tab_dsigma) {
    if (!one_depth(depth, first, n)) {
        for (int l = 0; l < n; ++l)
            advance_block(objective, depth, lam, rho, w, dt, first + l, 1, out, status, tab_sigma, tab_dsigma);
        return;
    }
    Block bk;
    if (tab_sigma == nullptr || !start_block(objective, depth, lam, rho, w, first, n, bk)) {
        for (int l = 0; l < n; ++l) {
            const long long i = first + l;
            out[i] = advance(objective, int(depth[i]), lam[i], rho[i], w[i], dt[i], status[i],
                             tab_sigma, tab_dsigma);
        }
        return;
    }
    double lo[W], tl[W];
    for (int l = 0; l < W; ++l) {
        lo[l] = bk.st[l].s0;
        tl[l] = dt[first + (l < n ? l : 0)];
    }
    Solved sv;
    solve_lanes(bk, tl, lo, tab_sigma, tab_dsigma, sv);
    for (int l = 0; l < n; ++l) {
        const long long i = first + l;
        if (dt[i] == 0.0 || sv.ok[l] == 0.0) {
            out[i] = advance(objective, bk.depth, lam[i], rho[i], w[i], dt[i], status[i], tab_sigma, tab_dsigma);
            continue;
        }
        status[i] = SUCCESS;
        out[i] = monotone(sv.w[l], w[i], bk.w_star[l], GROWTH);
    }
}

}  // namespace simd
}  // namespace fastdyn

#ifdef FD_SIMD_POP_OPTIONS
#pragma GCC pop_options
#undef FD_SIMD_POP_OPTIONS
#endif
