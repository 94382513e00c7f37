// fastdyn's CPU library: the per-feature functions of the headers, exported by symbol.
//
// The headers of this folder are the only definition of the per-feature math
// (closed forms, inverse tables, exact solver, adaptive integrator, tableau,
// EMA two-state system).  The GPU build compiles them with NVRTC through
// cupy.RawModule (exact_kernels.cu, ode_kernels.cu: one thread per feature);
// this file compiles them with the system C++ compiler into a shared library
// when the package is built (setup.py; flags -O2 -fno-fast-math
// -ffp-contract=off, so that no fused multiply-add or reassociation changes a
// rounding).  The CPU kernels of fastdyn.kernels are Numba prange loops, one
// feature per iteration, that call the functions below by symbol (Numba's
// ExternalFunction after llvmlite's load_library_permanently); Python-level
// helpers (the inverse tables, the tests) call them through ctypes.
//
// ABI: plain C.  objective and depth are int64 (the dtype of fastdyn's depth
// arrays; Numba passes them without a cast), statuses int8, step counts int64;
// arrays are pointers to the first element with an element stride where noted.
// A null tab_sigma means "no inverse table" (the bracketed solver alone).  The
// signatures are listed once more in fastdyn/kernels/_lib.py (for Numba and
// ctypes); tests/test_host_library.py checks that list against this file.
// Every function is reentrant: no state, no allocation, no exceptions.
#include "config.h"
#include "family.h"
#include "closed.h"
#include "inverse.h"
#include "exact.h"
#include "tableau.h"
#include "ode.h"
#include "ema.h"
#include "gd.h"
#include "flow.h"
#include "simd.h"

#if defined(_WIN32)
#define FD_EXPORT extern "C" __declspec(dllexport)
#else
#define FD_EXPORT extern "C" __attribute__((visibility("default")))
#endif

#ifndef FD_SOURCE_HASH
#define FD_SOURCE_HASH "unknown"
#endif

using namespace fastdyn;
typedef long long i64;
typedef signed char i8;

// ---- build identity -----------------------------------------------------------

/// Hash of the sources this library was built from (kernels/_source_hash.py).
FD_EXPORT const char* fdh_source_hash() { return FD_SOURCE_HASH; }
FD_EXPORT i64 fdh_max_depth() { return MAX_DEPTH; }
FD_EXPORT i64 fdh_inverse_knots() { return N_KNOTS; }

// ---- the family (eq. 7, 8) and the exact solver ----------------------------------

FD_EXPORT double fdh_rhs(i64 objective, i64 depth, double w, double lam, double rho) {
    return rhs<double>((int)objective, (int)depth, w, lam, rho);
}

FD_EXPORT double fdh_fixed_point(i64 objective, i64 depth, double rho) {
    return fixed_point<double>((int)objective, (int)depth, rho);
}

FD_EXPORT double fdh_time_between(i64 objective, i64 depth, double lam, double rho, double w0, double w1) {
    return time_between((int)objective, (int)depth, lam, rho, w0, w1);
}

/// Exact flow map; *status receives the status.
FD_EXPORT double fdh_advance(i64 objective, i64 depth, double lam, double rho, double w, double dt,
                             const double* tab_sigma, const double* tab_dsigma, i8* status) {
    return advance((int)objective, (int)depth, lam, rho, w, dt, *status, tab_sigma, tab_dsigma);
}

/// w(t[j]) of one feature into out[j * stride]; returns the status.
FD_EXPORT i8 fdh_trajectory_row(i64 nt, const double* t, i64 objective, i64 depth, double lam, double rho,
                                double eps, double* out, i64 stride, const double* tab_sigma,
                                const double* tab_dsigma) {
    return trajectory_row(nt, t, (int)objective, (int)depth, lam, rho, eps, out, stride, tab_sigma, tab_dsigma);
}

/// Exact critical time; f_star = F(sigma*) of (objective, depth, p) or NaN (computed here).
FD_EXPORT double fdh_critical_time(i64 objective, i64 depth, double lam, double rho, double eps, double p,
                                   double f_star) {
    return critical_time((int)objective, (int)depth, lam, rho, eps, p, f_star);
}

FD_EXPORT double fdh_critical_time_asymptotic(i64 objective, i64 depth, double lam, double rho, double eps) {
    return critical_time_asymptotic((int)objective, (int)depth, lam, rho, eps);
}

FD_EXPORT double fdh_critical_level(i64 objective, i64 depth, double p) {
    return critical_level((int)objective, (int)depth, p);
}

/// The inverse-table rows of (objective, depth), N_KNOTS values each.
FD_EXPORT void fdh_inverse_row(i64 objective, i64 depth, double* sig_growth, double* dsig_growth,
                               double* sig_decay, double* dsig_decay) {
    build_inverse_row((int)objective, (int)depth, sig_growth, dsig_growth, sig_decay, dsig_decay);
}

