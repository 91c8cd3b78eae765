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

    /// <summary>
    /// The AVX-512 erfc against the scalar <see cref="ErrorFunction"/> on a dense grid over [−6, 27.3] (every z where
    /// erfc is a normal double; the reference itself is within 7e-16 of the true values there), with the ends, ±0
    /// and NaN. Measured worst relative difference: 9.1e-16.
    /// </summary>
    [Fact]
    public void VectorErfc_AgreesWithTheScalarReference_OnADenseGrid()
    {
        if (!GeluKernels.IsSupported) return; // the kernels need AVX-512F; elsewhere the layer uses the scalar reference
        const int n = 400_001;
        double[] z = new double[n], result = new double[n];
        for (int i = 0; i < n; i++) z[i] = -6 + 33.3 * i / (n - 1);
        GeluKernels.Erfc(z, result);
        double worst = 0;
        for (int i = 0; i < n; i++)
        {
            double reference = ErrorFunction.Erfc(z[i]);
            if (reference < 2.3e-308) continue; // subnormal results carry only their absolute accuracy
            worst = Math.Max(worst, Math.Abs(result[i] - reference) / reference);
        }
        Assert.True(worst <= 1.5e-15, $"worst relative difference {worst:E2}");
        double[] ends = [0.0, -0.0, 28, 1e300, double.PositiveInfinity, -30, double.NegativeInfinity, double.NaN], endResults = new double[ends.Length];
        GeluKernels.Erfc(ends, endResults);
        Assert.Equal([1, 1, 0, 0, 0, 2, 2], endResults[..7]);
        Assert.True(double.IsNaN(endResults[7]));
    }

    /// <summary>
    /// GELU and GELU′ of the layer (vector kernels where supported) against double-precision scalar formulas on a
    /// dense grid over [−40, 40]: relative 2e-15, plus 1e-15 absolute for the derivative near its zero (x ≈ −0.75).
    /// Exact form: against <see cref="Gelu{T}.Value"/> and <see cref="Gelu{T}.Derivative"/>, whose negative tail has
    /// the conditioning (about 1.5e-16·x²) of rounding x/√2 (the kernel uses x²/2 exactly); subnormal results are compared
    /// absolutely. Tanh form: against <c>x·σ(2u)</c> with <c>σ(v) = 1/(1 + exp(−v))</c>, because the scalar
    /// <c>1 + tanh(u)</c> cancels completely below x ≈ −5; where it does not cancel much (x ≥ −3) against the
    /// scalar formula as well (without AVX-512 the layer runs the scalar formulas, so only that comparison applies).
    /// </summary>
    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void Double_AgreesWithTheScalarFormulas_OnADenseGrid(GeluApproximation approximation)
    {
        bool tanh = approximation == GeluApproximation.Tanh;
        const int n = 160_001;
        double[] x = new double[n];
        for (int i = 0; i < n; i++) x[i] = -40 + 80.0 * i / (n - 1) + 1e-9;
        var layer = new Gelu<double>(1, approximation);
        double[] y = new double[n], gx = new double[n];
        layer.Forward(x, y, n, 1);
        layer.Backward(Enumerable.Repeat(1.0, n).ToArray(), gx, n, 1);
        for (int i = 0; i < n; i++)
        {
            double v = Gelu<double>.Value(x[i], tanh), d = Gelu<double>.Derivative(x[i], tanh);
            double tolerance = 2e-15;
            if (tanh)
            {
                if (x[i] >= -3)
                {
                    // The scalar form loses 1e-16/σ relative to the cancellation in 1 + tanh(u) = 2σ.
                    double scalarTolerance = 2e-15 + 3e-16 * x[i] / v;
                    Assert.True(Math.Abs(y[i] - v) <= scalarTolerance * Math.Abs(v), $"GELU({x[i]:R}) = {y[i]:R}, scalar tanh form {v:R}");
                    Assert.True(Math.Abs(gx[i] - d) <= scalarTolerance * Math.Abs(d) + 1e-15, $"GELU'({x[i]:R}) = {gx[i]:R}, scalar tanh form {d:R}");
                }
                if (!GeluKernels.IsSupported) continue; // without AVX-512 the layer is the scalar formula itself
                double u = 0.79788456080286535588 * (x[i] + 0.044715 * x[i] * x[i] * x[i]);
                double sigma = 1 / (1 + Math.Exp(-2 * u)), complement = 1 / (1 + Math.Exp(2 * u));
                v = x[i] * sigma;
                d = sigma + 2 * x[i] * sigma * complement * 0.79788456080286535588 * (1 + 3 * 0.044715 * x[i] * x[i]);
                tolerance = 2e-15 + 4e-16 * Math.Abs(u); // u itself is rounded
            }
            else
            {
                tolerance += 2e-16 * x[i] * x[i];
            }
            Assert.True(Math.Abs(y[i] - v) <= tolerance * Math.Abs(v) + 1e-320, $"GELU({x[i]:R}) = {y[i]:R}, reference {v:R}");
            Assert.True(Math.Abs(gx[i] - d) <= tolerance * Math.Abs(d) + 1e-15, $"GELU'({x[i]:R}) = {gx[i]:R}, reference {d:R}");
        }
    }

    /// <summary>
    /// Float exact GELU is computed in double and rounded once, so on a dense grid every value and derivative equals
    /// the scalar double formula rounded to float (no mismatch in 2·10⁶ points when measured); ±0, ±∞ and NaN
    /// behave as in the scalar formula (NaN in gives NaN out; GELU(−∞) is NaN there too, as −∞·0).
    /// </summary>
    [Fact]
    public void Float_ExactForm_IsTheRoundedDoubleFormula_OnADenseGrid_AndAtTheEnds()
    {
        const int n = 200_000;
        float[] x = new float[n + 7];
        for (int i = 0; i < n; i++) x[i] = -15f + 30f * i / n;
        float[] ends = [0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-40f, -20f];
        ends.CopyTo(x, n);
        var layer = new Gelu<float>(x.Length);
        float[] y = new float[x.Length], gx = new float[x.Length], ones = Enumerable.Repeat(1f, x.Length).ToArray();
        layer.Forward(x, y, 1, 1);
        layer.Backward(ones, gx, 1, 1);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal((float)Gelu<double>.Value(x[i], tanh: false), y[i]);
            Assert.Equal((float)Gelu<double>.Derivative(x[i], tanh: false), gx[i]);
        }
        Assert.True(float.IsNegative(y[n + 1]), "GELU(−0) keeps the sign");
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
