using Lru.Data;
using Lru.IO;
using Lru.Models;

namespace Lru.Tests.Data;

public class ArrayDataTests
{
    private static NpyArray Inputs(int n, int l, int f, int seed = 1)
    {
        var random = new Random(seed);
        return new NpyArray(Enumerable.Range(0, n * l * f).Select(_ => random.NextDouble() * 4 - 1).ToArray(), n, l, f);
    }

    [Fact]
    public void Describe_ReadsTheJobFromTheTargetsTypeAndShape()
    {
        var x = Inputs(5, 7, 3);
        Assert.Equal(new DataSpec(OutputKind.Classification, false, 10, 3, 7), ArrayData.Describe(x, NpyArray.Create(new long[] { 0, 9, 2, 2, 1 }, 5)));
        Assert.Equal(new DataSpec(OutputKind.Regression, false, 1, 3, 7), ArrayData.Describe(x, new NpyArray(new double[5], 5)));
        Assert.Equal(new DataSpec(OutputKind.Regression, false, 4, 3, 7), ArrayData.Describe(x, new NpyArray(new float[20], 5, 4)));
        Assert.Equal(new DataSpec(OutputKind.Classification, true, 2, 3, 7), ArrayData.Describe(x, NpyArray.Create(Enumerable.Repeat((byte)1, 35).ToArray(), 5, 7)));
        Assert.Equal(new DataSpec(OutputKind.Regression, true, 2, 3, 7), ArrayData.Describe(x, new NpyArray(new float[70], 5, 7, 2)));
        // (N, L) inputs are one feature; the objective can read integers as values and whole floats as classes.
        Assert.Equal(1, ArrayData.Describe(new NpyArray(new float[35], 5, 7), new NpyArray(new float[5], 5)).Features);
        Assert.Equal(OutputKind.Regression, ArrayData.Describe(x, NpyArray.Create(new int[5], 5), Objective.Regression).Output);
        Assert.Equal(new DataSpec(OutputKind.Classification, false, 4, 3, 7), ArrayData.Describe(x, new NpyArray([0.0, 3, 1, 1, 2], 5), Objective.Classification));
        Assert.Equal(12, ArrayData.Describe(x, NpyArray.Create(new long[5], 5), classes: 12).Outputs);
    }

    [Fact]
    public void Describe_CountsClassesAtValidStepsOnly_AndRefusesAbsurdCounts()
    {
        var x = Inputs(2, 3, 1);
        var perStep = NpyArray.Create(new byte[] { 1, 0, 255, 2, 255, 255 }, 2, 3); // 255 pads
        Assert.Equal(256, ArrayData.Describe(x, perStep).Outputs);
        Assert.Equal(3, ArrayData.Describe(x, perStep, lengths: NpyArray.Create(new long[] { 2, 1 }, 2)).Outputs);
        Assert.Contains("more than the 65536 a classifier here takes",
            Assert.Throws<ArgumentException>(() => ArrayData.Describe(x, NpyArray.Create(new long[] { 3, 1_000_000_000 }, 2))).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ArrayData.Describe(x, NpyArray.Create(new long[2], 2), classes: 0));
    }

    [Fact]
    public void ToDataset_RefusesStatisticsOfAnotherWidth()
    {
        var data = ArrayData.Create(new DataSpec(OutputKind.Regression, false, 2, 3, 4), Inputs(2, 4, 3), new NpyArray(new float[4], 2, 2));
        Assert.Contains("statistics of 1 features; the data has 3", Assert.Throws<ArgumentException>(() => data.ToDataset(Standardization.Fit([1f, 2f], 1), null)).Message);
        Assert.Contains("statistics of 3 outputs", Assert.Throws<ArgumentException>(() => data.ToDataset(null, data.InputStatistics())).Message);
        Assert.Throws<InvalidOperationException>(() => new Standardization([0.0], [1.0, 2.0]).Apply(new float[2]));
    }

    [Fact]
    public void Describe_RefusesShapesThatDoNotFit_NamingBoth()
    {
        var x = Inputs(5, 7, 3);
        Assert.Contains("--targets y.npy has shape (4) but x.npy holds 5 sequences",
            Assert.Throws<ArgumentException>(() => ArrayData.Describe(x, NpyArray.Create(new long[4], 4), Objective.Auto, null, "x.npy", "--targets y.npy")).Message);
        Assert.Contains("class ids are (5) (one per sequence) or (5, 7) (one per step)",
            Assert.Throws<ArgumentException>(() => ArrayData.Describe(x, NpyArray.Create(new long[15], 5, 3))).Message);
        Assert.Contains("(N, L, F) sequences expected",
            Assert.Throws<ArgumentException>(() => ArrayData.Describe(new NpyArray(new float[5], 5), new NpyArray(new float[5], 5))).Message);
        Assert.Contains("regression targets are (5), (5, O) (one per sequence) or (5, 7, O)",
            Assert.Throws<ArgumentException>(() => ArrayData.Describe(x, new NpyArray(new float[5 * 6 * 2], 5, 6, 2))).Message);
    }

