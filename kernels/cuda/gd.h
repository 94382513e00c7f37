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
// Stability (checked on both sides by tests/test_gd.py).  At a fixed point r = 0,
// so the Jacobian of the gradient is (grad of the factors) x (grad r): rank one.
// JEPA: its nonzero eigenvalue is mu = sigma^2 wbar^2; MAE: sigma^2 wbar^2
// (1 + v^2 sum_l a_l^-2).  Gradient descent x <- x - lr g(x) converges for
// lr mu < 2 and approaches monotonically for lr mu < 1; at the balanced fixed point
// (wbar = rho^L, v = rho; MAE v^(L+1) = rho) the thresholds are
// 2 / (lam rho^(2L-1)) (JEPA) and 2 / ((L+1) lam rho^((L-1)/(L+1))) (MAE).
// jepa-ema: with D = dv + rho X - rho Y, X = sum_l da_l/a_l, Y = sum_l db_l/a_l
// (the fixed point has b = a, v = rho) and E = X - Y, one step maps
// (D, E) by [[1 - k(1 + mL), -rho(1 - m)], [-m k L/rho, m]], k = lr mu, whose
// trace is 1 - k(1 + mL) + m and determinant m(1 - k(1 + L)); the Jury conditions
// give k < 2(1 + m)/(1 + m + 2mL) and k < (1 + m)/(m(1 + L)) (m = 0: JEPA's k < 2).
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

/// One gradient-descent step in place (suffix: the products of the current layers,
/// suffix[l] = a_l ... a_{L-1}); false when a value left the divergence bound (or is NaN).
template <int OBJECTIVE>
FD_HD bool step(int depth, double lam, double sigma2, double lr, double momentum, double* a, double& v,
                double* b, const double* suffix) {
    const double wbar = suffix[0];
    double tbar = wbar;
    if (OBJECTIVE == JEPA_EMA) {
        tbar = 1.0;
        for (int l = 0; l < depth; ++l) tbar *= b[l];
    }
    const double r = OBJECTIVE == MAE ? sigma2 * v * wbar - lam : sigma2 * v * wbar - lam * tbar;
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
    ok = ok && fd_fabs(v) <= DIVERGENCE_NORM;  // also false for NaN
    if (OBJECTIVE == JEPA_EMA)
        for (int l = 0; l < depth; ++l) b[l] = momentum * b[l] + (1.0 - momentum) * a[l];
    return ok;
}

/// suffix[l] = a_l ... a_{L-1} (suffix[depth] = 1); returns wbar = suffix[0].
FD_HD double products(int depth, const double* a, double* suffix) {
    suffix[depth] = 1.0;
    for (int l = depth - 1; l >= 0; --l) suffix[l] = suffix[l + 1] * a[l];
    return suffix[0];
}

/// The recursion for one objective (a compile-time constant: no branch on it per step).
template <int OBJECTIVE>
FD_HD signed char run_objective(int depth, double lam, double rho, double lr, double momentum, double* a,
                                double* v_io, double* b, long long nrec, const long long* rec,
                                double* w_out, long long stride) {
    const double sigma2 = lam / rho;
    double v = *v_io;
    double suffix[MAX_DEPTH + 1];
    signed char status = SUCCESS;
    double w_prev = 0.0;
    int direction = 0;  // sign of the last change of w beyond rounding
    long long j = 0;
    const long long last = nrec > 0 ? rec[nrec - 1] : -1;
    for (long long k = 0; k <= last; ++k) {
        const double w = fd_fabs(products(depth, a, suffix));
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
        if (!step<OBJECTIVE>(depth, lam, sigma2, lr, momentum, a, v, b, suffix)) {
            status = DIVERGED;
            break;
        }
    }
    for (; j < nrec; ++j) w_out[j * stride] = fd_nan<double>();
    *v_io = v;
    return status;
}

/// log(u prod_l sqrt(u^2 + c_l) / rho), increasing in u (MAE's limit condition).
FD_HD double mae_balance(double u, int depth, const double* c, double log_rho) {
    double s = fd_log(u);
    for (int l = 0; l < depth; ++l) s += 0.5 * fd_log(u * u + c[l]);
    return s - log_rho;
}

