using Lru.Layers;
using Lru.Scans;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

/// <summary>LRU-MATH §4 gradients against central finite differences in double precision.</summary>
public class LruLayerGradientTests
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
            layer.Forward(u, y, batch, length, x0, default, mode);
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += weights[i] * y[i];
            return s;
        }

        Loss();
        double[] gradU = new double[u.Length], gradX0 = new double[batch * 2 * n];
        foreach (var p in layer.Parameters) p.ZeroGradient();
        layer.Backward(weights, gradU, batch, length, gradX0, mode);

        Compare.Close<double>(gradU, Numeric(u, Loss, () => { }), 1e-6, "input");
        if (withInitialState) Compare.Close<double>(gradX0, Numeric(x0, Loss, () => { }), 1e-6, "initial state");
        foreach (var p in layer.Parameters)
            Compare.Close<double>(p.GradientArray, Numeric(p.Values, Loss, p.MarkModified), 1e-6, p.Name);
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
            for (int i = 0; i < ld.Parameters[p].Value.Length; i++) ld.Parameters[p].Values[i] = lf.Parameters[p].Value[i];
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
            Compare.Close<float>(lf.Parameters[p].Gradient, ld.Parameters[p].Gradient, 1e-4, ld.Parameters[p].Name);
    }

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
                layer.Forward(u, new float[u.Length], batch, length, default, default, ScanMode.Chunked, threads);
                layer.Backward(g, new float[u.Length], batch, length, default, ScanMode.Chunked, threads);
            }
            return layer.Parameters.SelectMany(p => p.GradientArray).ToArray();
        }
        float[] once = Run(1, 1), twice = Run(1, 2);
        // The second pass adds 1400 rows' terms onto an accumulator that already holds the first
        // pass's sum, so rounding differs from doubling by up to ~rows·2⁻²⁴ of the scale.
        Compare.Close<float>(twice, once.Select(v => 2.0 * v).ToArray(), 1e-5, "accumulated");
        Assert.Equal(once, Run(2, 1));
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
