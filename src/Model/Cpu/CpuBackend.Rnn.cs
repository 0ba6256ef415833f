using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

// The recurrent layer of docs/design.md §1 for all three cells: one code path, the cell only in the pointwise step.
// The input projection x·W_ihᵀ + b_ih is one GEMM over the whole window; only h·W_hhᵀ + b_hh runs step by step.
public sealed partial class CpuBackend<T>
{
    public void RnnForward(IParameterArena parameters, int layer, ITensor x, ITensor h0, ITensor? c0,
        ITensor y, ITensor hT, ITensor? cT, IRnnReserve reserve, int steps, int batch, bool training)
    {
        var p = Arena(parameters);
        var r = Reserve(reserve, p.Shape, layer, steps, batch);
        bool lstm = r.Cell == CellType.Lstm;
        if (lstm != (c0 is not null) || lstm != (cT is not null))
            throw new ArgumentException($"the cell state c0/cT is given exactly for an LSTM (this layer is {r.Cell.ConfigName()})");
        int hidden = r.Hidden, input = r.Input, gh = p.Shape.Gates * hidden, rows = steps * batch, bh = batch * hidden;
        var views = p.Layers[layer];
        var wih = views.WeightIh.Weight.Span;
        var whh = views.WeightHh.Weight.Span;
        var bih = views.BiasIh.Weight.Span;
        var bhh = views.BiasHh.Weight.Span;

        var xs = r.X.AsSpan(0, rows * input);
        Data(x)[..xs.Length].CopyTo(xs);
        var states = r.States.AsSpan(0, rows * hidden + bh);
        Data(h0)[..bh].CopyTo(states);
        if (lstm) Data(c0!)[..bh].CopyTo(r.C0);

        // Gate pre-activations from the input side, all steps at once: x·W_ihᵀ + b_ih. Except for a GRU, whose n gate
        // needs W_hn·h + b_hn apart, b_hh joins them here and each step adds h·W_hhᵀ straight onto them.
        bool gru = r.Cell == CellType.Gru;
        var gates = r.Gates.AsSpan(0, rows * gh);
        Gemm.Multiply(false, true, rows, gh, input, T.One, xs, input, wih, input, T.Zero, gates, gh);
        for (int row = 0; row < rows; row++)
        {
            var g = gates.Slice(row * gh, gh);
            TensorPrimitives.Add(g, bih, g);
            if (!gru) TensorPrimitives.Add(g, bhh, g);
        }

        var hg = r.HiddenGates.AsSpan(0, batch * gh);
        Gemm.Pack(true, hidden, gh, whh, hidden, r.PackedWhh);   // W_hhᵀ once for every step of the window
        for (int t = 0; t < steps; t++)
        {
            var hPrev = states.Slice(t * bh, bh);
            var gt = gates.Slice(t * batch * gh, batch * gh);
            if (gru) for (int b = 0; b < batch; b++) bhh.CopyTo(hg.Slice(b * gh, gh));
            Gemm.Multiply(false, batch, gh, hidden, T.One, hPrev, hidden, r.PackedWhh, T.One, gru ? hg : gt, gh);
            Cells(r, t, batch, backward: false);
        }

        states.Slice(bh, rows * hidden).CopyTo(Data(y));
        states.Slice(rows * hidden, bh).CopyTo(Data(hT));
        if (lstm) r.CellStates.AsSpan((steps - 1) * bh, bh).CopyTo(Data(cT!));
        r.Steps = steps;
        r.UsedBatch = batch;
        r.HasForward = training;
    }

