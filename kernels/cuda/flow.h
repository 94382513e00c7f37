// Gradient flow from any aligned initialisation, per feature (JEPA and MAE).
//
// The lr -> 0 limit of the recursion of gd.h: d(a_l, v)/dtau = -(grad a_l, grad v), in
// gradient-flow time tau (ODE time t = L tau, MATH.md).  Its conserved quantities
// c_l = a_l^2 - v^2 (d(a_l^2)/dtau = -2 v r wbar = d(v^2)/dtau) reduce the L + 1
// scalars to the predictor/decoder v alone: a_l = s_l sqrt(v^2 + c_l) with the sign
// s_l of a_l(0) (a layer cannot change sign: it would pass through a_l = 0, where
// v^2 = -c_l and the flow of every layer stops), wbar = S prod_l sqrt(v^2 + c_l),
// S = prod_l s_l, and
//
//   JEPA  dv/dtau = -r wbar = sigma^2 wbar^2 (rho - v)        (r = wbar (sigma^2 v - lam))
//   MAE   dv/dtau = -r wbar = -wbar (sigma^2 v wbar - lam)     (r = sigma^2 v wbar - lam)
//
// with sigma^2 = lam / rho.  For the balanced start (c = 0, every a_l = v = eps^(1/L))
// JEPA is du/dtau = lam u^(2L) - lam/rho u^(2L+1), which is eq. 7 for w = u^L at
// t = L tau, and MAE likewise eq. 8 (tests/test_gd.py checks both against the closed
// forms of fd.trajectory).
//
// Integrator: Dormand-Prince 5(4) (tableau.h) on the scalar v, in tau, stepping onto
// every output time exactly; the local error estimate must stay below
// rtol * max(|v|, |v_new|) (plus 1e-300); I controller with exponent 1/5, safety 0.9,
// factor in [0.2, 10].  On a plateau the rate is nearly constant and the steps grow
// tenfold per step, so arbitrarily long plateaus cost a few dozen steps.  Near the
// limit v* (gd::limit_v) the flow is stiff for an explicit method (steps <= 3.3/mu,
// mu = -f'(v*): JEPA sigma^2 wbar*^2, MAE sigma^2 wbar*^2 (1 + v*^2 sum_l 1/(v*^2 + c_l)),
// the eigenvalues of gd.h); once |v - v*| <= 0.1 sqrt(rtol) |v*| the rest is the
// linearisation v* + (v - v*) e^(-mu (tau - tau0)), exact to O((v - v*)^2) <= rtol/100
// relative, so arbitrarily late output times cost nothing.  Statuses:
// SUCCESS, MAX_STEPS (accepted plus rejected steps beyond max_steps: NaN from the
// output time not reached), NON_FINITE (v left float64).
#pragma once

#include "closed.h"
#include "config.h"
#include "family.h"
#include "gd.h"
#include "tableau.h"

