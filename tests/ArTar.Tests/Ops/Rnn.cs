using ArTar.Backends;
using ArTar.Cpu;
using ArTar.Cuda;
using ArTar.Models;
using NUnit.Framework;

// Every test of the Rnn op in one place: the CPU reference, its gradient check, the GPU parity test and the
// kernel under host emulation. Each part belongs to the fixture named (its setup and helpers stay in that fixture's file).

namespace ArTar.Tests
{
    public partial class GradientCheckTests
    {
        [TestCase(CellType.Lstm)]
        [TestCase(CellType.Gru)]
        [TestCase(CellType.Rnn)]
        public void RnnLayerBackward(CellType cell)
        {
            var backend = new CpuBackend<double>();
            var random = new Random(3);
            var shape = new ModelShape(cell, V, H, 2);
            var arena = (CpuParameterArena<double>)backend.CreateParameters(shape);
            GradientCheck.Fill(arena.Weights, random, 0.6);
            const int layer = 1;
            bool lstm = cell == CellType.Lstm;
            int rows = T * B;
            var x = backend.Allocate(rows * H);
            var h0 = backend.Allocate(B * H);
            var c0 = lstm ? backend.Allocate(B * H) : null;
            GradientCheck.Fill(x, random);
            GradientCheck.Fill(h0, random, 0.8);
            if (c0 is not null) GradientCheck.Fill(c0, random, 0.8);
            var y = backend.Allocate(rows * H);
            var hT = backend.Allocate(B * H);
            var cT = lstm ? backend.Allocate(B * H) : null;
            var reserve = backend.CreateRnnReserve(shape, layer, T, B);
            var r = backend.Allocate(rows * H);
            GradientCheck.Fill(r, random);
            double Loss()
            {
                backend.RnnForward(arena, layer, x, h0, c0, y, hT, cT, reserve, T, B, training: true);
                return GradientCheck.Project(y, r, rows * H);
            }

            Loss();
            var dx = backend.Allocate(rows * H);
            var dh0 = backend.Allocate(B * H);
            var dc0 = lstm ? backend.Allocate(B * H) : null;
            backend.RnnBackward(arena, layer, r, dx, dh0, dc0, reserve);

            GradientCheck.Assert("x", x, GradientCheck.Copy(dx), Loss);
            GradientCheck.Assert("h0", h0, GradientCheck.Copy(dh0), Loss);
            if (c0 is not null) GradientCheck.Assert("c0", c0, GradientCheck.Copy(dc0!), Loss);
            foreach (var name in new[] { ModelShape.WeightIh(layer), ModelShape.WeightHh(layer), ModelShape.BiasIh(layer), ModelShape.BiasHh(layer) })
                GradientCheck.Assert(name, arena.Weight(name), arena.Gradient(name).Span.ToArray(), Loss);
            // Layer 0 was not touched by the backward of layer 1.
            Assert.That(arena.Gradient(ModelShape.WeightIh(0)).Span.ToArray(), Is.All.Zero);
        }

        [Test]
        public void RnnBackwardAccumulatesWeightGradients()
        {
            var backend = new CpuBackend<double>();
            var random = new Random(4);
            var shape = new ModelShape(CellType.Gru, V, H, 1);
            var arena = (CpuParameterArena<double>)backend.CreateParameters(shape);
            GradientCheck.Fill(arena.Weights, random, 0.6);
            var x = backend.Allocate(T * B * H);
            GradientCheck.Fill(x, random);
            var h0 = backend.Allocate(B * H);
            var y = backend.Allocate(T * B * H);
            var hT = backend.Allocate(B * H);
            var dy = backend.Allocate(T * B * H);
            GradientCheck.Fill(dy, random);
            var dx = backend.Allocate(T * B * H);
            var dh0 = backend.Allocate(B * H);
            var reserve = backend.CreateRnnReserve(shape, 0, T, B);
            backend.RnnForward(arena, 0, x, h0, null, y, hT, null, reserve, T, B, true);
            backend.RnnBackward(arena, 0, dy, dx, dh0, null, reserve);
            var once = arena.Gradients.Span.ToArray();
            var dxOnce = GradientCheck.Copy(dx);
            backend.RnnBackward(arena, 0, dy, dx, dh0, null, reserve);
            var twice = arena.Gradients.Span.ToArray();
            Assert.That(twice, Is.EqualTo(once.Select(g => 2 * g)).Within(1e-12));
            Assert.That(GradientCheck.Copy(dx), Is.EqualTo(dxOnce), "dx is overwritten, not accumulated");
        }
    }
}

