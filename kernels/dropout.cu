// dropout.cu — element-wise dropout with counter-based masks (docs/design.md §1 input/hidden/output dropout, §4;
// the docs/backend.md dropout contract, bit for bit):
//
//   key (k0,k1)        = ((uint)seed, (uint)(seed >> 32))
//   counter of element i = ((uint)(i >> 2), (uint)step, (uint)(step >> 32), site);  word = philox(...)[i & 3]
//   keep               = (word >> 8) >= threshold          threshold = (uint)round(p · 2^24), from the host
//   forward            y  = keep ? x · scale : 0             scale = (float)(1 / (1 - p)), from the host
//   backward           dx = keep ? dy · scale : 0  (+ dx when accumulate != 0: the last layer's gradient also
//                                                   receives TAR, added by artar_regularization.cu before this runs)
//
// x and y (dy and dx) may be the same buffer: every element is read and written by one thread.
// The product and the sum are rounded each on its own (__fmul_rn, __fadd_rn): the CPU rounds x·scale and then adds,
// and an fma contracted from out + x·scale (nvcc contracts by default) would round once and break bit-equality.
// Launch: 1-D grid-stride over the n/4 Philox blocks (one generator call serves four elements);
//         256 threads a block, grid = min(ceil(n/4 / 256), 8 · SMs) is the default.
// CPU reference: CpuBackend.DropoutForward / CpuBackend.DropoutBackward (src/Model/Cpu/CpuBackend.cs).
#include "common.cuh"
#include "philox.cuh"

static __device__ __forceinline__ void dropout_apply(float* out, const float* in, unsigned long long seed,
                                                     unsigned long long step, unsigned int site, unsigned int threshold,
                                                     float scale, long long n, int accumulate)
{
    long long blocks = (n + 3) >> 2;
    GRID_STRIDE_LOOP(j, blocks)
    {
        philox4x32 r = dropout_philox(seed, step, site, j);
        long long base = j << 2;
        for (int lane = 0; lane < 4; lane++)
        {
            long long i = base + lane;
            if (i >= n) break;
            float v = dropout_keep(r.v[lane], threshold) ? __fmul_rn(in[i], scale) : 0.0f;
            out[i] = accumulate ? __fadd_rn(out[i], v) : v;
        }
    }
}

ARTAR_KERNEL void dropout_forward(float* y, const float* x, unsigned long long seed, unsigned long long step,
                                  unsigned int site, unsigned int threshold, float scale, long long n)
{
    dropout_apply(y, x, seed, step, site, threshold, scale, n, 0);
}

ARTAR_KERNEL void dropout_backward(float* dx, const float* dy, unsigned long long seed, unsigned long long step,
                                   unsigned int site, unsigned int threshold, float scale, long long n, int accumulate)
{
    dropout_apply(dx, dy, seed, step, site, threshold, scale, n, accumulate);
}
