// Every IBackend operation of one training window at one model shape, on any backend, with the inputs a real step
// gives it (random weights, ids, activations and gradients from a fixed seed), so the CPU and GPU suites time the same
// calls and the GPU suite can check each kernel against the CPU reference first (llm.c dev/cuda).
using ArTar.Backends;

namespace ArTar.Bench;

/// <summary>
/// One operation to time. <see cref="Flops"/> (compute-bound ops, against the FMA or SGEMM peak) or <see cref="Bytes"/>
/// (memory-bound ops, bytes read + written once each, against copy bandwidth); the other is 0.
/// <see cref="Reset"/> restores what the op writes to its initial values; <see cref="Result"/> reads its output back
/// (with any scalar it returns appended) for the check against the reference.
/// </summary>
internal sealed record OpCase(string Name, string Family, double Flops, double Bytes, Action Run, Action Reset, Func<float[]> Result)
{
    /// <summary>A case whose time is part of this one's and is subtracted from it (a backward needs its forward first).</summary>
    public string? Minus { get; init; }
}

internal sealed class OpWorkload : IDisposable
{
    private readonly IBackend _b;
    private readonly List<IDisposable> _owned = [];
    private readonly List<(ITensor Tensor, float[] Data)> _initial = [];
    private double _lastScalar, _lastScalar2;

    public ModelShape Shape { get; }
    public int Batch { get; }
    public int Steps { get; }
    public IParameterArena Parameters { get; }
    public IReadOnlyList<OpCase> Cases { get; }

