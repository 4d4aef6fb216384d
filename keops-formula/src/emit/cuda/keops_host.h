// keops: host emulation of the CUDA execution model, so that generated kernels run as C++20 on a
// machine without a GPU. Include before the generated module; compile with -DKEOPS_HOST.
//
// Blocks run one after another. A block's threads are real std::threads (created once per launch
// and reused for every block) meeting at a std::barrier for __syncthreads; a separate barrier ends
// each block, so a thread that skips a __syncthreads leaves the others waiting forever, as it
// would hang a GPU: `keops_host::launch` reports that as a timeout. __shared__ arrays are static
// storage (one block at a time uses them); dynamic shared memory is one buffer per launch;
// threadIdx/blockIdx are thread-locals. No warp intrinsics are emulated.
#ifndef KEOPS_HOST_H
#define KEOPS_HOST_H

#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace keops_host {
inline thread_local dim3 thread_idx, block_idx;
inline dim3 block_dim, grid_dim;
inline std::barrier<>* sync_barrier = nullptr;
inline unsigned char* dyn_shared = nullptr;

// Runs `kernel()` on every thread of every block of `grid` x `block` with `shmem` bytes of dynamic
// shared memory. Returns false if the block did not finish within `timeout_s` seconds (a
// __syncthreads not reached by every thread); the stuck threads are then abandoned, so the caller
// should report and exit.
template <class F>
bool launch(F kernel, dim3 grid, dim3 block, std::size_t shmem, double timeout_s) {
    std::vector<std::max_align_t> smem(shmem / sizeof(std::max_align_t) + 1);
    dyn_shared = reinterpret_cast<unsigned char*>(smem.data());
    grid_dim = grid;
    block_dim = block;
    const unsigned nthreads = block.x * block.y * block.z;
    auto* syncb = new std::barrier<>(nthreads);
    auto* endb = new std::barrier<>(nthreads);
    sync_barrier = syncb;
    auto* finished = new std::atomic<unsigned>(0);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < nthreads; ++t) {
        threads.emplace_back([=] {
            thread_idx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            for (unsigned bz = 0; bz < grid.z; ++bz)
                for (unsigned by = 0; by < grid.y; ++by)
                    for (unsigned bx = 0; bx < grid.x; ++bx) {
                        block_idx = dim3{bx, by, bz};
                        kernel();
                        endb->arrive_and_wait();
                    }
            finished->fetch_add(1);
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (finished->load() < nthreads) {
        if (std::chrono::steady_clock::now() > deadline) {
            for (auto& th : threads) th.detach();
            return false; // barriers, buffers and counter are leaked on purpose: threads still use them
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    for (auto& th : threads) th.join();
    delete syncb;
    delete endb;
    delete finished;
    return true;
}
} // namespace keops_host

#define threadIdx keops_host::thread_idx
#define blockIdx keops_host::block_idx
#define blockDim keops_host::block_dim
#define gridDim keops_host::grid_dim
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define KEOPS_FN inline
#define KEOPS_DYN_SHARED(name) unsigned char* name = keops_host::dyn_shared
inline void __syncthreads() { keops_host::sync_barrier->arrive_and_wait(); }
using std::acos;
using std::asin;
using std::atan;
using std::atan2;
using std::cos;
using std::exp;
using std::fabs;
using std::floor;
using std::fmax;
using std::fmin;
using std::log;
using std::pow;
using std::round;
using std::sin;
using std::sqrt;

#endif
