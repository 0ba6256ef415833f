// embedding.cu — the embedding lookup of docs/design.md §1 and its gradient into the tied matrix E.
//
//   forward   e[r, :] = E[x[r], :]                 r = t·B + b over the T·B tokens, E is V×H row-major
//   backward  dE[v, :] += Σ_{r : x[r] = v} de[r, :], the terms added in ascending r
//
// The backward is deterministic without sorting and without float atomics: the block of token position r
// works only if r is the FIRST occurrence of its id v, and then owns row v alone, accumulating every later
// occurrence in ascending order into dE[v, :] (which already holds the decoder's contribution — tied weights).
// That is exactly the sequential order `for r: dE[x[r]] += de[r]`, so float results equal a sequential CPU loop.
// Cost: each block scans the ids before and after it — O(rows²) id reads, negligible beside the rows·H data.
//
// Launch: forward  — grid = rows (one block a token; grid-stride over rows when gridDim < rows), 128..256 threads
//                    striding over H.
//         backward — grid = rows, 128..256 threads striding over H. Ids must lie in [0, V) (checked on the host).
// CPU reference: CpuBackend.EmbeddingForward / CpuBackend.EmbeddingBackward (src/Model/Cpu/CpuBackend.cs).
#include "common.cuh"

ARTAR_KERNEL void embedding_forward(float* e, const float* weight, const int* tokens, int rows, int hidden)
{
    for (int r = blockIdx.x; r < rows; r += gridDim.x)
    {
        const float* src = weight + (long long)tokens[r] * hidden;
        float* dst = e + (long long)r * hidden;
        for (int h = threadIdx.x; h < hidden; h += blockDim.x) dst[h] = src[h];
    }
}

ARTAR_KERNEL void embedding_backward(float* grad_weight, const float* grad_e, const int* tokens, int rows, int hidden)
{
    for (int r = blockIdx.x; r < rows; r += gridDim.x)
    {
        int v = tokens[r];
        bool first = true;                                  // no barriers in this kernel: a block may skip its row
        for (int q = 0; q < r && first; q++) first = tokens[q] != v;
        if (!first) continue;
        float* dst = grad_weight + (long long)v * hidden;
        for (int q = r; q < rows; q++)                      // ascending: the CPU's order, per element
        {
            if (tokens[q] != v) continue;
            const float* src = grad_e + (long long)q * hidden;
            for (int h = threadIdx.x; h < hidden; h += blockDim.x) dst[h] += src[h];
        }
    }
}
