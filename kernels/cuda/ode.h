// Adaptive Dormand-Prince 5(4) integration of the per-feature ODE, for CUDA and the host.
//
// The numerical twin of the closed forms of exact.h: it integrates
// dpsi/dt = K psi**q (1 - psi) (family.h) with an explicit embedded pair
// and no knowledge of G_q.  Integrating w itself is hopeless (the
// plateau before learning lasts up to ~1e10 time units, the approach to the
// fixed point is stiff for explicit steps), so the integration variable changes
// with the phase of the dynamics, and every quantity is kept in logarithms so
// that nothing over- or underflows on the supported domain.
//
// Persistent state and local variables
// ------------------------------------
// Between steps the state is lp = log(psi) (its sign is the branch: GROWTH
// below the fixed point, DECAY above).  Each step integrates a *local* variable
// chosen by the phase, restarted from a fixed value at the start of the step:
//
// * GROW (growth plateau, psi < psi_sw, q > 1): z = u/u_n with u =
//   psi**(1-q)/(q-1) (the U = u/u0 of the design, rescaled at every step:
//   the rescaling is exact because dz/dt is linear in the scale, and z
//   never underflows however deep the plateau).  dz/dt = -r_n (1 - psi),
//   log r_n = log K + (q-1) log psi_n + log(q-1): in the plateau z is
//   linear in t up to a relative correction psi, and Runge-Kutta is
//   exact on linear functions.
// * DECAY (decay branch, psi > psi_sw, q > 1), stepped in log-time.
//   For large psi the flow is dpsi/dt ~ -K psi**(q+1): v = psi**(-q)
//   grows linearly, psi ~ (q K t)**(-1/q), and the decay from psi0
//   spans q log(psi0) e-folds of time (700 for JEPA at depth 62 starting
//   300 times above its fixed point).  A step in t is at most about t
//   (the solution is a power law in t), which cost ~1550 steps there.  In
//   s = log(tau), tau = t - t_a + 1/r_a (t_a, r_a = q K
//   psi_a**q: start of the phase), y = log(v/v_n) moves with slope ~1 -
//   1/psi: dy/ds = exp(s - y + c_n) (1 - 1/psi), c_n = log(tau_n q K) +
//   q lp_n; t is explicit in s (t - t_n = tau_n expm1(s)), so
//   outputs need no root find.  The gain is bounded: y relaxes to its
//   asymptote y ~ s at rate 1 in s (a perturbation of v stays
//   constant while v grows like tau), which limits explicit steps to
//   ds ~ 1.4 at rtol 1e-8: ~860 steps instead of ~1550 in that example,
//   ~416 instead of ~624 on average over random JEPA decays (trajectories to
//   t = 1e300 on the whole domain), and about the same
//   (49 vs 41) for MAE, whose q < 2.
// * SIGMA (near the fixed point; always when q == 1, MAE at depth 1):
//   sigma = log(psi/|1 - psi|), dsigma/dt = K psi**(q-1): near the fixed
//   point sigma grows linearly in t, so the stiff tail costs nothing.
//
// GROW carries y = z - 1 (lp = lp_n - log1p(y)/(q-1)): a short step is
// exact to the last bit instead of losing log(1 + tiny).  The first stage of
// a step is the last of the previous one (FSAL), rescaled with the local
// variable (k1 <- k7/z, r <- r/z in GROW; c <- c + h - y in DECAY).
//
// A plateau phase hands over to SIGMA at the end of the accepted step in which
// psi passes psi_sw.  The switch point need not be exact (SIGMA is valid
// on the whole branch; the threshold only decides which variable is cheaper),
// so the fifth-order end-of-step value is used rather than an interpolated
// crossing.  Thresholds: growth psi_sw = 1 - min(1/2, 1/(q-1)), decay
// psi_sw = 1 + 1/(q-1): dsigma/dt changes by a factor e per
// 1/((q-1)|1-psi|) in sigma, so sigma pays off once (q-1)|1-psi| = O(1).
// (Measured: the step counts hardly depend on these constants.)
//
// Error control: time shifts
// --------------------------
// The ODE is autonomous and scalar, so a local error delta z is exactly a
// shift of the trajectory in time by delta z / |dz/dt|, and the shifts add
// up.  A shift delta t changes log w at time t by |dlog w/dt|
// delta t.  For a weight deep in the plateau cond(t) = t |dlog w/dt| (the
// condition number of w(t) with respect to t, and equally to lam)
// reaches ~1e9 at the transition for the depth-5 benchmark: relative accuracy
// rtol in w there needs the plateau time to 1e-9 rtol, below the
// resolution of float64.  The trajectory kernel therefore bounds the time shift
// of each step by
//
//     rtol * max(1/R, c t_{n+1}),   c = max(1e-3, 64 eps_mach / rtol),
//
// R the largest |dlog w/dt| on the rest of the path (growth: the
// steepest point psi = (q-1)/q or the current point past it; decay: the
// current point).  The forward relative error of w is then about rtol
// wherever cond <= 1/c (1e3), and about rtol * c * cond beyond (the
// computed w(t) is the exact weight at a time within ~c rtol t of
// t: backward error in t, i.e. in lam).  Measured to the critical
// time of the JEPA depth-5 benchmark (rtol 1e-8): c = 1e-3 costs 125 steps;
// demanding forward accuracy everywhere (c at the float64 floor) 280, since
// the plateau must then be integrated to machine precision; a plain relative
// tolerance (c = 1, what relative control on the plateau variable gives)
// 66, but its forward error grows with cond already for moderate
// parameters.  The crossing kernel returns a time, so it needs only the
// backward error: its steps shift time by at most 0.1 rtol t_{n+1}, which
// gives t* to a relative ~rtol (76 steps on that benchmark).
// In state units the tolerance is tol_t * min(|dz/dt|) over the two ends of
// the step.
//
// Collapsing what float64 cannot resolve
// --------------------------------------
// Before each step an upper bound T on the time left to convergence (the
// weight within 1e-18 of its fixed point, or to psi* for the crossing) is
// formed in logarithms from monotone bounds on the rates.  If T is within
// the time tolerance c rtol t the rest of the evolution is collapsed (this
// is how huge rates finish, e.g. JEPA at depth 64 with rho = 1e3 where K
// overflows float64), and in the trajectory kernel, when the next output time
// lies beyond t + T, every remaining output is the fixed point.  A lower
// bound returns t* = inf at once when the crossing lies beyond the largest
// float64 (rates that underflow).  When a rate underflows in the trajectory
// kernel the state does not move, the error estimate is zero and steps grow by
// the clamp factor up to the last output time.
//
// Division by zero gives inf/NaN (caught by the step checks); nothing raises.
//
// Step control: the I controller (error exponent 1/5: the estimate is fourth
// order), safety 0.9, factor clamped to [0.2, 10], and after the second
// accepted step of a phase the smaller of its factor and Gustafsson's
// predictive one (RADAU5's combination); no growth right after a rejection;
// a step whose values leave the domain (z <= 0, the fixed point crossed,
// non-finite values) is rejected and shrunk by 4.  The first step of a phase
// is 0.05 times the natural time scale of its variable (1/|dz/dt|;
// for sigma 1/(|dsigma/dt| max(1, (q-1)|1-psi|))).
//
// Cost.  A step is bounded by its transcendental calls (~50 instructions each
// on the host, in one dependency chain from stage to stage and on to the next
// step size).  The right-hand side needs two per stage in the plateau (a
// fractional power of the phase variable: log1p, expm1) and three in SIGMA;
// everything else a step needs is evaluated at most once per value: the
// feature's constants of the time bound, of log R and of the conversion to w
// once per feature (TimeBound, Sensitivity, w_scale), log t and log |k1|
// carried from the previous step (and log |k1| not at all where |k7| is
// smaller by far more than the rounding of log: every GROW step), log psi at
// the end of the step from its last stage, the interpolant's coefficients only
// for a step with an output inside it, and the time bound itself only where it
// could end the integration (its larger term within a margin of the tests).
// These reuse values, never change them: the results are those of the plain
// evaluation to the bit.  On the benchmark workload (depth 5, eps 1e-3, 64
// times, rtol 1e-8; bench/bench_ode.py) that leaves ~1500 (JEPA) and ~1600
// (MAE) host instructions per feature-time (callgrind), about 1000 of them
// per step in the six stages, ~350 in the error test and step size (log |err|,
// log |k7|, log t, exp, pow) and ~80 per output (dense value, log1p, exp), at
// 47.5 (JEPA) and 46.8 (MAE) steps per feature.  With the I controller alone
// MAE took 79 steps, 33 of them rejected: approaching the end of the plateau
// its allowed step shrinks by ~0.85 per step, faster than the I controller
// anticipates, so every second step failed the error test; the predictive
// factor sees that trend in the last two errors (JEPA: 56 steps before).
//
// Layers: (a) scalar functions (right-hand sides, one DP step with its error
// estimate, dense output and its root, time bounds); (b) integrate_feature, one
// feature with its own step size; (c) the per-feature drivers of the entry
// points: the CPU library (host_library.cpp) and ode_kernels.cu, one feature per
// prange iteration or CUDA thread.  Kernels never raise: every feature gets a
// status (config.h: SUCCESS, MAX_STEPS, NON_FINITE, NO_CONVERGENCE); a failed
// feature has NaN in its remaining outputs together with a non-SUCCESS status,
// never a silent NaN with SUCCESS.
//
// Precision.  Everything is templated on Real (double or float) and the float
// path never computes in double: the math goes through the fd_* overloads of
// family.h (expf, logf, ... for float) and every constant is Real(...) of a
// literal, folded by the compiler.  Thresholds tied to the floating-point
// format come from OdeLimits<Real>: the largest finite value, the machine
// epsilon behind the time-shift floor, the convergence level CONV_LP, the
// Newton tolerance of the dense root and the exponent range of log_rate.  The
// float path alone integrates GROW and SIGMA phases whose rate is below 2^-96
// in a time unit 2^m (phase_time_unit): a subnormal float32 rate would
// otherwise carry too few bits for the step and its error estimate.  The
// float64 path follows the operation order of fastdyn's former Numba port of
// this file, so that its results did not change by a bit when this file became
// the only source.
//
// Device code rules: no exceptions, allocation, recursion or std:: (NVRTC has
// no standard library).  Each feature owns its t, h and status.
#pragma once

