using ArTar.Backends;
using static ArTar.Cuda.KernelParameterKind;

namespace ArTar.Cuda;

/// <summary>
/// One recurrent layer through cuDNN's v8 RNN API (one call per layer, so our dropout can run between layers);
/// CPU reference <see cref="Cpu.CpuBackend{T}.RnnForward"/>.
/// </summary>
public sealed unsafe partial class CudaBackend
{
    /// <summary>One cuDNN RNN descriptor per (cell, input, hidden): ONE layer, double bias, FP32 data and math, FMA only (no TF32).</summary>
    internal CudnnRnnDescriptor RnnDescriptor(CellType cell, int input, int hidden)
    {
        if (_rnnDescriptors.TryGetValue((cell, input, hidden), out var d)) return d;
        return _rnnDescriptors[(cell, input, hidden)] = NewRnnDescriptor(cell, input, hidden, _noDropout);
    }

    /// <summary>A new descriptor as <see cref="RnnDescriptor"/> describes it (also the bring-up probe's, on its own handle).</summary>
    internal static CudnnRnnDescriptor NewRnnDescriptor(CellType cell, int input, int hidden, CudnnDropoutDescriptor noDropout)
    {
        CudaStatus.Check(Cudnn.cudnnCreateRNNDescriptor(out var d));
        var mode = cell switch
        {
            CellType.Lstm => CudnnRnnMode.CUDNN_LSTM,
            CellType.Gru => CudnnRnnMode.CUDNN_GRU,
            _ => CudnnRnnMode.CUDNN_RNN_TANH,
        };
        CudaStatus.Check(Cudnn.cudnnSetRNNDescriptor_v8(d, CudnnRnnAlgo.CUDNN_RNN_ALGO_STANDARD, mode, CudnnRnnBiasMode.CUDNN_RNN_DOUBLE_BIAS,
            CudnnDirectionMode.CUDNN_UNIDIRECTIONAL, CudnnRnnInputMode.CUDNN_LINEAR_INPUT, CudnnDataType.CUDNN_DATA_FLOAT,
            CudnnDataType.CUDNN_DATA_FLOAT, CudnnMathType.CUDNN_FMA_MATH, input, hidden, hidden, 1, noDropout,
            CudnnRnnAuxFlags.CUDNN_RNN_PADDED_IO_ENABLED));
        return d;
    }

    /// <summary>A dropout descriptor with p = 0 and no states, for the RNN descriptors (see the constructor).</summary>
    internal static CudnnDropoutDescriptor NoDropout(CudnnHandle dnn)
    {
        CudaStatus.Check(Cudnn.cudnnCreateDropoutDescriptor(out var d));
        CudaStatus.Check(Cudnn.cudnnSetDropoutDescriptor(d, dnn, 0f, 0, 0, 0));
        return d;
    }

    /// <summary>
    /// cudnnGetRNNWeightParams for one linLayerID of layer <paramref name="layer"/>'s weight space at <paramref name="space"/>,
    /// as a table row; the two descriptors keep cuDNN's answer (the bring-up probe logs them).
    /// </summary>
    internal static CudnnLinearLayer LinearLayer(CudnnHandle dnn, CudnnRnnDescriptor descriptor, nuint bytes, ulong space, int layer, int id, int hidden,
        CudnnTensorDescriptor matrixDescriptor, CudnnTensorDescriptor biasDescriptor)
    {
        CudaStatus.Check(Cudnn.cudnnGetRNNWeightParams(dnn, descriptor, 0, bytes, space, id,
            matrixDescriptor, out ulong matrix, biasDescriptor, out ulong bias), $"layer {layer}, linLayerID {id}");
        if (matrix == 0 || bias == 0) throw new InvalidOperationException($"cuDNN gave no matrix or bias for layer {layer}, linLayerID {id}");
        var (rows, columns) = MatrixShape(matrixDescriptor, hidden);
        var (biasRows, biasColumns) = MatrixShape(biasDescriptor, hidden);
        return new(id, Offset(matrix, space), rows, columns, Offset(bias, space), biasRows * biasColumns);
    }

