// keops: support code shared by every generated kernel (emitted once at the top of a .cu).
// Compiles as CUDA (nvcc / NVRTC) and, with keops_host.h included first, as host C++20.
#ifndef KEOPS_PRELUDE
#define KEOPS_PRELUDE

#ifdef __CUDACC__
#define KEOPS_FN __device__ __forceinline__
#define KEOPS_DYN_SHARED(name) extern __shared__ __align__(16) unsigned char name[]
#endif

// The contract with the runtime (KeopsArgs, KEOPS_MAX_*, KEOPS_*THREADS, KEOPS_COMBINE_*) comes
// first in every module, generated from keops-abi (keops_abi::gpu::cuda_header).
#ifndef KEOPS_MAX_VARS
#error "keops-abi's cuda_header() must precede the prelude"
#endif

template <typename T> KEOPS_FN T keops_sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }
template <typename T> KEOPS_FN T keops_step(T x) { return x < T(0) ? T(0) : T(1); }
template <typename T> KEOPS_FN T keops_relu(T x) { return x < T(0) ? T(0) : x; }
template <typename T> KEOPS_FN T keops_clamp(T x, T a, T b) { return x < a ? a : (x > b ? b : x); }
template <typename T> KEOPS_FN T keops_ifelse(T c, T a, T b) { return c >= T(0) ? a : b; }
// KeOps' definitions (keopscore math_functions.py): rsqrt(0) = 0, xlogx(0) = 0, sinxdivx(0) = 1.
template <typename T> KEOPS_FN T keops_rsqrt(T x) { return x == T(0) ? T(0) : T(1) / sqrt(x); }
template <typename T> KEOPS_FN T keops_xlogx(T x) { return x == T(0) ? T(0) : x * log(x); }
template <typename T> KEOPS_FN T keops_sinxdivx(T x) { return x == T(0) ? T(1) : sin(x) / x; }
// Rounding to d decimals, s = 10^d; round() takes halves away from zero.
template <typename T> KEOPS_FN T keops_round(T x, T s) { return round(x * s) / s; }
template <typename T> KEOPS_FN T keops_mod(T x, T m, T offset) { return x - m * floor((x - offset) / m); }
// KeOps' OneHot(x, d): the index trunc(x + 0.5) (the sum in T) when it is in 0..d, else -1 (also
// for NaN; KeOps would write out of bounds).
template <typename T> KEOPS_FN int keops_onehot_index(T x, int d) {
    const T v = x + T(0.5);
    return v > T(-1) && v < T(d) ? (int)v : -1;
}
template <typename T> KEOPS_FN T keops_powi(T x, int n) {
    // Square-and-multiply, as Rust's powi.
    unsigned int e = n < 0 ? -(unsigned int)n : (unsigned int)n;
    T r = T(1), b = x;
    while (e) {
        if (e & 1u) r *= b;
        b *= b;
        e >>= 1;
    }
    return n < 0 ? T(1) / r : r;
}
KEOPS_FN long long keops_min_ll(long long a, long long b) { return a < b ? a : b; }

// Adds the split-j partial sums: out[o * out_stride + col0 + c] = sum_y partial[y][o][c].
template <typename T>
KEOPS_FN void keops_combine(const double* partial, T* out, long long n_out, int cols, int nsplit,
                            int out_stride, int col0) {
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n_out * cols) return;
    const long long o = e / cols;
    const int c = (int)(e - o * cols);
    double s = 0.0;
    for (int y = 0; y < nsplit; ++y) s += partial[(long long)y * n_out * cols + e];
    out[o * out_stride + col0 + c] = (T)s;
}
extern "C" __global__ void keops_combine_f32(const double* partial, float* out, long long n_out,
                                             int cols, int nsplit, int out_stride, int col0) {
    keops_combine<float>(partial, out, n_out, cols, nsplit, out_stride, col0);
}
extern "C" __global__ void keops_combine_f64(const double* partial, double* out, long long n_out,
                                             int cols, int nsplit, int out_stride, int col0) {
    keops_combine<double>(partial, out, n_out, cols, nsplit, out_stride, col0);
}

