using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// The reference backend: every op of <see cref="IBackend"/> in managed code, generic over the element type
/// (float for training, double for the gradient checks). Matrix products go through <see cref="Gemm.Multiply{T}"/>;
/// elementwise work through TensorPrimitives (vectorised). Nothing is allocated inside an op.
/// </summary>
public sealed partial class CpuBackend<T> : IBackend where T : unmanaged, IFloatingPointIeee754<T>
{
    // Sums of many squares are taken chunk by chunk in T (vectorised) and added up in double.
    private const int ReductionChunk = 4096;

    // Dropout mask words drawn per chunk (on the stack; a multiple of 32 keeps the vector Philox on whole groups).
    private const int DropoutChunk = 1024;

    public string Name => typeof(T) == typeof(float) ? "cpu-float32" : typeof(T) == typeof(double) ? "cpu-float64" : $"cpu-{typeof(T).Name}";

    public string Description => $"cpu: {Environment.ProcessorCount} cores, {(typeof(T) == typeof(float) ? "float32" : typeof(T) == typeof(double) ? "float64" : typeof(T).Name)}";

    public ITensor Allocate(long length)
    {
        if (length < 0 || length > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(length), $"cannot allocate {length} elements on the CPU");
        return new CpuTensor<T>(new T[length], 0, (int)length);
    }

    public ITensor AllocateTokens(int length) => new CpuTokens(length);

    public void Upload(ReadOnlySpan<float> source, ITensor destination)
    {
        var d = Data(destination);
        CheckFits(source.Length, d.Length, nameof(Upload));
        for (int i = 0; i < source.Length; i++) d[i] = T.CreateTruncating(source[i]);
    }

    public void Download(ITensor source, Span<float> destination)
    {
        var s = Data(source);
        CheckFits(destination.Length, s.Length, nameof(Download));
        for (int i = 0; i < destination.Length; i++) destination[i] = float.CreateTruncating(s[i]);
    }

    public void UploadTokens(ReadOnlySpan<int> source, ITensor destination)
    {
        var d = Tokens(destination);
        CheckFits(source.Length, d.Length, nameof(UploadTokens));
        source.CopyTo(d);
    }

    public void Zero(ITensor tensor)
    {
        if (tensor is CpuTokens tokens) tokens.Ids.AsSpan().Clear();
        else Data(tensor).Clear();
    }

    public void Copy(ITensor source, ITensor destination)
    {
        var s = Data(source);
        var d = Data(destination);
        CheckFits(s.Length, d.Length, nameof(Copy));
        s.CopyTo(d);
    }

    public IParameterArena CreateParameters(ModelShape shape) => new CpuParameterArena<T>(shape);

    public IRnnReserve CreateRnnReserve(ModelShape shape, int layer, int maxSteps, int batch) =>
        new CpuRnnReserve<T>(shape, layer, maxSteps, batch);

    public void EmbeddingForward(ITensor embedding, ITensor tokens, ITensor output, int rows, int hidden)
    {
        var e = Data(embedding);
        var ids = Tokens(tokens)[..rows];
        var y = Data(output)[..(rows * hidden)];
        int vocab = e.Length / hidden;
        for (int r = 0; r < rows; r++)
            e.Slice(CheckToken(ids[r], vocab) * hidden, hidden).CopyTo(y.Slice(r * hidden, hidden));
    }

    public void EmbeddingBackward(ITensor dOutput, ITensor tokens, ITensor dEmbedding, int rows, int hidden)
    {
        var dy = Data(dOutput)[..(rows * hidden)];
        var ids = Tokens(tokens)[..rows];
        var de = Data(dEmbedding);
        int vocab = de.Length / hidden;
        for (int r = 0; r < rows; r++)
        {
            var row = de.Slice(CheckToken(ids[r], vocab) * hidden, hidden);
            TensorPrimitives.Add(row, dy.Slice(r * hidden, hidden), row);
        }
    }

    public void DropoutForward(ITensor x, ITensor y, long count, DropoutMask mask) =>
        ApplyDropout(Data(x), Data(y), checked((int)count), mask, accumulate: false);

    public void DropoutBackward(ITensor dy, ITensor dx, long count, DropoutMask mask, bool accumulate) =>
        ApplyDropout(Data(dy), Data(dx), checked((int)count), mask, accumulate);

