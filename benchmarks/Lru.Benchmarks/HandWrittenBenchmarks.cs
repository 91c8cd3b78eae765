using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Lru.Layers;
using Lru.Modules;
using Lru.Tensors;
using Lru.Training;

namespace Lru.Benchmarks;

// The audit of hand-written code against the packages the project allows (docs/architecture.md, "Hand-written code, and why it stays"). In every class the
// baseline is the package formulation and the other methods the library's own code, called directly where it is
// internal (ErrorFunction, RowOps, GeluKernels, AdamW.UpdateElements, Glu's GateBackward) or through its public entry
// point (GradientClipping.GlobalNorm, AdamW.Step, LayerNorm/BatchNorm forward); code the audit replaced is kept here as
// verbatim copies of what it was, and HandWrittenAccuracy compares every variant bit for bit.
// Every measurement is single-threaded (Parallelism.MaxThreads = 1) so that the two 2-core machine's noise from other
// work hits both sides alike; compare ratios within one run.
//
//   dotnet run -c Release --project benchmarks/Lru.Benchmarks -- --filter '*HandWritten*'
//   dotnet run -c Release --project benchmarks/Lru.Benchmarks -- accuracy

/// <summary>Scalar erfc: the library's <c>ErrorFunction.Erfc</c> against MathNet's, ns per call over ranges of z.</summary>
[MemoryDiagnoser]
[ShortRunJob]
public class HandWrittenErfcBenchmarks
{
    private const int Points = 1024;
    private readonly double[] _z = new double[Points];

    /// <summary>The range of z, as "from..to".</summary>
    [Params("-4..0", "0..2", "2..6", "6..27")]
    public string Range { get; set; } = "0..2";

    [GlobalSetup]
    public void Setup()
    {
        string[] ends = Range.Split("..");
        double from = double.Parse(ends[0]), to = double.Parse(ends[1]);
        for (int i = 0; i < Points; i++) _z[i] = from + (to - from) * (i + 0.3183) / Points;
        ErrorFunction.Erfc(1.0); // static tables
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Points)]
    public double MathNetErfc()
    {
        double s = 0;
        foreach (double z in _z) s += MathNet.Numerics.SpecialFunctions.Erfc(z);
        return s;
    }

    [Benchmark(OperationsPerInvoke = Points)]
    public double HandWrittenErfc()
    {
        double s = 0;
        foreach (double z in _z) s += ErrorFunction.Erfc(z);
        return s;
    }
}

/// <summary>
/// The global gradient norm over one float parameter of N elements: TensorPrimitives.SumOfSquares (accumulating in
/// float), the former hand-written sum (scalar, in double, four partial sums; a verbatim copy), the package
/// formulation that keeps the double accumulation (float → double in blocks with ConvertTruncating, then
/// SumOfSquares in double), and the library's GlobalNorm, which uses that formulation since the audit.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class HandWrittenSumOfSquaresBenchmarks
{
    private Parameter<float>[] _parameters = [];

    [Params(100_000, 1_000_000, 10_000_000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var p = new Parameter<float>("g", N);
        var random = new SeededRandom(1);
        Span<float> g = p.Gradient;
        for (int i = 0; i < g.Length; i++) g[i] = (float)(1e-3 * random.NextNormal());
        _parameters = [p];
    }

    [Benchmark(Baseline = true)]
    public double TensorPrimitivesFloat() => Math.Sqrt(TensorPrimitives.SumOfSquares<float>(_parameters[0].Gradient));

    [Benchmark]
    public double HandWrittenDouble() => Math.Sqrt(SumOfSquaresScalar<float>(_parameters[0].Gradient));

    [Benchmark]
    public double TensorPrimitivesWidenedToDouble() => Math.Sqrt(HandWrittenAccuracy.SumOfSquaresWidened(_parameters[0].Gradient));

    [Benchmark]
    public double LibraryGlobalNorm() => GradientClipping.GlobalNorm(_parameters);

    /// <summary>A verbatim copy of GradientClipping.SumOfSquares as it was before the audit.</summary>
    internal static double SumOfSquaresScalar<T>(ReadOnlySpan<T> g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i <= g.Length - 4; i += 4)
        {
            double a = double.CreateTruncating(g[i]), b = double.CreateTruncating(g[i + 1]);
            double c = double.CreateTruncating(g[i + 2]), d = double.CreateTruncating(g[i + 3]);
            s0 += a * a;
            s1 += b * b;
            s2 += c * c;
            s3 += d * d;
        }
        for (; i < g.Length; i++)
        {
            double a = double.CreateTruncating(g[i]);
            s0 += a * a;
        }
        return (s0 + s1) + (s2 + s3);
    }
}

