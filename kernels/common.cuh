// common.cuh — what the CUDA headers would supply, for clang-14 with -nocudainc -nocudalib.
// Under nvcc the real headers are already included, so only the shared helpers below apply.
// No libdevice: every math function here maps to an NVVM builtin, so no .extern .func remains in the PTX.
#pragma once

#ifndef __NVCC__
#include <__clang_cuda_builtin_vars.h>   // threadIdx, blockIdx, blockDim, gridDim
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))

#define __syncthreads() __nvvm_bar_sync(0)
static __device__ __forceinline__ float atomicAdd(float* p, float v) { return __nvvm_atom_add_gen_f(p, v); }
static __device__ __forceinline__ float __shfl_down_sync(unsigned mask, float v, int delta)
{
    return __nvvm_shfl_sync_down_f32(mask, v, delta, 0x1f);
}
#define fmaxf(a, b) __builtin_fmaxf(a, b)
#define fminf(a, b) __builtin_fminf(a, b)
static __device__ __forceinline__ float sqrtf(float x) { return __nvvm_sqrt_rn_f(x); }
// exp(x) = 2^(x·log2 e), log(x) = log2(x)·ln 2: the approximate hardware units, as --use_fast_math would.
static __device__ __forceinline__ float __expf(float x) { return __nvvm_ex2_approx_f(x * 1.4426950408889634f); }
static __device__ __forceinline__ float __logf(float x) { return __nvvm_lg2_approx_f(x) * 0.6931471805599453f; }
#endif

#define ARTAR_KERNEL extern "C" __global__

// Grid-stride loop over n elements: any launch shape covers the whole range.
#define GRID_STRIDE_LOOP(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)blockDim.x * gridDim.x)
