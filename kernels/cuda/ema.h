// The two-state JEPA-EMA system: adaptive Dormand-Prince 5(4), for CUDA and the host.
//
// Per feature the online end-to-end weight w and the target's w_tgt obey, in
// the ODE time t = L tau of eq. 7 (derived, and checked against the
// full-matrix trainer, in the docstring of fastdyn.kernels._ema):
//
//     dw/dt     = lam * w_tgt * w^(2 - 1/L) - lam/rho * w^3
//     dw_tgt/dt = (L / E) * w_tgt * ((w / w_tgt)^(1/L) - 1)
//
// with E = ema_time >= 0; w_tgt = w gives eq. 7 and E = 0 forces it.  The
// integrator works with the per-layer logarithms x = log(w)/L, y = log(w_tgt)/L
// (every layer of a balanced network is e^x), in which nothing over- or
// underflows and the weights are positive by construction:
//
//     dx/dt = (lam/L) e^(L y + (L-1) x) * (1 - e^((L+1) x - L y - log rho))
//     dy/dt = (1/E) * expm1(x - y)
//
// The fixed point is x = y = log(rho) (w = rho^L, as for JEPA); its Jacobian
// in (x, y) is [[-k (L+1), k L], [1/E, -1/E]], k = lam rho^(2L-1)/L, with real
// negative eigenvalues (a stable node): once |x - log rho| and |y - log rho|
// are both below LINEAR_TAIL the rest of the trajectory is the exact solution
// of the linearisation (error O(dev^2), below float64 rounding), so arbitrarily
// late output times cost nothing.
//
// Step control: the local error estimate of L x and L y (relative errors of w
// and w_tgt) must be below rtol; I controller (exponent 1/5), safety 0.9,
// factor in [0.2, 10], no growth right after a rejection; a step with a
// non-finite value is rejected and shrunk by 5.  The target equation relaxes
// at rate 1/E, so explicit steps are at most ~3.3 E long.  Dormand-Prince gives
// the second stage zero weight in the solution, the error estimate and the
// dense output (static_asserts below): the sums leave it out.
//
// Double precision.  Kernels never raise: every feature gets a status
// (config.h); a failed feature has NaN in its remaining outputs together with a
// non-SUCCESS status.  Each feature owns its t, h and status.
#pragma once

#include "config.h"
#include "family.h"
#include "tableau.h"

