using Lru.Tests.Support;
using Lru.Training;

namespace Lru.Tests.Training;

public class LossTests
{
    private const int Rows = 5, Classes = 7;
    private static readonly int[] Targets = [3, 0, 6, 6, 2];
    private static readonly bool[] Mask = [true, false, true, true, false];

    /// <summary>log softmax(z)_k = z_k − log Σ_j exp(z_j), written directly (safe for moderate logits).</summary>
    private static double LogSoftmax(double[] z, int row, int k)
    {
        double s = 0;
        for (int j = 0; j < Classes; j++) s += Math.Exp(z[row * Classes + j]);
        return z[row * Classes + k] - Math.Log(s);
    }

    [Fact]
    public void CrossEntropy_MatchesLogSoftmaxFormula_WithGradient()
    {
        double[] z = Compare.Random(Rows * Classes, 1, scale: 2), g = new double[z.Length];
        var result = SoftmaxCrossEntropy.Compute<double>(z, Targets, g, Rows, Classes);
        double expected = 0;
        for (int r = 0; r < Rows; r++) expected -= LogSoftmax(z, r, Targets[r]) / Rows;
        Assert.Equal(expected, result.Loss, 1e-14);
        Assert.Equal(Rows, result.Count);
        var expectedGrad = new double[z.Length];
        for (int r = 0; r < Rows; r++)
            for (int k = 0; k < Classes; k++)
                expectedGrad[r * Classes + k] = (Math.Exp(LogSoftmax(z, r, k)) - (k == Targets[r] ? 1 : 0)) / Rows;
        Compare.Close<double>(g, expectedGrad, 1e-14);

        // Loss only (no gradient span) gives the same loss.
        Assert.Equal(result.Loss, SoftmaxCrossEntropy.Compute<double>(z, Targets, default, Rows, Classes).Loss, 1e-15);
    }

    [Fact]
    public void CrossEntropy_Gradient_MatchesFiniteDifferences_WithMask()
    {
        double[] z = Compare.Random(Rows * Classes, 2), g = new double[z.Length];
        SoftmaxCrossEntropy.Compute<double>(z, Targets, g, Rows, Classes, Mask);
        GradientCheck.Check(() => SoftmaxCrossEntropy.Compute<double>(z, Targets, default, Rows, Classes, Mask).Loss, z, g, "logits");
    }

    [Fact]
    public void CrossEntropy_MaskedRows_ContributeNothing()
    {
        double[] z = Compare.Random(Rows * Classes, 3), g = Enumerable.Repeat(double.NaN, Rows * Classes).ToArray();
        int[] targets = (int[])Targets.Clone();
        targets[1] = -1; // padding may hold any target
        targets[4] = 99;
        var masked = SoftmaxCrossEntropy.Compute<double>(z, targets, g, Rows, Classes, Mask);
        Assert.Equal(3, masked.Count);

        // The same as the three counted rows on their own.
        int[] kept = [0, 2, 3];
        double[] zKept = kept.SelectMany(r => z.Skip(r * Classes).Take(Classes)).ToArray(), gKept = new double[zKept.Length];
        var alone = SoftmaxCrossEntropy.Compute<double>(zKept, kept.Select(r => Targets[r]).ToArray(), gKept, 3, Classes);
        Assert.Equal(alone.Loss, masked.Loss, 1e-15);
        for (int i = 0; i < kept.Length; i++)
            Assert.Equal(gKept.AsSpan(i * Classes, Classes).ToArray(), g.AsSpan(kept[i] * Classes, Classes).ToArray());
        Assert.All(g.AsSpan(1 * Classes, Classes).ToArray(), v => Assert.Equal(0, v));
        Assert.All(g.AsSpan(4 * Classes, Classes).ToArray(), v => Assert.Equal(0, v));

        // Changing a masked row's logits changes nothing.
        z[1 * Classes + 2] += 100;
        Assert.Equal(masked.Loss, SoftmaxCrossEntropy.Compute<double>(z, targets, default, Rows, Classes, Mask).Loss);

        var none = SoftmaxCrossEntropy.Compute<double>(z, targets, g, Rows, Classes, new bool[Rows]);
        Assert.Equal(0, none.Loss);
        Assert.Equal(0, none.Count);
        Assert.All(g, v => Assert.Equal(0, v));
    }