/// <summary>
/// The AdamW element update over N floats: eleven TensorPrimitives passes (whole arrays, or blocks of 4096 elements so
/// the scratch stays in cache), the library's fused Vector&lt;T&gt; loop (called directly), and AdamW.Step itself.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class HandWrittenAdamWBenchmarks
{
    private float[] _p = [], _g = [], _m = [], _v = [], _scratch = [];
    private AdamW<float> _optimizer = null!;

    [Params(10_000, 100_000, 1_000_000)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_p, _g, _m, _v) = AdamWFixture.State(N);
        _scratch = new float[N];
        var parameter = new Parameter<float>("w", N);
        parameter.Assign(_p);
        _g.CopyTo(parameter.Gradient);
        _optimizer = new AdamW<float>([("w", parameter)], new AdamWSettings { LearningRate = 1e-3, WeightDecay = 0.01 });
    }

    [Benchmark(Baseline = true)]
    public void TensorPrimitivesPasses() => AdamWFixture.UpdateByTensorPrimitives(_p, _g, _m, _v, _scratch, AdamWFixture.Coefficients(7), N);

    [Benchmark]
    public void TensorPrimitivesBlocked() => AdamWFixture.UpdateByTensorPrimitives(_p, _g, _m, _v, _scratch, AdamWFixture.Coefficients(7), 4096);

    [Benchmark]
    public void HandWrittenFused() => AdamWFixture.UpdateFused(_p, _g, _m, _v, AdamWFixture.Coefficients(7), applyDecay: true);

    [Benchmark]
    public void AdamWStep() => _optimizer.Step();
}

