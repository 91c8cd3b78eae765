using System.Numerics;
using Lru.Layers;
using Lru.Scans;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

/// <summary>
/// The fused passes of <see cref="LruLayer{T}"/> (a sequence per work item, chunks of time steps kept in L2) against the
/// unfused ones (whole-batch GEMMs around one scan): the same bits, for outputs, final states, input gradients and every
/// parameter gradient. The unfused passes are checked against the plain reference elsewhere (LruLayerTests,
/// LruLayerGradientTests), so equality here carries that check over; it also shows that the choice between the paths,
/// which depends on the thread count, never changes a result.
/// </summary>
public class LruLayerFusedTests
{
    /// <summary>
    /// (B, L, H, N, reverse, matrix D, initial state). N = 256 in float gives chunks of 120 steps, so L = 300 has three
    /// chunks, the last one short; N = 100 in double gives 156 steps; N = 3 one chunk; N = 100 in float scans 64 channels
    /// four vectors at a time, 32 one vector at a time and 4 row by row. H = 32, N = 64 in float gives chunks
    /// of 504 steps, long enough for the weight-gradient shares to take the unpacked small-output GEMM (the 96-step
    /// rest takes the packed one).
    /// </summary>
    public static IEnumerable<object[]> Cases() =>
    [
        [2, 600, 32, 64, false, false, false],
        [3, 600, 32, 64, true, false, true],
        [3, 300, 8, 256, false, false, false],
        [3, 300, 8, 256, true, false, true],
        [2, 300, 7, 256, false, true, true],
        [2, 300, 7, 256, true, true, false],
        [4, 70, 5, 3, false, false, true],
        [1, 129, 16, 256, false, false, false],
        [2, 300, 6, 100, false, false, true],
    ];

    [Theory, MemberData(nameof(Cases))]
    public void Float_FusedAndUnfused_GiveTheSameBits(int batch, int length, int h, int n, bool reverse, bool matrixD, bool initial) =>
        Check<float>(batch, length, h, n, reverse, matrixD, initial);

    [Theory]
    [InlineData(3, 600, 6, 100, false, false, true)]
    [InlineData(2, 400, 6, 100, true, true, true)]
    public void Double_FusedAndUnfused_GiveTheSameBits(int batch, int length, int h, int n, bool reverse, bool matrixD, bool initial) =>
        Check<double>(batch, length, h, n, reverse, matrixD, initial);

    /// <summary>
    /// The pipelined passes (an odd batch below eight on two threads: one thread scans, the other follows) against the
    /// unfused ones on one thread, with the two-thread run proved to have used a helper thread. H = 32, N = 64 in float:
    /// forward chunks of 252 steps (three in 600), backward chunks of 504 (two); N = 256: 60 and 120 steps, so five and
    /// three chunks in 300 and a carry across each boundary; three sequences share the weight-gradient products.
    /// </summary>
    [Theory]
    [InlineData(1, 600, 32, 64, false, false, false)]
    [InlineData(1, 300, 8, 256, true, false, true)]
    [InlineData(3, 300, 7, 256, false, true, true)]
    [InlineData(5, 70, 5, 3, false, false, true)]
    [InlineData(7, 129, 16, 256, true, true, false)]
    public void Float_PipelinedOnTwoThreads_AndUnfused_GiveTheSameBits(int batch, int length, int h, int n, bool reverse, bool matrixD, bool initial) =>
        Check<float>(batch, length, h, n, reverse, matrixD, initial, workers: 2);

    [Theory]
    [InlineData(1, 400, 6, 100, true, true, true)]
    [InlineData(3, 600, 6, 100, false, false, false)]
    public void Double_PipelinedOnTwoThreads_AndUnfused_GiveTheSameBits(int batch, int length, int h, int n, bool reverse, bool matrixD, bool initial) =>
        Check<double>(batch, length, h, n, reverse, matrixD, initial, workers: 2);

