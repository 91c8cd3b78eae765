using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class BatchNormTests
{
    internal static BatchNorm<T> Randomized<T>(int features, int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var layer = new BatchNorm<T>(features);
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
        GradientCheck.Layer(Randomized<double>(5, 1), batch: 2, length: 3, seed: 2);

    /// <summary>
    /// A padded batch: statistics of the valid steps only, and every gradient — valid and padded rows, weight and bias —
    /// against finite differences. The hidden width 19 covers the vector path and the scalar tail; lengths 4, 1, 2 of 4.
    /// </summary>
    [Fact]
    public void PaddedBatch_GradientsMatchFiniteDifferences() =>
        GradientCheck.Layer(Randomized<double>(19, 11), batch: 3, length: 4, seed: 12, lengths: [4, 1, 2]);

    [Fact]
    public void PaddedBatch_WithFewerThanTwoValidSteps_IsRefused()
    {
        var layer = new BatchNorm<double>(3);
        var error = Assert.Throws<ArgumentException>(() => layer.Forward(new double[1 * 3 * 3], new double[9], 1, 3, [1]));
        Assert.Contains("at least 2 valid steps per feature, but the 1 sequences have 1", error.Message, StringComparison.Ordinal);
        layer.Forward(new double[1 * 3 * 3], new double[9], 1, 3, [2]); // two valid steps: fine
    }

    [Fact]
    public void Float_AgreesWithDouble() =>
        GradientCheck.FloatMatchesDouble(Randomized<float>(7, 3), Randomized<double>(7, 3), batch: 3, length: 5, seed: 5);

    [Fact]
    public void Backward_Twice_DoublesParameterGradients() =>
        GradientCheck.Accumulates(Randomized<double>(3, 4), batch: 2, length: 3, seed: 1);

    /// <summary>Per-feature mean, biased and unbiased variance over all B·L rows, by hand.</summary>
    internal static (double[] Mean, double[] Biased, double[] Unbiased) Statistics(double[] x, int rows, int h)
    {
        var mean = new double[h];
        var biased = new double[h];
        var unbiased = new double[h];
        for (int f = 0; f < h; f++)
        {
            double s = 0;
            for (int r = 0; r < rows; r++) s += x[r * h + f];
            mean[f] = s / rows;
            double q = 0;
            for (int r = 0; r < rows; r++) q += (x[r * h + f] - mean[f]) * (x[r * h + f] - mean[f]);
            biased[f] = q / rows;
            unbiased[f] = q / (rows - 1);
        }
        return (mean, biased, unbiased);
    }

    [Fact]
    public void Training_NormalisesOverBatchAndTime_AndRunningStatsFollowPyTorch()
    {
        const int batch = 2, length = 3, h = 5, rows = batch * length;
        var layer = Randomized<double>(h, 6);
        double[] x1 = Compare.Random(rows * h, 1, scale: 3), x2 = Compare.Random(rows * h, 2, scale: 0.5);
        for (int i = 0; i < x2.Length; i++) x2[i] += 2;
        double[] y = new double[x1.Length];

        layer.Forward(x1, y, batch, length);
        var (mean1, biased1, unbiased1) = Statistics(x1, rows, h);
        var expected = new double[y.Length];
        for (int r = 0; r < rows; r++)
            for (int f = 0; f < h; f++)
                expected[r * h + f] = (x1[r * h + f] - mean1[f]) / Math.Sqrt(biased1[f] + 1e-5) * layer.Weight.Values[f] + layer.Bias.Values[f];
        Compare.Close<double>(y, expected, 1e-13, "training output");

        layer.Forward(x2, y, batch, length);
        var (mean2, _, unbiased2) = Statistics(x2, rows, h);
        var runningMean = new double[h];
        var runningVar = new double[h];
        for (int f = 0; f < h; f++)
        {
            // Start (0, 1); two steps of r ← 0.9·r + 0.1·batch statistic, with the unbiased variance.
            runningMean[f] = 0.9 * (0.9 * 0 + 0.1 * mean1[f]) + 0.1 * mean2[f];
            runningVar[f] = 0.9 * (0.9 * 1 + 0.1 * unbiased1[f]) + 0.1 * unbiased2[f];
        }
        Compare.Close<double>(layer.RunningMean, runningMean, 1e-14, "running_mean");
        Compare.Close<double>(layer.RunningVariance, runningVar, 1e-14, "running_var");

        // Evaluation uses the running statistics and leaves them alone.
        layer.IsTraining = false;
        layer.Forward(x1, y, batch, length);
        for (int r = 0; r < rows; r++)
            for (int f = 0; f < h; f++)
                expected[r * h + f] = (x1[r * h + f] - runningMean[f]) / Math.Sqrt(runningVar[f] + 1e-5) * layer.Weight.Values[f] + layer.Bias.Values[f];
        Compare.Close<double>(y, expected, 1e-13, "evaluation output");
        Compare.Close<double>(layer.RunningMean, runningMean, 0, "running_mean unchanged");
    }

    [Fact]
    public void Buffers_AreNamedLikePyTorch_AndStartAtZeroAndOne()
    {
        var layer = new BatchNorm<float>(4);
        var buffers = layer.NamedBuffers().ToArray();
        Assert.Equal(["running_mean", "running_var"], buffers.Select(b => b.Name));
        Assert.Same(layer.RunningMean, buffers[0].Values);
        Assert.Same(layer.RunningVariance, buffers[1].Values);
        Assert.All(layer.RunningMean, v => Assert.Equal(0f, v));
        Assert.All(layer.RunningVariance, v => Assert.Equal(1f, v));
        Assert.Equal(["weight", "bias"], layer.NamedParameters().Select(n => n.Name));
        Assert.Equal(0.1, layer.Momentum);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm<double>(0)).ParamName);
        Assert.Equal("momentum", Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm<double>(3, momentum: 0)).ParamName);
        Assert.Equal("momentum", Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm<double>(3, momentum: 1.5)).ParamName);
        Assert.Equal("epsilon", Assert.Throws<ArgumentOutOfRangeException>(() => new BatchNorm<double>(3, epsilon: -1)).ParamName);
        var layer = new BatchNorm<double>(3);
        // One value per feature has no unbiased variance.
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => layer.Forward(new double[3], new double[3], 1, 1)).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => layer.Forward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Forward(new double[6], new double[5], 1, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 1, 2));
        layer.Forward(Compare.Random(6, 1), new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 2, 1));
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[6], new double[5], 1, 2)).ParamName);
        layer.IsTraining = false;
        layer.Forward(new double[3], new double[3], 1, 1);
    }

    [Fact]
    public void SteadyState_AllocatesNothing() =>
        GradientCheck.AllocatesNothingInSteadyState(new BatchNorm<float>(7), batch: 2, length: 3);

    /// <summary>
    /// BackwardPlus (∂x = addend + the module's part, for a block's skip) equals copying the addend and running the backward,
    /// bit for bit: BatchNorm's own pass (vector lanes and the scalar tail, H = 19, and a padded batch) and the default of
    /// another module (LayerNorm); parameter gradients the same too.
    /// </summary>
    [Theory]
    [InlineData("BatchNorm", false)]
    [InlineData("BatchNorm", true)]
    [InlineData("LayerNorm", false)]
    public void BackwardPlus_IsTheCopyThenTheBackward_BitForBit(string kind, bool padded)
    {
        const int batch = 3, length = 50, h = 19;
        int[] lengths = padded ? [50, 7, 31] : [];
        Normalization<float> Make() => kind == "BatchNorm" ? Randomized<float>(h, 5) : new LayerNorm<float>(h);
        float[] x = Compare.Cast<float>(Compare.Random(batch * length * h, 1, scale: 2)), gy = Compare.Cast<float>(Compare.Random(x.Length, 2));
        float[] addend = Compare.Cast<float>(Compare.Random(x.Length, 3));
        var fused = Make();
        var plain = Make();
        float[] y = new float[x.Length], gx = new float[x.Length], expected = (float[])addend.Clone();
        fused.Forward(x, y, batch, length, lengths);
        plain.Forward(x, y, batch, length, lengths);
        fused.BackwardPlus(gy, addend, gx);
        plain.Backward(gy, expected);
        Assert.Equal(expected, gx);
        Assert.Equal(plain.Weight.GradientArray, fused.Weight.GradientArray);
        Assert.Equal(plain.Bias.GradientArray, fused.Bias.GradientArray);
    }

    /// <summary>The default ForwardPlus (a module without a pass of its own to add in: BatchNorm) is the forward and then the sum, bit for bit.</summary>
    [Fact]
    public void ForwardPlus_ByDefault_IsTheForwardThenTheSum()
    {
        const int batch = 2, length = 30, h = 19;
        float[] x = Compare.Cast<float>(Compare.Random(batch * length * h, 1)), addend = Compare.Cast<float>(Compare.Random(x.Length, 2));
        var fused = Randomized<float>(h, 5);
        var plain = Randomized<float>(h, 5);
        float[] y = new float[x.Length], expected = new float[x.Length];
        fused.ForwardPlus(x, addend, y, new SequenceShape(batch, length), training: true);
        plain.Forward(x, expected, batch, length);
        for (int i = 0; i < expected.Length; i++) expected[i] += addend[i];
        Assert.Equal(expected, y);
        Assert.Equal(plain.RunningMean, fused.RunningMean);
    }

    /// <summary>
    /// Many chunks of rows merged (H = 1024: 16 rows a chunk, 120 rows), padded so that one chunk has no valid row and
    /// others end inside a sequence, on values with a mean of 1000 and a spread of 1 (where Σx² − Mμ² would lose ten
    /// digits): output, running statistics, all gradients against a two-pass reference over the valid rows, to 1e-12.
    /// </summary>
    [Fact]
    public void ManyChunks_AndPadding_MatchATwoPassReference()
    {
        const int batch = 3, length = 40, h = 1024, rows = batch * length;
        int[] lengths = [40, 2, 33]; // rows 42–79 are padding: the chunk of rows 48–63 has no valid row
        var layer = Randomized<double>(h, 31);
        double[] x = Compare.Random(rows * h, 32), gy = Compare.Random(rows * h, 33);
        for (int i = 0; i < x.Length; i++) x[i] += 1000;
        bool Valid(int r) => r % length < lengths[r / length];
        int m = lengths.Sum();
        double[] y = new double[x.Length], gx = new double[x.Length];
        layer.Forward(x, y, batch, length, lengths);
        layer.Backward(gy, gx);

        for (int f = 0; f < h; f++)
        {
            double sum = 0, squares = 0, gradSum = 0, gradNorm = 0, gradAbs = 0;
            for (int r = 0; r < rows; r++) if (Valid(r)) sum += x[r * h + f];
            double mean = sum / m;
            for (int r = 0; r < rows; r++) if (Valid(r)) squares += (x[r * h + f] - mean) * (x[r * h + f] - mean);
            double rstd = 1 / Math.Sqrt(squares / m + 1e-5), w = layer.Weight.Values[f];
            for (int r = 0; r < rows; r++)
            {
                gradSum += gy[r * h + f];
                gradNorm += gy[r * h + f] * (x[r * h + f] - mean) * rstd;
                gradAbs += Math.Abs(gy[r * h + f]);
            }
            // μ ≈ 1000 summed in another order may differ by a few ulps of 1000 (1.1e-13 each), and every x − μ by that.
            double meanError = 4 * Math.BitIncrement(1000.0) - 4 * 1000.0;
            Assert.Equal(0.1 * mean, layer.RunningMean[f], 1e-12 * 100);
            Assert.Equal(0.9 + 0.1 * squares / (m - 1), layer.RunningVariance[f], 1e-12);
            Assert.Equal(gradSum, layer.Bias.GradientArray[f], 1e-12 * Math.Max(1, Math.Abs(gradSum)));
            Assert.Equal(gradNorm, layer.Weight.GradientArray[f], meanError * rstd * gradAbs + 1e-12 * Math.Abs(gradNorm));
            for (int r = 0; r < rows; r++)
            {
                double norm = (x[r * h + f] - mean) * rstd;
                Assert.Equal(norm * w + layer.Bias.Values[f], y[r * h + f], 1e-11);
                double g = Valid(r) ? gy[r * h + f] - gradSum / m - norm * (gradNorm / m) : gy[r * h + f];
                Assert.Equal(w * rstd * g, gx[r * h + f], 1e-11);
            }
        }
    }
}

