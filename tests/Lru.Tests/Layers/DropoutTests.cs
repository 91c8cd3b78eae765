using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class DropoutTests
{
    [Theory]
    [InlineData(DropoutMode.PerSequence)]
    [InlineData(DropoutMode.PerElement)]
    public void Gradients_MatchFiniteDifferences(DropoutMode mode)
    {
        // Dropout is linear for a fixed mask; reseeding before every forward keeps the mask fixed.
        var layer = new Dropout<double>(5, 0.4, mode);
        GradientCheck.Layer(layer, batch: 2, length: 3, seed: 1, beforeForward: () => layer.Reseed(17));
    }

    [Theory]
    [InlineData(DropoutMode.PerSequence)]
    [InlineData(DropoutMode.PerElement)]
    public void Float_AgreesWithDouble(DropoutMode mode) =>
        GradientCheck.FloatMatchesDouble(new Dropout<float>(7, 0.3, mode, seed: 2), new Dropout<double>(7, 0.3, mode, seed: 2), batch: 3, length: 5, seed: 3);

    [Fact]
    public void Backward_Twice_GivesTheSameInputGradient() =>
        GradientCheck.Accumulates(new Dropout<double>(3, 0.5, seed: 4), batch: 2, length: 3, seed: 1);

    private static double[] Ones(int count) => Enumerable.Repeat(1.0, count).ToArray();

    [Fact]
    public void RateZero_IsIdentity_ForwardAndBackward()
    {
        const int batch = 2, length = 3, h = 5;
        var layer = new Dropout<double>(h, 0, DropoutMode.PerElement);
        double[] x = Compare.Random(batch * length * h, 1), y = new double[x.Length], gx = new double[x.Length];
        layer.Forward(x, y, batch, length);
        Assert.Equal(x, y);
        layer.Backward(x, gx, batch, length);
        Assert.Equal(x, gx);
    }

    [Fact]
    public void PerSequenceMask_IsConstantOverTime_AndScaledByOneOverKeep()
    {
        const int batch = 3, length = 7, h = 9;
        const double rate = 0.5;
        var layer = new Dropout<double>(h, rate, DropoutMode.PerSequence, seed: 5);
        double[] y = new double[batch * length * h];
        layer.Forward(Ones(y.Length), y, batch, length);
        Assert.Equal(batch * h, layer.Mask.Length);
        Assert.All(y, v => Assert.True(v == 0 || v == 1 / (1 - rate), $"mask value {v}"));
        Assert.Contains(y, v => v == 0);
        Assert.Contains(y, v => v != 0);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
                Assert.Equal(y.AsSpan(b * length * h, h).ToArray(), y.AsSpan((b * length + t) * h, h).ToArray());
    }

    [Fact]
    public void PerElementMask_VariesOverTime()
    {
        const int batch = 2, length = 6, h = 8;
        var layer = new Dropout<double>(h, 0.5, DropoutMode.PerElement, seed: 5);
        double[] y = new double[batch * length * h];
        layer.Forward(Ones(y.Length), y, batch, length);
        Assert.Equal(y.Length, layer.Mask.Length);
        Assert.NotEqual(y.AsSpan(0, h).ToArray(), y.AsSpan(h, h).ToArray());
    }

    [Theory]
    [InlineData(DropoutMode.PerElement, 0.3)]
    [InlineData(DropoutMode.PerSequence, 0.7)]
    public void KeptFraction_IsOneMinusRate_WithinFiveStandardDeviations(DropoutMode mode, double rate)
    {
        const int batch = 40, length = 5, h = 41;
        var layer = new Dropout<float>(h, rate, mode, seed: 11);
        float[] y = new float[batch * length * h];
        layer.Forward(Enumerable.Repeat(1f, y.Length).ToArray(), y, batch, length);
        int draws = layer.Mask.Length, kept = 0;
        foreach (float m in layer.Mask) if (m != 0) kept++;
        // Binomial(draws, 1 − p): |kept − draws·(1 − p)| ≤ 5·sqrt(draws·p·(1 − p)) fails with probability < 1e-6.
        double bound = 5 * Math.Sqrt(draws * rate * (1 - rate));
        Assert.InRange(kept, draws * (1 - rate) - bound, draws * (1 - rate) + bound);
        Assert.All(y, v => Assert.True(v == 0 || v == (float)(1 / (1 - rate))));
    }

    /// <summary>The mask rule, kept value ⇔ u ≥ p for the generator's successive NextOpenUnit draws, holds exactly.</summary>
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.3)]
    [InlineData(1e-12)]
    [InlineData(0.9999999)]
    public void PerElementMask_IsExactly_UniformDrawAtLeastRate(double rate)
    {
        const int batch = 3, length = 50, h = 17;
        var layer = new Dropout<double>(h, rate, DropoutMode.PerElement, seed: 9);
        double[] y = new double[batch * length * h];
        layer.Forward(Ones(y.Length), y, batch, length);
        var random = new Lru.Tensors.SeededRandom(9);
        for (int i = 0; i < y.Length; i++)
            Assert.Equal(random.NextOpenUnit() >= rate ? 1 / (1 - rate) : 0, layer.Mask[i]);
        // The threshold sits exactly where (k + 0.5)·2⁻⁵³ crosses the rate.
        ulong k = Dropout<double>.KeepThreshold(rate);
        Assert.True((k + 0.5) * (1.0 / (1UL << 53)) >= rate);
        Assert.True(k == 0 || (k - 1 + 0.5) * (1.0 / (1UL << 53)) < rate);
    }

    [Fact]
    public void SameSeed_GivesSameMasks_AndReseedRestarts()
    {
        const int batch = 2, length = 4, h = 6;
        var a = new Dropout<double>(h, 0.5, DropoutMode.PerElement, seed: 3);
        var b = new Dropout<double>(h, 0.5, DropoutMode.PerElement, seed: 3);
        var c = new Dropout<double>(h, 0.5, DropoutMode.PerElement, seed: 4);
        double[] x = Ones(batch * length * h), ya = new double[x.Length], yb = new double[x.Length], yc = new double[x.Length];
        a.Forward(x, ya, batch, length);
        double[] first = (double[])ya.Clone();
        b.Forward(x, yb, batch, length);
        c.Forward(x, yc, batch, length);
        Assert.Equal(ya, yb);
        Assert.NotEqual(ya, yc);

        a.Forward(x, ya, batch, length);
        b.Forward(x, yb, batch, length);
        Assert.Equal(ya, yb);
        Assert.NotEqual(first, ya); // a new mask every training step

        a.Reseed(3);
        a.Forward(x, ya, batch, length);
        Assert.Equal(first, ya);
    }

    [Fact]
    public void Evaluation_IsIdentity_AndKeepsTheTrainingMask()
    {
        const int batch = 2, length = 3, h = 5;
        var layer = new Dropout<double>(h, 0.9, seed: 1);
        double[] x = Compare.Random(batch * length * h, 1), y = new double[x.Length];
        layer.Forward(x, y, batch, length);
        double[] mask = layer.Mask.ToArray();
        layer.IsTraining = false;
        layer.Forward(Compare.Random(x.Length, 2), y, batch, length);
        Assert.Equal(Compare.Random(x.Length, 2), y);
        Assert.Equal(mask, layer.Mask.ToArray());
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void RateOutsideZeroToOne_Throws(double rate)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<double>(3, rate));
        Assert.Equal("rate", e.ParamName);
        Assert.Contains("[0, 1)", e.Message);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<double>(0, 0.1)).ParamName);
        Assert.Equal("mode", Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<double>(3, 0.1, (DropoutMode)5)).ParamName);
        var layer = new Dropout<double>(3, 0.1);
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
        GradientCheck.AllocatesNothingInSteadyState(new Dropout<float>(7, 0.3), batch: 2, length: 3);

    /// <summary>
    /// The block's dropout-and-skip pass, <c>y = addend + x ⊙ mask</c>, equals a forward and then an addition bit for bit
    /// (same mask from the same seed, both modes, more than one work item), and the backward that follows is the dropout's.
    /// </summary>
    [Theory]
    [InlineData(DropoutMode.PerSequence)]
    [InlineData(DropoutMode.PerElement)]
    public void ForwardPlus_IsTheForwardThenTheSum_BitForBit(DropoutMode mode)
    {
        const int batch = 3, length = 400, h = 24;
        float[] x = Compare.Cast<float>(Compare.Random(batch * length * h, 1)), addend = Compare.Cast<float>(Compare.Random(x.Length, 2));
        float[] gy = Compare.Cast<float>(Compare.Random(x.Length, 3));
        var fused = new Dropout<float>(h, 0.3, mode, seed: 9);
        var plain = new Dropout<float>(h, 0.3, mode, seed: 9);
        float[] y = new float[x.Length], expected = new float[x.Length];
        fused.ForwardPlus(x, addend, y, new SequenceShape(batch, length), training: true);
        plain.Forward(x, expected, batch, length);
        for (int i = 0; i < expected.Length; i++) expected[i] += addend[i];
        Assert.Equal(expected, y);
        Assert.Equal(plain.Mask.ToArray(), fused.Mask.ToArray());
        float[] gx = new float[x.Length], gxPlain = new float[x.Length];
        fused.Backward(gy, gx);
        plain.Backward(gy, gxPlain);
        Assert.Equal(gxPlain, gx);
        Assert.Equal("addend", Assert.Throws<ArgumentException>(() => fused.ForwardPlus(x, addend.AsSpan(1).ToArray(), y, new SequenceShape(batch, length), training: true)).ParamName);
    }
}
