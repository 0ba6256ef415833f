using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;

namespace ArTar.Tests;

/// <summary>
/// A small float64 model for gradient checks and reference comparisons: 2 layers, V=7, H=4, B=2, T=3, dropout on,
/// α and β non-zero, random non-zero carried state held in tensors of its own (so a check can perturb it).
/// </summary>
internal sealed class SmallModel
{
    public const int Vocab = 7, Hidden = 4, Layers = 2, Batch = 2, Steps = 3;
    public static readonly Regularization Training = new(Dropout: 0.3, DropoutH: 0.25, Alpha: 2.0, Beta: 1.5, Seed: 0x5EED_0000_0001UL);
    public const long TrainingStep = 11;

    public SmallModel(CellType cell, int seed = 1)
    {
        var random = new Random(seed);
        Shape = new ModelShape(cell, Vocab, Hidden, Layers);
        Parameters = (CpuParameterArena<double>)Backend.CreateParameters(Shape);
        // Weights larger than the docs/design.md §1 init so the cells work away from their linear regime.
        GradientCheck.Fill(Parameters.Weights, random, 0.6);
        Model = new LanguageModel(Backend, Parameters, Batch, Steps);
        H0 = new ITensor[Layers];
        C0 = new ITensor?[Layers];
        for (int l = 0; l < Layers; l++)
        {
            H0[l] = Backend.Allocate(Batch * Hidden);
            GradientCheck.Fill(H0[l], random, 0.8);
            if (cell == CellType.Lstm)
            {
                C0[l] = Backend.Allocate(Batch * Hidden);
                GradientCheck.Fill(C0[l]!, random, 0.8);
            }
        }
        Inputs = Enumerable.Range(0, Steps * Batch).Select(_ => random.Next(Vocab)).ToArray();
        Targets = Enumerable.Range(0, Steps * Batch).Select(_ => random.Next(Vocab)).ToArray();
        Inputs[^1] = Inputs[0];   // a repeated token: embedding gradients must accumulate
    }

    public CpuBackend<double> Backend { get; } = new();
    public ModelShape Shape { get; }
    public CpuParameterArena<double> Parameters { get; }
    public LanguageModel Model { get; }
    public ITensor[] H0 { get; }
    public ITensor?[] C0 { get; }
    public int[] Inputs { get; }
    public int[] Targets { get; }

    /// <summary>The window's loss, starting from the state held in <see cref="H0"/>/<see cref="C0"/>.</summary>
    public WindowLoss Forward(Regularization? training = null, long step = TrainingStep)
    {
        LoadState();
        return training is { } reg
            ? Model.ForwardWithLossGradients(Inputs, Targets, Steps, reg, step)
            : new WindowLoss(Model.Evaluate(Inputs, Targets, Steps), 0, 0);
    }

    public void LoadState()
    {
        for (int l = 0; l < Layers; l++)
        {
            CpuBackend<double>.Data(H0[l]).CopyTo(CpuBackend<double>.Data(Model.HiddenState(l)));
            if (C0[l] is { } c) CpuBackend<double>.Data(c).CopyTo(CpuBackend<double>.Data(Model.CellState(l)!));
        }
    }

    public Dictionary<string, double[]> ParameterValues() =>
        Parameters.Specs.ToDictionary(s => s.Name, s => Parameters.Weight(s.Name).Span.ToArray());

    public double[][] State(ITensor?[] tensors) => tensors.Select(t => CpuBackend<double>.Data(t!).ToArray()).ToArray();

    public ReferenceModel.Result Reference(Regularization? training, ReferenceModel.Variant variant = default) =>
        ReferenceModel.Loss(Shape, ParameterValues(), Inputs, Targets, Steps, Batch, State(H0),
            Shape.Cell == CellType.Lstm ? State(C0) : null, training, TrainingStep, variant);
}