#include "config.h"
#include "family.h"
#include "tableau.h"

namespace fastdyn {
namespace ode {

// ---------------------------------------------------------------------------
// per-type limits
// ---------------------------------------------------------------------------
template <typename Real> struct OdeLimits;

template <> struct OdeLimits<double> {
    static constexpr double max = 1.7976931348623157e308;     // DBL_MAX
    static constexpr double eps = 2.220446049250313e-16;      // 2^-52
    static constexpr double conv_lp = 1e-18;    // |log psi|/b below: w == w* in float64
    static constexpr double newton_tol = 4e-16; // dense-output root: relative step
    static constexpr double log_pow_limit = 600.0;  // log_rate: |(q-1) log rho| safe for pow
    static constexpr double min_normal = 2.2250738585072014e-308;
    // No time rescaling of tiny phase rates (see phase_time_unit): the float64 path
    // keeps the operations of the former Numba port.  The two logs below are unused.
    static constexpr bool rescale_time = false;
    static constexpr double log_rate_floor = 0.0;
    static constexpr double log_move_floor = 0.0;
};

template <> struct OdeLimits<float> {
    static constexpr float max = 3.40282347e38f;   // FLT_MAX
    static constexpr float eps = 1.1920929e-07f;   // 2^-23
    // |log psi|/b = |log(w/w*)| below 1e-9 rounds w to w* in float32 (2^-24 = 6e-8);
    // 1e-18 as in double would also work but costs the sigma phase ~20 more units
    static constexpr float conv_lp = 1e-9f;
    static constexpr float newton_tol = 2.4e-7f;   // 2 eps32, as 4e-16 ~ 1.8 eps64
    // exp overflows float beyond 88.7: pow(rho, q-1) is used only while the
    // result stays far inside the range (600 plays that role for double's 709)
    static constexpr float log_pow_limit = 80.0f;
    static constexpr float min_normal = 1.17549435e-38f;
    // Time rescaling of tiny phase rates (phase_time_unit): a GROW or SIGMA phase
    // whose starting rate is below 2^-96 = e^log_rate_floor steps in a time unit 2^m
    // that lifts it to [2^-96, 2^-95); one whose rate times the time left is below
    // 2^-64 = e^log_move_floor is frozen (its state cannot move within float32).
    static constexpr bool rescale_time = true;
    static constexpr float log_rate_floor = -66.5421293f;   // -96 log 2
    static constexpr float log_move_floor = -44.3614196f;   // -64 log 2
};

// Tuning constants (per type by conversion of the same literal).
template <typename Real> FD_HD Real switch_grow() { return Real(1.0); }
template <typename Real> FD_HD Real switch_decay() { return Real(1.0); }
template <typename Real> FD_HD Real h0_fraction() { return Real(0.05); }
template <typename Real> FD_HD Real safety() { return Real(0.9); }
template <typename Real> FD_HD Real min_factor() { return Real(0.2); }
template <typename Real> FD_HD Real max_factor() { return Real(10.0); }
template <typename Real> FD_HD Real reject_shrink() { return Real(0.25); }
template <typename Real> FD_HD Real back_rel() { return Real(1e-3); }
template <typename Real> FD_HD Real cross_rel() { return Real(0.1); }
template <typename Real> FD_HD Real time_floor() { return Real(64) * OdeLimits<Real>::eps; }

constexpr int PHASE_SIGMA = 0;  // y = sigma = log(psi/|1-psi|), step in t
constexpr int PHASE_GROW = 1;   // y = (psi/psi_n)^(1-q) - 1, step in t
constexpr int PHASE_DECAY = 2;  // y = -q (lp - lp_n), step in s = log(tau)


// log K = log(b lam rho^(q-1)) with the per-type exponent limit.  family.h's
// log_rate uses the double limit 600 for both types; in float pow(rho, q-1)
// overflows already at (q-1)|log rho| > 88.7 (JEPA depth 64, rho = 2), so the
// integrator uses this one.  Identical to log_rate in double.
template <typename Real>
FD_HD Real log_rate_typed(int objective, int depth, Real lam, Real rho) {
    const Real b = family_b<Real>(objective, depth);
    const Real q = family_q<Real>(objective, depth);
    const Real log_rho_pow = (q - Real(1)) * fd_log(rho);
    if (fd_fabs(log_rho_pow) < OdeLimits<Real>::log_pow_limit)
        return fd_log(b * lam * fd_pow(rho, q - Real(1)));
    return fd_log(b) + fd_log(lam) + log_rho_pow;
}

/// w = w* psi^(1/b) from lp = log(psi): family.h's w_of_log_psi (w* times
/// exp(lp/b), so that w is accurate relative to its fixed point), except where
/// the factor exp(lp/b) = w/w* leaves the normal range of the type.  That
/// never happens for float64 on the documented domain (w/w* in [1e-222, 1e195]),
/// but float32 leaves it on both sides: a weight of 1e-30 below a fixed point
/// of 1e10 has w/w* = 1e-40 (subnormal: bits lost, or 0), and one of 367 above
/// a fixed point of 3e-37 (JEPA depth 50, rho = 0.187) has w/w* = 1e39 (inf:
/// w* * inf = inf, returned with SUCCESS before this function checked the upper
/// side).  There w = (w* h) h with h = exp(lp/(2b)) = sqrt(w/w*): w* h is the
/// geometric mean of w* and w, so with both normal nothing over- or underflows,
/// and the rounding is that of the product form.  h is normal whenever |log(w/w*)|
/// < 174, i.e. on the whole float32 domain (|log(w/w*)| <= 158); beyond it w =
/// exp((log rho + lp)/b) directly (rounding (|log w*| + 2 |log w|) eps/2).
///
/// `w_scale` is exp(log(rho)/b) (w*, the factor of family.h's w_of_log_psi),
/// evaluated once per feature by the integrator.
template <typename Real>
FD_HD Real w_of_log_psi_scaled(Real b, Real lp, Real rho, Real w_scale) {
    typedef OdeLimits<Real> L;
    const Real x = lp / b;
    const Real ratio = fd_exp(x);
    // same operations as family.h's w_of_log_psi, without evaluating exp(lp/b) twice
    if (ratio >= L::min_normal && ratio <= L::max) return w_scale * ratio;
    const Real half = fd_exp(Real(0.5) * x);
    if (half >= L::min_normal && half <= L::max) return (w_scale * half) * half;
    return fd_exp((fd_log(rho) + lp) / b);
}

template <typename Real>
FD_HD Real w_of_log_psi_typed(int objective, int depth, Real lp, Real rho) {
    const Real b = family_b<Real>(objective, depth);
    return w_of_log_psi_scaled<Real>(b, lp, rho, fd_exp(fd_log(rho) / b));
}

// ---------------------------------------------------------------------------
// (a) scalar layer
// ---------------------------------------------------------------------------

/// Right-hand side of the local variable of `phase` at (s, y).  `s` is the
/// offset of the independent variable from the start of the step (only DECAY
/// is non-autonomous); `par` is r_n (GROW), c_n (DECAY), unused (SIGMA).
/// NaN outside the domain (z <= 0; sigma <= 0 on the decay branch).
///
/// `*lp_at` receives log(psi) at y, the value phase_log_psi(phase, y, ...) gives
/// wherever the result is finite (NaN where the result is NaN for leaving the
/// domain): the step takes its end point's log psi from its last stage.
template <typename Real>
FD_HD Real phase_rhs_lp(int phase, Real s, Real y, Real lpn, Real par, Real q, Real log_k,
                        int branch, Real* lp_at) {
    if (phase == PHASE_SIGMA) {
        if (branch == DECAY && !(y > Real(0))) {
            *lp_at = fd_nan<Real>();
            return fd_nan<Real>();
        }
        const Real lp = log_psi_of_sigma(y, branch);
        *lp_at = lp;
        return fd_exp(log_k + (q - Real(1)) * lp);
    }
    if (phase == PHASE_GROW) {
        if (!(y > Real(-1))) {
            *lp_at = fd_nan<Real>();
            return fd_nan<Real>();
        }
        const Real lp = lpn - fd_log1p(y) / (q - Real(1));
        *lp_at = lp;
        return par * fd_expm1(lp);
    }
    const Real lp = lpn - y / q;
    *lp_at = lp;
    return -fd_exp(s - y + par) * fd_expm1(-lp);
}

template <typename Real>
FD_HD Real phase_rhs(int phase, Real s, Real y, Real lpn, Real par, Real q, Real log_k,
                     int branch) {
    Real lp;
    return phase_rhs_lp(phase, s, y, lpn, par, q, log_k, branch, &lp);
}

/// log(psi) from the local variable y of `phase`.
template <typename Real>
FD_HD Real phase_log_psi(int phase, Real y, Real lpn, Real q, int branch) {
    if (phase == PHASE_SIGMA) return log_psi_of_sigma(y, branch);
    if (phase == PHASE_GROW) {
        if (!(y > Real(-1))) return fd_nan<Real>();
        return lpn - fd_log1p(y) / (q - Real(1));
    }
    return lpn - y / q;
}

/// Inverse of phase_log_psi: the local variable at log(psi) = lp.
template <typename Real>
FD_HD Real phase_y_of_log_psi(int phase, Real lp, Real lpn, Real q) {
    if (phase == PHASE_SIGMA) return sigma_of_log_psi(lp);
    if (phase == PHASE_GROW) return fd_expm1(-(q - Real(1)) * (lp - lpn));
    return -q * (lp - lpn);
}

/// Stages and result of one DP5(4) step.
template <typename Real>
struct Step {
    Real y1, err, k2, k3, k4, k5, k6, k7;
    Real lp1;  // log psi at y1 (phase_log_psi; NaN where k7 is NaN for leaving the domain)
};

/// One Dormand-Prince 5(4) step of size h from y0 (k1 = f(0, y0)): the
/// fifth-order solution y1, the local error estimate h sum(E k), the
/// stages (k7 = f(h, y1) is the FSAL stage) and log psi at y1.
template <typename Real>
FD_HD Step<Real> dp_step(int phase, Real y0, Real h, Real k1, Real lpn, Real par, Real q,
                         Real log_k, int branch) {
    using namespace dp54;
    Step<Real> r;
    r.k2 = phase_rhs(phase, Real(C2) * h, y0 + h * (Real(A21) * k1), lpn, par, q, log_k, branch);
    r.k3 = phase_rhs(phase, Real(C3) * h, y0 + h * (Real(A31) * k1 + Real(A32) * r.k2), lpn, par,
                     q, log_k, branch);
    r.k4 = phase_rhs(phase, Real(C4) * h,
                     y0 + h * (Real(A41) * k1 + Real(A42) * r.k2 + Real(A43) * r.k3), lpn, par, q,
                     log_k, branch);
    r.k5 = phase_rhs(phase, Real(C5) * h,
                     y0 + h * (Real(A51) * k1 + Real(A52) * r.k2 + Real(A53) * r.k3 +
                               Real(A54) * r.k4),
                     lpn, par, q, log_k, branch);
    r.k6 = phase_rhs(phase, Real(C6) * h,
                     y0 + h * (Real(A61) * k1 + Real(A62) * r.k2 + Real(A63) * r.k3 +
                               Real(A64) * r.k4 + Real(A65) * r.k5),
                     lpn, par, q, log_k, branch);
    r.y1 = y0 + h * (Real(B1) * k1 + Real(B2) * r.k2 + Real(B3) * r.k3 + Real(B4) * r.k4 +
                     Real(B5) * r.k5 + Real(B6) * r.k6);
    r.k7 = phase_rhs_lp(phase, h, r.y1, lpn, par, q, log_k, branch, &r.lp1);
    r.err = h * (Real(E1) * k1 + Real(E2) * r.k2 + Real(E3) * r.k3 + Real(E4) * r.k4 +
                 Real(E5) * r.k5 + Real(E6) * r.k6 + Real(E7) * r.k7);
    return r;
}

/// Q_j = sum_i k_i P_ij: y(theta) = y0 + h sum_j Q_j theta^(j+1).
template <typename Real>
struct Dense {
    Real q0, q1, q2, q3;
};

template <typename Real>
FD_HD Dense<Real> dense_coefficients(Real k1, Real k2, Real k3, Real k4, Real k5, Real k6,
                                     Real k7) {
    using namespace dp54;
    Dense<Real> d;
    d.q0 = Real(P11) * k1 + Real(P21) * k2 + Real(P31) * k3 + Real(P41) * k4 + Real(P51) * k5 +
           Real(P61) * k6 + Real(P71) * k7;
    d.q1 = Real(P12) * k1 + Real(P22) * k2 + Real(P32) * k3 + Real(P42) * k4 + Real(P52) * k5 +
           Real(P62) * k6 + Real(P72) * k7;
    d.q2 = Real(P13) * k1 + Real(P23) * k2 + Real(P33) * k3 + Real(P43) * k4 + Real(P53) * k5 +
           Real(P63) * k6 + Real(P73) * k7;
    d.q3 = Real(P14) * k1 + Real(P24) * k2 + Real(P34) * k3 + Real(P44) * k4 + Real(P54) * k5 +
           Real(P64) * k6 + Real(P74) * k7;
    return d;
}

/// Shampine's quartic interpolant at theta in [0, 1] (Horner form).
template <typename Real>
FD_HD Real dense_eval(Real y0, Real h, const Dense<Real>& d, Real theta) {
    return y0 + h * theta * (d.q0 + theta * (d.q1 + theta * (d.q2 + theta * d.q3)));
}

/// dy/dtheta of dense_eval.
template <typename Real>
FD_HD Real dense_slope(Real h, const Dense<Real>& d, Real theta) {
    return h * (d.q0 + theta * (Real(2) * d.q1 + theta * (Real(3) * d.q2 + theta * Real(4) * d.q3)));
}

/// theta in [0, 1] where the interpolant equals `target`: safeguarded Newton on
/// a shrinking bracket (bisection whenever Newton leaves it).  The caller
/// guarantees that the step passes the target; `converged` reports success.
template <typename Real>
FD_HD Real solve_dense(Real y0, Real h, const Dense<Real>& d, Real target, bool* converged) {
    const Real tol = OdeLimits<Real>::newton_tol;
    Real lo = Real(0);
    Real hi = Real(1);
    const Real f_lo = y0 - target;
    const Real f_hi = dense_eval(y0, h, d, Real(1)) - target;
    *converged = true;
    if (f_lo == Real(0)) return Real(0);
    if (f_hi == Real(0) || (f_lo > Real(0)) == (f_hi > Real(0))) {
        // the end value passed the target, the interpolant at theta = 1 misses
        // it by rounding: the crossing is at the end of the step
        return Real(1);
    }
    Real theta = f_lo / (f_lo - f_hi);
    for (int it = 0; it < 200; ++it) {
        const Real f = dense_eval(y0, h, d, theta) - target;
        if (f == Real(0)) return theta;
        if ((f > Real(0)) == (f_lo > Real(0)))
            lo = theta;
        else
            hi = theta;
        const Real dd = dense_slope(h, d, theta);
        Real nxt = dd != Real(0) ? theta - f / dd : Real(-1);
        if (!(lo < nxt && nxt < hi)) nxt = Real(0.5) * (lo + hi);
        if (fd_fabs(nxt - theta) <= tol * theta || hi - lo <= tol * hi) return nxt;
        theta = nxt;
    }
    *converged = false;
    return theta;
}

/// log(exp(a) + exp(b)).
template <typename Real>
FD_HD Real log_add(Real a, Real b) {
    if (a == -fd_inf<Real>()) return b;
    if (b == -fd_inf<Real>()) return a;
    return py_max(a, b) + fd_log1p(fd_exp(-fd_fabs(a - b)));
}

// ---------------------------------------------------------------------------
// DECAY: the map between t and s = log(tau)
// ---------------------------------------------------------------------------
// The DECAY phase steps in s = log(tau), tau = t - t_a + 1/r_a, and converts
// offsets with t - t_n = tau_n expm1(s - s_n).  Its time scale at the start is
// 1/r_a = 1/(q K psi_a^q) = rho/(2 lam w_a^2) for both objectives (the decay
// dw/dt ~ -(lam/rho) w^3 of a weight far above w*), and it can exceed the
// largest finite value of the type although every time t is finite: float32
// on the documented domain reaches rho/(2 lam eps^2) = 1.7e62 (JEPA, lam =
// 1e-3, eps = 1e-30 above w* = rho^L: rho < eps^(1/64) = 0.34; MAE cannot, its
// decays start at eps > w* >= 1e-3).  Such a weight has moved by a factor
// (1 + t/tau)^(-1/2) > 0.7 (far above w*) by the largest finite t: its values
// are finite and must be integrated as usual.  With tau = inf, though, s_stop = log1p(dt/inf) = 0 and
// the dense output's theta = 0/0 = NaN: SUCCESS with NaN values (a former float32
// defect; float64 has it where 1/r_a > 1.8e308, outside the documented domain,
// e.g. lam = 1e-220).  The helpers below carry log(tau) next to tau and use it
// wherever tau is not finite.  While tau is finite (every float64 feature of the
// documented domain: 1/r_a <= 1.7e65) they evaluate the plain expressions of
// the former Numba port operation for operation.  Accuracy: log tau is as accurate as tau =
// exp(log tau) itself (|log tau| eps_mach, the A eps32 term of the float32
// tests), so the log form loses nothing.

/// log(tau), from tau while it is finite and from log_tau beyond.
template <typename Real>
FD_HD Real decay_log_scale(Real tau, Real log_tau) {
    return fd_isfinite(tau) ? fd_log(tau) : log_tau;
}

/// t - t_n = tau_n expm1(ds) at the offset ds >= 0 in s.
template <typename Real>
FD_HD Real decay_time_offset(Real tau, Real log_tau, Real ds) {
    if (fd_isfinite(tau)) return tau * fd_expm1(ds);
    return fd_exp(log_tau + fd_log(fd_expm1(ds)));  // ds == 0: exp(-inf) = 0
}

/// ds = log1p((t - t_n)/tau_n) at the time offset dt = t - t_n >= 0.
template <typename Real>
FD_HD Real decay_s_offset(Real tau, Real log_tau, Real dt) {
    if (fd_isfinite(tau)) return fd_log1p(dt / tau);
    return fd_log1p(fd_exp(fd_log(dt) - log_tau));  // dt == 0: log1p(0) = 0
}

// ---------------------------------------------------------------------------
// float32: GROW and SIGMA phases with tiny rates, in a rescaled time unit
// ---------------------------------------------------------------------------
// A phase's rate is its |dy/dt| at the start: GROW (q-1) K psi_n^(q-1) (the
// stages lie in [r/2, r] and r only grows), SIGMA K psi^(q-1) (within a factor
// 4 of K on the growth branch, in [K, e K] on the decay branch).  In float32 it
// can be subnormal while every time involved is representable: JEPA growth
// from eps = 1e-20 at lam = 1 has r0 ~ eps^2 = 1e-40, plateau ~1e40 > FLT_MAX
// but w(t) moves visibly by t = 1e37; a decay towards w* = rho^L with rho^(2L-1)
// ~ 1e-39 has K ~ 1e-41 in its SIGMA phase.  A subnormal rate carries a few
// bits: the stages, the increment and the error estimate (differences of the
// stages times E_i ~ 1e-3) lose their relative accuracy and the controller
// rejects every step, so the port reported NON_FINITE there (8% of the JEPA
// features of the float32 domain whose w* is a normal float32).
//
// The ODE is autonomous: in the time unit U = 2^m (t = U t') every rate is
// multiplied by U, the trajectory is the same.  A phase whose starting rate is
// below 2^-96 therefore steps in t' with m chosen so that the scaled rate lies
// in [2^-96, 2^-95): the stages stay above 2^-98 and the products E_i k_i
// above 2^-108, far inside the normal range (the margin keeps the residue of
// the error estimate, which cancels ~20 bits, normal as well).  The rescaling
// is exact for times (multiplications by 2^+-m; a scaled time below FLT_MIN,
// i.e. t - t_n < 2^(m-126), lies where the state moves by less than 2^-220)
// and adds one rounding to each rate: exp(x + m log 2) instead of exp(x) 2^m,
// a relative error below half an ulp of |x + m log 2| <= 67, i.e. <= 32 eps32,
// less than the rounding of x itself (|x| eps32 with |x| >= 87 where x is
// subnormal; the A eps32 term of the float32 bound).  The error control is
// unchanged: a local error is a time shift of err/|dy/dt'| in t', so the time
// tolerance is divided by U (log_tol - m log 2).
//
// Where even that is not needed, the phase is frozen: if the rate times the
// time left to the last output (or to FLT_MAX) is below 2^-64, the local
// variable moves by less than 4 r (t_stop - t) < 2^-62 before the end of the
// integration, far below the 2^-24 that any change of psi (or the crossing
// level, which is at least an ulp of lp away in sigma or z) needs: the rate is
// set to 0 and the step reaches t_stop at once, which is what the rate's own
// underflow to 0 already does (the scale needed, m > 96, would also push the
// scaled times out of the normal range).  Only the float32 path rescales
// (OdeLimits::rescale_time): float64 keeps the plain operations (on its
// documented domain only K can be subnormal, JEPA with rho ~
// 4e-3 at depth 64, in the SIGMA phase of decays, which starts after t ~ 1e305).

/// The time unit of one GROW or SIGMA phase: `scaled` (steps in units of 2^m),
/// `frozen` (rates replaced by 0) or neither (plain t; always for double).
template <typename Real>
struct TimeUnit {
    bool scaled;
    bool frozen;
    Real unit;      // 2^m, exact
    Real inv_unit;  // 2^-m, exact
    Real log_unit;  // m log 2 rounded: added to the log of every rate of the phase
};

/// Time unit of a phase whose rate starts at exp(log_rate), with exp(log_span)
/// the time left to t_stop.
template <typename Real>
FD_HD TimeUnit<Real> phase_time_unit(Real log_rate, Real log_span) {
    typedef OdeLimits<Real> L;
    TimeUnit<Real> u{false, false, Real(1), Real(1), Real(0)};
    if (!L::rescale_time || !(log_rate < L::log_rate_floor)) return u;
    // m = the number of doublings that lift the rate to [2^-96, 2^-95)
    const Real mm = (L::log_rate_floor - log_rate) / fd_log2_const<Real>();
    // not frozen implies log_rate >= -64 log 2 - log FLT_MAX, so mm < 97: the test
    // on mm only keeps 2^m a normal number for any input
    if (log_rate + log_span < L::log_move_floor || !(mm < Real(120))) {
        u.frozen = true;
        return u;
    }
    const int m = 1 + (int)mm;
    for (int i = 0; i < m; ++i) {  // exact powers of two (once per phase)
        u.unit *= Real(2);
        u.inv_unit *= Real(0.5);
    }
    u.log_unit = Real(m) * fd_log2_const<Real>();
    u.scaled = true;
    return u;
}

/// Upper bound on log of the time from log psi = lp_from to lp_to (between
/// lp_from and 0).  Plateau part (up to lp_sw): growth |dz/dt| >= r (1 -
/// psi_end) with |delta z| <= 1; decay: the flow comes down from infinity in
/// finite time, below psi_end^-q / (q K (1 - 1/psi_end)).  Sigma part: the rate
/// K psi^(q-1) is smallest at its start (growth) or at least K (decay).
template <typename Real>
FD_HD Real log_time_upper(int branch, Real lp_from, Real lp_to, Real q, Real log_k, Real lp_sw) {
    Real total = -fd_inf<Real>();
    Real lp_b = lp_from;
    if (branch == GROWTH) {
        if (lp_from < lp_sw) {
            const Real lp_a = py_min(lp_to, lp_sw);
            total = -(fd_log(q - Real(1)) + log_k + (q - Real(1)) * lp_from) -
                    fd_log(-fd_expm1(lp_a));
            lp_b = lp_sw;
        }
        if (lp_to > lp_b) {
            const Real dsig = sigma_of_log_psi(lp_to) - sigma_of_log_psi(lp_b);
            total = log_add(total, fd_log(dsig) - log_k - (q - Real(1)) * lp_b);
        }
    } else {
        if (lp_from > lp_sw) {
            const Real lp_a = py_max(lp_to, lp_sw);
            total = -q * lp_a - fd_log(q) - log_k - fd_log(-fd_expm1(-lp_a));
            lp_b = lp_sw;
        }
        if (lp_to < lp_b) {
            const Real dsig = sigma_of_log_psi(lp_to) - sigma_of_log_psi(lp_b);
            total = log_add(total, fd_log(dsig) - log_k);
        }
    }
    return total;
}

/// Lower bound on log of the growth time from lp_from to lp_to (first phase
/// only: |dz/dt| <= r in the plateau, dsigma/dt <= K psi_to^(q-1) in sigma).
template <typename Real>
FD_HD Real log_time_lower_growth(Real lp_from, Real lp_to, Real q, Real log_k, Real lp_sw) {
    if (lp_from < lp_sw) {
        const Real lp_a = py_min(lp_to, lp_sw);
        return fd_log(-fd_expm1(-(q - Real(1)) * (lp_a - lp_from))) -
               (fd_log(q - Real(1)) + log_k + (q - Real(1)) * lp_from);
    }
    const Real dsig = sigma_of_log_psi(lp_to) - sigma_of_log_psi(lp_from);
    return fd_log(dsig) - log_k - (q - Real(1)) * lp_to;
}

/// log R: the largest |dlog w/dt| = K psi^(q-1) |1 - psi| / b on the rest of
/// the path from lp (growth: peaks at psi = (q-1)/q; decay: only decreases).
template <typename Real>
FD_HD Real log_sensitivity(int branch, Real lp, Real q, Real log_k, Real b) {
    if (branch == GROWTH && q > Real(1)) lp = py_max(lp, fd_log((q - Real(1)) / q));
    return log_k + (q - Real(1)) * lp + fd_log(fd_fabs(fd_expm1(lp))) - fd_log(b);
}

// ---------------------------------------------------------------------------
// the per-step bounds with their feature constants evaluated once
// ---------------------------------------------------------------------------
// The integrator evaluates the bound on the time left (log_time_upper, towards
// a fixed target) before every step and the sensitivity log R in the error
// test of every step.  Most of their logarithms depend on the feature only:
// the structs below evaluate those once and then perform the remaining
// operations of the functions above in the same order, so that their values
// are the same to the bit (a part that depends on lp is never rewritten).

/// log_time_upper(branch, lp, lp_to, q, log_k, lp_sw) for one target lp_to, as
/// its two terms: `plateau` (-inf when lp is past the switch) and `sigma` (-inf
/// when the target lies inside the plateau); the bound is log_add(plateau, sigma).
template <typename Real>
struct TimeParts {
    Real plateau, sigma;
};

template <typename Real>
struct TimeBound {
    int branch;
    Real lp_to, q, log_k, lp_sw;
    Real log_qm1;     // log(q - 1)
    Real log_gap;     // growth: log(-expm1(min(lp_to, lp_sw)))
    Real plateau_dc;  // decay: the (constant) plateau term
    Real sig_to;      // sigma_of_log_psi(lp_to)
    Real sig_sw;      // the sigma term from the switch point (lp_b = lp_sw)