/// <summary>
/// Row-wise products with one h-vector over 8192 rows (the LRU's D skip and its gradient): RowOps' single loop over
/// all rows against one TensorPrimitives call per row, and a broadcasting Tensor.Multiply; with x and y as the GC
/// places them, or starting on a 64-byte boundary.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class HandWrittenRowOpsBenchmarks
{
    private const int Rows = 8192;
    private float[] _x = [], _d = [], _y = [], _acc = [];
    private int _xo, _yo; // offsets of element 0 of x and y in their arrays

    [Params(64, 128, 256, 512)]
    public int H { get; set; }

    /// <summary>Whether x and y start on a 64-byte boundary (a managed array's data usually does not).</summary>
    [Params(false, true)]
    public bool Aligned { get; set; }

    private Span<float> X => _x.AsSpan(_xo, Rows * H);
    private Span<float> Y => _y.AsSpan(_yo, Rows * H);

    [GlobalSetup]
    public void Setup()
    {
        var random = new SeededRandom(2);
        (_x, _xo) = Place(Fill(Rows * H, random), Aligned);
        (_y, _yo) = Place(Fill(Rows * H, random), Aligned);
        _d = Fill(H, random);
        _acc = new float[H];
    }

    internal static float[] Fill(int n, SeededRandom random)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)random.NextNormal();
        return a;
    }

    /// <summary>
    /// <paramref name="a"/> in a pinned array, starting at the offset that puts it on a 64-byte boundary when
    /// <paramref name="aligned"/>, else 16 bytes past one (new large float arrays start 8, 16 or 24 bytes past one here).
    /// </summary>
    private static unsafe (float[] Array, int Offset) Place(float[] a, bool aligned)
    {
        float[] b = GC.AllocateUninitializedArray<float>(a.Length + 16, pinned: true);
        fixed (float* p = b)
        {
            int toBoundary = (int)((64 - ((nuint)p & 63)) & 63) / sizeof(float);
            int offset = aligned ? toBoundary : (toBoundary + 4) % 16;
            a.CopyTo(b, offset);
            return (b, offset);
        }
    }

    [Benchmark(Baseline = true), BenchmarkCategory("y = x*d")]
    public void PerRowTensorPrimitives_Multiply()
    {
        int h = H;
        Span<float> x = X, y = Y;
        for (int r = 0; r < Rows; r++) TensorPrimitives.Multiply(x.Slice(r * h, h), _d, y.Slice(r * h, h));
    }

    [Benchmark, BenchmarkCategory("y = x*d")]
    public void HandWrittenLoop_Multiply() => FormerRowOps.MultiplyRows(X, _d, Y, Rows);

    [Benchmark, BenchmarkCategory("y = x*d")]
    public void RowOps_Multiply() => RowOps.MultiplyRows<float>(X, _d, Y, Rows);

    [Benchmark, BenchmarkCategory("y = x*d")]
    public void BroadcastTensor_Multiply() =>
        Tensor.Multiply<float>(new ReadOnlyTensorSpan<float>(X, [Rows, H], []), new ReadOnlyTensorSpan<float>(_d, [1, H]), new TensorSpan<float>(Y, [Rows, H], []));

    [Benchmark(Baseline = true), BenchmarkCategory("y += x*d")]
    public void PerRowTensorPrimitives_MultiplyAdd()
    {
        int h = H;
        Span<float> x = X, yAll = Y;
        for (int r = 0; r < Rows; r++)
        {
            Span<float> y = yAll.Slice(r * h, h);
            TensorPrimitives.MultiplyAdd(x.Slice(r * h, h), _d, y, y);
        }
    }

    [Benchmark, BenchmarkCategory("y += x*d")]
    public void HandWrittenLoop_MultiplyAccumulate() => FormerRowOps.MultiplyAccumulateRows(X, _d, Y, Rows);

    [Benchmark, BenchmarkCategory("y += x*d")]
    public void RowOps_MultiplyAccumulate() => RowOps.MultiplyRows<float>(X, _d, Y, Rows, accumulate: true);

    [Benchmark(Baseline = true), BenchmarkCategory("acc += sum_r a*b")]
    public void PerRowTensorPrimitives_AccumulateProducts()
    {
        int h = H;
        Span<float> x = X, y = Y;
        for (int r = 0; r < Rows; r++) TensorPrimitives.MultiplyAdd(x.Slice(r * h, h), y.Slice(r * h, h), _acc, _acc);
    }

    [Benchmark, BenchmarkCategory("acc += sum_r a*b")]
    public void HandWrittenLoop_AccumulateProducts() => FormerRowOps.AccumulateProducts(X, Y, _acc, Rows);

    [Benchmark, BenchmarkCategory("acc += sum_r a*b")]
    public void RowOps_AccumulateProducts() => RowOps.AccumulateProducts<float>(X, Y, _acc, Rows);
}

/// <summary>
/// A verbatim copy (T = float) of RowOps' loops as they were before the audit, when every h went through them;
/// since the audit RowOps calls TensorPrimitives per row from h = RowOps.PerRowCallsFrom on.
/// </summary>
internal static unsafe class FormerRowOps
{
    public static void MultiplyRows(ReadOnlySpan<float> x, ReadOnlySpan<float> d, Span<float> y, int rows)
    {
        int h = d.Length;
        fixed (float* px = x, pd = d, py = y)
            for (int r = 0; r < rows; r++) Products(px + (long)r * h, pd, py + (long)r * h, h);
    }