// Combines the split-j states of the reductions other than the sum and writes their outputs (one
// thread per output row). `partial` is (nsplit, n_out, width) f64, block y's states for the rows
// of its part of the reduction range; parts are merged in order into part 0 (so ties keep the
// first index). `kind` (keops-abi's Combine): KEOPS_COMBINE_MIN / MAX, state [values d][indices
// d]; KMIN the k smallest, K times [values d][indices d] sorted by rank (the kernels' working
// buffers, always here); LOGSUMEXP, [m][s d]; SOFTMAX, [m][s0][s d].
// `out` (values, (n_out, K*d) with K = 1 outside KMIN, rank-major) and `out_idx` (indices,
// same shape) may be null when the reduction has no such output.
template <typename T>
KEOPS_FN void keops_combine_red(double* partial, T* out, long long* out_idx, long long n_out,
                                int kind, int d, int k, int nsplit) {
    const long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= n_out) return;
    const bool extremum = kind == KEOPS_COMBINE_MIN || kind == KEOPS_COMBINE_MAX;
    const int off = kind == KEOPS_COMBINE_SOFTMAX ? 2 : 1;
    const long long width = extremum ? 2 * d : (kind == KEOPS_COMBINE_KMIN ? 2LL * k * d : off + d);
    double* p0 = partial + o * width;
    for (int y = 1; y < nsplit; ++y) {
        const double* py = partial + ((long long)y * n_out + o) * width;
        if (extremum) {
            for (int e = 0; e < d; ++e) {
                if (kind == KEOPS_COMBINE_MIN ? py[e] < p0[e] : py[e] > p0[e]) {
                    p0[e] = py[e];
                    p0[d + e] = py[d + e];
                }
            }
        } else if (kind == KEOPS_COMBINE_KMIN) {
            const long long rank = 2LL * d; // stride between ranks
            for (int e = 0; e < d; ++e) {
                for (int q = 0; q < k; ++q) { // py's list is sorted: stop at the first that does not enter
                    const double v = py[q * rank + e];
                    if (!(v < p0[(k - 1) * rank + e])) break;
                    int r = k - 1;
                    while (r > 0 && v < p0[(r - 1) * rank + e]) {
                        p0[r * rank + e] = p0[(r - 1) * rank + e];
                        p0[r * rank + d + e] = p0[(r - 1) * rank + d + e];
                        --r;
                    }
                    p0[r * rank + e] = v;
                    p0[r * rank + d + e] = py[q * rank + d + e];
                }
            }
        } else {
            const double m1 = p0[0], m2 = py[0];
            if (m2 == -INFINITY) continue;
            if (m1 == -INFINITY) {
                for (long long c = 0; c < width; ++c) p0[c] = py[c];
                continue;
            }
            const double m = m1 > m2 ? m1 : m2;
            const double c1 = exp(m1 - m), c2 = exp(m2 - m);
            p0[0] = m;
            for (long long c = 1; c < width; ++c) p0[c] = p0[c] * c1 + py[c] * c2;
        }
    }
    if (extremum || kind == KEOPS_COMBINE_KMIN) {
        const int kk = kind == KEOPS_COMBINE_KMIN ? k : 1;
        for (int q = 0; q < kk; ++q)
            for (int e = 0; e < d; ++e) {
                const long long at = o * (long long)kk * d + (long long)q * d + e;
                if (out) out[at] = (T)p0[2LL * q * d + e];
                if (out_idx) out_idx[at] = (long long)p0[2LL * q * d + d + e];
            }
    } else {
        for (int e = 0; e < d; ++e)
            out[o * d + e] = (T)(kind == KEOPS_COMBINE_SOFTMAX ? p0[off + e] / p0[1] : p0[0] + log(p0[off + e]));
    }
}
extern "C" __global__ void keops_combine_red_f32(double* partial, float* out, long long* out_idx,
                                                 long long n_out, int kind, int d, int k, int nsplit) {
    keops_combine_red<float>(partial, out, out_idx, n_out, kind, d, k, nsplit);
}
extern "C" __global__ void keops_combine_red_f64(double* partial, double* out, long long* out_idx,
                                                 long long n_out, int kind, int d, int k, int nsplit) {
    keops_combine_red<double>(partial, out, out_idx, n_out, kind, d, k, nsplit);
}