    public void RnnForward(IParameterArena parameters, int layer, ITensor x, ITensor h0, ITensor? c0,
        ITensor y, ITensor hT, ITensor? cT, IRnnReserve reserve, int steps, int batch, bool training)
    {
        Enter();
        var arena = Arena(parameters);
        var r = Reserve(reserve, arena, layer, batch);
        bool lstm = r.Cell == CellType.Lstm;
        if (lstm != (c0 is not null) || lstm != (cT is not null))
            throw new ArgumentException($"RnnForward: cell states are given for an LSTM and only for it (cell {r.Cell.ConfigName()})");
        var xs = Floats(x); var ys = Floats(y); var h = Floats(h0); var hOut = Floats(hT);
        CheckFits((long)steps * batch * r.Input, xs.Length, "RnnForward x");
        CheckFits((long)steps * batch * r.Hidden, ys.Length, "RnnForward y");
        CheckFits((long)batch * r.Hidden, Math.Min(h.Length, hOut.Length), "RnnForward state");
        if (h.Pointer == hOut.Pointer) throw new ArgumentException("RnnForward: hT must not alias h0");
        ulong c = c0 is null ? 0 : Floats(c0).Pointer, cOut = cT is null ? 0 : Floats(cT).Pointer;
        r.Use(steps);
        r.HasForward = false;
        CudaStatus.Check(Cudnn.cudnnRNNForward(_dnn, r.Descriptor,
            training ? CudnnForwardMode.CUDNN_FWD_MODE_TRAINING : CudnnForwardMode.CUDNN_FWD_MODE_INFERENCE, r.SequenceLengths.Pointer,
            r.XDescriptor, xs.Pointer, r.YDescriptor, ys.Pointer, r.HDescriptor, h.Pointer, hOut.Pointer, r.CDescriptor, c, cOut,
            arena.LayerBytes(layer), arena.LayerWeights(layer), r.WorkspaceBytes, r.Workspace.Pointer,
            training ? r.ReserveBytes : 0, training ? r.ReserveSpace.Pointer : 0), r.Label);
        if (!training) return;
        // cuDNN's backward calls take x, y, hx, cx again: LanguageModel keeps them untouched until then (docs/backend.md).
        (r.X, r.Y, r.H0, r.C0, r.HasForward) = (xs.Pointer, ys.Pointer, h.Pointer, c, true);
    }

    public void RnnBackward(IParameterArena parameters, int layer, ITensor dy, ITensor dx, ITensor dh0, ITensor? dc0, IRnnReserve reserve)
    {
        Enter();
        var arena = Arena(parameters);
        var r = Reserve(reserve, arena, layer, reserve.Batch);
        if (!r.HasForward) throw new InvalidOperationException($"RnnBackward of layer {layer} needs a training RnnForward on its reserve first");
        bool lstm = r.Cell == CellType.Lstm;
        if (lstm != (dc0 is not null)) throw new ArgumentException("RnnBackward: dc0 is given for an LSTM and only for it");
        var dys = Floats(dy); var dxs = Floats(dx); var dh = Floats(dh0);
        CheckFits((long)r.Steps * r.Batch * r.Hidden, dys.Length, "RnnBackward dy");
        CheckFits((long)r.Steps * r.Batch * r.Input, dxs.Length, "RnnBackward dx");
        ulong dc = dc0 is null ? 0 : Floats(dc0).Pointer;
        ulong zero = r.ZeroState.Pointer;
        r.HasForward = false;
        // Data first, then weights: the weight gradient reads what the data pass leaves in the reserve (cudnn_adv.h cudnnRNNBackwardWeights_v8; docs/cuda.md §7).
        CudaStatus.Check(Cudnn.cudnnRNNBackwardData_v8(_dnn, r.Descriptor, r.SequenceLengths.Pointer,
            r.YDescriptor, r.Y, dys.Pointer, r.XDescriptor, dxs.Pointer,
            r.HDescriptor, r.H0, zero, dh.Pointer, r.CDescriptor, r.C0, lstm ? zero : 0, dc,
            arena.LayerBytes(layer), arena.LayerWeights(layer), r.WorkspaceBytes, r.Workspace.Pointer, r.ReserveBytes, r.ReserveSpace.Pointer),
            r.Label);
        // ADD into the gradient arena (zeroed by the model before the window): accumulates, as IBackend asks.
        CudaStatus.Check(Cudnn.cudnnRNNBackwardWeights_v8(_dnn, r.Descriptor, CudnnWgradMode.CUDNN_WGRAD_MODE_ADD, r.SequenceLengths.Pointer,
            r.XDescriptor, r.X, r.HDescriptor, r.H0, r.YDescriptor, r.Y,
            arena.LayerBytes(layer), arena.LayerGradients(layer), r.WorkspaceBytes, r.Workspace.Pointer, r.ReserveBytes, r.ReserveSpace.Pointer),
            r.Label);
    }
}
