// clip_decay_update.cu — the fused clip-decay-update of docs/design.md §1 over the flat parameter arena.
//
//   scale = ‖g‖ > clip ? clip / ‖g‖ : 1          (‖g‖² read from device memory: no host round trip)
//   w    -= lr · (g · scale + wd · w)            (weight decay added after clipping, as torch.optim.SGD)
//
// Launch: 1-D grid-stride, any grid; 256 threads a block is the default.
// CPU reference: CpuBackend.ClipDecayUpdate (src/Model/Cpu/CpuBackend.cs).
#include "common.cuh"

ARTAR_KERNEL void clip_decay_update(float* w, const float* g, const float* squared_norm,
                                    float clip, float lr, float wd, long long n)
{
    float norm = sqrtf(*squared_norm);
    float scale = (clip > 0.0f && norm > clip) ? clip / norm : 1.0f;
    GRID_STRIDE_LOOP(i, n)
    {
        w[i] -= lr * (g[i] * scale + wd * w[i]);
    }
}
