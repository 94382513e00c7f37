// Dormand-Prince 5(4) tableau with Shampine's continuous extension, as checked data.
//
// The C++ twin of kernels/_tableau.py (same coefficients, same names): seven
// stages in FSAL form (Dormand & Prince 1980; the seventh stage is evaluated at
// the fifth-order solution and is the first stage of the next step).
//
//   Ci      nodes c_i                       (i = 1..7)
//   Aij     stage coefficients              (strictly lower triangular)
//   Bi      fifth-order weights             (the propagated solution; B7 = 0)
//   BHi     embedded fourth-order weights   (b_hat)
//   Ei      error weights B - BH, written out exactly (not a difference of
//           rounded values): h * sum(E k) estimates the local error
//   Pij     dense output (Shampine 1986, the coefficients of scipy's RK45):
//           y(t + theta h) = y + h sum_i k_i sum_j Pij theta^j   (j = 1..4)
//
// Every entry is a quotient of integers that the compiler rounds correctly to
// the nearest double.  The table is checked when this header is compiled:
// static_asserts in C++17 constexpr double arithmetic (below) verify the
// consistency conditions within a few units in the last place, so a mistyped
// coefficient is a compile error in the GPU build and in the host build alike.
//
// The float32 integrator reads the same constants as Real(Aij): a conversion
// of a constant expression, done by the compiler, so the float path never
// computes in double.  A second set of static_asserts checks the table after
// rounding to float.
//
// Scalars (not arrays) on purpose: constexpr scalars are usable in device code
// without a __constant__ copy, and the compiler folds them into the stage sums.
#pragma once

