// common.cuh — what the CUDA headers would supply, for clang-14 with -nocudainc -nocudalib, plus the
// helpers every module shares (deterministic block reductions, an accurate expf).
// Under nvcc the real headers are already included, so only the shared helpers below apply.
// No libdevice: every math function here maps to an NVVM builtin, so no .extern .func remains in the PTX.
#pragma once

#if defined(ARTAR_HOST_EMULATION)
#include "cuda_host_emulation.h"         // tests only: the kernels on CPU threads (tests/ArTar.Tests/Cuda/Emulation)
#elif !defined(__NVCC__)
#include <__clang_cuda_builtin_vars.h>   // threadIdx, blockIdx, blockDim, gridDim
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))

#define __syncthreads() __nvvm_bar_sync(0)
static __device__ __forceinline__ float atomicAdd(float* p, float v) { return __nvvm_atom_add_gen_f(p, v); }
static __device__ __forceinline__ float __shfl_down_sync(unsigned mask, float v, int delta)
{
    return __nvvm_shfl_sync_down_f32(mask, v, delta, 0x1f);
}
static __device__ __forceinline__ float __shfl_xor_sync(unsigned mask, float v, int lane_mask)
{
    return __nvvm_shfl_sync_bfly_f32(mask, v, lane_mask, 0x1f);
}
#define fmaxf(a, b) __builtin_fmaxf(a, b)
#define fminf(a, b) __builtin_fminf(a, b)
#define fmaf(a, b, c) __builtin_fmaf(a, b, c)
#define rintf(x) __builtin_rintf(x)
static __device__ __forceinline__ float sqrtf(float x) { return __nvvm_sqrt_rn_f(x); }
// Round-to-nearest multiply and add that are never contracted into an fma: mul.rn.f32 / add.rn.f32, as CUDA's headers
// give. Inline PTX, not __nvvm_mul_rn_f / __nvvm_add_rn_f: LLVM 14 folds those to a plain fmul/fadd, emitted as mul.f32 /
// add.f32, which ptxas is free to fuse (the PTX ISA: only an explicit rounding modifier forbids it).
static __device__ __forceinline__ float __fmul_rn(float a, float b)
{
    float r;
    asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
static __device__ __forceinline__ float __fadd_rn(float a, float b)
{
    float r;
    asm("add.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
static __device__ __forceinline__ float __int_as_float(int x) { return __builtin_bit_cast(float, x); }
// exp(x) = 2^(x·log2 e), log(x) = log2(x)·ln 2: the approximate hardware units, as --use_fast_math would.
static __device__ __forceinline__ float __expf(float x) { return __nvvm_ex2_approx_f(x * 1.4426950408889634f); }
static __device__ __forceinline__ float __logf(float x) { return __nvvm_lg2_approx_f(x) * 0.6931471805599453f; }
#endif

#define ARTAR_KERNEL extern "C" __global__

// 2^x on the hardware unit (ex2.approx.f32): the NVVM builtin under clang, inline PTX under nvcc.
static __device__ __forceinline__ float hardware_exp2f(float x)
{
#ifdef __NVCC__
    float y;
    asm("ex2.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#else
    return __nvvm_ex2_approx_f(x);
#endif
}

// Grid-stride loop over n elements: any launch shape covers the whole range.
#define GRID_STRIDE_LOOP(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)

// ---------------------------------------------------------------------------------------------------------
// exp accurate to a few ulp over the whole float range, for the softmax (docs/design.md §6: parity 1e-4 on CE).
// __expf rounds x·log2e first, an absolute error of |x|·2^-24 in the exponent, i.e. a relative error growing
// with |x| (~5e-6 at x = -80). Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, leaves the hardware 2^y
// only |y| ≤ 1/2, so its own ~2-ulp error dominates; 2^n is exact (built in two halves so n = 128 works).
static __device__ __forceinline__ float accurate_expf(float x)
{
    if (x < -87.33654f) return 0.0f;                        // below FLT_MIN: flushed like the ftz hardware
    if (x > 88.72283f) return __int_as_float(0x7f800000);   // overflow: +inf
    float n = rintf(x * 1.44269504f);
    float r = fmaf(n, -0.693145751953125f, x);              // ln2 high part: 16 bits, n·ln2_hi exact for |n| ≤ 128
    r = fmaf(n, -1.42860682e-6f, r);                        // ln2 low part
    int k = (int)n;
    int k1 = k >> 1, k2 = k - k1;                           // both halves in [-63, 64]
    float e = hardware_exp2f(r * 1.44269504f);
    return e * __int_as_float((k1 + 127) << 23) * __int_as_float((k2 + 127) << 23);
}

// ---------------------------------------------------------------------------------------------------------
// Block reductions: fixed tree order (warp shuffles, then one warp over the warp results), so a given launch
// shape gives bit-identical results run after run — no atomics anywhere (docs/design.md §4: reproducible steps).
// Requirements: blockDim.x a multiple of 32, at most 1024; every thread of the block calls them.
// The result is valid in every thread. `scratch` is __shared__ float[32], reusable after the call returns.
static __device__ __forceinline__ float warp_sum(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

static __device__ __forceinline__ float block_sum(float v, float* scratch)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads();                                        // scratch may be reused by the caller
    return v;
}

static __device__ __forceinline__ float block_max(float v, float* scratch)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : -__int_as_float(0x7f800000);
    v = warp_max(v);
    __syncthreads();
    return v;
}

// Second stage of a two-stage sum: one block adds `count` partials (strided by `stride` floats) in a fixed order.
static __device__ __forceinline__ float sum_partials(const float* partials, int count, int stride, float* scratch)
{
    float v = 0.0f;
    for (int i = threadIdx.x; i < count; i += blockDim.x) v += partials[(long long)i * stride];
    return block_sum(v, scratch);
}
