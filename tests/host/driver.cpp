// keops tests: runs the generated CUDA kernels as host C++ (keops_host.h), one request per process.
//
// Built by tests/common/gpu_host/, once per content hash, in a cache directory holding copies of
// this file, test_kernels.h, keops_host.h and the module (OUT_DIR/keops.cu, or the formulas the
// tests register) as module.cu:
//   g++ -std=c++20 -DKEOPS_HOST -O0 -pthread -DKEOPS_MODULE='"module.cu"' driver.cpp -o driver
// Usage: driver REQUEST RESPONSE. The request (little-endian, written by gpu_host.rs) holds the
// data buffers once and a list of jobs; a job is one output buffer and the launches that fill it,
// each with its kernel's name, grid, shared memory and `KeopsArgs` as keops-runtime's `KernelArgs`
// bytes, whose pointer fields hold buffer handles (see `resolve`). A launch with grid_y > 1 gets an
// f64 partial buffer, then the combining kernel `keops_combine_<T>` runs as a GPU launch would;
// the reductions other than the sum get the partial buffer the request sizes (the k-min family
// always) and `keops_combine_red_<T>`, which writes their values and int64 indices. A block-sparse
// launch's table (KeopsBlock entries and int64 range pairs) comes once with the data.
//
// Exit status: 0 ok (response written), 2 bad request / unknown kernel / out-of-bounds write,
// 3 timeout (a __syncthreads not reached by every thread: the stuck threads are abandoned).
#include "keops_host.h"
#include KEOPS_MODULE
#include "test_kernels.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr std::uint32_t REQUEST_MAGIC = 0x3152484b;  // "KHR1"
constexpr std::uint32_t RESPONSE_MAGIC = 0x3153484b; // "KHS1"
constexpr int EXIT_BAD = 2;
constexpr int EXIT_TIMEOUT = 3;

// Handles the Rust side puts in KeopsArgs' pointer fields.
constexpr std::uint64_t H_VAR = 0x1000, H_PARAM = 0x2000, H_V = 0x3000, H_OUT = 0x4000,
                        H_PARTIAL = 0x5000, H_OUT_IDX = 0x6000, H_BLOCKS = 0x7000, H_RANGES = 0x8000;
// Guard entries after every output and partial buffer: a kernel writing past the end is caught.
constexpr std::size_t GUARD = 512;
constexpr double GUARD_F64 = -7.25e300;
constexpr float GUARD_F32 = -7.25e30f;
constexpr long long GUARD_IDX = -7250000000000000000LL;

static_assert(sizeof(KeopsArgs) == 408, "KeopsArgs layout changed: update keops-runtime's KernelArgs");

[[noreturn]] void fail(int code, const std::string& msg) {
    std::fprintf(stderr, "%s\n", msg.c_str());
    std::fflush(stderr);
    std::_Exit(code); // no destructors: abandoned threads may still be blocked
}

struct Reader {
    std::vector<unsigned char> buf;
    std::size_t pos = 0;
    void need(std::size_t n) {
        if (buf.size() - pos < n) fail(EXIT_BAD, "bad request: truncated");
    }
    template <class U> U get() {
        need(sizeof(U));
        U u;
        std::memcpy(&u, buf.data() + pos, sizeof(U));
        pos += sizeof(U);
        return u;
    }
    std::vector<unsigned char> bytes(std::size_t n) {
        need(n);
        std::vector<unsigned char> b(buf.begin() + pos, buf.begin() + pos + n);
        pos += n;
        return b;
    }
};

// A buffer of reals in the request's precision, 16-byte aligned (as cudaMalloc's are, more or less).
struct Buffer {
    std::vector<double> store; // enough 8-byte words for `bytes`
    std::size_t bytes = 0;
    void* data() { return store.data(); }
};

Buffer read_buffer(Reader& r, std::size_t real) {
    const auto n = r.get<std::uint64_t>();
    Buffer b;
    b.bytes = n * real;
    b.store.resize(b.bytes / 8 + 1);
    auto raw = r.bytes(b.bytes);
    if (b.bytes) std::memcpy(b.store.data(), raw.data(), b.bytes);
    return b;
}

using KernelFn = void (*)(const KeopsArgs);

KernelFn find_kernel(const std::string& name) {
    for (const KeopsKernelEntry* e = keops_kernels; e->name; ++e)
        if (name == e->name) return e->fn;
    for (const KeopsKernelEntry* e = keops_test_kernels; e->name; ++e)
        if (name == e->name) return e->fn;
    fail(EXIT_BAD, "unknown kernel: " + name + " (not in OUT_DIR/keops.cu)");
}