    public void RnnBackward(IParameterArena parameters, int layer, ITensor dy, ITensor dx, ITensor dh0, ITensor? dc0, IRnnReserve reserve)
    {
        var p = Arena(parameters);
        var r = reserve as CpuRnnReserve<T> ?? throw new ArgumentException($"reserve {reserve?.GetType().Name ?? "null"} does not belong to the {typeof(T).Name} CPU backend");
        if (!r.HasForward) throw new InvalidOperationException($"RnnBackward on layer {layer} without a training forward before it");
        if (r.Layer != layer) throw new ArgumentException($"reserve of layer {r.Layer} used for layer {layer}");
        bool lstm = r.Cell == CellType.Lstm, gru = r.Cell == CellType.Gru;
        if (lstm != (dc0 is not null)) throw new ArgumentException("dc0 is given exactly for an LSTM");
        int steps = r.Steps, batch = r.UsedBatch, hidden = r.Hidden, input = r.Input;
        int gh = p.Shape.Gates * hidden, rows = steps * batch, bh = batch * hidden;
        var views = p.Layers[layer];

        var dys = Data(dy)[..(rows * hidden)];
        var states = r.States.AsSpan(0, rows * hidden + bh);
        var dHidden = r.DHiddenGates.AsSpan(0, rows * gh);
        var dInput = r.DInputGates.AsSpan(0, rows * gh);
        var dh = r.DH.AsSpan(0, bh);
        var dhNext = r.DHNext.AsSpan(0, bh);
        var dcNext = r.DCNext.AsSpan(0, bh);
        dhNext.Clear();
        dcNext.Clear();
        var whh = views.WeightHh.Weight.Span;

        Gemm.Pack(false, gh, hidden, whh, hidden, r.PackedWhh);   // W_hh once for every step of the window

        // Truncated BPTT: dh_T = 0; walk back through the window.
        for (int t = steps - 1; t >= 0; t--)
        {
            TensorPrimitives.Add(dys.Slice(t * bh, bh), dhNext, dh);
            Cells(r, t, batch, backward: true);
            // dh_{t-1} = dHg·W_hh (+ the GRU's direct z ⊙ dh, already in dhNext).
            Gemm.Multiply(false, batch, hidden, gh, T.One, dHidden.Slice(t * batch * gh, batch * gh), gh, r.PackedWhh,
                gru ? T.One : T.Zero, dhNext, hidden);
        }
        dhNext.CopyTo(Data(dh0));
        if (lstm) dcNext.CopyTo(Data(dc0!));

        // Weight gradients over the whole window at once: dW_hh += dHgᵀ·h_{t-1}, dW_ih += dXgᵀ·x, biases the column sums.
        Gemm.Multiply(true, false, gh, hidden, rows, T.One, dHidden, gh, states[..(rows * hidden)], hidden, T.One, views.WeightHh.Gradient.Span, hidden);
        Gemm.Multiply(true, false, gh, input, rows, T.One, dInput, gh, r.X.AsSpan(0, rows * input), input, T.One, views.WeightIh.Gradient.Span, input);
        var dbih = views.BiasIh.Gradient.Span;
        var dbhh = views.BiasHh.Gradient.Span;
        for (int row = 0; row < rows; row++)
        {
            TensorPrimitives.Add(dbih, dInput.Slice(row * gh, gh), dbih);
            TensorPrimitives.Add(dbhh, dHidden.Slice(row * gh, gh), dbhh);
        }
        Gemm.Multiply(false, false, rows, input, gh, T.One, dInput, gh, views.WeightIh.Weight.Span, input, T.Zero, Data(dx)[..(rows * input)], input);
    }

    // Cell work of step t on every row of the batch; a large batch×H is split by rows over the cores (rows are
    // independent, so the split does not change any result).
    private static void Cells(CpuRnnReserve<T> r, int t, int batch, bool backward)
    {
        int parts = (long)batch * r.Hidden >= ParallelCells ? Math.Min(Environment.ProcessorCount, batch) : 1;
        if (parts == 1) CellRows(r, t, batch, backward, 0, batch);
        else WorkerPair.Run(parts, new CellParts(r, t, batch, backward));
    }

    // Cells above this many batch×H elements a step are split over the cores.
    private const long ParallelCells = 1 << 13;

    /// <summary>One step's cell work for the rows of a part.</summary>
    private readonly struct CellParts(CpuRnnReserve<T> r, int t, int batch, bool backward) : IParts
    {
        public void Run(int part, int parts) =>
            CellRows(r, t, batch, backward, (int)((long)batch * part / parts), (int)((long)batch * (part + 1) / parts));
    }

