// Kernel entry points of the adaptive DP5(4) integrators: the per-feature ODE (ode.h),
// float64 and float32, and the two-state JEPA-EMA system (ema.h), float64.
//
// ABI (fixed; the Python GPU glue launches exactly these with cupy.RawModule,
// the host tests call the same symbols through tests/cuda_host.py).  All
// arrays are C-contiguous of length n unless stated; depth int64, status int8,
// nsteps int64 (accepted plus rejected steps).  The float64 entries take the
// arguments of kernels/_ode.py's ode_trajectory_kernel / ode_crossing_kernel
// plus the output strides:
//
//   fd_ode_trajectory: w of feature i at t[j] (nt output times, non-decreasing,
//     >= 0) goes to out[i*stride_feature + j*stride_time] (the GPU glue passes
//     1, n for coalesced writes; the host tests nt, 1).  status[i] is SUCCESS,
//     MAX_STEPS, NON_FINITE or NO_CONVERGENCE; a failed row holds NaN from the
//     failure on.
//   fd_ode_crossing: t_cross[i] = first time with w >= p[i] w* (eq. 11): 0 when
//     the feature starts at or above that level, +inf (SUCCESS) when it lies
//     beyond the largest finite value of the type, NaN with a failure status.
//   fd_ema_trajectory (objective "jepa-ema"; the arguments of
//     kernels/_ema.py's ema_trajectory_kernel plus the output strides): the
//     online weight w and the target's w_tgt of feature i at t[j] go to
//     w[i*stride_feature + j*stride_time] and w_tgt[...] (same strides);
//     ema_time[i] >= 0 per feature (0: eq. 7), rtol bounds the local relative
//     error of both weights.  status and nsteps as above.
//
// One thread per feature over a grid-stride loop (a plain loop on the host):
// every feature owns its t, step size and status and never waits for another.
#include "config.h"
#include "family.h"
#include "tableau.h"
#include "ode.h"
#include "ema.h"

FD_GLOBAL void fd_ode_trajectory(long long n, long long nt, const double* t, int objective,
                                 const long long* depth, const double* lam, const double* rho,
                                 const double* eps, double rtol, long long max_steps, double* out,
                                 long long stride_feature, long long stride_time,
                                 signed char* status, long long* nsteps) {
    FD_FOR_EACH(i, n) {
        fastdyn::ode::trajectory_feature<double>(i, nt, t, objective, depth, lam, rho, eps, rtol,
                                                 max_steps, out, stride_feature, stride_time,
                                                 status, nsteps);
    }
}

FD_GLOBAL void fd_ode_crossing(long long n, int objective, const long long* depth,
                               const double* lam, const double* rho, const double* eps,
                               const double* p, double rtol, long long max_steps, double* t_cross,
                               signed char* status, long long* nsteps) {
    FD_FOR_EACH(i, n) {
        fastdyn::ode::crossing_feature<double>(i, objective, depth, lam, rho, eps, p, rtol,
                                               max_steps, t_cross, status, nsteps);
    }
}

FD_GLOBAL void fd_ode_trajectory_f32(long long n, long long nt, const float* t, int objective,
                                     const long long* depth, const float* lam, const float* rho,
                                     const float* eps, float rtol, long long max_steps, float* out,
                                     long long stride_feature, long long stride_time,
                                     signed char* status, long long* nsteps) {
    FD_FOR_EACH(i, n) {
        fastdyn::ode::trajectory_feature<float>(i, nt, t, objective, depth, lam, rho, eps, rtol,
                                                max_steps, out, stride_feature, stride_time,
                                                status, nsteps);
    }
}

FD_GLOBAL void fd_ode_crossing_f32(long long n, int objective, const long long* depth,
                                   const float* lam, const float* rho, const float* eps,
                                   const float* p, float rtol, long long max_steps, float* t_cross,
                                   signed char* status, long long* nsteps) {
    FD_FOR_EACH(i, n) {
        fastdyn::ode::crossing_feature<float>(i, objective, depth, lam, rho, eps, p, rtol,
                                              max_steps, t_cross, status, nsteps);
    }
}

FD_GLOBAL void fd_ema_trajectory(long long n, long long nt, const double* t, const long long* depth,
                                 const double* lam, const double* rho, const double* eps,
                                 const double* ema_time, double rtol, long long max_steps,
                                 double* w, double* w_tgt, long long stride_feature,
                                 long long stride_time, signed char* status, long long* nsteps) {
    FD_FOR_EACH(i, n) {
        const fastdyn::ema::EmaResult r = fastdyn::ema::integrate_feature(
            nt, t, (int)depth[i], lam[i], rho[i], eps[i], ema_time[i], rtol, max_steps,
            w + i * stride_feature, w_tgt + i * stride_feature, stride_time);
        status[i] = r.status;
        nsteps[i] = r.nsteps;
    }
}
