namespace Lru.Tests.Support;

/// <summary>
/// Tests that change <see cref="Lru.Tensors.Parallelism.MaxThreads"/>: they run apart from every other test (not in
/// parallel with them), so that no other test, such as a one-thread allocation check, sees the changed setting.
/// </summary>
[CollectionDefinition(nameof(ThreadCountSetting), DisableParallelization = true)]
public class ThreadCountSetting
{
}
