using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace ArTar.Cpu;

/// <summary>
/// Runs two-part work (the halves of a GEMM, of a step's cell rows, of the softmax rows) on the calling thread and one
/// long-lived second thread that spins for a short while after each job before it sleeps: the 140 short recurrent
/// products of a ptb-650 step then find it awake, where a thread-pool worker had gone to sleep and took about a tenth
/// of a millisecond to wake for each. Any other part count, or a job while the pair is busy (nested or concurrent
/// calls), goes to Parallel.For. Part p always runs the same range, so results do not depend on which thread ran it.
/// </summary>
internal static unsafe class WorkerPair
{
    private static readonly Worker? Second = Environment.ProcessorCount >= 2 ? new Worker() : null;

    /// <summary>
    /// Runs parts 0..parts−1 of <paramref name="body"/>, a struct that holds everything its parts need (no cached job
    /// object, so any number of callers may use the same backend at once; no allocation on the two-part path).
    /// </summary>
    public static void Run<TBody>(int parts, TBody body) where TBody : struct, IParts
    {
        // body is this frame's own copy on the stack, and TryRun returns only when both parts have run, so its address
        // stays valid while the second thread reads it. No lambda may capture body in this method: the compiler would move
        // it into a heap object, whose address the GC may change under the second thread (RunInParallel captures a copy).
        if (parts == 2 && Second is { } worker && worker.TryRun(&Invoke<TBody>, Unsafe.AsPointer(ref body), parts)) return;
        RunInParallel(parts, body);
    }

    private static void RunInParallel<TBody>(int parts, TBody body) where TBody : struct, IParts =>
        Parallel.For(0, parts, part => body.Run(part, parts));

    /// <summary>The same for a delegate (the GEMM's job, whose parts share one object by design).</summary>
    public static void Run(int parts, Action<int> body) => Run(parts, new DelegateParts(body));

    private static void Invoke<TBody>(void* body, int part, int parts) where TBody : struct, IParts =>
        Unsafe.AsRef<TBody>(body).Run(part, parts);

    private readonly struct DelegateParts(Action<int> body) : IParts
    {
        public void Run(int part, int parts) => body(part);
    }

    private sealed class Worker
    {
        // How long the second thread spins for the next job before it blocks (~100 µs).
        private static readonly long SpinTicks = Stopwatch.Frequency / 10_000;

        private readonly SemaphoreSlim _wake = new(0);
        private delegate*<void*, int, int, void> _invoke;
        private void* _body;
        private int _parts;
        private Exception? _error;
        private volatile int _posted, _done;
        private int _busy, _sleeping;

        public Worker() => new Thread(Loop) { IsBackground = true, Name = "ArTar CPU worker" }.Start();

        public bool TryRun(delegate*<void*, int, int, void> invoke, void* body, int parts)
        {
            if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
            int job = _posted + 1;
            try
            {
                _invoke = invoke;
                _body = body;
                _parts = parts;
                _error = null;
                _posted = job;                                                // publishes _invoke, _body, _parts
                if (Interlocked.Exchange(ref _sleeping, 0) == 1) _wake.Release();
                invoke(body, 0, parts);
            }
            finally
            {
                // Part 1 may still use what part 0's caller owns (pinned operands): wait for it even when part 0 threw.
                var spin = new SpinWait();
                while (_done != job) spin.SpinOnce(sleep1Threshold: -1);
                _invoke = null;
                _body = null;
                Volatile.Write(ref _busy, 0);
            }
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
            return true;
        }

        private void Loop()
        {
            int seen = 0;
            while (true)
            {
                long deadline = Stopwatch.GetTimestamp() + SpinTicks;
                while (_posted == seen)
                {
                    if (Stopwatch.GetTimestamp() < deadline) { Thread.SpinWait(20); continue; }
                    Interlocked.Exchange(ref _sleeping, 1);                   // full fence before the re-check
                    if (_posted == seen) _wake.Wait();
                    Interlocked.Exchange(ref _sleeping, 0);
                    deadline = Stopwatch.GetTimestamp() + SpinTicks;
                }
                seen = _posted;
                try { _invoke(_body, 1, _parts); }
                catch (Exception e) { _error = e; }
                _done = seen;
            }
        }
    }
}

/// <summary>Work in parts: part p of <c>parts</c> always covers the same range, whichever thread runs it.</summary>
internal interface IParts
{
    void Run(int part, int parts);
}
