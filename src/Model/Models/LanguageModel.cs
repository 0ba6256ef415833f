using ArTar.Backends;

namespace ArTar.Models;

/// <summary>
/// The language model of DESIGN §1 over any backend, for one batch size: embedding → input dropout → L recurrent
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
    private readonly ITensor _parameterEncoder, _parameterDecoder, _gradientEncoder, _gradientDecoder;

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
        _parameterEncoder = parameters.Weight(ModelShape.EncoderWeight);
        _parameterDecoder = parameters.Weight(ModelShape.DecoderBias);
        _gradientEncoder = parameters.Gradient(ModelShape.EncoderWeight);
        _gradientDecoder = parameters.Gradient(ModelShape.DecoderBias);
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
    /// The decoder's input of the last <see cref="Forward"/>, [steps, Batch, H]: the dropped output o in training, h^L in
    /// evaluation (generation computes its logits from it).
    /// </summary>
    public ITensor Output { get; private set; } = null!;

    /// <summary>Zero state: the start of an epoch and of an evaluation (DESIGN §1).</summary>
    public void ResetState()
    {
        for (int l = 0; l < Shape.Layers; l++)
        {
            _backend.Zero(_h[l]);
            if (_c[l] is { } c) _backend.Zero(c);
        }
    }

    /// <summary>
    /// Forward of one window of <paramref name="steps"/> rows: inputs and targets are [steps, Batch] token ids
    /// (row-major, index t·Batch + b). Carries the final state into the next window.
    /// Training (<paramref name="training"/> given): dropout with masks of global step <paramref name="step"/>, AR and TAR;
    /// the gradient arena is zeroed and the loss heads' gradients (decoder, AR, TAR) are taken in the same fused passes;
    /// <see cref="Backward"/> completes them. Evaluation (null): no dropout, no AR/TAR, CE only.
    /// </summary>
    public WindowLoss Forward(ReadOnlySpan<int> inputs, ReadOnlySpan<int> targets, int steps, Regularization? training, long step)
    {
        if (steps <= 0 || steps > MaxSteps)
            throw new ArgumentOutOfRangeException(nameof(steps), $"window of {steps} steps outside 1..{MaxSteps}");
        int rows = steps * Batch, h = Shape.Hidden, layers = Shape.Layers;
        if (inputs.Length != rows || targets.Length != rows)
            throw new ArgumentException($"a window of {steps}×{Batch} needs {rows} inputs and targets (got {inputs.Length}, {targets.Length})");
        long count = (long)rows * h;
        bool train = training is not null;
        var reg = training.GetValueOrDefault();

        _backend.UploadTokens(inputs, _inputs);
        _backend.UploadTokens(targets, _targets);
        _backend.EmbeddingForward(_parameterEncoder, _inputs, _embedded, rows, h);
        var x = _embedded;
        if (train)
        {
            _backend.DropoutForward(_embedded, _embeddedDropped, count, Mask(reg.Dropout, reg.Seed, step, 0));
            x = _embeddedDropped;
        }
        for (int l = 0; l < layers; l++)
        {
            _backend.RnnForward(_parameters, l, x, _h[l], _c[l], _layerOut[l], _hNext[l], _cNext[l], _reserves[l], steps, Batch, train);
            x = _layerOut[l];
            if (train)
            {
                // Site l+1: between layer l+1 and l+2 (1-based) with dropout_h; site L: the output with dropout.
                _backend.DropoutForward(_layerOut[l], _layerOutDropped[l], count,
                    Mask(l < layers - 1 ? reg.DropoutH : reg.Dropout, reg.Seed, step, l + 1));
                x = _layerOutDropped[l];
            }
        }
        // Truncated BPTT: the final state is the next window's carried state.
        (_h, _hNext) = (_hNext, _h);
        (_c, _cNext) = (_cNext, _c);

        var o = x;   // = m ⊙ h^L / (1 − dp) in training, h^L in evaluation
        Output = o;
        if (!train)
        {
            _backwardReady = false;
            double ce = _backend.TiedSoftmaxCrossEntropy(_parameterEncoder, _parameterDecoder, o, _targets, _logits, null, null, null, rows);
            return new WindowLoss(ce, 0.0, 0.0);
        }

        _backend.Zero(_parameters.Gradients);
        double crossEntropy = _backend.TiedSoftmaxCrossEntropy(_parameterEncoder, _parameterDecoder, o, _targets, _logits,
            _dOutput, _gradientEncoder, _gradientDecoder, rows);
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
    /// Backward of the last training <see cref="Forward"/>: leaves ∇(CE + AR + TAR) in the gradient arena (overwritten by that
    /// forward, not accumulated across windows) and the gradients wrt the carried input state in
    /// <see cref="HiddenStateGradient"/> / <see cref="CellStateGradient"/>.
    /// </summary>
    public void Backward()
    {
        if (!_backwardReady) throw new InvalidOperationException("Backward needs a training Forward before it");
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
        _backend.EmbeddingBackward(_dInput, _inputs, _gradientEncoder, rows, h);
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