// ---- the adaptive integrator, float64 and float32 ---------------------------------

template <typename Real>
static i8 ode_row(i64 nt, const Real* t, i64 objective, i64 depth, Real lam, Real rho, Real eps, Real rtol,
                  i64 max_steps, Real* out, i64 stride, i64* nsteps) {
    const ode::Row<Real> row{out, stride};
    const ode::FeatureResult<Real> r = ode::integrate_feature<Real>(
        (int)objective, (int)depth, lam, rho, eps, rtol, max_steps, false, Real(0), t, nt, row);
    *nsteps = r.nsteps;
    return r.status;
}

template <typename Real>
static Real ode_cross(i64 objective, i64 depth, Real lam, Real rho, Real eps, Real p, Real rtol, i64 max_steps,
                      i8* status, i64* nsteps) {
    const Real lp_star = family_b<Real>((int)objective, (int)depth) * fd_log(p);
    const ode::Row<Real> none{nullptr, 0};
    const ode::FeatureResult<Real> r = ode::integrate_feature<Real>(
        (int)objective, (int)depth, lam, rho, eps, rtol, max_steps, true, lp_star, nullptr, 0, none);
    *status = r.status;
    *nsteps = r.nsteps;
    return r.t_cross;
}

/// w(t[j]) of one feature by adaptive DP5(4) into out[j * stride]; returns the status.
FD_EXPORT i8 fdh_ode_trajectory_row(i64 nt, const double* t, i64 objective, i64 depth, double lam, double rho,
                                    double eps, double rtol, i64 max_steps, double* out, i64 stride,
                                    i64* nsteps) {
    return ode_row<double>(nt, t, objective, depth, lam, rho, eps, rtol, max_steps, out, stride, nsteps);
}

FD_EXPORT i8 fdh_ode_trajectory_row_f32(i64 nt, const float* t, i64 objective, i64 depth, float lam, float rho,
                                        float eps, float rtol, i64 max_steps, float* out, i64 stride,
                                        i64* nsteps) {
    return ode_row<float>(nt, t, objective, depth, lam, rho, eps, rtol, max_steps, out, stride, nsteps);
}

/// Critical time (eq. 11) by adaptive DP5(4); *status, *nsteps receive the status and step count.
FD_EXPORT double fdh_ode_crossing(i64 objective, i64 depth, double lam, double rho, double eps, double p,
                                  double rtol, i64 max_steps, i8* status, i64* nsteps) {
    return ode_cross<double>(objective, depth, lam, rho, eps, p, rtol, max_steps, status, nsteps);
}

FD_EXPORT float fdh_ode_crossing_f32(i64 objective, i64 depth, float lam, float rho, float eps, float p,
                                     float rtol, i64 max_steps, i8* status, i64* nsteps) {
    return ode_cross<float>(objective, depth, lam, rho, eps, p, rtol, max_steps, status, nsteps);
}

// ---- JEPA with an EMA target (two states) --------------------------------------------

/// w and w_tgt at t[j] into w[j * stride], w_tgt[j * stride]; returns the status.
FD_EXPORT i8 fdh_ema_trajectory_row(i64 nt, const double* t, i64 depth, double lam, double rho, double eps,
                                    double ema_time, double rtol, i64 max_steps, double* w, double* w_tgt,
                                    i64 stride, i64* nsteps) {
    const ema::EmaResult r =
        ema::integrate_feature(nt, t, (int)depth, lam, rho, eps, ema_time, rtol, max_steps, w, w_tgt, stride);
    *nsteps = r.nsteps;
    return r.status;
}

// ---- pieces for the tests (the tableau and one step of the integrator) ------------------

/// The DP5(4) tableau: c (7), a (7 x 7, row major), b5, b4, e (7 each), p (7 x 4).
FD_EXPORT void fdh_tableau(double* c, double* a, double* b5, double* b4, double* e, double* p) {
    using namespace dp54;
    const double cc[7] = {0.0, C2, C3, C4, C5, C6, C7};
    const double aa[49] = {0, 0, 0, 0, 0, 0, 0,
                           A21, 0, 0, 0, 0, 0, 0,
                           A31, A32, 0, 0, 0, 0, 0,
                           A41, A42, A43, 0, 0, 0, 0,
                           A51, A52, A53, A54, 0, 0, 0,
                           A61, A62, A63, A64, A65, 0, 0,
                           A71, A72, A73, A74, A75, A76, 0};
    const double bb[7] = {B1, B2, B3, B4, B5, B6, B7};
    const double bh[7] = {BH1, BH2, BH3, BH4, BH5, BH6, BH7};
    const double ee[7] = {E1, E2, E3, E4, E5, E6, E7};
    const double pp[28] = {P11, P12, P13, P14, P21, P22, P23, P24, P31, P32, P33, P34, P41, P42,
                           P43, P44, P51, P52, P53, P54, P61, P62, P63, P64, P71, P72, P73, P74};
    for (int i = 0; i < 7; ++i) {
        c[i] = cc[i];
        b5[i] = bb[i];
        b4[i] = bh[i];
        e[i] = ee[i];
    }
    for (int i = 0; i < 49; ++i) a[i] = aa[i];
    for (int i = 0; i < 28; ++i) p[i] = pp[i];
}