    // y (+)= keep ? x·scale : 0 — the forward and the backward are the same masked scaling.
    private static void ApplyDropout(Span<T> x, Span<T> y, int count, DropoutMask mask, bool accumulate)
    {
        mask.Validate();
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

    public ArTarLoss ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden,
        double alpha, double beta)
    {
        if ((dO is null) != (dH is null)) throw new ArgumentException("ArTarRegularization takes both gradients or neither");
        int n = steps * batch * hidden, bh = batch * hidden, m = n - bh;
        var os = Data(o)[..n];
        var hs = Data(h)[..n];

        // AR, DESIGN §1: α·mean(o²) on the dropped output; d/do = 2α·o/n.
        double ar = alpha == 0.0 ? 0.0 : alpha * SumOfSquares(os) / n;
        if (dO is not null && alpha != 0.0)
        {
            var d = Data(dO)[..n];
            TensorPrimitives.MultiplyAdd(os, T.CreateTruncating(2.0 * alpha / n), d, d);
        }

        // TAR, DESIGN §1: β·mean((h[t+1]−h[t])²) over the window only (t = 0..T-2), on the undropped last layer.
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

    public double TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
        ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows)
    {
        bool gradients = dO is not null;
        if (gradients != (dEmbedding is not null) || gradients != (dBias is not null))
            throw new ArgumentException("TiedSoftmaxCrossEntropy takes all three gradients or none");
        var e = Data(embedding);
        var c = Data(bias);
        int vocab = c.Length, hidden = e.Length / vocab;
        var os = Data(o)[..(rows * hidden)];
        var z = Data(logits)[..(rows * vocab)];

        // z = o·Eᵀ + c: the decoder is the embedding, transposed (tied weights, DESIGN §1).
        Gemm.Multiply(false, true, rows, vocab, hidden, T.One, os, hidden, e, hidden, T.Zero, z, vocab);
        var job = _softmax ??= new SoftmaxRows();
        job.Set(Tensor(logits), Tensor(bias), targets as CpuTokens ?? throw new ArgumentException("expected CPU token tensor targets"), rows, vocab, gradients);
        // Rows split over the cores; each row's loss is kept and the losses summed in row order, so the result does not
        // depend on the split. The bias gradient is split by columns, each summed over the rows in order.
        int parts = (long)rows * vocab >= ParallelSoftmax ? Math.Min(Environment.ProcessorCount, rows) : 1;
        if (parts > 1) WorkerPair.Run(parts, job.RunParts(parts));
        else job.Run(0, 1);
        double loss = 0.0;
        for (int r = 0; r < rows; r++) loss += job.RowLoss[r];
        if (gradients)
        {
            Gemm.Multiply(false, false, rows, hidden, vocab, T.One, z, vocab, e, hidden, T.Zero, Data(dO!)[..(rows * hidden)], hidden);
            Gemm.Multiply(true, false, vocab, hidden, rows, T.One, z, vocab, os, hidden, T.One, Data(dEmbedding!), hidden);
            job.SetBiasGradient(Tensor(dBias!));
            if (parts > 1) WorkerPair.Run(parts, job.BiasParts(parts));
            else job.SumBias(0, 1);
        }
        return loss / rows;
    }

    // Logits above this many elements have their softmax split over the cores.
    private const long ParallelSoftmax = 1 << 18;

    private SoftmaxRows? _softmax;

    /// <summary>
    /// The row-wise part of <see cref="TiedSoftmaxCrossEntropy"/> over a range of rows (and the bias gradient over a range
    /// of columns), on arrays so that the parts can run on the thread pool; the delegates are made once.
    /// </summary>
    private sealed class SoftmaxRows
    {
        private T[] _z = [], _c = [], _dc = [];
        private int _zOffset, _cOffset, _dcOffset, _rows, _vocab, _parts;
        private int[] _targets = [];
        private bool _gradients;
        public double[] RowLoss = [];
        private readonly Action<int> _runPart, _biasPart;

        public SoftmaxRows()
        {
            _runPart = part => Run(part, _parts);
            _biasPart = part => SumBias(part, _parts);
        }

        public void Set((T[] Array, int Offset) z, (T[] Array, int Offset) c, CpuTokens targets, int rows, int vocab, bool gradients)
        {
            (_z, _zOffset, _c, _cOffset, _rows, _vocab, _gradients) = (z.Array, z.Offset, c.Array, c.Offset, rows, vocab, gradients);
            _targets = targets.Ids;
            for (int r = 0; r < rows; r++) CheckToken(_targets[r], vocab);   // before any part runs
            if (RowLoss.Length < rows) RowLoss = new double[rows];
        }

