namespace ArTar.Backends;

/// <summary>
/// The operations a language-model step is made of (docs/design.md §3), each one CUDA kernel (or cuDNN/cuBLAS call) on the GPU
/// and one method of <c>ArTar.Cpu.CpuBackend&lt;T&gt;</c>, the reference. Tensors are handles owned by the backend.
/// Activations are row-major [T,B,·] (row r = t·B + b); token tensors hold ids in the same row order.
/// Every gradient op says whether it overwrites or accumulates (+=) its outputs; parameter gradients always accumulate.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>A short name for logs ("cpu-float32", "cuda").</summary>
    string Name { get; }

    /// <summary>
    /// One line for the start of a run and for summary.json: "cpu: 2 cores, float32" or "cuda: NVIDIA H200 (sm_90),
    /// driver 13.0, cuDNN 9.x.y, cuBLAS 13.x.y, float32".
    /// </summary>
    string Description { get; }

    /// <summary>A zeroed buffer of <paramref name="length"/> elements of the backend's element type.</summary>
    ITensor Allocate(long length);

    /// <summary>A zeroed buffer of <paramref name="length"/> token ids.</summary>
    ITensor AllocateTokens(int length);

    /// <summary>Host → backend, into the first <c>source.Length</c> elements.</summary>
    void Upload(ReadOnlySpan<float> source, ITensor destination);

    /// <summary>Backend → host, the first <c>destination.Length</c> elements.</summary>
    void Download(ITensor source, Span<float> destination);

    /// <summary>Host → backend token ids, into the first <c>source.Length</c> elements.</summary>
    void UploadTokens(ReadOnlySpan<int> source, ITensor destination);

    void Zero(ITensor tensor);

    /// <summary>Builds (zeroed) the parameter arena and its gradient twin for a model shape.</summary>
    IParameterArena CreateParameters(ModelShape shape);

    /// <summary>The reserve for layer <paramref name="layer"/> of a model, for windows of up to maxSteps × batch rows.</summary>
    IRnnReserve CreateRnnReserve(ModelShape shape, int layer, int maxSteps, int batch);

    /// <summary>output[r,:] = embedding[tokens[r],:] for r &lt; rows (docs/design.md §1 embedding). Overwrites.</summary>
    void EmbeddingForward(ITensor embedding, ITensor tokens, ITensor output, int rows, int hidden);

    /// <summary>dEmbedding[tokens[r],:] += dOutput[r,:] for r &lt; rows. Accumulates.</summary>
    void EmbeddingBackward(ITensor dOutput, ITensor tokens, ITensor dEmbedding, int rows, int hidden);

    /// <summary>y[i] = keep(i) ? x[i]·scale : 0 for i &lt; count (docs/backend.md mapping). Overwrites; y may be x.</summary>
    void DropoutForward(ITensor x, ITensor y, long count, DropoutMask mask);

    /// <summary>dx[i] (+)= keep(i) ? dy[i]·scale : 0 for i &lt; count, same mask as the forward. dx may be dy when not accumulating.</summary>
    void DropoutBackward(ITensor dy, ITensor dx, long count, DropoutMask mask, bool accumulate);

    /// <summary>
    /// One recurrent layer over a window (docs/design.md §1 cells): y [steps,batch,H] from x [steps,batch,in] and the carried
    /// state h0 (and c0 for an LSTM; null otherwise) [batch,H]; writes the final state to hT (cT). The state outputs must not
    /// alias the inputs. With <paramref name="training"/>, leaves in <paramref name="reserve"/> all its backward needs.
    /// </summary>
    void RnnForward(IParameterArena parameters, int layer, ITensor x, ITensor h0, ITensor? c0,
        ITensor y, ITensor hT, ITensor? cT, IRnnReserve reserve, int steps, int batch, bool training);

    /// <summary>
    /// Backward of the last training <see cref="RnnForward"/> on <paramref name="reserve"/> (truncated BPTT: no gradient
    /// arrives at the final state). dy [steps,batch,H] is the gradient at every output. Overwrites dx [steps,batch,in],
    /// dh0 and dc0 (the gradient wrt the carried input state; dc0 null unless LSTM); accumulates the layer's weight and
    /// bias gradients into the arena.
    /// </summary>
    void RnnBackward(IParameterArena parameters, int layer, ITensor dy, ITensor dx, ITensor dh0, ITensor? dc0, IRnnReserve reserve);

    /// <summary>
    /// AR and TAR of docs/design.md §1 in one pass: AR = α·mean(o²) over steps·batch·hidden, TAR = β·mean((h[t+1]−h[t])²) over
    /// (steps−1)·batch·hidden, inside the window. o is the dropped output, h the undropped last layer, both [steps,batch,hidden].
    /// Accumulates the gradients into dO and dH when they are given (both or neither).
    /// </summary>
    ArTarLoss ArTarRegularization(ITensor o, ITensor h, ITensor? dO, ITensor? dH, int steps, int batch, int hidden,
        double alpha, double beta);

    /// <summary>
    /// Tied decoder and cross-entropy (docs/design.md §1): z = o·Eᵀ + c over rows [rows,H] into <paramref name="logits"/> [rows,V]
    /// (scratch), returns mean over rows of −log softmax(z)[target]. With gradients (dO, dEmbedding, dBias all given):
    /// dz = (softmax − onehot)/rows, dO = dz·E (overwrites), dEmbedding += dzᵀ·o, dBias += Σ_rows dz.
    /// </summary>
    double TiedSoftmaxCrossEntropy(ITensor embedding, ITensor bias, ITensor o, ITensor targets, ITensor logits,
        ITensor? dO, ITensor? dEmbedding, ITensor? dBias, int rows);

    /// <summary>squaredNorm[0] = Σ g² over the whole tensor (the global gradient norm², docs/design.md §1). Stays on the backend.</summary>
    void GradientSquaredNorm(ITensor gradients, ITensor squaredNorm);

    /// <summary>
    /// SGD step of docs/design.md §1: scale = clip &gt; 0 and ‖g‖ &gt; clip ? clip/‖g‖ : 1, w −= lr·(g·scale + wd·w), with
    /// ‖g‖ = sqrt(squaredNorm[0]) as left by <see cref="GradientSquaredNorm"/> (kernels/clip_decay_update.cu clip_decay_update).
    /// </summary>
    void ClipDecayUpdate(ITensor weights, ITensor gradients, ITensor squaredNorm, double clip, double lr, double weightDecay);
}

/// <summary>The two regularisation terms of one window, already scaled by α and β.</summary>
public readonly record struct ArTarLoss(double Ar, double Tar);