namespace fastdyn {
namespace flow {

/// |wbar(v)| = prod_l sqrt(v^2 + c_l) (0 where a layer has reached 0).
FD_HD double weight_of(int depth, const double* c, double v) {
    double w = 1.0;
    for (int l = 0; l < depth; ++l) {
        const double s = v * v + c[l];
        w *= s > 0.0 ? fd_sqrt(s) : 0.0;
    }
    return w;
}

/// dv/dtau of the reduced flow (sign: the product of the layers' signs).
FD_HD double rate(int objective, int depth, const double* c, double sign, double sigma2, double lam, double rho,
                  double v) {
    const double wbar = sign * weight_of(depth, c, v);
    if (objective == MAE) return -wbar * (sigma2 * v * wbar - lam);
    return sigma2 * wbar * wbar * (rho - v);
}

/// One feature: w at the ODE times t[0..nt) (non-decreasing, t >= 0) into w_out[j * stride],
/// starting from the aligned state (a[0..depth), v0).  *nsteps: accepted plus rejected steps.
FD_HD signed char trajectory_feature(int objective, int depth, double lam, double rho, const double* a, double v0,
                                     long long nt, const double* t, double rtol, long long max_steps, double* w_out,
                                     long long stride, long long* nsteps) {
    using namespace dp54;
    double c[MAX_DEPTH];
    double sign = 1.0;
    for (int l = 0; l < depth; ++l) {
        c[l] = (a[l] - v0) * (a[l] + v0);
        if (a[l] < 0.0) sign = -sign;
    }
    const double sigma2 = lam / rho;
    const double inv_depth = 1.0 / double(depth);
    // the limit and the decay rate of the linearised tail
    const double v_star = gd::limit_v(objective, depth, rho, c);
    const double w_star = weight_of(depth, c, v_star);
    double mu = sigma2 * w_star * w_star;
    if (objective == MAE) {
        double s = 0.0;
        for (int l = 0; l < depth; ++l) {
            const double q = v_star * v_star + c[l];
            s += q > 0.0 ? 1.0 / q : 0.0;
        }
        mu *= 1.0 + v_star * v_star * s;
    }
    const double tail = 0.1 * fd_sqrt(rtol) * fd_fabs(v_star);
    double v = v0, tau = 0.0;
    double k1 = rate(objective, depth, c, sign, sigma2, lam, rho, v);
    double h = -1.0;  // not chosen yet
    long long steps = 0;
    signed char status = SUCCESS;
    long long j = 0;
    for (; j < nt; ++j) {
        const double target = t[j] * inv_depth;
        bool linear = false;
        while (tau < target) {
            if (mu > 0.0 && fd_fabs(v - v_star) <= tail) {  // the linear tail from here on
                linear = true;
                break;
            }
            if (steps >= max_steps) {
                status = MAX_STEPS;
                break;
            }
            if (h <= 0.0) {  // first step: a change of about rtol^(1/5) of v
                const double scale = py_max(fd_fabs(v), 1e-300);
                h = k1 != 0.0 ? 0.1 * fd_pow(rtol, 0.2) * scale / fd_fabs(k1) : target - tau;
            }
            const bool last = h >= target - tau;
            const double hh = last ? target - tau : h;
            const double k2 = rate(objective, depth, c, sign, sigma2, lam, rho, v + hh * (A21 * k1));
            const double k3 = rate(objective, depth, c, sign, sigma2, lam, rho, v + hh * (A31 * k1 + A32 * k2));
            const double k4 =
                rate(objective, depth, c, sign, sigma2, lam, rho, v + hh * (A41 * k1 + A42 * k2 + A43 * k3));
            const double k5 = rate(objective, depth, c, sign, sigma2, lam, rho,
                                   v + hh * (A51 * k1 + A52 * k2 + A53 * k3 + A54 * k4));
            const double k6 = rate(objective, depth, c, sign, sigma2, lam, rho,
                                   v + hh * (A61 * k1 + A62 * k2 + A63 * k3 + A64 * k4 + A65 * k5));
            const double v_new = v + hh * (B1 * k1 + B3 * k3 + B4 * k4 + B5 * k5 + B6 * k6);
            const double k7 = rate(objective, depth, c, sign, sigma2, lam, rho, v_new);
            const double err = fd_fabs(hh * (E1 * k1 + E3 * k3 + E4 * k4 + E5 * k5 + E6 * k6 + E7 * k7));
            const double tol = rtol * py_max(fd_fabs(v), fd_fabs(v_new)) + 1e-300;
            ++steps;
            if (!fd_isfinite(v_new) || !fd_isfinite(err)) {
                if (hh <= 1e-300 * py_max(1.0, tau)) {
                    status = NON_FINITE;
                    break;
                }
                h = 0.2 * hh;  // a step into overflow: retry smaller
                continue;
            }
            const double ratio = err / tol;
            double factor = ratio > 0.0 ? 0.9 * fd_pow(ratio, -0.2) : 10.0;
            factor = py_min(10.0, py_max(0.2, factor));
            if (ratio <= 1.0) {
                v = v_new;
                k1 = k7;
                tau = last ? target : tau + hh;
                // a step clipped onto an output time does not shrink the next one
                h = last ? py_max(h, hh * factor) : hh * factor;
            } else {
                h = hh * factor;
            }
        }
        if (status != SUCCESS) break;
        if (linear) {
            const double v_t = v_star + (v - v_star) * fd_exp(-mu * (target - tau));
            w_out[j * stride] = weight_of(depth, c, v_t);
        } else {
            w_out[j * stride] = weight_of(depth, c, v);
        }
    }
    for (; j < nt; ++j) w_out[j * stride] = fd_nan<double>();
    *nsteps = steps;
    return status;
}

// ---- jepa-ema: gradient flow with an EMA target, from any aligned start --------------
//
// The limit of gd.h's jepa-ema recursion as lr -> 0 at a fixed lag of the target in ODE
// time, E = L lr m / (1 - m) (fastdyn.train.ema_time; the ema_time of ema.h): the target
// layers follow db_l/dt = (a_l - b_l) / E, i.e. db_l/dtau = (L/E)(a_l - b_l).  The target
// takes no gradient, so d(a_l^2)/dtau = -2 v r wbar = d(v^2)/dtau as for JEPA: the gaps
// c_l = a_l^2 - v^2 are conserved and a_l = s_l sqrt(v^2 + c_l).  What remains is the
// L + 1 dimensional system of y = (v, b_1..b_L):
//
//   dv/dtau   = -r wbar,   r = sigma^2 v wbar - lam tbar,   tbar = prod_l b_l
//   db_l/dtau = (L/E) (a_l(v) - b_l)
//
// From the balanced start with b = a it is ema.h's two-state system (tests/test_gd.py
// checks the two against each other); its limit is JEPA's (v = rho, b = a).  E = 0 is
// JEPA (trajectory_feature).  Integrator: Dormand-Prince 5(4) on y with the error of every
// component below rtol * max(|y_i|, |y_i new|) (plus 1e-300), the controller of
// trajectory_feature, stepping onto every output time.  No linear tail: near the fixed
// point, and for E small against the flow's time scale, the explicit steps are bounded by
// stability (about 3.3 / max(mu, L/E) in tau), so the cost grows with t / E there; past
// max_steps the status is MAX_STEPS (NaN from the output time not reached).

/// dy/dtau of the jepa-ema flow (y = (v, b_1..b_L)); a_l from the conserved gaps c.
FD_HD void ema_rate(int depth, const double* c, const double* sgn, double sigma2, double lam, double kappa,
                    const double* y, double* dy) {
    const double v = y[0];
    double wbar = 1.0, tbar = 1.0;
    for (int l = 0; l < depth; ++l) {
        const double q = v * v + c[l];
        const double a = q > 0.0 ? sgn[l] * fd_sqrt(q) : 0.0;
        wbar *= a;
        tbar *= y[l + 1];
        dy[l + 1] = kappa * (a - y[l + 1]);
    }
    dy[0] = -(sigma2 * v * wbar - lam * tbar) * wbar;
}

/// One feature of jepa-ema flow: w at the ODE times t[0..nt) into w_out[j * stride], from the
/// online state (a[0..depth), v0) and the target b0[0..depth), target lag ema_time (ODE time).
FD_HD signed char ema_trajectory_feature(int depth, double lam, double rho, const double* a, double v0,
                                         const double* b0, double ema_time, long long nt, const double* t,
                                         double rtol, long long max_steps, double* w_out, long long stride,
                                         long long* nsteps) {
    using namespace dp54;
    if (!(ema_time > 0.0))  // no lag: the target is the online network (JEPA)
        return trajectory_feature(JEPA, depth, lam, rho, a, v0, nt, t, rtol, max_steps, w_out, stride,
                                  nsteps);
    constexpr int N = MAX_DEPTH + 1;
    double c[MAX_DEPTH], sgn[MAX_DEPTH];
    for (int l = 0; l < depth; ++l) {
        c[l] = (a[l] - v0) * (a[l] + v0);
        sgn[l] = a[l] < 0.0 ? -1.0 : 1.0;
    }
    const int n = depth + 1;
    const double sigma2 = lam / rho;
    const double kappa = double(depth) / ema_time;
    const double inv_depth = 1.0 / double(depth);
    double y[N], yn[N], tmp[N], k1[N], k2[N], k3[N], k4[N], k5[N], k6[N], k7[N];
    y[0] = v0;
    for (int l = 0; l < depth; ++l) y[l + 1] = b0[l];
    ema_rate(depth, c, sgn, sigma2, lam, kappa, y, k1);
    double tau = 0.0, h = -1.0;
    long long steps = 0;
    signed char status = SUCCESS;
    long long j = 0;
    for (; j < nt; ++j) {
        const double target = t[j] * inv_depth;
        while (tau < target) {
            if (steps >= max_steps) {
                status = MAX_STEPS;
                break;
            }
            if (h <= 0.0) {  // first step: a change of about rtol^(1/5) of every component
                double rate = 0.0;
                for (int i = 0; i < n; ++i) rate = py_max(rate, fd_fabs(k1[i]) / py_max(fd_fabs(y[i]), 1e-300));
                h = rate > 0.0 ? 0.1 * fd_pow(rtol, 0.2) / rate : target - tau;
            }
            const bool last = h >= target - tau;
            const double hh = last ? target - tau : h;
            for (int i = 0; i < n; ++i) tmp[i] = y[i] + hh * (A21 * k1[i]);
            ema_rate(depth, c, sgn, sigma2, lam, kappa, tmp, k2);
            for (int i = 0; i < n; ++i) tmp[i] = y[i] + hh * (A31 * k1[i] + A32 * k2[i]);
            ema_rate(depth, c, sgn, sigma2, lam, kappa, tmp, k3);
            for (int i = 0; i < n; ++i) tmp[i] = y[i] + hh * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i]);
            ema_rate(depth, c, sgn, sigma2, lam, kappa, tmp, k4);
            for (int i = 0; i < n; ++i)
                tmp[i] = y[i] + hh * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]);
            ema_rate(depth, c, sgn, sigma2, lam, kappa, tmp, k5);
            for (int i = 0; i < n; ++i)
                tmp[i] = y[i] + hh * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i]);
            ema_rate(depth, c, sgn, sigma2, lam, kappa, tmp, k6);
            for (int i = 0; i < n; ++i)
                yn[i] = y[i] + hh * (B1 * k1[i] + B3 * k3[i] + B4 * k4[i] + B5 * k5[i] + B6 * k6[i]);
            ema_rate(depth, c, sgn, sigma2, lam, kappa, yn, k7);
            double ratio = 0.0;
            bool finite = true;
            for (int i = 0; i < n; ++i) {
                const double err =
                    fd_fabs(hh * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i]));
                finite = finite && fd_isfinite(yn[i]) && fd_isfinite(err);
                ratio = py_max(ratio, err / (rtol * py_max(fd_fabs(y[i]), fd_fabs(yn[i])) + 1e-300));
            }
            ++steps;
            if (!finite) {
                if (hh <= 1e-300 * py_max(1.0, tau)) {
                    status = NON_FINITE;
                    break;
                }
                h = 0.2 * hh;  // a step into overflow: retry smaller
                continue;
            }
            double factor = ratio > 0.0 ? 0.9 * fd_pow(ratio, -0.2) : 10.0;
            factor = py_min(10.0, py_max(0.2, factor));
            if (ratio <= 1.0) {
                for (int i = 0; i < n; ++i) {
                    y[i] = yn[i];
                    k1[i] = k7[i];
                }
                tau = last ? target : tau + hh;
                h = last ? py_max(h, hh * factor) : hh * factor;
            } else {
                h = hh * factor;
            }
        }
        if (status != SUCCESS) break;
        w_out[j * stride] = weight_of(depth, c, y[0]);
    }
    for (; j < nt; ++j) w_out[j * stride] = fd_nan<double>();
    *nsteps = steps;
    return status;
}

}  // namespace flow
}  // namespace fastdyn