    [Fact]
    public void CrossEntropy_CountsCorrectArgmax()
    {
        double[] z = new double[Rows * Classes];
        int[] predicted = [3, 1, 6, 0, 2]; // rows 0, 2 and 4 hit their targets
        for (int r = 0; r < Rows; r++) z[r * Classes + predicted[r]] = 1;
        var result = SoftmaxCrossEntropy.Compute<double>(z, Targets, default, Rows, Classes);
        Assert.Equal(3, result.Correct);
        Assert.Equal(0.6, result.Accuracy, 15);
        Assert.Equal(2, SoftmaxCrossEntropy.Compute<double>(z, Targets, default, Rows, Classes, Mask).Correct);
    }

    [Fact]
    public void CrossEntropy_IsStable_ForHugeLogits()
    {
        double[] z = [1000, 990, -1000, 1000, 1000, 1000];
        double[] g = new double[6];
        var result = SoftmaxCrossEntropy.Compute<double>(z, [1, 2], g, 2, 3);
        double row0 = 10 + Math.Log(1 + Math.Exp(-10)); // −log softmax for target 990
        double row1 = Math.Log(3);
        Assert.Equal((row0 + row1) / 2, result.Loss, 1e-12);
        Assert.All(g, v => Assert.True(double.IsFinite(v)));

        float[] gf = new float[6];
        var single = SoftmaxCrossEntropy.Compute<float>(z.Select(v => (float)v).ToArray(), [1, 2], gf, 2, 3);
        Assert.Equal((row0 + row1) / 2, single.Loss, 1e-4);
    }