/// <summary>BatchNorm tests that set <see cref="Lru.Tensors.Parallelism.MaxThreads"/>, a process-wide setting: in the collection that serialises them.</summary>
[Collection(nameof(ThreadCountSetting))]
public class BatchNormThreadTests
{
    /// <summary>
    /// Padding never enters the statistics: the valid outputs and the running statistics of a padded batch are those of
    /// the same valid steps given as one unpadded sequence, whatever the padded steps hold; padded outputs use the same
    /// scale and shift. Float and double, vector and scalar features (H = 19), one and two threads.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void PaddedBatch_StatisticsComeFromTheValidStepsOnly(int threads)
    {
        const int batch = 3, length = 5, h = 19;
        int[] lengths = [5, 2, 3];
        double[] x = Compare.Random(batch * length * h, 7, scale: 2);
        var valid = new List<double>();
        for (int b = 0; b < batch; b++) valid.AddRange(x.Skip(b * length * h).Take(lengths[b] * h));
        int m = lengths.Sum();
        var previous = Lru.Tensors.Parallelism.MaxThreads;
        Lru.Tensors.Parallelism.MaxThreads = threads;
        try
        {
            foreach (double garbage in new[] { 0.0, 1e6 })
            {
                double[] padded = (double[])x.Clone();
                for (int b = 0; b < batch; b++)
                    for (int i = lengths[b] * h; i < length * h; i++) padded[b * length * h + i] = garbage + i;
                var layer = BatchNormTests.Randomized<double>(h, 8);
                var reference = BatchNormTests.Randomized<double>(h, 8);
                double[] y = new double[padded.Length], yRef = new double[m * h];
                layer.Forward(padded, y, batch, length, lengths);
                reference.Forward(valid.ToArray(), yRef, 1, m);
                int at = 0;
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i < lengths[b] * h; i++, at++)
                        Assert.Equal(yRef[at], y[b * length * h + i], 1e-12);
                Assert.Equal(reference.RunningMean, layer.RunningMean, (a, c) => Math.Abs(a - c) < 1e-12);
                Assert.Equal(reference.RunningVariance, layer.RunningVariance, (a, c) => Math.Abs(a - c) < 1e-12);
                // A padded row is normalised with the same statistics: y = (x − μ)·rstd·w + b, as the valid rows are.
                var stats = BatchNormTests.Statistics(valid.ToArray(), m, h);
                int row = 1 * length + 4; // sequence 1, step 4: padding
                for (int f = 0; f < h; f++)
                {
                    double expected = (padded[row * h + f] - stats.Mean[f]) / Math.Sqrt(stats.Biased[f] + 1e-5) * layer.Weight.Values[f] + layer.Bias.Values[f];
                    Assert.Equal(expected, y[row * h + f], Math.Abs(expected) * 1e-12 + 1e-12);
                }

                var single = new BatchNorm<float>(h);
                float[] ys = new float[padded.Length];
                single.Forward(padded.Select(v => (float)v).ToArray(), ys, batch, length, lengths);
                float[] yRefSingle = new float[m * h];
                new BatchNorm<float>(h).Forward(valid.Select(v => (float)v).ToArray(), yRefSingle, 1, m);
                at = 0;
                for (int b = 0; b < batch; b++)
                    for (int i = 0; i < lengths[b] * h; i++, at++)
                        Assert.Equal(yRefSingle[at], ys[b * length * h + i]);
            }
        }
        finally
        {
            Lru.Tensors.Parallelism.MaxThreads = previous;
        }
    }
}
