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
//      signs of sigma; MAE's chi by its power series in psi (chi_growth_mae_plateau)
//      where s = psi^(1/n) <= 1/2, and above it R(s) as mae_r does, by the Chebyshev
//      series of G = R + log(1 - s) (closed.h's mae_g) and vecmath.h's log of
//      1 - s (only for blocks that have such a lane);
//   4. one Halley step, the same acceptance test as solve_sigma_tabulated,
//      log psi to second order, and w = w* psi^(1/b).
//
// Every lane that leaves the common path is finished by the scalar solver of
// exact.h from the same state afterwards: a step that is not accepted,
// targets beyond float64, features on the decay branch or starting at the
// fixed point (or within 1e-300 of it), MAE depth 1 (F = sigma).  (MAE lanes
// that reach sigma > 690 are at their fixed point in float64 and stay in
// vector registers.)  On bench/'s workload no lane falls back
// (tests/test_simd.py counts them with tests/simd_probe.cpp, built with its
// own copy of these functions).  A block of mixed depth runs its features as
// blocks of one lane: a feature's result depends on its own inputs only, never
// on the other features of the call.  The common-path formulas are the scalar ones rearranged without branches; where
// they differ they use fewer roundings (K tau instead of exp(log tau + log K);
// Poly = y h(y) instead of exp(log h - sigma); |1 - psi| from the logistic
// pieces instead of exp(lp - sigma)).  Results therefore differ from exact.h
// by rounding only (the accuracy tests bound both the same way), and are
// bit-identical whichever instruction set runs them (vecmath.h).
//
// Instruction sets: the block functions are compiled once per set
// (FD_SIMD_CLONES: x86-64-v4 (AVX-512 F/DQ/BW/VL), x86-64-v3 (AVX2, FMA), baseline
// x86-64) and the loader picks the
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

// (FD_NO_SIMD_CLONES: one build for the target of -march, as tests/simd_probe.cpp does)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(FD_NO_SIMD_CLONES)
// (whole architecture levels: the avx512f clone alone lacked AVX-512DQ's int64/double
// conversions, and AVX2 without FMA would pay a libm call per vecmath.h Horner step)
#define FD_SIMD_TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FD_SIMD_TARGETS
#endif
// The block functions have internal linkage: GCC exports the ifunc symbols of cloned inline
// functions whatever their visibility, and another library built from these headers (the
// tests' probe) then bound its calls to this library's code, loaded first
#define FD_SIMD_CLONES FD_SIMD_TARGETS static
#define FD_LANES _Pragma("omp simd") for (int l = 0; l < W; ++l)
// Called with the number of results the scalar solver computes, at every fallback
// (kind: 0 trajectory entries, 1 flow-map results, 2 critical times, 3 flow-state steps).  Empty in
// the library; tests/simd_probe.cpp counts them, to show which lanes take the
// vector path.
#ifndef FD_SIMD_ON_FALLBACK
#define FD_SIMD_ON_FALLBACK(kind, count)
#endif
// everything a cloned function calls on the vector path is inlined into it, so
// that it is compiled for the clone's instruction set
#define FD_SIMD_INLINE inline __attribute__((always_inline))

