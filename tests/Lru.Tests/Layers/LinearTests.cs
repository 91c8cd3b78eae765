using Lru.Layers;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class LinearTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Gradients_MatchFiniteDifferences(bool useBias) =>
        GradientCheck.Layer(new Linear<double>(5, 3, seed: 1, useBias: useBias), batch: 2, length: 3, seed: 4);

    [Fact]
    public void Float_AgreesWithDouble() =>
        GradientCheck.FloatMatchesDouble(new Linear<float>(7, 5, seed: 2), new Linear<double>(7, 5, seed: 2), batch: 3, length: 5, seed: 6);

    [Fact]
    public void Backward_Twice_DoublesParameterGradients() =>
        GradientCheck.Accumulates(new Linear<double>(3, 5, seed: 3), batch: 2, length: 3, seed: 1);

    [Fact]
    public void Forward_MatchesDirectFormula()
    {
        const int batch = 2, length = 3, inF = 5, outF = 3;
        var layer = new Linear<double>(inF, outF, seed: 9);
        double[] x = Compare.Random(batch * length * inF, 2);
        double[] y = new double[batch * length * outF];
        layer.Forward(x, y, batch, length);

        var expected = new double[y.Length];
        for (int r = 0; r < batch * length; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = layer.Bias!.Value[o];
                for (int i = 0; i < inF; i++) s += x[r * inF + i] * layer.Weight.Values[o * inF + i];
                expected[r * outF + o] = s;
            }
        Compare.Close<double>(y, expected, 1e-14);
    }

    [Fact]
    public void Initialization_IsPyTorchUniform_AndSeeded()
    {
        var a = new Linear<double>(16, 40, seed: 5);
        var b = new Linear<double>(16, 40, new SeededRandom(5));
        var c = new Linear<double>(16, 40, seed: 6);
        Assert.Equal(a.Weight.Values, b.Weight.Values);
        Assert.Equal(a.Bias!.Value, b.Bias!.Value);
        Assert.NotEqual(a.Weight.Values, c.Weight.Values);
        double bound = 1 / Math.Sqrt(16);
        Assert.All(a.Weight.Values, v => Assert.InRange(Math.Abs(v), 0, bound));
        Assert.All(a.Bias.Values, v => Assert.InRange(Math.Abs(v), 0, bound));
        // Uniform on ±bound: the largest of 640 draws comes close to the bound, the mean is near zero.
        Assert.True(a.Weight.Values.Max(Math.Abs) > 0.9 * bound);
        Assert.InRange(a.Weight.Values.Average(), -0.03, 0.03);
    }

    [Fact]
    public void NamedParameters_HavePyTorchNamesAndShapes()
    {
        var layer = new Linear<float>(4, 6);
        var named = layer.NamedParameters().ToArray();
        Assert.Equal(["weight", "bias"], named.Select(n => n.Name));
        Assert.Equal([6, 4], named[0].Parameter.Shape.ToArray());
        Assert.Equal([6], named[1].Parameter.Shape.ToArray());
        Assert.Equal(["weight"], new Linear<float>(4, 6, useBias: false).NamedParameters().Select(n => n.Name));
        Assert.Null(new Linear<float>(4, 6, useBias: false).Bias);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("inputFeatures", Assert.Throws<ArgumentOutOfRangeException>(() => new Linear<double>(0, 3)).ParamName);
        Assert.Equal("outputFeatures", Assert.Throws<ArgumentOutOfRangeException>(() => new Linear<double>(3, 0)).ParamName);
        Assert.Equal("random", Assert.Throws<ArgumentNullException>(() => new Linear<double>(3, 3, null!)).ParamName);
        var layer = new Linear<double>(3, 2);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => layer.Forward(new double[5], new double[4], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Forward(new double[6], new double[5], 1, 2)).ParamName);
        Assert.Equal("batch", Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(new double[6], new double[4], -1, 2)).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(new double[6], new double[4], 1, -2)).ParamName);
    }

    [Fact]
    public void Backward_WithoutMatchingTrainingForward_Throws()
    {
        var layer = new Linear<double>(3, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[4], new double[6], 1, 2));
        layer.IsTraining = false;
        layer.Forward(new double[6], new double[4], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[4], new double[6], 1, 2));
        layer.IsTraining = true;
        layer.Forward(new double[6], new double[4], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[4], new double[6], 2, 1));
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[3], new double[6], 1, 2)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[4], new double[5], 1, 2)).ParamName);
        layer.Backward(new double[4], default, 1, 2);
    }

    [Fact]
    public void SteadyState_AllocatesNothing() =>
        GradientCheck.AllocatesNothingInSteadyState(new Linear<float>(5, 3, seed: 1), batch: 2, length: 3);
}