    private static void Products(float* x, float* d, float* y, int h)
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; c <= h - Vector512<float>.Count; c += Vector512<float>.Count)
                (Vector512.Load(x + c) * Vector512.Load(d + c)).Store(y + c);
        if (Vector256.IsHardwareAccelerated)
            for (; c <= h - Vector256<float>.Count; c += Vector256<float>.Count)
                (Vector256.Load(x + c) * Vector256.Load(d + c)).Store(y + c);
        for (; c < h; c++) y[c] = x[c] * d[c];
    }

    public static void MultiplyAccumulateRows(ReadOnlySpan<float> x, ReadOnlySpan<float> d, Span<float> y, int rows)
    {
        int h = d.Length;
        fixed (float* px = x, pd = d, py = y)
            for (int r = 0; r < rows; r++) AddProducts(px + (long)r * h, pd, py + (long)r * h, h);
    }

    public static void AccumulateProducts(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> acc, int rows)
    {
        int h = acc.Length;
        fixed (float* pa = a, pb = b, pc = acc)
            for (int r = 0; r < rows; r++) AddProducts(pa + (long)r * h, pb + (long)r * h, pc, h);
    }

    private static void AddProducts(float* x, float* d, float* y, int h)
    {
        int c = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; c <= h - Vector512<float>.Count; c += Vector512<float>.Count)
                (Vector512.Load(x + c) * Vector512.Load(d + c) + Vector512.Load(y + c)).Store(y + c);
        if (Vector256.IsHardwareAccelerated)
            for (; c <= h - Vector256<float>.Count; c += Vector256<float>.Count)
                (Vector256.Load(x + c) * Vector256.Load(d + c) + Vector256.Load(y + c)).Store(y + c);
        for (; c < h; c++) y[c] = x[c] * d[c] + y[c];
    }
}