    // Rows b0..b1 of step t, everything read from and written to the reserve (DH holds the gradient at h_t).
    private static void CellRows(CpuRnnReserve<T> r, int t, int batch, bool backward, int b0, int b1)
    {
        int hidden = r.Hidden, gh = r.Gates.Length / (r.MaxSteps * r.Batch), bh = batch * hidden, n = b1 - b0;
        bool lstm = r.Cell == CellType.Lstm, gru = r.Cell == CellType.Gru;
        int h0 = b0 * hidden, g0 = b0 * gh;
        Span<T> Rows(T[] a, int start) => a.AsSpan(start + h0, n * hidden);
        Span<T> GateRows(T[] a) => a.AsSpan(t * batch * gh + g0, n * gh);
        var cPrev = !lstm ? default : t == 0 ? Rows(r.C0, 0) : Rows(r.CellStates, (t - 1) * bh);
        var hPrev = Rows(r.States, t * bh);
        var h = Rows(r.States, (t + 1) * bh);
        if (!backward)
        {
            var extra = lstm ? Rows(r.CellStates, t * bh) : gru ? Rows(r.NewGateHidden, t * bh) : default;
            var tanhC = lstm ? Rows(r.TanhC, t * bh) : default;
            CellForward(r.Cell, GateRows(r.Gates), r.HiddenGates.AsSpan(g0, n * gh), hPrev, cPrev, extra, tanhC, h, n, hidden);
        }
        else
        {
            // The LSTM backward reads tanh(c_t) (kept by the forward), the GRU W_hn·h + b_hn.
            var extra = lstm ? Rows(r.TanhC, t * bh) : gru ? Rows(r.NewGateHidden, t * bh) : default;
            CellBackward(r.Cell, GateRows(r.Gates), hPrev, h, cPrev, extra, Rows(r.DH, 0), Rows(r.DHNext, 0), Rows(r.DCNext, 0),
                GateRows(r.DHiddenGates), GateRows(r.DInputGates), n, hidden);
        }
    }

    // One step of the cell (docs/design.md §1), batch rows of [G·H] pre-activations, left holding the activated gates: for an
    // LSTM and a tanh RNN gates holds the whole sum x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh; for a GRU x·W_ihᵀ + b_ih, and
    // hg = h·W_hhᵀ + b_hh.
    private static void CellForward(CellType cell, Span<T> gates, Span<T> hg, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> extra, Span<T> tanhC, Span<T> h, int batch, int hidden)
    {
        int gh = gates.Length / batch;
        for (int b = 0; b < batch; b++)
        {
            var g = gates.Slice(b * gh, gh);
            var hb = h.Slice(b * hidden, hidden);
            switch (cell)
            {
                case CellType.Lstm:
                {
                    // [i f g o]; c' = σ(f)·c + σ(i)·tanh(g); h' = σ(o)·tanh(c').
                    TensorPrimitives.Sigmoid(g[..(2 * hidden)], g[..(2 * hidden)]);
                    TensorPrimitives.Tanh(g.Slice(2 * hidden, hidden), g.Slice(2 * hidden, hidden));
                    TensorPrimitives.Sigmoid(g.Slice(3 * hidden, hidden), g.Slice(3 * hidden, hidden));
                    var c = extra.Slice(b * hidden, hidden);
                    TensorPrimitives.Multiply(g.Slice(hidden, hidden), cPrev.Slice(b * hidden, hidden), c);
                    TensorPrimitives.MultiplyAdd(g[..hidden], g.Slice(2 * hidden, hidden), c, c);
                    var tc = tanhC.Slice(b * hidden, hidden);
                    TensorPrimitives.Tanh(c, tc);
                    TensorPrimitives.Multiply(tc, g.Slice(3 * hidden, hidden), hb);
                    break;
                }
                case CellType.Gru:
                {
                    // r, z = σ(·); n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); h' = (1−z)⊙n + z⊙h = n + z⊙(h − n).
                    var a = hg.Slice(b * gh, gh);
                    TensorPrimitives.Add(g[..(2 * hidden)], a[..(2 * hidden)], g[..(2 * hidden)]);
                    TensorPrimitives.Sigmoid(g[..(2 * hidden)], g[..(2 * hidden)]);
                    var hn = extra.Slice(b * hidden, hidden);
                    a.Slice(2 * hidden, hidden).CopyTo(hn);
                    var n = g.Slice(2 * hidden, hidden);
                    TensorPrimitives.MultiplyAdd(g[..hidden], hn, n, n);
                    TensorPrimitives.Tanh(n, n);
                    var z = g.Slice(hidden, hidden);
                    var hp = hPrev.Slice(b * hidden, hidden);
                    for (int j = 0; j < hidden; j++) hb[j] = n[j] + z[j] * (hp[j] - n[j]);
                    break;
                }
                default:
                    // h' = tanh(W_ih x + b_ih + W_hh h + b_hh); the "gate" kept is h' itself.
                    TensorPrimitives.Tanh(g, g);
                    g.CopyTo(hb);
                    break;
            }
        }
    }

