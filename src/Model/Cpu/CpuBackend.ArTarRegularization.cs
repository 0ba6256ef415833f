using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// AR and TAR of the paper (docs/design.md §1; kernel: kernels/artar_regularization.cu, launched by <c>CudaBackend.ArTarRegularization</c>):
/// α·mean(o²) on the dropped output and β·mean((h[t+1]−h[t])²) on the undropped last layer, inside the window.
/// </summary>
public sealed partial class CpuBackend<T>
{
    public ArTarLoss ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden,
        double alpha, double beta)
    {
        OpContract.ArTarRegularization(o, h, dO, dH, steps, batch, hidden);
        int n = steps * batch * hidden, bh = batch * hidden, m = n - bh;
        var os = Data(o)[..n];
        var hs = Data(h)[..n];

        // AR, docs/design.md §1: α·mean(o²) on the dropped output; d/do = 2α·o/n.
        double ar = alpha == 0.0 ? 0.0 : alpha * SumOfSquares(os) / n;
        if (dO is not null && alpha != 0.0)
        {
            var d = Data(dO)[..n];
            TensorPrimitives.MultiplyAdd(os, T.CreateTruncating(2.0 * alpha / n), d, d);
        }

        // TAR, docs/design.md §1: β·mean((h[t+1]−h[t])²) over the window only (t = 0..T-2), on the undropped last layer.
        double tar = 0.0;
        if (beta != 0.0 && m > 0)
        {
            double sum = 0.0;
            Span<T> dh = dH is null ? default : Data(dH)[..n];
            T g = T.CreateTruncating(2.0 * beta / m);
            for (int i = bh; i < n; i++)
            {
                T diff = hs[i] - hs[i - bh];
                sum += double.CreateTruncating(diff * diff);
                if (dH is not null)
                {
                    dh[i] += g * diff;
                    dh[i - bh] -= g * diff;
                }
            }
            tar = beta * sum / m;
        }
        return new ArTarLoss(ar, tar);
    }
}
