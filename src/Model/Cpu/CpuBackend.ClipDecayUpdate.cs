using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// The SGD step with global-norm clipping and weight decay after clipping (docs/design.md §1; kernel: kernels/clip_decay_update.cu,
/// launched by <c>CudaBackend.ClipDecayUpdate</c>).
/// </summary>
public sealed partial class CpuBackend<T>
{
    public void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm, double clip, double lr, double weightDecay)
    {
        OpContract.ClipDecayUpdate(weights, gradients, squaredNorm);
        // As kernels/clip_decay_update.cu: the norm is read from the backend, the update done in the element type.
        T norm = T.Sqrt(Data(squaredNorm)[0]);
        T c = T.CreateTruncating(clip);
        T scale = clip > 0.0 && norm > c ? c / norm : T.One;
        int length = checked((int)gradients.Length), parts = ArenaParts(length);
        var body = new ClipDecayUpdateChunks(Tensor(weights), Tensor(gradients), length, scale, T.CreateTruncating(lr), T.CreateTruncating(weightDecay));
        if (parts > 1) WorkerPair.Run(parts, body);
        else body.Run(0, 1);
    }

    /// <summary>w −= lr·(g·scale + wd·w) over a part's whole chunks (kernels/clip_decay_update.cu), vectors then one element at a time.</summary>
    private readonly struct ClipDecayUpdateChunks((T[] Array, int Offset) w, (T[] Array, int Offset) g, int length, T scale, T rate, T decay) : IParts
    {
        public void Run(int part, int parts)
        {
            var (i0, i1) = ChunkRange(length, part, parts);
            var ws = w.Array.AsSpan(w.Offset + i0, i1 - i0);
            var gs = g.Array.AsSpan(g.Offset + i0, i1 - i0);
            int i = 0;
            if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
            {
                var vs = new Vector<T>(scale);
                var vr = new Vector<T>(rate);
                var vd = new Vector<T>(decay);
                for (; i <= ws.Length - Vector<T>.Count; i += Vector<T>.Count)
                {
                    var wv = new Vector<T>(ws[i..]);
                    var gv = new Vector<T>(gs[i..]);
                    (wv - vr * (gv * vs + vd * wv)).CopyTo(ws[i..]);
                }
            }
            for (; i < ws.Length; i++) ws[i] -= rate * (gs[i] * scale + decay * ws[i]);
        }
    }
}