namespace fastdyn {
namespace dp54 {

constexpr double C2 = 1.0 / 5.0;
constexpr double C3 = 3.0 / 10.0;
constexpr double C4 = 4.0 / 5.0;
constexpr double C5 = 8.0 / 9.0;
constexpr double C6 = 1.0;
constexpr double C7 = 1.0;

constexpr double A21 = 1.0 / 5.0;
constexpr double A31 = 3.0 / 40.0, A32 = 9.0 / 40.0;
constexpr double A41 = 44.0 / 45.0, A42 = -56.0 / 15.0, A43 = 32.0 / 9.0;
constexpr double A51 = 19372.0 / 6561.0, A52 = -25360.0 / 2187.0, A53 = 64448.0 / 6561.0,
                 A54 = -212.0 / 729.0;
constexpr double A61 = 9017.0 / 3168.0, A62 = -355.0 / 33.0, A63 = 46732.0 / 5247.0,
                 A64 = 49.0 / 176.0, A65 = -5103.0 / 18656.0;
// FSAL: row 7 of A is B
constexpr double A71 = 35.0 / 384.0, A72 = 0.0, A73 = 500.0 / 1113.0, A74 = 125.0 / 192.0,
                 A75 = -2187.0 / 6784.0, A76 = 11.0 / 84.0;

constexpr double B1 = 35.0 / 384.0, B2 = 0.0, B3 = 500.0 / 1113.0, B4 = 125.0 / 192.0,
                 B5 = -2187.0 / 6784.0, B6 = 11.0 / 84.0, B7 = 0.0;

constexpr double BH1 = 5179.0 / 57600.0, BH2 = 0.0, BH3 = 7571.0 / 16695.0,
                 BH4 = 393.0 / 640.0, BH5 = -92097.0 / 339200.0, BH6 = 187.0 / 2100.0,
                 BH7 = 1.0 / 40.0;

constexpr double E1 = 71.0 / 57600.0, E2 = 0.0, E3 = -71.0 / 16695.0, E4 = 71.0 / 1920.0,
                 E5 = -17253.0 / 339200.0, E6 = 22.0 / 525.0, E7 = -1.0 / 40.0;

constexpr double P11 = 1.0, P12 = -8048581381.0 / 2820520608.0,
                 P13 = 8663915743.0 / 2820520608.0, P14 = -12715105075.0 / 11282082432.0;
constexpr double P21 = 0.0, P22 = 0.0, P23 = 0.0, P24 = 0.0;
constexpr double P31 = 0.0, P32 = 131558114200.0 / 32700410799.0,
                 P33 = -68118460800.0 / 10900136933.0, P34 = 87487479700.0 / 32700410799.0;
constexpr double P41 = 0.0, P42 = -1754552775.0 / 470086768.0,
                 P43 = 14199869525.0 / 1410260304.0, P44 = -10690763975.0 / 1880347072.0;
constexpr double P51 = 0.0, P52 = 127303824393.0 / 49829197408.0,
                 P53 = -318862633887.0 / 49829197408.0, P54 = 701980252875.0 / 199316789632.0;
constexpr double P61 = 0.0, P62 = -282668133.0 / 205662961.0,
                 P63 = 2019193451.0 / 616988883.0, P64 = -1453857185.0 / 822651844.0;
constexpr double P71 = 0.0, P72 = 40617522.0 / 29380423.0, P73 = -110615467.0 / 29380423.0,
                 P74 = 69997945.0 / 29380423.0;

//: classical order of the propagated solution and of the error estimator
constexpr int ORDER = 5;
constexpr int ERROR_ORDER = 4;

// ---------------------------------------------------------------------------
// compile-time checks
// ---------------------------------------------------------------------------
namespace check {

template <typename Real>
constexpr Real cabs(Real x) { return x < Real(0) ? -x : x; }

// |x - y| <= ulps * u * max(1, |y|): sums of at most seven correctly rounded
// terms of size < 13 stay within a few ulps of 13.
template <typename Real>
constexpr bool close(Real x, Real y, Real u, Real ulps) {
    return cabs(x - y) <= ulps * u * (cabs(y) > Real(1) ? cabs(y) : Real(1));
}

template <typename Real>
constexpr Real sum7(double a, double b, double c, double d, double e, double f, double g) {
    return Real(a) + Real(b) + Real(c) + Real(d) + Real(e) + Real(f) + Real(g);
}

template <typename Real>
constexpr Real ipow(Real x, int k) {
    Real r = Real(1);
    for (int i = 0; i < k; ++i) r *= x;
    return r;
}

// sum_i w_i c_i^(k-1)
template <typename Real>
constexpr Real quad(int k, double w1, double w2, double w3, double w4, double w5, double w6,
                    double w7) {
    return Real(w1) * ipow(Real(0.0), k - 1) + Real(w2) * ipow(Real(C2), k - 1) +
           Real(w3) * ipow(Real(C3), k - 1) + Real(w4) * ipow(Real(C4), k - 1) +
           Real(w5) * ipow(Real(C5), k - 1) + Real(w6) * ipow(Real(C6), k - 1) +
           Real(w7) * ipow(Real(C7), k - 1);
}

// Every condition of kernels/_tableau.py::_check_tableau, in type Real with
// unit roundoff u.
template <typename Real>
constexpr bool row_sums(Real u) {
    constexpr Real t = Real(8);
    return close(Real(A21), Real(C2), u, t) &&
           close(Real(A31) + Real(A32), Real(C3), u, t) &&
           close(Real(A41) + Real(A42) + Real(A43), Real(C4), u, t) &&
           close(Real(A51) + Real(A52) + Real(A53) + Real(A54), Real(C5), u, t) &&
           close(Real(A61) + Real(A62) + Real(A63) + Real(A64) + Real(A65), Real(C6), u, t) &&
           close(sum7<Real>(A71, A72, A73, A74, A75, A76, 0.0), Real(C7), u, t);
}

template <typename Real>
constexpr bool weight_sums(Real u) {
    constexpr Real t = Real(8);
    return close(sum7<Real>(B1, B2, B3, B4, B5, B6, B7), Real(1), u, t) &&
           close(sum7<Real>(BH1, BH2, BH3, BH4, BH5, BH6, BH7), Real(1), u, t) &&
           close(sum7<Real>(E1, E2, E3, E4, E5, E6, E7), Real(0), u, t);
}

template <typename Real>
constexpr bool error_weights(Real u) {
    constexpr Real t = Real(4);
    return close(Real(E1), Real(B1) - Real(BH1), u, t) && close(Real(E2), Real(B2) - Real(BH2), u, t) &&
           close(Real(E3), Real(B3) - Real(BH3), u, t) && close(Real(E4), Real(B4) - Real(BH4), u, t) &&
           close(Real(E5), Real(B5) - Real(BH5), u, t) && close(Real(E6), Real(B6) - Real(BH6), u, t) &&
           close(Real(E7), Real(B7) - Real(BH7), u, t);
}

template <typename Real>
constexpr bool fsal() {
    return C7 == 1.0 && A71 == B1 && A72 == B2 && A73 == B3 && A74 == B4 && A75 == B5 &&
           A76 == B6 && B7 == 0.0;
}

// quadrature order conditions sum b c^(k-1) = 1/k: k <= 5 for B, k <= 4 for BH
template <typename Real>
constexpr bool order_conditions(Real u) {
    constexpr Real t = Real(32);
    for (int k = 1; k <= 5; ++k)
        if (!close(quad<Real>(k, B1, B2, B3, B4, B5, B6, B7), Real(1) / Real(k), u, t)) return false;
    for (int k = 1; k <= 4; ++k)
        if (!close(quad<Real>(k, BH1, BH2, BH3, BH4, BH5, BH6, BH7), Real(1) / Real(k), u, t))
            return false;
    return true;
}

// dense output: b_i(1) = B_i (row sums of P), and its own quadrature
// conditions sum_i P_ij c_i^(k-1) = [j == k] / k for k = 1..4
template <typename Real>
constexpr bool dense_output(Real u) {
    constexpr Real t = Real(64);
    if (!(close(Real(P11) + Real(P12) + Real(P13) + Real(P14), Real(B1), u, t) &&
          close(Real(P21) + Real(P22) + Real(P23) + Real(P24), Real(B2), u, t) &&
          close(Real(P31) + Real(P32) + Real(P33) + Real(P34), Real(B3), u, t) &&
          close(Real(P41) + Real(P42) + Real(P43) + Real(P44), Real(B4), u, t) &&
          close(Real(P51) + Real(P52) + Real(P53) + Real(P54), Real(B5), u, t) &&
          close(Real(P61) + Real(P62) + Real(P63) + Real(P64), Real(B6), u, t) &&
          close(Real(P71) + Real(P72) + Real(P73) + Real(P74), Real(B7), u, t)))
        return false;
    for (int k = 1; k <= 4; ++k) {
        const Real want1 = k == 1 ? Real(1) : Real(0);
        const Real want2 = k == 2 ? Real(1) / Real(2) : Real(0);
        const Real want3 = k == 3 ? Real(1) / Real(3) : Real(0);
        const Real want4 = k == 4 ? Real(1) / Real(4) : Real(0);
        if (!close(quad<Real>(k, P11, P21, P31, P41, P51, P61, P71), want1, u, t) ||
            !close(quad<Real>(k, P12, P22, P32, P42, P52, P62, P72), want2, u, t) ||
            !close(quad<Real>(k, P13, P23, P33, P43, P53, P63, P73), want3, u, t) ||
            !close(quad<Real>(k, P14, P24, P34, P44, P54, P64, P74), want4, u, t))
            return false;
    }
    return true;
}

constexpr double U64 = 1.1102230246251565e-16;  // 2^-53
constexpr float U32 = 5.9604645e-08f;           // 2^-24

}  // namespace check

static_assert(check::fsal<double>(), "DP5 tableau: last stage is not FSAL (row 7 of A != B)");
static_assert(check::row_sums<double>(check::U64), "DP5 tableau: a row of A does not sum to c");
static_assert(check::weight_sums<double>(check::U64),
              "DP5 tableau: sum(b) != 1, sum(b_hat) != 1 or sum(E) != 0");
static_assert(check::error_weights<double>(check::U64), "DP5 tableau: E != b - b_hat");
static_assert(check::order_conditions<double>(check::U64),
              "DP5 tableau: a quadrature order condition fails");
static_assert(check::dense_output<double>(check::U64),
              "DP5 tableau: the dense output is inconsistent");
// the same table after rounding every entry to float (the float32 integrator)
static_assert(check::row_sums<float>(check::U32), "DP5 tableau (float): row sums of A != c");
static_assert(check::weight_sums<float>(check::U32), "DP5 tableau (float): weights do not sum to 1");
static_assert(check::error_weights<float>(check::U32), "DP5 tableau (float): E != b - b_hat");
static_assert(check::order_conditions<float>(check::U32),
              "DP5 tableau (float): a quadrature order condition fails");
static_assert(check::dense_output<float>(check::U32),
              "DP5 tableau (float): the dense output is inconsistent");

}  // namespace dp54
}  // namespace fastdyn
