using BenchmarkDotNet.Attributes;
using Lru.Baselines;
using Lru.Layers;
using Lru.Scans;
using Lru.Tensors;

namespace Lru.Benchmarks;

/// <summary>
/// LRU layer forward, each scan, against two baselines at the same (B, L, H, N): the naive
/// sequential tanh RNN (the Baseline, so the Ratio column is the speed-up) and the naive per-step
/// LRU with scalar complex arithmetic. One operation is one forward pass over B·L tokens.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class LruForwardBenchmarks
{
    private LruLayer<float> _layer = null!;
    private NaiveRnn<float> _rnn = null!;
    private float[] _input = null!, _output = null!;

    /// <summary>(B, L, H, N).</summary>
    [Params("8,1024,128,256", "1,4096,64,64")]
    public string Shape { get; set; } = "";

    private int B => int.Parse(Shape.Split(',')[0]);
    private int L => int.Parse(Shape.Split(',')[1]);

    [GlobalSetup]
    public void Setup()
    {
        int[] s = Shape.Split(',').Select(int.Parse).ToArray();
        _layer = new LruLayer<float>(new LruConfig(s[2], s[3]), seed: 0) { IsTraining = false };
        _rnn = new NaiveRnn<float>(s[2], s[3], seed: 0);
        var random = new SeededRandom(1);
        _input = new float[s[0] * s[1] * s[2]];
        _output = new float[_input.Length];
        for (int i = 0; i < _input.Length; i++) _input[i] = (float)random.NextNormal();
    }

    [Benchmark(Baseline = true, Description = "naive tanh RNN")]
    public void NaiveRnn() => _rnn.Forward(_input, _output, B, L);

    [Benchmark(Description = "naive per-step LRU")]
    public void NaivePerStepLru() => NaiveLru.Forward(_layer, _input, _output, B, L);

    [Benchmark(Description = "LRU sequential")]
    public void Sequential() => _layer.ForwardWithState(_input, _output, B, L, initialState: default, mode: ScanMode.Sequential);

    [Benchmark(Description = "LRU chunked")]
    public void Chunked() => _layer.ForwardWithState(_input, _output, B, L, initialState: default, mode: ScanMode.Chunked);

    [Benchmark(Description = "LRU tree")]
    public void Tree() => _layer.ForwardWithState(_input, _output, B, L, initialState: default, mode: ScanMode.Tree);

    [Benchmark(Description = "LRU auto")]
    public void Auto() => _layer.ForwardWithState(_input, _output, B, L, initialState: default, mode: ScanMode.Auto);
}
