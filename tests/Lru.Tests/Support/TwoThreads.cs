using System.Diagnostics;
using Lru.Tensors;

namespace Lru.Tests.Support;

/// <summary>
/// Proof that work meant for two threads really ran on two: the worker pool runs a loop inline on its caller when it is
/// busy with another loop (a test running in parallel, a nested loop), and a helper thread that the operating system does
/// not schedule in time (a loaded machine) takes no item either, so a "one thread against two" comparison could otherwise
/// compare one thread with itself. <see cref="WorkerPool.ItemsRunByHelpers"/> counts the work items that helper threads
/// ran for the loops started on the calling thread.
/// </summary>
/// <remarks>
/// Tests that use it belong to the <see cref="ThreadCountSetting"/> collection, which runs apart from every other test,
/// so that the pool is free for their loops. Whether a helper wakes in time still depends on the machine's load (on a
/// loaded machine a woken helper may get a processor only after the caller has taken every item), so an attempt whose
/// loops all ran on the calling thread is repeated, its result checked all the same, until one ran items on a helper;
/// the test fails if none did within <see cref="Patience"/>.
/// </remarks>
internal static class TwoThreads
{
    /// <summary>How long to keep trying before the test fails.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs <paramref name="work"/> and checks its result with <paramref name="check"/>, again until an attempt had at
    /// least one work item of the loops it started on this thread run by a helper thread.
    /// </summary>
    /// <returns>The result of that attempt.</returns>
    public static T Prove<T>(Func<T> work, Action<T> check, string what)
    {
        Assert.True(WorkerPool.Shared.Helpers > 0,
            $"{what}: this machine has {Environment.ProcessorCount} processor(s), so the worker pool has no helper thread and nothing can run on two threads.");
        var clock = Stopwatch.StartNew();
        for (int attempt = 1; ; attempt++)
        {
            long before = WorkerPool.ItemsRunByHelpers;
            T result = work();
            long items = WorkerPool.ItemsRunByHelpers - before;
            check(result);
            if (items > 0) return result;
            Assert.True(clock.Elapsed < Patience,
                $"{what}: in {attempt} attempts ({clock.Elapsed.TotalSeconds:F1} s) no work item ran on a helper thread, so nothing was shown to run on two threads (is the machine overloaded?).");
        }
    }
}
