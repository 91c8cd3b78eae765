using BenchmarkDotNet.Attributes;
using Lru.Baselines;
using Lru.Data;
using Lru.Layers;
using Lru.Models;
using Lru.Scans;
using Lru.Tensors;
using Lru.Training;

namespace Lru.Benchmarks;

/// <summary>
/// Training work at one (B, L, H, N): the LRU layer's forward + backward with each scan, one block's
/// forward + backward (pre-LayerNorm, LRU, GELU, GLU, residual), and a whole model's optimiser step
/// (Linear encoder, 2 blocks, mean pooling, 10-way softmax cross-entropy, AdamW), against the naive
/// sequential tanh RNN with back-propagation through time (the Baseline, so Ratio is the speed-up).
/// One operation covers B·L tokens.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 5)]
public class TrainingBenchmarks
{
    private LruLayer<float> _layer = null!;
    private LruBlock<float> _block = null!;
    private NaiveRnn<float> _rnn = null!;
    private Trainer<float> _trainer = null!;
    private SequenceDataset<float> _data = null!;
    private int[] _indices = null!;
    private float[] _input = null!, _output = null!, _gradOutput = null!, _gradInput = null!;
    private int _b, _l;

    /// <summary>(B, L, H, N).</summary>
    [Params("8,1024,128,256", "1,4096,64,64")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        int[] s = Shape.Split(',').Select(int.Parse).ToArray();
        (_b, _l) = (s[0], s[1]);
        int h = s[2], n = s[3];
        _layer = new LruLayer<float>(new LruConfig(h, n), seed: 0) { IsTraining = true };
        _block = new LruBlock<float>(new LruBlockConfig(new LruConfig(h, n)), seed: 0) { IsTraining = true };
        _rnn = new NaiveRnn<float>(h, n, seed: 0);
        var random = new SeededRandom(1);
        _input = new float[_b * _l * h];
        _output = new float[_input.Length];
        _gradOutput = new float[_input.Length];
        _gradInput = new float[_input.Length];
        for (int i = 0; i < _input.Length; i++) _input[i] = (float)random.NextNormal();
        for (int i = 0; i < _gradOutput.Length; i++) _gradOutput[i] = (float)random.NextNormal();

        var model = new SequenceModel<float>(new SequenceModelConfig(h, 0, 10, 2, new LruBlockConfig(new LruConfig(h, n)), PoolingMode.Mean), seed: 0);
        int[] labels = new int[_b];
        for (int i = 0; i < _b; i++) labels[i] = random.NextInt(10);
        _data = new SequenceDataset<float>(_b, _l, h, _input, null, labels, null);
        _trainer = new Trainer<float>(model, new AdamW<float>(model.NamedParameters(), new AdamWSettings()), new TrainerOptions(BatchSize: _b));
        _indices = Enumerable.Range(0, _b).ToArray();
    }

    [Benchmark(Baseline = true, Description = "naive tanh RNN, BPTT")]
    public void NaiveRnn()
    {
        _rnn.Forward(_input, _output, _b, _l);
        _rnn.Backward(_gradOutput, _gradInput);
    }

    [Benchmark(Description = "LRU layer sequential")]
    public void Sequential() => Layer(ScanMode.Sequential);

    [Benchmark(Description = "LRU layer chunked")]
    public void Chunked() => Layer(ScanMode.Chunked);

    [Benchmark(Description = "LRU layer tree")]
    public void Tree() => Layer(ScanMode.Tree);

    [Benchmark(Description = "LRU block")]
    public void Block()
    {
        _block.Forward(_input, _output, _b, _l);
        _block.Backward(_gradOutput, _gradInput, _b, _l);
    }

    [Benchmark(Description = "model step (2 blocks, AdamW)")]
    public void ModelStep() => _trainer.TrainStep(_data, _indices);

    private void Layer(ScanMode mode)
    {
        _layer.Scan = mode;
        _layer.Forward(_input, _output, _b, _l);
        _layer.Backward(_gradOutput, _gradInput, _b, _l);
    }
}
