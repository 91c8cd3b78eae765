using System.Numerics;
using Lru.Layers;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

/// <summary>The multi-threaded paths of the elementwise layers: results must not depend on the thread count.</summary>
[Collection(nameof(ThreadCountSetting))]
public class ElementwiseThreadCountTests
{
    public static TheoryData<string> ParallelLayers => ["LayerNorm", "BatchNorm", "Gelu", "GeluTanh", "Glu"];

    private static Module<T> Create<T>(string name, int h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Module<T> layer = name switch
        {
            "LayerNorm" => new LayerNorm<T>(h),
            "BatchNorm" => new BatchNorm<T>(h),
            "Gelu" => new Gelu<T>(h),
            "GeluTanh" => new Gelu<T>(h, GeluApproximation.Tanh),
            "Glu" => new Glu<T>(h, seed: 3),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        int seed = 20;
        foreach (var (_, p) in layer.NamedParameters())
        {
            double[] v = Compare.Random(p.Values.Length, seed++, scale: 0.5);
            for (int i = 0; i < v.Length; i++) p.Values[i] = p.Values[i] + T.CreateChecked(v[i]);
            p.MarkModified();
        }
        return layer;
    }

    /// <summary>Forward, then backward twice (so the parameter gradients accumulate); returns everything produced.</summary>
    private static T[][] Run<T>(string name, int batch, int length, int h, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int previous = Parallelism.MaxThreads;
        Parallelism.MaxThreads = threads;
        try
        {
            var layer = Create<T>(name, h);
            T[] x = Compare.Cast<T>(Compare.Random(batch * length * h, 1, scale: 2));
            T[] gy = Compare.Cast<T>(Compare.Random(x.Length, 2));
            T[] y = new T[x.Length], gx = new T[x.Length];
            layer.Forward(x, y, batch, length);
            layer.Backward(gy, gx, batch, length);
            layer.Backward(gy, gx, batch, length);
            return [y, gx, .. layer.NamedParameters().Select(p => p.Parameter.GradientArray)];
        }
        finally
        {
            Parallelism.MaxThreads = previous;
        }
    }

    [Theory]
    [MemberData(nameof(ParallelLayers))]
    public void Results_AreBitIdentical_ForOneAndSeveralThreads(string name)
    {
        // 2·700·33 = 46 200 elements: a dozen blocks of rows, three groups of features, so the parallel paths run.
        const int batch = 2, length = 700, h = 33;
        int threads = Math.Max(2, Environment.ProcessorCount); // two threads even on one core: the split is what matters
        float[][] one = Run<float>(name, batch, length, h, 1);
        TwoThreads.Prove(() => Run<float>(name, batch, length, h, threads),
            many => { for (int k = 0; k < one.Length; k++) Assert.Equal(one[k], many[k]); }, $"{name}, float");
        double[][] oneD = Run<double>(name, batch, length, h, 1);
        TwoThreads.Prove(() => Run<double>(name, batch, length, h, threads),
            manyD => { for (int k = 0; k < oneD.Length; k++) Assert.Equal(oneD[k], manyD[k]); }, $"{name}, double");
    }

}

/// <summary>The SIMD paths of the elementwise layers: features handled by vector lanes must agree with those handled by the scalar tails.</summary>
public class ElementwiseSimdTests
{
    public static TheoryData<int> FeatureCounts => [1, 7, 17, 33, 128, 130];

