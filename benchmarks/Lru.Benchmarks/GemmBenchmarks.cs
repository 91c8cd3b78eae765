using BenchmarkDotNet.Attributes;
using Lru.Tensors;
using MathNet.Numerics;
using MathNet.Numerics.LinearAlgebra;

namespace Lru.Benchmarks;

/// <summary>
/// Single-precision C[m×n] = A[m×k]·B[k×n] for the shapes the LRU layers produce (a square
/// reference, a wide-output projection and a narrow-output projection over 8192 tokens).
/// The baseline is MathNet.Numerics' managed provider; compare with numpy/OpenBLAS using
/// <c>benchmarks/python/sgemm_openblas.py</c> (GFLOP/s = 2·m·n·k / time).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class GemmBenchmarks
{
    private float[] _a = [], _b = [], _c = [];
    private Matrix<float> _ma = null!, _mb = null!, _mc = null!;
    private int _m, _n, _k;

    /// <summary>The problem, as m×k×n (A is m×k, B is k×n).</summary>
    [Params("1024x1024x1024", "8192x128x512", "8192x512x128")]
    public string Shape { get; set; } = "1024x1024x1024";

    /// <summary>Fills A and B with random values and builds the MathNet matrices of the same shapes.</summary>
    [GlobalSetup]
    public void Setup()
    {
        int[] dims = Array.ConvertAll(Shape.Split('x'), int.Parse);
        (_m, _k, _n) = (dims[0], dims[1], dims[2]);
        var rng = new Random(42);
        _a = new float[_m * _k];
        _b = new float[_k * _n];
        _c = new float[_m * _n];
        for (int i = 0; i < _a.Length; i++) _a[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < _b.Length; i++) _b[i] = (float)(rng.NextDouble() * 2 - 1);

        Control.UseManaged();
        _ma = Matrix<float>.Build.Dense(_m, _k, (i, j) => _a[i * _k + j]);
        _mb = Matrix<float>.Build.Dense(_k, _n, (i, j) => _b[i * _n + j]);
        _mc = Matrix<float>.Build.Dense(_m, _n);
    }

    /// <summary>MathNet.Numerics managed provider, multiplying into a preallocated result.</summary>
    [Benchmark(Baseline = true)]
    public void MathNetManaged() => _ma.Multiply(_mb, _mc);

    /// <summary>Our packed, register-tiled GEMM on all cores (<see cref="Parallelism.MaxThreads"/>).</summary>
    [Benchmark]
    public void LruGemm() => Gemm.Multiply<float>(_a, _b, _c, _m, _n, _k);

    /// <summary>Our GEMM restricted to the calling thread.</summary>
    [Benchmark]
    public void LruGemmSingleThread() => Gemm.Multiply<float>(_a, _b, _c, _m, _n, _k, threads: 1);
}
