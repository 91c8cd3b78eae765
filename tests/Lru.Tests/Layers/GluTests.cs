using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class GluTests
{
    [Fact]
    public void Gradients_MatchFiniteDifferences() =>
        GradientCheck.Layer(new Glu<double>(5, seed: 1), batch: 2, length: 3, seed: 2);

    [Fact]
    public void Float_AgreesWithDouble() =>
        GradientCheck.FloatMatchesDouble(new Glu<float>(7, seed: 3), new Glu<double>(7, seed: 3), batch: 3, length: 4, seed: 5);

    // H = 32 over 320 rows: the weight gradient takes the unpacked small-output GEMM, the forward and ∂x whole kernel tiles.
    [Fact]
    public void Float_AgreesWithDouble_AtKernelSizes() =>
        GradientCheck.FloatMatchesDouble(new Glu<float>(32, seed: 6), new Glu<double>(32, seed: 6), batch: 4, length: 80, seed: 8);

    // 6 rows: the whole-pass GEMMs; 600 rows: the blocked passes, whose shares are added to non-zero gradients the second time.
    [Theory]
    [InlineData(2, 3)]
    [InlineData(2, 300)]
    public void Backward_Twice_DoublesParameterGradients(int batch, int length) =>
        GradientCheck.Accumulates(new Glu<double>(3, seed: 4), batch, length, seed: 1);

    /// <summary>The unit by its formula, term by term in double: <c>(b1 + W1 x) ⊙ sigmoid(b2 + W2 x)</c> per row.</summary>
    private static double[] DirectFormula(Glu<double> glu, double[] x, int rows)
    {
        int h = glu.Features;
        var expected = new double[rows * h];
        double[] w1 = glu.Out1.Weight.Values, b1 = glu.Out1.Bias!.Values, w2 = glu.Out2.Weight.Values, b2 = glu.Out2.Bias!.Values;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < h; o++)
            {
                double a = b1[o], g = b2[o];
                for (int i = 0; i < h; i++)
                {
                    a += w1[o * h + i] * x[r * h + i];
                    g += w2[o * h + i] * x[r * h + i];
                }
                expected[r * h + o] = a / (1 + Math.Exp(-g));
            }
        return expected;
    }

    // Rows 6 and 3: the stacked GEMM in both modes, and an evaluation pass of a few rows through out1 and out2 one by one;
    // 1,200 rows: the blocked passes in both modes (evaluation without the input copy).
    [Theory]
    [InlineData(2, 3)]
    [InlineData(1, 3)]
    [InlineData(4, 300)]
    public void Forward_MatchesDirectFormula_InBothModes(int batch, int length)
    {
        const int h = 5;
        var glu = new Glu<double>(h, seed: 7);
        BothModesMatchTheDirectFormula(glu, glu, Compare.Random(batch * length * h, 2), batch, length, 1e-14);
    }

    /// <summary><paramref name="glu"/>'s forward in training and in evaluation mode against the direct formula with <paramref name="reference"/>'s weights, in double.</summary>
    private static void BothModesMatchTheDirectFormula<T>(Glu<T> glu, Glu<double> reference, double[] input, int batch, int length, double tolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        T[] x = Compare.Cast<T>(input), y = new T[x.Length];
        double[] expected = DirectFormula(reference, Compare.ToDouble<T>(x), batch * length);
        glu.Forward(x, y, batch, length);
        Compare.Close<T>(y, expected, tolerance, "training");
        glu.IsTraining = false;
        Array.Clear(y);
        glu.Forward(x, y, batch, length);
        Compare.Close<T>(y, expected, tolerance, "evaluation");
    }

    /// <summary>
    /// The stacked passes against <c>out1</c> and <c>out2</c> run as separate linear layers with the gate written out:
    /// outputs, ∂x and all four parameter gradients, in double (1e-12 relative: sums of at most 2H products of order one).
    /// H = 40 over 100 rows takes the stacked weight-gradient GEMM on its small-output kernel; H = 257 the two GEMMs on
    /// the halves of [∂a | ∂g]; 1,200 and 800 rows the blocked passes (blocks of 264 rows, the last one short), whose
    /// weight and bias gradients are sums of the blocks' shares.
    /// </summary>
    [Theory]
    [InlineData(5, 2, 3)]
    [InlineData(40, 2, 50)]
    [InlineData(257, 1, 3)]
    [InlineData(40, 4, 300)]
    [InlineData(64, 2, 400)]
    public void StackedPasses_EqualTheLinearLayersComposedByHand(int h, int batch, int length)
    {
        var glu = new Glu<double>(h, seed: 9);
        var parts = new Glu<double>(h, seed: 9);
        parts.IsTraining = true;
        int count = batch * length * h;
        double[] x = Compare.Random(count, 1), dz = Compare.Random(count, 2), y = new double[count], dx = Compare.Random(count, 3);
        double[] expectedDx = (double[])dx.Clone();
        glu.Forward(x, y, batch, length);
        glu.Backward(dz, dx, batch, length);

        double[] a = new double[count], g = new double[count], expected = new double[count], da = new double[count], dg = new double[count];
        parts.Out1.Forward(x, a, batch, length);
        parts.Out2.Forward(x, g, batch, length);
        for (int i = 0; i < count; i++)
        {
            double s = 1 / (1 + Math.Exp(-g[i]));
            expected[i] = a[i] * s;
            da[i] = dz[i] * s;
            dg[i] = dz[i] * a[i] * s * (1 - s);
        }
        parts.Out1.Backward(da, expectedDx, batch, length);
        parts.Out2.Backward(dg, expectedDx, batch, length);
        Compare.Close<double>(y, expected, 1e-12, "output");
        Compare.Close<double>(dx, expectedDx, 1e-12, "input gradient");
        var expectedParameters = parts.NamedParameters().ToArray();
        foreach (var ((name, p), i) in glu.NamedParameters().Select((n, i) => (n, i)))
            Compare.Close<double>(p.Gradient, expectedParameters[i].Parameter.Gradient.ToArray(), 1e-12, name);
    }

    [Fact]
    public void StackedWeights_FollowEveryParameterChange()
    {
        const int batch = 2, length = 4, h = 6;
        var glu = new Glu<double>(h, seed: 3);
        double[] x = Compare.Random(batch * length * h, 4), y = new double[x.Length];
        glu.Forward(x, y, batch, length);
        // Change each of the four parameters in turn (as an optimiser or a loader does) and check the next forward sees it.
        foreach (var parameter in new[] { glu.Out1.Weight, glu.Out1.Bias!, glu.Out2.Weight, glu.Out2.Bias! })
        {
            parameter.Values[1] += 0.25;
            parameter.MarkModified();
            glu.IsTraining = true;
            glu.Forward(x, y, batch, length);
            Compare.Close<double>(y, DirectFormula(glu, x, batch * length), 1e-14, parameter.Name);
            glu.IsTraining = false;
            glu.Forward(x, y, batch, length);
            Compare.Close<double>(y, DirectFormula(glu, x, batch * length), 1e-14, parameter.Name + " (evaluation)");
        }
    }

    [Fact]
    public void EvaluationForward_BetweenTrainingForwardAndBackward_LeavesTheCache()
    {
        const int batch = 2, length = 3, h = 5;
        var a = new Glu<double>(h, seed: 1);
        var b = new Glu<double>(h, seed: 1);
        double[] x = Compare.Random(batch * length * h, 1), other = Compare.Random(batch * length * h, 2), gy = Compare.Random(x.Length, 3);
        double[] y = new double[x.Length], ga = new double[x.Length], gb = new double[x.Length];
        a.Forward(x, y, batch, length);
        a.Backward(gy, ga, batch, length);
        b.Forward(x, y, batch, length);
        b.IsTraining = false;
        b.Forward(other, y, batch, length);
        b.Backward(gy, gb, batch, length);
        Assert.Equal(ga, gb);
        Assert.Equal(a.Out2.Weight.GradientArray, b.Out2.Weight.GradientArray);
    }

    [Fact]
    public void NamedParameters_AreHierarchical()
    {
        var glu = new Glu<float>(4);
        Assert.Equal(["out1.weight", "out1.bias", "out2.weight", "out2.bias"], glu.NamedParameters().Select(n => n.Name));
        Assert.Same(glu.Out2.Bias, glu.NamedParameters().Last().Parameter);
        Assert.NotEqual(glu.Out1.Weight.Values, glu.Out2.Weight.Values);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new Glu<double>(0)).ParamName);
        var glu = new Glu<double>(3);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => glu.Forward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => glu.Forward(new double[6], new double[5], 1, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => glu.Backward(new double[6], new double[6], 1, 2));
        glu.Forward(new double[6], new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => glu.Backward(new double[6], new double[6], 2, 1));
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => glu.Backward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => glu.Backward(new double[6], new double[5], 1, 2)).ParamName);
    }

    // 6 rows: the whole-pass GEMMs; 600 rows: the blocked passes. What is measured is the calling thread (which runs one of
    // the three blocks); worker threads' GEMM packing buffers are per thread and made once, outside this check.
    [Theory]
    [InlineData(5, 2, 3)]
    [InlineData(16, 2, 300)]
    public void SteadyState_AllocatesNothing(int h, int batch, int length) =>
        GradientCheck.AllocatesNothingInSteadyState(new Glu<float>(h), batch, length);

    /// <summary>
    /// ForwardPlus (the block's skip added in the gate's pass) equals the forward and then the sum, bit for bit: a few rows
    /// (the linear layers' path), the whole-pass GEMM and the blocked passes, a row tail outside the vectors (H = 40) and
    /// none (H = 64), training and evaluation; the training pass leaves the same caches (the backward gives the same ∂x).
    /// </summary>
    [Theory]
    [InlineData(40, 3)]
    [InlineData(64, 100)]
    [InlineData(40, 1200)]
    [InlineData(64, 1200)]
    public void ForwardPlus_IsTheForwardThenTheSum_BitForBit(int h, int rows)
    {
        float[] x = Compare.Cast<float>(Compare.Random(rows * h, 1)), addend = Compare.Cast<float>(Compare.Random(rows * h, 2));
        float[] gz = Compare.Cast<float>(Compare.Random(rows * h, 3));
        foreach (bool training in new[] { true, false })
        {
            var fused = new Glu<float>(h, seed: 4);
            var plain = new Glu<float>(h, seed: 4);
            float[] y = new float[x.Length], expected = new float[x.Length];
            fused.ForwardPlus(x, addend, y, new SequenceShape(1, rows), training);
            plain.Forward(x, expected, new SequenceShape(1, rows), training);
            for (int i = 0; i < expected.Length; i++) expected[i] += addend[i];
            Assert.Equal(expected, y);
            if (!training) continue;
            float[] gx = new float[x.Length], gxPlain = new float[x.Length];
            fused.Backward(gz, gx);
            plain.Backward(gz, gxPlain);
            Assert.Equal(gxPlain, gx);
        }
    }

    [Fact]
    public void BlockedPasses_ApplyFromTwoBlocks_AndUpToH128InFloat()
    {
        Assert.False(new Glu<float>(64).Blocked(2 * Glu<float>.GemmBlockRows - 1));
        Assert.True(new Glu<float>(64).Blocked(2 * Glu<float>.GemmBlockRows));
        Assert.True(new Glu<float>(128).Blocked(10_000));
        Assert.False(new Glu<float>(129).Blocked(10_000));
        Assert.True(new Glu<double>(90).Blocked(10_000));
        Assert.False(new Glu<double>(91).Blocked(10_000));
        Assert.True(new Glu<float>(64).Blocked(250_000));
        Assert.False(new Glu<float>(64).Blocked(270_000));
    }

    /// <summary>
    /// The float gate's sigmoid (a float exponential of −|g|, see <c>Glu.Sigmoid</c>) against the sigmoid in double,
    /// rounded: within 3 float ulps of the result on a dense grid of [−120, 120] (the analysis: at most about 1.5 ulps
    /// of exp reach σ, plus the roundings of 1 + e, the division and e·r), and the special values exactly. The grid's
    /// length is no multiple of 16, so the padded last vector is checked too.
    /// </summary>
    [Fact]
    public void FloatSigmoid_IsWithinThreeUlps_AndKeepsTheSpecialValues()
    {
        const int count = 1_000_003;
        float[] g = new float[count], s = new float[count];
        for (int i = 0; i < count; i++) g[i] = (float)(-120 + 240.0 * i / (count - 1));
        Glu<float>.Sigmoid(g, s);
        double worst = 0;
        for (int i = 0; i < count; i++)
        {
            double exact = 1 / (1 + Math.Exp(-(double)g[i]));
            float rounded = (float)exact;
            if (rounded == 0) { Assert.True(s[i] < 1e-44f, $"σ({g[i]}) = {s[i]}"); continue; }
            double ulp = MathF.BitIncrement(rounded) - rounded;
            worst = Math.Max(worst, Math.Abs(s[i] - exact) / ulp);
        }
        Assert.True(worst <= 3, $"worst {worst:F2} ulps");
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 200f, -200f], result = new float[special.Length];
        Glu<float>.Sigmoid(special, result);
        Assert.True(float.IsNaN(result[0]));
        Assert.Equal([1f, 0f, 0.5f, 0.5f, 1f, 0f], result[1..]);
    }

    /// <summary>
    /// The float unit (its packed weights, blocked and not, both modes) against the direct formula in double: 1e-5 of
    /// the largest output (H = 64 products of order one in float, a few ulps from the gate).
    /// </summary>
    [Theory]
    [InlineData(64, 1, 300)]
    [InlineData(64, 3, 400)]
    [InlineData(40, 2, 9)]
    public void Float_MatchesTheDirectFormulaInDouble_InBothModes(int h, int batch, int length) =>
        BothModesMatchTheDirectFormula(new Glu<float>(h, seed: 4), new Glu<double>(h, seed: 4), Compare.Random(batch * length * h, 6, scale: 2), batch, length, 1e-5);
}
