// keops: support code shared by every generated kernel (emitted once at the top of a .cu).
// Compiles as CUDA (nvcc / NVRTC) and, with keops_host.h included first, as host C++20.
#ifndef KEOPS_PRELUDE
#define KEOPS_PRELUDE

#ifdef __CUDACC__
#define KEOPS_FN __device__ __forceinline__
#define KEOPS_DYN_SHARED(name) extern __shared__ __align__(16) unsigned char name[]
#endif

// Arguments of every generated kernel, passed by value. Pointers are device pointers (host
// pointers under host emulation); arrays are indexed in the formula's order of variables,
// parameters and dimension classes. Mirrored by keops-runtime's `KernelArgs` (#[repr(C)]).
#define KEOPS_MAX_VARS 16
#define KEOPS_MAX_PARAMS 16
#define KEOPS_MAX_CLASSES 16
struct KeopsArgs {
    const void* vars[KEOPS_MAX_VARS];     // (rows, dim) row-major, one per formula variable
    const void* params[KEOPS_MAX_PARAMS]; // dim entries each
    const void* v;                        // matvec operand (n_red, nv) row-major
    void* out;                            // (n_out, out_stride) row-major, written when gridDim.y == 1
    double* partial;                      // (gridDim.y, n_out, out_cols), when gridDim.y > 1
    long long n_out;                      // output rows (threads along x)
    long long n_red;                      // rows of the reduction index
    long long red_chunk;                  // reduction rows per blockIdx.y
    int dims[KEOPS_MAX_CLASSES];          // dimension of each run-time class, in GPU slot order
    int tile;                             // reduction rows per shared-memory tile
    int nv;                               // matvec: columns of v (= out_stride)
    int col0;                             // matvec: first column of v this launch computes
    int nvc;                              // matvec: columns this launch computes (<= its template)
};

template <typename T> KEOPS_FN T keops_sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }
template <typename T> KEOPS_FN T keops_step(T x) { return x < T(0) ? T(0) : T(1); }
template <typename T> KEOPS_FN T keops_relu(T x) { return x < T(0) ? T(0) : x; }
template <typename T> KEOPS_FN T keops_clamp(T x, T a, T b) { return x < a ? a : (x > b ? b : x); }
template <typename T> KEOPS_FN T keops_ifelse(T c, T a, T b) { return c >= T(0) ? a : b; }
template <typename T> KEOPS_FN T keops_rsqrt(T x) { return T(1) / sqrt(x); }
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

// ---- Conjugate gradient on the device: vectors stay in f64 device memory, one column at a time.
// Every kernel below runs with KEOPS_CG_BLOCK threads; reductions leave one f64 partial sum per
// block in `partial` (the host adds at most gridDim.x of them: a few scalars per iteration).
#define KEOPS_CG_BLOCK 256

// Sums `v` over the block into partial[blockIdx.x] (a tree in shared memory; every thread of the
// block calls it, so each __syncthreads is reached by all).
KEOPS_FN void keops_block_sum(double v, double* partial) {
    __shared__ double keops_red[KEOPS_CG_BLOCK];
    keops_red[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = KEOPS_CG_BLOCK / 2; s > 0; s >>= 1) {
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
