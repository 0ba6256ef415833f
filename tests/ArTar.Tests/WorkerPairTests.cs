using ArTar.Cpu;
using NUnit.Framework;

namespace ArTar.Tests;

/// <summary>The second thread of two-part CPU work: every part runs once, errors reach the caller, nesting falls back.</summary>
public class WorkerPairTests
{
    [Test]
    public void EachPartRunsOnceAndErrorsReachTheCaller()
    {
        for (int round = 0; round < 200; round++)
        {
            var runs = new int[2];
            WorkerPair.Run(2, part => Interlocked.Increment(ref runs[part]));
            Assert.That(runs, Is.EqualTo(new[] { 1, 1 }), $"round {round}");
        }
        var error = Assert.Throws<InvalidOperationException>(() => WorkerPair.Run(2, part =>
        {
            if (part == 1) throw new InvalidOperationException("part 1");
        }));
        Assert.That(error!.Message, Is.EqualTo("part 1"));
        int after = 0;
        WorkerPair.Run(2, _ => Interlocked.Increment(ref after));     // still usable after an error
        Assert.That(after, Is.EqualTo(2));
    }

    [Test]
    public void NestedAndOtherPartCountsRun()
    {
        int inner = 0;
        WorkerPair.Run(2, _ => WorkerPair.Run(3, __ => Interlocked.Increment(ref inner)));
        Assert.That(inner, Is.EqualTo(6));
        int nested = 0;
        WorkerPair.Run(2, _ => WorkerPair.Run(2, __ => Interlocked.Increment(ref nested)));
        Assert.That(nested, Is.EqualTo(4));
    }
}
