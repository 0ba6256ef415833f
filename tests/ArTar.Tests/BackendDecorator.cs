using ArTar.Backends;

namespace ArTar.Tests;

/// <summary>
/// An <see cref="IBackend"/> that forwards every member to another, the ops through one hook, <see cref="Op{T}"/>, under
/// the op's name. A test overrides the hook (timing every op) or one op (scripting a result). Written once: a member
/// added to <see cref="IBackend"/> fails to compile here and nowhere else, so no decorator can miss one.
/// Buffers and transfers (spans cannot be captured by the hook's delegate) are forwarded without it.
/// </summary>
public abstract class BackendDecorator(IBackend inner) : IBackend
{
    protected IBackend Inner { get; } = inner;

    /// <summary>Runs one op; <paramref name="name"/> is the IBackend member, with its layer or site where it has one.</summary>
    protected virtual T Op<T>(string name, Func<T> call) => call();

    private void Op(string name, Action call) => Op<bool>(name, () => { call(); return true; });

    public string Name => Inner.Name;
    public string Description => Inner.Description;
    public ITensor Allocate(long length) => Inner.Allocate(length);
    public ITensor AllocateTokens(int length) => Inner.AllocateTokens(length);
    public void Upload(ReadOnlySpan<float> source, ITensor destination) => Inner.Upload(source, destination);
    public void Download(ITensor source, Span<float> destination) => Inner.Download(source, destination);
    public void UploadTokens(ReadOnlySpan<int> source, ITensor destination) => Inner.UploadTokens(source, destination);
    public IParameterArena CreateParameters(ModelShape shape) => Inner.CreateParameters(shape);
    public IRnnReserve CreateRnnReserve(ModelShape shape, int layer, int maxSteps, int batch) => Inner.CreateRnnReserve(shape, layer, maxSteps, batch);

    public virtual void Zero(ITensor tensor) => Op($"{nameof(Zero)} {tensor.Length}", () => Inner.Zero(tensor));
    public virtual void EmbeddingForward(ITensor embedding, ITensor tokens, ITensor output, int rows, int hidden) =>
        Op(nameof(EmbeddingForward), () => Inner.EmbeddingForward(embedding, tokens, output, rows, hidden));
    public virtual void EmbeddingBackward(ITensor dOutput, ITensor tokens, ITensor dEmbedding, int rows, int hidden) =>
        Op(nameof(EmbeddingBackward), () => Inner.EmbeddingBackward(dOutput, tokens, dEmbedding, rows, hidden));
    public virtual void DropoutForward(ITensor x, ITensor y, long count, DropoutMask mask) =>
        Op($"{nameof(DropoutForward)} site {mask.Site}", () => Inner.DropoutForward(x, y, count, mask));
    public virtual void DropoutBackward(ITensor dy, ITensor dx, long count, DropoutMask mask, bool accumulate) =>
        Op($"{nameof(DropoutBackward)} site {mask.Site}", () => Inner.DropoutBackward(dy, dx, count, mask, accumulate));
    public virtual void RnnForward(IParameterArena parameters, int layer, ITensor x, ITensor h0, ITensor? c0, ITensor y, ITensor hT, ITensor? cT,
        IRnnReserve reserve, int steps, int batch, bool training) =>
        Op($"{nameof(RnnForward)} layer {layer}", () => Inner.RnnForward(parameters, layer, x, h0, c0, y, hT, cT, reserve, steps, batch, training));
    public virtual void RnnBackward(IParameterArena parameters, int layer, ITensor dy, ITensor dx, ITensor dh0, ITensor? dc0, IRnnReserve reserve) =>
        Op($"{nameof(RnnBackward)} layer {layer}", () => Inner.RnnBackward(parameters, layer, dy, dx, dh0, dc0, reserve));
    public virtual ArTarLoss ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden, double alpha, double beta) =>
        Op(nameof(ArTarRegularization), () => Inner.ArTarRegularization(o, h, dO, dH, steps, batch, hidden, alpha, beta));
    public virtual double TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
        ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows) =>
        Op(nameof(TiedSoftmaxCrossEntropy), () => Inner.TiedSoftmaxCrossEntropy(embedding, bias, o, targets, logits, dO, dEmbedding, dBias, rows));
    public virtual void GradientSquaredNorm(ITensor gradients, ITensor squaredNorm) =>
        Op(nameof(GradientSquaredNorm), () => Inner.GradientSquaredNorm(gradients, squaredNorm));
    public virtual void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm, double clip, double lr, double weightDecay) =>
        Op(nameof(ClipDecayUpdate), () => Inner.ClipDecayUpdate(weights, gradients, squaredNorm, clip, lr, weightDecay));

    public void Dispose() => Inner.Dispose();
}