    FD_HD static TimeBound make(int branch, Real lp_to, Real q, Real log_k, Real lp_sw) {
        TimeBound tb;
        tb.branch = branch;
        tb.lp_to = lp_to;
        tb.q = q;
        tb.log_k = log_k;
        tb.lp_sw = lp_sw;
        tb.log_qm1 = fd_log(q - Real(1));
        tb.sig_to = sigma_of_log_psi(lp_to);
        tb.log_gap = Real(0);
        tb.plateau_dc = Real(0);
        tb.sig_sw = -fd_inf<Real>();
        if (branch == GROWTH) {
            tb.log_gap = fd_log(-fd_expm1(py_min(lp_to, lp_sw)));
            if (lp_to > lp_sw) {
                const Real dsig = tb.sig_to - sigma_of_log_psi(lp_sw);
                tb.sig_sw = fd_log(dsig) - log_k - (q - Real(1)) * lp_sw;
            }
        } else {
            const Real lp_a = py_max(lp_to, lp_sw);
            tb.plateau_dc = -q * lp_a - fd_log(q) - log_k - fd_log(-fd_expm1(-lp_a));
            if (lp_to < lp_sw) {
                const Real dsig = tb.sig_to - sigma_of_log_psi(lp_sw);
                tb.sig_sw = fd_log(dsig) - log_k;
            }
        }
        return tb;
    }