namespace fastdyn {
namespace ema {

static_assert(dp54::B2 == 0.0 && dp54::E2 == 0.0 && dp54::P21 == 0.0 && dp54::P22 == 0.0 &&
                  dp54::P23 == 0.0 && dp54::P24 == 0.0,
              "the EMA step expects B2 = E2 = P2j = 0 (Dormand-Prince)");

constexpr double SAFETY = 0.9;
constexpr double MIN_FACTOR = 0.2;
constexpr double MAX_FACTOR = 10.0;
constexpr double H0_FRACTION = 0.01;  // first step: this fraction of 1/max(|dx/dt|, |dy/dt|)
constexpr double LINEAR_TAIL = 1e-9;  // |x - log rho|, |y - log rho| below: the linearisation is exact

struct Rates {
    double dx, dy;
};

/// (dx/dt, dy/dt); log_c = log(lam/L), beta = 1/E (inf: y = x, E = 0).
FD_HD Rates ema_rhs(double x, double y, double depth, double log_c, double log_rho, double beta) {
    const bool tied = beta == fd_inf<double>();
    if (tied) y = x;
    const double a1 = depth * y + (depth - 1.0) * x;
    const double d = (depth + 1.0) * x - depth * y - log_rho;  // log of (w / fixed point) balance
    const double dx = -fd_exp(log_c + a1) * fd_expm1(d);
    if (tied) return {dx, dx};
    return {dx, beta * fd_expm1(x - y)};
}

/// One DP5(4) step of both states: the new state, the error estimates and the
/// stages the dense output needs (k2 has zero weight there).
struct EmaStep {
    double x1, y1, ex, ey;
    double kx3, kx4, kx5, kx6, kx7;
    double ky3, ky4, ky5, ky6, ky7;
};

FD_HD EmaStep ema_step(double x0, double y0, double h, double kx1, double ky1, double depth, double log_c,
                       double log_rho, double beta) {
    using namespace dp54;
    // stage arguments as (h A_i1) k_1 + ... in the order of the Python original
    const Rates k2 = ema_rhs(x0 + h * A21 * kx1, y0 + h * A21 * ky1, depth, log_c, log_rho, beta);
    const Rates k3 = ema_rhs(x0 + h * (A31 * kx1 + A32 * k2.dx), y0 + h * (A31 * ky1 + A32 * k2.dy), depth,
                             log_c, log_rho, beta);
    const Rates k4 = ema_rhs(x0 + h * (A41 * kx1 + A42 * k2.dx + A43 * k3.dx),
                             y0 + h * (A41 * ky1 + A42 * k2.dy + A43 * k3.dy), depth, log_c, log_rho, beta);
    const Rates k5 = ema_rhs(x0 + h * (A51 * kx1 + A52 * k2.dx + A53 * k3.dx + A54 * k4.dx),
                             y0 + h * (A51 * ky1 + A52 * k2.dy + A53 * k3.dy + A54 * k4.dy), depth, log_c,
                             log_rho, beta);
    const Rates k6 = ema_rhs(x0 + h * (A61 * kx1 + A62 * k2.dx + A63 * k3.dx + A64 * k4.dx + A65 * k5.dx),
                             y0 + h * (A61 * ky1 + A62 * k2.dy + A63 * k3.dy + A64 * k4.dy + A65 * k5.dy),
                             depth, log_c, log_rho, beta);
    EmaStep s;
    s.x1 = x0 + h * (B1 * kx1 + B3 * k3.dx + B4 * k4.dx + B5 * k5.dx + B6 * k6.dx);
    s.y1 = y0 + h * (B1 * ky1 + B3 * k3.dy + B4 * k4.dy + B5 * k5.dy + B6 * k6.dy);
    const Rates k7 = ema_rhs(s.x1, s.y1, depth, log_c, log_rho, beta);
    s.ex = h * (E1 * kx1 + E3 * k3.dx + E4 * k4.dx + E5 * k5.dx + E6 * k6.dx + E7 * k7.dx);
    s.ey = h * (E1 * ky1 + E3 * k3.dy + E4 * k4.dy + E5 * k5.dy + E6 * k6.dy + E7 * k7.dy);
    s.kx3 = k3.dx;
    s.kx4 = k4.dx;
    s.kx5 = k5.dx;
    s.kx6 = k6.dx;
    s.kx7 = k7.dx;
    s.ky3 = k3.dy;
    s.ky4 = k4.dy;
    s.ky5 = k5.dy;
    s.ky6 = k6.dy;
    s.ky7 = k7.dy;
    return s;
}

/// Shampine's quartic interpolant at theta in [0, 1] (k2 has zero weight).
FD_HD double dense(double z0, double h, double k1, double k3, double k4, double k5, double k6, double k7,
                   double theta) {
    using namespace dp54;
    const double q0 = P11 * k1 + P31 * k3 + P41 * k4 + P51 * k5 + P61 * k6 + P71 * k7;
    const double q1 = P12 * k1 + P32 * k3 + P42 * k4 + P52 * k5 + P62 * k6 + P72 * k7;
    const double q2 = P13 * k1 + P33 * k3 + P43 * k4 + P53 * k5 + P63 * k6 + P73 * k7;
    const double q3 = P14 * k1 + P34 * k3 + P44 * k4 + P54 * k5 + P64 * k6 + P74 * k7;
    return z0 + h * theta * (q0 + theta * (q1 + theta * (q2 + theta * q3)));
}

struct Deviation {
    double a, b;
};

/// Deviations (a, b) of (x, y) from log rho after dt (linearised).
///
/// z' = A z, A = [[-k (L+1), k L], [beta, -beta]].  Putzer: exp(A t) =
/// e^(m1 t) I + D (A - m1 I), D = (e^(m1 t) - e^(m2 t)) / (m1 - m2) written
/// with expm1 (no cancellation), m1 > m2 the real eigenvalues.  beta = inf
/// (E = 0): b = a, a' = -k a.
FD_HD Deviation linear_tail(double a0, double b0, double dt, double depth, double log_k, double beta) {
    const double k = fd_exp(log_k);
    if (beta == fd_inf<double>()) {
        const double a = a0 * fd_exp(-k * dt);
        return {a, a};
    }
    const double tr = -(k * (depth + 1.0) + beta);
    const double det = k * beta;
    const double spread = k * (depth + 1.0) - beta;
    const double disc = sqrt(spread * spread + 4.0 * k * beta * depth);
    // m1 = (tr + disc)/2 without cancellation: m1 = 2 det / (tr - disc)
    const double m2 = 0.5 * (tr - disc);
    const double m1 = m2 != 0.0 ? det / m2 : 0.0;
    const double e1 = fd_exp(m1 * dt);
    const double gap = m1 - m2;
    const double dd = gap > 0.0 ? e1 * (-fd_expm1(-gap * dt)) / gap : dt * e1;
    const double a = e1 * a0 + dd * ((-k * (depth + 1.0) - m1) * a0 + k * depth * b0);
    const double b = e1 * b0 + dd * (beta * a0 + (-beta - m1) * b0);
    return {a, b};
}

FD_HD void fail_rows(double* w, double* w_tgt, long long stride, long long j, long long nt) {
    for (long long i = j; i < nt; ++i) {
        w[i * stride] = fd_nan<double>();
        w_tgt[i * stride] = fd_nan<double>();
    }
}

struct EmaResult {
    signed char status;
    long long nsteps;
};

/// Integrate one feature from w = w_tgt = eps; writes w and w_tgt at every
/// t[j] (nt output times, non-decreasing, >= 0) to w[j * stride] and
/// w_tgt[j * stride].  ema = 0 integrates eq. 7 (y = x exactly).
FD_HD EmaResult integrate_feature(long long nt, const double* t_out, int depth_i, double lam, double rho,
                                  double eps, double ema, double rtol, long long max_steps, double* w,
                                  double* w_tgt, long long stride) {
    const double inf = fd_inf<double>();
    const double fl = double(depth_i);
    const double log_c = fd_log(lam / fl);
    const double log_rho = fd_log(rho);
    const double log_k = fd_log(lam) + (2.0 * fl - 1.0) * log_rho - fd_log(fl);
    const double beta = ema == 0.0 ? inf : 1.0 / ema;
    double x = fd_log(eps) / fl;
    double y = x;
    long long j = 0;
    while (j < nt && t_out[j] <= 0.0) {
        w[j * stride] = eps;
        w_tgt[j * stride] = eps;
        ++j;
    }
    if (j == nt) return {SUCCESS, 0};
    const double t_stop = t_out[nt - 1];
    double t = 0.0;
    Rates k1 = ema_rhs(x, y, fl, log_c, log_rho, beta);
    const double rate = py_max(fd_fabs(k1.dx), fd_fabs(k1.dy));
    double h = rate > 0.0 ? H0_FRACTION / rate : t_stop;
    long long nsteps = 0;
    bool rejected = false;
    for (;;) {
        const double a0 = x - log_rho;
        const double b0 = y - log_rho;
        if (fd_fabs(a0) <= LINEAR_TAIL && fd_fabs(b0) <= LINEAR_TAIL) {
            // the linearisation is exact to rounding from here on
            while (j < nt) {
                const Deviation dv = linear_tail(a0, b0, t_out[j] - t, fl, log_k, beta);
                w[j * stride] = fd_exp(fl * (log_rho + dv.a));
                w_tgt[j * stride] = fd_exp(fl * (log_rho + dv.b));
                ++j;
            }
            return {SUCCESS, nsteps};
        }
        if (nsteps >= max_steps) {
            fail_rows(w, w_tgt, stride, j, nt);
            return {MAX_STEPS, nsteps};
        }
        const bool clamped = !(h < t_stop - t);
        if (clamped) h = t_stop - t;
        const EmaStep s = ema_step(x, y, h, k1.dx, k1.dy, fl, log_c, log_rho, beta);
        ++nsteps;
        const double t_new = clamped ? t_stop : t + h;
        const double en = fl * py_max(fd_fabs(s.ex), fd_fabs(s.ey)) / rtol;
        if (!(fd_isfinite(s.x1) && fd_isfinite(s.y1) && fd_isfinite(s.kx7) && fd_isfinite(s.ky7) &&
              fd_isfinite(en))) {
            h *= MIN_FACTOR;
            rejected = true;
            if (!(t + h > t)) {
                fail_rows(w, w_tgt, stride, j, nt);
                return {NON_FINITE, nsteps};
            }
            continue;
        }
        if (en > 1.0) {
            h *= py_max(MIN_FACTOR, SAFETY * fd_pow(en, -0.2));
            rejected = true;
            if (!(t + h > t)) {
                fail_rows(w, w_tgt, stride, j, nt);
                return {NO_CONVERGENCE, nsteps};
            }
            continue;
        }
        while (j < nt && t_out[j] <= t_new) {
            double xj, yj;
            if (t_out[j] >= t_new) {
                xj = s.x1;
                yj = s.y1;
            } else {
                const double theta = py_min(py_max((t_out[j] - t) / h, 0.0), 1.0);
                xj = dense(x, h, k1.dx, s.kx3, s.kx4, s.kx5, s.kx6, s.kx7, theta);
                yj = beta == inf ? xj : dense(y, h, k1.dy, s.ky3, s.ky4, s.ky5, s.ky6, s.ky7, theta);
            }
            w[j * stride] = fd_exp(fl * xj);
            w_tgt[j * stride] = fd_exp(fl * yj);
            ++j;
        }
        if (j == nt) return {SUCCESS, nsteps};
        t = t_new;
        x = s.x1;
        y = s.y1;
        k1 = {s.kx7, s.ky7};
        double factor = en == 0.0 ? MAX_FACTOR : py_min(MAX_FACTOR, SAFETY * fd_pow(en, -0.2));
        if (rejected) factor = py_min(1.0, factor);
        h *= factor;
        rejected = false;
    }
}

}  // namespace ema
}  // namespace fastdyn
