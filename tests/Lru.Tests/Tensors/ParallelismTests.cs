using Lru.Tensors;

namespace Lru.Tests.Tensors;

/// <summary>
/// <see cref="Parallelism.For"/> on the allocation-free <see cref="WorkerPool"/>: every index runs exactly once,
/// exceptions reach the caller and leave the pool usable, nested and concurrent loops complete (running inline),
/// and a loop on two threads allocates nothing on the calling thread.
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

    [Fact]
    public unsafe void ALoopOnTwoThreads_AllocatesNothing_OnTheCallingThread()
    {
        var counts = new int[256];
        fixed (int* p = counts)
        {
            var body = new CountEach { Counts = p };
            Parallelism.For(counts.Length, 2, ref body); // warm-up: JIT, the cached job
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int repeat = 0; repeat < 100; repeat++) Parallelism.For(counts.Length, 2, ref body);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }
}
