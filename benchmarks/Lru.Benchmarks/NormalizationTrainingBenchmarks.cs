using BenchmarkDotNet.Attributes;
using Lru.Layers;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Benchmarks;

/// <summary>
/// BatchNorm in training mode, forward then backward, at the sequential Fashion-MNIST block shape (B = 50, L = 784,
/// H = 64), on an unpadded batch and on a padded one (half the sequences a quarter shorter), two threads.
///
///   dotnet run -c Release --project benchmarks/Lru.Benchmarks -- --filter '*NormalizationTraining*'
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class NormalizationTrainingBenchmarks
{
    private const int Batch = 50, Length = 784, H = 64;
    private float[] _x = [], _y = [], _dy = [], _dx = [];
    private int[] _lengths = [];
    private BatchNorm<float> _norm = null!;

    [Params(false, true)]
    public bool Padded { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.MaxThreads = 2;
        var random = new SeededRandom(5);
        _x = Enumerable.Range(0, Batch * Length * H).Select(_ => (float)random.NextNormal()).ToArray();
        _dy = Enumerable.Range(0, _x.Length).Select(_ => (float)random.NextNormal()).ToArray();
        _y = new float[_x.Length];
        _dx = new float[_x.Length];
        _lengths = Enumerable.Range(0, Batch).Select(b => b % 2 == 0 ? Length : Length * 3 / 4).ToArray();
        _norm = new BatchNorm<float>(H);
    }

    [Benchmark]
    public void ForwardBackward()
    {
        _norm.Forward(_x, _y, new SequenceShape(Batch, Length, Padded ? _lengths : default), training: true);
        _norm.Backward(_dy, _dx);
    }
}