    [Fact]
    public void Create_RefusesBadValues_WithTheFirstIndex()
    {
        var spec = new DataSpec(OutputKind.Classification, false, 3, 2, 4);
        double[] values = Inputs(3, 4, 2).ToFloat64();
        values[1 * 8 + 2 * 2 + 1] = double.NaN;
        var labels = NpyArray.Create(new long[] { 0, 1, 2 }, 3);
        Assert.Contains("x holds NaN at [1, 2, 1]", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, new NpyArray(values, 3, 4, 2), labels, null, "x")).Message);
        values[1 * 8 + 2 * 2 + 1] = 1e300;
        Assert.Contains("1E+300, beyond the float32 range, at [1, 2, 1]", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, new NpyArray(values, 3, 4, 2), labels)).Message);

        var x = Inputs(3, 4, 2);
        Assert.Contains("the label 3 at [2]; labels must be in [0, 2]", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, x, NpyArray.Create(new long[] { 0, 1, 3 }, 3))).Message);
        Assert.Contains("the label -1 at [0]", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, x, NpyArray.Create(new sbyte[] { -1, 1, 2 }, 3))).Message);
        Assert.Contains("2.5 at [1] is not a whole number", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, x, new NpyArray([0.0, 2.5, 1], 3))).Message);
        Assert.Contains("lengths[1] is 0; every length must be in [1, 4]", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, x, labels, NpyArray.Create(new long[] { 4, 0, 2 }, 3))).Message);
        Assert.Contains("lengths[2] is 5", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, x, labels, NpyArray.Create(new int[] { 4, 1, 5 }, 3))).Message);
        Assert.Contains("lengths are integers", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, x, labels, new NpyArray(new float[3], 3))).Message);
        Assert.Contains("(3, 4, 2) expected", Assert.Throws<ArgumentException>(() => ArrayData.Create(spec, Inputs(3, 5, 2), labels)).Message);
        var regression = new DataSpec(OutputKind.Regression, false, 2, 2, 4);
        Assert.Contains("y holds Infinity at [1, 0]", Assert.Throws<ArgumentException>(() => ArrayData.Create(regression, x, new NpyArray([0f, 1f, float.PositiveInfinity, 2f, 3f, 4f], 3, 2), null, "x", "y")).Message);
    }

    [Fact]
    public void PaddedSteps_MayHoldAnything_AndBecomeZeros()
    {
        var spec = new DataSpec(OutputKind.Classification, true, 2, 1, 4);
        var x = new NpyArray([1.0, 2, double.NaN, double.PositiveInfinity, 5, 6, 7, 8], 2, 4, 1);
        var labels = NpyArray.Create(new long[] { 1, 0, -1, 7, 0, 1, 1, 0 }, 2, 4);
        var data = ArrayData.Create(spec, x, labels, NpyArray.Create(new long[] { 2, 4 }, 2));
        Assert.Equal([1f, 2f, 0f, 0f, 5f, 6f, 7f, 8f], data.Inputs);
        Assert.Equal([1, 0, 0, 0, 0, 1, 1, 0], data.Labels!);
        Assert.Equal([2, 4], data.Lengths!);
    }

    [Fact]
    public void Standardization_UsesTheValidStepsOnly_AndInverts()
    {
        // Two sequences of length 3, two features; the second sequence's last step is padding.
        var spec = new DataSpec(OutputKind.Regression, false, 1, 2, 3);
        double[] x = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 1000, -1000];
        var data = ArrayData.Create(spec, new NpyArray(x, 2, 3, 2), new NpyArray([1.0, 2.0], 2), NpyArray.Create(new long[] { 3, 2 }, 2));
        var stats = data.InputStatistics();
        double[] first = [1, 2, 3, 4, 5], second = [10, 20, 30, 40, 50];
        Assert.Equal(first.Average(), stats.Mean[0], 12);
        Assert.Equal(second.Average(), stats.Mean[1], 12);
        Assert.Equal(Math.Sqrt(first.Select(v => (v - 3) * (v - 3)).Average()), stats.Scale[0], 12);
        Assert.Equal(Math.Sqrt(second.Select(v => (v - 30) * (v - 30)).Average()), stats.Scale[1], 12);

        var set = data.ToDataset(stats, data.TargetStatistics());
        Assert.Equal((float)((1 - 3) / stats.Scale[0]), set.Inputs![0], 6);
        Assert.Equal([0f, 0f], set.Inputs.AsSpan(10, 2).ToArray()); // padding stays 0 after standardising
        Assert.Equal([-1f, 1f], set.ValueTargets!); // targets 1 and 2: mean 1.5, scale 0.5
        float[] back = [.. set.ValueTargets!];
        data.TargetStatistics()!.Invert(back);
        Assert.Equal([1f, 2f], back);

        var constant = Standardization.Fit([5f, 5f, 5f], 1);
        Assert.Equal(1, constant.Scale[0]);
        Assert.Equal(5, constant.Mean[0]);
    }

    [Fact]
    public void Split_IsSeeded_Disjoint_AndCovering()
    {
        var spec = new DataSpec(OutputKind.Regression, false, 1, 1, 2);
        double[] x = Enumerable.Range(0, 40).Select(i => (double)i).ToArray();
        var data = ArrayData.Create(spec, new NpyArray(x, 20, 2, 1), new NpyArray(Enumerable.Range(0, 20).Select(i => (double)i).ToArray(), 20));
        var (train, validation) = data.Split(0.25, seed: 3);
        Assert.Equal(15, train.Count);
        Assert.Equal(5, validation!.Count);
        var seen = train.Values!.Concat(validation.Values!).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (float)i), seen);
        for (int i = 0; i < train.Count; i++) Assert.Equal(train.Values![i] * 2, train.Inputs[2 * i]); // rows stay together
        Assert.Equal(validation.Values, data.Split(0.25, seed: 3).Validation!.Values);
        Assert.NotEqual(validation.Values, data.Split(0.25, seed: 4).Validation!.Values);
        Assert.Null(data.Split(0, 3).Validation);
        Assert.Contains("leaves the training split empty", Assert.Throws<ArgumentOutOfRangeException>(() => data.Split(0.99, 3)).Message);
    }
}
