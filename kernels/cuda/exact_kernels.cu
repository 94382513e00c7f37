// Kernel entry points of the exact (closed-form) solver: one thread per feature.
//
// The same file builds the GPU module (cupy.RawModule / nvcc) and, through
// config.h, a host library (g++ -x c++) that tests/test_cuda_exact.py compares
// with the CPU kernels of kernels/_exact.py (same arguments, same per-feature
// functions: on the host the same bits).
// ABI: every array is C-contiguous of length n unless stated; depth int64;
// status int8; tab_sigma/tab_dsigma are _inverse.tables_for(objective, depths),
// shape (2, 128, N_KNOTS) float64, built on the host (nullptr: no table, the
// bracketed solver alone, as advance_weight of the scalar API).
#include "config.h"
#include "exact.h"
#include "family.h"

using namespace fastdyn;

/// out[i * stride_feature + j * stride_time] = w_i(t[j]) (eq. 7/8, exact), t
/// non-decreasing of length nt; status[i] the feature's status.
FD_GLOBAL void fd_trajectory_exact(long long n, long long nt, const double* t, int objective, const long long* depth,
                                   const double* lam, const double* rho, const double* eps, double* out,
                                   long long stride_feature, long long stride_time, signed char* status,
                                   const double* tab_sigma, const double* tab_dsigma) {
    FD_FOR_EACH(i, n) {
        status[i] = trajectory_row(nt, t, objective, (int)depth[i], lam[i], rho[i], eps[i], out + i * stride_feature,
                                   stride_time, tab_sigma, tab_dsigma);
    }
}

/// out[i] = exact time for feature i to go from eps[i] to w[i] (+inf if never).
FD_GLOBAL void fd_time_to_reach(long long n, int objective, const long long* depth, const double* lam,
                                const double* rho, const double* eps, const double* w, double* out) {
    FD_FOR_EACH(i, n) { out[i] = time_between(objective, (int)depth[i], lam[i], rho[i], eps[i], w[i]); }
}

/// out[i] = critical time (eq. 11 exact, or eq. 12/13/121 when asymptotic != 0);
/// levels: MAX_DEPTH + 1 values F(sigma*) per depth (_exact.critical_levels), NaN = per feature.
FD_GLOBAL void fd_critical_time(long long n, int objective, const long long* depth, const double* lam,
                                const double* rho, const double* eps, const double* p, int asymptotic,
                                const double* levels, double* out) {
    FD_FOR_EACH(i, n) {
        const int d = (int)depth[i];
        out[i] = asymptotic ? critical_time_asymptotic(objective, d, lam[i], rho[i], eps[i])
                            : critical_time(objective, d, lam[i], rho[i], eps[i], p[i], levels[d]);
    }
}

/// out[i] = weight a time dt[i] after w[i] (exact flow map), status[i] its status.
FD_GLOBAL void fd_advance(long long n, int objective, const long long* depth, const double* lam, const double* rho,
                          const double* w, const double* dt, double* out, signed char* status,
                          const double* tab_sigma, const double* tab_dsigma) {
    FD_FOR_EACH(i, n) {
        signed char st;
        out[i] = advance(objective, (int)depth[i], lam[i], rho[i], w[i], dt[i], st, tab_sigma, tab_dsigma);
        status[i] = st;
    }
}

/// out[i] = fixed point of feature i (corollary 3.3).
FD_GLOBAL void fd_fixed_point(long long n, int objective, const long long* depth, const double* rho, double* out) {
    FD_FOR_EACH(i, n) { out[i] = fixed_point<double>(objective, (int)depth[i], rho[i]); }
}

/// out[i] = dw/dt of eq. 7 (JEPA) / eq. 8 (MAE) at w[i].
FD_GLOBAL void fd_rhs(long long n, int objective, const long long* depth, const double* w, const double* lam,
                      const double* rho, double* out) {
    FD_FOR_EACH(i, n) { out[i] = rhs<double>(objective, (int)depth[i], w[i], lam[i], rho[i]); }
}

#ifndef __CUDACC__
// Host-only accessors for the tests: the constant tables of closed.h as
// arrays cj (128, 128) [m, j], gl_x/gl_w (24,), MAE's G series (FD_MAE_G_SIZE,
// packed by depth) and Lambda series (FD_MAE_LAMBDA_SIZE, packed by n), read
// through their accessors, and the float instantiation of family.h (which the
// kernels do not use).
FD_GLOBAL void fd_closed_tables(double* cj_out, double* gl_xo, double* gl_wo, double* mae_g_out,
                                double* mae_lambda_out) {
    for (int L = 1; L <= MAX_DEPTH; ++L) {
        const int m = 2 * L - 1;
        for (int j = 1; j <= m; ++j) cj_out[m * 128 + j] = cj(m, j);
    }
    for (int i = 0; i < GL_N; ++i) {
        gl_xo[i] = gl_x(i);
        gl_wo[i] = gl_w(i);
    }
    int at = 0;
    for (int n = 2; n <= MAX_DEPTH + 1; ++n)
        for (int k = 0; k < mae_g_terms(n); ++k) mae_g_out[at++] = mae_g_coeffs(n)[k];
    at = 0;
    for (int n = 3; n <= MAX_DEPTH + 1; ++n)
        for (int k = 0; k < mae_lambda_terms(n); ++k) mae_lambda_out[at++] = mae_lambda_coeffs(n)[k];
}

/// rhs and fixed point in single precision (float family.h instantiation).
FD_GLOBAL void fd_family_float(long long n, int objective, const long long* depth, const float* w, const float* lam,
                               const float* rho, float* rhs_out, float* fixed_out) {
    FD_FOR_EACH(i, n) {
        rhs_out[i] = rhs<float>(objective, (int)depth[i], w[i], lam[i], rho[i]);
        fixed_out[i] = fixed_point<float>(objective, (int)depth[i], rho[i]);
    }
}
#endif
