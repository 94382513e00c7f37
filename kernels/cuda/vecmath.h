// Branch-free exp, expm1, log, log1p, atan and atan2 in double precision, for loops the host
// compiler vectorizes across features (simd.h).  Host only: the GPU build keeps
// CUDA's libdevice functions (one thread per feature needs no vector math).
//
// Each function is straight-line IEEE arithmetic, integer bit operations on the
// representation and selects, so that `#pragma omp simd` loops over lanes turn
// into SSE2/AVX2/AVX-512 code with no calls (the CPU library is built with
// -fopenmp-simd and one clone per instruction set, simd.h).  No contraction and
// no reassociation (-ffp-contract=off, no fast-math); the Horner steps are
// explicit fused multiply-adds (FD_VM_FMA, correctly rounded everywhere): every
// rounding is the same in a vector lane as in a scalar call, on every
// instruction set, so a feature's result does not depend on the lane it ran in
// nor on the machine.  Accuracy (tests/test_simd.py, against mpmath at 200
// bits on 4000 arguments per function and range, 200,000 in the slow run, and
// the special values): at
// most 1 ulp for exp, expm1, log, log1p and atan over their whole domain,
// subnormals included, and 1.5 ulp for atan2 (the rounding of y/x adds up to
// half an ulp); +-inf, NaN, 0 and negative arguments give the C library's values.
//
// The polynomials are truncated Taylor series (coefficients 1/k! and
// 2/(2j+1), exact or correctly rounded from their definition) on reduced
// arguments small enough that the truncation error is below 0.06 ulp:
//   exp:  x = n ln2 + r, |r| <= ln2/2, Cody-Waite reduction with ln2 split into
//         a 21-bit head (n ln2_hi exact for |n| < 2^32) and its remainder;
//         e^r = 1 + (r + r^2 Q(r)), Q to degree 11 (r^14/14! < 5e-18);
//   log:  x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), s = f/(2+f),
//         log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), R(z) = sum_j 2 z^j/(2j+1)
//         to j = 10 (z <= 0.0295: remainder < 4e-18 relative);
//   expm1: e^r - 1 = r + r^2 Q(r) on the same reduction, recombined with
//         2^n - 1 by an exact two-term sum (below);
//   log1p: the log of u = 1 + y with the rounding of u corrected to first
//         order, c = (y - (u - 1))/u, added to the low-order terms;
//   atan: |x| = tan(c + u') with c in {0, atan(1/2), pi/4, atan(3/2), pi/2} by
//         the interval of |x| (breakpoints 7/16, 11/16, 19/16, 39/16), so that
//         the reduced u = tan(u') = (|x| - tan c)/(1 + |x| tan c) (-1/|x| for
//         c = pi/2) has |u| <= 7/16; atan(u) = u + u z S(z), z = u^2, S to
//         degree 21 (z^23/47 < 1e-18 relative), c carried as head + tail;
//   atan2: atan of the smaller of |y|/|x|, |x|/|y| (in [0, 1]), placed in its
//         octant as pi/2 -+ r or pi - r with pi/2, pi as head + tail.
#pragma once

#include <cstdint>

// always inlined: a call inside a vector loop would keep the loop scalar
#define FD_VM inline __attribute__((always_inline))
// the polynomial loops unrolled whatever the size of the caller's loop body: a loop
// left inside a lane loop keeps that loop scalar (GCC stops unrolling completely once
// the body is large)
#if defined(__GNUC__)
#define FD_VM_UNROLL _Pragma("GCC unroll 32")
#else
#define FD_VM_UNROLL
#endif
// the polynomials' Horner steps fused: a * b + c with one rounding.  Explicit, so the same
// on every instruction set: one instruction where the clone has FMA (x86-64-v3 and v4),
// the C library's correctly rounded fma in the baseline clone (slow, the same bits)
#define FD_VM_FMA(a, b, c) __builtin_fma((a), (b), (c))

