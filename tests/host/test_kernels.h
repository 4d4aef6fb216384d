// keops tests: hand-written kernels that check the host-emulation harness itself (driver.cpp), in
// the generated kernels' conventions (one `const KeopsArgs` parameter, block 256, out is T[n_out]).
#ifndef KEOPS_TEST_KERNELS_H
#define KEOPS_TEST_KERNELS_H

// out[o] = o + 1 after every thread met at a __syncthreads: the positive control.
template <typename T> __device__ void keops_test_iota(const KeopsArgs& a) {
    const long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    __syncthreads();
    if (o < a.n_out) ((T*)a.out)[o] = T(o + 1);
}

// The same, but threads with odd threadIdx.x skip the __syncthreads: the even ones wait for them
// forever, as a GPU block would hang. The driver must report a timeout.
template <typename T> __device__ void keops_test_skip_sync_odd(const KeopsArgs& a) {
    const long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (threadIdx.x % 2 == 0) __syncthreads();
    if (o < a.n_out) ((T*)a.out)[o] = T(o + 1);
}

// Writes one entry past the end of out: the driver's guard must catch it.
template <typename T> __device__ void keops_test_write_past_end(const KeopsArgs& a) {
    const long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o <= a.n_out) ((T*)a.out)[o] = T(o + 1);
}

extern "C" __global__ void keops_test_iota_f32(const KeopsArgs a) { keops_test_iota<float>(a); }
extern "C" __global__ void keops_test_iota_f64(const KeopsArgs a) { keops_test_iota<double>(a); }
extern "C" __global__ void keops_test_skip_sync_odd_f32(const KeopsArgs a) { keops_test_skip_sync_odd<float>(a); }
extern "C" __global__ void keops_test_skip_sync_odd_f64(const KeopsArgs a) { keops_test_skip_sync_odd<double>(a); }
extern "C" __global__ void keops_test_write_past_end_f32(const KeopsArgs a) { keops_test_write_past_end<float>(a); }
extern "C" __global__ void keops_test_write_past_end_f64(const KeopsArgs a) { keops_test_write_past_end<double>(a); }

static const KeopsKernelEntry keops_test_kernels[] = {
    {"keops_test_iota_f32", &keops_test_iota_f32},
    {"keops_test_iota_f64", &keops_test_iota_f64},
    {"keops_test_skip_sync_odd_f32", &keops_test_skip_sync_odd_f32},
    {"keops_test_skip_sync_odd_f64", &keops_test_skip_sync_odd_f64},
    {"keops_test_write_past_end_f32", &keops_test_write_past_end_f32},
    {"keops_test_write_past_end_f64", &keops_test_write_past_end_f64},
    {nullptr, nullptr}};

#endif
