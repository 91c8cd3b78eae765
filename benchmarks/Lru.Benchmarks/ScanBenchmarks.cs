using BenchmarkDotNet.Attributes;
using Lru.Scans;
using Lru.Tensors;

namespace Lru.Benchmarks;

/// <summary>The complex-diagonal scan alone, in place over a (B, L, 2N) buffer, for each mode.</summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 8)]
public class ScanBenchmarks
{
    private float[] _lamRe = null!, _lamIm = null!, _states = null!;
    private int _b, _l;

    /// <summary>(B, L, N).</summary>
    [Params("8,1024,256", "1,4096,64", "1,65536,64")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        int[] s = Shape.Split(',').Select(int.Parse).ToArray();
        (_b, _l) = (s[0], s[1]);
        int n = s[2];
        var random = new SeededRandom(3);
        _lamRe = new float[n]; _lamIm = new float[n];
        for (int j = 0; j < n; j++)
        {
            double r = 0.9 + 0.099 * random.NextOpenUnit(), phase = 2 * Math.PI * random.NextOpenUnit();
            _lamRe[j] = (float)(r * Math.Cos(phase)); _lamIm[j] = (float)(r * Math.Sin(phase));
        }
        _states = new float[_b * _l * 2 * n];
        for (int i = 0; i < _states.Length; i++) _states[i] = (float)random.NextNormal();
    }

    [Benchmark(Baseline = true)]
    public void Sequential() => DiagonalRecurrence.Scan<float>(_lamRe, _lamIm, _states, _b, _l, mode: ScanMode.Sequential);

    [Benchmark]
    public void Chunked() => DiagonalRecurrence.Scan<float>(_lamRe, _lamIm, _states, _b, _l, mode: ScanMode.Chunked);

    [Benchmark]
    public void Tree() => DiagonalRecurrence.Scan<float>(_lamRe, _lamIm, _states, _b, _l, mode: ScanMode.Tree);
}
