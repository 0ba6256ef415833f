// artar_regularization.cu — activation regularization and temporal activation regularization, fused (paper §2; docs/design.md §1):
//
//   AR  = α · mean(o²)                       over N  = T·B·H elements of o (the dropped last-layer output)
//   TAR = β · mean((h[t+1] − h[t])²)         over N' = (T−1)·B·H elements of h (the undropped last layer)
//   grad_o[i] += 2 · ar_coef · o[i]
//   grad_h[t] += 2 · tar_coef · ((h[t] − h[t−1])·[t > 0] − (h[t+1] − h[t])·[t < T−1])
//
// with ar_coef = α/N and tar_coef = β/N' (0 when T < 2) computed by the host in double. One pass reads o and h
// once and accumulates both gradients; the two losses are reduced deterministically in two stages: every block
// writes its (ΣAR, ΣTAR) pair to partials[2·block], then artar_finalize adds the pairs in a fixed order
// (no atomics: the same launch shape gives bit-identical losses run after run).
// Both gradients are accumulated (+=): grad_o already holds the decoder's gradient; grad_h is zeroed by the host
// before, and dropout_backward(accumulate = 1) then adds the output dropout's backward to it.
// Layout: [T][B·H] row-major, step_size = B·H.
// Launch: artar_forward_backward — 1-D grid-stride, 256 threads (multiple of 32), a FIXED grid (e.g. 2·SMs;
//         partials has 2·gridDim floats); artar_finalize — one block of 256 threads, blocks = that grid.
// CPU reference: CpuBackend<T>.ArTarRegularization.
#include "common.cuh"

ARTAR_KERNEL void artar_forward_backward(float* partials, float* grad_o, float* grad_h, const float* o, const float* h,
                                         float ar_coef, float tar_coef, int steps, long long step_size)
{
    __shared__ float scratch[32];
    long long n = (long long)steps * step_size;
    float ar = 0.0f, tar = 0.0f;
    GRID_STRIDE_LOOP(i, n)
    {
        float ov = o[i];
        ar = fmaf(ov, ov, ar);
        grad_o[i] += 2.0f * ar_coef * ov;

        float hv = h[i], g = 0.0f;
        if (i + step_size < n) { float d = h[i + step_size] - hv; tar = fmaf(d, d, tar); g -= d; }
        if (i >= step_size)    { g += hv - h[i - step_size]; }
        grad_h[i] += 2.0f * tar_coef * g;
    }
    ar = block_sum(ar, scratch);
    tar = block_sum(tar, scratch);
    if (threadIdx.x == 0) { partials[2 * blockIdx.x] = ar; partials[2 * blockIdx.x + 1] = tar; }
}

// loss[0] = AR, loss[1] = TAR.
ARTAR_KERNEL void artar_finalize(float* loss, const float* partials, int blocks, float ar_coef, float tar_coef)
{
    __shared__ float scratch[32];
    float ar = sum_partials(partials, blocks, 2, scratch);
    float tar = sum_partials(partials + 1, blocks, 2, scratch);
    if (threadIdx.x == 0) { loss[0] = ar_coef * ar; loss[1] = tar_coef * tar; }
}