// ---- Conjugate gradient on the device: vectors stay in f64 device memory, one column at a time.
// Every kernel below runs with KEOPS_CG_THREADS threads; reductions leave one f64 partial sum per
// block in `partial` (the host adds at most gridDim.x of them: a few scalars per iteration).

// Sums `v` over the block into partial[blockIdx.x] (a tree in shared memory; every thread of the
// block calls it, so each __syncthreads is reached by all).
KEOPS_FN void keops_block_sum(double v, double* partial) {
    __shared__ double keops_red[KEOPS_CG_THREADS];
    keops_red[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = KEOPS_CG_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) keops_red[threadIdx.x] += keops_red[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = keops_red[0];
    __syncthreads();
}

#define KEOPS_GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)

// pt = (T)p, and p = (double)pt: the product uses exactly the vector the iteration holds.
template <typename T> KEOPS_FN void keops_cg_round(double* p, T* pt, long long n) {
    KEOPS_GRID_STRIDE(i, n) {
        pt[i] = (T)p[i];
        p[i] = (double)pt[i];
    }
}
// ap = alpha p + (double)apt; partial <- p . ap (the curvature).
template <typename T>
KEOPS_FN void keops_cg_curv(const double* p, const T* apt, double alpha, double* ap, long long n,
                            double* partial) {
    double s = 0.0;
    KEOPS_GRID_STRIDE(i, n) {
        ap[i] = alpha * p[i] + (double)apt[i];
        s += p[i] * ap[i];
    }
    keops_block_sum(s, partial);
}
// r = b - alpha x - (double)axt; partial <- r . r (the true residual).
template <typename T>
KEOPS_FN void keops_cg_resid(const double* b, const double* x, const T* axt, double alpha, double* r,
                             long long n, double* partial) {
    double s = 0.0;
    KEOPS_GRID_STRIDE(i, n) {
        r[i] = b[i] - alpha * x[i] - (double)axt[i];
        s += r[i] * r[i];
    }
    keops_block_sum(s, partial);
}

extern "C" __global__ void keops_cg_round_f32(double* p, float* pt, long long n) { keops_cg_round<float>(p, pt, n); }
extern "C" __global__ void keops_cg_round_f64(double* p, double* pt, long long n) { keops_cg_round<double>(p, pt, n); }
extern "C" __global__ void keops_cg_curv_f32(const double* p, const float* apt, double alpha, double* ap, long long n, double* partial) {
    keops_cg_curv<float>(p, apt, alpha, ap, n, partial);
}
extern "C" __global__ void keops_cg_curv_f64(const double* p, const double* apt, double alpha, double* ap, long long n, double* partial) {
    keops_cg_curv<double>(p, apt, alpha, ap, n, partial);
}
extern "C" __global__ void keops_cg_resid_f32(const double* b, const double* x, const float* axt, double alpha, double* r, long long n, double* partial) {
    keops_cg_resid<float>(b, x, axt, alpha, r, n, partial);
}
extern "C" __global__ void keops_cg_resid_f64(const double* b, const double* x, const double* axt, double alpha, double* r, long long n, double* partial) {
    keops_cg_resid<double>(b, x, axt, alpha, r, n, partial);
}
// x += step p; r -= step ap; partial <- r . r.
extern "C" __global__ void keops_cg_step(double* x, double* r, const double* p, const double* ap, double step, long long n, double* partial) {
    double s = 0.0;
    KEOPS_GRID_STRIDE(i, n) {
        x[i] += step * p[i];
        r[i] -= step * ap[i];
        s += r[i] * r[i];
    }
    keops_block_sum(s, partial);
}
// p = r + beta p.
extern "C" __global__ void keops_cg_direction(double* p, const double* r, double beta, long long n) {
    KEOPS_GRID_STRIDE(i, n) { p[i] = r[i] + beta * p[i]; }
}

#endif
