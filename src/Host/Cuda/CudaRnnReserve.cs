using ArTar.Backends;

namespace ArTar.Cuda;

/// <summary>
/// One layer's cuDNN state for windows of up to MaxSteps × Batch (cuda-interop.md §4.7): x/y RNN-data descriptors
/// (SEQ_MAJOR_UNPACKED, every sequence as long as the window), h/c descriptors [1,B,H], the device sequence lengths,
/// workspace and reserve space sized once for MaxSteps, zero dhy/dcy (truncated BPTT), and the pointers of the last
/// training forward that its backward hands cuDNN again (LanguageModel leaves them untouched in between).
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

        // Sized once for the longest window (the sizes grow with T); shorter windows are checked against them in SetSteps.
        SetSteps(maxSteps, check: false);
        CudaStatus.Check(Cudnn.cudnnGetRNNTempSpaceSizes(backend.Dnn, Descriptor, CudnnForwardMode.CUDNN_FWD_MODE_TRAINING, XDescriptor,
            out nuint work, out nuint reserve));
        CudaStatus.Check(Cudnn.cudnnGetRNNTempSpaceSizes(backend.Dnn, Descriptor, CudnnForwardMode.CUDNN_FWD_MODE_INFERENCE, XDescriptor,
            out nuint inferenceWork, out _));
        WorkspaceBytes = Math.Max(work, inferenceWork);
        ReserveBytes = reserve;
        Workspace = DeviceMemory.Allocate(Math.Max(WorkspaceBytes, 256));
        ReserveSpace = DeviceMemory.Allocate(Math.Max(ReserveBytes, 256));
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
    internal nuint WorkspaceBytes { get; }
    internal nuint ReserveBytes { get; }
    internal DeviceMemory Workspace { get; }
    internal DeviceMemory ReserveSpace { get; }
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

    /// <summary>Describes windows of <paramref name="steps"/>: host-side descriptor updates, and the device lengths by a memset on the stream.</summary>
    internal void Use(int steps)
    {
        if (steps <= 0 || steps > MaxSteps) throw new ArgumentOutOfRangeException(nameof(steps), $"window of {steps} steps outside 1..{MaxSteps}");
        if (steps == Steps) return;
        SetSteps(steps, check: true);
        CudaStatus.Check(CudaDriver.cuMemsetD32Async(SequenceLengths.Pointer, (uint)steps, (nuint)Batch, _backend.Stream));
    }

    private void SetSteps(int steps, bool check)
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
        if (!check) return;
        CudaStatus.Check(Cudnn.cudnnGetRNNTempSpaceSizes(_backend.Dnn, Descriptor, CudnnForwardMode.CUDNN_FWD_MODE_TRAINING, XDescriptor,
            out nuint work, out nuint reserve));
        if (work > WorkspaceBytes || reserve > ReserveBytes)
            throw new InvalidOperationException($"cuDNN wants {work} + {reserve} bytes for {steps} steps, more than the {WorkspaceBytes} + {ReserveBytes} sized for {MaxSteps}");
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