    [Fact]
    public void CrossEntropy_PerTimeStep_WithLengthMask()
    {
        const int batch = 2, length = 3, classes = 4, rows = batch * length;
        int[] lengths = [3, 1];
        bool[] mask = new bool[rows];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < lengths[b]; t++) mask[b * length + t] = true;
        double[] z = Compare.Random(rows * classes, 5), g = new double[z.Length];
        int[] targets = [0, 1, 2, 3, -1, -1];
        var result = SoftmaxCrossEntropy.Compute<double>(z, targets, g, rows, classes, mask);
        Assert.Equal(4, result.Count);
        double expected = 0;
        foreach (int r in new[] { 0, 1, 2, 3 })
        {
            double s = 0;
            for (int k = 0; k < classes; k++) s += Math.Exp(z[r * classes + k]);
            expected += (Math.Log(s) - z[r * classes + targets[r]]) / 4;
        }
        Assert.Equal(expected, result.Loss, 1e-14);
        GradientCheck.Check(() => SoftmaxCrossEntropy.Compute<double>(z, targets, default, rows, classes, mask).Loss, z, g, "logits");
    }

    [Fact]
    public void CrossEntropy_Float_AgreesWithDouble()
    {
        double[] z = Compare.Random(Rows * Classes, 6, scale: 3).Select(v => (double)(float)v).ToArray();
        double[] g = new double[z.Length];
        float[] gf = new float[z.Length];
        var d = SoftmaxCrossEntropy.Compute<double>(z, Targets, g, Rows, Classes, Mask);
        var f = SoftmaxCrossEntropy.Compute<float>(Compare.Cast<float>(z), Targets, gf, Rows, Classes, Mask);
        Assert.Equal(d.Loss, f.Loss, 1e-5);
        Compare.Close<float>(gf, g, 1e-5);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(-1)]
    public void CrossEntropy_TargetOutsideClasses_Throws_NamingRowAndValue(int bad)
    {
        int[] targets = [1, 2, bad, 0, 0];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            SoftmaxCrossEntropy.Compute<double>(new double[Rows * Classes], targets, new double[Rows * Classes], Rows, Classes));
        Assert.Equal("targets", e.ParamName);
        Assert.Contains($"targets[2] is {bad}", e.Message);
    }

    [Fact]
    public void CrossEntropy_BadShapes_Throw()
    {
        double[] z = new double[Rows * Classes];
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute<double>(new double[3], Targets, default, Rows, Classes)).ParamName);
        Assert.Equal("targets", Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute<double>(z, [1], default, Rows, Classes)).ParamName);
        Assert.Equal("gradLogits", Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute<double>(z, Targets, new double[3], Rows, Classes)).ParamName);
        Assert.Equal("mask", Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropy.Compute<double>(z, Targets, default, Rows, Classes, [true])).ParamName);
        Assert.Equal("classes", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Compute<double>([], [], default, 0, 0)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentOutOfRangeException>(() => SoftmaxCrossEntropy.Compute<double>([], [], default, -1, 2)).ParamName);
    }

    [Fact]
    public void MeanSquaredError_MatchesFormula_AndFiniteDifferences_WithMask()
    {
        const int rows = 4, features = 3;
        bool[] mask = [true, false, true, true];
        double[] p = Compare.Random(rows * features, 7), y = Compare.Random(rows * features, 8), g = new double[p.Length];
        double loss = MeanSquaredError.Compute<double>(p, y, g, rows, features, mask);
        double expected = 0;
        for (int r = 0; r < rows; r++)
            if (mask[r])
                for (int f = 0; f < features; f++) expected += Math.Pow(p[r * features + f] - y[r * features + f], 2) / (3 * features);
        Assert.Equal(expected, loss, 1e-15);
        Assert.Equal(loss, MeanSquaredError.Compute<double>(p, y, default, rows, features, mask), 1e-15);
        Assert.All(g.AsSpan(features, features).ToArray(), v => Assert.Equal(0, v));
        GradientCheck.Check(() => MeanSquaredError.Compute<double>(p, y, default, rows, features, mask), p, g, "predictions");

        double all = MeanSquaredError.Compute<double>(p, y, g, rows, features);
        Assert.Equal(p.Zip(y, (a, b) => (a - b) * (a - b)).Average(), all, 1e-15);
        GradientCheck.Check(() => MeanSquaredError.Compute<double>(p, y, default, rows, features), p, g, "predictions, no mask");

        float[] gf = new float[p.Length];
        Assert.Equal(all, MeanSquaredError.Compute<float>(Compare.Cast<float>(p), Compare.Cast<float>(y), gf, rows, features), 1e-5);
        Compare.Close<float>(gf, g, 1e-5);
    }

    [Fact]
    public void MeanSquaredError_BadShapes_Throw()
    {
        double[] a = new double[6];
        Assert.Equal("predictions", Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute<double>(new double[5], a, default, 2, 3)).ParamName);
        Assert.Equal("targets", Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute<double>(a, new double[5], default, 2, 3)).ParamName);
        Assert.Equal("gradPredictions", Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute<double>(a, a, new double[5], 2, 3)).ParamName);
        Assert.Equal("mask", Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute<double>(a, a, default, 2, 3, [true])).ParamName);
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => MeanSquaredError.Compute<double>(a, a, default, 2, 0)).ParamName);
        Assert.Equal(0, MeanSquaredError.Compute<double>(a, a, default, 2, 3, [false, false]));
    }

    [Fact]
    public void Losses_AllocateNothing()
    {
        float[] z = Compare.Cast<float>(Compare.Random(Rows * Classes, 9)), g = new float[z.Length];
        for (int i = 0; i < 3; i++) Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Run()
        {
            SoftmaxCrossEntropy.Compute<float>(z, Targets, g, Rows, Classes, Mask);
            SoftmaxCrossEntropy.Compute<float>(z, Targets, default, Rows, Classes);
            MeanSquaredError.Compute<float>(z, z, g, Rows, Classes, Mask);
        }
    }
}