/// <summary>
/// The elementwise kernels of the layers, single-threaded, over N floats in blocks of 4096 as the layers run them:
/// Glu's backward gate (a verbatim copy of the fused loop vs four TensorPrimitives passes), and GELU on AVX-512
/// (GeluKernels vs per-element MathNet erfc for the exact form, vs a TensorPrimitives.Tanh composition in float for the
/// tanh form).
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class HandWrittenElementwiseBenchmarks
{
    // The Glu gate's row layout: per row of H, ∂z (H), [a | s] (2H) and [∂a | ∂g] (2H).
    private const int GluFeatures = 64;
    private float[] _dz = [], _pairs = [], _gradPairs = [], _x = [], _y = [];

    [Params(1 << 20)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.MaxThreads = 1;
        var random = new SeededRandom(3);
        _dz = HandWrittenRowOpsBenchmarks.Fill(N, random);
        _pairs = HandWrittenRowOpsBenchmarks.Fill(2 * N, random);
        for (int r = 0; r < N / GluFeatures; r++)
            for (int i = 0; i < GluFeatures; i++) _pairs[(2 * r + 1) * GluFeatures + i] = (float)random.NextOpenUnit();
        _gradPairs = new float[2 * N];
        _x = HandWrittenRowOpsBenchmarks.Fill(N, random);
        _y = new float[N];
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Glu gate backward")]
    public void GluGateBackward_TensorPrimitives() => GluFixture.BackwardByTensorPrimitives(_dz, _pairs, _gradPairs, GluFeatures);

    [Benchmark, BenchmarkCategory("Glu gate backward")]
    public void GluGateBackward_HandWrittenFused() => GluFixture.BackwardFused(_dz, _pairs, _gradPairs, GluFeatures);

    [Benchmark(Baseline = true), BenchmarkCategory("GELU exact forward")]
    public void GeluExact_MathNetPerElement()
    {
        for (int i = 0; i < _x.Length; i++)
            _y[i] = (float)(_x[i] * 0.5 * MathNet.Numerics.SpecialFunctions.Erfc(-_x[i] * 0.70710678118654752440));
    }

    [Benchmark, BenchmarkCategory("GELU exact forward")]
    public unsafe void GeluExact_GeluKernels()
    {
        if (!GeluKernels.IsSupported) throw new PlatformNotSupportedException("AVX-512F needed");
        fixed (float* x = _x, y = _y)
            for (int i = 0; i < _x.Length; i += 4096) GeluKernels.Forward(x + i, y + i, null, Math.Min(4096, _x.Length - i), tanh: false);
    }

    [Benchmark, BenchmarkCategory("GELU exact forward")]
    public void GeluExact_ScalarErrorFunction()
    {
        for (int i = 0; i < _x.Length; i++)
            _y[i] = (float)(_x[i] * 0.5 * ErrorFunction.Erfc(-_x[i] * 0.70710678118654752440));
    }

    [Benchmark(Baseline = true), BenchmarkCategory("GELU tanh forward")]
    public void GeluTanh_TensorPrimitives()
    {
        for (int i = 0; i < _x.Length; i += 4096)
        {
            int n = Math.Min(4096, _x.Length - i);
            HandWrittenAccuracy.GeluTanhByTensorPrimitives(_x.AsSpan(i, n), _y.AsSpan(i, n));
        }
    }

    [Benchmark, BenchmarkCategory("GELU tanh forward")]
    public unsafe void GeluTanh_GeluKernels()
    {
        if (!GeluKernels.IsSupported) throw new PlatformNotSupportedException("AVX-512F needed");
        fixed (float* x = _x, y = _y)
            for (int i = 0; i < _x.Length; i += 4096) GeluKernels.Forward(x + i, y + i, null, Math.Min(4096, _x.Length - i), tanh: true);
    }
}

/// <summary>
/// The normalisation layers' evaluation forward, single-threaded, (8·1024 rows) × H floats: LayerNorm's fused row
/// kernel vs a per-row TensorPrimitives composition (Sum, Subtract, SumOfSquares, Multiply, FusedMultiplyAdd); BatchNorm's
/// affine row pass vs one TensorPrimitives.FusedMultiplyAdd per row.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class HandWrittenNormalizationBenchmarks
{
    private const int Batch = 8, Length = 1024;
    private float[] _x = [], _y = [], _scale = [], _shift = [];
    private LayerNorm<float> _layerNorm = null!;
    private BatchNorm<float> _batchNorm = null!;

    [Params(64, 256)]
    public int H { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.MaxThreads = 1;
        var random = new SeededRandom(4);
        _x = HandWrittenRowOpsBenchmarks.Fill(Batch * Length * H, random);
        _y = new float[_x.Length];
        _layerNorm = new LayerNorm<float>(H);
        _batchNorm = new BatchNorm<float>(H);
        _scale = new float[H];
        _shift = new float[H];
    }

    [Benchmark(Baseline = true), BenchmarkCategory("LayerNorm forward")]
    public void LayerNorm_TensorPrimitivesPerRow() =>
        NormalizationFixture.LayerNormByTensorPrimitives(_x, _y, _layerNorm.Weight.Value, _layerNorm.Bias.Value, H, 1e-5f);

    [Benchmark, BenchmarkCategory("LayerNorm forward")]
    public void LayerNorm_HandWritten() => _layerNorm.Forward(_x, _y, new SequenceShape(Batch, Length), training: false);

    [Benchmark(Baseline = true), BenchmarkCategory("BatchNorm eval forward")]
    public void BatchNorm_TensorPrimitivesPerRow() =>
        NormalizationFixture.BatchNormEvalByTensorPrimitives(_x, _y, _batchNorm, _scale, _shift);

    [Benchmark, BenchmarkCategory("BatchNorm eval forward")]
    public void BatchNorm_HandWritten() => _batchNorm.Forward(_x, _y, new SequenceShape(Batch, Length), training: false);
}

/// <summary>The AdamW element update, as the library writes it and as TensorPrimitives passes.</summary>
internal static class AdamWFixture
{

    /// <summary>The coefficients AdamW.Update computes at <paramref name="step"/> for lr 1e-3, wd 0.01 and the default betas.</summary>
    public static AdamW<float>.Coefficients Coefficients(long step, double learningRate = 1e-3, double weightDecay = 0.01)
    {
        double beta1 = 0.9, beta2 = 0.999;
        double biasCorrection1 = 1.0 - Math.Pow(beta1, step), biasCorrection2 = 1.0 - Math.Pow(beta2, step);
        return new AdamW<float>.Coefficients
        {
            Decay = (float)(1.0 - learningRate * weightDecay),
            Beta1 = (float)beta1,
            OneMinusBeta1 = (float)(1.0 - beta1),
            Beta2 = (float)beta2,
            OneMinusBeta2 = (float)(1.0 - beta2),
            BiasCorrection2Sqrt = (float)Math.Sqrt(biasCorrection2),
            Epsilon = 1e-8f,
            StepSize = (float)(learningRate / biasCorrection1),
        };
    }

    public static (float[] P, float[] G, float[] M, float[] V) State(int n)
    {
        var random = new SeededRandom(5);
        float[] p = new float[n], g = new float[n], m = new float[n], v = new float[n];
        for (int i = 0; i < n; i++)
        {
            p[i] = (float)(0.1 * random.NextNormal());
            g[i] = (float)(1e-2 * random.NextNormal());
            m[i] = (float)(1e-3 * random.NextNormal());
            v[i] = (float)(1e-5 * random.NextOpenUnit());
        }
        return (p, g, m, v);
    }

    /// <summary>The library's fused element update itself (<c>AdamW&lt;float&gt;.UpdateElements</c>), without the optimiser's bookkeeping.</summary>
    public static void UpdateFused(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, in AdamW<float>.Coefficients c, bool applyDecay) =>
        AdamW<float>.UpdateElements(p, g, m, v, c, applyDecay);

    /// <summary>
    /// The same update as TensorPrimitives passes over blocks of <paramref name="block"/> elements, with the same
    /// operations in the same order (MultiplyAdd is x·y + z rounded twice, as the fused loop).
    /// </summary>
    public static void UpdateByTensorPrimitives(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, Span<float> scratch, in AdamW<float>.Coefficients c, int block)
    {
        for (int start = 0; start < p.Length; start += block)
        {
            int n = Math.Min(block, p.Length - start);
            Span<float> pb = p.Slice(start, n), mb = m.Slice(start, n), vb = v.Slice(start, n), t = scratch[..n];
            ReadOnlySpan<float> gb = g.Slice(start, n);
            TensorPrimitives.Multiply(pb, c.Decay, pb);                 // p ← p·decay
            TensorPrimitives.Multiply(gb, c.OneMinusBeta1, t);          // (1 − β₁)·g
            TensorPrimitives.MultiplyAdd(mb, c.Beta1, t, mb);           // m ← β₁·m + (1 − β₁)·g
            TensorPrimitives.Multiply(gb, gb, t);                       // g²
            TensorPrimitives.Multiply(t, c.OneMinusBeta2, t);           // (1 − β₂)·g²
            TensorPrimitives.MultiplyAdd(vb, c.Beta2, t, vb);           // v ← β₂·v + (1 − β₂)·g²
            TensorPrimitives.Sqrt<float>(vb, t);                        // √v
            TensorPrimitives.Divide(t, c.BiasCorrection2Sqrt, t);       // √v / √(1 − β₂ᵗ)
            TensorPrimitives.Add(t, c.Epsilon, t);                      // + ε
            TensorPrimitives.Divide(mb, t, t);                          // m / denom
            TensorPrimitives.Multiply(t, c.StepSize, t);                // · step size
            TensorPrimitives.Subtract(pb, t, pb);                       // p ← p − …
        }
    }
}

/// <summary>
/// Glu's backward gate, as the library writes it and as TensorPrimitives passes, over rows of H: ∂z (H) and [a | s] (2H)
/// in, [∂a | ∂g] (2H) out.
/// </summary>
internal static unsafe class GluFixture
{
    /// <summary>The library's <c>Glu&lt;float&gt;.GateBackward</c> itself, run block after block on one thread.</summary>
    public static void BackwardFused(ReadOnlySpan<float> dz, ReadOnlySpan<float> pairs, Span<float> gradPairs, int h)
    {
        int rows = dz.Length / h;
        fixed (float* pdz = dz, pp = pairs, pg = gradPairs)
        {
            var work = new Glu<float>.GateBackward { DZ = pdz, Pairs = pp, GradPairs = pg, Rows = rows, Features = h };
            for (int index = 0; index < Glu<float>.RowBlocks(rows, h); index++) work.Run(index);
        }
    }

    /// <summary>∂a = ∂z ⊙ s; ∂g = ((1 − s) ⊙ a) ⊙ ∂a, as four TensorPrimitives passes per row (same order of operations).</summary>
    public static void BackwardByTensorPrimitives(ReadOnlySpan<float> dz, ReadOnlySpan<float> pairs, Span<float> gradPairs, int h)
    {
        for (int r = 0; r < dz.Length / h; r++)
        {
            ReadOnlySpan<float> a = pairs.Slice(2 * r * h, h), s = pairs.Slice((2 * r + 1) * h, h);
            Span<float> da = gradPairs.Slice(2 * r * h, h), dg = gradPairs.Slice((2 * r + 1) * h, h);
            TensorPrimitives.Multiply(dz.Slice(r * h, h), s, da);
            TensorPrimitives.Subtract(1f, s, dg);
            TensorPrimitives.Multiply(dg, a, dg);
            TensorPrimitives.Multiply(dg, da, dg);
        }
    }
}

/// <summary>Package formulations of the normalisation layers' evaluation forward.</summary>
internal static class NormalizationFixture
{
    /// <summary>y = (x − μ)·rstd ⊙ w + b per row, with μ and σ² from TensorPrimitives.Sum and SumOfSquares.</summary>
    public static void LayerNormByTensorPrimitives(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> w, ReadOnlySpan<float> b, int h, float epsilon)
    {
        int rows = x.Length / h;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * h, h);
            Span<float> yr = y.Slice(r * h, h);
            float mean = TensorPrimitives.Sum(xr) / h;
            TensorPrimitives.Subtract(xr, mean, yr);
            float rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares<float>(yr) / h + epsilon);
            TensorPrimitives.Multiply(yr, rstd, yr);
            TensorPrimitives.FusedMultiplyAdd(yr, w, b, yr);
        }
    }

    /// <summary>The evaluation-mode BatchNorm: per-feature scale and shift as the layer computes them, then one FusedMultiplyAdd per row.</summary>
    public static void BatchNormEvalByTensorPrimitives(ReadOnlySpan<float> x, Span<float> y, BatchNorm<float> layer, Span<float> scaleOf, Span<float> shiftOf)
    {
        int h = layer.Features;
        ReadOnlySpan<float> w = layer.Weight.Value, b = layer.Bias.Value;
        for (int f = 0; f < h; f++)
        {
            double scale = w[f] / Math.Sqrt(layer.RunningVariance[f] + layer.Epsilon);
            scaleOf[f] = (float)scale;
            shiftOf[f] = (float)(b[f] - layer.RunningMean[f] * scale);
        }
        int rows = x.Length / h;
        for (int r = 0; r < rows; r++) TensorPrimitives.FusedMultiplyAdd(x.Slice(r * h, h), scaleOf, shiftOf, y.Slice(r * h, h));
    }
}

