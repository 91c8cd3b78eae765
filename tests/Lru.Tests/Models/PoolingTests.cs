using Lru.Models;
using Lru.Tests.Support;

namespace Lru.Tests.Models;

public class PoolingTests
{
    private const int Batch = 3, Length = 4, H = 5;
    private static readonly int[] Lengths = [4, 1, 3];

    private static double[] Input() => Compare.Random(Batch * Length * H, 1);

    [Fact]
    public void Mean_AveragesTheValidSteps()
    {
        var pooling = new Pooling<double>(PoolingMode.Mean, H);
        double[] x = Input(), y = new double[Batch * H];
        pooling.Forward(x, y, Batch, Length, Lengths);
        var expected = new double[y.Length];
        for (int b = 0; b < Batch; b++)
            for (int f = 0; f < H; f++)
            {
                for (int t = 0; t < Lengths[b]; t++) expected[b * H + f] += x[(b * Length + t) * H + f];
                expected[b * H + f] /= Lengths[b];
            }
        Compare.Close<double>(y, expected, 1e-15);

        // Without lengths: the mean over all L steps.
        pooling.Forward(x, y, Batch, Length);
        for (int f = 0; f < H; f++)
            Assert.Equal(Enumerable.Range(0, Length).Average(t => x[t * H + f]), y[f], 14);
    }

    [Fact]
    public void Last_TakesTheLastValidStep()
    {
        var pooling = new Pooling<double>(PoolingMode.Last, H);
        double[] x = Input(), y = new double[Batch * H];
        pooling.Forward(x, y, Batch, Length, Lengths);
        for (int b = 0; b < Batch; b++)
            Assert.Equal(x.AsSpan((b * Length + Lengths[b] - 1) * H, H).ToArray(), y.AsSpan(b * H, H).ToArray());
        pooling.Forward(x, y, Batch, Length);
        for (int b = 0; b < Batch; b++)
            Assert.Equal(x.AsSpan((b * Length + Length - 1) * H, H).ToArray(), y.AsSpan(b * H, H).ToArray());
    }

    [Fact]
    public void None_CopiesForward_AndAddsToValidStepsOnlyBackward()
    {
        var pooling = new Pooling<double>(PoolingMode.None, H);
        Assert.Equal(Batch * Length * H, pooling.OutputSize(Batch, Length));
        Assert.False(pooling.ReducesTime);
        double[] x = Input(), y = new double[x.Length], gx = new double[x.Length];
        pooling.Forward(x, y, Batch, Length, Lengths);
        Assert.Equal(x, y);
        double[] gy = Compare.Random(x.Length, 2);
        gx.AsSpan().Fill(7.0); // gradients accumulate: what is there stays, padded steps get nothing added
        pooling.Backward(gy, gx, Batch, Length);
        for (int b = 0; b < Batch; b++)
            for (int t = 0; t < Length; t++)
                for (int f = 0; f < H; f++)
                {
                    int i = (b * Length + t) * H + f;
                    Assert.Equal(t < Lengths[b] ? 7.0 + gy[i] : 7.0, gx[i]);
                }
    }

    [Theory]
    [InlineData(PoolingMode.Mean, true)]
    [InlineData(PoolingMode.Mean, false)]
    [InlineData(PoolingMode.Last, true)]
    [InlineData(PoolingMode.Last, false)]
    [InlineData(PoolingMode.None, true)]
    public void Gradients_MatchFiniteDifferences_AndPaddingGetsZero(PoolingMode mode, bool masked)
    {
        var pooling = new Pooling<double>(mode, H);
        int[] lengths = masked ? Lengths : [];
        double[] x = Input(), w = Compare.Random(pooling.OutputSize(Batch, Length), 3), y = new double[w.Length];
        if (mode == PoolingMode.None && masked)
        {
            // None passes padded steps through; a masked loss gives them zero weight.
            for (int b = 0; b < Batch; b++) w.AsSpan((b * Length + Lengths[b]) * H, (Length - Lengths[b]) * H).Clear();
        }
        double Loss()
        {
            pooling.Forward(x, y, Batch, Length, lengths);
            return GradientCheck.WeightedSum(y, w);
        }
        Loss();
        double[] gx = new double[x.Length];
        pooling.Backward(w, gx, Batch, Length);
        GradientCheck.Check(Loss, x, gx, "input");
        if (masked)
            for (int b = 0; b < Batch; b++)
                Assert.All(gx.AsSpan((b * Length + Lengths[b]) * H, (Length - Lengths[b]) * H).ToArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void Float_AgreesWithDouble()
    {
        var pd = new Pooling<double>(PoolingMode.Mean, H);
        var pf = new Pooling<float>(PoolingMode.Mean, H);
        double[] x = Input(), gy = Compare.Random(Batch * H, 2);
        double[] y = new double[Batch * H], gx = new double[x.Length];
        float[] yf = new float[Batch * H], gxf = new float[x.Length];
        pd.Forward(x, y, Batch, Length, Lengths);
        pf.Forward(Compare.Cast<float>(x), yf, Batch, Length, Lengths);
        pd.Backward(gy, gx, Batch, Length);
        pf.Backward(Compare.Cast<float>(gy), gxf, Batch, Length);
        Compare.Close<float>(yf, y, 1e-6);
        Compare.Close<float>(gxf, gx, 1e-6);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(-1)]
    public void ValidLengthOutsideOneToL_Throws(int bad)
    {
        var pooling = new Pooling<double>(PoolingMode.Mean, H);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => pooling.Forward(Input(), new double[Batch * H], Batch, Length, [2, bad, 1]));
        Assert.Equal("lengths", e.ParamName);
        Assert.Contains($"lengths[1] is {bad}", e.Message);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new Pooling<double>(PoolingMode.Mean, 0)).ParamName);
        Assert.Equal("mode", Assert.Throws<ArgumentOutOfRangeException>(() => new Pooling<double>((PoolingMode)9, 3)).ParamName);
        var pooling = new Pooling<double>(PoolingMode.Last, H);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => pooling.Forward(new double[7], new double[Batch * H], Batch, Length)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => pooling.Forward(Input(), new double[Batch * Length * H], Batch, Length)).ParamName);
        Assert.Equal("lengths", Assert.Throws<ArgumentException>(() => pooling.Forward(Input(), new double[Batch * H], Batch, Length, [1, 2])).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => pooling.Forward([], new double[Batch * H], Batch, 0)).ParamName);
        Assert.Contains("training-mode Forward first", Assert.Throws<InvalidOperationException>(() => pooling.Backward(new double[Batch * H], new double[Batch * Length * H])).Message);
        pooling.Forward(Input(), new double[Batch * H], Batch, Length);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => pooling.Backward(new double[4], new double[Batch * Length * H], Batch, Length)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => pooling.Backward(new double[Batch * H], new double[4], Batch, Length)).ParamName);
    }

    [Theory]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Last)]
    [InlineData(PoolingMode.None)]
    public void AllocatesNothing(PoolingMode mode)
    {
        var pooling = new Pooling<float>(mode, H);
        float[] x = new float[Batch * Length * H], y = new float[pooling.OutputSize(Batch, Length)], gx = new float[x.Length];
        for (int i = 0; i < 3; i++) Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Run()
        {
            pooling.Forward(x, y, Batch, Length, Lengths);
            pooling.Backward(y, gx, Batch, Length);
        }
    }
}
