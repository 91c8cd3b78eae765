using BenchmarkDotNet.Attributes;
using Lru.Baselines;
using Lru.Layers;
using Lru.Models;
using Lru.Tensors;

namespace Lru.Benchmarks;

/// <summary>
/// Streaming latency of one time step for one stream at H = 128, N = 256: the LRU layer's
/// <c>Step</c> and a 2-block model's <c>Step</c> (encoder, 2 × (LayerNorm, LRU, GELU, GLU), decoder),
/// against one step of the naive tanh RNN of the same sizes (the Baseline) and of the naive per-step
/// LRU with scalar complex arithmetic.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class StepBenchmarks
{
    private const int H = 128, N = 256;
    private LruLayer<float> _layer = null!;
    private LruState<float> _state = null!;
    private SequenceModel<float> _model = null!;
    private Lru.Modules.StreamState<float> _modelState = null!;
    private NaiveRnn<float> _rnn = null!;
    private float[] _u = null!, _y = null!, _logits = null!;

    [GlobalSetup]
    public void Setup()
    {
        _layer = new LruLayer<float>(new LruConfig(H, N), seed: 0) { IsTraining = false };
        _state = _layer.CreateState(1);
        _model = new SequenceModel<float>(new SequenceModelConfig(H, 0, 10, 2, new LruBlockConfig(new LruConfig(H, N)), PoolingMode.Last), seed: 0) { IsTraining = false };
        _modelState = _model.CreateState(1);
        _rnn = new NaiveRnn<float>(H, N, seed: 0);
        var random = new SeededRandom(1);
        _u = new float[H];
        _y = new float[H];
        _logits = new float[10];
        for (int i = 0; i < H; i++) _u[i] = (float)random.NextNormal();
    }

    [Benchmark(Baseline = true, Description = "naive tanh RNN, one step")]
    public void NaiveRnn() => _rnn.Forward(_u, _y, 1, 1);

    [Benchmark(Description = "naive per-step LRU, one step")]
    public void NaivePerStepLru() => NaiveLru.Forward(_layer, _u, _y, 1, 1);

    [Benchmark(Description = "LRU layer Step")]
    public void LayerStep() => _layer.Step(_u, _y, _state);

    [Benchmark(Description = "2-block model Step")]
    public void ModelStep() => _model.Step(_u, _logits, _modelState);
}