/// The limit of v under gradient flow from the gaps c_l = a_l^2 - v^2: JEPA and jepa-ema
/// end at v = rho (r = 0 with the target equal to the online weights), MAE where
/// v prod_l sqrt(v^2 + c_l) = rho (the root above the largest -c_l, by bisection).
FD_HD double limit_v(int objective, int depth, double rho, const double* c) {
    if (objective != MAE) return rho;
    double c_min = 0.0;
    for (int l = 0; l < depth; ++l) c_min = py_min(c_min, c[l]);
    // g(u) = log u + 1/2 sum log(u^2 + c_l) - log rho increases from -inf at u_min
    const double u_min = fd_sqrt(-c_min);
    double lo = u_min, hi = py_max(2.0 * u_min, 1.0);
    const double log_rho = fd_log(rho);
    while (mae_balance(hi, depth, c, log_rho) < 0.0) hi *= 2.0;
    for (int it = 0; it < 200 && hi - lo > 4e-16 * hi; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (mae_balance(mid, depth, c, log_rho) < 0.0)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/// The limit of w under gradient flow from the state (a, v), fixed by the conserved
/// gaps c_l = a_l^2 - v^2: w = prod_l sqrt(u^2 + c_l) at u = limit_v; 0 where a layer
/// must pass through 0 first (u^2 + c_l <= 0).  Balanced (c = 0): rho^L, rho^(L/(L+1)).
FD_HD double flow_limit(int objective, int depth, double rho, const double* a, double v) {
    double c[MAX_DEPTH];
    for (int l = 0; l < depth; ++l) c[l] = (a[l] - v) * (a[l] + v);
    const double u = limit_v(objective, depth, rho, c);
    double w = 1.0;
    for (int l = 0; l < depth; ++l) {
        const double s = u * u + c[l];
        if (!(s > 0.0)) return 0.0;
        w *= fd_sqrt(s);
    }
    return w;
}

/// The largest stable learning rate at the balanced fixed point (the derivation above):
/// lr_max = k_max / mu with mu = sigma^2 wbar*^2 (JEPA, jepa-ema: lam rho^(2L-1)) or
/// sigma^2 wbar*^2 (1 + L) (MAE: (L+1) lam rho^((L-1)/(L+1))), and k_max = 2 (JEPA, MAE) or
/// min(2(1+m)/(1+m+2mL), (1+m)/(m(1+L))) (jepa-ema, momentum m; m = 0 is JEPA's 2).  The
/// recursion converges to the fixed point for lr < lr_max and leaves it above.  JEPA's
/// threshold spans beyond float64 over the domain (rho^(2L-1) from 1e-381 to 1e381): rho's
/// power is taken in two halves, each inside float64, so that the result is correctly
/// rounded to a few ulps wherever it is a normal number; +inf above float64 (every
/// learning rate is stable), 0 below it.
FD_HD double stable_lr(int objective, int depth, double lam, double rho, double momentum) {
    if (objective == MAE)
        return 2.0 / (double(depth + 1) * lam) / fd_pow(rho, double(depth - 1) / double(depth + 1));
    double k_max = 2.0;
    if (objective == JEPA_EMA && momentum > 0.0) {
        const double m = momentum, L = double(depth);
        k_max = py_min(2.0 * (1.0 + m) / (1.0 + m + 2.0 * m * L), (1.0 + m) / (m * (1.0 + L)));
    }
    // k_max / (lam rho^(2L-1)) = (k_max / lam) rho^-(L-1) rho^-L
    return k_max / lam * fd_pow(rho, -double(depth - 1)) * fd_pow(rho, -double(depth));
}

/// The first step k (as a double, exact below 2^53) at which w_k >= p w_lim, w_lim the
/// flow limit of the initial state (flow_limit); 0 when w_0 is already there.  Statuses:
/// SUCCESS, MAX_STEPS (not reached after max_steps steps: NaN), DIVERGED (NaN).  The
/// state (a, v, b) is advanced in place to the crossing.
template <int OBJECTIVE>
FD_HD signed char crossing_objective(int depth, double lam, double rho, double lr, double momentum, double* a,
                                     double* v_io, double* b, double p, long long max_steps, double* k_out) {
    const double sigma2 = lam / rho;
    double v = *v_io;
    double suffix[MAX_DEPTH + 1];
    const double level = p * flow_limit(OBJECTIVE, depth, rho, a, v);
    *k_out = fd_nan<double>();
    for (long long k = 0;; ++k) {
        const double w = fd_fabs(products(depth, a, suffix));
        if (!(w < fd_inf<double>())) {
            *v_io = v;
            return DIVERGED;
        }
        if (w >= level) {
            *k_out = double(k);
            *v_io = v;
            return SUCCESS;
        }
        if (k == max_steps) break;
        if (!step<OBJECTIVE>(depth, lam, sigma2, lr, momentum, a, v, b, suffix)) {
            *v_io = v;
            return DIVERGED;
        }
    }
    *v_io = v;
    return MAX_STEPS;
}

/// LANES features of one depth in lockstep (the CPU kernels): the same arithmetic, in the
/// same order, as run_objective for each of them (results are bit-identical), with the
/// features' independent dependency chains interleaved so that a core overlaps them (and
/// the compiler may put the lanes in one vector register).  Row q of feature q: a + q *
/// row_stride (also b), v + q, w_out + q * w_row (its records at stride w_time).
constexpr int LANES = 4;

/// suffix[l][q] = a_l ... a_{L-1} of lane q (suffix[depth][q] = 1), as products() per lane.
FD_HD void products_lanes(int depth, const double (*a)[LANES], double (*suffix)[LANES]) {
    for (int q = 0; q < LANES; ++q) suffix[depth][q] = 1.0;
    for (int l = depth - 1; l >= 0; --l)
        for (int q = 0; q < LANES; ++q) suffix[l][q] = suffix[l + 1][q] * a[l][q];
}

/// One step of LANES features in lockstep: the arithmetic of step<OBJECTIVE> for each lane,
/// in the same order; a frozen lane keeps its state; ok[q]: lane q stayed inside the bound.
template <int OBJECTIVE>
FD_HD void step_lanes(int depth, const double* lam, const double* sigma2, const double* lr, const double* momentum,
                      double (*a)[LANES], double* v, double (*b)[LANES], const double (*suffix)[LANES],
                      const bool* frozen, bool* ok) {
    double tbar[LANES], r[LANES], vr[LANES], prefix[LANES];
    for (int q = 0; q < LANES; ++q) tbar[q] = OBJECTIVE == JEPA_EMA ? 1.0 : suffix[0][q];
    if (OBJECTIVE == JEPA_EMA)
        for (int l = 0; l < depth; ++l)
            for (int q = 0; q < LANES; ++q) tbar[q] *= b[l][q];
    for (int q = 0; q < LANES; ++q) {
        const double wbar = suffix[0][q];
        r[q] = OBJECTIVE == MAE ? sigma2[q] * v[q] * wbar - lam[q] : sigma2[q] * v[q] * wbar - lam[q] * tbar[q];
        vr[q] = v[q] * r[q];
        prefix[q] = 1.0;
        ok[q] = true;
    }
    for (int l = 0; l < depth; ++l)
        for (int q = 0; q < LANES; ++q) {
            const double old = a[l][q];
            const double next = old - lr[q] * (vr[q] * (prefix[q] * suffix[l + 1][q]));
            a[l][q] = frozen[q] ? old : next;
            prefix[q] *= old;
            ok[q] = ok[q] && fd_fabs(next) <= DIVERGENCE_NORM;
        }
    for (int q = 0; q < LANES; ++q) {
        const double next = v[q] - lr[q] * (r[q] * suffix[0][q]);
        ok[q] = ok[q] && fd_fabs(next) <= DIVERGENCE_NORM;
        v[q] = frozen[q] ? v[q] : next;
    }
    if (OBJECTIVE == JEPA_EMA)
        for (int l = 0; l < depth; ++l)
            for (int q = 0; q < LANES; ++q)
                if (!frozen[q]) b[l][q] = momentum[q] * b[l][q] + (1.0 - momentum[q]) * a[l][q];
}

/// Load LANES rows of state into the lanes' local arrays, and store them back.
FD_HD void load_lanes(int depth, bool ema, const double* a_rows, const double* v_io, const double* b_rows,
                      long long row_stride, double (*a)[LANES], double* v, double (*b)[LANES]) {
    for (int q = 0; q < LANES; ++q) {
        for (int l = 0; l < depth; ++l) {
            a[l][q] = a_rows[q * row_stride + l];
            b[l][q] = ema ? b_rows[q * row_stride + l] : 0.0;
        }
        v[q] = v_io[q];
    }
}

FD_HD void store_lanes(int depth, bool ema, const double (*a)[LANES], const double* v, const double (*b)[LANES],
                       long long row_stride, double* a_rows, double* v_io, double* b_rows) {
    for (int q = 0; q < LANES; ++q) {
        for (int l = 0; l < depth; ++l) {
            a_rows[q * row_stride + l] = a[l][q];
            if (ema) b_rows[q * row_stride + l] = b[l][q];
        }
        v_io[q] = v[q];
    }
}

template <int OBJECTIVE>
FD_HD void run_lanes(int depth, const double* lam, const double* rho, const double* lr, const double* momentum,
                     double* a_rows, double* v_io, double* b_rows, long long row_stride, long long nrec,
                     const long long* rec, double* w_out, long long w_row, long long w_time,
                     signed char* status) {
    constexpr bool ema = OBJECTIVE == JEPA_EMA;
    double a[MAX_DEPTH][LANES], b[MAX_DEPTH][LANES], suffix[MAX_DEPTH + 1][LANES];
    double v[LANES], sigma2[LANES], w_prev[LANES], w[LANES];
    int direction[LANES];
    bool dead[LANES], ok[LANES];
    load_lanes(depth, ema, a_rows, v_io, b_rows, row_stride, a, v, b);
    for (int q = 0; q < LANES; ++q) {
        sigma2[q] = lam[q] / rho[q];
        w_prev[q] = 0.0;
        direction[q] = 0;
        dead[q] = false;
        status[q] = SUCCESS;
    }
    long long j = 0;
    const long long last = nrec > 0 ? rec[nrec - 1] : -1;
    for (long long k = 0; k <= last; ++k) {
        products_lanes(depth, a, suffix);
        for (int q = 0; q < LANES; ++q) {
            w[q] = fd_fabs(suffix[0][q]);
            if (dead[q]) continue;
            if (!(w[q] < fd_inf<double>())) {
                status[q] = DIVERGED;
                dead[q] = true;
                continue;
            }
            if (k > 0) {
                const double dw = w[q] - w_prev[q];
                if (fd_fabs(dw) > REVERSAL_ULPS * w[q]) {
                    const int dir = dw > 0.0 ? 1 : -1;
                    if (direction[q] != 0 && dir != direction[q]) status[q] = OSCILLATED;
                    direction[q] = dir;
                }
            }
            w_prev[q] = w[q];
        }
        for (; j < nrec && rec[j] == k; ++j)
            for (int q = 0; q < LANES; ++q) w_out[q * w_row + j * w_time] = dead[q] ? fd_nan<double>() : w[q];
        if (k == last) break;
        step_lanes<OBJECTIVE>(depth, lam, sigma2, lr, momentum, a, v, b, suffix, dead, ok);
        for (int q = 0; q < LANES; ++q)
            if (!dead[q] && !ok[q]) {
                status[q] = DIVERGED;
                dead[q] = true;
            }
    }
    for (; j < nrec; ++j)
        for (int q = 0; q < LANES; ++q) w_out[q * w_row + j * w_time] = fd_nan<double>();
    store_lanes(depth, ema, a, v, b, row_stride, a_rows, v_io, b_rows);
}

/// crossing_objective for LANES features of one depth in lockstep (bit-identical to one at
/// a time): a lane that has crossed (or failed) keeps its state while the others go on.
template <int OBJECTIVE>
FD_HD void crossing_lanes(int depth, const double* lam, const double* rho, const double* lr, const double* momentum,
                          double* a_rows, double* v_io, double* b_rows, long long row_stride, const double* p,
                          long long max_steps, double* k_out, signed char* status) {
    constexpr bool ema = OBJECTIVE == JEPA_EMA;
    double a[MAX_DEPTH][LANES], b[MAX_DEPTH][LANES], suffix[MAX_DEPTH + 1][LANES];
    double v[LANES], sigma2[LANES], level[LANES];
    bool done[LANES], ok[LANES];
    for (int q = 0; q < LANES; ++q) {
        level[q] = p[q] * flow_limit(OBJECTIVE, depth, rho[q], a_rows + q * row_stride, v_io[q]);
        sigma2[q] = lam[q] / rho[q];
        done[q] = false;
        k_out[q] = fd_nan<double>();
        status[q] = MAX_STEPS;
    }
    load_lanes(depth, ema, a_rows, v_io, b_rows, row_stride, a, v, b);
    for (long long k = 0;; ++k) {
        products_lanes(depth, a, suffix);
        bool all = true;
        for (int q = 0; q < LANES; ++q) {
            if (!done[q]) {
                const double w = fd_fabs(suffix[0][q]);
                if (!(w < fd_inf<double>())) {
                    status[q] = DIVERGED;
                    done[q] = true;
                } else if (w >= level[q]) {
                    k_out[q] = double(k);
                    status[q] = SUCCESS;
                    done[q] = true;
                }
            }
            all = all && done[q];
        }
        if (all || k == max_steps) break;  // the lanes still going keep MAX_STEPS
        step_lanes<OBJECTIVE>(depth, lam, sigma2, lr, momentum, a, v, b, suffix, done, ok);
        for (int q = 0; q < LANES; ++q)
            if (!done[q] && !ok[q]) {
                status[q] = DIVERGED;
                done[q] = true;
            }
    }
    store_lanes(depth, ema, a, v, b, row_stride, a_rows, v_io, b_rows);
}

FD_HD void crossing_features_lanes(int objective, int depth, const double* lam, const double* rho, const double* lr,
                                   const double* momentum, double* a, double* v, double* b, long long row_stride,
                                   const double* p, long long max_steps, double* k_out, signed char* status) {
    if (objective == MAE)
        crossing_lanes<MAE>(depth, lam, rho, lr, momentum, a, v, b, row_stride, p, max_steps, k_out, status);
    else if (objective == JEPA_EMA)
        crossing_lanes<JEPA_EMA>(depth, lam, rho, lr, momentum, a, v, b, row_stride, p, max_steps, k_out, status);
    else
        crossing_lanes<JEPA>(depth, lam, rho, lr, momentum, a, v, b, row_stride, p, max_steps, k_out, status);
}

FD_HD void run_features_lanes(int objective, int depth, const double* lam, const double* rho, const double* lr,
                              const double* momentum, double* a, double* v, double* b, long long row_stride,
                              long long nrec, const long long* rec, double* w_out, long long w_row,
                              long long w_time, signed char* status) {
    if (objective == MAE)
        run_lanes<MAE>(depth, lam, rho, lr, momentum, a, v, b, row_stride, nrec, rec, w_out, w_row, w_time,
                       status);
    else if (objective == JEPA_EMA)
        run_lanes<JEPA_EMA>(depth, lam, rho, lr, momentum, a, v, b, row_stride, nrec, rec, w_out, w_row,
                            w_time, status);
    else
        run_lanes<JEPA>(depth, lam, rho, lr, momentum, a, v, b, row_stride, nrec, rec, w_out, w_row, w_time,
                        status);
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

FD_HD signed char crossing_feature(int objective, int depth, double lam, double rho, double lr,
                                   double momentum, double* a, double* v_io, double* b, double p,
                                   long long max_steps, double* k_out) {
    if (objective == MAE)
        return crossing_objective<MAE>(depth, lam, rho, lr, momentum, a, v_io, b, p, max_steps, k_out);
    if (objective == JEPA_EMA)
        return crossing_objective<JEPA_EMA>(depth, lam, rho, lr, momentum, a, v_io, b, p, max_steps,
                                            k_out);
    return crossing_objective<JEPA>(depth, lam, rho, lr, momentum, a, v_io, b, p, max_steps, k_out);
}

}  // namespace gd
}  // namespace fastdyn
