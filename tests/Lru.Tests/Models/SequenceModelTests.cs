using Lru.Layers;
using Lru.Models;
using Lru.Training;
using Lru.Tests.Support;

namespace Lru.Tests.Models;

public class SequenceModelTests
{
    private static LruBlockConfig Block(int h = 6, int n = 5) => new(new LruConfig(h, n, RMin: 0.5, RMax: 0.95));

    [Theory]
    [InlineData(PoolingMode.Mean, true)]
    [InlineData(PoolingMode.Last, true)]
    [InlineData(PoolingMode.None, false)]
    public void WholeModel_Gradients_MatchFiniteDifferences(PoolingMode pooling, bool withLengths)
    {
        const int batch = 2, length = 6, features = 3;
        var config = new SequenceModelConfig(features, 0, Outputs: 4, Layers: 2, Block(), pooling);
        var model = new SequenceModel<double>(config with { Block = Block() with { DropoutRate = 0.2 } }, seed: 5);
        int[] lengths = withLengths ? [6, 4] : [];
        double[] x = Compare.Random(batch * length * features, 1);
        double[] w = Compare.Random(model.OutputSize(batch, length), 2);
        double[] y = new double[w.Length];
        double Loss()
        {
            foreach (var block in model.Blocks) { block.Dropout1!.Reseed(1); block.Dropout2!.Reseed(2); }
            model.Forward(x, y, batch, length, lengths);
            return GradientCheck.WeightedSum(y, w);
        }

        var named = model.NamedParameters().ToArray();
        GradientCheck.ZeroGradients(named);
        Loss();
        double[] gradX = new double[x.Length];
        model.Backward(w, gradX);
        GradientCheck.Check(Loss, x, gradX, "input");
        GradientCheck.Parameters(Loss, named);
    }

    [Fact]
    public void TokenModel_Gradients_MatchFiniteDifferences()
    {
        const int batch = 2, length = 5;
        var model = new SequenceModel<double>(new SequenceModelConfig(0, Vocabulary: 7, Outputs: 3, Layers: 1, Block() with { Norm = NormKind.BatchNorm }), seed: 2);
        int[] tokens = [1, 2, 3, 4, 5, 6, 0, 0, 3, 2];
        double[] w = Compare.Random(batch * 3, 3), y = new double[batch * 3];
        double Loss()
        {
            model.ForwardTokens(tokens, y, batch, length);
            return GradientCheck.WeightedSum(y, w);
        }
        var named = model.NamedParameters().ToArray();
        GradientCheck.ZeroGradients(named);
        Loss();
        model.Backward(w);
        GradientCheck.Parameters(Loss, named);
    }

    [Theory]
    [InlineData(PoolingMode.None)]
    [InlineData(PoolingMode.Last)]
    [InlineData(PoolingMode.Mean)]
    public void Step_EqualsForwardOnThePrefix_AtEveryTimeStep(PoolingMode pooling)
    {
        const int batch = 2, length = 9, features = 3, outputs = 4;
        var config = new SequenceModelConfig(features, 0, outputs, Layers: 2, Block() with { Norm = NormKind.BatchNorm, DropoutRate = 0.1 }, pooling);
        var model = new SequenceModel<double>(config, seed: 8);
        double[] x = Compare.Random(batch * length * features, 3);
        model.Forward(x, new double[model.OutputSize(batch, length)], batch, length); // moves BatchNorm statistics
        model.IsTraining = false;

        var state = model.CreateState(batch);
        double[] xt = new double[batch * features], yt = new double[batch * outputs];
        for (int t = 0; t < length; t++)
        {
            for (int b = 0; b < batch; b++) x.AsSpan((b * length + t) * features, features).CopyTo(xt.AsSpan(b * features));
            model.Step(xt, yt, state);

            // Forward on the prefix [0, t] gives the reference for this step.
            int len = t + 1;
            double[] prefix = new double[batch * len * features];
            for (int b = 0; b < batch; b++) x.AsSpan(b * length * features, len * features).CopyTo(prefix.AsSpan(b * len * features));
            double[] y = new double[model.OutputSize(batch, len)];
            model.Forward(prefix, y, batch, len);
            for (int b = 0; b < batch; b++)
                for (int o = 0; o < outputs; o++)
                {
                    double expected = pooling == PoolingMode.None ? y[(b * len + t) * outputs + o] : y[b * outputs + o];
                    Assert.Equal(expected, yt[b * outputs + o], 1e-11);
                }
        }
        Assert.Equal(length, state.Steps);
    }

    [Fact]
    public void Step_AllocatesNothing()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(4, 0, 3, Layers: 2, new LruBlockConfig(new LruConfig(32, 64))), seed: 1) { IsTraining = false };
        var state = model.CreateState(2);
        float[] x = new float[8], y = new float[6];
        for (int i = 0; i < 300; i++) model.Step(x, y, state);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 500; i++) model.Step(x, y, state);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void BidirectionalModel_RefusesToStream()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 1, Block() with { Bidirectional = true }));
        var e = Assert.Throws<InvalidOperationException>(() => model.CreateState(1));
        Assert.Contains("SequenceModel cannot stream: its module 'blocks.0.lru' (BidirectionalLru) sees the future", e.Message);
    }

    [Fact]
    public void ParameterNames_AreStable_AndGrouped()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, Layers: 2, Block()));
        var named = model.NamedParameters().ToArray();
        var names = named.Select(p => p.Name).ToArray();
        Assert.Equal("encoder.weight", names[0]);
        Assert.Contains("blocks.0.lru.nu_log", names);
        Assert.Contains("blocks.1.glu.out2.bias", names);
        Assert.Equal("decoder.bias", names[^1]);
        Assert.Equal(names.Length, names.Distinct().Count());
        string[] recurrent = ["nu_log", "theta_log", "gamma_log", "B_re", "B_im"];
        foreach (var (name, p) in named)
            Assert.Equal(recurrent.Any(r => name.EndsWith(".lru." + r)), OptimizerSettings.IsLruRecurrent(name, p.Shape.ToArray()));
        Assert.Equal(names, new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, Layers: 2, Block()), seed: 9).NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void BadInput_IsRefused_WithClearMessages()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 1, Block()));
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => model.Forward(new float[5], new float[4], 2, 1)).ParamName);
        Assert.Equal("lengths", Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(new float[12], new float[4], 2, 2, [2, 3])).ParamName);
        Assert.Throws<InvalidOperationException>(() => model.ForwardTokens([1, 2], new float[2], 1, 2));
        Assert.Equal("InputFeatures", Assert.Throws<ArgumentOutOfRangeException>(() => new SequenceModel<float>(new SequenceModelConfig(3, 5, 2, 1, Block()))).ParamName);
    }
}
