// Exact solutions: per-feature functions over the closed forms.
//
// Every time is (F(sigma_1) - F(sigma_0)) / K (closed.h) and needs no
// iteration; a weight at a given time inverts F from the per-depth inverse
// table and one Halley step, with a bracketed Newton fallback (inverse.h).
// Double precision (the kernels' ABI).  The CPU kernels (fastdyn.kernels._exact,
// through the CPU library host_library.cpp) and the GPU entry points
// (exact_kernels.cu) call these functions, one feature at a time.
#pragma once

#include "closed.h"
#include "config.h"
#include "family.h"
#include "inverse.h"

namespace fastdyn {

/// sigma(lp0 + dlp) - sigma(lp0) formed without cancellation.
///
/// Growth (lp0 < 0): sigma = lp - log(1 - psi) and (1 - psi1)/(1 - psi0) =
/// 1 - psi0 expm1(dlp) / (1 - psi0); both parts of the difference have the
/// sign of dlp.  Decay (lp0 > 0): sigma = -log(1 - x) with x = 1/psi, and
/// (1 - x1)/(1 - x0) = 1 - x0 expm1(-dlp) / (1 - x0): a single logarithm,
/// where differencing the two sigmas would lose a factor psi0.
FD_HD double delta_sigma(double lp0, double dlp) {
    if (lp0 < 0.0) {
        // psi1 - psi0, formed so that an underflowing psi0 never meets an overflowing factor
        double dpsi;
        if (dlp <= 1.0)
            dpsi = fd_exp(lp0) * fd_expm1(dlp);
        else
            dpsi = fd_exp(lp0 + dlp) * -fd_expm1(-dlp);
        return dlp - fd_log1p(-dpsi / -fd_expm1(lp0));
    }
    double dx;
    if (-dlp <= 1.0)
        dx = fd_exp(-lp0) * fd_expm1(-dlp);
    else
        dx = fd_exp(-lp0 - dlp) * -fd_expm1(dlp);
    return -fd_log1p(-dx / -fd_expm1(-lp0));
}

/// Exact time for the weight to move from w0 to w1 (eq. 7/8); +inf when w1 is
/// never reached (behind w0, at or beyond the fixed point).  No iteration.
FD_HD double time_between(int objective, int depth, double lam, double rho, double w0, double w1) {
    const double inf = fd_inf<double>();
    if (w1 == w0) return 0.0;
    const double b = family_b<double>(objective, depth);
    const double lp0 = log_psi_of_w<double>(objective, depth, w0, rho);
    const int branch = branch_of_log_psi<double>(lp0);
    // log(w1/w0) without cancellation when w1 is close to w0
    const double dlw =
        (0.5 * w0 <= w1 && w1 <= 2.0 * w0) ? fd_log1p((w1 - w0) / w0) : fd_log(w1) - fd_log(w0);
    const double dlp = b * dlw;
    const double lp1 = lp0 + dlp;
    if (branch == GROWTH) {
        if (dlp <= 0.0 || lp1 >= 0.0) return inf;
    } else if (branch == DECAY) {
        if (dlp >= 0.0 || lp1 <= 0.0) return inf;
    } else {
        return inf;
    }
    const double s0 = sigma_of_log_psi<double>(lp0);
    const double ds = delta_sigma(lp0, dlp);
    if (!(ds > 0.0)) return inf;  // lp1 rounds onto the fixed point
    const double log_k = log_rate<double>(objective, depth, lam, rho);
    const double q = family_q<double>(objective, depth);
    if (branch == GROWTH && dlp > 1.0 && (q - 1.0) * -lp0 > 2.0 * (1.0 + q) &&
        integer_m(objective, depth) != 0 && fd_fabs(log_k) < 700.0) {
        // out of a long plateau (psi1 > e psi0): the difference of the plateau coordinates
        // tau = F/K of growth_tau0, which cancels rho^(q-1) analytically, as critical_time
        // does.  The closed-form difference below exponentiates log F0 ~ (q-1)|log psi0|
        // (up to 700) and so carries a few times that many ulps: 2-4x the backward-error
        // bound of 16 (1+q) ulps once (q-1)|log psi0| > 2 (1+q).  Here the two terms cancel
        // by at most 1/(1 - e^(-(q-1) dlp)) (q >= 4/3).
        const double s1 = sigma_of_log_psi<double>(lp1);
        const double tau0 = growth_tau0(objective, depth, lam, rho, w0, s0, lp0, log_k);
        const double tau1 = growth_tau0(objective, depth, lam, rho, w1, s1, lp1, log_k);
        if (tau0 > -inf && tau1 > -inf && tau1 < inf) return tau1 - tau0;
    }
    const double ldf = log_delta_f(s0, ds, branch, objective, depth);
    return fd_exp(ldf - log_k);
}

/// F0 + K t as (sign, log|.|) with F0 = sign0 e^log0 and K t = e^log_kt.
FD_HD SignedLog target_of(double sign0, double log0, double log_kt) {
    if (sign0 > 0.0) {
        const double hi = py_max(log0, log_kt);
        return {1.0, hi + fd_log1p(fd_exp(py_min(log0, log_kt) - hi))};
    }
    if (sign0 == 0.0) return {1.0, log_kt};
    if (log_kt > log0) return {1.0, log_kt + fd_log(-fd_expm1(log0 - log_kt))};
    if (log_kt < log0) return {-1.0, log0 + fd_log(-fd_expm1(log_kt - log0))};
    return {0.0, -fd_inf<double>()};
}

/// Per-feature constants of a solve that starts at weight w0.  On the growth
/// branch the target is formed from tau0 = F(sigma0)/K (growth_tau0) and
/// F(sigma0) itself is left unevaluated (log0 = NaN) until a fallback solve
/// needs it; on the decay branch F(sigma0) = sign0 e^log0 forms the target.
struct Start {
    int branch;
    double s0, sign0, log0, tau0, log_k, log_rho, b;
};

FD_HD Start start_of(int objective, int depth, double lam, double rho, double w0) {
    Start st;
    st.b = family_b<double>(objective, depth);
    st.log_rho = fd_log(rho);
    const double lp0 = st.b * fd_log(w0) - st.log_rho;
    st.branch = branch_of_log_psi<double>(lp0);
    st.s0 = sigma_of_log_psi<double>(lp0);
    st.log_k = log_rate<double>(objective, depth, lam, rho);
    st.sign0 = 0.0;
    st.log0 = -fd_inf<double>();
    st.tau0 = 0.0;
    if (st.branch == GROWTH) {
        // the target is formed from tau0 = F(sigma0)/K; F(sigma0) is left unevaluated
        st.tau0 = growth_tau0(objective, depth, lam, rho, w0, st.s0, lp0, st.log_k);
        st.log0 = fd_nan<double>();
    } else if (st.branch == DECAY) {
        const SignedLog f = f_signed_log(st.s0, st.branch, objective, depth);
        st.sign0 = f.sign;
        st.log0 = f.log;
    }
    return st;
}

struct SolveAt {
    double sigma, lp;
    signed char status;
    double f_sign, f_log;
};

/// State at time t after the start; lo is a state at or before t with
/// F(lo) = lo_sign e^lo_log (lo_log NaN: not evaluated yet).  On the growth
/// branch the target F0 + K t is formed as K (tau0 + t): the cancellation of
/// the plateau happens in time units (growth_tau0).
FD_HD SolveAt solve_at(int objective, int depth, const Start& st, double t, double lo, double lo_sign,
                       double lo_log, const double* tab_sigma, const double* tab_dsigma) {
    double sgn, lg;
    if (st.branch == GROWTH) {
        // the plateau cancels in time units: F0 + K t = K (tau0 + t)
        const double tau = t + st.tau0;
        if (tau > 0.0) {
            sgn = 1.0;
            lg = fd_log(tau) + st.log_k;
        } else if (tau < 0.0) {
            sgn = -1.0;
            lg = fd_log(-tau) + st.log_k;
        } else {
            sgn = 0.0;
            lg = -fd_inf<double>();
        }
    } else {
        const SignedLog tg = target_of(st.sign0, st.log0, fd_log(t) + st.log_k);
        sgn = tg.sign;
        lg = tg.log;
    }
    if (sgn == 0.0) sgn = 1.0;  // F_T == 0 exactly: the linear residual handles it
    const SigmaSolve s = solve_sigma_tabulated(sgn, lg, st.branch, objective, depth, lo, lo_sign, lo_log,
                                               tab_sigma, tab_dsigma);
    return {s.sigma, s.lp, s.status, sgn, lg};
}

/// The exact solution is monotone and bracketed by its start and the fixed
/// point: keep the rounded values so (this only removes rounding error).
FD_HD double monotone(double w1, double w_prev, double w_star, int branch) {
    if (branch == GROWTH) return py_min(py_max(w1, w_prev), w_star);
    return py_max(py_min(w1, w_prev), w_star);
}

/// Exact flow map: the weight a further time dt >= 0 after w; status SUCCESS
/// unless the root find failed (NO_CONVERGENCE).
FD_HD double advance(int objective, int depth, double lam, double rho, double w, double dt, signed char& status,
                     const double* tab_sigma, const double* tab_dsigma) {
    status = SUCCESS;
    if (dt == 0.0) return w;
    const Start st = start_of(objective, depth, lam, rho, w);
    if (st.branch == AT_FIXED) return w;
    const SolveAt r = solve_at(objective, depth, st, dt, st.s0, st.sign0, st.log0, tab_sigma, tab_dsigma);
    status = r.status;
    // w = w* psi^(1/b): the rounding of w* is a common factor shared with fixed_point
    const double w_star = fd_exp(st.log_rho / st.b);
    return monotone(w_star * fd_exp(r.lp / st.b), w, w_star, st.branch);
}

/// One output of a trajectory from the start st (not AT_FIXED) at a time t at or after the
/// previous one: the origin's weight w0 at t = 0, w* once the state is at the fixed point to
/// float64 precision (lo = inf), else the solve from the previous state lo (F(lo) = lo_sign
/// e^lo_log, lo_log NaN: not evaluated), made monotone against the previous output prev.
/// Updates the state; a status other than SUCCESS is written to status.
FD_HD double trajectory_step(int objective, int depth, const Start& st, double w0, double w_star, double t,
                             double& lo, double& lo_sign, double& lo_log, double& prev, signed char& status,
                             const double* tab_sigma, const double* tab_dsigma) {
    if (t == 0.0) return w0;                      // the origin (the state stays)
    if (lo == fd_inf<double>()) return w_star;  // already at the fixed point to float64 precision
    const SolveAt r = solve_at(objective, depth, st, t, lo, lo_sign, lo_log, tab_sigma, tab_dsigma);
    lo_sign = r.f_sign;
    lo_log = r.f_log;
    prev = monotone(w_star * fd_exp(r.lp / st.b), prev, w_star, st.branch);
    lo = r.sigma;
    if (r.status != SUCCESS) status = r.status;
    return prev;
}

/// w(t[j]) of one feature starting at eps into out[j * stride] (t non-decreasing);
/// returns the status.  Each solve is bracketed below by the previous state.
FD_HD signed char trajectory_row(long long nt, const double* t, int objective, int depth, double lam, double rho,
                                 double eps, double* out, long long stride, const double* tab_sigma,
                                 const double* tab_dsigma) {
    const Start st = start_of(objective, depth, lam, rho, eps);
    signed char status = SUCCESS;
    if (st.branch == AT_FIXED) {
        for (long long j = 0; j < nt; ++j) out[j * stride] = eps;
        return status;
    }
    const double w_star = fd_exp(st.log_rho / st.b);  // = fixed_point(...)
    double lo = st.s0, lo_sign = st.sign0, lo_log = st.log0;
    double prev = eps;
    for (long long j = 0; j < nt; ++j)
        out[j * stride] = trajectory_step(objective, depth, st, eps, w_star, t[j], lo, lo_sign, lo_log, prev, status,
                                          tab_sigma, tab_dsigma);
    return status;
}

/// F(sigma*) at the critical level psi* = p^b (depends on objective, depth, p only).
FD_HD double critical_level(int objective, int depth, double p) {
    const GrowthParts g =
        growth_parts(sigma_of_log_psi<double>(family_b<double>(objective, depth) * fd_log(p)), objective, depth);
    return g.s - fd_exp(g.log_big);
}

/// Exact critical time (eq. 11): first t with w(t) >= p w(inf); f_star =
/// F(sigma*) or NaN (compute it).  Zero for a feature starting at or above p w(inf).
/// When the start is well below the target (psi* > e psi0, the usual case) the
/// time is F(sigma*)/K - tau0 with the plateau coordinate of growth_tau0: the
/// two terms cancel by at most a factor 1/(1 - e^(1-q)); otherwise the
/// difference F(sigma*) - F(sigma0) is integrated directly.
FD_HD double critical_time(int objective, int depth, double lam, double rho, double eps, double p, double f_star) {
    const double b = family_b<double>(objective, depth);
    const double lp0 = b * fd_log(eps) - fd_log(rho);
    const double lp1 = b * fd_log(p);  // psi* = p^b
    if (lp0 >= lp1) return 0.0;
    const double s0 = sigma_of_log_psi<double>(lp0);
    const double log_k = log_rate<double>(objective, depth, lam, rho);
    if (lp1 - lp0 > 1.0 && fd_fabs(log_k) < 700.0) {
        const double tau0 = growth_tau0(objective, depth, lam, rho, eps, s0, lp0, log_k);
        if (tau0 > -fd_inf<double>()) {
            if (f_star != f_star) f_star = critical_level(objective, depth, p);
            return f_star * fd_exp(-log_k) - tau0;
        }
    }
    // K or the plateau beyond float64: the difference in logarithms
    const double ds = delta_sigma(lp0, lp1 - lp0);
    const double ldf = log_delta_f(s0, ds, GROWTH, objective, depth);
    return fd_exp(ldf - log_k);
}

/// Leading-order small-eps critical time: JEPA eq. 12, MAE eq. 13 (L > 1),
/// MAE eq. 121 (L = 1); formed in logarithms.
FD_HD double critical_time_asymptotic(int objective, int depth, double lam, double rho, double eps) {
    const int L = depth;
    const double dL = double(L);
    if (objective == JEPA) {
        const double ninf = -fd_inf<double>();
        double acc = ninf;
        for (int n = 1; n < 2 * L; ++n) {
            const double lt =
                fd_log(dL / double(n)) - double(2 * L - n - 1) * fd_log(rho) - (double(n) / dL) * fd_log(eps);
            const double hi = py_max(acc, lt);
            acc = acc > ninf ? hi + fd_log1p(fd_exp(py_min(acc, lt) - hi)) : lt;
        }
        return fd_exp(acc - fd_log(lam));
    }
    if (L == 1) return fd_fabs(fd_log(eps)) / lam;
    return fd_exp(fd_log(dL / (dL - 1.0)) - ((dL - 1.0) / dL) * fd_log(eps) - fd_log(lam));
}

}  // namespace fastdyn