/// Right-hand side of the integrator's local variable (ode::phase_rhs).
FD_EXPORT double fdh_phase_rhs(i64 phase, double s, double y, double lpn, double par, double q, double log_k,
                               i64 branch) {
    return ode::phase_rhs<double>((int)phase, s, y, lpn, par, q, log_k, (int)branch);
}

/// One DP5(4) step (ode::dp_step): out = (y1, err, k2, ..., k7).
FD_EXPORT void fdh_dp_step(i64 phase, double y0, double h, double k1, double lpn, double par, double q,
                           double log_k, i64 branch, double* out) {
    const ode::Step<double> s = ode::dp_step<double>((int)phase, y0, h, k1, lpn, par, q, log_k, (int)branch);
    const double v[8] = {s.y1, s.err, s.k2, s.k3, s.k4, s.k5, s.k6, s.k7};
    for (int i = 0; i < 8; ++i) out[i] = v[i];
}

/// Dense output of a step with stages k[0..6] at theta (ode::dense_coefficients, dense_eval).
FD_EXPORT double fdh_dense_eval(double y0, double h, const double* k, double theta) {
    const ode::Dense<double> d = ode::dense_coefficients<double>(k[0], k[1], k[2], k[3], k[4], k[5], k[6]);
    return ode::dense_eval<double>(y0, h, d, theta);
}

/// The EMA system's linear tail (ema::linear_tail): out = (a, b).
FD_EXPORT void fdh_ema_linear_tail(double a0, double b0, double dt, double depth, double log_k, double beta,
                                   double* out) {
    const ema::Deviation d = ema::linear_tail(a0, b0, dt, depth, log_k, beta);
    out[0] = d.a;
    out[1] = d.b;
}

// ---- gradient descent at a finite learning rate (gd.h) ------------------------

/// One feature's recursion in place (a, v, b: the state), w at the steps rec into w_out.
FD_EXPORT i8 fdh_gd_row(i64 objective, i64 depth, double lam, double rho, double lr, double momentum,
                        double* a, double* v, double* b, i64 nrec, const i64* rec, double* w_out,
                        i64 stride) {
    return gd::run_feature((int)objective, (int)depth, lam, rho, lr, momentum, a, v, b, nrec, rec, w_out,
                           stride);
}

/// The first step at which w reaches p times its flow limit (gd::crossing_feature), into *k.
FD_EXPORT i8 fdh_gd_crossing(i64 objective, i64 depth, double lam, double rho, double lr, double momentum,
                             double* a, double* v, double* b, double p, i64 max_steps, double* k) {
    return gd::crossing_feature((int)objective, (int)depth, lam, rho, lr, momentum, a, v, b, p, max_steps,
                                k);
}

/// The flow limit of w from an aligned state (gd::flow_limit).
FD_EXPORT double fdh_gd_flow_limit(i64 objective, i64 depth, double rho, const double* a, double v) {
    return gd::flow_limit((int)objective, (int)depth, rho, a, v);
}

/// gd::LANES features of one depth in lockstep (gd::run_features_lanes); bit-identical to gd_row each.
FD_EXPORT void fdh_gd_rows_lanes(i64 objective, i64 depth, const double* lam, const double* rho, const double* lr,
                                 const double* momentum, double* a, double* v, double* b, i64 row_stride,
                                 i64 nrec, const i64* rec, double* w_out, i64 w_row, i64 w_time, i8* status) {
    gd::run_features_lanes((int)objective, (int)depth, lam, rho, lr, momentum, a, v, b, row_stride, nrec, rec,
                           w_out, w_row, w_time, status);
}

/// The number of lanes of fdh_gd_rows_lanes.
FD_EXPORT i64 fdh_gd_lanes() { return gd::LANES; }

/// Gradient flow from an aligned state (flow::trajectory_feature): w at the ODE times t.
FD_EXPORT i8 fdh_flow_trajectory_row(i64 objective, i64 depth, double lam, double rho, const double* a, double v,
                                     i64 nt, const double* t, double rtol, i64 max_steps, double* w_out,
                                     i64 stride, i64* nsteps) {
    return flow::trajectory_feature((int)objective, (int)depth, lam, rho, a, v, nt, t, rtol, max_steps, w_out,
                                    stride, nsteps);
}

