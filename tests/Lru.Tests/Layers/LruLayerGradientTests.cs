using Lru.Layers;
using Lru.Scans;
using Lru.Tests.Support;
using Xunit.Abstractions;

namespace Lru.Tests.Layers;

/// <summary>LRU-MATH §4 gradients against central finite differences in double precision.</summary>
public class LruLayerGradientTests(ITestOutputHelper log)
{
    private const double Step = 1e-6;

    public static readonly TheoryData<ScanMode, int, int, int, int, bool> Cases = new()
    {
        { ScanMode.Sequential, 2, 7, 3, 5, true },
        { ScanMode.Chunked, 1, 9, 4, 17, false },
        { ScanMode.Tree, 3, 6, 5, 2, true },
        { ScanMode.Auto, 1, 1, 1, 1, true },
    };

    [Theory, MemberData(nameof(Cases))]
    public void Gradients_MatchFiniteDifferences(ScanMode mode, int batch, int length, int h, int n, bool withInitialState)
    {
        var layer = new LruLayer<double>(new LruConfig(h, n, RMin: 0.5, RMax: 0.95), seed: 21) { Scan = mode };
        double[] u = Compare.Random(batch * length * h, 1);
        double[] x0 = withInitialState ? Compare.Random(batch * 2 * n, 2) : [];
        double[] weights = Compare.Random(batch * length * h, 3);
        double Loss()
        {
            double[] y = new double[u.Length];
            layer.ForwardWithState(u, y, batch, length, x0, default, mode);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += weights[i] * y[i];
            return s;
        }

        Loss();
        double[] gradU = new double[u.Length], gradX0 = new double[batch * 2 * n];
        foreach (var p in layer.Parameters) p.ZeroGradient();
        layer.BackwardWithState(weights, gradU, batch, length, gradX0, mode);

        Compare.Close<double>(gradU, Numeric(u, Loss, () => { }), 1e-6, "input");
        if (withInitialState) Compare.Close<double>(gradX0, Numeric(x0, Loss, () => { }), 1e-6, "initial state");
        foreach (var p in layer.Parameters)
            Compare.Close<double>(p.GradientArray, Numeric(p.Values, Loss, p.MarkModified), 1e-6, p.Name);
    }

    /// <summary>
    /// The chunked scan over several chunks, forward and the backward's reverse scan, against central differences:
    /// L = 1537 gives <see cref="DiagonalRecurrence.ChunkCount"/> = 3 chunks of 513, 513 and 511 steps, so the carries
    /// cross two chunk boundaries in each direction and the last chunk is shorter. With |λ| in [0.99, 0.999] a carry
    /// keeps up to 60 % of its size over a whole chunk (0.999^513), so a wrong carry or λ^k fix-up changes the
    /// gradients far from the boundaries. Phases stay below π/10: the truncation error of central differences grows
    /// like (k·θ·h)² over a memory of k ≈ 1/(1 − |λ|) steps, and with phases up to 2π it reached 2.7e-6 on theta_log.
    /// Measured errors 4e-10 to 7e-8 against the tolerance 1e-6. H = N = 2 and B = 2 keep it small:
    /// 2·(6148 + 8 + 24) forward passes of L = 1537, about 1 s in Release.
    /// </summary>
    [Fact]
    public void Chunked_OverSeveralChunks_MatchesFiniteDifferences()
    {
        const int batch = 2, length = 1537, h = 2, n = 2;
        Assert.Equal(3, DiagonalRecurrence.ChunkCount(length));
        var layer = new LruLayer<double>(new LruConfig(h, n, RMin: 0.99, RMax: 0.999, MaxPhase: Math.PI / 10), seed: 31);
        double[] u = Compare.Random(batch * length * h, 32);
        double[] x0 = Compare.Random(batch * 2 * n, 33);
        double[] weights = Compare.Random(batch * length * h, 34);
        double[] y = new double[u.Length];
        double Loss()
        {
            layer.ForwardWithState(u, y, batch, length, x0, default, ScanMode.Chunked);
            return GradientCheck.WeightedSum(y, weights);
        }

        Loss();
        double[] gradU = new double[u.Length], gradX0 = new double[x0.Length];
        foreach (var p in layer.Parameters) p.ZeroGradient();
        layer.BackwardWithState(weights, gradU, batch, length, gradX0, ScanMode.Chunked);
        double[][] analytic = layer.Parameters.Select(p => p.Gradient.ToArray()).ToArray();

        log.WriteLine($"input: relative error {GradientCheck.Check(Loss, u, gradU, "input"):E2}");
        log.WriteLine($"initial state: {GradientCheck.Check(Loss, x0, gradX0, "initial state"):E2}");
        for (int i = 0; i < analytic.Length; i++)
        {
            var p = layer.Parameters[i];
            log.WriteLine($"{p.Name}: {GradientCheck.Check(Loss, p.Values, analytic[i], p.Name, p.MarkModified):E2}");
        }
    }