    private static void Check<T>(int batch, int length, int h, int n, bool reverse, bool matrixD, bool initial, int workers = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = new LruConfig(h, n, RMin: 0.5, RMax: 0.999, Reverse: reverse, MatrixD: matrixD);
        T[] u = Compare.Cast<T>(Compare.Random(batch * length * h, 1));
        T[] g = Compare.Cast<T>(Compare.Random(batch * length * h, 2));
        T[] x0 = initial ? Compare.Cast<T>(Compare.Random(batch * 2 * n, 3)) : [];

        (T[] Output, T[] Final, T[] GradInput, T[] GradInitial, T[] Gradients, T[] EvalOutput, T[] EvalFinal, T[] Replaced) Run(bool fusion, int threads)
        {
            var layer = new LruLayer<T>(config, seed: 7) { Fusion = fusion };
            T[] y = new T[u.Length], final = new T[batch * 2 * n], gu = Compare.Cast<T>(Compare.Random(u.Length, 4)), g0 = new T[batch * 2 * n];
            layer.ForwardWithState(u, y, batch, length, x0, final, ScanMode.Sequential, threads);
            layer.BackwardWithState(g, gu, batch, length, g0, ScanMode.Sequential, threads);
            // A second training step adds onto the gradients (the accumulating path of both).
            layer.ForwardWithState(u, y, batch, length, x0, final, ScanMode.Sequential, threads);
            layer.BackwardWithState(g, gu, batch, length, g0, ScanMode.Sequential, threads);
            // The replacing backward (how blocks call it: ∂u written, not added) and one without ∂u (parameters only).
            T[] replaced = Compare.Cast<T>(Compare.Random(u.Length, 5));
            layer.ForwardWithState(u, y, batch, length, x0, final, ScanMode.Sequential, threads);
            layer.BackwardReplacing(g, replaced);
            layer.ForwardWithState(u, y, batch, length, x0, final, ScanMode.Sequential, threads);
            layer.BackwardWithState(g, default, batch, length, default, ScanMode.Sequential, threads);

            layer.IsTraining = false;
            T[] ey = new T[u.Length], eFinal = new T[batch * 2 * n];
            layer.ForwardWithState(u, ey, batch, length, x0, eFinal, ScanMode.Auto, threads);
            return (y, final, gu, g0, layer.Parameters.SelectMany(p => p.GradientArray).ToArray(), ey, eFinal, replaced);
        }

        var probe = new LruLayer<T>(config, seed: 7);
        probe.ForwardWithState(u, new T[u.Length], batch, length, x0, default, ScanMode.Sequential, threads: 1);
        var plain = Run(false, threads: 1);
        (T[] Output, T[] Final, T[] GradInput, T[] GradInitial, T[] Gradients, T[] EvalOutput, T[] EvalFinal, T[] Replaced) fused;
        if (workers == 1)
        {
            Assert.True(probe.Fuses(ScanMode.Sequential, batch, length, workers: 1));
            fused = Run(true, threads: 1);
        }
        else
        {
            Assert.False(probe.Fuses(ScanMode.Sequential, batch, length, workers));
            Assert.True(probe.Pipelines(ScanMode.Sequential, batch, length, workers));
            fused = TwoThreads.Prove(() => Run(true, workers), _ => { }, "the pipelined passes");
        }
        Assert.Equal(plain.Output, fused.Output);
        Assert.Equal(plain.Final, fused.Final);
        Assert.Equal(plain.GradInput, fused.GradInput);
        Assert.Equal(plain.GradInitial, fused.GradInitial);
        Assert.Equal(plain.Gradients, fused.Gradients);
        Assert.Equal(plain.EvalOutput, fused.EvalOutput);
        Assert.Equal(plain.EvalFinal, fused.EvalFinal);
        Assert.Equal(plain.Replaced, fused.Replaced);
        // The evaluation pass (states in a chunk buffer or in work space) equals the training pass (states kept).
        Assert.Equal(fused.Output, fused.EvalOutput);
        Assert.Equal(fused.Final, fused.EvalFinal);
    }