        public void SetBiasGradient((T[] Array, int Offset) dc) => (_dc, _dcOffset) = dc;

        public Action<int> RunParts(int parts) { _parts = parts; return _runPart; }

        public Action<int> BiasParts(int parts) { _parts = parts; return _biasPart; }

        public void Run(int part, int parts)
        {
            var c = _c.AsSpan(_cOffset, _vocab);
            T invRows = T.One / T.CreateTruncating(_rows);
            for (int r = (int)((long)_rows * part / parts), end = (int)((long)_rows * (part + 1) / parts); r < end; r++)
            {
                var zr = _z.AsSpan(_zOffset + r * _vocab, _vocab);
                TensorPrimitives.Add(zr, c, zr);
                int y = _targets[r];
                // Stable log-softmax: −log p_y = log Σ exp(z − max) + max − z_y.
                T max = TensorPrimitives.Max(zr);
                T zy = zr[y];
                TensorPrimitives.Subtract(zr, max, zr);
                TensorPrimitives.Exp(zr, zr);
                T sum = TensorPrimitives.Sum(zr);
                RowLoss[r] = double.CreateTruncating(T.Log(sum) + max - zy);
                if (_gradients)
                {
                    // dz = (softmax − onehot)/rows, left in place of the logits.
                    TensorPrimitives.Multiply(zr, invRows / sum, zr);
                    zr[y] -= invRows;
                }
            }
        }

        // dc[v] += Σ_r dz[r, v] for the columns of this part, rows in order.
        public void SumBias(int part, int parts)
        {
            int v0 = (int)((long)_vocab * part / parts), v1 = (int)((long)_vocab * (part + 1) / parts);
            var dc = _dc.AsSpan(_dcOffset + v0, v1 - v0);
            for (int r = 0; r < _rows; r++) TensorPrimitives.Add(dc, _z.AsSpan(_zOffset + r * _vocab + v0, v1 - v0), dc);
        }
    }

    public void GradientSquaredNorm(ITensor gradients, ITensor squaredNorm)
    {
        var job = _arena ??= new ArenaPass();
        job.Set(Tensor(gradients), default, checked((int)gradients.Length), default, default, default);
        int chunks = job.Chunks, parts = ArenaParts(job.Length);
        if (parts > 1) WorkerPair.Run(parts, job.NormParts(parts));
        else job.Norm(0, 1);
        // Chunk sums added in chunk order: the same number whatever the split (and as one thread summing chunk by chunk).
        double sum = 0.0;
        for (int k = 0; k < chunks; k++) sum += job.ChunkSums[k];
        Data(squaredNorm)[0] = T.CreateTruncating(sum);
    }