void check_guard(const Buffer& b, std::size_t n, std::size_t real, const char* what) {
    for (std::size_t k = 0; k < GUARD; ++k) {
        const unsigned char* p = reinterpret_cast<const unsigned char*>(b.store.data()) + (n + k) * real;
        const bool ok = real == 4 ? *reinterpret_cast<const float*>(p) == GUARD_F32
                                  : *reinterpret_cast<const double*>(p) == GUARD_F64;
        if (!ok) fail(EXIT_BAD, std::string("out-of-bounds write: ") + what + "[" + std::to_string(n + k) + "] (length " + std::to_string(n) + ")");
    }
}

void fill(Buffer& b, std::size_t from, std::size_t to, std::size_t real, double value) {
    for (std::size_t k = from; k < to; ++k) {
        if (real == 4)
            reinterpret_cast<float*>(b.data())[k] = static_cast<float>(value);
        else
            reinterpret_cast<double*>(b.data())[k] = value;
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) fail(EXIT_BAD, "usage: driver REQUEST RESPONSE");
    Reader r;
    {
        FILE* f = std::fopen(argv[1], "rb");
        if (!f) fail(EXIT_BAD, std::string("cannot open ") + argv[1]);
        unsigned char chunk[1 << 16];
        std::size_t n;
        while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) r.buf.insert(r.buf.end(), chunk, chunk + n);
        std::fclose(f);
    }
    if (r.get<std::uint32_t>() != REQUEST_MAGIC) fail(EXIT_BAD, "bad request: magic");
    const std::size_t real = r.get<std::uint32_t>();
    if (real != 4 && real != 8) fail(EXIT_BAD, "bad request: precision");
    const double timeout_s = r.get<std::uint32_t>() / 1000.0;
    std::vector<Buffer> vars(r.get<std::uint32_t>());
    for (auto& b : vars) b = read_buffer(r, real);
    std::vector<Buffer> params(r.get<std::uint32_t>());
    for (auto& b : params) b = read_buffer(r, real);
    Buffer v = read_buffer(r, real);
    // A block-sparse launch's table, as bytes (empty when dense).
    Buffer blocks = read_buffer(r, 1);
    Buffer ranges = read_buffer(r, 1);

    std::vector<unsigned char> response;
    auto put = [&](const void* p, std::size_t n) {
        const auto* c = static_cast<const unsigned char*>(p);
        response.insert(response.end(), c, c + n);
    };
    const std::uint32_t njobs = r.get<std::uint32_t>();
    put(&RESPONSE_MAGIC, 4);
    put(&njobs, 4);
    for (std::uint32_t job = 0; job < njobs; ++job) {
        const auto n_out = r.get<std::uint64_t>();
        Buffer out;
        out.bytes = (n_out + GUARD) * real;
        out.store.resize(out.bytes / 8 + 1);
        fill(out, 0, n_out, real, NAN); // entries no launch writes stay NaN
        fill(out, n_out, n_out + GUARD, real, real == 4 ? GUARD_F32 : GUARD_F64);
        // Indices of an arg reduction (int64): entries no launch writes stay -1.
        const auto n_idx = r.get<std::uint64_t>();
        std::vector<long long> idx(n_idx + GUARD, GUARD_IDX);
        std::fill(idx.begin(), idx.begin() + n_idx, -1LL);
        const auto t0 = std::chrono::steady_clock::now();
        const std::uint32_t nlaunch = r.get<std::uint32_t>();
        for (std::uint32_t l = 0; l < nlaunch; ++l) {
            const std::string name = [&] {
                auto b = r.bytes(r.get<std::uint32_t>());
                return std::string(b.begin(), b.end());
            }();
            const dim3 grid{r.get<std::uint32_t>(), r.get<std::uint32_t>(), 1};
            const dim3 block{r.get<std::uint32_t>(), 1, 1};
            const auto shared = r.get<std::uint64_t>();
            // Combining pass (used when grid.y > 1): columns per row, row stride, first column.
            const int cols = r.get<std::int32_t>();
            const int out_stride = r.get<std::int32_t>();
            const int col0 = r.get<std::int32_t>();
            // Reductions other than the sum: keops_combine_red's kind (0: the sum), the entries
            // per row and K; and the partial buffer's length in f64 (0: none).
            const int red_kind = r.get<std::int32_t>();
            const int red_d = r.get<std::int32_t>();
            const int red_k = r.get<std::int32_t>();
            const auto n_partial = static_cast<std::size_t>(r.get<std::uint64_t>());
            if (r.get<std::uint32_t>() != sizeof(KeopsArgs)) fail(EXIT_BAD, "bad request: KernelArgs size differs from KeopsArgs");
            KeopsArgs a;
            {
                auto b = r.bytes(sizeof(KeopsArgs));
                std::memcpy(&a, b.data(), sizeof(KeopsArgs));
            }
            Buffer partial;
            if (n_partial > 0) {
                partial.bytes = (n_partial + GUARD) * 8;
                partial.store.assign(n_partial + GUARD, GUARD_F64);
                fill(partial, 0, n_partial, 8, NAN);
            }
            auto resolve = [&](const void* handle) -> void* {
                const auto h = reinterpret_cast<std::uintptr_t>(handle);
                if (h == 0) return nullptr;
                const std::uint64_t kind = h & ~std::uint64_t(0xfff), k = h & 0xfff;
                if (kind == H_VAR && k < vars.size()) return vars[k].data();
                if (kind == H_PARAM && k < params.size()) return params[k].data();
                if (h == H_V) return v.data();
                if (h == H_OUT) return out.data();
                if (h == H_PARTIAL && n_partial > 0) return partial.data();
                if (h == H_OUT_IDX && n_idx > 0) return idx.data();
                if (h == H_BLOCKS && blocks.bytes > 0) return blocks.data();
                if (h == H_RANGES) return ranges.data(); // (none when nothing is kept)
                fail(EXIT_BAD, "bad request: pointer handle " + std::to_string(h) + " in " + name);
            };
            for (auto& p : a.vars) p = resolve(p);
            for (auto& p : a.params) p = resolve(p);
            a.v = resolve(a.v);
            a.out = resolve(a.out);
            a.partial = static_cast<double*>(resolve(a.partial));
            a.out_idx = static_cast<long long*>(resolve(a.out_idx));
            a.blocks = static_cast<const KeopsBlock*>(resolve(a.blocks));
            a.ranges = static_cast<const long long*>(resolve(a.ranges));
            const KernelFn fn = find_kernel(name);
            if (!keops_host::launch([fn, a] { fn(a); }, grid, block, shared, timeout_s))
                fail(EXIT_TIMEOUT, "timeout: a __syncthreads was not reached by every thread (" + name + ", grid " + std::to_string(grid.x) + "x" + std::to_string(grid.y) + ")");
            if (red_kind > 0 && n_partial > 0) {
                check_guard(partial, n_partial, 8, "partial");
                const dim3 cgrid{static_cast<unsigned>((a.n_out + 255) / 256), 1, 1};
                double* pp = a.partial;
                void* o = n_out > 0 ? a.out : nullptr;
                long long* oi = n_idx > 0 ? idx.data() : nullptr;
                const long long n = a.n_out;
                const int ns = static_cast<int>(grid.y);
                const bool ok = real == 4
                    ? keops_host::launch([=] { keops_combine_red_f32(pp, static_cast<float*>(o), oi, n, red_kind, red_d, red_k, ns); }, cgrid, dim3{256, 1, 1}, 0, timeout_s)
                    : keops_host::launch([=] { keops_combine_red_f64(pp, static_cast<double*>(o), oi, n, red_kind, red_d, red_k, ns); }, cgrid, dim3{256, 1, 1}, 0, timeout_s);
                if (!ok) fail(EXIT_TIMEOUT, "timeout: a __syncthreads was not reached by every thread (combine_red)");
            } else if (grid.y > 1) {
                check_guard(partial, n_partial, 8, "partial");
                const long long entries = a.n_out * cols;
                const dim3 cgrid{static_cast<unsigned>((entries + 255) / 256), 1, 1};
                const double* pp = a.partial;
                void* o = a.out;
                const long long n = a.n_out;
                const unsigned ns = grid.y;
                const bool ok = real == 4
                    ? keops_host::launch([=] { keops_combine_f32(pp, static_cast<float*>(o), n, cols, ns, out_stride, col0); }, cgrid, dim3{256, 1, 1}, 0, timeout_s)
                    : keops_host::launch([=] { keops_combine_f64(pp, static_cast<double*>(o), n, cols, ns, out_stride, col0); }, cgrid, dim3{256, 1, 1}, 0, timeout_s);
                if (!ok) fail(EXIT_TIMEOUT, "timeout: a __syncthreads was not reached by every thread (combine)");
            }
            check_guard(out, n_out, real, "out");
            for (std::size_t k = 0; k < GUARD; ++k)
                if (idx[n_idx + k] != GUARD_IDX) fail(EXIT_BAD, "out-of-bounds write: out_idx[" + std::to_string(n_idx + k) + "] (length " + std::to_string(n_idx) + ")");
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        put(&secs, 8);
        put(&n_out, 8);
        put(out.data(), n_out * real);
        put(&n_idx, 8);
        put(idx.data(), n_idx * 8);
    }
    if (r.pos != r.buf.size()) fail(EXIT_BAD, "bad request: trailing bytes");
    FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(response.data(), 1, response.size(), f) != response.size() || std::fclose(f) != 0)
        fail(EXIT_BAD, std::string("cannot write ") + argv[2]);
    return 0;
}