namespace fastdyn {
namespace simd {

constexpr int W = 8;  // lanes of a block: one AVX-512 register of doubles
// MAE above this sigma (psi within 1e-300 of 1): 1 - s = -expm1(log psi / n) nears the
// subnormals, and the lane is left to the scalar's logarithms (log_one_minus_s)
constexpr double MAE_SIGMA_MAX = 690.0;
// critical_time's plateau form where |log K| < 700 (there F(sigma*) e^-log K is finite),
// as a range of K (e^700 = 1.01e304: the bounds differ from e^-+700 by 1.4%, which only
// moves lanes between the vector path and the scalar's logarithms)
constexpr double K_PLATEAU_MIN = 1e-304, K_PLATEAU_MAX = 1e304;

/// MAE's plateau series R(psi)/(n s^2) = sum_k psi^k/(2 + k n) (n = L + 1; psi <= 2^-n
/// where s <= 1/2): 57/n + 2 terms reach 1e-17, at most 21 from depth 2.  Their
/// coefficients as data: the same correctly rounded quotients as at run time, without a
/// division per term in each solve.
constexpr int mae_series_terms(int depth) { return int(57.0 / double(depth + 1)) + 2; }
constexpr int MAE_SERIES_MAX = 21;
static_assert(mae_series_terms(2) == MAE_SERIES_MAX, "the longest series is depth 2's");
struct MaeSeries {
    double c[MAX_DEPTH + 1][MAE_SERIES_MAX];
    constexpr MaeSeries() : c() {
        for (int d = 2; d <= MAX_DEPTH; ++d)
            for (int k = 0; k < mae_series_terms(d); ++k) c[d][k] = 1.0 / (2.0 + double(k * (d + 1)));
    }
};
constexpr MaeSeries MAE_SERIES{};

/// Per-lane constants of a block's solve (start_lanes', or the scalar start_of's), as
/// arrays over the lanes.  A lane on the vector path starts on the growth branch with
/// F(sigma0) unevaluated: its Start is lane_start's.
struct Block {  // lanes beyond those in use repeat lane 0
    int m;         // integer_m of (objective, depth)
    int depth;
    int objective;
    double b, q;
    double vec[W];  // 1: the lane takes the vector path (growth branch, finite tau0); else 0
                    // (flags are doubles: a bool in a loop over doubles keeps GCC from vectorizing)
    double s0[W], tau0[W], k_rate[W], log_k[W], log_rho[W], w_star[W];
};

/// start_of's Start of a lane on the vector path (vec[l] = 1), for the scalar solver.
FD_SIMD_INLINE Start lane_start(const Block& bk, int l) {
    Start st;
    st.branch = GROWTH;
    st.s0 = bk.s0[l];
    st.sign0 = 0.0;
    st.log0 = fd_nan<double>();  // F(sigma0) not evaluated (start_of's growth branch)
    st.tau0 = bk.tau0[l];
    st.log_k = bk.log_k[l];
    st.log_rho = bk.log_rho[l];
    st.b = bk.b;
    return st;
}

/// Result of one vector solve per lane.
struct Solved {
    double sigma[W], w[W], sgn[W], lg[W];
    double ok[W];  // 1: solved; 0: finish with the scalar solver
};

/// True when flag[l] != 0 in some lane; the lanes beyond those in use repeat lane 0, so
/// all W are tested (a vector reduction).  Flags are 0 or 1.
FD_SIMD_INLINE bool any_lane(const double* flag) {
    double acc = 0.0;
#pragma omp simd reduction(max : acc)
    for (int l = 0; l < W; ++l) acc = flag[l] > acc ? flag[l] : acc;
    return acc != 0.0;
}

/// JEPA's Poly(y) = sum_j C(m,j)/j y^j in both Horner forms at z[l] = e^-|sigma|
/// (chi_growth_integer's): sigma >= 0, Poly = z ha(z) (j = m..1); sigma < 0,
/// Poly = y^m hb(z) (j = 1..m, Horner in 1/y = z).
FD_SIMD_INLINE void poly_forms(int m, const double* z, double* ha, double* hb) {
    const double c_top = cj(m, m), c_one = cj(m, 1);
    FD_LANES {
        ha[l] = c_top;
        hb[l] = c_one;
    }
    for (int i = 0; i < m - 1; ++i) {
        const double ca = cj(m, m - 1 - i), cb = cj(m, 2 + i);
        FD_LANES {
            ha[l] = ha[l] * z[l] + ca;
            hb[l] = hb[l] * z[l] + cb;
        }
    }
}

/// out[l] = (sign x[l])^m for the integer m >= 1 of a block, by binary powering (at most
/// 2 log2(m) roundings: 12 at depth 64, inside the (1 + q)-ulp bounds of exact.h).
FD_SIMD_INLINE void int_power(int m, const double* x, double sign, double* out) {
    double base[W];
    FD_LANES {
        base[l] = sign * x[l];
        out[l] = 1.0;
    }
    for (int e = m; e > 0; e >>= 1) {
        if (e & 1) FD_LANES out[l] *= base[l];
        if (e > 1) FD_LANES base[l] *= base[l];
    }
}

// refined_root's arguments: t^n and x/t^2 stay normal (x^(1/n) from e^(log x / n))
constexpr double ROOT_X_MIN = 1e-300, ROOT_X_MAX = 1e300;

/// t[l] = x[l]^(1/n) (n >= 1) at x[l] in [ROOT_X_MIN, ROOT_X_MAX], log_x[l] = vm::log(x[l]);
/// other lanes get a value that is never used.  The root starts as e^(log x / n), relative
/// error e0 of at most |log x|/n + 1 ulps, and takes one Newton step on t^n = x:
/// t' = t (1 - d/n), d = t^n/x - 1 (exact subtraction), t^n by binary powering with
/// k <= 2 log2(n) roundings.  The step removes e0 up to n e0^2 (< 1e-24) and leaves
/// (k + 1)/n + 1 <= 2 units of 2^-53 (t^n's and d's roundings shrink by 1/n, the
/// subtraction's is whole): t' is within an ulp of the root, whatever |log x|, as libm's
/// pow (not always its bits: the vector path agrees with the scalar solver to rounding).
FD_SIMD_INLINE void refined_root(int n, const double* x, const double* log_x, double* t) {
    const double dn = double(n);
    double tn[W];
    FD_LANES {
        const double xc = (x[l] >= ROOT_X_MIN && x[l] <= ROOT_X_MAX) ? log_x[l] : 0.0;
        t[l] = vm::exp(xc / dn);
    }
    int_power(n, t, 1.0, tn);
    FD_LANES {
        const double d = tn[l] / x[l] - 1.0;
        t[l] = t[l] - t[l] * (d / dn);
    }
}

/// out[l] = x[l]^((n-2)/n) for n >= 3 (MAE's rho^(q-1): q - 1 = (L-1)/(L+1), n = L + 1) as
/// x / t^2 from refined_root's t = x^(1/n): within 6 units (3 ulps) of the power.  (libm's
/// pow per lane took a third of MAE's critical time; K = b lam rho^(q-1) needs no better:
/// JEPA's rho^m has up to 12 roundings.)
FD_SIMD_INLINE void mae_rho_power(int n, const double* x, const double* log_x, double* out) {
    double t[W];
    refined_root(n, x, log_x, t);
    FD_LANES out[l] = x[l] / (t[l] * t[l]);
}

/// MAE's R(s) = n int_0^s t/(1 - t^n) dt above the plateau at s[l] in (1/2, 1], with
/// em[l] = s - 1 = expm1(log psi / n) formed without cancellation: closed.h's mae_g
/// (G = R + log(1 - s) by its Chebyshev series, Clenshaw's recurrence in the same
/// order, so the same bits as the scalar's) minus log(1 - s).  Lanes outside that range
/// get a value that is never used.
FD_SIMD_INLINE void mae_r_closed(int n, const double* s, const double* em, double* r) {
    const double* c = mae_g_coeffs(n);
    const int len = mae_g_terms(n);
    double x[W], x2[W], b1[W], b2[W];
    FD_LANES {
        x[l] = 4.0 * s[l] - 3.0;
        x2[l] = x[l] + x[l];
        b1[l] = 0.0;
        b2[l] = 0.0;
    }
    for (int k = len - 1; k >= 1; --k) {
        const double ck = c[k];
        FD_LANES {
            const double b0 = ck + (x2[l] * b1[l] - b2[l]);
            b2[l] = b1[l];
            b1[l] = b0;
        }
    }
    FD_LANES r[l] = (c[0] + (x[l] * b1[l] - b2[l])) - vm::log(-em[l]);
}

/// mae_r_closed for the lanes where s[l] > 1/2 (a start's s0), when a block has any.
FD_SIMD_INLINE void mae_r_above(int n, const double* s, const double* log_psi, double* r) {
    bool any = false;
    for (int l = 0; l < W; ++l) any = any || s[l] > 0.5;
    if (!any) return;
    double em[W];
    const double dn = double(n);
    FD_LANES em[l] = vm::expm1(log_psi[l] / dn);
    mae_r_closed(n, s, em, r);
}

/// Steps 1-4 for every lane at times t[l] from the lower bounds lo[l]: JEPA
/// (integer q) or MAE (plateau series).  Three passes over the lanes with the
/// polynomial between them, lanes innermost (GCC vectorizes loops over lanes
/// with straight-line bodies, not an outer lane loop around inner loops).
/// ok[l] is false where the lane must be finished by the scalar solver.
template <bool JEPA_KIND, bool CURVED>
FD_SIMD_INLINE void solve_lanes_of(const Block& bk, const double* t, const double* lo,
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
    double x_[W], z_[W], chi_t_[W], lp_[W], omp_[W], pa_[W], pb_[W], aux_[W], s_[W], rc_[W], up_[W];
    double neg_f_[W], d1_[W], d2_[W], fallback_[W], big_[W];
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
        // beyond the knots: the line at the last knot's slope, or where that slope is curved
        // (CURVED: delta = F'(sigma_k) - 1 > 1e-9, MAE from depth ~24, whose last knot lies at
        // sigma ~ 9 at depth 64) inverse.h's growth_seed_beyond with its expm1
        const double dchi = chi_t + CHI_MIN;
        const double lin_hi = CURVED ? growth_seed_beyond(ts[N_KNOTS - 1], td[N_KNOTS - 1], dchi,
                                                          vm::expm1(dchi > 0.0 ? -dchi : 0.0))
                                     : ts[N_KNOTS - 1] + td[N_KNOTS - 1] * dchi;
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
        // JEPA: 1 + z, raised to F' = (1 + y)^m (y = e^-x) below;  MAE: psi
        aux_[l] = JEPA_KIND ? 1.0 + z : (pos ? 1.0 / (1.0 + z) : z / (1.0 + z));
        out.sgn[l] = tau < 0.0 ? -1.0 : 1.0;
        out.lg[l] = lg;
        out.ok[l] = (tau >= 0.0 && lg > 700.0) ? 0.0 : bk.vec[l];  // F_T beyond float64: the scalar
    }
    if (JEPA_KIND) {
        // Poly(y) = sum_j C(m,j)/j y^j: x >= 0 as z hA(z) (Horner in y = z), x < 0 as
        // y^m hB(z): poly_forms
        poly_forms(m, z_, pa_, pb_);
        // (1 + z)^m by products: it enters only F' and F'', that is the Halley step of at most
        // 1e-6 |x|, where its 2 log2(m) roundings are far below the result's rounding
        int_power(m, aux_, 1.0, aux_);
    } else {
        // MAE.  Each lane picks its form by its own ls = log(psi)/n (so its bits never depend
        // on the other lanes), and a block computes only the forms its lanes use (late times:
        // all above the plateau, early ones: all on it).  Above (ls > -log 2, s = psi^(1/n) >
        // 1/2): s = 1 + em, em = expm1(ls) (= s - 1 without cancellation, which R needs
        // there).  On the plateau: chi_growth_mae_plateau's form in psi alone (no s, no
        // logarithm of F): P(psi) = R/(n s^2) = sum_k psi^k/(2 + k n) and Lambda(psi)
        double ls_[W], em_[W], plateau_[W];
        FD_LANES {
            ls_[l] = lp_[l] / dn;
            up_[l] = ls_[l] > -FD_LOG2 ? 1.0 : 0.0;
            plateau_[l] = 1.0 - up_[l];
            em_[l] = 0.0;  // (the forms a block skips: values no lane selects)
            rc_[l] = 0.0;
            pa_[l] = 0.0;
            pb_[l] = 0.0;
        }
        const bool any_up = any_lane(up_), any_plateau = any_lane(plateau_);
        if (any_up) {
            FD_LANES em_[l] = vm::expm1(ls_[l]);
            FD_LANES s_[l] = 1.0 + em_[l];
            // R(s) = G(s) - log(1 - s) (mae_r_closed)
            mae_r_closed(n_mae, s_, em_, rc_);
        } else {
            FD_LANES s_[l] = 1.0;
        }
        if (any_plateau) {
            // P(psi), psi = s^n <= 2^-n (MAE_SERIES; Horner from the smallest term) and
            // Lambda(psi) = log(n/(n-2) - n psi P(psi)) (closed.h's power series) in pb_
            const double* cs = MAE_SERIES.c[bk.depth];
            const int n_series = mae_series_terms(bk.depth);
            FD_LANES pa_[l] = cs[n_series - 1];
            for (int kk = n_series - 2; kk >= 0; --kk) {
                const double c = cs[kk];
                FD_LANES pa_[l] = pa_[l] * aux_[l] + c;
            }
            const double* cl = mae_lambda_coeffs(n_mae);
            const int n_lambda = mae_lambda_terms(n_mae);
            FD_LANES pb_[l] = cl[n_lambda - 1];
            for (int kk = n_lambda - 2; kk >= 0; --kk) {
                const double c = cl[kk];
                FD_LANES pb_[l] = pb_[l] * aux_[l] + c;
            }
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
            // MAE (chi_growth_mae_plateau and chi_derivs' general growth form): s = psi^(1/n),
            // -F = n/(n-2) s^2/psi - R(s), F' = s^2/psi = psi^(1-q), F'' = -F' (q-1)(1 - psi);
            // above the plateau (R by mae_r_closed); plateau lanes: values no lane selects
            const double psi = aux_[l];
            const double s = s_[l];
            d1 = s * s / psi;
            neg_f = dn / (dn - 2.0) * d1 - rc_[l];
            d2 = -d1 * (bk.q - 1.0) * omp;
            // psi underflowed (sigma < -745): the scalar's
            fallback = z == 0.0 ? 1.0 : 0.0;
        }
        neg_f_[l] = neg_f;
        d1_[l] = d1;
        d2_[l] = d2;
        fallback_[l] = fallback;
        // F >= -1: chi = F, else chi = -(1 + log(-F)) (MAE's plateau: its own form below)
        // (MAE: a product of the 0/1 flags; GCC 12 crashes on a select of selects here)
        const double big = neg_f <= 1.0 ? 0.0 : 1.0;
        big_[l] = JEPA_KIND ? big : big * up_[l];
    }
    // log(-F) where F < -1 (JEPA's plateau, MAE's shoulder), log(1) = 0 elsewhere: skipped
    // by the blocks that have no such lane (the same bits)
    double lnf_[W];
    if (any_lane(big_))
        FD_LANES lnf_[l] = vm::log(big_[l] != 0.0 ? neg_f_[l] : 1.0);
    else
        FD_LANES lnf_[l] = 0.0;
    FD_LANES {
        const double x = x_[l], omp = omp_[l];
        const double neg_f = neg_f_[l], d1 = d1_[l], d2 = d2_[l], fallback = fallback_[l];
        // MAE beyond sigma = 690 (1 - s near the subnormals, the Halley step meaningless): the
        // weight is its fixed point in float64 (1 - psi < e^-690, so w* psi^(1/b) rounds to w*,
        // as the scalar solver's value), sigma stays at the lower bound lo and F(lo) is marked
        // not evaluated (lg = NaN) for any later scalar solve
        const bool at_fp = !JEPA_KIND && x > MAE_SIGMA_MAX;
        const bool small = big_[l] == 0.0;
        const double lnf = lnf_[l];
        const double g1 = d1 / neg_f;
        double chi = small ? -neg_f : -(1.0 + lnf);
        double c1 = small ? d1 : g1;
        double c2 = small ? d2 : d2 / neg_f + g1 * g1;
        if (!JEPA_KIND) {
            // MAE's plateau (chi_growth_mae_plateau): -F = (s^2/psi) B, B = n/(n-2) - n psi P
            // = e^Lambda, chi = -(1 + (2/n - 1) log psi + Lambda), chi' = 1/B, chi'' =
            // -(q-1)(1 - psi)/B + 1/B^2
            const bool plateau = up_[l] == 0.0;
            const double gp = 1.0 / (dn / (dn - 2.0) - dn * aux_[l] * pa_[l]);
            chi = plateau ? -(1.0 + ((2.0 - dn) / dn * lp_[l] + pb_[l])) : chi;
            c1 = plateau ? gp : c1;
            c2 = plateau ? -gp * (bk.q - 1.0) * omp + gp * gp : c2;
        }
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
        const double w_new = bk.w_star[l] * vm::exp(lp / bk.b);
        out.sigma[l] = at_fp ? lo[l] : x + step;
        out.w[l] = at_fp ? bk.w_star[l] : w_new;
        out.lg[l] = at_fp ? __builtin_nan("") : out.lg[l];
        out.ok[l] = at_fp ? out.ok[l] : ok;
    }
}

FD_SIMD_INLINE void solve_lanes(const Block& bk, const double* t, const double* lo,
                                                       const double* tab_sigma, const double* tab_dsigma,
                                                       Solved& out) {
    if (bk.m > 0) {
        solve_lanes_of<true, false>(bk, t, lo, tab_sigma, tab_dsigma, out);
        return;
    }
    // (the growth table's last slope, a per-depth constant: a line beyond it is off by delta dchi)
    const long long last = (long long)(bk.objective * MAX_DEPTH + bk.depth) * N_KNOTS - 1;
    if (1.0 / tab_dsigma[last] - 1.0 > 1e-9)
        solve_lanes_of<false, true>(bk, t, lo, tab_sigma, tab_dsigma, out);
    else
        solve_lanes_of<false, false>(bk, t, lo, tab_sigma, tab_dsigma, out);
}

/// dst[l] = src[first + l] for the n lanes in use; the unused lanes repeat lane 0
/// (any valid feature: their results are never stored).
FD_SIMD_INLINE void gather_lanes(const double* src, long long first, int n, double* dst) {
    if (n == W)
        FD_LANES dst[l] = src[first + l];  // (a full block: one vector copy)
    else
        for (int l = 0; l < W; ++l) dst[l] = src[first + (l < n ? l : 0)];
}

/// refined_root's w0^(1/L) of lane 0 of the last block that computed one: a block whose lanes
/// all have that weight (and depth) reuses it, so a run of equal weights over the blocks of a
/// call (eps is usually one value for every feature) takes one root.  The same bits whether
/// cached or not.
struct RootCache {
    double w = -1.0;  // no weight yet (weights are positive)
    int depth = 0;
    double root = 0.0;
};

/// A growing feature's start in vector registers: start_of's constants and
/// growth_tau0's closed forms for W lanes of one (objective, depth) at weights
/// w0[l] (lam, rho, w0: W values each).  ok[l] = 1 where the lane is on the
/// growth branch, below psi = 1/2 (growth_tau0's closed forms; MAE's R(s0) by
/// its series up to s0 = psi0^(1/n) = 1/2, by mae_r_closed above) or above it
/// (tau0 = F(sigma0)/K: JEPA's F = sigma - Poly(e^-sigma), MAE's
/// R(s) - n/(n-2) s^2/psi), with K and tau0 finite; else the lane is the scalar
/// start_of's.  log K and w* only where block_constants is set (start_block's; the
/// critical time needs neither: log_k and w_star are left unset).
struct StartLanes {
    double lp0[W], s0[W], k_rate[W], log_k[W], log_rho[W], psi0[W], em_lp0[W], tau0[W], w_star[W], ok[W];
};

FD_SIMD_INLINE void start_lanes(int objective, int depth, const double* la, const double* ra, const double* wa,
                                bool block_constants, RootCache& roots, StartLanes& o) {
    const int m = integer_m(objective, depth);
    const double b = family_b<double>(objective, depth);
    const double q = family_q<double>(objective, depth);
    const double dd = double(depth);
    const int n_mae = depth + 1;
    const double dn = double(n_mae);
    double kk[W], pw_e[W], aux[W], poly[W], lr_[W], lw_[W], rp[W];
    FD_LANES {
        lr_[l] = vm::log(ra[l]);
        lw_[l] = vm::log(wa[l]);
    }
    // log_rate's K = b lam rho^(q-1): for JEPA q - 1 = m is an integer and rho^m a
    // product (binary powering: at most 2 log2(m) roundings, 12 at depth 64, far
    // inside the 16 (1 + q)-ulp bound of a time); MAE's fractional power
    // rho^((n-2)/n) by a refined root (mae_rho_power: within 3 ulps)
    if (m > 0)
        int_power(m, ra, 1.0, rp);
    else
        mae_rho_power(n_mae, ra, lr_, rp);
    FD_LANES {
        // log_rate's product form where |(q-1) log rho| < 600 (0: a scalar lane, K in logs)
        const double lrp = (q - 1.0) * lr_[l];
        double k = (lrp < 600.0 && lrp > -600.0) ? b * la[l] * rp[l] : 0.0;
        k = (ra[l] >= ROOT_X_MIN && ra[l] <= ROOT_X_MAX) ? k : 0.0;
        kk[l] = k;
    }
    // em = psi0 - 1 = expm1(lp0): below psi0 = 1/2 the subtraction itself (|em| >= 1/2: no
    // cancellation, within 1.5 ulps), expm1 only where a block has a lane above
    double upper_[W];
    FD_LANES {
        const double lp0 = b * lw_[l] - lr_[l];
        const double psi0 = vm::exp(lp0);
        o.lp0[l] = lp0;
        o.psi0[l] = psi0;
        o.em_lp0[l] = psi0 - 1.0;
        upper_[l] = lp0 < -FD_LOG2 ? 0.0 : 1.0;
    }
    if (any_lane(upper_))
        FD_LANES o.em_lp0[l] = upper_[l] != 0.0 ? vm::expm1(o.lp0[l]) : o.em_lp0[l];
    FD_LANES {
        o.s0[l] = o.lp0[l] - vm::log(-o.em_lp0[l]);  // sigma_of_log_psi on the growth branch
        o.k_rate[l] = kk[l];
        o.log_rho[l] = lr_[l];
    }
    if (block_constants) {
        FD_LANES {
            o.log_k[l] = vm::log(kk[l]);
            o.w_star[l] = vm::exp(lr_[l] / b);  // fixed_point
        }
    }
    // JEPA: z = psi0/(1 - psi0) of h(z);  MAE: s = psi0^(1/n) (m is the block's: one loop each,
    // so that JEPA's lanes do not evaluate MAE's exp)
    if (m > 0)
        FD_LANES aux[l] = o.psi0[l] / (1.0 - o.psi0[l]);
    else
        FD_LANES aux[l] = vm::exp(o.lp0[l] / dn);
    // growth_tau0's w0^(1/L) (its plateau form, psi0 < 1/2) by refined_root, within an ulp as
    // libm's pow; weights beyond refined_root's range (below the public domain) by libm's pow
    if (depth == 1) {
        FD_LANES pw_e[l] = wa[l];
    } else {
        bool cached = depth == roots.depth;
        for (int l = 0; l < W; ++l) cached = cached && wa[l] == roots.w;
        if (cached) {
            FD_LANES pw_e[l] = roots.root;
        } else {
            refined_root(depth, wa, lw_, pw_e);
            roots = {wa[0], depth, pw_e[0]};
        }
        double out_of_range[W];
        FD_LANES out_of_range[l] = (wa[l] < ROOT_X_MIN ? 1.0 : 0.0) + (wa[l] > ROOT_X_MAX ? 1.0 : 0.0);
        if (any_lane(out_of_range))
            for (int l = 0; l < W; ++l)
                if (out_of_range[l] != 0.0) pw_e[l] = fd_pow(wa[l], 1.0 / dd);
    }
    double y0[W], ha[W], omp_m[W], r_above[W], f_mae[W];  // (y0, ha, omp_m: JEPA; r_above, f_mae: MAE)
    if (m > 0) {
        // growth_tau0's h(z) = sum_j C(m,j)/j z^(m-j) (psi0 < 1/2), and for psi0 >= 1/2
        // (sigma0 > 0) F(sigma0) = sigma0 - Poly(y0) = sigma0 - y0 hA(y0), y0 = e^-sigma0
        // (y0 and hA only for a block with such a lane: on the plateau no lane has one)
        bool upper_any = false;
        for (int l = 0; l < W; ++l) upper_any = upper_any || o.s0[l] > 0.0;
        FD_LANES {
            poly[l] = cj(m, 1);
            ha[l] = cj(m, m);
            y0[l] = 1.0;
        }
        if (upper_any) FD_LANES y0[l] = vm::exp(-(o.s0[l] > 0.0 ? o.s0[l] : 0.0));
        for (int j = 2; j <= m; ++j) {
            const double c = cj(m, j), ca = cj(m, m + 1 - j);
            FD_LANES {
                poly[l] = poly[l] * aux[l] + c;
                ha[l] = ha[l] * y0[l] + ca;
            }
        }
        // (1 - psi0)^m = (-em)^m by binary powering (m integer: at most 2 log2(m) roundings,
        // no cancellation; exp(m log1p(-psi0)) took two transcendentals)
        int_power(m, o.em_lp0, -1.0, omp_m);
    } else {
        // mae_r_series: sum_k psi^k/(2 + k n), psi0 <= 2^-n where s <= 1/2 (MAE_SERIES)
        const double* cs = MAE_SERIES.c[depth];
        FD_LANES poly[l] = 0.0;
        for (int k = mae_series_terms(depth) - 1; k >= 0; --k) {
            const double c = cs[k];
            FD_LANES poly[l] = poly[l] * o.psi0[l] + c;
        }
        // above s = 1/2: mae_r's closed form R(s0)
        FD_LANES r_above[l] = 0.0;
        mae_r_above(n_mae, aux, o.lp0, r_above);
        FD_LANES f_mae[l] = r_above[l] - dn / (dn - 2.0) * (aux[l] * aux[l] / o.psi0[l]);
    }
    FD_LANES {
        const double inv_k = 1.0 / o.k_rate[l];  // 1/0 = inf where K is left to the scalar (ok = 0)
        const double s0 = o.s0[l];
        const double lin = s0 != 0.0 ? s0 * inv_k : 0.0;
        const double e_w = pw_e[l] / wa[l];  // w0^(1/L) / w0
        double tau0;
        if (m > 0) {
            tau0 = lin - omp_m[l] * poly[l] * e_w * (dd / la[l]) / wa[l];
        } else {
            // R(s0) = n s^2 (series) on the plateau, else mae_r_closed; growth_tau0's
            // R(s0)/K - L/((L-1) lam) w0^(-(L-1)/L)
            const double sm = aux[l];
            const double big = dd / ((dd - 1.0) * la[l]) * e_w;
            tau0 = (sm <= 0.5 ? dn * sm * sm * poly[l] : r_above[l]) * inv_k - big;
        }
        // above psi = 1/2: tau0 = F(sigma0)/K directly (growth_tau0's last form; no plateau):
        // JEPA's F = sigma - y0 hA(y0), MAE's F = R(s0) - n/(n-2) s0^2/psi0
        const bool upper = m != 0 && !(o.lp0[l] < -FD_LOG2) && o.lp0[l] < 0.0;
        const double f_upper = m > 0 ? s0 - y0[l] * ha[l] : f_mae[l];
        tau0 = upper ? f_upper * inv_k : tau0;
        o.tau0[l] = tau0;
        double ok = (o.lp0[l] < -FD_LOG2 || upper) ? 1.0 : 0.0;
        ok = kk[l] > 0.0 ? ok : 0.0;
        ok = s0 > MAE_SIGMA_MAX ? 0.0 : ok;  // 1 - psi (JEPA), 1 - s (MAE) near the subnormals: the scalar's
        ok = tau0 > -__builtin_huge_val() ? ok : 0.0;  // NaN too
        ok = tau0 < __builtin_huge_val() ? ok : 0.0;
        o.ok[l] = ok;
    }
}

/// True when features [first, first + n) share one depth.
FD_SIMD_INLINE bool one_depth(const long long* depth, long long first, int n) {
    for (int l = 1; l < n; ++l)
        if (depth[first + l] != depth[first]) return false;
    return true;
}

/// Per-feature constants of features first..first+n-1 (n <= W, one depth) of
/// one objective.  Returns false when the vector path does not apply (MAE depth
/// 1): the caller runs the scalar solver for every feature.
FD_SIMD_INLINE bool start_block(int objective, const long long* depth, const double* lam, const double* rho,
                        const double* w0, long long first, int n, RootCache& roots, Block& bk) {
    const int d0 = int(depth[first]);
    bk.depth = d0;
    bk.objective = objective;
    bk.m = integer_m(objective, d0);
    if (bk.m == 0) return false;  // MAE depth 1: F = sigma, the scalar solver needs no table
    bk.b = family_b<double>(objective, d0);
    bk.q = family_q<double>(objective, d0);
    double la[W], ra[W], wa[W];
    gather_lanes(lam, first, n, la);
    gather_lanes(rho, first, n, ra);
    gather_lanes(w0, first, n, wa);
    // the common start in vector registers (growth below psi = 1/2), else start_of's
    StartLanes sl;
    start_lanes(objective, d0, la, ra, wa, true, roots, sl);
    FD_LANES {
        bk.vec[l] = sl.ok[l];  // (ok: the growth branch with a finite tau0)
        bk.s0[l] = sl.s0[l];
        bk.tau0[l] = sl.tau0[l];
        bk.k_rate[l] = sl.k_rate[l];
        bk.log_k[l] = sl.log_k[l];
        bk.log_rho[l] = sl.log_rho[l];
        bk.w_star[l] = sl.w_star[l];
    }
    double scalar_start[W];
    FD_LANES scalar_start[l] = sl.ok[l] != 0.0 ? 0.0 : 1.0;
    if (!any_lane(scalar_start)) return true;
    for (int l = 0; l < W; ++l) {
        if (scalar_start[l] == 0.0) continue;
        const Start st = start_of(objective, d0, la[l], ra[l], wa[l]);
        bk.vec[l] = (st.branch == GROWTH && st.tau0 > -fd_inf<double>() && st.tau0 < fd_inf<double>()) ? 1.0 : 0.0;
        bk.s0[l] = st.s0;
        bk.tau0[l] = st.tau0;
        bk.k_rate[l] = fd_exp(st.log_k);
        bk.log_k[l] = st.log_k;
        bk.log_rho[l] = st.log_rho;
        bk.w_star[l] = fd_exp(st.log_rho / st.b);
    }
    return true;
}

/// Lane l's accepted vector solve as the new state: the lower bound and its target, the
/// weight kept monotone (trajectory_step's common case); returns the weight.
FD_SIMD_INLINE double accept_lane(const Block& bk, int l, const Solved& sv, double& lo, double& lo_sign,
                                  double& lo_log, double& prev) {
    lo_sign = sv.sgn[l];
    lo_log = sv.lg[l];
    prev = monotone(sv.w[l], prev, bk.w_star[l], GROWTH);
    lo = sv.sigma[l];
    return prev;
}

/// trajectory_step for lane l of a block after solve_lanes at time t: the vector solve where
/// it was accepted, else the scalar solver's from lane_start (counted as a fallback of kind).
FD_SIMD_INLINE double lane_step(int kind, const Block& bk, int l, const Solved& sv, double t, double w0, double& lo,
                                double& lo_sign, double& lo_log, double& prev, signed char& status,
                                const double* tab_sigma, const double* tab_dsigma) {
    const bool special = t == 0.0 || lo == fd_inf<double>();  // trajectory_step's, without a solve
    if (special || sv.ok[l] == 0.0) {
        if (!special) FD_SIMD_ON_FALLBACK(kind, 1);
        return trajectory_step(bk.objective, bk.depth, lane_start(bk, l), w0, bk.w_star[l], t, lo, lo_sign, lo_log,
                               prev, status, tab_sigma, tab_dsigma);
    }
    return accept_lane(bk, l, sv, lo, lo_sign, lo_log, prev);
}

/// trajectory_row for features [first, first + n) into out (row stride rs,
/// time stride cs); the statuses into status.  n <= W; depth and the feature
/// arrays contiguous.
FD_SIMD_INLINE void trajectory_block(long long nt, const double* t, int objective, const long long* depth,
                             const double* lam, const double* rho, const double* eps, long long first, int n,
                             double* out, long long rs, long long cs, signed char* status, const double* tab_sigma,
                             const double* tab_dsigma, RootCache& roots) {
    Block bk;
    if (tab_sigma == nullptr || !start_block(objective, depth, lam, rho, eps, first, n, roots, bk)) {
        for (int l = 0; l < n; ++l) {
            const long long i = first + l;
            FD_SIMD_ON_FALLBACK(0, nt);
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
        if (scalar_row[l]) {  // decay branch, at the fixed point, an infinite plateau coordinate
            FD_SIMD_ON_FALLBACK(0, nt);
            status[i] = trajectory_row(nt, t, objective, bk.depth, lam[i], rho[i], eps[i], out + i * rs, cs,
                                       tab_sigma, tab_dsigma);
        }
    }
    for (int l = 0; l < W; ++l) {
        lo[l] = bk.s0[l];  // (lane_start's F(sigma0): not evaluated)
        lo_sign[l] = 0.0;
        lo_log[l] = fd_nan<double>();
        prev[l] = eps[first + (l < n ? l : 0)];
    }
    // lanes whose steps the scalar code takes (scalar rows; lanes beyond n are never stored)
    double skip[W];
    for (int l = 0; l < W; ++l) skip[l] = (l < n && !scalar_row[l]) ? 0.0 : 1.0;
    const double inf = fd_inf<double>();
    Solved sv;
    for (long long j = 0; j < nt; ++j) {
        const double tj = t[j];
        for (int l = 0; l < W; ++l) tl[l] = tj;
        solve_lanes(bk, tl, lo, tab_sigma, tab_dsigma, sv);
        // lane_step's common case for every lane at once, where no stored lane needs the
        // scalar solver (t != 0, lo finite, the solve accepted): the same operations
        double scalar_step[W];
        FD_LANES {
            const double special = lo[l] == inf ? 1.0 : 0.0;
            const double rejected = sv.ok[l] == 0.0 ? 1.0 : 0.0;
            scalar_step[l] = skip[l] != 0.0 ? 0.0 : special + rejected;
        }
        if (tj != 0.0 && !any_lane(scalar_step)) {
            FD_LANES accept_lane(bk, l, sv, lo[l], lo_sign[l], lo_log[l], prev[l]);
            for (int l = 0; l < n; ++l)
                if (skip[l] == 0.0) out[(first + l) * rs + j * cs] = prev[l];
            continue;
        }
        for (int l = 0; l < n; ++l) {
            if (scalar_row[l]) continue;
            const long long i = first + l;
            out[i * rs + j * cs] = lane_step(0, bk, l, sv, tj, eps[i], lo[l], lo_sign[l], lo_log[l], prev[l], status[i],
                                             tab_sigma, tab_dsigma);
        }
    }
}

/// advance for features [first, first + n) (n <= W): out = the weight dt later.
FD_SIMD_INLINE void advance_block(int objective, const long long* depth, const double* lam, const double* rho,
                          const double* w, const double* dt, long long first, int n, double* out, signed char* status,
                          const double* tab_sigma, const double* tab_dsigma, RootCache& roots) {
    Block bk;
    if (tab_sigma == nullptr || !start_block(objective, depth, lam, rho, w, first, n, roots, bk)) {
        for (int l = 0; l < n; ++l) {
            const long long i = first + l;
            FD_SIMD_ON_FALLBACK(1, 1);
            out[i] = advance(objective, int(depth[i]), lam[i], rho[i], w[i], dt[i], status[i],
                             tab_sigma, tab_dsigma);
        }
        return;
    }
    double tl[W], wl[W], w1[W], exc[W];
    gather_lanes(dt, first, n, tl);
    gather_lanes(w, first, n, wl);
    Solved sv;
    solve_lanes(bk, tl, bk.s0, tab_sigma, tab_dsigma, sv);
    FD_LANES {
        w1[l] = monotone(sv.w[l], wl[l], bk.w_star[l], GROWTH);
        // the lanes finished below: dt = 0, a scalar start, a scalar solve
        exc[l] = (tl[l] == 0.0 ? 1.0 : 0.0) + (bk.vec[l] == 0.0 ? 1.0 : 0.0) + (sv.ok[l] == 0.0 ? 1.0 : 0.0);
    }
    for (int l = 0; l < n; ++l) status[first + l] = SUCCESS;
    if (n == W && !any_lane(exc)) {
        FD_LANES out[first + l] = w1[l];  // (the common block: one vector store)
        return;
    }
    for (int l = 0; l < n; ++l) {
        const long long i = first + l;
        if (exc[l] == 0.0) {
            out[i] = w1[l];
        } else if (dt[i] == 0.0) {
            out[i] = w[i];
        } else if (bk.vec[l] == 0.0) {  // a start the vector path does not take (decay, at the fixed point)
            FD_SIMD_ON_FALLBACK(1, 1);
            out[i] = advance(objective, bk.depth, lam[i], rho[i], w[i], dt[i], status[i], tab_sigma, tab_dsigma);
        } else {  // the scalar solve from the block's start (as trajectory_block's)
            FD_SIMD_ON_FALLBACK(1, 1);
            const SolveAt r = solve_at(objective, bk.depth, lane_start(bk, l), dt[i], bk.s0[l], 0.0,
                                       fd_nan<double>(), tab_sigma, tab_dsigma);
            status[i] = r.status;
            out[i] = monotone(bk.w_star[l] * fd_exp(r.lp / bk.b), w[i], bk.w_star[l], GROWTH);
        }
    }
}

// ---- a flow state: the trajectory of each feature, stepped by the caller ------------
// A user's time loop advances every feature by its own dt each step.  Restarting from the
// weight each step (advance_block) repeats the start: half the work, and each restart
// carries the previous step's rounding.  A flow state keeps, per feature, the origin w0
// of its trajectory, the clock t (the sum of the steps) and the solver's state at that
// clock: each step is one solve of trajectory_block's at t + dt, and the weight is
// trajectory_block's value at the clock, to the bit.  Rows (each of length n, the row
// stride given):
constexpr int S_W0 = 0;        // the origin's weight
constexpr int S_T = 1;         // the clock: the sum of the steps since the origin
constexpr int S_W = 2;         // the weight at the clock
constexpr int S_VEC = 3;       // Block::vec (1: the vector path; 0: the scalar solver)
constexpr int S_S0 = 4;        // Block::s0 .. Block::w_star
constexpr int S_TAU0 = 5;
constexpr int S_K = 6;
constexpr int S_LOG_K = 7;
constexpr int S_LOG_RHO = 8;
constexpr int S_W_STAR = 9;
constexpr int S_LO = 10;       // the solver's lower bound: sigma at the last solve
constexpr int S_LO_SIGN = 11;  // F(lo) = sign e^log (log NaN: not evaluated)
constexpr int S_LO_LOG = 12;
constexpr int STATE_ROWS = 13;

/// A flow state at weights w (the origins, clock 0) for features [first, first + n) (n <= W,
/// one depth): trajectory_block's start.
FD_SIMD_INLINE void state_init_block(int objective, const long long* depth, const double* lam, const double* rho,
                                     const double* w, long long first, int n, double* state, long long rs,
                                     RootCache& roots, const double* tab_sigma, const double* tab_dsigma) {
    Block bk;
    const bool vector = tab_sigma != nullptr && start_block(objective, depth, lam, rho, w, first, n, roots, bk);
    for (int l = 0; l < n; ++l) {
        const long long i = first + l;
        double* st_ = state + i;
        st_[S_W0 * rs] = w[i];
        st_[S_T * rs] = 0.0;
        st_[S_W * rs] = w[i];
        if (vector && bk.vec[l] != 0.0) {
            st_[S_VEC * rs] = 1.0;
            st_[S_S0 * rs] = bk.s0[l];
            st_[S_TAU0 * rs] = bk.tau0[l];
            st_[S_K * rs] = bk.k_rate[l];
            st_[S_LOG_K * rs] = bk.log_k[l];
            st_[S_LOG_RHO * rs] = bk.log_rho[l];
            st_[S_W_STAR * rs] = bk.w_star[l];
            st_[S_LO * rs] = bk.s0[l];
            st_[S_LO_SIGN * rs] = 0.0;
            st_[S_LO_LOG * rs] = fd_nan<double>();  // (lane_start's F(sigma0): not evaluated)
        } else {  // trajectory_row's start (recomputed at each step: the rare scalar features)
            const Start st = start_of(objective, int(depth[i]), lam[i], rho[i], w[i]);
            st_[S_VEC * rs] = 0.0;
            for (int r = S_S0; r <= S_W_STAR; ++r) st_[r * rs] = fd_nan<double>();
            st_[S_LO * rs] = st.s0;
            st_[S_LO_SIGN * rs] = st.sign0;
            st_[S_LO_LOG * rs] = st.log0;
        }
    }
}

/// One step of dt[i] for features [first, first + n) of a flow state (n <= W, one depth):
/// the clock advances by dt, out[i] is the weight at the new clock (trajectory_block's, to
/// the bit, at the summed clock), status[i] the step's status.  dt >= 0.
FD_SIMD_INLINE void state_advance_block(int objective, const long long* depth, const double* lam, const double* rho,
                                        double* state, long long rs, const double* dt, long long first, int n,
                                        double* out, signed char* status, const double* tab_sigma,
                                        const double* tab_dsigma) {
    const int d0 = int(depth[first]);
    double tl[W], lo[W], dtl[W], vec[W];
    gather_lanes(state + S_T * rs, first, n, tl);
    gather_lanes(dt, first, n, dtl);
    gather_lanes(state + S_VEC * rs, first, n, vec);
    FD_LANES tl[l] = tl[l] + dtl[l];
    Solved sv;
    Block bk;
    if (tab_sigma != nullptr && any_lane(vec)) {
        bk.depth = d0;
        bk.objective = objective;
        bk.m = integer_m(objective, d0);
        bk.b = family_b<double>(objective, d0);
        bk.q = family_q<double>(objective, d0);
        FD_LANES bk.vec[l] = vec[l];
        gather_lanes(state + S_S0 * rs, first, n, bk.s0);
        gather_lanes(state + S_TAU0 * rs, first, n, bk.tau0);
        gather_lanes(state + S_K * rs, first, n, bk.k_rate);
        gather_lanes(state + S_LOG_K * rs, first, n, bk.log_k);
        gather_lanes(state + S_LOG_RHO * rs, first, n, bk.log_rho);
        gather_lanes(state + S_W_STAR * rs, first, n, bk.w_star);
        gather_lanes(state + S_LO * rs, first, n, lo);
        solve_lanes(bk, tl, lo, tab_sigma, tab_dsigma, sv);
    }
    for (int l = 0; l < n; ++l) {
        const long long i = first + l;
        double* st_ = state + i;
        const double t = tl[l], w0 = st_[S_W0 * rs];
        double lo_l = st_[S_LO * rs], lo_sign = st_[S_LO_SIGN * rs], lo_log = st_[S_LO_LOG * rs];
        double prev = st_[S_W * rs];
        st_[S_T * rs] = t;
        status[i] = SUCCESS;
        if (vec[l] != 0.0) {  // trajectory_block's step
            out[i] = lane_step(3, bk, l, sv, t, w0, lo_l, lo_sign, lo_log, prev, status[i], tab_sigma, tab_dsigma);
        } else {  // trajectory_row's step, from the origin's start
            FD_SIMD_ON_FALLBACK(3, 1);
            const Start st = start_of(objective, d0, lam[i], rho[i], w0);
            out[i] = st.branch == AT_FIXED
                         ? w0
                         : trajectory_step(objective, d0, st, w0, fd_exp(st.log_rho / st.b), t, lo_l, lo_sign,
                                           lo_log, prev, status[i], tab_sigma, tab_dsigma);
        }
        st_[S_LO * rs] = lo_l;
        st_[S_LO_SIGN * rs] = lo_sign;
        st_[S_LO_LOG * rs] = lo_log;
        st_[S_W * rs] = prev;
    }
}

/// vecmath.h's functions over an array, in lane loops like the solver's (the tests'
/// window on them): which = 0 exp, 1 expm1, 2 log, 3 log1p, 4 atan, 5 atan2(x, y)
/// (y: the second argument of atan2, else unused).
FD_SIMD_INLINE void vm_eval(int which, long long n, const double* x, const double* y, double* out) {
    if (which == 0) {
#pragma omp simd
        for (long long i = 0; i < n; ++i) out[i] = vm::exp(x[i]);
    } else if (which == 1) {
#pragma omp simd
        for (long long i = 0; i < n; ++i) out[i] = vm::expm1(x[i]);
    } else if (which == 2) {
#pragma omp simd
        for (long long i = 0; i < n; ++i) out[i] = vm::log(x[i]);
    } else if (which == 3) {
#pragma omp simd
        for (long long i = 0; i < n; ++i) out[i] = vm::log1p(x[i]);
    } else if (which == 4) {
#pragma omp simd
        for (long long i = 0; i < n; ++i) out[i] = vm::atan(x[i]);
    } else {
#pragma omp simd
        for (long long i = 0; i < n; ++i) out[i] = vm::atan2(x[i], y[i]);
    }
}

/// The blocks of features [first, first + n): W features of one depth at a
/// time; where a block mixes depths, its features one lane each (a feature's
/// result depends on its own inputs only, never on the other features).
#define FD_FOR_BLOCKS(depth, first, n, CALL)                                   \
    for (long long f_ = (first); f_ < (first) + (n); f_ += W) {                \
        const int k_ = (first) + (n) - f_ < W ? int((first) + (n) - f_) : W;  \
        if (one_depth(depth, f_, k_)) {                                        \
            CALL(f_, k_);                                                      \
        } else {                                                               \
            for (int l_ = 0; l_ < k_; ++l_) CALL(f_ + l_, 1);                  \
        }                                                                      \
    }

/// trajectory_block over features [first, first + n).
FD_SIMD_CLONES inline void trajectory_features(long long nt, const double* t, int objective, const long long* depth,
                                               const double* lam, const double* rho, const double* eps,
                                               long long first, long long n, double* out, long long rs,
                                               long long cs, signed char* status, const double* tab_sigma,
                                               const double* tab_dsigma) {
    RootCache roots;
#define FD_CALL(f, k) \
    trajectory_block(nt, t, objective, depth, lam, rho, eps, f, k, out, rs, cs, status, tab_sigma, tab_dsigma, roots)
    FD_FOR_BLOCKS(depth, first, n, FD_CALL)
#undef FD_CALL
}

/// advance_block over features [first, first + n).
FD_SIMD_CLONES inline void advance_features(int objective, const long long* depth, const double* lam,
                                            const double* rho, const double* w, const double* dt, long long first,
                                            long long n, double* out, signed char* status, const double* tab_sigma,
                                            const double* tab_dsigma) {
    RootCache roots;
#define FD_CALL(f, k) \
    advance_block(objective, depth, lam, rho, w, dt, f, k, out, status, tab_sigma, tab_dsigma, roots)
    FD_FOR_BLOCKS(depth, first, n, FD_CALL)
#undef FD_CALL
}

/// state_init_block over features [first, first + n).
FD_SIMD_CLONES inline void state_init_features(int objective, const long long* depth, const double* lam,
                                               const double* rho, const double* w, long long first, long long n,
                                               double* state, long long rs, const double* tab_sigma,
                                               const double* tab_dsigma) {
    RootCache roots;
#define FD_CALL(f, k) state_init_block(objective, depth, lam, rho, w, f, k, state, rs, roots, tab_sigma, tab_dsigma)
    FD_FOR_BLOCKS(depth, first, n, FD_CALL)
#undef FD_CALL
}

/// state_advance_block over features [first, first + n).
FD_SIMD_CLONES inline void state_advance_features(int objective, const long long* depth, const double* lam,
                                                  const double* rho, double* state, long long rs, const double* dt,
                                                  long long first, long long n, double* out, signed char* status,
                                                  const double* tab_sigma, const double* tab_dsigma) {
#define FD_CALL(f, k) \
    state_advance_block(objective, depth, lam, rho, state, rs, dt, f, k, out, status, tab_sigma, tab_dsigma)
    FD_FOR_BLOCKS(depth, first, n, FD_CALL)
#undef FD_CALL
}

/// JEPA's F(sigma1) - F(sigma0) / K into res[l] where flag[l] != 0, for lanes from start
/// lanes sl with sigma1 - sigma0 = ds[l] > 0 and psi1 - psi0 = dpsi[l] (log_delta_f's
/// quantity, in closed form and without cancellation at every interval length).
///
/// F = sigma - Poly(y), y = e^-sigma = (1 - psi)/psi, Poly(y) = sum_j C(m,j)/j y^j, so
///   F1 - F0 = ds + (Poly(y0) - Poly(y1)) = ds + (y0 - y1) sum_j C(m,j)/j h_j,
/// with y0^j - y1^j = (y0 - y1) h_j, h_j = sum_{k<j} y0^k y1^(j-1-k) (h_1 = 1,
/// h_j = y0 h_(j-1) + y1^(j-1)): every term is positive.  The difference itself is
/// y0 - y1 = dpsi / (psi0 psi1); y0 = -expm1(lp0)/psi0 (start_lanes' em_lp0), and
/// 1 - psi1 = (1 - psi0) - dpsi carries an error of a few ulps of 1 - psi0 only, that is of
/// y0, where y1 <= y0 enters: the sum's relative error is O(m) roundings, that of
/// Gauss-Legendre's (1 + e^-s)^m at its nodes, with no quadrature error and no
/// transcendental function.  With m |sigma0| <= 600 (the caller's) the largest term,
/// (1 + y0)^m <= 2^m e^600, stays finite.
FD_SIMD_INLINE void jepa_delta_f(int m, const StartLanes& sl, const double* ds, const double* dpsi,
                                 const double* flag, double* res) {
    double y0[W], y1[W], dy[W], h[W], y1j[W], sum[W];
    FD_LANES {
        const double psi0 = sl.psi0[l], psi1 = psi0 + dpsi[l];
        y0[l] = -sl.em_lp0[l] / psi0;
        y1[l] = (-sl.em_lp0[l] - dpsi[l]) / psi1;
        dy[l] = dpsi[l] / (psi0 * psi1);
        h[l] = 1.0;
        y1j[l] = 1.0;
        sum[l] = cj(m, 1);  // C(m,1)/1 h_1
    }
    for (int j = 2; j <= m; ++j) {
        const double c = cj(m, j);
        FD_LANES {
            y1j[l] *= y1[l];
            h[l] = y0[l] * h[l] + y1j[l];
            sum[l] += c * h[l];
        }
    }
    FD_LANES res[l] = flag[l] != 0.0 ? (ds[l] + dy[l] * sum[l]) / sl.k_rate[l] : res[l];
}

/// critical_time for features [first, first + n) (n <= W, one depth) into out.
/// f_star: F(sigma*) per depth (levels[depth], NaN: per-feature p).
///
/// Each lane takes one of critical_time's common forms in vector registers:
/// the plateau coordinate F(sigma*)/K - tau0 (start_lanes' growth_tau0) when the
/// start is well below the target, else the difference F(sigma*) - F(sigma0):
/// for JEPA in closed form without cancellation (jepa_delta_f), for MAE by
/// log_delta_f's Gauss-Legendre integral over a short interval.  eps^(1/L) is
/// refined_root's (within an ulp, as libm's pow); rho^(q-1) is a product for JEPA
/// and mae_rho_power's refined root for MAE.  Every other lane (MAE's long intervals, K
/// beyond float64) is the scalar critical_time's.
FD_SIMD_INLINE void critical_block(int objective, const long long* depth, const double* lam, const double* rho,
                                   const double* eps, const double* p, const double* levels, long long first, int n,
                                   double* out, RootCache& roots) {
    const int d0 = int(depth[first]);
    const int m = integer_m(objective, d0);
    if (m == 0) {  // MAE depth 1: F = sigma
        for (int l = 0; l < n; ++l) {
            const long long i = first + l;
            FD_SIMD_ON_FALLBACK(2, 1);
            out[i] = critical_time(objective, d0, lam[i], rho[i], eps[i], p[i], levels[d0]);
        }
        return;
    }
    const double b = family_b<double>(objective, d0);
    const double q = family_q<double>(objective, d0);
    const double dm = double(m);
    double la[W], ra[W], ea[W], pa[W], fs[W], res[W], ok[W];
    double ds_[W], dpsi_[W], gl_[W], diff_[W];
    gather_lanes(lam, first, n, la);
    gather_lanes(rho, first, n, ra);
    gather_lanes(eps, first, n, ea);
    gather_lanes(p, first, n, pa);
    const double f_level = levels[d0];
    if (f_level == f_level)
        FD_LANES fs[l] = f_level;
    else
        for (int l = 0; l < W; ++l) fs[l] = critical_level(objective, d0, pa[l]);
    StartLanes sl;
    start_lanes(objective, d0, la, ra, ea, false, roots, sl);
    const double* s0_ = sl.s0;
    double lp1_[W];
    FD_LANES lp1_[l] = b * vm::log(pa[l]);
    // delta_sigma for log_delta_f's forms, where a lane takes one (lp1 - lp0 <= 1; on the
    // plateau, as on the workload, no lane does)
    FD_LANES {
        ds_[l] = 0.0;
        dpsi_[l] = 0.0;
        diff_[l] = lp1_[l] - sl.lp0[l] <= 1.0 ? 1.0 : 0.0;  // (here: a lane needs delta_sigma)
    }
    if (any_lane(diff_)) {
        FD_LANES {
            const double dlp = lp1_[l] - sl.lp0[l];
            const double dpsi = sl.psi0[l] * vm::expm1(dlp);
            ds_[l] = dlp - vm::log1p(-dpsi / -sl.em_lp0[l]);
            dpsi_[l] = dpsi;
        }
    }
    FD_LANES {
        const double lp0 = sl.lp0[l], lp1 = lp1_[l];
        const double ds = ds_[l];
        const double s0 = sl.s0[l], k = sl.k_rate[l];
        // the plateau form: F(sigma*)/K - tau0, when the start is well below the target
        // (1/K: the scalar's e^-log K to within its rounding)
        const double plateau = fs[l] / k - sl.tau0[l];
        const double rate = q - 1.0 > 1.0 ? q - 1.0 : 1.0;
        // (selects on doubles, one condition each: && of comparisons would not vectorize)
        double use_plateau = lp1 - lp0 > 1.0 ? sl.ok[l] : 0.0;
        use_plateau = (k > K_PLATEAU_MIN && k < K_PLATEAU_MAX) ? use_plateau : 0.0;
        double close = lp1 - lp0 <= 1.0 ? 1.0 : 0.0;
        close = ds <= 2.0 ? close : 0.0;
        close = ds * rate <= 16.0 ? close : 0.0;
        close = k > 0.0 ? close : 0.0;  // K beyond float64 (k_rate = 0): the scalar
        // JEPA: every interval of log_delta_f (lp1 - lp0 <= 1) by jepa_delta_f, where no power
        // of y = e^-sigma overflows (m |sigma0| <= 600); MAE: the short ones ("close") by
        // Gauss-Legendre, the others are the scalar's
        double diff = (m > 0 && lp1 - lp0 <= 1.0) ? 1.0 : 0.0;
        diff = dm * -(s0 < 0.0 ? s0 : 0.0) <= 600.0 ? diff : 0.0;
        diff = k > 0.0 ? diff : 0.0;
        const bool zero = lp0 >= lp1;  // at or above the target: 0
        diff = zero ? 0.0 : diff;
        diff_[l] = diff;
        const double gl = (m > 0 || zero || use_plateau != 0.0) ? 0.0 : close;
        gl_[l] = gl;
        double o = use_plateau;
        o = gl != 0.0 ? 1.0 : o;
        o = diff != 0.0 ? 1.0 : o;
        ok[l] = zero ? 1.0 : o;
        res[l] = zero ? 0.0 : plateau;
    }
    if (any_lane(diff_)) jepa_delta_f(m, sl, ds_, dpsi_, diff_, res);
    if (any_lane(gl_)) {
        // MAE: log_gl_integral(s0, s0 + ds): log int psi^(1-q) dsigma by 24-point Gauss-Legendre,
        // the integrand scaled by its larger endpoint value e^eref
        double eref[W], total[W], half[W], mid[W], lk_[W];
        FD_LANES {
            lk_[l] = vm::log(sl.k_rate[l]);
            const double s0 = s0_[l], s1 = s0_[l] + ds_[l];
            const double a0 = (1.0 - q) * ((s0 < 0.0 ? s0 : 0.0) - vm::log1p(vm::exp(s0 < 0.0 ? s0 : -s0)));
            const double a1 = (1.0 - q) * ((s1 < 0.0 ? s1 : 0.0) - vm::log1p(vm::exp(s1 < 0.0 ? s1 : -s1)));
            eref[l] = a1 > a0 ? a1 : a0;
            half[l] = 0.5 * ds_[l];
            mid[l] = s0 + half[l];
            total[l] = 0.0;
        }
        for (int g = 0; g < GL_N; ++g) {
            const double xg = gl_x(g), wg = gl_w(g);
            FD_LANES {
                const double sg = mid[l] + half[l] * xg;
                const double lps = (sg < 0.0 ? sg : 0.0) - vm::log1p(vm::exp(sg < 0.0 ? sg : -sg));
                total[l] += wg * vm::exp((1.0 - q) * lps - eref[l]);
            }
        }
        FD_LANES {
            const double ldf = eref[l] + vm::log(total[l] * half[l]);
            res[l] = gl_[l] != 0.0 ? vm::exp(ldf - lk_[l]) : res[l];
        }
    }
    for (int l = 0; l < n; ++l) {
        const long long i = first + l;
        if (ok[l] != 0.0) {
            out[i] = res[l];
        } else {
            FD_SIMD_ON_FALLBACK(2, 1);
            out[i] = critical_time(objective, d0, lam[i], rho[i], eps[i], p[i], levels[d0]);
        }
    }
}

/// critical_block over features [first, first + n).
FD_SIMD_CLONES inline void critical_features(int objective, const long long* depth, const double* lam,
                                             const double* rho, const double* eps, const double* p,
                                             const double* levels, long long first, long long n, double* out) {
    RootCache roots;
#define FD_CALL(f, k) critical_block(objective, depth, lam, rho, eps, p, levels, f, k, out, roots)
    FD_FOR_BLOCKS(depth, first, n, FD_CALL)
#undef FD_CALL
}

#undef FD_FOR_BLOCKS

}  // namespace simd
}  // namespace fastdyn

#ifdef FD_SIMD_POP_OPTIONS
#pragma GCC pop_options
#undef FD_SIMD_POP_OPTIONS
#endif