    public OpWorkload(IBackend backend, ModelShape shape, int batch, int steps, ulong seed = 1111)
    {
        _b = backend;
        Shape = shape;
        Batch = batch;
        Steps = steps;
        int rows = batch * steps, H = shape.Hidden, V = shape.Vocab, L = shape.Layers, G = shape.Gates;
        long n = (long)rows * H;
        var rng = new Random((int)seed);
        bool lstm = shape.Cell == CellType.Lstm;

        Parameters = backend.CreateParameters(shape);
        Models.ParameterInit.Initialize(Parameters, seed);
        var ids = new int[rows];
        for (int i = 0; i < rows; i++) ids[i] = rng.Next(V);
        var tokens = backend.AllocateTokens(rows);
        _owned.Add(tokens);
        backend.UploadTokens(ids, tokens);
        for (int i = 0; i < rows; i++) ids[i] = rng.Next(V);
        var targets = backend.AllocateTokens(rows);
        _owned.Add(targets);
        backend.UploadTokens(ids, targets);

        ITensor Random(long length, double scale) => Tensor(length, () => (float)((rng.NextDouble() * 2 - 1) * scale));
        ITensor Zeros(long length) => Tensor(length, () => 0f);
        var x = Random(n, 0.1);                 // an activation [T,B,H]
        var y = Zeros(n);
        var o = Random(n, 0.5);                 // dropped output
        var hLast = Random(n, 0.5);             // undropped last layer
        var dy = Random(n, 1e-3);               // a gradient arriving at an activation
        var dx = Zeros(n);
        var dO = Zeros(n);
        var dH = Zeros(n);
        var logits = Zeros((long)rows * V);
        var h0 = Random((long)batch * H, 0.5);
        var c0 = lstm ? Random((long)batch * H, 0.5) : null;
        var hT = Zeros((long)batch * H);
        var cT = lstm ? Zeros((long)batch * H) : null;
        var dh0 = Zeros((long)batch * H);
        var dc0 = lstm ? Zeros((long)batch * H) : null;
        var squaredNorm = Zeros(1);
        var reserve = backend.CreateRnnReserve(shape, 0, steps, batch);
        var encoder = Parameters.Weight(ModelShape.EncoderWeight);
        var bias = Parameters.Weight(ModelShape.DecoderBias);
        var dEncoder = Parameters.Gradient(ModelShape.EncoderWeight);
        var dBias = Parameters.Gradient(ModelShape.DecoderBias);
        // Saved copies of the arena (same backend, same layout, padding zero): the weights as initialised and gradients
        // of the size a backward leaves, written by canonical name so both backends hold the same values.
        var savedWeights = backend.Allocate(Parameters.Weights.Length);
        Copy(Parameters.Weights, savedWeights);
        var savedGradients = backend.Allocate(Parameters.Gradients.Length);
        using (var scratch = backend.CreateParameters(shape))
        {
            foreach (var spec in Parameters.Specs)
            {
                var g = new float[spec.Count];
                for (int i = 0; i < g.Length; i++) g[i] = (float)((rng.NextDouble() * 2 - 1) * 1e-3);
                scratch.Write(spec.Name, g);
            }
            Copy(scratch.Weights, savedGradients);
        }
        _owned.Add(savedWeights);
        _owned.Add(savedGradients);
        void ResetArena() { Copy(savedWeights, Parameters.Weights); Copy(savedGradients, Parameters.Gradients); }
        // Through the host: both backends hold float32 here, so the round trip is exact (outside every timed region).
        void Copy(ITensor source, ITensor destination)
        {
            var values = new float[source.Length];
            backend.Download(source, values);
            backend.Upload(values, destination);
        }
        ResetArena();
        float[] CanonicalWeights()
        {
            var all = new List<float>();
            foreach (var spec in Parameters.Specs)
            {
                var w = new float[spec.Count];
                Parameters.Read(spec.Name, w);
                all.AddRange(w);
            }
            return [.. all];
        }

        var mask = new DropoutMask(0.4, seed, 7, 1);
        double f4 = sizeof(float), P = Parameters.Weights.Length;
        double rnnFlops = 2.0 * rows * G * H * (shape.LayerInput(0) + H);   // input projection + recurrent product, per direction
        Action none = () => { };
        float[] Read(ITensor t, int extra = 0)
        {
            var a = new float[t.Length + extra];
            backend.Download(t, a.AsSpan(0, (int)t.Length));
            return a;
        }
        float[] WithScalars(ITensor t, int count)
        {
            var a = Read(t, count);
            a[^count] = (float)_lastScalar;
            if (count > 1) a[^1] = (float)_lastScalar2;
            return a;
        }
        void Reset(params ITensor?[] ts)
        {
            foreach (var t in ts)
                if (t is not null) backend.Upload(_initial.First(p => ReferenceEquals(p.Tensor, t)).Data, t);
        }

        var cases = new List<OpCase>
        {
            new("EmbeddingForward", "embedding", 0, 2 * n * f4 + rows * 4.0,
                () => backend.EmbeddingForward(encoder, tokens, y, rows, H), () => Reset(y), () => Read(y)),
            new("EmbeddingBackward", "embedding", 0, 3 * n * f4 + rows * 4.0,
                () => backend.EmbeddingBackward(dy, tokens, dEncoder, rows, H), ResetArena, () => Read(dEncoder)),
            new("DropoutForward", "dropout", 0, 2 * n * f4,
                () => backend.DropoutForward(x, y, n, mask), () => Reset(y), () => Read(y)),
            new("DropoutBackward (accumulate)", "dropout", 0, 3 * n * f4,
                () => backend.DropoutBackward(dy, dx, n, mask, accumulate: true), () => Reset(dx), () => Read(dx)),
            new("RnnForward (training, 1 layer)", "rnn", rnnFlops, 0,
                () => backend.RnnForward(Parameters, 0, x, h0, c0, y, hT, cT, reserve, steps, batch, training: true), () => Reset(y, hT, cT), () => Read(y)),
            new("RnnBackward (1 layer)", "rnn", 2 * rnnFlops, 0,   // dX, dW_ih, dh and dW_hh products
                () =>
                {
                    // cuDNN needs a training forward before each backward, as in a step; its time is subtracted in the tables.
                    backend.RnnForward(Parameters, 0, x, h0, c0, y, hT, cT, reserve, steps, batch, training: true);
                    backend.RnnBackward(Parameters, 0, dy, dx, dh0, dc0, reserve);
                }, () => { ResetArena(); Reset(y, hT, cT, dx, dh0, dc0); }, () => Read(dx)) { Minus = "RnnForward (training, 1 layer)" },
            new("ArTarRegularization (fwd+grad)", "artar_regularization", 0, 6 * n * f4,
                () => { var l = backend.ArTarRegularization(o, hLast, dO, dH, steps, batch, H, 2.0, 1.0); (_lastScalar, _lastScalar2) = (l.Ar, l.Tar); },
                () => Reset(dO, dH), () => WithScalars(dO, 2)),
            new("TiedSoftmaxCrossEntropy (eval)", "softmax", 2.0 * rows * V * H, 0,
                () => _lastScalar = backend.TiedSoftmaxCrossEntropy(encoder, bias, o, targets, logits, null, null, null, rows),
                none, () => [(float)_lastScalar]),
            new("TiedSoftmaxCrossEntropy (fwd+grad)", "softmax", 3 * 2.0 * rows * V * H, 0,
                () => _lastScalar = backend.TiedSoftmaxCrossEntropy(encoder, bias, o, targets, logits, dO, dEncoder, dBias, rows),
                () => { ResetArena(); Reset(dO); }, () => WithScalars(dO, 1)),
            new("GradientSquaredNorm (arena)", "gradient_squared_norm", 0, P * f4,
                () => backend.GradientSquaredNorm(Parameters.Gradients, squaredNorm), ResetArena, () => Read(squaredNorm)),
            new("ClipDecayUpdate (arena)", "clip_decay_update", 0, 3 * P * f4,
                () => backend.ClipDecayUpdate(Parameters.Weights, Parameters.Gradients, squaredNorm, 0.25, 20, 1e-7),
                () => { ResetArena(); backend.GradientSquaredNorm(Parameters.Gradients, squaredNorm); }, CanonicalWeights),
        };
        _owned.Add(reserve);
        Cases = cases;
    }

    private ITensor Tensor(long length, Func<float> value)
    {
        var data = new float[length];
        for (long i = 0; i < length; i++) data[i] = value();
        var t = _b.Allocate(length);
        _b.Upload(data, t);
        _owned.Add(t);
        _initial.Add((t, data));
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        Parameters.Dispose();
    }
}
