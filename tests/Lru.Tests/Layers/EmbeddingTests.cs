using Lru.Layers;
using Lru.Tensors;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

public class EmbeddingTests
{
    private static readonly int[] Tokens = [3, 0, 3, 6, 1, 3, 6, 2]; // (B = 2, L = 4), with repeats

    [Fact]
    public void Forward_CopiesTheTokensRows()
    {
        var embedding = new Embedding<double>(7, 5, seed: 1);
        double[] y = new double[Tokens.Length * 5];
        embedding.Forward(Tokens, y, 2, 4);
        for (int i = 0; i < Tokens.Length; i++)
            Assert.Equal(embedding.Weight.Values.AsSpan(Tokens[i] * 5, 5).ToArray(), y.AsSpan(i * 5, 5).ToArray());
    }

    [Fact]
    public void Gradient_MatchesFiniteDifferences()
    {
        const int batch = 2, length = 4, h = 5;
        var embedding = new Embedding<double>(7, h, seed: 2);
        double[] w = Compare.Random(batch * length * h, 3), y = new double[w.Length];
        double Loss()
        {
            embedding.Forward(Tokens, y, batch, length);
            return GradientCheck.WeightedSum(y, w);
        }
        Loss();
        embedding.Backward(w, default, batch, length);
        GradientCheck.Parameters(Loss, embedding.NamedParameters());
    }

    [Fact]
    public void Backward_SumsRepeatedTokensInRowOrder_AndAccumulates()
    {
        const int batch = 2, length = 4, h = 3;
        var embedding = new Embedding<float>(7, h, seed: 2);
        float[] g = Compare.Cast<float>(Compare.Random(batch * length * h, 4));
        embedding.Forward(Tokens, new float[g.Length], batch, length);
        embedding.Backward(g, default, batch, length);
        var expected = new float[7 * h];
        for (int i = 0; i < Tokens.Length; i++)
            for (int f = 0; f < h; f++) expected[Tokens[i] * h + f] += g[i * h + f];
        Assert.Equal(expected, embedding.Weight.GradientArray);
        Assert.All(embedding.Weight.GradientArray.AsSpan(4 * h, h).ToArray(), v => Assert.Equal(0f, v)); // token 4 unused

        // A second backward keeps adding, row by row, to what is there.
        embedding.Backward(g, default, batch, length);
        for (int i = 0; i < Tokens.Length; i++)
            for (int f = 0; f < h; f++) expected[Tokens[i] * h + f] += g[i * h + f];
        Assert.Equal(expected, embedding.Weight.GradientArray);
    }

    [Fact]
    public void Float_AgreesWithDouble()
    {
        const int batch = 2, length = 4, h = 5;
        var ed = new Embedding<double>(7, h, seed: 5);
        var ef = new Embedding<float>(7, h, seed: 5);
        double[] g = Compare.Random(batch * length * h, 6);
        ed.Forward(Tokens, new double[g.Length], batch, length);
        ed.Backward(g, default, batch, length);
        float[] yf = new float[g.Length];
        ef.Forward(Tokens, yf, batch, length);
        ef.Backward(Compare.Cast<float>(g), default, batch, length);
        Compare.Close<float>(ef.Weight.Values, ed.Weight.Values, 1e-7, "weight");
        Compare.Close<float>(ef.Weight.GradientArray, ed.Weight.GradientArray, 1e-6, "gradient");
    }

    [Fact]
    public void Initialization_IsStandardNormal_AndSeeded()
    {
        var a = new Embedding<double>(100, 40, seed: 7);
        Assert.Equal(a.Weight.Values, new Embedding<double>(100, 40, new SeededRandom(7)).Weight.Values);
        double mean = a.Weight.Values.Average();
        double variance = a.Weight.Values.Select(v => (v - mean) * (v - mean)).Average();
        // 4000 draws: the mean has standard deviation 0.016, the variance about 0.022.
        Assert.InRange(mean, -0.08, 0.08);
        Assert.InRange(variance, 0.9, 1.1);
        Assert.Equal(["weight"], a.NamedParameters().Select(n => n.Name));
        Assert.Equal([100, 40], a.Weight.Shape.ToArray());
    }

    [Theory]
    [InlineData(7)]
    [InlineData(-1)]
    public void TokenOutsideVocabulary_Throws_NamingPositionAndValue(int bad)
    {
        var embedding = new Embedding<double>(7, 2);
        int[] tokens = [1, 2, 3, 4, 5, bad];
        double[] y = new double[tokens.Length * 2];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => embedding.Forward(tokens, y, 2, 3));
        Assert.Equal("tokens", e.ParamName);
        Assert.Contains("tokens[1, 2]", e.Message);
        Assert.Contains($"is {bad}", e.Message);
        Assert.All(y, v => Assert.Equal(0, v)); // nothing written
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<double>(0, 3)).ParamName);
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<double>(3, 0)).ParamName);
        var embedding = new Embedding<double>(5, 3);
        Assert.Equal("tokens", Assert.Throws<ArgumentException>(() => embedding.Forward(new int[3], new double[6], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => embedding.Forward(new int[2], new double[5], 1, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => embedding.Backward(new double[6], default, 1, 2));
        embedding.IsTraining = false;
        embedding.Forward(new int[2], new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => embedding.Backward(new double[6], default, 1, 2));
        embedding.IsTraining = true;
        embedding.Forward(new int[2], new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => embedding.Backward(new double[6], default, 2, 1));
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => embedding.Backward(new double[5], default, 1, 2)).ParamName);
    }

    [Fact]
    public void SteadyState_AllocatesNothing()
    {
        var embedding = new Embedding<float>(7, 5);
        float[] y = new float[Tokens.Length * 5];
        for (int i = 0; i < 3; i++) Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Run()
        {
            embedding.Forward(Tokens, y, 2, 4);
            embedding.Backward(y, default, 2, 4);
        }
    }
}
