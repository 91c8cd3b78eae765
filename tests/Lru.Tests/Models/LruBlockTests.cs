using Lru.Layers;
using Lru.Models;
using Lru.Tests.Support;

namespace Lru.Tests.Models;

public class LruBlockTests
{
    private static LruBlockConfig Small(int h = 5, int n = 6) => new(new LruConfig(h, n, RMin: 0.5, RMax: 0.95));

    public static IEnumerable<object[]> Variants()
    {
        yield return ["pre-LN-GLU", Small()];
        yield return ["post-LN-GLU", Small() with { Placement = NormPlacement.Post }];
        yield return ["pre-BN-MLP", Small() with { Norm = NormKind.BatchNorm, Mixer = MixerKind.Mlp, MlpExpansion = 2 }];
        yield return ["post-BN-GLU", Small() with { Norm = NormKind.BatchNorm, Placement = NormPlacement.Post }];
        yield return ["dropout-per-sequence", Small() with { DropoutRate = 0.3 }];
        yield return ["dropout-per-element-tanh", Small() with { DropoutRate = 0.2, DropoutMode = DropoutMode.PerElement, Gelu = GeluApproximation.Tanh }];
        yield return ["no-residual", Small() with { Residual = false }];
        yield return ["no-residual-post", Small() with { Residual = false, Placement = NormPlacement.Post }];
        yield return ["bidirectional-sum", Small() with { Bidirectional = true }];
        yield return ["bidirectional-concat", Small() with { Bidirectional = true, Combine = BidirectionalCombine.ConcatProject }];
    }

    [Theory, MemberData(nameof(Variants))]
    public void Gradients_MatchFiniteDifferences(string name, LruBlockConfig config)
    {
        var block = new LruBlock<double>(config, seed: 3);
        GradientCheck.Layer(block, batch: 2, length: 5, seed: 7, beforeForward: () => Reseed(block), tolerance: 1e-6);
        Assert.NotEmpty(name);
    }

    [Theory, MemberData(nameof(Variants))]
    public void FloatGradients_MatchDouble(string name, LruBlockConfig config)
    {
        var single = new LruBlock<float>(config, seed: 3);
        var reference = new LruBlock<double>(config, seed: 3);
        GradientCheck.FloatMatchesDouble(single, reference, batch: 3, length: 20, seed: 2);
        Assert.NotEmpty(name);
    }

    [Theory]
    [InlineData(NormKind.LayerNorm, NormPlacement.Pre, MixerKind.Glu)]
    [InlineData(NormKind.BatchNorm, NormPlacement.Post, MixerKind.Mlp)]
    public void Step_EqualsForwardInEvaluation_AtEveryTimeStep(NormKind norm, NormPlacement placement, MixerKind mixer)
    {
        const int batch = 3, length = 12, h = 7, n = 9;
        var block = new LruBlock<double>(new LruBlockConfig(new LruConfig(h, n), Norm: norm, Placement: placement, Mixer: mixer, DropoutRate: 0.25), seed: 1);
        double[] x = Compare.Random(batch * length * h, 4);
        block.Forward(x, new double[x.Length], batch, length); // training pass: BatchNorm running statistics move
        block.IsTraining = false;
        double[] y = new double[x.Length];
        block.Forward(x, y, batch, length);

        var state = block.CreateState(batch);
        double[] xt = new double[batch * h], yt = new double[batch * h];
        for (int t = 0; t < length; t++)
        {
            for (int b = 0; b < batch; b++) x.AsSpan((b * length + t) * h, h).CopyTo(xt.AsSpan(b * h));
            block.Step(xt, yt, state);
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < h; i++)
                    Assert.Equal(y[(b * length + t) * h + i], yt[b * h + i], 1e-12);
        }
    }

    [Fact]
    public void Bidirectional_RefusesToStream_NamingTheModule_AndStepIsEvaluationInTrainingModeToo()
    {
        var bi = new LruBlock<float>(Small() with { Bidirectional = true });
        Assert.False(bi.CanStream);
        var e = Assert.Throws<InvalidOperationException>(() => bi.CreateState(1));
        Assert.Contains("LruBlock cannot stream: its module 'lru' (BidirectionalLru) sees the future", e.Message);

        // A block in training mode steps with its evaluation behaviour (running statistics, no dropout) and changes no state.
        var causal = new LruBlock<float>(Small() with { Norm = NormKind.BatchNorm, DropoutRate = 0.5 });
        Assert.True(causal.IsTraining);
        var norm = (BatchNorm<float>)causal.Norm;
        float[] meanBefore = [.. norm.RunningMean];
        float[] x = Compare.Cast<float>(Compare.Random(2 * 5, 3)), stepped = new float[x.Length], forward = new float[x.Length];
        causal.Step(x, stepped, causal.CreateState(2));
        Assert.True(causal.IsTraining);
        Assert.Equal(meanBefore, norm.RunningMean);
        causal.IsTraining = false;
        causal.Forward(x, forward, 2, 1);
        Compare.Close<float>(stepped, Compare.ToDouble<float>(forward), 1e-6, "step in training mode vs evaluation forward"); // panels vs GEMM: rounding only
    }

    [Fact]
    public void ParameterNames_AreHierarchical()
    {
        var names = new LruBlock<float>(Small()).NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(["norm.weight", "norm.bias", "lru.nu_log", "lru.theta_log", "lru.gamma_log", "lru.B_re", "lru.B_im", "lru.C_re", "lru.C_im", "lru.D",
            "glu.out1.weight", "glu.out1.bias", "glu.out2.weight", "glu.out2.bias"], names);
        var bi = new LruBlock<float>(Small() with { Bidirectional = true, Combine = BidirectionalCombine.ConcatProject, Mixer = MixerKind.Mlp });
        var biNames = bi.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Contains("lru.forward.nu_log", biNames);
        Assert.Contains("lru.backward.C_im", biNames);
        Assert.Contains("lru.projection.weight", biNames);
        Assert.Contains("mlp.fc2.bias", biNames);
        Assert.Equal(biNames.Length, biNames.Distinct().Count());
    }

    [Fact]
    public void InvalidConfig_IsRefused_WithItsName()
    {
        Assert.Equal("DropoutRate", Assert.Throws<ArgumentOutOfRangeException>(() => new LruBlock<float>(Small() with { DropoutRate = 1 })).ParamName);
        Assert.Equal("MlpExpansion", Assert.Throws<ArgumentOutOfRangeException>(() => new LruBlock<float>(Small() with { MlpExpansion = 0 })).ParamName);
        Assert.Equal("RMax", Assert.Throws<ArgumentOutOfRangeException>(() => new LruBlock<float>(Small() with { Lru = Small().Lru with { RMax = 1.5 } })).ParamName);
    }

    /// <summary>Gives the dropout layers the same masks on every forward pass of a gradient check.</summary>
    private static void Reseed<T>(LruBlock<T> block) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        block.Dropout1?.Reseed(11);
        block.Dropout2?.Reseed(12);
    }
}