/// <summary>
/// The library's allocation-free parallel loop (Parallelism.For over WorkerPool) against Parallel.For, on two threads,
/// for a loop of work items that each scale a block of 4096 floats (the block size of the elementwise layers).
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class HandWrittenParallelBenchmarks
{
    private const int Block = 4096;
    private float[] _data = [];

    [Params(2, 64)]
    public int Items { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.MaxThreads = 2;
        _data = HandWrittenRowOpsBenchmarks.Fill(Items * Block, new SeededRandom(6));
    }

    [Benchmark(Baseline = true)]
    public void ParallelFor()
    {
        float[] data = _data;
        Parallel.For(0, Items, new ParallelOptions { MaxDegreeOfParallelism = 2 },
            i => TensorPrimitives.Multiply(data.AsSpan(i * Block, Block), 1.0001f, data.AsSpan(i * Block, Block)));
    }

    [Benchmark]
    public unsafe void ParallelismFor()
    {
        fixed (float* p = _data)
        {
            var work = new ScaleWork { Data = p };
            Parallelism.For(Items, 2, ref work);
        }
    }

    private unsafe struct ScaleWork : IIndexedWork
    {
        public float* Data;

        public readonly void Run(int index)
        {
            var block = new Span<float>(Data + (long)index * Block, Block);
            TensorPrimitives.Multiply(block, 1.0001f, block);
        }
    }
}
