using System.Numerics;
using ArTar.Backends;

namespace ArTar.Cpu;

/// <summary>
/// What <see cref="CpuBackend{T}.RnnForward"/> keeps for the backward (copies of the input and every state, the
/// activated gates, the LSTM cell states or the GRU's W_hn·h + b_hn), and the backward's scratch. Sized once: no
/// allocation in a step.
/// </summary>
public sealed class CpuRnnReserve<T> : IRnnReserve where T : unmanaged, IFloatingPointIeee754<T>
{
    internal CpuRnnReserve(ModelShape shape, int layer, int maxSteps, int batch)
    {
        if (layer < 0 || layer >= shape.Layers) throw new ArgumentOutOfRangeException(nameof(layer));
        if (maxSteps <= 0 || batch <= 0) throw new ArgumentException($"an RNN reserve needs steps and batch above zero (got {maxSteps}, {batch})");
        Cell = shape.Cell;
        Layer = layer;
        MaxSteps = maxSteps;
        Batch = batch;
        Hidden = shape.Hidden;
        Input = shape.LayerInput(layer);
        int gh = shape.Gates * Hidden, rows = maxSteps * batch;
        X = new T[rows * Input];
        States = new T[(rows + batch) * Hidden];
        Gates = new T[rows * gh];
        CellStates = Cell == CellType.Lstm ? new T[rows * Hidden] : [];
        NewGateHidden = Cell == CellType.Gru ? new T[rows * Hidden] : [];
        TanhC = Cell == CellType.Lstm ? new T[rows * Hidden] : [];
        C0 = Cell == CellType.Lstm ? new T[batch * Hidden] : [];
        HiddenGates = new T[batch * gh];
        DHiddenGates = new T[rows * gh];
        DInputGates = Cell == CellType.Gru ? new T[rows * gh] : DHiddenGates;   // only the GRU's n gate tells them apart
        // W_hhᵀ (forward, H×G·H) or W_hh (backward, G·H×H), packed once per window for all its steps.
        PackedWhh = new Gemm.PackedB<T>(Math.Max(Gemm.PackedB<T>.CapacityFor(Hidden, gh), Gemm.PackedB<T>.CapacityFor(gh, Hidden)));
        DH = new T[batch * Hidden];
        DHNext = new T[batch * Hidden];
        DCNext = new T[batch * Hidden];
    }

    public int Layer { get; }
    public int MaxSteps { get; }
    public int Batch { get; }
    internal CellType Cell { get; }
    internal int Hidden { get; }
    internal int Input { get; }

    internal T[] X { get; }             // [S,B,in] the layer input
    internal T[] States { get; }        // [S+1,B,H] h0, h1 … hS
    internal T[] Gates { get; }         // [S,B,G·H] activated gates (LSTM σi σf tanh g σo; GRU r z n; RNN h)
    internal T[] CellStates { get; }    // [S,B,H] LSTM only: c_t
    internal T[] NewGateHidden { get; } // [S,B,H] GRU only: W_hn·h_{t-1} + b_hn, the n gate's hidden part (r multiplies it)
    internal T[] TanhC { get; }         // [S,B,H] LSTM tanh(c_t), kept so the backward needs no transcendental
    internal T[] C0 { get; }            // [B,H] LSTM carried cell state
    internal T[] HiddenGates { get; }   // [B,G·H] scratch: W_hh·h + b_hh of one step
    internal T[] DHiddenGates { get; }  // [S,B,G·H] gradient at the pre-activations on the W_hh side
    internal T[] DInputGates { get; }   // [S,B,G·H] … on the W_ih side (the same array except for a GRU)
    internal Gemm.PackedB<T> PackedWhh { get; }
    internal T[] DH { get; }
    internal T[] DHNext { get; }
    internal T[] DCNext { get; }

    internal int Steps { get; set; }
    internal int UsedBatch { get; set; }
    internal bool HasForward { get; set; }

    public void Dispose() { }
}
