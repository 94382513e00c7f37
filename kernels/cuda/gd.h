// Finite-learning-rate gradient descent, per feature: the discrete recursion of
// population gradient descent on eq. 5 for diagonal data and an aligned network.
//
// Setting (the paper's, without its two limits).  Data with diagonal second
// moments Sxx = diag(sigma_i^2), Syx = diag(lam_i) (sigma^2 = lam / rho).  An
// aligned network: every encoder layer W_l, the predictor/decoder V and (for
// jepa-ema) every target layer T_l diagonal in the data's basis, with arbitrary
// per-layer, per-feature values a_l, v, b_l.  The gradients of fastdyn.train
// (eq. 20-21: grad W_l = P_l^T V^T R Q_l^T, grad V = R Wbar^T) are then diagonal
// too, so feature i evolves on its own with the L + 1 (2L + 1) scalars
// (a_1..a_L, v[, b_1..b_L]).  With wbar = prod_l a_l, tbar = prod_l b_l and
// P_l Q_l = prod_{k != l} a_k:
//
//   JEPA      r = sigma^2 v wbar - lam wbar      (stop-gradient target T = Wbar)
//   jepa-ema  r = sigma^2 v wbar - lam tbar      (EMA target, no gradient)
//   MAE       r = sigma^2 v wbar - lam
//   grad v   = r wbar,     grad a_l = v r prod_{k != l} a_k,
//
// one step of learning rate lr:  a_l <- a_l - lr grad a_l,  v <- v - lr grad v
// (simultaneously), then for jepa-ema  b_l <- m b_l + (1 - m) a_l  (the new
// a_l), exactly the order of fastdyn.train.  The tracked weight is
// w = ||Wbar e_i|| = |wbar|, recorded before the step of the same index (step 0
// is the initial state), and the ODE time of step k is t = L lr k (MATH.md).
//
// Conserved quantities (gradient flow): d(a_l^2)/dtau = -2 v r wbar =
// d(v^2)/dtau for every l, so a_l^2 - v^2 is constant; gradient descent keeps
// it to O(lr^2) per step.  The balanced initialisation (assumption 3.1: a_l =
// v = eps^(1/L)) stays exactly balanced under the recursion for JEPA and MAE
// (grad a_l = grad v when a_l = v), and the recursion reduces to
// u <- u - lr u^(2L) (sigma^2 u - lam) (JEPA), whose flow is eq. 7 at t = L tau.
//
// Stability (derived in fastdyn/gd.py, checked by tests/test_gd.py): the
// Jacobian of the gradient at a fixed point has rank one; its nonzero eigenvalue
// is sigma^2 wbar^2 (JEPA) and sigma^2 wbar^2 (1 + v^2 sum_l a_l^-2) (MAE), so
// gradient descent converges to the balanced fixed point for lr below
// 2 / (lam rho^(2L-1)) (JEPA) and 2 / ((L+1) lam rho^((L-1)/(L+1))) (MAE), and
// the approach oscillates above half of it.
//
// Statuses: SUCCESS; OSCILLATED when w reversed its direction by more than
// rounding (64 ulps of w) at some step (the values are valid: lr above the
// monotone limit); DIVERGED when a state value left [-DIVERGENCE_NORM,
// DIVERGENCE_NORM] or w left float64 (the recorded values from that step on are
// NaN, as for every failed feature).
#pragma once

#include "closed.h"
#include "config.h"
#include "family.h"

namespace fastdyn {
namespace gd {

constexpr double DIVERGENCE_NORM = 1e12;  // kernels/_constants.py: the trainer's bound
constexpr double REVERSAL_ULPS = 64.0 * 1.1102230246251565e-16;

/// The recursion for one objective (a compile-time constant: no branch on it per step).
template <int OBJECTIVE>
FD_HD signed char run_objective(int depth, double lam, double rho, double lr, double momentum, double* a,
                                double* v_io, double* b, long long nrec, const long long* rec,
                                double* w_out, long long stride) {
    constexpr int objective = OBJECTIVE;
    const double sigma2 = lam / rho;
    double v = *v_io;
    double suffix[MAX_DEPTH + 1];
    signed char status = SUCCESS;
    double w_prev = 0.0;
    int direction = 0;  // sign of the last change of w beyond rounding
    long long j = 0;
    const long long last = nrec > 0 ? rec[nrec - 1] : -1;
    for (long long k = 0; k <= last; ++k) {
        // products: suffix[l] = a_l ... a_{L-1}, wbar = suffix[0]
        suffix[depth] = 1.0;
        for (int l = depth - 1; l >= 0; --l) suffix[l] = suffix[l + 1] * a[l];
        const double wbar = suffix[0];
        const double w = fd_fabs(wbar);
        if (!(w < fd_inf<double>())) {
            status = DIVERGED;
            break;
        }
        if (k > 0) {
            const double dw = w - w_prev;
            if (fd_fabs(dw) > REVERSAL_ULPS * w) {
                const int dir = dw > 0.0 ? 1 : -1;
                if (direction != 0 && dir != direction) status = OSCILLATED;
                direction = dir;
            }
        }
        w_prev = w;
        while (j < nrec && rec[j] == k) w_out[(j++) * stride] = w;
        if (k == last) break;
        double tbar = wbar;
        if (objective == JEPA_EMA) {
            tbar = 1.0;
            for (int l = 0; l < depth; ++l) tbar *= b[l];
        }
        const double r = objective == MAE ? sigma2 * v * wbar - lam : sigma2 * v * wbar - lam * tbar;
        const double vr = v * r;
        // a_l <- a_l - lr v r prefix_l suffix_{l+1}: prefix accumulates the old values
        double prefix = 1.0;
        bool ok = true;
        for (int l = 0; l < depth; ++l) {
            const double old = a[l];
            a[l] = old - lr * (vr * (prefix * suffix[l + 1]));
            prefix *= old;
            ok = ok && fd_fabs(a[l]) <= DIVERGENCE_NORM;
        }
        v -= lr * (r * wbar);
        ok = ok && fd_fabs(v) <= DIVERGENCE_NORM;
        if (objective == JEPA_EMA)
            for (int l = 0; l < depth; ++l) b[l] = momentum * b[l] + (1.0 - momentum) * a[l];
        if (!ok) {  // also catches NaN (the comparisons are false)
            status = DIVERGED;
            break;
        }
    }
    for (; j < nrec; ++j) w_out[j * stride] = fd_nan<double>();
    *v_io = v;
    return status;
}

/// One feature's recursion, in place: a[0..depth), v and (jepa-ema, objective 2)
/// b[0..depth) hold the initial state and end as the state after the last
/// recorded step; w(rec[j]) goes to w_out[j * stride] (rec non-decreasing, >= 0).
FD_HD signed char run_feature(int objective, int depth, double lam, double rho, double lr,
                              double momentum, double* a, double* v_io, double* b, long long nrec,
                              const long long* rec, double* w_out, long long stride) {
    if (objective == MAE)
        return run_objective<MAE>(depth, lam, rho, lr, momentum, a, v_io, b, nrec, rec, w_out, stride);
    if (objective == JEPA_EMA)
        return run_objective<JEPA_EMA>(depth, lam, rho, lr, momentum, a, v_io, b, nrec, rec, w_out,
                                       stride);
    return run_objective<JEPA>(depth, lam, rho, lr, momentum, a, v_io, b, nrec, rec, w_out, stride);
}

}  // namespace gd
}  // namespace fastdyn