    /// <summary>
    /// The fused backward over several chunks against central finite differences in double: N = 256 gives chunks of 60
    /// steps, so L = 150 has three (60, 60, 30) and the carries of both scans cross two chunk boundaries; an initial state
    /// and a reverse layer cover the other first step. |λ| in [0.9, 0.99] keeps a carry alive across a chunk, phases below
    /// π/10 keep the truncation error of central differences small (see LruLayerGradientTests); tolerance 1e-6 as there.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fused_OverSeveralChunks_MatchesFiniteDifferences(bool reverse)
    {
        const int batch = 2, length = 150, h = 2, n = 256;
        var layer = new LruLayer<double>(new LruConfig(h, n, RMin: 0.9, RMax: 0.99, MaxPhase: Math.PI / 10, Reverse: reverse), seed: 3);
        double[] u = Compare.Random(batch * length * h, 5), x0 = Compare.Random(batch * 2 * n, 6), weights = Compare.Random(batch * length * h, 7);
        double[] y = new double[u.Length];
        double Loss()
        {
            layer.ForwardWithState(u, y, batch, length, x0, default, ScanMode.Sequential, threads: 1);
            return GradientCheck.WeightedSum(y, weights);
        }

        Loss();
        Assert.True(layer.Fuses(ScanMode.Sequential, batch, length, workers: 1));
        Assert.True(layer.SharesWeightGradients(ScanMode.Sequential, batch, length));
        double[] gradU = new double[u.Length], gradX0 = new double[x0.Length];
        layer.BackwardWithState(weights, gradU, batch, length, gradX0, ScanMode.Sequential, threads: 1);
        double[][] analytic = layer.Parameters.Select(p => p.Gradient.ToArray()).ToArray();
        GradientCheck.Check(Loss, u, gradU, "input");
        GradientCheck.Check(Loss, x0, gradX0, "initial state");
        for (int i = 0; i < analytic.Length; i++)
            GradientCheck.Check(Loss, layer.Parameters[i].Values, analytic[i], layer.Parameters[i].Name, layer.Parameters[i].MarkModified);
    }

    /// <summary>
    /// The per-sequence weight-gradient shares against whole-batch products: one pass over two sequences (shares, summed
    /// in order) gives the parameter gradients of two single-sequence passes (one GEMM over all rows each) added, to
    /// rounding in double (sums of 600 products of order one: 1e-12 relative is a thousand times the rounding).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WeightGradientShares_EqualTheSumOverSequences(bool reverse)
    {
        const int length = 600, h = 12, n = 40;
        var config = new LruConfig(h, n, RMin: 0.5, RMax: 0.99, Reverse: reverse);
        double[] u = Compare.Random(2 * length * h, 1), g = Compare.Random(2 * length * h, 2);
        var both = new LruLayer<double>(config, seed: 5);
        both.ForwardWithState(u, new double[u.Length], 2, length, default, default, ScanMode.Sequential, threads: 2);
        Assert.True(both.SharesWeightGradients(ScanMode.Sequential, 2, length));
        both.BackwardWithState(g, new double[u.Length], 2, length, default, ScanMode.Sequential, threads: 2);

        var each = new LruLayer<double>(config, seed: 5);
        for (int b = 0; b < 2; b++)
        {
            double[] ub = u.AsSpan(b * length * h, length * h).ToArray(), gb = g.AsSpan(b * length * h, length * h).ToArray();
            each.ForwardWithState(ub, new double[ub.Length], 1, length, default, default, ScanMode.Sequential, threads: 2);
            Assert.False(each.SharesWeightGradients(ScanMode.Sequential, 1, length));
            each.BackwardWithState(gb, new double[ub.Length], 1, length, default, ScanMode.Sequential, threads: 2);
        }
        for (int i = 0; i < both.Parameters.Count; i++)
            Compare.Close<double>(both.Parameters[i].Gradient, each.Parameters[i].Gradient.ToArray(), 1e-12, both.Parameters[i].Name);
    }

    /// <summary>
    /// The float layer where the shares take the small-output GEMM (chunks of 504 steps) against the same layer in double;
    /// 1e-4 relative, as for every float-against-double check of a layer (float rounding over sums of 600 terms).
    /// </summary>
    [Fact]
    public void WeightGradientShares_Float_AgreesWithDouble()
    {
        var single = new LruLayer<float>(new LruConfig(32, 64), seed: 2);
        GradientCheck.FloatMatchesDouble(single, new LruLayer<double>(new LruConfig(32, 64), seed: 2), batch: 2, length: 600, seed: 3);
        Assert.True(single.SharesWeightGradients(ScanMode.Auto, 2, 600));
    }