namespace ArTar.Tests.Gpu
{
    public partial class CudaOpParityTests
    {
        [TestCase(CellType.Lstm, 0)]
        [TestCase(CellType.Lstm, 1)]
        [TestCase(CellType.Gru, 0)]
        [TestCase(CellType.Gru, 1)]
        [TestCase(CellType.Rnn, 1)]
        public void RnnLayerForwardAndBackward(CellType cell, int layer)
        {
            const int hidden = 16, batch = 3, maxSteps = 7;
            var shape = new ModelShape(cell, 10, hidden, 2);
            bool lstm = cell == CellType.Lstm;
            var specs = shape.Parameters();
            var weights = specs.Select((s, i) => (s.Name, Values: Random((int)s.Count, 100 + i, 0.4))).ToDictionary(p => p.Name, p => p.Values);
            foreach (int steps in new[] { 5, 7, 3 })
            {
                int n = steps * batch * hidden, bh = batch * hidden;
                var x = Random(n, 10 + steps); var h0 = Random(bh, 11); var c0 = Random(bh, 12); var dy = Random(n, 13 + steps);
                Dictionary<string, float[]> Run(IBackend b)
                {
                    using var arena = b.CreateParameters(shape);
                    foreach (var (name, values) in weights) arena.Write(name, values);
                    using var reserve = b.CreateRnnReserve(shape, layer, maxSteps, batch);
                    using var xs = Put(b, x); using var h = Put(b, h0); using var c = Put(b, c0);
                    using var y = b.Allocate((long)maxSteps * batch * hidden); using var hT = b.Allocate(bh); using var cT = b.Allocate(bh);
                    using var dys = Put(b, dy); using var dx = b.Allocate((long)maxSteps * batch * hidden);
                    using var dh0 = b.Allocate(bh); using var dc0 = b.Allocate(bh);
                    using var yEval = b.Allocate((long)maxSteps * batch * hidden); using var hEval = b.Allocate(bh); using var cEval = b.Allocate(bh);
                    // A window of another length first: the reserve's descriptors and device lengths must follow the change.
                    using var xLong = b.Allocate((long)maxSteps * batch * hidden);
                    b.RnnForward(arena, layer, xLong, h, lstm ? c : null, yEval, hEval, lstm ? cEval : null, reserve, steps == maxSteps ? 2 : maxSteps, batch, training: true);
                    b.RnnForward(arena, layer, xs, h, lstm ? c : null, yEval, hEval, lstm ? cEval : null, reserve, steps, batch, training: false);
                    b.RnnForward(arena, layer, xs, h, lstm ? c : null, y, hT, lstm ? cT : null, reserve, steps, batch, training: true);
                    b.RnnBackward(arena, layer, dys, dx, dh0, lstm ? dc0 : null, reserve);
                    var result = new Dictionary<string, float[]>
                    {
                        ["y"] = Get(b, y, n), ["hT"] = Get(b, hT), ["yEval"] = Get(b, yEval, n), ["dx"] = Get(b, dx, n), ["dh0"] = Get(b, dh0),
                    };
                    if (lstm) { result["cT"] = Get(b, cT); result["dc0"] = Get(b, dc0); }
                    foreach (var spec in shape.Parameters()) result["grad " + spec.Name] = GradientOf(b, arena, spec.Name);
                    foreach (var spec in shape.Parameters())
                    {
                        var back = new float[spec.Count];
                        arena.Read(spec.Name, back);
                        result["read " + spec.Name] = back;
                    }
                    return result;
                }
                var gpu = Run(Gpu);
                var cpu = Run(Cpu);
                foreach (var (key, expected) in cpu)
                {
                    string what = $"{cell} layer {layer} steps {steps}: {key}";
                    if (key.StartsWith("read ")) Assert.That(gpu[key], Is.EqualTo(weights[key[5..]]), what + " round trip");
                    else if (expected.All(v => v == 0)) Assert.That(gpu[key].All(v => v == 0), Is.True, what + " (another layer's gradient stays zero)");
                    else AssertClose(gpu[key], expected, what);
                }
            }
        }
    }
}
