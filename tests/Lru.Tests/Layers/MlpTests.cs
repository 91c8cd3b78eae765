using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class MlpTests
{
    [Theory]
    [InlineData(GeluApproximation.None, 4)]
    [InlineData(GeluApproximation.Tanh, 3)]
    public void Gradients_MatchFiniteDifferences(GeluApproximation approximation, int expansion) =>
        GradientCheck.Layer(new Mlp<double>(3, expansion, approximation, seed: 1), batch: 2, length: 3, seed: 2);

    [Fact]
    public void Float_AgreesWithDouble() =>
        GradientCheck.FloatMatchesDouble(new Mlp<float>(5, seed: 3), new Mlp<double>(5, seed: 3), batch: 3, length: 4, seed: 5);

    [Fact]
    public void Backward_Twice_DoublesParameterGradients() =>
        GradientCheck.Accumulates(new Mlp<double>(3, 2, seed: 4), batch: 2, length: 3, seed: 1);

    [Fact]
    public void Forward_MatchesDirectFormula_InBothModes()
    {
        const int batch = 2, length = 3, h = 3, e = 4, hidden = h * e;
        var mlp = new Mlp<double>(h, e, seed: 7);
        double[] x = Compare.Random(batch * length * h, 2);
        double[] w1 = mlp.Fc1.Weight.Values, b1 = mlp.Fc1.Bias!.Values, w2 = mlp.Fc2.Weight.Values, b2 = mlp.Fc2.Bias!.Values;
        var expected = new double[x.Length];
        for (int r = 0; r < batch * length; r++)
        {
            var a = new double[hidden];
            for (int j = 0; j < hidden; j++)
            {
                double s = b1[j];
                for (int i = 0; i < h; i++) s += w1[j * h + i] * x[r * h + i];
                a[j] = Gelu<double>.Value(s, tanh: false);
            }
            for (int o = 0; o < h; o++)
            {
                double s = b2[o];
                for (int j = 0; j < hidden; j++) s += w2[o * hidden + j] * a[j];
                expected[r * h + o] = s;
            }
        }
        double[] y = new double[x.Length];
        mlp.Forward(x, y, batch, length);
        Compare.Close<double>(y, expected, 1e-14, "training");
        mlp.IsTraining = false;
        Array.Clear(y);
        mlp.Forward(x, y, batch, length);
        Compare.Close<double>(y, expected, 1e-14, "evaluation");
    }

    [Fact]
    public void NamedParameters_AreHierarchical_WithExpandedShapes()
    {
        var mlp = new Mlp<float>(5);
        var named = mlp.NamedParameters().ToArray();
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"], named.Select(n => n.Name));
        Assert.Equal([20, 5], named[0].Parameter.Shape.ToArray());
        Assert.Equal([5, 20], named[2].Parameter.Shape.ToArray());
        Assert.Equal(20, mlp.HiddenFeatures);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new Mlp<double>(0)).ParamName);
        Assert.Equal("expansion", Assert.Throws<ArgumentOutOfRangeException>(() => new Mlp<double>(3, 0)).ParamName);
        var mlp = new Mlp<double>(3);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => mlp.Forward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => mlp.Forward(new double[6], new double[5], 1, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => mlp.Backward(new double[6], new double[6], 1, 2));
        mlp.Forward(new double[6], new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => mlp.Backward(new double[6], new double[6], 2, 1));
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => mlp.Backward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => mlp.Backward(new double[6], new double[5], 1, 2)).ParamName);
    }

    [Fact]
    public void SteadyState_AllocatesNothing() =>
        GradientCheck.AllocatesNothingInSteadyState(new Mlp<float>(5), batch: 2, length: 3);
}
