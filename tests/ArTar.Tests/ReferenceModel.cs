using ArTar.Backends;
using ArTar.Models;

namespace ArTar.Tests;

/// <summary>
/// docs/design.md §1 written out naively in float64, one scalar at a time, sharing nothing with the backend but the dropout
/// mask mapping (itself checked against Philox known answers). Its <see cref="Variant"/> flags compute the mistakes the
/// model must not make, so a test can show that each would be caught.
/// </summary>
internal static class ReferenceModel
{
    public readonly record struct Variant(bool ArOnUndropped = false, bool TarAcrossBoundary = false, bool TarOnDropped = false,
        double[]? UntiedDecoder = null, bool MergedBiases = false);

    public sealed record Result(double CrossEntropy, double Ar, double Tar, double[][] FinalH, double[][]? FinalC)
    {
        public double Total => CrossEntropy + Ar + Tar;
    }

    /// <summary>One window. h0[l], c0[l] are [B·H]; inputs and targets [T·B] (row t·B + b).</summary>
    public static Result Loss(ModelShape shape, IReadOnlyDictionary<string, double[]> p, int[] inputs, int[] targets, int steps, int batch,
        double[][] h0, double[][]? c0, Regularization? training, long step, Variant variant = default)
    {
        int hidden = shape.Hidden, vocab = shape.Vocab, layers = shape.Layers;
        var e = p[ModelShape.EncoderWeight];
        // x[t][b] : H-vector
        var x = new double[steps][][];
        for (int t = 0; t < steps; t++)
        {
            x[t] = new double[batch][];
            for (int b = 0; b < batch; b++) x[t][b] = e.AsSpan(inputs[t * batch + b] * hidden, hidden).ToArray();
        }
        if (training is { } r0) x = Drop(x, r0.Dropout, r0.Seed, step, 0);

        var finalH = new double[layers][];
        var finalC = c0 is null ? null : new double[layers][];
        double[][][] last = x, lastDropped = x;
        for (int l = 0; l < layers; l++)
        {
            var wih = p[ModelShape.WeightIh(l)];
            var whh = p[ModelShape.WeightHh(l)];
            var bih = p[ModelShape.BiasIh(l)];
            var bhh = p[ModelShape.BiasHh(l)];
            var y = new double[steps][][];
            finalH[l] = new double[batch * hidden];
            if (finalC is not null) finalC[l] = new double[batch * hidden];
            for (int t = 0; t < steps; t++) y[t] = new double[batch][];
            for (int b = 0; b < batch; b++)
            {
                var h = h0[l].AsSpan(b * hidden, hidden).ToArray();
                var c = c0?[l].AsSpan(b * hidden, hidden).ToArray();
                for (int t = 0; t < steps; t++)
                {
                    (h, c) = Cell(shape.Cell, hidden, wih, whh, bih, bhh, lastDropped[t][b], h, c, variant.MergedBiases);
                    y[t][b] = h;
                }
                h.CopyTo(finalH[l], b * hidden);
                c?.CopyTo(finalC![l], b * hidden);
            }
            last = y;
            lastDropped = training is { } r ? Drop(y, l < layers - 1 ? r.DropoutH : r.Dropout, r.Seed, step, l + 1) : y;
        }

        var o = lastDropped;        // the dropped output: what the decoder sees
        var hL = last;              // the undropped last layer
        var decoder = variant.UntiedDecoder ?? e;
        var bias = p[ModelShape.DecoderBias];
        double ce = 0;
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < batch; b++)
            {
                var z = new double[vocab];
                for (int v = 0; v < vocab; v++)
                {
                    z[v] = bias[v];
                    for (int j = 0; j < hidden; j++) z[v] += o[t][b][j] * decoder[v * hidden + j];
                }
                double max = z.Max();
                ce += Math.Log(z.Sum(zv => Math.Exp(zv - max))) + max - z[targets[t * batch + b]];
            }
        ce /= steps * batch;
        if (training is not { } reg) return new Result(ce, 0, 0, finalH, finalC);

        var arSource = variant.ArOnUndropped ? hL : o;
        double ar = 0;
        foreach (var row in arSource) foreach (var v in row) foreach (var s in v) ar += s * s;
        ar = reg.Alpha * ar / (steps * batch * hidden);

        var tarSource = variant.TarOnDropped ? o : hL;
        double tar = 0;
        int first = variant.TarAcrossBoundary ? 0 : 1, pairs = 0;
        for (int t = first; t < steps; t++)
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < hidden; j++, pairs++)
                {
                    double previous = t == 0 ? h0[layers - 1][b * hidden + j] : tarSource[t - 1][b][j];
                    double d = tarSource[t][b][j] - previous;
                    tar += d * d;
                }
        tar = pairs == 0 ? 0 : reg.Beta * tar / pairs;
        return new Result(ce, ar, tar, finalH, finalC);
    }

    private static double[][][] Drop(double[][][] x, double p, ulong seed, long step, int site)
    {
        var mask = new DropoutMask(p, seed, step, site);
        int batch = x[0].Length, hidden = x[0][0].Length;
        var y = new double[x.Length][][];
        for (int t = 0; t < x.Length; t++)
        {
            y[t] = new double[batch][];
            for (int b = 0; b < batch; b++)
            {
                y[t][b] = new double[hidden];
                for (int j = 0; j < hidden; j++)
                    y[t][b][j] = mask.Keep(((long)t * batch + b) * hidden + j) ? x[t][b][j] / (1 - p) : 0;
            }
        }
        return y;
    }

    private static (double[] H, double[]? C) Cell(CellType cell, int hidden, double[] wih, double[] whh, double[] bih, double[] bhh,
        double[] x, double[] h, double[]? c, bool mergedBiases)
    {
        int gates = cell.Gates() * hidden, input = x.Length;
        var a = new double[gates];   // W_ih x + b_ih
        var u = new double[gates];   // W_hh h + b_hh
        for (int k = 0; k < gates; k++)
        {
            a[k] = bih[k];
            for (int j = 0; j < input; j++) a[k] += wih[k * input + j] * x[j];
            u[k] = mergedBiases ? 0 : bhh[k];
            for (int j = 0; j < hidden; j++) u[k] += whh[k * hidden + j] * h[j];
        }
        if (mergedBiases && cell == CellType.Gru)
            for (int k = 0; k < gates; k++) a[k] += bhh[k];   // one bias b_ih + b_hh, b_hn then escapes r
        static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
        var hNew = new double[hidden];
        double[]? cNew = c is null ? null : new double[hidden];
        for (int j = 0; j < hidden; j++)
        {
            switch (cell)
            {
                case CellType.Lstm:
                {
                    double i = Sigmoid(a[j] + u[j]), f = Sigmoid(a[hidden + j] + u[hidden + j]);
                    double g = Math.Tanh(a[2 * hidden + j] + u[2 * hidden + j]), o = Sigmoid(a[3 * hidden + j] + u[3 * hidden + j]);
                    cNew![j] = f * c![j] + i * g;
                    hNew[j] = o * Math.Tanh(cNew[j]);
                    break;
                }
                case CellType.Gru:
                {
                    double r = Sigmoid(a[j] + u[j]), z = Sigmoid(a[hidden + j] + u[hidden + j]);
                    double n = Math.Tanh(a[2 * hidden + j] + r * u[2 * hidden + j]);
                    hNew[j] = (1 - z) * n + z * h[j];
                    break;
                }
                default:
                    hNew[j] = Math.Tanh(a[j] + u[j]);
                    break;
            }
        }
        return (hNew, cNew);
    }
}