    [Theory]
    [MemberData(nameof(FeatureCounts))]
    public void Gelu_EveryElement_IsComputedTheSame_InVectorBodyAndTail(int h)
    {
        // Each element alone (a one-element call is all tail) must give bit for bit what it gives inside a long row.
        foreach (var approximation in new[] { GeluApproximation.None, GeluApproximation.Tanh })
        {
            const int batch = 2, length = 3;
            float[] x = Compare.Cast<float>(Compare.Random(batch * length * h, h, scale: 3));
            float[] gy = Compare.Cast<float>(Compare.Random(x.Length, h + 1));
            var layer = new Gelu<float>(h, approximation);
            float[] y = new float[x.Length], gx = new float[x.Length];
            layer.Forward(x, y, batch, length);
            layer.Backward(gy, gx, batch, length);
            var single = new Gelu<float>(1, approximation);
            float[] one = new float[1], gone = new float[1];
            for (int i = 0; i < x.Length; i++)
            {
                single.Forward([x[i]], one, 1, 1);
                gone[0] = 0; // input gradients accumulate
                single.Backward([gy[i]], gone, 1, 1);
                Assert.Equal(one[0], y[i]);
                Assert.Equal(gone[0], gx[i]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(FeatureCounts))]
    public void LayerNorm_MatchesTheDirectFormula_ForEveryFeatureCount(int h)
    {
        const int batch = 3, length = 5, rows = batch * length;
        var layer = new LayerNorm<double>(h);
        var single = new LayerNorm<float>(h);
        double[] w = Compare.Random(h, 4), b = Compare.Random(h, 5);
        for (int f = 0; f < h; f++)
        {
            single.Weight.Values[f] = (float)(layer.Weight.Values[f] = (float)(1 + 0.3 * w[f]));
            single.Bias.Values[f] = (float)(layer.Bias.Values[f] = (float)b[f]);
        }
        double[] x = Compare.Random(rows * h, h, scale: 2).Select(v => (double)(float)v).ToArray();
        double[] gy = Compare.Random(rows * h, h + 1).Select(v => (double)(float)v).ToArray();
        double[] expected = new double[x.Length], expectedGx = new double[x.Length];
        double[] expectedGw = new double[h], expectedGb = new double[h];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int f = 0; f < h; f++) mean += x[r * h + f] / h;
            for (int f = 0; f < h; f++) variance += (x[r * h + f] - mean) * (x[r * h + f] - mean) / h;
            double rstd = 1 / Math.Sqrt(variance + 1e-5), meanG = 0, meanGN = 0;
            for (int f = 0; f < h; f++)
            {
                double n = (x[r * h + f] - mean) * rstd, g = gy[r * h + f] * layer.Weight.Values[f];
                expected[r * h + f] = n * layer.Weight.Values[f] + layer.Bias.Values[f];
                expectedGw[f] += gy[r * h + f] * n;
                expectedGb[f] += gy[r * h + f];
                meanG += g / h;
                meanGN += g * n / h;
            }
            for (int f = 0; f < h; f++)
            {
                double n = (x[r * h + f] - mean) * rstd, g = gy[r * h + f] * layer.Weight.Values[f];
                expectedGx[r * h + f] = rstd * (g - meanG - n * meanGN);
            }
        }
        double[] y = new double[x.Length], gx = new double[x.Length];
        layer.Forward(x, y, batch, length);
        layer.Backward(gy, gx, batch, length);
        Compare.Close<double>(y, expected, 1e-13, "double output");
        Compare.Close<double>(gx, expectedGx, 1e-12, "double input gradient");
        Compare.Close<double>(layer.Weight.GradientArray, expectedGw, 1e-13, "double weight gradient");
        Compare.Close<double>(layer.Bias.GradientArray, expectedGb, 1e-13, "double bias gradient");
        float[] yf = new float[x.Length], gxf = new float[x.Length];
        single.Forward(Compare.Cast<float>(x), yf, batch, length);
        single.Backward(Compare.Cast<float>(gy), gxf, batch, length);
        Compare.Close<float>(yf, expected, 1e-5, "float output");
        Compare.Close<float>(gxf, expectedGx, 1e-5, "float input gradient");
    }

