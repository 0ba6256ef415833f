using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// Dropout with the Philox4x32-10 masks of <see cref="DropoutMask"/> (docs/backend.md; kernel: kernels/dropout.cu,
/// launched by <c>CudaBackend.DropoutForward</c>): the same mask for a (seed, step, site, element) on every backend.
/// </summary>
public sealed partial class CpuBackend<T>
{
    // Dropout mask words drawn per chunk (on the stack; a multiple of 32 keeps the vector Philox on whole groups).
    private const int DropoutChunk = 1024;

    public void DropoutForward(ITensor x, ITensor y, long count, DropoutMask mask)
    {
        OpContract.Dropout(nameof(DropoutForward), x, y, count, mask);
        ApplyDropout(Data(x), Data(y), checked((int)count), mask, accumulate: false);
    }

    public void DropoutBackward(ITensor dy, ITensor dx, long count, DropoutMask mask, bool accumulate)
    {
        OpContract.Dropout(nameof(DropoutBackward), dy, dx, count, mask);
        ApplyDropout(Data(dy), Data(dx), checked((int)count), mask, accumulate);
    }

    // y (+)= keep ? x·scale : 0 — the forward and the backward are the same masked scaling.
    // The mask was validated by OpContract.Dropout in both callers.
    private static void ApplyDropout(Span<T> x, Span<T> y, int count, DropoutMask mask, bool accumulate)
    {
        x = x[..count];
        y = y[..count];
        if (mask.Probability == 0.0)
        {
            if (accumulate) TensorPrimitives.Add(y, x, y);
            else x.CopyTo(y);
            return;
        }
        T scale = T.CreateTruncating(mask.Scale);
        uint threshold = mask.Threshold;
        // Mask words a chunk at a time (vectorised Philox), then the masked scaling.
        Span<uint> words = stackalloc uint[DropoutChunk];
        for (int start = 0; start < count; start += DropoutChunk)
        {
            int n = Math.Min(DropoutChunk, count - start);
            var w = words[..((n + 3) & ~3)];
            mask.Fill(start / 4, w);
            MaskedScale(x.Slice(start, n), y.Slice(start, n), w, threshold, scale, accumulate);
        }
    }

    // y[i] (+)= (words[i] >> 8) ≥ threshold ? x[i]·scale : 0, without branches: the keep test on whole vectors of words
    // (widened when T is 64-bit) selects between x·scale and zero. A random mask defeats branch prediction.
    private static void MaskedScale(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<uint> words, uint threshold, T scale, bool accumulate)
    {
        int i = 0, n = x.Length;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && (Vector<T>.Count == Vector<uint>.Count || Vector<T>.Count * 2 == Vector<uint>.Count))
        {
            var vs = new Vector<T>(scale);
            var vt = new Vector<uint>(threshold);
            int step = Vector<uint>.Count;
            for (; i <= n - step; i += step)
            {
                var keep = Vector.GreaterThanOrEqual(Vector.ShiftRightLogical(new Vector<uint>(words[i..]), 8), vt);
                if (Vector<T>.Count == step) Select(x, y, i, keep.As<uint, T>(), vs, accumulate);
                else
                {
                    Vector.Widen(keep.As<uint, int>(), out var lo, out var hi);     // sign-extends: all-ones stays all-ones
                    Select(x, y, i, lo.As<long, T>(), vs, accumulate);
                    Select(x, y, i + Vector<T>.Count, hi.As<long, T>(), vs, accumulate);
                }
            }
        }
        for (; i < n; i++)
        {
            T v = (words[i] >> 8) >= threshold ? x[i] * scale : T.Zero;
            y[i] = accumulate ? y[i] + v : v;
        }
    }

    private static void Select(ReadOnlySpan<T> x, Span<T> y, int at, Vector<T> keep, Vector<T> scale, bool accumulate)
    {
        var v = Vector.ConditionalSelect(keep, new Vector<T>(x[at..]) * scale, Vector<T>.Zero);
        (accumulate ? new Vector<T>(y[at..]) + v : v).CopyTo(y[at..]);
    }
}
