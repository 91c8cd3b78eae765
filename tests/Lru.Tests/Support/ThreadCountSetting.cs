namespace Lru.Tests.Support;

/// <summary>
/// Tests that change <see cref="Lru.Tensors.Parallelism.MaxThreads"/>, and tests that must show work running on two
/// threads (<see cref="TwoThreads"/>): they run apart from every other test (not in parallel with them), so that no other
/// test, such as a one-thread allocation check, sees the changed setting, and so that no other test's loop holds the
/// worker pool, which would make their loops run inline on one thread.
/// </summary>
[CollectionDefinition(nameof(ThreadCountSetting), DisableParallelization = true)]
public class ThreadCountSetting
{
}
