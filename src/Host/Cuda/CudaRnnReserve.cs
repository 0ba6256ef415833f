using ArTar.Backends;

namespace ArTar.Cuda;

/// <summary>
/// One layer's cuDNN state for windows of up to MaxSteps × Batch (cudnnRNNForward, cudnn_adv.h): x/y RNN-data descriptors
/// (SEQ_MAJOR_UNPACKED, every sequence as long as the window), h/c descriptors [1,B,H], the device sequence lengths,
/// workspace and reserve space sized for MaxSteps (grown if cuDNN asks more for a shorter window), zero dhy/dcy
/// (truncated BPTT), and the pointers of the last training forward that its backward hands cuDNN again (LanguageModel
/// leaves them untouched in between).
/// </summary>
public sealed unsafe class CudaRnnReserve : IRnnReserve
{
    internal CudaRnnReserve(CudaBackend backend, ModelShape shape, int layer, int maxSteps, int batch)
    {
        if (layer < 0 || layer >= shape.Layers) throw new ArgumentOutOfRangeException(nameof(layer));
        if (maxSteps <= 0 || batch <= 0) throw new ArgumentException($"an RNN reserve needs steps and batch above zero (got {maxSteps}, {batch})");
        _backend = backend;
        Layer = layer;
        Label = $"layer {layer}";
        MaxSteps = maxSteps;
        Batch = batch;
        Cell = shape.Cell;
        Hidden = shape.Hidden;
        Input = shape.LayerInput(layer);
        Descriptor = backend.RnnDescriptor(shape.Cell, Input, Hidden);

        CudaStatus.Check(Cudnn.cudnnCreateRNNDataDescriptor(out var x));
        CudaStatus.Check(Cudnn.cudnnCreateRNNDataDescriptor(out var y));
        XDescriptor = x;
        YDescriptor = y;
        CudaStatus.Check(Cudnn.cudnnCreateTensorDescriptor(out var h));
        CudaStatus.Check(Cudnn.cudnnCreateTensorDescriptor(out var c));
        HDescriptor = h;
        CDescriptor = c;
        int* dims = stackalloc int[] { 1, batch, Hidden };
        int* strides = stackalloc int[] { batch * Hidden, Hidden, 1 };
        CudaStatus.Check(Cudnn.cudnnSetTensorNdDescriptor(h, CudnnDataType.CUDNN_DATA_FLOAT, 3, dims, strides));
        CudaStatus.Check(Cudnn.cudnnSetTensorNdDescriptor(c, CudnnDataType.CUDNN_DATA_FLOAT, 3, dims, strides));

        // Sized for the longest window (the sizes grow with T as a rule); a shorter window that needs more grows them in SetSteps.
        SetSteps(maxSteps);
        Allocate(TempSpaceNeeded());
        SequenceLengths = (CudaTensor)backend.AllocateTokens(batch);
        CudaStatus.Check(CudaDriver.cuMemsetD32Async(SequenceLengths.Pointer, (uint)maxSteps, (nuint)batch, backend.Stream));   // = Steps
        ZeroState = (CudaTensor)backend.Allocate((long)batch * Hidden);   // dhy = dcy = 0: no gradient at the final state
    }

    private readonly CudaBackend _backend;

    public int Layer { get; }
    internal string Label { get; }   // for error messages, built once
    public int MaxSteps { get; }
    public int Batch { get; }
    internal CellType Cell { get; }
    internal int Hidden { get; }
    internal int Input { get; }
    internal CudnnRnnDescriptor Descriptor { get; }
    internal CudnnRnnDataDescriptor XDescriptor { get; }
    internal CudnnRnnDataDescriptor YDescriptor { get; }
    internal CudnnTensorDescriptor HDescriptor { get; }
    internal CudnnTensorDescriptor CDescriptor { get; }
    internal nuint WorkspaceBytes { get; private set; }
    internal nuint ReserveBytes { get; private set; }
    internal DeviceMemory Workspace { get; private set; } = null!;
    internal DeviceMemory ReserveSpace { get; private set; } = null!;
    internal CudaTensor SequenceLengths { get; }   // device int32[B], every entry = Steps
    internal CudaTensor ZeroState { get; }

    /// <summary>The window length the descriptors and device lengths describe now (0 before the first use).</summary>
    internal int Steps { get; private set; }

