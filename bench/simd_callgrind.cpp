// Instruction counts of the exact solver, scalar (exact.h, one feature at a time)
// against the vector path (simd.h), on the benchmark workload: depth 5, eps 1e-3,
// lam log-uniform in [0.5, 2], rho uniform in [0.3, 1], 64 log-spaced times.
// bench/bench_simd.py builds this file with the CPU library's flags and runs it
// under valgrind --tool=callgrind, counting only the function `fd_bench_run` (callgrind's
// --toggle-collect): instructions per feature-time, repeatable where timings are not.
//
// usage: simd_callgrind OP OBJECTIVE N PATH   OP: trajectory | critical | advance,
//        OBJECTIVE: 0 JEPA, 1 MAE, PATH: scalar | vector
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "simd.h"

using namespace fastdyn;

struct Problem {
    int objective, depth = 5;
    long n;
    std::vector<double> t, lam, rho, eps, out, tab, dtab, p, levels, dt, w;
    std::vector<long long> dep;
    std::vector<signed char> st;
};

extern "C" __attribute__((noinline)) void fd_bench_run(const char* op, bool vec, Problem& P) {
    const long nt = (long)P.t.size();
    if (!strcmp(op, "trajectory")) {
        if (vec)
            simd::trajectory_features(nt, P.t.data(), P.objective, P.dep.data(), P.lam.data(), P.rho.data(),
                                      P.eps.data(), 0, P.n, P.out.data(), nt, 1, P.st.data(), P.tab.data(),
                                      P.dtab.data());
        else
            for (long i = 0; i < P.n; ++i)
                P.st[i] = trajectory_row(nt, P.t.data(), P.objective, P.depth, P.lam[i], P.rho[i], P.eps[i],
                                         P.out.data() + i * nt, 1, P.tab.data(), P.dtab.data());
    } else if (!strcmp(op, "critical")) {
        if (vec)
            simd::critical_features(P.objective, P.dep.data(), P.lam.data(), P.rho.data(), P.eps.data(),
                                    P.p.data(), P.levels.data(), 0, P.n, P.out.data());
        else
            for (long i = 0; i < P.n; ++i)
                P.out[i] = critical_time(P.objective, P.depth, P.lam[i], P.rho[i], P.eps[i], P.p[i],
                                         P.levels[P.depth]);
    } else {
        if (vec)
            simd::advance_features(P.objective, P.dep.data(), P.lam.data(), P.rho.data(), P.w.data(),
                                   P.dt.data(), 0, P.n, P.out.data(), P.st.data(), P.tab.data(), P.dtab.data());
        else
            for (long i = 0; i < P.n; ++i)
                P.out[i] = advance(P.objective, P.depth, P.lam[i], P.rho[i], P.w[i], P.dt[i], P.st[i],
                                   P.tab.data(), P.dtab.data());
    }
}

int main(int argc, char** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s trajectory|critical|advance OBJECTIVE N scalar|vector\n", argv[0]);
        return 2;
    }
    Problem P;
    P.objective = atoi(argv[2]);
    P.n = atol(argv[3]);
    const bool vec = !strcmp(argv[4], "vector");
    const int nt = 64;
    P.tab.assign(2 * 2 * MAX_DEPTH * N_KNOTS, 0.0);
    P.dtab.assign(P.tab.size(), 0.0);
    const int row = P.objective * MAX_DEPTH + P.depth - 1;
    build_inverse_row(P.objective, P.depth, &P.tab[row * N_KNOTS], &P.dtab[row * N_KNOTS],
                      &P.tab[(2 * MAX_DEPTH + row) * N_KNOTS], &P.dtab[(2 * MAX_DEPTH + row) * N_KNOTS]);
    // the workload's times: up to 3x the leading-order critical time of lam = 0.5, rho = 0.3
    const double t_max = 3.0 * critical_time_asymptotic(P.objective, P.depth, 0.5, 0.3, 1e-3);
    for (int j = 0; j < nt; ++j) P.t.push_back(1e-2 * pow(t_max / 1e-2, j / double(nt - 1)));
    std::mt19937_64 g(0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (long i = 0; i < P.n; ++i) {
        P.lam.push_back(0.5 * pow(4.0, u(g)));
        P.rho.push_back(0.3 + 0.7 * u(g));
        // the flow map starts each feature somewhere on its trajectory
        P.dt.push_back(pow(10.0, 4.0 * u(g) - 2.0));
        // each at its own weight near eps, as in a user's time loop (no two alike)
        P.w.push_back(1e-3 * (1.0 + 1e-3 * u(g)));
    }
    P.eps.assign(P.n, 1e-3);
    P.p.assign(P.n, 0.5);
    P.dep.assign(P.n, P.depth);
    P.st.assign(P.n, 0);
    P.out.assign(P.n * nt, 0.0);
    P.levels.assign(MAX_DEPTH + 1, fd_nan<double>());
    P.levels[P.depth] = critical_level(P.objective, P.depth, 0.5);
    fd_bench_run(argv[1], vec, P);
    double s = 0.0;
    for (double v : P.out) s += v;
    printf("%.17g\n", s);
    return 0;
}