    public void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm, double clip, double lr, double weightDecay)
    {
        if (weights.Length != gradients.Length) throw new ArgumentException("ClipDecayUpdate needs weights and gradients of one length");
        // As kernels/sgd.cu: the norm is read from the backend, the update done in the element type.
        T norm = T.Sqrt(Data(squaredNorm)[0]);
        T c = T.CreateTruncating(clip);
        T scale = clip > 0.0 && norm > c ? c / norm : T.One;
        var job = _arena ??= new ArenaPass();
        job.Set(Tensor(gradients), Tensor(weights), checked((int)gradients.Length), scale, T.CreateTruncating(lr), T.CreateTruncating(weightDecay));
        int parts = ArenaParts(job.Length);
        if (parts > 1) WorkerPair.Run(parts, job.UpdateParts(parts));
        else job.Update(0, 1);
    }

    // Passes over more than this many elements (the gradient arena of a real model) are split over the cores.
    private static int ArenaParts(int length) => length >= 1 << 20 ? Math.Min(2, Environment.ProcessorCount) : 1;

    private ArenaPass? _arena;

    /// <summary>
    /// The norm and the update over the whole arena, by ranges of whole chunks (<see cref="ReductionChunk"/> elements),
    /// on arrays so that the thread pool can run the parts; the delegates are made once.
    /// </summary>
    private sealed class ArenaPass
    {
        private T[] _g = [], _w = [];
        private int _gOffset, _wOffset, _parts;
        private T _scale, _rate, _decay;
        public double[] ChunkSums = [];
        private readonly Action<int> _norm, _update;

        public ArenaPass()
        {
            _norm = part => Norm(part, _parts);
            _update = part => Update(part, _parts);
        }

        public int Length { get; private set; }
        public int Chunks => (Length + ReductionChunk - 1) / ReductionChunk;

        public void Set((T[] Array, int Offset) g, (T[]? Array, int Offset) w, int length, T scale, T rate, T decay)
        {
            (_g, _gOffset, _w, _wOffset, _scale, _rate, _decay) = (g.Array, g.Offset, w.Array ?? [], w.Offset, scale, rate, decay);
            Length = length;
            if (ChunkSums.Length < Chunks) ChunkSums = new double[Chunks];
        }

        public Action<int> NormParts(int parts) { _parts = parts; return _norm; }

        public Action<int> UpdateParts(int parts) { _parts = parts; return _update; }

        private (int, int) Range(int part, int parts)
        {
            int chunks = Chunks;
            int c0 = (int)((long)chunks * part / parts), c1 = (int)((long)chunks * (part + 1) / parts);
            return (c0 * ReductionChunk, Math.Min(Length, c1 * ReductionChunk));
        }

        public void Norm(int part, int parts)
        {
            var (i0, i1) = Range(part, parts);
            for (int i = i0; i < i1; i += ReductionChunk)
                ChunkSums[i / ReductionChunk] = double.CreateTruncating(
                    TensorPrimitives.SumOfSquares(_g.AsSpan(_gOffset + i, Math.Min(ReductionChunk, i1 - i))));
        }

        // w −= lr·(g·scale + wd·w) (kernels/sgd.cu), vectors then the same expression one element at a time.
        public void Update(int part, int parts)
        {
            var (i0, i1) = Range(part, parts);
            var w = _w.AsSpan(_wOffset + i0, i1 - i0);
            var g = _g.AsSpan(_gOffset + i0, i1 - i0);
            T scale = _scale, rate = _rate, decay = _decay;
            int i = 0;
            if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
            {
                var vs = new Vector<T>(scale);
                var vr = new Vector<T>(rate);
                var vd = new Vector<T>(decay);
                for (; i <= w.Length - Vector<T>.Count; i += Vector<T>.Count)
                {
                    var wv = new Vector<T>(w[i..]);
                    var gv = new Vector<T>(g[i..]);
                    (wv - vr * (gv * vs + vd * wv)).CopyTo(w[i..]);
                }
            }
            for (; i < w.Length; i++) w[i] -= rate * (g[i] * scale + decay * w[i]);
        }
    }

    public void Dispose() { }

    /// <summary>The elements behind a handle of this backend (tests and the model's host-side checks use it).</summary>
    public static Span<T> Data(ITensor tensor) => tensor switch
    {
        CpuTensor<T> t => t.Span,
        null => throw new ArgumentNullException(nameof(tensor)),
        _ => throw new ArgumentException($"tensor {tensor.GetType().Name} does not belong to the {typeof(T).Name} CPU backend"),
    };

    private static (T[] Array, int Offset) Tensor(ITensor tensor) => tensor is CpuTensor<T> t ? (t.Array, t.Offset)
        : throw new ArgumentException($"tensor {tensor?.GetType().Name ?? "null"} does not belong to the {typeof(T).Name} CPU backend");

    public static Span<int> Tokens(ITensor tensor) => tensor as CpuTokens is { } t ? t.Ids
        : throw new ArgumentException($"expected a CPU token tensor, got {tensor?.GetType().Name ?? "null"}");

    private static CpuParameterArena<T> Arena(IParameterArena arena) => arena as CpuParameterArena<T>
        ?? throw new ArgumentException($"parameter arena {arena?.GetType().Name ?? "null"} does not belong to the {typeof(T).Name} CPU backend");

    private static double SumOfSquares(ReadOnlySpan<T> x)
    {
        double sum = 0.0;
        for (int i = 0; i < x.Length; i += ReductionChunk)
            sum += double.CreateTruncating(TensorPrimitives.SumOfSquares(x.Slice(i, Math.Min(ReductionChunk, x.Length - i))));
        return sum;
    }

    private static int CheckToken(int id, int vocab) =>
        (uint)id < (uint)vocab ? id : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} outside the vocabulary of {vocab}");

    private static void CheckFits(int needed, int available, string op)
    {
        if (needed > available) throw new ArgumentException($"{op}: {needed} elements do not fit a tensor of {available}");
    }
}
