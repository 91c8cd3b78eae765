using Lru.Scans;
using Lru.Tests.Support;

namespace Lru.Tests.Scans;

public class DiagonalRecurrenceTests
{
    public static readonly TheoryData<ScanMode> Modes = new() { ScanMode.Sequential, ScanMode.Chunked, ScanMode.Tree, ScanMode.Auto };

    /// <summary>(batch, length, n): B = 1, L = 1, n not a multiple of any vector width, more channels than one block,
    /// and lengths whose chunk count does not divide them.</summary>
    public static readonly TheoryData<int, int, int> Shapes = new()
    {
        { 1, 1, 1 }, { 1, 7, 3 }, { 2, 1, 17 }, { 3, 33, 5 }, { 1, 1000, 67 }, { 2, 1537, 9 }, { 1, 2049, 130 }, { 4, 600, 16 },
    };

    internal static (double[] LamRe, double[] LamIm) RandomLambda(int n, int seed)
    {
        var rng = new Lru.Tensors.SeededRandom(seed);
        var re = new double[n]; var im = new double[n];
        for (int j = 0; j < n; j++)
        {
            double r = 0.5 + 0.499 * rng.NextOpenUnit(), phase = 2 * Math.PI * rng.NextOpenUnit();
            re[j] = r * Math.Cos(phase); im[j] = r * Math.Sin(phase);
        }
        return (re, im);
    }

    public static IEnumerable<object[]> ModesAndShapes()
    {
        foreach (var mode in new[] { ScanMode.Sequential, ScanMode.Chunked, ScanMode.Tree, ScanMode.Auto })
            foreach (var s in Shapes)
                yield return [mode, s[0], s[1], s[2]];
    }

    [Theory, MemberData(nameof(ModesAndShapes))]
    public void Float_MatchesDoubleReference(ScanMode mode, int batch, int length, int n)
    {
        foreach (bool reverse in new[] { false, true })
            foreach (bool withInitial in new[] { false, true })
            {
                var (lr, li) = RandomLambda(n, n);
                double[] input = Compare.Random(batch * length * 2 * n, length + n);
                double[]? x0 = withInitial ? Compare.Random(batch * 2 * n, 99) : null;
                float[] lrF = Compare.Cast<float>(lr), liF = Compare.Cast<float>(li), states = Compare.Cast<float>(input);
                // The reference uses the float-rounded λ too, so the comparison measures the scan, not the rounding of λ.
                double[] expected = ReferenceLru.Scan(Compare.ToDouble<float>(lrF), Compare.ToDouble<float>(liF), input, batch, length, x0, reverse);
                DiagonalRecurrence.Scan<float>(lrF, liF, states, batch, length, x0 is null ? default : Compare.Cast<float>(x0), reverse, mode, threads: 2);
                Compare.Close<float>(states, expected, 1e-4, $"{mode} reverse={reverse} x0={withInitial}");

                double[] statesD = (double[])input.Clone();
                DiagonalRecurrence.Scan<double>(lr, li, statesD, batch, length, x0, reverse, mode, threads: 2);
                Compare.Close<double>(statesD, ReferenceLru.Scan(lr, li, input, batch, length, x0, reverse), 1e-12, $"double {mode}");
            }
    }

    [Fact]
    public void ChannelBlocks_AreWholeRows_UnlessThreadsOutnumberBatchRows()
    {
        Assert.Equal(256, DiagonalRecurrence.ChannelsPerItem(batch: 8, n: 256, workers: 2));
        Assert.Equal(300, DiagonalRecurrence.ChannelsPerItem(batch: 2, n: 300, workers: 2));
        Assert.Equal(128, DiagonalRecurrence.ChannelsPerItem(batch: 1, n: 256, workers: 2));
        Assert.Equal(192, DiagonalRecurrence.ChannelsPerItem(batch: 1, n: 300, workers: 2)); // 150 rounded up to 64s
        Assert.Equal(64, DiagonalRecurrence.ChannelsPerItem(batch: 1, n: 64, workers: 2));   // never below one block
        Assert.Equal(64, DiagonalRecurrence.ChannelsPerItem(batch: 1, n: 256, workers: 4));
    }

    [Fact]
    public void Auto_DependsOnShapeOnly()
    {
        Assert.Equal(ScanMode.Chunked, DiagonalRecurrence.ChooseMode(1, 4096, 64, processors: 8));
        Assert.Equal(ScanMode.Sequential, DiagonalRecurrence.ChooseMode(1, 4096, 64, processors: 2));
        Assert.Equal(ScanMode.Sequential, DiagonalRecurrence.ChooseMode(8, 1024, 256, processors: 8));
        Assert.Equal(ScanMode.Sequential, DiagonalRecurrence.ChooseMode(1, 100, 64, processors: 8));
        // The thread setting does not enter: Auto gives bit-identical results for 1 and 2 threads
        // (DiagonalRecurrenceThreadCountTests.Results_AreBitIdentical_ForOneAndTwoThreads covers ScanMode.Auto).
    }

    [Fact]
    public void RejectsMismatchedShapes()
    {
        float[] l = new float[4];
        var e1 = Assert.Throws<ArgumentException>(() => DiagonalRecurrence.Scan<float>(l, new float[3], new float[16], 1, 2));
        Assert.Equal("lambdaIm", e1.ParamName);
        var e2 = Assert.Throws<ArgumentException>(() => DiagonalRecurrence.Scan<float>(l, l, new float[15], 1, 2));
        Assert.Equal("states", e2.ParamName);
        Assert.Contains("needs 16", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => DiagonalRecurrence.Scan<float>(l, l, new float[16], 1, 2, new float[3]));
        Assert.Equal("initialState", e3.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => DiagonalRecurrence.Scan<float>(l, l, new float[16], 1, 2, default, false, (ScanMode)9));
    }
}

/// <summary>Scans on one and on two threads (really two: <see cref="TwoThreads"/>), apart from other tests so the worker pool is free.</summary>
[Collection(nameof(ThreadCountSetting))]
public class DiagonalRecurrenceThreadCountTests
{
    public static readonly TheoryData<ScanMode> Modes = DiagonalRecurrenceTests.Modes;

    [Theory, MemberData(nameof(Modes))]
    public void Results_AreBitIdentical_ForOneAndTwoThreads(ScanMode mode)
    {
        // (1, 900, 300) is cut into two channel blocks with 2 threads and scanned whole with 1. Some shapes are a single
        // work item in some modes (the sequential scan of (1, 4096, 64)), so the proof covers the shapes together.
        TwoThreads.Prove(() =>
        {
            foreach (var (batch, length, n) in new[] { (1, 4096, 64), (8, 700, 100), (3, 2500, 7), (1, 900, 300) })
            {
                var (lr, li) = DiagonalRecurrenceTests.RandomLambda(n, 1);
                float[] lrF = Compare.Cast<float>(lr), liF = Compare.Cast<float>(li);
                float[] input = Compare.Cast<float>(Compare.Random(batch * length * 2 * n, 5));
                float[] one = (float[])input.Clone(), two = (float[])input.Clone();
                DiagonalRecurrence.Scan<float>(lrF, liF, one, batch, length, default, false, mode, threads: 1);
                DiagonalRecurrence.Scan<float>(lrF, liF, two, batch, length, default, false, mode, threads: 2);
                Assert.Equal(one, two);
            }
            return 0;
        }, _ => { }, $"{mode} scans");
    }
}
