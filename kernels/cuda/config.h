// Host/device portability layer (in the spirit of xsf's config.h).
//
// Every per-feature function in kernels/cuda/*.h is declared FD_HD: compiled by
// nvcc it is a __host__ __device__ inline function; compiled by a plain C++
// compiler (g++ -x c++, the test suite's host build) it is an ordinary inline
// function.  Kernel entry points are declared FD_GLOBAL and loop over features
// with FD_FOR_EACH: one CUDA thread per feature (grid-stride loop) on the GPU,
// a plain loop on the host.  The same headers therefore build the GPU module
// (cupy.RawModule), the CPU library (host_library.cpp, built by setup.py) and
// the host builds of the .cu entry points the tests compare with the CPU kernels.
#pragma once

#ifdef __CUDACC__
#define FD_HD __host__ __device__ __forceinline__
#define FD_GLOBAL extern "C" __global__
#define FD_FOR_EACH(i, n)                                                        \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)
#else
#include <cmath>
#include <cstdint>
#define FD_HD inline
#define FD_GLOBAL extern "C"
#define FD_FOR_EACH(i, n) for (long long i = 0; i < (n); ++i)
#endif

// NVRTC (cupy.RawModule) has no standard headers: math functions come from the
// CUDA built-ins there, from <cmath> on the host.  Use the unqualified C names
// (exp, log, log1p, expm1, fabs, sqrt, pow, fmin, fmax, isfinite via fd_isfinite).
namespace fastdyn {

FD_HD bool fd_isfinite(double x) { return x - x == 0.0; }
FD_HD bool fd_isfinite(float x) { return x - x == 0.0f; }
FD_HD bool fd_isnan(double x) { return x != x; }
FD_HD bool fd_isnan(float x) { return x != x; }

// Python's max/min on two floats (what the former Numba port compiled, kept so
// that results did not change when the C++ became the only source): the first
// argument unless the second compares greater/smaller.  With a NaN argument
// this differs from fmax/fmin.
template <typename Real> FD_HD Real py_max(Real a, Real b) { return b > a ? b : a; }
template <typename Real> FD_HD Real py_min(Real a, Real b) { return b < a ? b : a; }

// Per-feature status codes and objective codes: the values of kernels/_constants.py.
constexpr signed char SUCCESS = 0;
constexpr signed char MAX_STEPS = 1;
constexpr signed char NON_FINITE = 2;
constexpr signed char NO_CONVERGENCE = 3;
constexpr signed char OUT_OF_DOMAIN = 4;  // sweeps only (never set by a kernel)
constexpr signed char DIVERGED = 5;       // gradient descent: the state left the divergence bound
constexpr signed char OSCILLATED = 6;     // gradient descent: w reversed direction (values valid)

constexpr int JEPA = 0;
constexpr int MAE = 1;
constexpr int JEPA_EMA = 2;
constexpr int GROWTH = 1;
constexpr int DECAY = -1;
constexpr int AT_FIXED = 0;

}  // namespace fastdyn
