using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class LayerNormTests
{
    private static LayerNorm<T> Randomized<T>(int features, int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var layer = new LayerNorm<T>(features);
        double[] w = Compare.Random(features, seed), b = Compare.Random(features, seed + 1);
        for (int i = 0; i < features; i++)
        {
            layer.Weight.Values[i] = T.CreateChecked(1 + 0.5 * w[i]);
            layer.Bias.Values[i] = T.CreateChecked(b[i]);
        }
        return layer;
    }

    [Fact]
    public void Gradients_MatchFiniteDifferences() =>
        GradientCheck.Layer(Randomized<double>(7, 1), batch: 2, length: 3, seed: 2);

    [Fact]
    public void Float_AgreesWithDouble() =>
        GradientCheck.FloatMatchesDouble(Randomized<float>(9, 3), Randomized<double>(9, 3), batch: 3, length: 4, seed: 5);

    [Fact]
    public void Backward_Twice_DoublesParameterGradients() =>
        GradientCheck.Accumulates(Randomized<double>(5, 4), batch: 2, length: 3, seed: 1);

    [Fact]
    public void Forward_MatchesDirectFormula_InBothModes()
    {
        const int batch = 2, length = 3, h = 11;
        var layer = Randomized<double>(h, 8);
        double[] x = Compare.Random(batch * length * h, 3, scale: 4);
        for (int i = 0; i < x.Length; i++) x[i] += 10; // an offset the two-pass variance must not be hurt by
        var expected = new double[x.Length];
        for (int r = 0; r < batch * length; r++)
        {
            double mean = 0, variance = 0;
            for (int i = 0; i < h; i++) mean += x[r * h + i] / h;
            for (int i = 0; i < h; i++) variance += (x[r * h + i] - mean) * (x[r * h + i] - mean) / h;
            for (int i = 0; i < h; i++)
                expected[r * h + i] = (x[r * h + i] - mean) / Math.Sqrt(variance + 1e-5) * layer.Weight.Values[i] + layer.Bias.Values[i];
        }
        double[] y = new double[x.Length];
        layer.Forward(x, y, batch, length);
        Compare.Close<double>(y, expected, 1e-13, "training");
        layer.IsTraining = false;
        layer.Forward(x, y, batch, length);
        Compare.Close<double>(y, expected, 1e-13, "evaluation");
    }

    [Fact]
    public void Defaults_MatchPyTorch()
    {
        var layer = new LayerNorm<float>(5);
        Assert.All(layer.Weight.Values, v => Assert.Equal(1f, v));
        Assert.All(layer.Bias.Values, v => Assert.Equal(0f, v));
        Assert.Equal(1e-5, layer.Epsilon);
        Assert.Equal(["weight", "bias"], layer.NamedParameters().Select(n => n.Name));
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new LayerNorm<double>(0)).ParamName);
        Assert.Equal("epsilon", Assert.Throws<ArgumentOutOfRangeException>(() => new LayerNorm<double>(3, 0)).ParamName);
        var layer = new LayerNorm<double>(3);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => layer.Forward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Forward(new double[6], new double[7], 1, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 1, 2));
        layer.Forward(new double[6], new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 2, 1));
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[6], new double[5], 1, 2)).ParamName);
    }

    [Fact]
    public void SteadyState_AllocatesNothing() =>
        GradientCheck.AllocatesNothingInSteadyState(new LayerNorm<float>(7), batch: 2, length: 3);
}
