// cuda_host_emulation.h — runs kernels/*.cu on CPU threads, for tests on machines without a GPU.
// One std::thread per CUDA thread, blocks one after another; __syncthreads is a block-wide barrier, warp shuffles
// exchange through per-warp slots between two warp barriers, __shared__ variables are function statics (shared by
// the threads of the running block). It checks the kernels' logic — indexing, reductions, barriers, accumulation —
// not the GPU's arithmetic (exp2/log2 are the C library's here). common.cuh includes it under ARTAR_HOST_EMULATION.
#pragma once
#include <barrier>
#include <cmath>
#include <math.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };
inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline

namespace emulation
{
struct Block
{
    std::barrier<> all;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<float> slots;
    explicit Block(unsigned threads) : all(threads), slots(threads)
    {
        for (unsigned w = 0; w < threads / 32; w++) warps.push_back(std::make_unique<std::barrier<>>(32));
    }
};
inline thread_local Block* current;
inline std::mutex atomics;

inline void launch(unsigned grid, unsigned block, const std::function<void()>& kernel)
{
    if (block == 0 || block % 32 != 0 || block > 1024) { fprintf(stderr, "block size %u: multiples of 32 only\n", block); exit(2); }
    for (unsigned b = 0; b < grid; b++)
    {
        Block state(block);
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block; t++)
            threads.emplace_back([&, b, t] {
                current = &state;
                threadIdx = {t, 0, 0}; blockIdx = {b, 0, 0}; blockDim = {block, 1, 1}; gridDim = {grid, 1, 1};
                kernel();
            });
        for (auto& thread : threads) thread.join();
    }
}

inline float exchange(float v, unsigned source_lane)
{
    unsigned t = threadIdx.x, warp = t / 32;
    current->slots[t] = v;
    current->warps[warp]->arrive_and_wait();
    float r = current->slots[warp * 32 + source_lane];
    current->warps[warp]->arrive_and_wait();
    return r;
}
}  // namespace emulation

#define __syncthreads() emulation::current->all.arrive_and_wait()
static inline float __shfl_xor_sync(unsigned, float v, int lane_mask) { return emulation::exchange(v, (threadIdx.x % 32) ^ lane_mask); }
static inline float __shfl_down_sync(unsigned, float v, int delta)
{
    unsigned lane = threadIdx.x % 32;
    float r = emulation::exchange(v, lane + delta < 32 ? lane + delta : lane);
    return r;
}
static inline float atomicAdd(float* p, float v) { std::lock_guard<std::mutex> lock(emulation::atomics); float old = *p; *p = old + v; return old; }
static inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
// One rounding each, as on the GPU: clang contracts only within one expression (and baseline x86-64 has no fma).
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __nvvm_ex2_approx_f(float x) { return exp2f(x); }
static inline float __nvvm_lg2_approx_f(float x) { return log2f(x); }
// glibc declares (but need not export) __expf / __logf: macros keep the kernels off them.
#define __expf(x) expf(x)
#define __logf(x) logf(x)
