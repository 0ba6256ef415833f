namespace ArTar.Backends;

/// <summary>
/// The size rules of every <see cref="IBackend"/> op, checked in one place: each backend's op calls its rule first (one
/// line), so the CPU and the GPU refuse the same calls with the same message. A rule throws an
/// <see cref="ArgumentException"/> naming the op and the tensor; it reads only lengths, never data (token ids are checked
/// by each backend where it holds them). The rules are those of the ops' documentation on <see cref="IBackend"/>.
/// </summary>
public static class OpContract
{
    /// <summary><see cref="IBackend.EmbeddingForward"/> / <see cref="IBackend.EmbeddingBackward"/>: rows tokens, rows×hidden activations, a table of whole rows.</summary>
    public static void Embedding(string op, ITensor table, ITensor tokens, ITensor activations, int rows, int hidden)
    {
        if (rows < 0 || hidden <= 0 || table.Length % hidden != 0)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{op}: rows {rows}, hidden {hidden}, a table of {table.Length} values");
        Fits(op, "tokens", rows, tokens);
        Fits(op, "activations", (long)rows * hidden, activations);
    }

    /// <summary><see cref="IBackend.DropoutForward"/> / <see cref="IBackend.DropoutBackward"/>: count elements in and out.</summary>
    public static void Dropout(string op, ITensor input, ITensor output, long count, DropoutMask mask)
    {
        mask.Validate();
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), $"{op}: count {count}");
        Fits(op, "input", count, input);
        Fits(op, "output", count, output);
    }

    /// <summary><see cref="IBackend.ArTarRegularization"/>: steps×batch×hidden in o and h, and in both gradients or neither.</summary>
    public static void ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden)
    {
        const string op = nameof(IBackend.ArTarRegularization);
        if ((dO is null) != (dH is null)) throw new ArgumentException($"{op} takes both gradients or neither");
        if (steps < 0 || batch <= 0 || hidden <= 0) throw new ArgumentOutOfRangeException(nameof(steps), $"{op}: steps {steps}, batch {batch}, hidden {hidden}");
        long n = (long)steps * batch * hidden;
        Fits(op, "o", n, o);
        Fits(op, "h", n, h);
        if (dO is not null) Fits(op, "dO", n, dO);
        if (dH is not null) Fits(op, "dH", n, dH);
    }

    /// <summary>
    /// <see cref="IBackend.TiedSoftmaxCrossEntropy"/>: E is V×H with V the bias's length; o rows×H, targets rows, logits
    /// rows×V; all three gradients or none (dO rows×H, dE as E, dBias as the bias). Returns (V, H).
    /// </summary>
    public static (int Vocab, int Hidden) TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
        ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows)
    {
        const string op = nameof(IBackend.TiedSoftmaxCrossEntropy);
        bool gradients = dO is not null;
        if (gradients != (dEmbedding is not null) || gradients != (dBias is not null))
            throw new ArgumentException($"{op} takes all three gradients or none");
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), $"{op}: cross-entropy over {rows} rows");
        if (bias.Length == 0 || embedding.Length % bias.Length != 0)
            throw new ArgumentException($"{op}: an embedding of {embedding.Length} values is no whole number of rows of the bias's {bias.Length}");
        int vocab = checked((int)bias.Length), hidden = checked((int)(embedding.Length / bias.Length));
        Fits(op, "o", (long)rows * hidden, o);
        Fits(op, "targets", rows, targets);
        Fits(op, "logits", (long)rows * vocab, logits);
        if (gradients)
        {
            Fits(op, "dO", (long)rows * hidden, dO!);
            Fits(op, "dEmbedding", embedding.Length, dEmbedding!);
            Fits(op, "dBias", vocab, dBias!);
        }
        return (vocab, hidden);
    }

    /// <summary><see cref="IBackend.GradientSquaredNorm"/>: one element out.</summary>
    public static void GradientSquaredNorm(ITensor squaredNorm) => Fits(nameof(IBackend.GradientSquaredNorm), "squaredNorm", 1, squaredNorm);

    /// <summary><see cref="IBackend.ClipDecayUpdate"/>: weights and gradients of one length, one element of ‖g‖².</summary>
    public static void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm)
    {
        const string op = nameof(IBackend.ClipDecayUpdate);
        if (weights.Length != gradients.Length)
            throw new ArgumentException($"{op} needs weights and gradients of one length (got {weights.Length} and {gradients.Length})");
        Fits(op, "squaredNorm", 1, squaredNorm);
    }

    /// <summary>The one message of a tensor too small for its part of an op.</summary>
    public static void Fits(string op, string tensor, long needed, ITensor available)
    {
        if (needed > available.Length)
            throw new ArgumentException($"{op}: {tensor} needs {needed} elements, the tensor holds {available.Length}");
    }
}
