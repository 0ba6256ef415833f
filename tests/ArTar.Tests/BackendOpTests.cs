using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Models;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>Values of the non-differentiable ops, the arena and the initialisation.</summary>
public partial class BackendOpTests
{
    [Test]
    public void ArenaHoldsTheCanonicalTensorsOfDesign2()
    {
        var shape = new ModelShape(CellType.Lstm, Vocab: 10, Hidden: 3, Layers: 2);
        var arena = new CpuBackend<float>().CreateParameters(shape);
        var expected = new (string, int[])[]
        {
            ("encoder.weight", [10, 3]),
            ("rnn.weight_ih_l0", [12, 3]), ("rnn.weight_hh_l0", [12, 3]), ("rnn.bias_ih_l0", [12]), ("rnn.bias_hh_l0", [12]),
            ("rnn.weight_ih_l1", [12, 3]), ("rnn.weight_hh_l1", [12, 3]), ("rnn.bias_ih_l1", [12]), ("rnn.bias_hh_l1", [12]),
            ("decoder.bias", [10]),
        };
        Assert.That(arena.Specs.Select(s => (s.Name, s.Dimensions)), Is.EqualTo(expected));
        Assert.That(arena.Weights.Length, Is.EqualTo(expected.Sum(e => e.Item2.Aggregate(1, (a, d) => a * d))));
        Assert.That(arena.Gradients.Length, Is.EqualTo(arena.Weights.Length));
        Assert.That(new ModelShape(CellType.Gru, 10, 3, 1).Parameters()[1].Dimensions, Is.EqualTo(new[] { 9, 3 }));
        Assert.That(new ModelShape(CellType.Rnn, 10, 3, 1).Parameters()[1].Dimensions, Is.EqualTo(new[] { 3, 3 }));
    }

    [Test]
    public void ReadAndWriteByNameRoundTripAndLandInTheirViews()
    {
        var backend = new CpuBackend<float>();
        var arena = backend.CreateParameters(new ModelShape(CellType.Gru, 5, 2, 2));
        float[] values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];   // rnn.weight_hh_l1 is [6, 2]
        arena.Write("rnn.weight_hh_l1", values);
        var back = new float[12];
        arena.Read("rnn.weight_hh_l1", back);
        Assert.That(back, Is.EqualTo(values));
        var view = new float[12];
        backend.Download(arena.Weight("rnn.weight_hh_l1"), view);
        Assert.That(view, Is.EqualTo(values));
        var all = new float[arena.Weights.Length];
        backend.Download(arena.Weights, all);
        Assert.That(all.Sum(), Is.EqualTo(values.Sum()), "nothing else in the arena was written");
        Assert.Throws<KeyNotFoundException>(() => arena.Read("decoder.weight", new float[10]));
        Assert.Throws<ArgumentException>(() => arena.Write("decoder.bias", new float[4]));
    }

    [Test]
    public void InitialisationFollowsDesign1AndIsAFunctionOfTheSeed()
    {
        var shape = new ModelShape(CellType.Lstm, 200, 25, 2);
        var backend = new CpuBackend<float>();
        var a = backend.CreateParameters(shape);
        var b = backend.CreateParameters(shape);
        var c = backend.CreateParameters(shape);
        ParameterInit.Initialize(a, 42);
        ParameterInit.Initialize(b, 42);
        ParameterInit.Initialize(c, 43);
        float[] Values(IParameterArena p, string name)
        {
            var v = new float[p.Specs.Single(s => s.Name == name).Count];
            p.Read(name, v);
            return v;
        }
        foreach (var spec in shape.Parameters())
        {
            var v = Values(a, spec.Name);
            Assert.That(v, Is.EqualTo(Values(b, spec.Name)), spec.Name);
            float bound = spec.Name switch { "encoder.weight" => 0.1f, "decoder.bias" => 0f, _ => 1 / MathF.Sqrt(25) };
            Assert.That(v.All(x => x >= -bound && x <= bound), spec.Name);
            if (bound > 0)
            {
                Assert.That(v, Is.Not.EqualTo(Values(c, spec.Name)), spec.Name);
                // Uniform on [−b, b]: mean near 0, spread near b/√3.
                double mean = v.Average(), sd = Math.Sqrt(v.Average(x => (x - mean) * (x - mean)));
                Assert.That(mean, Is.EqualTo(0).Within(6 * bound / Math.Sqrt(3 * v.Length)), spec.Name);
                Assert.That(sd, Is.EqualTo(bound / Math.Sqrt(3)).Within(0.1 * bound), spec.Name);
            }
        }
    }

    [Test]
    public void TokenOutsideTheVocabularyIsRefusedWithItsId()
    {
        var backend = new CpuBackend<float>();
        var tokens = backend.AllocateTokens(2);
        backend.UploadTokens([1, 7], tokens);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => backend.EmbeddingForward(backend.Allocate(12), tokens, backend.Allocate(6), 2, 3));
        Assert.That(ex!.Message, Does.Contain("token id 7"));
    }

    [Test]
    public void TensorsOfAnotherBackendAreRefused()
    {
        var f = new CpuBackend<float>();
        var d = new CpuBackend<double>();
        Assert.Throws<ArgumentException>(() => f.Zero(d.Allocate(3)));
        Assert.Throws<ArgumentException>(() => f.CreateRnnReserve(new ModelShape(CellType.Rnn, 3, 2, 1), 0, 0, 1));
    }
}
