// gradient_squared_norm.cu — ‖g‖² over the flat gradient arena (docs/design.md §1 clipping, §4 arena), on the device, deterministically:
//
//   squared_norm_partials   partials[b] = Σ g[i]² over the elements block b visits (grid-stride, fixed order)
//   squared_norm_finalize   *squared_norm = Σ_b partials[b]   (one block, fixed order)
//
// No atomics: the same launch shape gives the bit-identical norm run after run. The result stays on the device
// and feeds clip_decay_update (clip_decay_update.cu) directly; the host reads it back only to log it.
// Launch: partials — 1-D grid-stride, 256 threads (multiple of 32), a FIXED grid (e.g. 4·SMs; partials has
//         gridDim floats); finalize — one block of 256 threads, count = that grid.
// CPU reference: CpuBackend<T>.GradientSquaredNorm (src/Model/Cpu/CpuBackend.cs).
#include "common.cuh"

ARTAR_KERNEL void squared_norm_partials(float* partials, const float* g, long long n)
{
    __shared__ float scratch[32];
    float s = 0.0f;
    GRID_STRIDE_LOOP(i, n) { float v = g[i]; s = fmaf(v, v, s); }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

ARTAR_KERNEL void squared_norm_finalize(float* squared_norm, const float* partials, int count)
{
    __shared__ float scratch[32];
    float s = sum_partials(partials, count, 1, scratch);
    if (threadIdx.x == 0) *squared_norm = s;
}