/// gd::LANES crossings of one depth in lockstep (gd::crossing_features_lanes); bit-identical to gd_crossing each.
FD_EXPORT void fdh_gd_crossing_lanes(i64 objective, i64 depth, const double* lam, const double* rho, const double* lr,
                                     const double* momentum, double* a, double* v, double* b, i64 row_stride,
                                     const double* p, i64 max_steps, double* k, i8* status) {
    gd::crossing_features_lanes((int)objective, (int)depth, lam, rho, lr, momentum, a, v, b, row_stride, p, max_steps,
                                k, status);
}

/// The largest stable learning rate at the balanced fixed point (gd::stable_lr).
FD_EXPORT double fdh_gd_stable_lr(i64 objective, i64 depth, double lam, double rho, double momentum) {
    return gd::stable_lr((int)objective, (int)depth, lam, rho, momentum);
}

/// jepa-ema gradient flow from an aligned state and target (flow::ema_trajectory_feature).
FD_EXPORT i8 fdh_flow_ema_trajectory_row(i64 depth, double lam, double rho, const double* a, double v,
                                         const double* b, double ema_time, i64 nt, const double* t, double rtol,
                                         i64 max_steps, double* w_out, i64 stride, i64* nsteps) {
    return flow::ema_trajectory_feature((int)depth, lam, rho, a, v, b, ema_time, nt, t, rtol, max_steps, w_out,
                                        stride, nsteps);
}

// ---- the exact solver across features (simd.h) ------------------------------------

/// fdh_trajectory_row for features [first, first + n) in blocks of simd::W lanes:
/// out[i * rs + j * cs] = w_i(t[j]), status[i]; depth and the feature arrays contiguous.
FD_EXPORT void fdh_trajectory_block(i64 nt, const double* t, i64 objective, const i64* depth, const double* lam,
                                    const double* rho, const double* eps, i64 first, i64 n, double* out, i64 rs,
                                    i64 cs, i8* status, const double* tab_sigma, const double* tab_dsigma) {
    simd::trajectory_features(nt, t, (int)objective, depth, lam, rho, eps, first, n, out, rs, cs, status, tab_sigma,
                              tab_dsigma);
}

/// fdh_advance for features [first, first + n) in blocks of simd::W lanes: out[i], status[i].
FD_EXPORT void fdh_advance_block(i64 objective, const i64* depth, const double* lam, const double* rho,
                                 const double* w, const double* dt, i64 first, i64 n, double* out, i8* status,
                                 const double* tab_sigma, const double* tab_dsigma) {
    simd::advance_features((int)objective, depth, lam, rho, w, dt, first, n, out, status, tab_sigma, tab_dsigma);
}

/// A flow state (simd.h's rows S_*, row stride rs) at weights w for features [first, first + n).
FD_EXPORT void fdh_state_init_block(i64 objective, const i64* depth, const double* lam, const double* rho,
                                    const double* w, i64 first, i64 n, double* state, i64 rs,
                                    const double* tab_sigma, const double* tab_dsigma) {
    simd::state_init_features((int)objective, depth, lam, rho, w, first, n, state, rs, tab_sigma, tab_dsigma);
}

/// One step dt[i] of a flow state for features [first, first + n): out[i], status[i].
FD_EXPORT void fdh_state_advance_block(i64 objective, const i64* depth, const double* lam, const double* rho,
                                       double* state, i64 rs, const double* dt, i64 first, i64 n, double* out,
                                       i8* status, const double* tab_sigma, const double* tab_dsigma) {
    simd::state_advance_features((int)objective, depth, lam, rho, state, rs, dt, first, n, out, status, tab_sigma,
                                 tab_dsigma);
}

/// The rows of a flow state (simd::STATE_ROWS).
FD_EXPORT i64 fdh_state_rows() { return simd::STATE_ROWS; }

/// fdh_critical_time for features [first, first + n) in blocks of simd::W lanes; levels[L] =
/// F(sigma*) of depth L or NaN (per-feature p).
FD_EXPORT void fdh_critical_block(i64 objective, const i64* depth, const double* lam, const double* rho,
                                  const double* eps, const double* p, const double* levels, i64 first, i64 n,
                                  double* out) {
    simd::critical_features((int)objective, depth, lam, rho, eps, p, levels, first, n, out);
}

/// The lanes of a block (simd::W).
FD_EXPORT i64 fdh_simd_lanes() { return simd::W; }

/// vecmath.h over an array (for the tests): simd::vm_eval's functions.
FD_EXPORT FD_SIMD_TARGETS void fdh_vm_eval(i64 which, i64 n, const double* x, const double* y, double* out) {
    simd::vm_eval((int)which, n, x, y, out);
}
