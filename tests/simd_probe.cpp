// The vector paths of kernels/cuda/simd.h built for one instruction set
// (tests/test_simd.py compiles this file with -march=x86-64, x86-64-v3 and
// x86-64-v4 and checks that every build gives the installed library's bits), and
// counts the results the scalar solver computes (simd.h's FD_SIMD_ON_FALLBACK:
// which lanes leave the vector path).  Single-threaded use only.
static long long probe_fallbacks[4];
#define FD_SIMD_ON_FALLBACK(kind, count) (probe_fallbacks[kind] += (count))
#include "simd.h"

using namespace fastdyn;
typedef long long i64;

extern "C" {
/// The scalar solver's results since the last call (kind: 0 trajectory entries, 1 flow
/// map, 2 critical times, 3 flow-state steps); resets the count.
i64 probe_take_fallbacks(i64 kind) {
    const i64 n = probe_fallbacks[kind];
    probe_fallbacks[kind] = 0;
    return n;
}

void probe_vm_eval(i64 which, i64 n, const double* x, const double* y, double* out) {
    simd::vm_eval((int)which, n, x, y, out);
}

void probe_trajectory(i64 nt, const double* t, i64 objective, const i64* depth, const double* lam, const double* rho,
                      const double* eps, i64 n, double* out, signed char* status, const double* ts,
                      const double* td) {
    simd::trajectory_features(nt, t, (int)objective, depth, lam, rho, eps, 0, n, out, nt, 1, status, ts, td);
}

void probe_advance(i64 objective, const i64* depth, const double* lam, const double* rho, const double* w,
                   const double* dt, i64 n, double* out, signed char* status, const double* ts, const double* td) {
    simd::advance_features((int)objective, depth, lam, rho, w, dt, 0, n, out, status, ts, td);
}

void probe_state_init(i64 objective, const i64* depth, const double* lam, const double* rho, const double* w,
                      i64 n, double* state, const double* ts, const double* td) {
    simd::state_init_features((int)objective, depth, lam, rho, w, 0, n, state, n, ts, td);
}

void probe_state_advance(i64 objective, const i64* depth, const double* lam, const double* rho, double* state,
                         const double* dt, i64 n, double* out, signed char* status, const double* ts,
                         const double* td) {
    simd::state_advance_features((int)objective, depth, lam, rho, state, n, dt, 0, n, out, status, ts, td);
}

/// MAE's R(s) above the plateau: closed.h's scalar mae_r at sigma (s = psi^(1/n) > 1/2) and
/// simd.h's mae_r_closed at (s, em = s - 1), W lanes at a time (count a multiple of W).
void probe_mae_r(i64 n, i64 count, const double* sigma, double* out) {
    for (i64 i = 0; i < count; ++i) out[i] = mae_r(sigma[i], log_psi_of_sigma<double>(sigma[i], GROWTH), (int)n);
}
void probe_mae_r_lanes(i64 n, i64 count, const double* s, const double* em, double* out) {
    for (i64 i = 0; i < count; i += simd::W) simd::mae_r_closed((int)n, s + i, em + i, out + i);
}
/// inverse.h's chi_growth_mae_plateau: chi, chi', chi'' and log psi per sigma (rows of out).
void probe_mae_plateau(i64 n, i64 count, const double* sigma, double* out) {
    const double q = 2.0 * double(n - 1) / double(n);
    for (i64 i = 0; i < count; ++i) {
        const ChiDerivs c = chi_growth_mae_plateau(sigma[i], (int)n, q);
        out[4 * i] = c.chi;
        out[4 * i + 1] = c.d1;
        out[4 * i + 2] = c.d2;
        out[4 * i + 3] = c.lp;
    }
}

void probe_critical(i64 objective, const i64* depth, const double* lam, const double* rho, const double* eps,
                    const double* p, const double* levels, i64 n, double* out) {
    simd::critical_features((int)objective, depth, lam, rho, eps, p, levels, 0, n, out);
}
}