    /// The two terms of log_time_upper from lp_from.
    FD_HD TimeParts<Real> parts(Real lp_from) const {
        TimeParts<Real> r{-fd_inf<Real>(), -fd_inf<Real>()};
        Real lp_b = lp_from;
        if (branch == GROWTH) {
            if (lp_from < lp_sw) {
                r.plateau = -(log_qm1 + log_k + (q - Real(1)) * lp_from) - log_gap;
                if (lp_to > lp_sw) r.sigma = sig_sw;
                return r;
            }
            if (lp_to > lp_b) {
                const Real dsig = sig_to - sigma_of_log_psi(lp_b);
                r.sigma = fd_log(dsig) - log_k - (q - Real(1)) * lp_b;
            }
        } else {
            if (lp_from > lp_sw) {
                r.plateau = plateau_dc;
                if (lp_to < lp_sw) r.sigma = sig_sw;
                return r;
            }
            if (lp_to < lp_b) {
                const Real dsig = sig_to - sigma_of_log_psi(lp_b);
                r.sigma = fd_log(dsig) - log_k;
            }
        }
        return r;
    }

    /// log_time_upper(branch, lp_from, lp_to, q, log_k, lp_sw).
    FD_HD Real upper(Real lp_from) const {
        const TimeParts<Real> r = parts(lp_from);
        return log_add(r.plateau, r.sigma);
    }

