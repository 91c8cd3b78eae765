using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Tensors;

/// <summary>
/// <see cref="Parallelism.For"/> on the allocation-free <see cref="WorkerPool"/>: every index runs exactly once,
/// exceptions reach the caller and leave the pool usable, nested and concurrent loops complete (running inline).
/// Tests that need the pool's helper threads are in <see cref="WorkerPoolHelperTests"/>.
/// </summary>
public class ParallelismTests
{
    private unsafe struct CountEach : IIndexedWork
    {
        public int* Counts;
        public void Run(int index) => Interlocked.Increment(ref Counts[index]);
    }

    private struct ThrowAt : IIndexedWork
    {
        public int Bad;
        public void Run(int index)
        {
            if (index == Bad) throw new InvalidOperationException($"item {index} failed");
        }
    }

    private unsafe struct Nested : IIndexedWork
    {
        public int* Counts;
        public int Inner;

        public void Run(int index)
        {
            var inner = new CountEach { Counts = Counts + index * Inner };
            Parallelism.For(Inner, 2, ref inner);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(1000, 2)]
    [InlineData(7, 8)]
    public unsafe void EveryIndex_RunsExactlyOnce(int count, int threads)
    {
        var counts = new int[count];
        fixed (int* p = counts)
        {
            var body = new CountEach { Counts = p };
            for (int repeat = 0; repeat < 50; repeat++) Parallelism.For(count, threads, ref body);
        }
        Assert.All(counts, c => Assert.Equal(50, c));
    }

    [Fact]
    public unsafe void AnItemsException_ReachesTheCaller_AndThePoolKeepsWorking()
    {
        for (int bad = 0; bad < 64; bad += 9)
        {
            var body = new ThrowAt { Bad = bad };
            var e = Assert.Throws<InvalidOperationException>(() => Parallelism.For(64, 2, ref body));
            Assert.Equal($"item {bad} failed", e.Message);
        }
        var counts = new int[64];
        fixed (int* p = counts)
        {
            var body = new CountEach { Counts = p };
            Parallelism.For(64, 2, ref body);
        }
        Assert.All(counts, c => Assert.Equal(1, c));
    }

    [Fact]
    public unsafe void NestedLoops_Complete_AndRunEveryIndexOnce()
    {
        const int outer = 16, inner = 32;
        var counts = new int[outer * inner];
        fixed (int* p = counts)
        {
            var body = new Nested { Counts = p, Inner = inner };
            Parallelism.For(outer, 2, ref body);
        }
        Assert.All(counts, c => Assert.Equal(1, c));
    }

    [Fact]
    public void ConcurrentLoops_FromManyThreads_AllComplete()
    {
        var results = new int[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            var counts = new int[500];
            unsafe
            {
                fixed (int* p = counts)
                {
                    var body = new CountEach { Counts = p };
                    for (int repeat = 0; repeat < 20; repeat++) Parallelism.For(counts.Length, 2, ref body);
                }
            }
            results[t] = counts;
        });
        Assert.All(results, counts => Assert.All(counts, c => Assert.Equal(20, c)));
    }
}

/// <summary>
/// Loops that must really run on two threads: the helper-item counter that proves it, and a loop on two threads that
/// allocates nothing on the calling thread. Apart from other tests, so that the pool is free.
/// </summary>
[Collection(nameof(ThreadCountSetting))]
public class WorkerPoolHelperTests
{
    private unsafe struct CountEach : IIndexedWork
    {
        public int* Counts;
        public void Run(int index) => Interlocked.Increment(ref Counts[index]);
    }

    /// <summary>Records which thread ran each item, after spinning ~0.2 ms so that a helper has time to wake and take some.</summary>
    private unsafe struct RecordThread : IIndexedWork
    {
        public int* Threads;

        public void Run(int index)
        {
            long end = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 5000;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < end) Thread.SpinWait(10);
            Threads[index] = Environment.CurrentManagedThreadId;
        }
    }

    private static unsafe int[] RunRecording(int count, int threads)
    {
        var ids = new int[count];
        fixed (int* p = ids)
        {
            var body = new RecordThread { Threads = p };
            Parallelism.For(count, threads, ref body);
        }
        return ids;
    }

    [Fact]
    public void ItemsRunByHelpers_CountsExactlyTheItemsOfThisThreadsLoops_ThatOtherThreadsRan()
    {
        int caller = Environment.CurrentManagedThreadId;
        // Exact on every attempt; repeated (see TwoThreads) until a helper took part.
        TwoThreads.Prove(() =>
        {
            long before = WorkerPool.ItemsRunByHelpers;
            int[] ids = RunRecording(64, 2);
            return (Counted: WorkerPool.ItemsRunByHelpers - before, Ids: ids);
        }, r =>
        {
            Assert.Equal(r.Ids.Count(id => id != caller), r.Counted);
            Assert.True(r.Ids.Distinct().Count() <= 2, "threads = 2: the caller and at most one helper");
        }, "64 items of 0.2 ms");

        // One thread: nothing for helpers.
        long start = WorkerPool.ItemsRunByHelpers;
        Assert.All(RunRecording(16, 1), id => Assert.Equal(caller, id));
        Assert.Equal(start, WorkerPool.ItemsRunByHelpers);

        // A loop started on another thread is counted on that thread, not on this one.
        long counted = -1, elsewhere = -2;
        var other = new Thread(() =>
        {
            long before = WorkerPool.ItemsRunByHelpers;
            int self = Environment.CurrentManagedThreadId;
            int[] ids = RunRecording(64, 2);
            counted = WorkerPool.ItemsRunByHelpers - before;
            elsewhere = ids.Count(id => id != self);
        });
        start = WorkerPool.ItemsRunByHelpers;
        other.Start();
        other.Join();
        Assert.Equal(start, WorkerPool.ItemsRunByHelpers);
        Assert.Equal(elsewhere, counted);
    }

    [Fact]
    public unsafe void ALoopOnTwoThreads_AllocatesNothing_OnTheCallingThread()
    {
        var counts = new int[256];
        fixed (int* p = counts)
        {
            var body = new CountEach { Counts = p };
            Parallelism.For(counts.Length, 2, ref body); // warm-up: JIT, the cached job
            // Repeated (as in TwoThreads, which cannot capture the pinned pointer) until a helper took part.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int attempt = 1; ; attempt++)
            {
                long helped = WorkerPool.ItemsRunByHelpers;
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int repeat = 0; repeat < 100; repeat++) Parallelism.For(counts.Length, 2, ref body);
                Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
                if (WorkerPool.ItemsRunByHelpers > helped) break;
                Assert.True(clock.Elapsed < TwoThreads.Patience, $"in {attempt} attempts of 100 loops no item ran on a helper, so the loops were not on two threads");
            }
        }
    }
}