    [Theory]
    [MemberData(nameof(FeatureCounts))]
    public void BatchNorm_VectorLanesAndScalarFeatures_AccumulateIdentically(int h)
    {
        // The statistics are sums in double over rows in order, whichever path handles a feature, so the running
        // statistics must equal, bit for bit, the same sums done here one feature at a time.
        const int batch = 3, length = 7, rows = batch * length;
        var layer = new BatchNorm<float>(h);
        float[] x = Compare.Cast<float>(Compare.Random(rows * h, h, scale: 2));
        for (int i = 0; i < x.Length; i++) x[i] += i % h; // a different offset per feature
        float[] gy = Compare.Cast<float>(Compare.Random(rows * h, h + 1));
        float[] y = new float[x.Length], gx = new float[x.Length];
        layer.Forward(x, y, batch, length);
        layer.Backward(gy, gx, batch, length);
        for (int f = 0; f < h; f++)
        {
            double sum = 0, squares = 0, gradSum = 0, gradNorm = 0;
            for (int r = 0; r < rows; r++) sum += x[r * h + f];
            double mean = sum / rows;
            for (int r = 0; r < rows; r++) squares += (x[r * h + f] - mean) * (x[r * h + f] - mean);
            double rstd = 1.0 / Math.Sqrt(squares / rows + 1e-5);
            for (int r = 0; r < rows; r++)
            {
                gradSum += gy[r * h + f];
                gradNorm += gy[r * h + f] * (x[r * h + f] - mean) * rstd;
            }
            Assert.Equal((float)(0.9 * 0 + 0.1 * mean), layer.RunningMean[f]);
            Assert.Equal((float)(0.9 * 1 + 0.1 * squares / (rows - 1)), layer.RunningVariance[f]);
            Assert.Equal((float)gradSum, layer.Bias.GradientArray[f]);
            Assert.Equal((float)gradNorm, layer.Weight.GradientArray[f]);
            for (int r = 0; r < rows; r++)
            {
                double norm = (x[r * h + f] - mean) * rstd;
                Assert.Equal((float)norm, y[r * h + f], 1e-5f);
                double g = gy[r * h + f] - gradSum / rows - norm * (gradNorm / rows);
                Assert.Equal((float)(rstd * g), gx[r * h + f], Math.Max(1e-5f, 1e-6f * Math.Abs((float)(rstd * g))));
            }
        }
    }

    [Theory]
    [MemberData(nameof(FeatureCounts))]
    public void Glu_GateAndItsBackward_MatchTheFormula_ForEveryFeatureCount(int h)
    {
        const int batch = 2, length = 3;
        var glu = new Glu<double>(h, seed: 5);
        double[] x = Compare.Random(batch * length * h, h), gz = Compare.Random(x.Length, h + 1);
        double[] a = new double[x.Length], g = new double[x.Length], z = new double[x.Length], gx = new double[x.Length];
        glu.Out1.IsTraining = glu.Out2.IsTraining = false;
        glu.Out1.Forward(x, a, batch, length);
        glu.Out2.Forward(x, g, batch, length);
        glu.Forward(x, z, batch, length);
        double[] expected = new double[x.Length], gradA = new double[x.Length], gradG = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double s = 1 / (1 + Math.Exp(-g[i]));
            expected[i] = a[i] * s;
            gradA[i] = gz[i] * s;
            gradG[i] = gz[i] * a[i] * s * (1 - s);
        }
        Compare.Close<double>(z, expected, 1e-14, "output");
        // ∂x = ∂a·W1 + ∂g·W2, by hand.
        double[] w1 = glu.Out1.Weight.Values, w2 = glu.Out2.Weight.Values, expectedGx = new double[x.Length];
        for (int r = 0; r < batch * length; r++)
            for (int i = 0; i < h; i++)
                for (int o = 0; o < h; o++)
                    expectedGx[r * h + i] += gradA[r * h + o] * w1[o * h + i] + gradG[r * h + o] * w2[o * h + i];
        glu.Backward(gz, gx, batch, length);
        Compare.Close<double>(gx, expectedGx, 1e-13, "input gradient");
    }
}