    /// log_time_lower_growth(lp_from, lp_to, q, log_k, lp_sw).
    FD_HD Real lower_growth(Real lp_from) const {
        if (lp_from < lp_sw) {
            const Real lp_a = py_min(lp_to, lp_sw);
            return fd_log(-fd_expm1(-(q - Real(1)) * (lp_a - lp_from))) -
                   (log_qm1 + log_k + (q - Real(1)) * lp_from);
        }
        const Real dsig = sigma_of_log_psi(lp_to) - sigma_of_log_psi(lp_from);
        return fd_log(dsig) - log_k - (q - Real(1)) * lp_to;
    }
};

/// log_sensitivity(branch, lp, q, log_k, b) with log((q-1)/q), log b and the
/// value on the growth plateau (lp below the steepest point) evaluated once.
template <typename Real>
struct Sensitivity {
    bool clamp;     // growth with q > 1: lp is raised to lp_peak
    Real q, log_k, lp_peak, log_b, at_peak;

    FD_HD static Sensitivity make(int branch, Real q, Real log_k, Real b) {
        Sensitivity s;
        s.clamp = branch == GROWTH && q > Real(1);
        s.q = q;
        s.log_k = log_k;
        s.log_b = fd_log(b);
        s.lp_peak = s.clamp ? fd_log((q - Real(1)) / q) : Real(0);
        s.at_peak = s.clamp ? s.eval(s.lp_peak) : Real(0);
        return s;
    }
    FD_HD Real eval(Real lp) const {
        return log_k + (q - Real(1)) * lp + fd_log(fd_fabs(fd_expm1(lp))) - log_b;
    }
    FD_HD Real operator()(Real lp) const {
        if (clamp) {
            lp = py_max(lp, lp_peak);
            if (lp == lp_peak) return at_peak;
        }
        return eval(lp);
    }
};

// ---------------------------------------------------------------------------
// (b) one feature
// ---------------------------------------------------------------------------

/// Output row of one feature: w at output j goes to data[j * stride].
template <typename Real>
struct Row {
    Real* data;
    long long stride;
    FD_HD void set(long long j, Real v) const { data[j * stride] = v; }
    FD_HD void fill(long long j, long long n, Real v) const {
        for (long long i = j; i < n; ++i) data[i * stride] = v;
    }
};

/// Result of one feature: status, accepted plus rejected steps, crossing time.
template <typename Real>
struct FeatureResult {
    signed char status;
    long long nsteps;
    Real t_cross;
};

/// Integrate one feature.
///
/// Trajectory mode (`crossing` false): writes w at every t_out[j] (j < n_out,
/// non-decreasing, >= 0) into `row` and stops at the last one; t_cross is
/// NaN.  Crossing mode: integrates until log psi >= lp_star (< 0) and returns
/// that time: 0 when the feature starts at or above it, +inf when it lies
/// beyond the largest finite Real; t_out and row are not used.
template <typename Real>
FD_HD FeatureResult<Real> integrate_feature(int objective, int depth, Real lam, Real rho, Real eps,
                                            Real rtol, long long max_steps, bool crossing,
                                            Real lp_star, const Real* t_out, long long n_out,
                                            Row<Real> row) {
    typedef OdeLimits<Real> L;
    const Real zero = Real(0);
    const Real one = Real(1);
    const Real inf = fd_inf<Real>();
    const Real nan = fd_nan<Real>();
    const Real b = family_b<Real>(objective, depth);
    const Real q = family_q<Real>(objective, depth);
    const Real log_k = log_rate_typed<Real>(objective, depth, lam, rho);
    Real lp = log_psi_of_w<Real>(objective, depth, eps, rho);
    const int branch = branch_of_log_psi(lp);
    long long j = 0;
    const Real log_rtol = fd_log(rtol);
    Real t_stop;
    Real log_back;
    if (crossing) {
        if (lp >= lp_star) return {SUCCESS, 0, zero};  // includes every decaying feature
        t_stop = L::max;
        // Floored at 64 eps like the trajectory kernel: below it the collapse
        // test, whose upper bound on the time left can be loose by 1/(1 - psi_sw)
        // = q - 1, never fires while the blow-up of the plateau variable
        // squeezes the remaining steps below the resolution of t, and the
        // feature ends NON_FINITE.  float64 without the floor fails so for
        // rtol <= 1e-14 (439 of 3000 random JEPA features at 1e-14), float32
        // already at rtol 1e-5.  The floor changes nothing for rtol >= 1.4e-13.
        log_back = py_max(fd_log(cross_rel<Real>()) + log_rtol, fd_log(time_floor<Real>()));
    } else {
        while (j < n_out && t_out[j] <= zero) {
            row.set(j, eps);
            ++j;
        }
        if (j == n_out) return {SUCCESS, 0, nan};
        t_stop = t_out[n_out - 1];
        log_back = py_max(fd_log(back_rel<Real>()) + log_rtol, fd_log(time_floor<Real>()));
    }
    if (branch == AT_FIXED) {
        row.fill(j, n_out, eps);
        return {SUCCESS, 0, nan};
    }
    if (!fd_isfinite(lp) || !fd_isfinite(log_k)) {
        row.fill(j, n_out, nan);
        return {NON_FINITE, 0, nan};
    }

    const Real w_fp = w_of_log_psi<Real>(objective, depth, zero, rho);
    if (!crossing && !(w_fp >= L::min_normal && w_fp <= L::max)) {
        // trajectory: the fixed point rho^L (JEPA) / rho^(L/(L+1)) (MAE) is not a
        // normal number of the type (float32: JEPA depth 64 needs 0.25 < rho < 3.9),
        // so the weight cannot be represented on its way there.  Not reachable for
        // float64 on the documented domain (w* within 1e+-192).  The crossing
        // time does not need w and is computed regardless.
        row.fill(j, n_out, nan);
        return {NON_FINITE, 0, nan};
    }
    const Real lp_conv = branch == GROWTH ? -L::conv_lp * b : L::conv_lp * b;
    Real lp_sw;
    if (q > one && branch == GROWTH)
        lp_sw = fd_log1p(-py_min(Real(0.5), switch_grow<Real>() / (q - one)));
    else if (q > one)
        lp_sw = fd_log1p(switch_decay<Real>() / (q - one));
    else  // q == 1: sigma only
        lp_sw = branch == GROWTH ? -inf : inf;
    const Real log_q = fd_log(q);
    // the feature's constants of the per-step bounds and of the conversion to w
    const TimeBound<Real> bound =
        TimeBound<Real>::make(branch, crossing ? lp_star : lp_conv, q, log_k, lp_sw);
    const Sensitivity<Real> sens = Sensitivity<Real>::make(branch, q, log_k, b);
    const Real w_scale = fd_exp(fd_log(rho) / b);
    // margin of the collapse test's shortcut (below): a few ulps of exp and log, amply
    const Real log_margin = Real(16) * L::eps;

    Real t = zero;
    long long nsteps = 0;
    int phase = -1;
    Real h = zero, y0 = zero, k1 = zero, par = zero;
    Real tau = zero;      // DECAY: tau_n = t_n - t_a + 1/r_a (may overflow to inf)
    Real log_tau = zero;  // DECAY: log tau_n, always finite (decay_log_scale)
    // GROW/SIGMA: time unit of the phase (float32 with a tiny rate; phase_time_unit)
    // and log K as the phase's rates use it (log K + m log 2; -inf when frozen)
    TimeUnit<Real> tu{false, false, one, one, zero};
    Real log_k_ph = log_k;
    bool rejected = false;
    // the last accepted step of this phase (Gustafsson's predictive factor, below): its size
    // and en^(-1/5); pw_acc = 0 where there is none
    Real h_acc = zero, pw_acc = zero;
    // Values carried between iterations (each the same function of the same
    // argument as before, evaluated once): log t, log |k1| (valid while
    // have_log_k1), log R at lp, and log t_out[j] for j == j_logged.
    Real log_t = -inf;  // t == 0
    Real log_k1 = zero;
    bool have_log_k1 = false;
    Real sens_lp = crossing ? zero : sens(lp);
    Real log_tj = zero;
    long long j_logged = -1;
    for (;;) {
        // converged: w is its fixed point in this precision from here on
        if ((branch == GROWTH && lp >= lp_conv) || (branch == DECAY && lp <= lp_conv)) {
            row.fill(j, n_out, w_fp);
            return {SUCCESS, nsteps, crossing ? t : nan};
        }
        if (crossing) {
            const Real log_tx = bound.upper(lp);
            if (log_tx <= log_back + log_t)
                return {SUCCESS, nsteps, t + Real(0.5) * fd_exp(log_tx)};
            if (bound.lower_growth(lp) > fd_log(L::max - t))
                return {SUCCESS, nsteps, inf};
        } else {
            // The bound is log_tc = log_add(a, b) >= m = max(a, b), equal to m
            // where one term is -inf.  Where m > log_back + log t the first test
            // cannot pass, and the second (t + exp(log_tc) <= t_out[j]) cannot
            // where m > log t_out[j] (plus a margin far above the rounding of exp
            // and log) or where t + exp(m) (1 - 8 eps) > t_out[j] (exp(log_tc) is
            // at least that, up to the rounding of exp): then log_tc need not be
            // evaluated.  `certain`: neither test passes.
            const TimeParts<Real> tp = bound.parts(lp);
            const Real m = py_max(tp.plateau, tp.sigma);
            bool certain = false;
            if (m > log_back + log_t) {
                if (j_logged != j) {
                    log_tj = fd_log(t_out[j]);
                    j_logged = j;
                }
                certain = m > log_tj + log_margin * (one + fd_fabs(log_tj));
                if (!certain) {
                    const Real em = fd_exp(m);
                    if (tp.plateau == -inf || tp.sigma == -inf) {
                        // log_tc == m: this is the second test itself
                        if (t + em <= t_out[j]) {
                            row.fill(j, n_out, w_fp);
                            return {SUCCESS, nsteps, nan};
                        }
                        certain = true;
                    } else {
                        certain = t + em * (one - Real(8) * L::eps) > t_out[j];
                    }
                }
            }
            if (!certain) {
                const Real log_tc = log_add(tp.plateau, tp.sigma);
                if (log_tc <= log_back + log_t || t + fd_exp(log_tc) <= t_out[j]) {
                    row.fill(j, n_out, w_fp);
                    return {SUCCESS, nsteps, nan};
                }
            }
        }

        // phase of this step; a new phase starts its local variable
        int new_phase;
        if (branch == GROWTH)
            new_phase = lp < lp_sw ? PHASE_GROW : PHASE_SIGMA;
        else
            new_phase = lp > lp_sw ? PHASE_DECAY : PHASE_SIGMA;
        if (new_phase != phase) {
            phase = new_phase;
            rejected = false;
            pw_acc = zero;
            tu = TimeUnit<Real>{false, false, one, one, zero};
            log_k_ph = log_k;
            if (phase == PHASE_GROW) {
                const Real log_r = fd_log(q - one) + log_k + (q - one) * lp;
                if (L::rescale_time) tu = phase_time_unit(log_r, fd_log(t_stop - t));
                par = tu.frozen ? zero : fd_exp(tu.scaled ? log_r + tu.log_unit : log_r);
                y0 = zero;
            } else if (phase == PHASE_DECAY) {
                // virtual origin: tau = 1/r_a at the start, so c = 0
                log_tau = -(log_q + log_k + q * lp);
                tau = fd_exp(log_tau);
                par = zero;
                y0 = zero;
            } else {
                y0 = sigma_of_log_psi(lp);
                if (L::rescale_time) {
                    tu = phase_time_unit(log_k + (q - one) * lp, fd_log(t_stop - t));
                    if (tu.frozen)
                        log_k_ph = -inf;
                    else if (tu.scaled)
                        log_k_ph = log_k + tu.log_unit;
                }
            }
            // float32: |k1| >= 2^-97 or exactly 0 (frozen) from here on.  float64: its
            // rates are normal on the documented domain except K in the SIGMA phase of
            // decays with K < 2.2e-308, which starts after t ~ 1e305 (tested).
            k1 = phase_rhs(phase, zero, y0, lp, par, q, log_k_ph, branch);
            have_log_k1 = false;
            if (phase == PHASE_SIGMA)
                h = h0_fraction<Real>() /
                    (fd_fabs(k1) * py_max(one, (q - one) * fd_fabs(fd_expm1(lp))));
            else
                h = h0_fraction<Real>() / fd_fabs(k1);
        }

        if (nsteps >= max_steps) {
            row.fill(j, n_out, nan);
            return {MAX_STEPS, nsteps, nan};
        }
        // never step past the last output time (or the largest finite value)
        bool clamped = false;
        if (phase == PHASE_DECAY) {
            const Real s_stop = decay_s_offset(tau, log_tau, t_stop - t);
            if (!(h < s_stop)) {
                h = s_stop;
                clamped = true;
            }
        } else {
            // in the phase's time unit (exact: a power of two)
            const Real span = tu.scaled ? (t_stop - t) * tu.inv_unit : t_stop - t;
            if (!(h < span)) {
                h = span;
                clamped = true;
            }
        }
        const Step<Real> st = dp_step(phase, y0, h, k1, lp, par, q, log_k_ph, branch);
        ++nsteps;
        const Real lp1 = st.lp1;  // phase_log_psi(phase, st.y1, lp, q, branch) where valid
        bool valid = fd_isfinite(st.y1) && fd_isfinite(st.err) && fd_isfinite(st.k7) &&
                     fd_isfinite(lp1);
        if (valid) {
            if (phase == PHASE_SIGMA)
                valid = branch == GROWTH ? lp1 <= zero : lp1 >= zero;
            else
                valid = branch == GROWTH ? lp1 < zero : lp1 > zero;
        }
        Real tau_new, t_new;
        if (phase == PHASE_DECAY) {
            tau_new = tau * fd_exp(h);
            t_new = clamped ? t_stop : t + decay_time_offset(tau, log_tau, h);
        } else {
            tau_new = zero;
            t_new = clamped ? t_stop : t + (tu.scaled ? h * tu.unit : h);
        }
        if (!valid) {
            h *= reject_shrink<Real>();
            rejected = true;
            if (!(t_new > t) || h == zero) {
                row.fill(j, n_out, nan);
                return {NON_FINITE, nsteps, nan};
            }
            continue;
        }

        // error as a time shift: |err| / |dy/dt| <= tol_t
        Real en;
        Real log_k7 = zero, log_t_new = zero;
        const bool have_logs = st.err != zero;  // log |k7| and log t_new evaluated
        if (!have_logs) {
            en = zero;
        } else {
            const Real abs_k7 = fd_fabs(st.k7);
            log_k7 = fd_log(abs_k7);
            log_t_new = fd_log(t_new);
            Real log_g;
            if (phase != PHASE_DECAY && !have_log_k1 &&
                abs_k7 < fd_fabs(k1) * (one - Real(4096) * L::eps)) {
                // |k7| below |k1| by far more than the rounding of log: log |k1| >
                // log |k7|, and the minimum is log |k7| without evaluating log |k1|
                // (every GROW step: |dz/dt| = r (1 - psi) only falls)
                log_g = log_k7;
            } else {
                if (!have_log_k1) {
                    log_k1 = fd_log(fd_fabs(k1));
                    have_log_k1 = true;
                }
                log_g = py_min(log_k1, log_k7);
                if (phase == PHASE_DECAY)
                    log_g = py_min(log_k1 - decay_log_scale(tau, log_tau),
                                   log_k7 - decay_log_scale(tau_new, log_tau + h));
            }
            Real log_tol = log_back + log_t_new;
            if (!crossing) log_tol = py_max(log_tol, log_rtol - sens_lp);
            // a shift of dt in t is dt / 2^m in the phase's time unit
            if (tu.scaled) log_tol = log_tol - tu.log_unit;
            en = fd_exp(fd_log(fd_fabs(st.err)) - log_g - log_tol);
        }
        if (!(en <= one)) {
            h *= fd_isfinite(en) ? py_max(min_factor<Real>(), safety<Real>() * fd_pow(en, Real(-0.2)))
                                 : min_factor<Real>();
            rejected = true;
            if (!(t_new > t) || h == zero) {
                row.fill(j, n_out, nan);
                return {NO_CONVERGENCE, nsteps, nan};
            }
            continue;
        }

        // accepted: dense output at the requested times inside (t, t_new]
        // (the interpolant's coefficients only where a value inside the step is wanted)
        Dense<Real> dc;
        bool have_dc = false;
        if (!crossing) {
            while (j < n_out && t_out[j] <= t_new) {
                Real lpj;
                if (t_out[j] >= t_new) {
                    lpj = lp1;
                } else {
                    Real theta;
                    if (phase == PHASE_DECAY)
                        theta = decay_s_offset(tau, log_tau, t_out[j] - t) / h;
                    else if (tu.scaled)
                        theta = ((t_out[j] - t) * tu.inv_unit) / h;
                    else
                        theta = (t_out[j] - t) / h;
                    theta = py_min(py_max(theta, zero), one);
                    if (!have_dc) {
                        dc = dense_coefficients(k1, st.k2, st.k3, st.k4, st.k5, st.k6, st.k7);
                        have_dc = true;
                    }
                    lpj = phase_log_psi(phase, dense_eval(y0, h, dc, theta), lp, q, branch);
                    // the interpolant cannot leave the branch
                    lpj = branch == GROWTH ? py_min(lpj, zero) : py_max(lpj, zero);
                }
                row.set(j, w_of_log_psi_scaled<Real>(b, lpj, rho, w_scale));
                ++j;
            }
            if (j == n_out) return {SUCCESS, nsteps, nan};
        } else if (lp1 >= lp_star) {
            const Real target = phase_y_of_log_psi(phase, lp_star, lp, q);
            dc = dense_coefficients(k1, st.k2, st.k3, st.k4, st.k5, st.k6, st.k7);
            bool ok = true;
            const Real theta = solve_dense(y0, h, dc, target, &ok);
            return {ok ? SUCCESS : NO_CONVERGENCE, nsteps,
                    t + (tu.scaled ? (theta * h) * tu.unit : theta * h)};
        }
        if (t_new >= L::max) return {SUCCESS, nsteps, inf};

        // advance; restart the local variable of the plateau phases (FSAL)
        if (phase == PHASE_SIGMA) {
            y0 = st.y1;
            k1 = st.k7;
            log_k1 = log_k7;
            have_log_k1 = have_logs;
        } else if (phase == PHASE_GROW) {
            const Real z1 = one + st.y1;
            k1 = st.k7 / z1;
            par = par / z1;
            have_log_k1 = false;
        } else {
            par = par + (h - st.y1);
            k1 = st.k7;
            log_k1 = log_k7;
            have_log_k1 = have_logs;
            tau = tau_new;
            log_tau = log_tau + h;
        }
        t = t_new;
        log_t = t_new > zero ? (have_logs ? log_t_new : fd_log(t_new)) : -inf;
        lp = lp1;
        if (!crossing) sens_lp = sens(lp);
        // The I controller's factor, and where the phase has an earlier accepted step the smaller
        // of it and Gustafsson's predictive factor (Hairer & Wanner, Solving ODEs II, IV.8, as
        // RADAU5 combines them): safety en^(-1/5) (h/h_acc) (en_acc/en)^(1/5).  The ratio of the
        // last two errors sees the step limit shrink towards the end of a plateau, where the I
        // controller alone overshoots and every second step failed (MAE); taking the smaller
        // factor never steps further than the I controller would from the same state.
        const Real pw = en == zero ? zero : fd_pow(en, Real(-0.2));
        Real factor = en == zero ? max_factor<Real>() : py_min(max_factor<Real>(), safety<Real>() * pw);
        if (pw_acc > zero && pw > zero && pw < inf) {
            const Real gus = safety<Real>() * pw * (h / h_acc) * (pw / pw_acc);
            factor = py_min(factor, py_max(min_factor<Real>(), gus));
        }
        if (rejected) factor = py_min(one, factor);
        h_acc = h;
        pw_acc = (pw > zero && pw < inf) ? pw : zero;
        h *= factor;
        rejected = false;
    }
}

// ---------------------------------------------------------------------------
// (c) per-feature drivers of the kernels (one call per feature, no sharing)
// ---------------------------------------------------------------------------
template <typename Real>
FD_HD void trajectory_feature(long long i, long long nt, const Real* t, int objective,
                              const long long* depth, const Real* lam, const Real* rho,
                              const Real* eps, Real rtol, long long max_steps, Real* out,
                              long long stride_feature, long long stride_time,
                              signed char* status, long long* nsteps) {
    const Row<Real> row{out + i * stride_feature, stride_time};
    const FeatureResult<Real> r =
        integrate_feature<Real>(objective, (int)depth[i], lam[i], rho[i], eps[i], rtol, max_steps,
                                false, Real(0), t, nt, row);
    status[i] = r.status;
    nsteps[i] = r.nsteps;
}

template <typename Real>
FD_HD void crossing_feature(long long i, int objective, const long long* depth, const Real* lam,
                            const Real* rho, const Real* eps, const Real* p, Real rtol,
                            long long max_steps, Real* t_cross, signed char* status,
                            long long* nsteps) {
    const int d = (int)depth[i];
    const Real lp_star = family_b<Real>(objective, d) * fd_log(p[i]);
    const Row<Real> none{nullptr, 0};
    const FeatureResult<Real> r = integrate_feature<Real>(objective, d, lam[i], rho[i], eps[i], rtol,
                                                          max_steps, true, lp_star, nullptr, 0, none);
    status[i] = r.status;
    nsteps[i] = r.nsteps;
    t_cross[i] = r.t_cross;
}

}  // namespace ode
}  // namespace fastdyn
