using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Lru.Tensors;

/// <summary>
/// Background threads that help run the work items of one <see cref="Parallelism"/> loop at a time, without
/// allocating: the loop's body is copied into a job object cached per body type, the caller wakes as many
/// helpers as it may use, everyone takes indices from one shared counter, and the caller returns when every
/// helper it woke has finished.
/// </summary>
/// <remarks>
/// The pool runs one loop at a time. A loop started while another runs (a concurrent call from another thread,
/// or a loop nested in a work item) is not queued: <see cref="TryRun"/> returns false and the caller runs its
/// items itself. Which thread runs an item never changes a result, because items write disjoint outputs.
/// An exception thrown by an item stops the loop (items not yet started are skipped) and is rethrown to the
/// caller; the pool stays usable.
/// </remarks>
internal sealed class WorkerPool
{
    /// <summary>How long a helper, or a caller waiting for helpers, spins before it sleeps: 100 µs.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 10_000;

    /// <summary>Work items that helpers ran for loops started on this thread (see <see cref="ItemsRunByHelpers"/>).</summary>
    [ThreadStatic] private static long t_itemsRunByHelpers;

    private int _busy; // 1 while a loop runs; not re-entrant, so a loop nested on the calling thread runs inline
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ManualResetEventSlim _finished = new(false);
    private readonly int _helpers;
    private Job? _job;
    private int _running;

    private WorkerPool(int helpers)
    {
        _helpers = helpers;
        for (int i = 0; i < helpers; i++)
            new Thread(Loop) { IsBackground = true, Name = $"Lru worker {i + 1}" }.Start();
    }

    /// <summary>The process's pool: one helper fewer than there are processors (the caller is the other one).</summary>
    public static WorkerPool Shared { get; } = new(Math.Max(0, Environment.ProcessorCount - 1));

    /// <summary>The number of helper threads.</summary>
    public int Helpers => _helpers;

    /// <summary>
    /// How many work items helper threads have run, since this thread started, for the loops this thread started.
    /// A loop runs inline on its caller when the pool is busy, so tests that claim to run work on several threads read
    /// this before and after to prove that some of it really ran on a helper. Costs one thread-static add per loop.
    /// </summary>
    public static long ItemsRunByHelpers => t_itemsRunByHelpers;

    /// <summary>
    /// Runs <paramref name="body"/> for every index in [0, <paramref name="count"/>) on the calling thread and up
    /// to <paramref name="threads"/> − 1 helpers. Returns false, having run nothing, when the pool is busy.
    /// </summary>
    public bool TryRun<TBody>(int count, int threads, ref TBody body) where TBody : struct, IIndexedWork
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            var job = Job<TBody>.Instance;
            job.Start(body, count);
            int helpers = Math.Min(_helpers, Math.Min(threads, count) - 1);
            if (helpers > 0)
            {
                _job = job;
                Volatile.Write(ref _running, helpers);
                _wake.Release(helpers);
            }
            job.RunAll();
            if (helpers > 0)
            {
                // The helpers usually finish within microseconds of the caller: spin for them before sleeping.
                // Only the counter says they are done; the event is a wake-up hint (it may still be set by a
                // helper of the previous loop, which decrements the counter before it sets the event).
                long deadline = Stopwatch.GetTimestamp() + SpinTicks;
                var spin = new SpinWait();
                while (Volatile.Read(ref _running) != 0)
                {
                    if (Stopwatch.GetTimestamp() < deadline)
                        spin.SpinOnce(sleep1Threshold: -1);
                    else
                    {
                        _finished.Wait();
                        _finished.Reset();
                    }
                }
                _job = null;
                t_itemsRunByHelpers += job.HelperItems;
            }
            Exception? error = job.Finish();
            if (error is not null) ExceptionDispatchInfo.Throw(error);
            return true;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private void Loop()
    {
        while (true)
        {
            // Loops come in bursts (a GEMM, then a scan, then the next GEMM): stay awake for a moment after
            // each one, so the next one does not pay for waking a sleeping thread.
            long deadline = Stopwatch.GetTimestamp() + SpinTicks;
            var spin = new SpinWait();
            bool woken;
            while (!(woken = _wake.Wait(0)) && Stopwatch.GetTimestamp() < deadline) spin.SpinOnce(sleep1Threshold: -1);
            if (!woken) _wake.Wait();
            Job job = Volatile.Read(ref _job)!;
            int ran = job.RunAll();
            if (ran != 0) Interlocked.Add(ref job.HelperItems, ran); // before the decrement, which publishes it to the caller
            if (Interlocked.Decrement(ref _running) == 0) _finished.Set();
        }
    }

    /// <summary>One loop: its size, the next index to take, the items helpers ran, and the first exception an item threw.</summary>
    private abstract class Job
    {
        protected int Count, Next;
        public int HelperItems;
        private Exception? _error;

        /// <summary>Takes and runs items until none is left; returns how many this thread ran.</summary>
        public abstract int RunAll();

        /// <summary>The first exception thrown by an item, if any; clears the job for its next use.</summary>
        public Exception? Finish()
        {
            Exception? error = _error;
            _error = null;
            Clear();
            return error;
        }

        protected abstract void Clear();

        protected void Fail(Exception error)
        {
            Interlocked.CompareExchange(ref _error, error, null);
            Volatile.Write(ref Next, int.MaxValue / 2); // no further item starts
        }
    }

    private sealed class Job<TBody> : Job where TBody : struct, IIndexedWork
    {
        public static readonly Job<TBody> Instance = new();
        private TBody _body;

        public void Start(TBody body, int count)
        {
            _body = body;
            Count = count;
            Next = -1;
            HelperItems = 0;
        }

        public override int RunAll()
        {
            TBody local = _body;
            int ran = 0;
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref Next)) < Count)
                {
                    local.Run(i);
                    ran++;
                }
            }
            catch (Exception e)
            {
                Fail(e);
            }
            return ran;
        }

        protected override void Clear() => _body = default;
    }
}