namespace fastdyn {
namespace vm {

FD_VM double as_double(std::uint64_t b) {
    double d;
    __builtin_memcpy(&d, &b, sizeof d);
    return d;
}
FD_VM std::uint64_t as_bits(double d) {
    std::uint64_t b;
    __builtin_memcpy(&b, &d, sizeof b);
    return b;
}

constexpr double INV_LN2 = 1.4426950408889634;         // 1/ln 2 rounded
constexpr double LN2_HI = 0x1.62e42p-1;                 // ln 2 to 21 bits: n LN2_HI is exact
constexpr double LN2_LO = 0x1.fdf473de6af28p-22;        // ln 2 - LN2_HI, rounded
constexpr double ROUND_MAGIC = 0x1.8p52;                // x + 1.5 2^52 - 1.5 2^52 rounds x to an integer
constexpr std::uint64_t MAGIC_BITS = 0x4338000000000000ULL;  // the bits of ROUND_MAGIC
constexpr double EXP_MAX = 709.782712893383973096;      // log(DBL_MAX): above, +inf
constexpr double EXP_MIN = -745.1332191019412;          // below (half the least subnormal): 0
constexpr double SQRT_HALF = 0x1.6a09e667f3bcdp-1;      // sqrt(1/2) rounded
constexpr double TWO54 = 0x1p54;
#define FD_VM_LN2 0.6931471805599453

// 1/k!, k = 2..13, correctly rounded (static_asserts check them to within an ulp)
constexpr double INV_FACT[12] = {1.0 / 2.0,
                                 1.0 / 6.0,
                                 1.0 / 24.0,
                                 1.0 / 120.0,
                                 1.0 / 720.0,
                                 1.0 / 5040.0,
                                 1.0 / 40320.0,
                                 1.0 / 362880.0,
                                 1.0 / 3628800.0,
                                 1.0 / 39916800.0,
                                 1.0 / 479001600.0,
                                 1.0 / 6227020800.0};
// pi/2 as head + tail (the tail is pi/2 - head rounded, from mpmath at 300 bits);
// pi/4 and pi are exact multiples
constexpr double PIO2_HI = 0x1.921fb54442d18p+0, PIO2_LO = 0x1.1a62633145c07p-54;
constexpr double PI_HI = 2.0 * PIO2_HI, PI_LO = 2.0 * PIO2_LO;
// atan's reduction: the five centres c, head and tail (atan(1/2), atan(3/2) from
// mpmath likewise; atan_centres_ok checks the heads at compile time)
constexpr double ATAN_C_HI[5] = {0.0, 0x1.dac670561bb4fp-2, 0.5 * PIO2_HI, 0x1.f730bd281f69bp-1, PIO2_HI};
constexpr double ATAN_C_LO[5] = {0.0, 0x1.a2b7f222f65e2p-56, 0.5 * PIO2_LO, 0x1.007887af0cbbdp-56, PIO2_LO};
constexpr int ATAN_TERMS = 22;  // S(z) = sum_{k=1}^{22} (-1)^k z^(k-1)/(2k+1)
struct AtanSeries {                // its coefficients (-1)^k/(2k+1), correctly rounded
    double c[ATAN_TERMS];
    constexpr AtanSeries() : c() {
        for (int k = 1; k <= ATAN_TERMS; ++k) c[k - 1] = (k % 2 == 0 ? 1.0 : -1.0) / double(2 * k + 1);
    }
};
constexpr AtanSeries ATAN_S{};

// 2/(2j+1), j = 1..10
constexpr double ATANH_C[10] = {2.0 / 3.0,  2.0 / 5.0,  2.0 / 7.0,  2.0 / 9.0,  2.0 / 11.0,
                                2.0 / 13.0, 2.0 / 15.0, 2.0 / 17.0, 2.0 / 19.0, 2.0 / 21.0};

constexpr bool tables_ok() {
    double f = 1.0;
    for (int k = 2; k <= 13; ++k) {
        f *= k;  // exact: 13! < 2^53
        const double d = INV_FACT[k - 2] * f - 1.0;
        if (d > 2.3e-16 || d < -2.3e-16) return false;
    }
    for (int j = 1; j <= 10; ++j) {
        const double d = ATANH_C[j - 1] * (2.0 * j + 1.0) - 2.0;
        if (d > 4.5e-16 || d < -4.5e-16) return false;
    }
    return LN2_HI + LN2_LO == 0.6931471805599453;
}
static_assert(tables_ok(), "Taylor coefficients and the split of ln 2");

/// atan(x) for 0 <= x < 1 by its alternating series in double (compile time only:
/// rounding errors of a few ulps: near() allows 2e-15, enough to catch a wrong entry).
constexpr double atan_series(double x) {
    double term = x, total = 0.0;
    for (int k = 0; k < 400; ++k) {
        total += (k % 2 == 0 ? term : -term) / double(2 * k + 1);
        term *= x * x;
    }
    return total;
}
constexpr bool near(double a, double b) { return (a - b < 0 ? b - a : a - b) <= 2e-15 * (b < 0 ? -b : b); }
constexpr bool atan_centres_ok() {
    // pi/4 = 4 atan(1/5) - atan(1/239) (Machin); atan(3/2) = pi/2 - atan(2/3)
    const double pio4 = 4.0 * atan_series(0.2) - atan_series(1.0 / 239.0);
    return near(ATAN_C_HI[1], atan_series(0.5)) && near(ATAN_C_HI[2], pio4) &&
           near(ATAN_C_HI[3], 2.0 * pio4 - atan_series(2.0 / 3.0));
}
static_assert(atan_centres_ok(), "atan's centres and the split of pi");
static_assert(ROUND_MAGIC == 6755399441055744.0, "1.5 * 2^52");
static_assert(EXP_MIN < -745.0 && EXP_MAX > 709.78, "exp range");

/// 2^n for an integer-valued n in [-1022, 1023], from n + ROUND_MAGIC (exact).
FD_VM double pow2_of_rounded(double n_plus_magic) {
    return as_double((as_bits(n_plus_magic) - MAGIC_BITS + 1023ULL) << 52);
}

/// e^x, at most 1 ulp; +inf above EXP_MAX, 0 below EXP_MIN, NaN for NaN.
FD_VM double exp(double x) {
    const double xc = x > 710.0 ? 710.0 : (x < -746.0 ? -746.0 : x);  // NaN: kept below
    const double t = xc * INV_LN2 + ROUND_MAGIC;
    double n = t - ROUND_MAGIC;  // round(x / ln 2)
    const double r = (xc - n * LN2_HI) - n * LN2_LO;
    double q = INV_FACT[11];
    FD_VM_UNROLL
    for (int k = 10; k >= 0; --k) q = FD_VM_FMA(q, r, INV_FACT[k]);
    const double p = 1.0 + (r + (r * r) * q);
    // 2^n is a normal double for n in [-1022, 1023]; beyond (subnormal results,
    // or n = 1024 just below EXP_MAX) scale by 2^(n -+ 1000) exactly first, then
    // by 2^(+-1000) with the single rounding (into the subnormals, or to +inf)
    const bool tiny = n < -1020.0;
    const bool huge = n > 1020.0;
    n = tiny ? n + 1000.0 : (huge ? n - 1000.0 : n);
    const double scale = tiny ? 0x1p-1000 : (huge ? 0x1p1000 : 1.0);
    const double res = p * pow2_of_rounded(n + ROUND_MAGIC) * scale;
    const double big = x > EXP_MAX ? __builtin_huge_val() : res;
    const double out = x < EXP_MIN ? 0.0 : big;
    return x != x ? x : out;
}

/// log(x) + c for x > 0 normal or subnormal, with a small additive correction
/// c (|c| below an ulp of the result) folded into the low-order terms;
/// specials (x <= 0, inf, NaN) as the C library.
FD_VM double log_corrected(double x, double c) {
    const bool sub = x < 0x1p-1022;
    const double xs = sub ? x * TWO54 : x;
    const std::uint64_t b = as_bits(xs);
    // biased exponent as a double: (e | 2^52 bits) - 2^52
    const double e = as_double((b >> 52) | 0x4330000000000000ULL) - 0x1p52;
    double m = as_double((b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);  // [1, 2)
    double k = e - (sub ? 1023.0 + 54.0 : 1023.0);
    const bool high = m > 2.0 * SQRT_HALF;
    m = high ? 0.5 * m : m;
    k = high ? k + 1.0 : k;
    const double f = m - 1.0;  // exact (Sterbenz)
    const double s = f / (2.0 + f);
    const double z = s * s;
    double rz = ATANH_C[9];
    FD_VM_UNROLL
    for (int j = 8; j >= 0; --j) rz = FD_VM_FMA(rz, z, ATANH_C[j]);
    rz = rz * z;
    const double hfsq = 0.5 * f * f;
    const double lo = k * LN2_LO + c + s * (hfsq + rz);
    const double res = k * LN2_HI + ((lo - hfsq) + f);
    const double pos = x == __builtin_huge_val() ? x : res;
    const double nonneg = x == 0.0 ? -__builtin_huge_val() : pos;
    const double out = x < 0.0 ? __builtin_nan("") : nonneg;
    return x != x ? x : out;
}

/// log(x), at most 1 ulp.
FD_VM double log(double x) { return log_corrected(x, 0.0); }

/// e^x - 1, at most 1 ulp.  x = n ln2 + r (n = 0 for |x| <= ln2/2, where r = x is
/// exact), e^x - 1 = 2^n (r + r^2 Q(r)) + (2^n - 1), summed so that the only
/// large rounding is the last one.
FD_VM double expm1(double x) {
    const double xc = x < -50.0 ? -50.0 : (x > 709.0 ? 0.0 : x);  // beyond: -1, resp. exp(x)
    const double t = xc * INV_LN2 + ROUND_MAGIC;
    const double n0 = t - ROUND_MAGIC;
    const double n = (xc < 0.0 ? -xc : xc) <= 0.5 * FD_VM_LN2 ? 0.0 : n0;
    // r = r_hi - c rounds; its error r_lo is exact.  Unlike exp, the result can be
    // smaller than 2^n e^r (n = 1: 1.5 against 0.45), so r_lo is kept: 2^n e^r r_lo
    const double r_hi = xc - n * LN2_HI;  // exact (Cody-Waite)
    const double c = n * LN2_LO;
    const double r = r_hi - c;
    const double r_lo = (r_hi - r) - c;
    double q = INV_FACT[11];
    FD_VM_UNROLL
    for (int k = 10; k >= 0; --k) q = FD_VM_FMA(q, r, INV_FACT[k]);
    // 2^n (r + r^2 Q) + (2^n - 1) = (a_hi + a_lo) + 2^n r^2 Q, where a_hi + a_lo =
    // (2^n - 1) + 2^n r exactly (Fast2Sum: |2^n - 1| >= |2^n r| for n != 0; n = 0
    // adds to zero): the only large rounding is the last one
    const double p2 = pow2_of_rounded(n + ROUND_MAGIC);
    // 2^n - 1 is exact for n <= 53; beyond, the -1 joins the low-order terms
    const double one_lo = n > 53.0 ? 1.0 : 0.0;
    const double big_part = p2 - (1.0 - one_lo);
    const double small_part = p2 * r;  // exact
    const double a_hi = big_part + small_part;
    const double a_lo = small_part - (a_hi - big_part);
    const double res = a_hi + ((a_lo - one_lo) + p2 * ((r * r) * q + r_lo * (1.0 + r)));
    const double big = x > 709.0 ? exp(x) : res;
    const double tiny = (x < 0.0 ? -x : x) < 0x1p-54 ? x : big;  // -0.0 and e^x - 1 = x to rounding
    return x != x ? x : tiny;
}

/// log(1 + y), at most 1 ulp; -inf at y = -1, NaN below.
FD_VM double log1p(double y) {
    const double u = 1.0 + y;
    // u rounds 1 + y; its rounding error e = (1 + y) - u is exact by Fast2Sum
    // (the larger magnitude first), and log(1 + y) = log(u) + e/u to first order
    // (|e/u| <= 2^-53: the second-order term is below 2^-107)
    const double e = (y > 1.0 || y < -1.0) ? 1.0 - (u - y) : y - (u - 1.0);
    const double inf = __builtin_huge_val();
    const double c = (u > 0.0 && u < inf) ? e / u : 0.0;
    // |y| < 2^-53: log1p(y) = y (1 - y/2 + ...) rounds to y
    const double res = u == 1.0 ? y : log_corrected(u, c);
    return y != y ? y : res;
}

FD_VM double copysign_of(double mag, double sgn) {  // |mag| with the sign bit of sgn
    return as_double((as_bits(mag) & 0x7fffffffffffffffULL) | (as_bits(sgn) & 0x8000000000000000ULL));
}

/// atan(x), at most 1 ulp; +-pi/2 at +-inf, NaN for NaN, -0 for -0.
FD_VM double atan(double x) {
    const double ax = x < 0.0 ? -x : x;
    // the interval of |x| (NaN: the last; the result is replaced below), as selects on
    // doubles (an integer index into the tables would keep the loops scalar)
    const bool i0 = ax < 0.4375, i1 = ax < 0.6875, i2 = ax < 1.1875, i3 = ax < 2.4375;
#define FD_VM_PICK(a, b, c, d, e) (i0 ? (a) : (i1 ? (b) : (i2 ? (c) : (i3 ? (d) : (e)))))
    const double num = FD_VM_PICK(ax, 2.0 * ax - 1.0, ax - 1.0, ax - 1.5, -1.0);  // exact (Sterbenz)
    const double den = FD_VM_PICK(1.0, 2.0 + ax, ax + 1.0, 1.0 + 1.5 * ax, ax);
    const double c_hi = FD_VM_PICK(ATAN_C_HI[0], ATAN_C_HI[1], ATAN_C_HI[2], ATAN_C_HI[3], ATAN_C_HI[4]);
    const double c_lo = FD_VM_PICK(ATAN_C_LO[0], ATAN_C_LO[1], ATAN_C_LO[2], ATAN_C_LO[3], ATAN_C_LO[4]);
#undef FD_VM_PICK
    const double u = num / den;
    const double z = u * u;
    double sz = ATAN_S.c[ATAN_TERMS - 1];
    FD_VM_UNROLL
    for (int k = ATAN_TERMS - 2; k >= 0; --k) sz = FD_VM_FMA(sz, z, ATAN_S.c[k]);
    const double res = c_hi + (c_lo + (u + u * (z * sz)));
    return x != x ? x : copysign_of(res, x);
}

/// atan2(y, x), at most 1.5 ulp; the C library's values at zeros, infinities and NaN.
FD_VM double atan2(double y, double x) {
    const double ax = x < 0.0 ? -x : x, ay = y < 0.0 ? -y : y;
    const bool swap = ay > ax;  // r = atan(|x|/|y|), the angle from the y axis
    const double inf = __builtin_huge_val();
    double t = swap ? ax / ay : ay / ax;
    t = (ax == ay && (ax == 0.0 || ax == inf)) ? (ax == 0.0 ? 0.0 : 1.0) : t;  // 0/0, inf/inf
    const double r = atan(t);  // in [0, pi/4]
    const bool neg = (as_bits(x) >> 63) != 0;  // x < 0 or x = -0
    // swap: pi/2 -+ r;  else r, or pi - r for x < 0
    const double c_hi = swap ? PIO2_HI : (neg ? PI_HI : 0.0);
    const double c_lo = swap ? PIO2_LO : (neg ? PI_LO : 0.0);
    const double sr = (swap ? !neg : neg) ? -r : r;
    const double res = c_hi + (sr + c_lo);
    return (x != x || y != y) ? x + y : copysign_of(res, y);
}

}  // namespace vm
}  // namespace fastdyn
