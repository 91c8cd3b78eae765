namespace Lru.Tensors;

/// <summary>
/// Process-wide control of how many threads the compute kernels (GEMM, scans) may use.
/// Kernels split work over <em>outputs</em> only, so every result is bit-identical for any
/// thread count; this setting changes speed, never values.
/// </summary>
public static class Parallelism
{
    private static int s_maxThreads = Environment.ProcessorCount;

    /// <summary>
    /// The largest number of threads a single kernel call may use. Defaults to
    /// <see cref="Environment.ProcessorCount"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int MaxThreads
    {
        get => s_maxThreads;
        set
        {
            if (value < 1)
                throw new ArgumentOutOfRangeException(nameof(value), value, "MaxThreads must be at least 1.");
            s_maxThreads = value;
        }
    }

    /// <summary>Resolves an optional per-call thread count against <see cref="MaxThreads"/>.</summary>
    /// <param name="threads">A requested thread count, or <see langword="null"/> for the default.</param>
    /// <returns>A thread count of at least 1.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is less than 1.</exception>
    public static int Resolve(int? threads)
    {
        if (threads is null) return s_maxThreads;
        if (threads.Value < 1)
            throw new ArgumentOutOfRangeException(nameof(threads), threads.Value, "The thread count must be at least 1.");
        return threads.Value;
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every index in [0, <paramref name="count"/>) on at most
    /// <paramref name="threads"/> threads: the calling thread and the helpers of <see cref="WorkerPool.Shared"/>.
    /// Allocates nothing. With one thread, one item, or the pool busy with another loop (a concurrent or nested
    /// call) it runs every item on the calling thread. Each index must write outputs disjoint from every other
    /// index, so which thread runs it never changes a result. An exception from an item is rethrown here.
    /// </summary>
    internal static void For<TBody>(int count, int threads, ref TBody body)
        where TBody : struct, IIndexedWork
    {
        if (count <= 0) return;
        if (threads > 1 && count > 1 && WorkerPool.Shared.TryRun(count, threads, ref body)) return;
        for (int i = 0; i < count; i++) body.Run(i);
    }
}

/// <summary>A unit of parallel work addressed by an index; implemented by value types so the JIT specialises the loop.</summary>
internal interface IIndexedWork
{
    /// <summary>Performs work item <paramref name="index"/>.</summary>
    void Run(int index);
}