    /// <summary>Where the shares apply: the sFashion-MNIST shape yes; one sequence, 512 KiB of shares per sequence, or more than 8 MiB in all, no.</summary>
    [Theory]
    [InlineData(64, 64, 50, 784, true)]
    [InlineData(64, 64, 1, 4096, false)]
    [InlineData(128, 256, 8, 1024, false)]
    [InlineData(64, 64, 129, 100, false)]
    public void WeightGradientShares_ApplyWhereTheyWereMeasuredFaster(int h, int n, int batch, int length, bool expected)
    {
        var layer = new LruLayer<float>(new LruConfig(h, n), seed: 1);
        layer.ForwardWithState(new float[h], new float[h], 1, 1, default, default, ScanMode.Sequential, threads: 1); // derives and packs the weights
        Assert.Equal(expected, layer.SharesWeightGradients(ScanMode.Sequential, batch, length));
    }

    [Fact]
    public void FusedEvaluation_InSteadyState_AllocatesNothing()
    {
        const int batch = 2, length = 300, h = 8, n = 256;
        var layer = new LruLayer<float>(new LruConfig(h, n), seed: 1) { IsTraining = false };
        float[] u = Compare.Cast<float>(Compare.Random(batch * length * h, 1)), y = new float[u.Length], final = new float[batch * 2 * n];
        for (int i = 0; i < 5; i++) layer.ForwardWithState(u, y, batch, length, default, final, ScanMode.Auto, threads: 1);
        Assert.True(layer.Fuses(ScanMode.Auto, batch, length, workers: 1));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) layer.ForwardWithState(u, y, batch, length, default, final, ScanMode.Auto, threads: 1);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>
    /// The pipelined evaluation pass, whose only loop is the pipeline's (so an item run by a helper proves the two roles
    /// ran on two threads), gives the bits of the unfused pass; so does the same call made from inside the work items of
    /// another loop, where the pool is busy and each calling thread runs both roles itself, the producer first.
    /// </summary>
    [Fact]
    public void PipelinedEvaluation_OnTwoThreads_AndNestedInALoop_GivesTheUnfusedBits()
    {
        const int length = 600, h = 16, n = 64;
        var config = new LruConfig(h, n, RMin: 0.5, RMax: 0.999);
        float[] u = Compare.Cast<float>(Compare.Random(length * h, 1)), x0 = Compare.Cast<float>(Compare.Random(2 * n, 2));
        float[] Evaluate(bool fusion, int threads)
        {
            var layer = new LruLayer<float>(config, seed: 3) { Fusion = fusion, IsTraining = false };
            float[] y = new float[u.Length], final = new float[2 * n];
            layer.ForwardWithState(u, y, 1, length, x0, final, ScanMode.Auto, threads);
            Assert.Equal(fusion && threads == 2, layer.Pipelines(ScanMode.Auto, 1, length, threads));
            return [.. y, .. final];
        }
        float[] plain = Evaluate(false, 1);
        TwoThreads.Prove(() => Evaluate(true, 2), pipelined => Assert.Equal(plain, pipelined), "the pipelined evaluation pass");

        var nested = new NestedEvaluations { Evaluate = () => Evaluate(true, 2), Results = new float[2][] };
        Parallelism.For(2, 2, ref nested);
        Assert.Equal(plain, nested.Results[0]);
        Assert.Equal(plain, nested.Results[1]);
    }

    private struct NestedEvaluations : IIndexedWork
    {
        public Func<float[]> Evaluate;
        public float[][] Results;

        public readonly void Run(int index) => Results[index] = Evaluate();
    }