    private const int GradientSeed = 41;

    /// <summary>
    /// ∂ℒ/∂u, ∂ℒ/∂x₀ and the eight parameter gradients of one training forward and backward in <paramref name="mode"/>,
    /// with a layer of seed <see cref="GradientSeed"/>, float-exact data and an initial state.
    /// </summary>
    private static double[][] Gradients<T>(ScanMode mode, LruConfig config, int batch, int length, Action<LruLayer<T>>? prepare = null)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var layer = new LruLayer<T>(config, seed: GradientSeed);
        prepare?.Invoke(layer);
        int h = config.Hidden, n = config.State;
        T[] u = Compare.Cast<T>(RoundToFloat(Compare.Random(batch * length * h, 42)));
        T[] x0 = Compare.Cast<T>(RoundToFloat(Compare.Random(batch * 2 * n, 43)));
        T[] g = Compare.Cast<T>(RoundToFloat(Compare.Random(batch * length * h, 44)));
        layer.ForwardWithState(u, new T[u.Length], batch, length, x0, default, mode);
        T[] gradU = new T[u.Length], gradX0 = new T[x0.Length];
        layer.BackwardWithState(g, gradU, batch, length, gradX0, mode);
        return [Compare.ToDouble<T>(gradU), Compare.ToDouble<T>(gradX0), .. layer.Parameters.Select(p => Compare.ToDouble<T>(p.GradientArray))];
    }

    private static double[] RoundToFloat(double[] values) => values.Select(v => (double)(float)v).ToArray();

    /// <summary>
    /// The chunked and tree scans' gradients (input, initial state, all eight parameters) equal the sequential scan's at
    /// L = 10,000, where the chunked scan runs 16 chunks of 625 steps, and |λ| up to 0.9999 carries a state across
    /// many chunks. In exact arithmetic the modes are equal; they only group the products λ^k differently (repeated
    /// multiplication against λ^k from exp/log in <see cref="DiagonalRecurrence.ComplexPower"/>), so in double they
    /// differ by rounding, of the order of 625·2⁻⁵³ ≈ 7e-14 relative per state; measured up to 3e-14 normwise, the
    /// tolerance is 1e-12. The float layers (the precision of training) are compared with the double sequential
    /// scan on the same float-rounded weights and data: the float sequential scan itself is 2e-5 away (the rounding of
    /// float λ grows with 1/(1 − |λ|)), float chunked and tree measure the same 2e-5; the tolerance is 1e-4.
    /// </summary>
    [Fact]
    public void ChunkedAndTree_Gradients_EqualSequential_AtLength10000()
    {
        const int batch = 2, length = 10_000, h = 8, n = 16;
        Assert.Equal(16, DiagonalRecurrence.ChunkCount(length));
        var config = new LruConfig(h, n, RMin: 0.99, RMax: 0.9999);
        string[] names = ["input", "initial state", .. new LruLayer<double>(config).Parameters.Select(p => p.Name)];
        Assert.Equal(10, names.Length);
        double[][] reference = Gradients<double>(ScanMode.Sequential, config, batch, length);
        double[][] floatReference = Gradients<double>(ScanMode.Sequential, config, batch, length, WithFloatWeights);
        foreach (var mode in new[] { ScanMode.Chunked, ScanMode.Tree })
        {
            double[][] d = Gradients<double>(mode, config, batch, length);
            double[][] f = Gradients<float>(mode, config, batch, length);
            for (int k = 0; k < names.Length; k++)
            {
                Assert.Contains(reference[k], v => v != 0);
                double errD = Compare.RelativeError<double>(d[k], reference[k]), errF = Compare.RelativeError<double>(f[k], floatReference[k]);
                log.WriteLine($"{mode} {names[k]}: double {errD:E2}, float {errF:E2}");
                Assert.True(errD <= 1e-12, $"{mode}, double, {names[k]}: relative difference {errD:E3} from the sequential scan exceeds 1e-12");
                Assert.True(errF <= 1e-4, $"{mode}, float, {names[k]}: relative difference {errF:E3} from the double sequential scan exceeds 1e-4");
            }
        }

        void WithFloatWeights(LruLayer<double> layer)
        {
            var single = new LruLayer<float>(config, seed: GradientSeed);
            for (int p = 0; p < layer.Parameters.Count; p++)
            {
                for (int i = 0; i < layer.Parameters[p].Values.Length; i++) layer.Parameters[p].Values[i] = single.Parameters[p].Values[i];
                layer.Parameters[p].MarkModified();
            }
        }
    }

    [Fact]
    public void FloatAndDoubleGradients_Agree()
    {
        const int batch = 2, length = 40, h = 6, n = 9;
        var config = new LruConfig(h, n);
        var ld = new LruLayer<double>(config, seed: 4);
        var lf = new LruLayer<float>(config, seed: 4);
        for (int p = 0; p < ld.Parameters.Count; p++)
        {
            // Same weights in both precisions: the float ones, widened.
            for (int i = 0; i < ld.Parameters[p].Values.Length; i++) ld.Parameters[p].Values[i] = lf.Parameters[p].Values[i];
            ld.Parameters[p].MarkModified();
        }
        double[] u = Compare.Cast<float>(Compare.Random(batch * length * h, 5)).Select(v => (double)v).ToArray();
        double[] g = Compare.Cast<float>(Compare.Random(batch * length * h, 6)).Select(v => (double)v).ToArray();

        ld.Forward(u, new double[u.Length], batch, length);
        double[] gradUd = new double[u.Length];
        ld.Backward(g, gradUd, batch, length);
        lf.Forward(Compare.Cast<float>(u), new float[u.Length], batch, length);
        float[] gradUf = new float[u.Length];
        lf.Backward(Compare.Cast<float>(g), gradUf, batch, length);

        Compare.Close<float>(gradUf, gradUd, 1e-4, "input");
        for (int p = 0; p < ld.Parameters.Count; p++)
            Compare.Close<float>(lf.Parameters[p].GradientArray, ld.Parameters[p].GradientArray, 1e-4, ld.Parameters[p].Name);
    }

    [Fact]
    public void Backward_WithoutTrainingForward_IsRefused()
    {
        var layer = new LruLayer<float>(new LruConfig(3, 2));
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new float[6], new float[6], 1, 2));
        layer.IsTraining = false;
        layer.Forward(new float[6], new float[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new float[6], new float[6], 1, 2));
        layer.IsTraining = true;
        layer.Forward(new float[6], new float[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new float[9], new float[9], 1, 3));
    }

    /// <summary>Central differences of <paramref name="loss"/> with respect to every element of <paramref name="values"/>.</summary>
    private static double[] Numeric(double[] values, Func<double> loss, Action changed)
    {
        var grad = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double keep = values[i];
            values[i] = keep + Step; changed();
            double plus = loss();
            values[i] = keep - Step; changed();
            double minus = loss();
            values[i] = keep; changed();
            grad[i] = (plus - minus) / (2 * Step);
        }
        return grad;
    }
}