    // Backward of one step: from dh (the gradient at h_t) writes the gradients at the pre-activations, dHidden on the
    // W_hh side and dInput on the W_ih side (one array unless GRU), and carries dc (LSTM) or the direct z⊙dh (GRU) back.
    // extra: the LSTM's tanh(c_t), the GRU's W_hn·h_{t-1} + b_hn.
    private static void CellBackward(CellType cell, ReadOnlySpan<T> gates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> h,
        ReadOnlySpan<T> cPrev, ReadOnlySpan<T> extra, ReadOnlySpan<T> dh, Span<T> dhNext, Span<T> dcNext,
        Span<T> dHidden, Span<T> dInput, int batch, int hidden)
    {
        int gh = gates.Length / batch;
        T one = T.One;
        for (int b = 0; b < batch; b++)
        {
            var g = gates.Slice(b * gh, gh);
            var dg = dHidden.Slice(b * gh, gh);
            int o = b * hidden;
            switch (cell)
            {
                case CellType.Lstm:
                {
                    // extra holds tanh(c_t) here. Vectors, then the same expressions one element at a time.
                    int j = 0;
                    if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
                    {
                        var vone = Vector<T>.One;
                        for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
                        {
                            Vector<T> i = V(g, j), f = V(g, hidden + j), gg = V(g, 2 * hidden + j), og = V(g, 3 * hidden + j);
                            Vector<T> tc = V(extra, o + j), d = V(dh, o + j);
                            Vector<T> dc = V(dcNext, o + j) + d * og * (vone - tc * tc);
                            (dc * gg * i * (vone - i)).CopyTo(dg[j..]);
                            (dc * V(cPrev, o + j) * f * (vone - f)).CopyTo(dg[(hidden + j)..]);
                            (dc * i * (vone - gg * gg)).CopyTo(dg[(2 * hidden + j)..]);
                            (d * tc * og * (vone - og)).CopyTo(dg[(3 * hidden + j)..]);
                            (dc * f).CopyTo(dcNext[(o + j)..]);
                        }
                    }
                    for (; j < hidden; j++)
                    {
                        T i = g[j], f = g[hidden + j], gg = g[2 * hidden + j], og = g[3 * hidden + j];
                        T tc = extra[o + j];
                        T dc = dcNext[o + j] + dh[o + j] * og * (one - tc * tc);
                        dg[j] = dc * gg * i * (one - i);
                        dg[hidden + j] = dc * cPrev[o + j] * f * (one - f);
                        dg[2 * hidden + j] = dc * i * (one - gg * gg);
                        dg[3 * hidden + j] = dh[o + j] * tc * og * (one - og);
                        dcNext[o + j] = dc * f;
                    }
                    break;
                }
                case CellType.Gru:
                {
                    var dgi = dInput.Slice(b * gh, gh);
                    for (int j = 0; j < hidden; j++)
                    {
                        T rg = g[j], z = g[hidden + j], n = g[2 * hidden + j], d = dh[o + j];
                        T dnPre = d * (one - z) * (one - n * n);
                        T drPre = dnPre * extra[o + j] * rg * (one - rg);
                        T dzPre = d * (hPrev[o + j] - n) * z * (one - z);
                        dgi[j] = dg[j] = drPre;
                        dgi[hidden + j] = dg[hidden + j] = dzPre;
                        dgi[2 * hidden + j] = dnPre;
                        dg[2 * hidden + j] = dnPre * rg;   // r gates only the W_hn·h + b_hn part
                        dhNext[o + j] = d * z;
                    }
                    break;
                }
                default:
                    for (int j = 0; j < hidden; j++) dg[j] = dh[o + j] * (one - h[o + j] * h[o + j]);
                    break;
            }
        }
    }

    private static Vector<T> V(ReadOnlySpan<T> s, int at) => new(s[at..]);

    private static CpuRnnReserve<T> Reserve(IRnnReserve reserve, ModelShape shape, int layer, int steps, int batch)
    {
        var r = reserve as CpuRnnReserve<T> ?? throw new ArgumentException($"reserve {reserve?.GetType().Name ?? "null"} does not belong to the {typeof(T).Name} CPU backend");
        if (r.Layer != layer || r.Cell != shape.Cell || r.Hidden != shape.Hidden)
            throw new ArgumentException($"reserve of layer {r.Layer} ({r.Cell.ConfigName()}, H={r.Hidden}) used for layer {layer} of a {shape.Cell.ConfigName()} model with H={shape.Hidden}");
        if (steps <= 0 || steps > r.MaxSteps || batch <= 0 || batch > r.Batch)
            throw new ArgumentException($"window of {steps}×{batch} does not fit the RNN reserve of {r.MaxSteps}×{r.Batch}");
        return r;
    }
}