    /// <summary>
    /// A forward and a backward on different thread counts (one sequence: fused on one thread, pipelined on two) give
    /// the bits of the unfused passes, either way round.
    /// </summary>
    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 1)]
    public void ForwardAndBackward_OnDifferentThreadCounts_GiveTheUnfusedBits(int forwardThreads, int backwardThreads)
    {
        const int length = 600, h = 16, n = 64;
        var config = new LruConfig(h, n, RMin: 0.5, RMax: 0.999);
        float[] u = Compare.Cast<float>(Compare.Random(length * h, 1)), g = Compare.Cast<float>(Compare.Random(length * h, 2));
        float[] Train(bool fusion, int forward, int backward)
        {
            var layer = new LruLayer<float>(config, seed: 5) { Fusion = fusion };
            float[] y = new float[u.Length], gu = new float[u.Length];
            layer.ForwardWithState(u, y, 1, length, default, default, ScanMode.Auto, forward);
            layer.BackwardWithState(g, gu, 1, length, default, ScanMode.Auto, backward);
            return [.. y, .. gu, .. layer.Parameters.SelectMany(p => p.GradientArray)];
        }
        Assert.Equal(Train(false, 1, 1), Train(true, forwardThreads, backwardThreads));
    }

    /// <summary>The pipelined evaluation pass (one sequence on two threads) allocates nothing on the calling thread in steady state.</summary>
    [Fact]
    public void PipelinedEvaluation_InSteadyState_AllocatesNothing()
    {
        const int length = 300, h = 8, n = 256;
        var layer = new LruLayer<float>(new LruConfig(h, n), seed: 1) { IsTraining = false };
        float[] u = Compare.Cast<float>(Compare.Random(length * h, 1)), y = new float[u.Length], final = new float[2 * n];
        for (int i = 0; i < 5; i++) layer.ForwardWithState(u, y, 1, length, default, final, ScanMode.Auto, threads: 2);
        Assert.True(layer.Pipelines(ScanMode.Auto, 1, length, workers: 2));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) layer.ForwardWithState(u, y, 1, length, default, final, ScanMode.Auto, threads: 2);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}

/// <summary>
/// The switch the thread count makes: three sequences fuse on one thread and are pipelined on two (they do not share out
/// evenly), and forward, backward and every gradient agree bit for bit, with the two-thread run proved to have used both.
/// </summary>
[Collection(nameof(ThreadCountSetting))]
public class LruLayerFusedThreadCountTests
{
    /// <summary>
    /// B = 3 fuses on one thread and is pipelined on two. H = 8, N = 256: chunks of 120 steps, the weight-gradient shares by the packed
    /// GEMM; H = 36, N = 64: chunks of 504 steps, the shares by the unpacked small-output GEMM with edge rows and columns
    /// (36 is not a multiple of its 8-row and 32-column tiles) left to the packed one, on one thread against two.
    /// </summary>
    [Theory]
    [InlineData(300, 8, 256)]
    [InlineData(600, 36, 64)]
    public void OneThreadFused_AndTwoThreadsUnfused_GiveTheSameBits(int length, int h, int n)
    {
        const int batch = 3;
        var config = new LruConfig(h, n, RMin: 0.5, RMax: 0.999);
        float[] u = Compare.Cast<float>(Compare.Random(batch * length * h, 1)), g = Compare.Cast<float>(Compare.Random(batch * length * h, 2));
        float[] Run(int threads)
        {
            var layer = new LruLayer<float>(config, seed: 4);
            float[] y = new float[u.Length], gu = new float[u.Length];
            layer.ForwardWithState(u, y, batch, length, default, default, ScanMode.Auto, threads);
            Assert.Equal(threads == 1, layer.Fuses(ScanMode.Auto, batch, length, threads));
            Assert.Equal(threads == 2, layer.Pipelines(ScanMode.Auto, batch, length, threads));
            Assert.True(layer.SharesWeightGradients(ScanMode.Auto, batch, length));
            layer.BackwardWithState(g, gu, batch, length, default, ScanMode.Auto, threads);
            return [.. y, .. gu, .. layer.Parameters.SelectMany(p => p.GradientArray)];
        }
        float[] one = Run(1);
        TwoThreads.Prove(() => Run(2), two => Assert.Equal(one, two), "fused on one thread against pipelined on two");
    }
}
