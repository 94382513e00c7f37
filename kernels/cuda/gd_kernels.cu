// GPU entry points of gradient descent at a finite learning rate (gd.h): one
// thread per feature over a grid-stride loop (a plain loop on the host).
//
//   fd_gd_trajectory: the arguments of kernels/_gd.py's gd_kernel (features
//     depth, lam, rho, lr, momentum, eps [not read]) plus the initial state
//     a0, b0 (n, width) and v0 (n,) C order; w of feature i at rec[j] goes to
//     w[j * n + i] (time-major: neighbouring threads write neighbouring
//     addresses).
//   fd_gd_crossing: the first step at which w reaches p[i] of its flow limit
//     (gd::crossing_feature) into k[i].
//   fd_flow_trajectory: gradient flow from the aligned state a0 (n, width), v0
//     (flow::trajectory_feature, flow.h): w of feature i at the ODE time t[j]
//     into w[j * n + i] (time-major), its accepted plus rejected steps into
//     nsteps[i]; features depth, lam, rho, eps [not read].
//   fd_flow_ema_trajectory: jepa-ema gradient flow (flow::ema_trajectory_feature)
//     from a0, v0 and the target b0 (n, width), target lag ema_time[i]; no
//     objective argument; features depth, lam, rho, eps [not read], ema_time;
//     outputs as fd_flow_trajectory.
//   fd_gd_stable_lr: the largest stable learning rate of feature i at the
//     balanced fixed point (gd::stable_lr) into out[i]; features depth, lam,
//     rho, momentum (the launch of fastdyn._gpu.elementwise).
//
// Each thread copies its state into local memory (the recursion reads and
// writes it every step) and never waits for another feature.
#include "config.h"
#include "family.h"
#include "closed.h"
#include "gd.h"
#include "tableau.h"
#include "flow.h"

namespace {

FD_HD void load_state(long long i, int depth, long long width, const double* a0, const double* v0,
                      const double* b0, double* a, double& v, double* b) {
    for (int l = 0; l < depth; ++l) {
        a[l] = a0[i * width + l];
        b[l] = b0[i * width + l];
    }
    v = v0[i];
}

}  // namespace

FD_GLOBAL void fd_gd_trajectory(long long n, int objective, const long long* depth, const double* lam,
                                const double* rho, const double* lr, const double* momentum,
                                const double* eps, const double* a0, const double* v0, const double* b0,
                                long long width, long long nrec, const long long* rec, double* w,
                                signed char* status) {
    (void)eps;
    FD_FOR_EACH(i, n) {
        double a[fastdyn::MAX_DEPTH], b[fastdyn::MAX_DEPTH], v;
        const int d = (int)depth[i];
        load_state(i, d, width, a0, v0, b0, a, v, b);
        status[i] = fastdyn::gd::run_feature(objective, d, lam[i], rho[i], lr[i], momentum[i], a, &v, b,
                                             nrec, rec, w + i, n);
    }
}

FD_GLOBAL void fd_gd_crossing(long long n, int objective, const long long* depth, const double* lam,
                              const double* rho, const double* lr, const double* momentum, const double* eps,
                              const double* p, const double* a0, const double* v0, const double* b0,
                              long long width, long long max_steps, double* k, signed char* status) {
    (void)eps;
    FD_FOR_EACH(i, n) {
        double a[fastdyn::MAX_DEPTH], b[fastdyn::MAX_DEPTH], v;
        const int d = (int)depth[i];
        load_state(i, d, width, a0, v0, b0, a, v, b);
        status[i] = fastdyn::gd::crossing_feature(objective, d, lam[i], rho[i], lr[i], momentum[i], a, &v, b,
                                                  p[i], max_steps, k + i);
    }
}

FD_GLOBAL void fd_gd_stable_lr(long long n, int objective, const long long* depth, const double* lam,
                               const double* rho, const double* momentum, double* out) {
    FD_FOR_EACH(i, n) {
        out[i] = fastdyn::gd::stable_lr(objective, (int)depth[i], lam[i], rho[i], momentum[i]);
    }
}

FD_GLOBAL void fd_flow_trajectory(long long n, int objective, const long long* depth, const double* lam,
                                  const double* rho, const double* eps, const double* a0, const double* v0,
                                  long long width, long long nt, const double* t, double rtol,
                                  long long max_steps, double* w, signed char* status, long long* nsteps) {
    (void)eps;
    FD_FOR_EACH(i, n) {
        status[i] = fastdyn::flow::trajectory_feature(objective, (int)depth[i], lam[i], rho[i], a0 + i * width,
                                                      v0[i], nt, t, rtol, max_steps, w + i, n, nsteps + i);
    }
}

FD_GLOBAL void fd_flow_ema_trajectory(long long n, const long long* depth, const double* lam, const double* rho,
                                      const double* eps, const double* ema_time, const double* a0,
                                      const double* v0, const double* b0, long long width, long long nt,
                                      const double* t, double rtol, long long max_steps, double* w,
                                      signed char* status, long long* nsteps) {
    (void)eps;
    FD_FOR_EACH(i, n) {
        status[i] = fastdyn::flow::ema_trajectory_feature((int)depth[i], lam[i], rho[i], a0 + i * width, v0[i],
                                                          b0 + i * width, ema_time[i], nt, t, rtol, max_steps,
                                                          w + i, n, nsteps + i);
    }
}
