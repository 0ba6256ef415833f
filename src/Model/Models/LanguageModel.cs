using ArTar.Backends;

namespace ArTar.Models;

/// <summary>
/// The language model of docs/design.md §1 over any backend, for one batch size: embedding → input dropout → L recurrent
/// layers with dropout between them → output dropout → tied decoder; AR on the dropped output, TAR on the undropped
/// last layer. It owns the activations of one window (up to <see cref="MaxSteps"/> × <see cref="Batch"/>) and the hidden
/// state carried from window to window; the parameters belong to the arena, which models of other batch sizes
/// (evaluation) may share.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    private readonly IBackend _backend;
    private readonly IParameterArena _parameters;
    private readonly ITensor _inputs, _targets;
    private readonly ITensor _embedded, _embeddedDropped, _dOutput, _dInput, _logits;
    private readonly ITensor[] _layerOut, _layerOutDropped, _dLayerOut;   // y^l; its dropped copy (input of layer l+1); dy^l
    private ITensor[] _h, _hNext;
    private ITensor?[] _c, _cNext;                            // carried state, swapped after each window
    private readonly ITensor[] _dh0;
    private readonly ITensor?[] _dc0;
    private readonly IRnnReserve[] _reserves;
    private readonly ITensor _encoderWeight, _decoderBias, _encoderGradient, _decoderBiasGradient;

    // What the last training forward needs to hand its backward.
    private int _steps;
    private long _step;
    private Regularization _regularization;
    private bool _backwardReady;

    public LanguageModel(IBackend backend, IParameterArena parameters, int batch, int maxSteps)
    {
        if (batch <= 0 || maxSteps <= 0) throw new ArgumentException($"a model needs batch and window above zero (got {batch}, {maxSteps})");
        _backend = backend;
        _parameters = parameters;
        Shape = parameters.Shape;
        Batch = batch;
        MaxSteps = maxSteps;
        int rows = batch * maxSteps, h = Shape.Hidden, layers = Shape.Layers;
        bool lstm = Shape.Cell == CellType.Lstm;
        _inputs = backend.AllocateTokens(rows);
        _targets = backend.AllocateTokens(rows);
        _embedded = backend.Allocate((long)rows * h);
        _embeddedDropped = backend.Allocate((long)rows * h);
        _dOutput = backend.Allocate((long)rows * h);
        _dInput = backend.Allocate((long)rows * h);
        _logits = backend.Allocate((long)rows * Shape.Vocab);
        _layerOut = Allocate(layers, (long)rows * h);
        _layerOutDropped = Allocate(layers, (long)rows * h);
        _dLayerOut = Allocate(layers, (long)rows * h);
        _h = Allocate(layers, (long)batch * h);
        _hNext = Allocate(layers, (long)batch * h);
        _dh0 = Allocate(layers, (long)batch * h);
        _c = lstm ? Allocate(layers, (long)batch * h) : new ITensor?[layers];
        _cNext = lstm ? Allocate(layers, (long)batch * h) : new ITensor?[layers];
        _dc0 = lstm ? Allocate(layers, (long)batch * h) : new ITensor?[layers];
        _reserves = new IRnnReserve[layers];
        for (int l = 0; l < layers; l++) _reserves[l] = backend.CreateRnnReserve(Shape, l, maxSteps, batch);
        _encoderWeight = parameters.Weight(ModelShape.EncoderWeight);
        _decoderBias = parameters.Weight(ModelShape.DecoderBias);
        _encoderGradient = parameters.Gradient(ModelShape.EncoderWeight);
        _decoderBiasGradient = parameters.Gradient(ModelShape.DecoderBias);
    }

    public ModelShape Shape { get; }
    public int Batch { get; }
    public int MaxSteps { get; }
    public IParameterArena Parameters => _parameters;

    /// <summary>The hidden state carried into the next window, layer <paramref name="layer"/>, [B,H].</summary>
    public ITensor HiddenState(int layer) => _h[layer];

    /// <summary>The LSTM cell state carried into the next window, [B,H]; null for GRU and tanh RNN.</summary>
    public ITensor? CellState(int layer) => Shape.Cell == CellType.Lstm ? _c[layer] : null;

    /// <summary>After <see cref="Backward"/>: d loss / d (hidden state carried into that window), layer <paramref name="layer"/>.</summary>
    public ITensor HiddenStateGradient(int layer) => _dh0[layer];

    /// <summary>After <see cref="Backward"/>: d loss / d (cell state carried into that window); null unless LSTM.</summary>
    public ITensor? CellStateGradient(int layer) => Shape.Cell == CellType.Lstm ? _dc0[layer] : null;

    /// <summary>
    /// The decoder's input of the last window, [steps, Batch, H]: the dropped output o after
    /// <see cref="ForwardWithLossGradients"/>, h^L after <see cref="Evaluate"/> (generation computes its logits from it).
    /// </summary>
    public ITensor Output { get; private set; } = null!;

    /// <summary>Zero state: the start of an epoch and of an evaluation (docs/design.md §1).</summary>
    public void ResetState()
    {
        for (int l = 0; l < Shape.Layers; l++)
        {
            _backend.Zero(_h[l]);
            if (_c[l] is { } c) _backend.Zero(c);
        }
    }

    /// <summary>
    /// Training forward of one window of <paramref name="steps"/> rows (inputs and targets are [steps, Batch] token ids,
    /// row-major, index t·Batch + b) with dropout masks of global step <paramref name="step"/>, then the loss CE + AR + TAR.
    /// It ZEROES the gradient arena and writes the loss heads' gradients in the same fused passes: the decoder's (dE, dc and
    /// d o), AR's (into d o) and TAR's (into d h^L). <see cref="Backward"/> completes them through the layers. Carries the
    /// final state into the next window.
    /// </summary>
    public WindowLoss ForwardWithLossGradients(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int steps, Regularization regularization, long step)
    {
        int rows = Rows(inputs, targets, steps), h = Shape.Hidden, layers = Shape.Layers;
        long count = (long)rows * h;
        var reg = regularization;

        _backend.UploadTokens(inputs, _inputs);
        _backend.UploadTokens(targets, _targets);
        _backend.EmbeddingForward(_encoderWeight, _inputs, _embedded, rows, h);
        _backend.DropoutForward(_embedded, _embeddedDropped, count, Mask(reg.Dropout, reg.Seed, step, 0));
        var x = _embeddedDropped;
        for (int l = 0; l < layers; l++)
        {
            _backend.RnnForward(_parameters, l, x, _h[l], _c[l], _layerOut[l], _hNext[l], _cNext[l], _reserves[l], steps, Batch, training: true);
            // Site l+1: between layer l+1 and l+2 (1-based) with dropout_h; site L: the output with dropout.
            _backend.DropoutForward(_layerOut[l], _layerOutDropped[l], count,
                Mask(l < layers - 1 ? reg.DropoutH : reg.Dropout, reg.Seed, step, l + 1));
            x = _layerOutDropped[l];
        }
        CarryState();

        var o = x;   // = m ⊙ h^L / (1 − dp): what feeds the decoder, and what AR regularises
        Output = o;
        _backend.Zero(_parameters.Gradients);
        double crossEntropy = _backend.TiedSoftmaxCrossEntropy(_encoderWeight, _decoderBias, o, _targets, _logits,
            _dOutput, _encoderGradient, _decoderBiasGradient, rows);
        // AR on o (dropped), TAR on h^L (undropped); the TAR gradient lands in dh^L, the AR one in do.
        var dLast = _dLayerOut[layers - 1];
        _backend.Zero(dLast);
        var artar = _backend.ArTarRegularization(o, _layerOut[layers - 1], _dOutput, dLast, steps, Batch, h, reg.Alpha, reg.Beta);

        _steps = steps;
        _step = step;
        _regularization = reg;
        _backwardReady = true;
        return new WindowLoss(crossEntropy, artar.Ar, artar.Tar);
    }

    /// <summary>
    /// Evaluation of one window: no dropout, no AR/TAR, no gradients; returns the mean cross-entropy. Carries the final state
    /// into the next window; <see cref="Output"/> is h^L afterwards (generation computes its logits from it).
    /// </summary>
    public double Evaluate(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int steps)
    {
        int rows = Rows(inputs, targets, steps), h = Shape.Hidden;
        _backwardReady = false;
        _backend.UploadTokens(inputs, _inputs);
        _backend.UploadTokens(targets, _targets);
        _backend.EmbeddingForward(_encoderWeight, _inputs, _embedded, rows, h);
        var x = _embedded;
        for (int l = 0; l < Shape.Layers; l++)
        {
            _backend.RnnForward(_parameters, l, x, _h[l], _c[l], _layerOut[l], _hNext[l], _cNext[l], _reserves[l], steps, Batch, training: false);
            x = _layerOut[l];
        }
        CarryState();
        Output = x;
        return _backend.TiedSoftmaxCrossEntropy(_encoderWeight, _decoderBias, x, _targets, _logits, null, null, null, rows);
    }

    private int Rows(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int steps)
    {
        if (steps <= 0 || steps > MaxSteps)
            throw new ArgumentOutOfRangeException(nameof(steps), $"window of {steps} steps outside 1..{MaxSteps}");
        int rows = steps * Batch;
        if (inputs.Length != rows || targets.Length != rows)
            throw new ArgumentException($"a window of {steps}×{Batch} needs {rows} inputs and targets (got {inputs.Length}, {targets.Length})");
        return rows;
    }

    // Truncated BPTT: the final state is the next window's carried state.
    private void CarryState()
    {
        (_h, _hNext) = (_hNext, _h);
        (_c, _cNext) = (_cNext, _c);
    }

    /// <summary>
    /// Backward of the last <see cref="ForwardWithLossGradients"/>: leaves ∇(CE + AR + TAR) in the gradient arena (overwritten by that
    /// forward, not accumulated across windows) and the gradients wrt the carried input state in
    /// <see cref="HiddenStateGradient"/> / <see cref="CellStateGradient"/>.
    /// </summary>
    public void Backward()
    {
        if (!_backwardReady) throw new InvalidOperationException("Backward needs a ForwardWithLossGradients before it");
        _backwardReady = false;
        int rows = _steps * Batch, h = Shape.Hidden, layers = Shape.Layers;
        long count = (long)rows * h;
        var reg = _regularization;

        _backend.DropoutBackward(_dOutput, _dLayerOut[layers - 1], count, Mask(reg.Dropout, reg.Seed, _step, layers), accumulate: true);
        for (int l = layers - 1; l >= 0; l--)
        {
            _backend.RnnBackward(_parameters, l, _dLayerOut[l], _dInput, _dh0[l], _dc0[l], _reserves[l]);
            if (l > 0)
                _backend.DropoutBackward(_dInput, _dLayerOut[l - 1], count, Mask(reg.DropoutH, reg.Seed, _step, l), accumulate: false);
        }
        _backend.DropoutBackward(_dInput, _dInput, count, Mask(reg.Dropout, reg.Seed, _step, 0), accumulate: false);
        _backend.EmbeddingBackward(_dInput, _inputs, _encoderGradient, rows, h);
    }

    public void Dispose()
    {
        foreach (var t in new[] { _inputs, _targets, _embedded, _embeddedDropped, _dOutput, _dInput, _logits }) t.Dispose();
        foreach (var group in new ITensor?[][] { _layerOut, _layerOutDropped, _dLayerOut, _h, _c, _hNext, _cNext, _dh0, _dc0 })
            foreach (var t in group) t?.Dispose();
        foreach (var r in _reserves) r.Dispose();
    }

    private static DropoutMask Mask(double p, ulong seed, long step, int site) => new(p, seed, step, site);

    private ITensor[] Allocate(int n, long length)
    {
        var tensors = new ITensor[n];
        for (int i = 0; i < n; i++) tensors[i] = _backend.Allocate(length);
        return tensors;
    }
}
