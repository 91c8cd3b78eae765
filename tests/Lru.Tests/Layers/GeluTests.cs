using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class GeluTests
{
    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void Gradients_MatchFiniteDifferences(GeluApproximation approximation) =>
        GradientCheck.Layer(new Gelu<double>(5, approximation), batch: 2, length: 3, seed: 3, inputScale: 2);

    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void Float_AgreesWithDouble(GeluApproximation approximation) =>
        GradientCheck.FloatMatchesDouble(new Gelu<float>(7, approximation), new Gelu<double>(7, approximation), batch: 3, length: 5, seed: 4);

    /// <summary>
    /// Reference values x·Φ(x) and the tanh form, evaluated with 40 digits. The tolerance is the conditioning of
    /// the problem: rounding x/√2 to double alone moves Φ(x) by a relative 1e-16·x² in the negative tail.
    /// </summary>
    [Theory]
    [InlineData(GeluApproximation.None, 1.0, 0.8413447460685429)]
    [InlineData(GeluApproximation.None, -1.0, -0.15865525393145705)]
    [InlineData(GeluApproximation.None, 2.0, 1.9544997361036416)]
    [InlineData(GeluApproximation.None, -3.0, -0.0040496940948902838)]
    [InlineData(GeluApproximation.None, -10.0, -7.6198530241605260e-23)]
    [InlineData(GeluApproximation.None, 0.0, 0.0)]
    [InlineData(GeluApproximation.Tanh, 1.0, 0.8411919906082768)]
    public void Values_MatchKnownResults(GeluApproximation approximation, double x, double expected)
    {
        var layer = new Gelu<double>(1, approximation) { IsTraining = false };
        double[] y = new double[1];
        layer.Forward([x], y, 1, 1);
        Assert.True(Math.Abs(y[0] - expected) <= 4e-16 * (1 + x * x) * Math.Abs(expected), $"GELU({x}) = {y[0]:R}, expected {expected:R}");
    }

    /// <summary>erfc at exactly representable points, from 30-digit references.</summary>
    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(0.1, 0.8875370839817151078)]
    [InlineData(0.5, 0.47950012218695346232)]
    [InlineData(1.0, 0.15729920705028513066)]
    [InlineData(3.0, 2.2090496998585441373e-5)]
    [InlineData(6.0, 2.1519736712498913117e-17)]
    [InlineData(10.0, 2.088487583762544757e-45)]
    [InlineData(15.0, 7.2129941724512066666e-100)]
    [InlineData(26.0, 5.6631924088561428465e-296)]
    [InlineData(-1.0, 1.8427007929497148693)]
    [InlineData(-3.5, 1.9999992569016276586)]
    public void Erfc_MatchesReferenceValues(double z, double expected) =>
        Assert.True(Math.Abs(ErrorFunction.Erfc(z) - expected) <= 1e-15 * expected, $"erfc({z}) = {ErrorFunction.Erfc(z):R}, expected {expected:R}");

    [Fact]
    public void Erfc_AgreesWithMathNet_OnAFineGrid_AndHandlesTheEnds()
    {
        // MathNet.Numerics (Boost's rational approximations) is an independent reference, accurate to about 2e-15 up
        // to z = 5.5 (at z = 4.071 it is off by 1.7e-15 against a 40-digit value, this implementation by 2e-16).
        // Beyond, MathNet drifts (7e-15 by z = 10, 5e-14 near z = 26), so the tail is checked by the reference values above.
        double worst = 0;
        for (int i = -700; i <= 550; i++)
        {
            double z = i / 100.0 + 0.001;
            double reference = MathNet.Numerics.SpecialFunctions.Erfc(z);
            worst = Math.Max(worst, Math.Abs(ErrorFunction.Erfc(z) - reference) / reference);
        }
        Assert.True(worst <= 2.5e-15, $"worst relative difference {worst:E2}");
        Assert.Equal(2.0, ErrorFunction.Erfc(double.NegativeInfinity));
        Assert.Equal(0.0, ErrorFunction.Erfc(double.PositiveInfinity));
        Assert.Equal(0.0, ErrorFunction.Erfc(40));
        Assert.True(double.IsNaN(ErrorFunction.Erfc(double.NaN)));
    }

    [Fact]
    public void Derivative_AtZero_IsOneHalf_InBothForms()
    {
        Assert.Equal(0.5, Gelu<double>.Derivative(0, tanh: false), 15);
        Assert.Equal(0.5, Gelu<double>.Derivative(0, tanh: true), 15);
    }

    [Fact]
    public void LargeInputs_SplitIntoBlocks_GiveElementwiseResults()
    {
        // More than one block of 4096 elements, so the parallel path runs; every element must equal the scalar formula.
        const int batch = 3, length = 701, h = 5;
        var layer = new Gelu<float>(h);
        float[] x = Compare.Cast<float>(Compare.Random(batch * length * h, 9, scale: 3));
        float[] y = new float[x.Length], gx = new float[x.Length], gy = Compare.Cast<float>(Compare.Random(x.Length, 10));
        layer.Forward(x, y, batch, length);
        layer.Backward(gy, gx, batch, length);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal((float)Gelu<double>.Value(x[i], tanh: false), y[i]);
            Assert.Equal((float)(gy[i] * Gelu<double>.Derivative(x[i], tanh: false)), gx[i]);
        }
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new Gelu<double>(0)).ParamName);
        Assert.Equal("approximation", Assert.Throws<ArgumentOutOfRangeException>(() => new Gelu<double>(2, (GeluApproximation)7)).ParamName);
        var layer = new Gelu<double>(3);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => layer.Forward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Forward(new double[6], new double[5], 1, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 1, 2));
        layer.Forward(new double[6], new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 2, 1));
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[6], new double[5], 1, 2)).ParamName);
    }

    [Fact]
    public void SteadyState_AllocatesNothing() =>
        GradientCheck.AllocatesNothingInSteadyState(new Gelu<float>(7), batch: 2, length: 3);
}