/// <summary>Gradients on one and on two threads (really two: <see cref="TwoThreads"/>), apart from other tests so the worker pool is free.</summary>
[Collection(nameof(ThreadCountSetting))]
public class LruLayerGradientThreadCountTests
{
    [Fact]
    public void Gradients_Accumulate_AndAreThreadIndependent()
    {
        const int batch = 2, length = 700, h = 16, n = 24;
        float[] Run(int threads, int times)
        {
            var layer = new LruLayer<float>(new LruConfig(h, n), seed: 2);
            float[] u = Compare.Cast<float>(Compare.Random(batch * length * h, 1)), g = Compare.Cast<float>(Compare.Random(batch * length * h, 2));
            for (int i = 0; i < times; i++)
            {
                layer.ForwardWithState(u, new float[u.Length], batch, length, default, default, ScanMode.Chunked, threads);
                layer.BackwardWithState(g, new float[u.Length], batch, length, default, ScanMode.Chunked, threads);
            }
            return layer.Parameters.SelectMany(p => p.GradientArray).ToArray();
        }
        float[] once = Run(1, 1), twice = Run(1, 2);
        // The second pass adds 1400 rows' terms onto an accumulator that already holds the first
        // pass's sum, so rounding differs from doubling by up to ~rows·2⁻²⁴ of the scale.
        Compare.Close<float>(twice, once.Select(v => 2.0 * v).ToArray(), 1e-5, "accumulated");
        TwoThreads.Prove(() => Run(2, 1), two => Assert.Equal(once, two), "chunked forward and backward");
    }
}