    // The last training forward, for the backward.
    internal bool HasForward { get; set; }
    internal ulong X { get; set; }
    internal ulong Y { get; set; }
    internal ulong H0 { get; set; }
    internal ulong C0 { get; set; }

    /// <summary>
    /// Describes windows of <paramref name="steps"/>: host-side descriptor updates, the device lengths by a memset on the
    /// stream, and larger temporary buffers when cuDNN asks more for this length than was sized so far.
    /// </summary>
    internal void Use(int steps)
    {
        if (steps <= 0 || steps > MaxSteps) throw new ArgumentOutOfRangeException(nameof(steps), $"window of {steps} steps outside 1..{MaxSteps}");
        if (steps == Steps) return;
        SetSteps(steps);
        if (RnnTempSpace.Grown(new(WorkspaceBytes, ReserveBytes), TempSpaceNeeded()) is { } grown)
        {
            // cuDNN picks its algorithm per sequence length, so a shorter window (an epoch's last, generation) may want more
            // than MaxSteps did. Use runs before a forward, which rewrites the reserve: nothing in it is needed any more, but
            // kernels queued on the stream may still read the old buffers, so wait for them before freeing.
            _backend.Synchronize();
            Workspace.Dispose();
            ReserveSpace.Dispose();
            Allocate(grown);
        }
        CudaStatus.Check(CudaDriver.cuMemsetD32Async(SequenceLengths.Pointer, (uint)steps, (nuint)Batch, _backend.Stream));
    }

    private void SetSteps(int steps)
    {
        var lengths = new int[Batch];
        Array.Fill(lengths, steps);
        fixed (int* l = lengths)
        {
            CudaStatus.Check(Cudnn.cudnnSetRNNDataDescriptor(XDescriptor, CudnnDataType.CUDNN_DATA_FLOAT,
                CudnnRnnDataLayout.CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, steps, Batch, Input, l, null));
            CudaStatus.Check(Cudnn.cudnnSetRNNDataDescriptor(YDescriptor, CudnnDataType.CUDNN_DATA_FLOAT,
                CudnnRnnDataLayout.CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, steps, Batch, Hidden, l, null));
        }
        Steps = steps;
    }

    /// <summary>What cuDNN asks for the window the descriptors describe now: the workspace of either forward mode, the training reserve.</summary>
    private RnnTempSpace TempSpaceNeeded()
    {
        CudaStatus.Check(Cudnn.cudnnGetRNNTempSpaceSizes(_backend.Dnn, Descriptor, CudnnForwardMode.CUDNN_FWD_MODE_TRAINING, XDescriptor,
            out nuint work, out nuint reserve));
        CudaStatus.Check(Cudnn.cudnnGetRNNTempSpaceSizes(_backend.Dnn, Descriptor, CudnnForwardMode.CUDNN_FWD_MODE_INFERENCE, XDescriptor,
            out nuint inferenceWork, out _));
        return new(Math.Max(work, inferenceWork), reserve);
    }

    private void Allocate(RnnTempSpace space)
    {
        (WorkspaceBytes, ReserveBytes) = (space.Workspace, space.Reserve);
        Workspace = DeviceMemory.Allocate(Math.Max(WorkspaceBytes, 256));
        ReserveSpace = DeviceMemory.Allocate(Math.Max(ReserveBytes, 256));
    }

    public void Dispose()
    {
        XDescriptor.Dispose();
        YDescriptor.Dispose();
        HDescriptor.Dispose();
        CDescriptor.Dispose();
        Workspace.Dispose();
        ReserveSpace.Dispose();
        SequenceLengths.Dispose();
        ZeroState.Dispose();
    }
}

/// <summary>Bytes of an RNN layer's cuDNN workspace and reserve space.</summary>
internal readonly record struct RnnTempSpace(nuint Workspace, nuint Reserve)
{
    /// <summary>
    /// The buffers to allocate when a window needs <paramref name="needed"/> and <paramref name="current"/> is held: null
    /// when both fit, else the larger of each, so windows of alternating lengths settle on one size instead of
    /// reallocating each time.
    /// </summary>
    public static RnnTempSpace? Grown(RnnTempSpace current, RnnTempSpace needed) =>
        needed.Workspace <= current.Workspace && needed.Reserve <= current.Reserve
            ? null
            : new(Math.Max(current.Workspace, needed.Workspace), Math.Max(current.Reserve, needed.Reserve));
}
