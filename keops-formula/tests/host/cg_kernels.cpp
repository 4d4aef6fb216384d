// Runs the prelude's conjugate-gradient kernels under host emulation and checks them against plain
// loops; with several blocks (grid-stride loops) and a size that is not a multiple of the block.
// Exit code 0: all good; 1: a mismatch (printed); 3: a timeout (a barrier not reached).
#include "keops_host.h"
#include "prelude.cuh"

#include <cstdio>
#include <vector>

static int failures = 0;
static void check(const char* what, double got, double want, double tol) {
    if (!(std::fabs(got - want) <= tol * (1.0 + std::fabs(want)))) {
        std::printf("%s: got %.17g, want %.17g\n", what, got, want);
        ++failures;
    }
}

template <class F> static void run(F f, unsigned blocks) {
    if (!keops_host::launch(f, dim3{blocks, 1, 1}, dim3{KEOPS_CG_THREADS, 1, 1}, 0, 20.0)) {
        std::printf("timeout: a __syncthreads was not reached by every thread\n");
        std::fflush(stdout);
        std::_Exit(3);
    }
}

int main() {
    const long long n = 1000; // 4 blocks of 256 would cover it; use 3 so grid-stride loops wrap
    const unsigned blocks = 3;
    std::vector<double> p(n), ap(n), x(n), r(n), b(n);
    std::vector<float> pt(n), apt(n);
    for (long long i = 0; i < n; ++i) {
        p[i] = 0.1 + 1e-9 * i + 1.0 / (i + 3.0);
        apt[i] = (float)(0.5 * i / n);
        x[i] = 0.01 * i;
        r[i] = 1.0 - 0.001 * i;
        b[i] = 2.0 * r[i];
    }
    std::vector<double> p0 = p, partial(blocks);
    run([&] { keops_cg_round_f32(p.data(), pt.data(), n); }, blocks);
    for (long long i = 0; i < n; ++i) {
        check("round pt", pt[i], (float)p0[i], 0.0);
        check("round p", p[i], (double)(float)p0[i], 0.0);
    }
    run([&] { keops_cg_curv_f32(p.data(), apt.data(), 2.0, ap.data(), n, partial.data()); }, blocks);
    double curv = 0.0, want = 0.0;
    for (double v : partial) curv += v;
    for (long long i = 0; i < n; ++i) {
        const double a = 2.0 * p[i] + (double)apt[i];
        check("curv ap", ap[i], a, 1e-15);
        want += p[i] * a;
    }
    check("curvature", curv, want, 1e-13);
    std::vector<double> x0 = x, r0 = r;
    run([&] { keops_cg_step(x.data(), r.data(), p.data(), ap.data(), 0.25, n, partial.data()); }, blocks);
    double rr = 0.0;
    want = 0.0;
    for (double v : partial) rr += v;
    for (long long i = 0; i < n; ++i) {
        check("step x", x[i], x0[i] + 0.25 * p[i], 1e-15);
        const double ri = r0[i] - 0.25 * ap[i];
        check("step r", r[i], ri, 1e-15);
        want += ri * ri;
    }
    check("r.r", rr, want, 1e-13);
    std::vector<double> pd = p;
    run([&] { keops_cg_direction(p.data(), r.data(), 0.5, n); }, blocks);
    for (long long i = 0; i < n; ++i) check("direction", p[i], r[i] + 0.5 * pd[i], 1e-15);
    std::vector<double> axt(n);
    for (long long i = 0; i < n; ++i) axt[i] = 0.3 * i;
    run([&] { keops_cg_resid_f64(b.data(), x.data(), axt.data(), 1.5, r.data(), n, partial.data()); }, blocks);
    rr = 0.0;
    want = 0.0;
    for (double v : partial) rr += v;
    for (long long i = 0; i < n; ++i) {
        const double ri = b[i] - 1.5 * x[i] - axt[i];
        check("resid r", r[i], ri, 1e-15);
        want += ri * ri;
    }
    check("resid r.r", rr, want, 1e-13);
    std::printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
