// Scalar layer: the one-parameter family that holds both per-feature ODEs.
//
// Both eq. 7 (JEPA) and eq. 8 (MAE) read dw/dt = lam (w^a - w^3/rho) with
// a = 3 - 1/L (JEPA) or a = 2 - 1/L (MAE).  With b = 3 - a,
//     psi = w^b / rho,   q = 2/b,   K = b lam rho^(q-1),
// every member is dpsi/dt = K psi^q (1 - psi), fixed point psi = 1.  The
// compiled code never stores psi itself: near the fixed point 1 - psi
// underflows relative to 1.  It carries lp = log(psi) and the state variable
// sigma = log(psi / |1 - psi|) (the logit of psi below the fixed point, the
// "co-logit" above it), in which both branches obey dsigma/dt = K psi^(q-1)
// (MATH.md, "One family ..."): sigma grows linearly once the weight has
// converged, so neither the closed form nor an explicit integrator sees the
// stiffness of the approach to the fixed point.
//
// Every function is templated on the real type.  The float instantiation never
// promotes to double: the math calls go through the overloads fd_log, fd_exp,
// ... below (logf, expf, ... for float) and literals through real_c<Real>().
#pragma once

#include "config.h"

namespace fastdyn {

// ---- precision-preserving math overloads ---------------------------------
// On the host the unqualified C names come from <cmath>; under NVRTC they are
// the CUDA built-ins.  The float versions call the *f functions explicitly so
// that no argument is converted to double.
FD_HD double fd_log(double x) { return log(x); }
FD_HD float fd_log(float x) { return logf(x); }
FD_HD double fd_exp(double x) { return exp(x); }
FD_HD float fd_exp(float x) { return expf(x); }
FD_HD double fd_log1p(double x) { return log1p(x); }
FD_HD float fd_log1p(float x) { return log1pf(x); }
FD_HD double fd_expm1(double x) { return expm1(x); }
FD_HD float fd_expm1(float x) { return expm1f(x); }
FD_HD double fd_fabs(double x) { return fabs(x); }
FD_HD float fd_fabs(float x) { return fabsf(x); }
FD_HD double fd_sqrt(double x) { return sqrt(x); }
FD_HD float fd_sqrt(float x) { return sqrtf(x); }
FD_HD double fd_pow(double x, double y) { return pow(x, y); }
FD_HD float fd_pow(float x, float y) { return powf(x, y); }

// +inf and quiet NaN of each type without <limits> (not available to NVRTC).
// NVRTC has no __builtin_huge_val: device code uses the IEEE bit patterns
// (__CUDA_ARCH__ is defined only in device compilation passes).
#ifdef __CUDA_ARCH__
#define FD_BITS_OR_BUILTIN(bits, builtin) bits
#else
#define FD_BITS_OR_BUILTIN(bits, builtin) builtin
#endif
template <typename Real> FD_HD Real fd_inf();
template <typename Real> FD_HD Real fd_nan();
template <> FD_HD double fd_inf<double>() {
    return FD_BITS_OR_BUILTIN(__longlong_as_double(0x7ff0000000000000LL), __builtin_huge_val());
}
template <> FD_HD float fd_inf<float>() {
    return FD_BITS_OR_BUILTIN(__int_as_float(0x7f800000), __builtin_huge_valf());
}
template <> FD_HD double fd_nan<double>() {
    return FD_BITS_OR_BUILTIN(__longlong_as_double(0x7ff8000000000000LL), __builtin_nan(""));
}
template <> FD_HD float fd_nan<float>() {
    return FD_BITS_OR_BUILTIN(__int_as_float(0x7fc00000), __builtin_nanf(""));
}
#undef FD_BITS_OR_BUILTIN

// log(2) rounded to the type (the Python constant _LOG2 = math.log(2.0)).
template <typename Real> FD_HD Real fd_log2_const();
template <> FD_HD double fd_log2_const<double>() { return 0.6931471805599453; }
template <> FD_HD float fd_log2_const<float>() { return 0.693147182f; }

// ---- family exponents ------------------------------------------------------

/// Exponent b = 3 - a: 1/L (JEPA) or (L + 1)/L (MAE).
template <typename Real>
FD_HD Real family_b(int objective, int depth) {
    if (objective == JEPA) return Real(1) / Real(depth);
    return (Real(depth) + Real(1)) / Real(depth);
}

/// Exponent q = 2/b: 2L (JEPA) or 2L/(L + 1) (MAE).
template <typename Real>
FD_HD Real family_q(int objective, int depth) {
    if (objective == JEPA) return Real(2) * Real(depth);
    return Real(2) * Real(depth) / (Real(depth) + Real(1));
}

/// log K with K = b lam rho^(q-1), formed in logarithms when rho^(q-1) would
/// over/underflow (JEPA depth 64: rho^127).
template <typename Real>
FD_HD Real log_rate(int objective, int depth, Real lam, Real rho) {
    const Real b = family_b<Real>(objective, depth);
    const Real q = family_q<Real>(objective, depth);
    const Real log_rho_pow = (q - Real(1)) * fd_log(rho);
    if (fd_fabs(log_rho_pow) < Real(600)) {
        // a few ulps; the sum of logarithms below carries (q-1)|log rho| ulps
        return fd_log(b * lam * fd_pow(rho, q - Real(1)));
    }
    return fd_log(b) + fd_log(lam) + log_rho_pow;
}

/// log(psi) = b log(w) - log(rho).
template <typename Real>
FD_HD Real log_psi_of_w(int objective, int depth, Real w, Real rho) {
    return family_b<Real>(objective, depth) * fd_log(w) - fd_log(rho);
}

/// Inverse of log_psi_of_w: w = w* psi^(1/b), formed as fixed_point * exp(lp/b)
/// so that the rounding of log w* is a factor shared with fixed_point().
template <typename Real>
FD_HD Real w_of_log_psi(int objective, int depth, Real lp, Real rho) {
    const Real b = family_b<Real>(objective, depth);
    return fd_exp(fd_log(rho) / b) * fd_exp(lp / b);
}

/// GROWTH below the fixed point, DECAY above it, AT_FIXED on it.
template <typename Real>
FD_HD int branch_of_log_psi(Real lp) {
    if (lp < Real(0)) return GROWTH;
    if (lp > Real(0)) return DECAY;
    return AT_FIXED;
}

/// sigma = log(psi / |1 - psi|) from lp = log(psi), without cancellation; +inf at lp == 0.
template <typename Real>
FD_HD Real sigma_of_log_psi(Real lp) {
    if (lp == Real(0)) return fd_inf<Real>();
    if (lp < Real(0)) {
        // growth: sigma = lp - log(1 - psi); |1 - psi| = |expm1(lp)| keeps full accuracy
        return lp - fd_log(-fd_expm1(lp));
    }
    // decay: sigma = -log(1 - 1/psi) -> 0 as psi -> inf, needed to full *relative*
    // accuracy (F ~ sigma^q/q there): never subtract lp - log(psi - 1)
    if (lp > fd_log2_const<Real>()) return -fd_log1p(-fd_exp(-lp));
    return -fd_log(-fd_expm1(-lp));
}

/// Inverse of sigma_of_log_psi on the given branch.
/// Growth: psi = 1/(1 + e^-sigma); decay (sigma > 0): psi = 1/(1 - e^-sigma).
template <typename Real>
FD_HD Real log_psi_of_sigma(Real sigma, int branch) {
    if (branch == GROWTH) {
        if (sigma >= Real(0)) return -fd_log1p(fd_exp(-sigma));
        // e^-sigma large: log(1 + e^-s) = -s + log1p(e^s)
        return sigma - fd_log1p(fd_exp(sigma));
    }
    if (branch == DECAY) {
        if (sigma > fd_log2_const<Real>()) return -fd_log1p(-fd_exp(-sigma));
        return -fd_log(-fd_expm1(-sigma));
    }
    return Real(0);
}

/// Right-hand side of eq. 7 (JEPA) / eq. 8 (MAE) at weight w:
/// lam w^a (1 - psi), with 1 - psi = -expm1(log psi) and the power in logarithms.
template <typename Real>
FD_HD Real rhs(int objective, int depth, Real w, Real lam, Real rho) {
    const Real b = family_b<Real>(objective, depth);
    const Real a = Real(3) - b;
    const Real lp = b * fd_log(w) - fd_log(rho);
    const Real one_minus_psi = -fd_expm1(lp);
    if (one_minus_psi == Real(0)) return Real(0);
    const Real mag = fd_exp(fd_log(lam) + a * fd_log(w) + fd_log(fd_fabs(one_minus_psi)));
    return one_minus_psi > Real(0) ? mag : -mag;
}

/// Corollary 3.3: rho^L (JEPA), rho^(L/(L+1)) (MAE).
template <typename Real>
FD_HD Real fixed_point(int objective, int depth, Real rho) {
    return fd_exp(fd_log(rho) / family_b<Real>(objective, depth));
}

}  // namespace fastdyn
