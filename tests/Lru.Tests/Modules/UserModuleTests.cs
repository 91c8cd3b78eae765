using System.Numerics.Tensors;
using Lru.Layers;
using Lru.Models;
using Lru.Tests.Support;
using Lru.Training;

namespace Lru.Tests.Modules;

/// <summary>
/// A user's own modules (<see cref="CausalDepthwiseConv{T}"/>, <see cref="FeatureGain{T}"/>, written in this assembly with
/// the public API only) between LRU blocks: gradients of the whole model against finite differences, streaming, and
/// training with the library's <see cref="Trainer{T}"/> and with a hand-written loop.
/// </summary>
public class UserModuleTests
{
    private static LruBlockConfig Block(int h, int n) => new(new LruConfig(h, n, RMin: 0.5, RMax: 0.95));

    /// <summary>encoder → LRU block → causal convolution → gain → LRU block (BatchNorm, post-norm) → pooling → decoder.</summary>
    private static Sequential<T> Model<T>(int features, int h, int n, int outputs, PoolingMode pooling, long seed, bool postBatchNorm = true)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var second = postBatchNorm ? Block(h, n) with { Norm = NormKind.BatchNorm, Placement = NormPlacement.Post } : Block(h, n);
        var model = new Sequential<T>(
            ("encoder", new Linear<T>(features, h, seed)),
            ("block0", new LruBlock<T>(Block(h, n), seed + 1)),
            ("conv", new CausalDepthwiseConv<T>(h, 3, seed + 2)),
            ("gain", new FeatureGain<T>(h)),
            ("block1", new LruBlock<T>(second, seed + 3)));
        if (pooling != PoolingMode.None) model.Add("pooling", new Pooling<T>(pooling, h));
        return model.Add("decoder", new Linear<T>(h, outputs, seed + 4));
    }

    [Fact]
    public void NamesFollowTheTree_AndTheOptimiserFindsTheRecurrentParameters()
    {
        var model = Model<float>(3, 8, 6, 2, PoolingMode.Mean, 1);
        var names = model.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Contains("conv.weight", names);
        Assert.Contains("gain.gain", names);
        Assert.Contains("block0.lru.nu_log", names);
        Assert.Contains("block1.glu.out2.bias", names);
        Assert.Equal(["block1.norm.running_mean", "block1.norm.running_var"], model.NamedBuffers().Select(b => b.Name));
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings());
        Assert.Equal(
            ["block0.lru.nu_log", "block0.lru.theta_log", "block0.lru.gamma_log", "block0.lru.B_re", "block0.lru.B_im",
             "block1.lru.nu_log", "block1.lru.theta_log", "block1.lru.gamma_log", "block1.lru.B_re", "block1.lru.B_im"],
            optimizer.Groups.Single(g => g.Name == ParameterGroupSettings.SsmGroupName).ParameterNames);
        Assert.Equal(model.NamedParameters().Sum(p => (long)p.Parameter.Length), model.ParameterCount);
    }

    [Theory]
    [InlineData(PoolingMode.Mean, false)]
    [InlineData(PoolingMode.Mean, true)]
    [InlineData(PoolingMode.None, false)]
    public void WholeModelWithUserModules_MatchesFiniteDifferences_InDouble(PoolingMode pooling, bool padded)
    {
        var model = Model<double>(3, 6, 5, 2, pooling, 11);
        GradientCheck.Randomize(((Module<double>)model[3]).NamedParameters(), seed: 5, mean: 1, scale: 0.3); // gain away from 1
        GradientCheck.Layer(model, batch: 3, length: 5, seed: 7, lengths: padded ? [5, 2, 4] : null);
    }

    [Fact]
    public void UserModulesInAResidualBranch_MatchFiniteDifferences()
    {
        // y = x + gain(conv(x)): the skip and the branch both add to ∂x, with no buffer of their own.
        var residual = new Residual<double>(("conv", new CausalDepthwiseConv<double>(4, 2, 3)), ("gain", new FeatureGain<double>(4)));
        GradientCheck.Layer(residual, batch: 2, length: 6, seed: 3);
        Assert.Equal(["conv.weight", "conv.bias", "gain.gain"], residual.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void UserModules_Stream_AndEveryStepEqualsTheForwardPass()
    {
        var model = Model<double>(3, 6, 5, 2, PoolingMode.None, 21);
        model.IsTraining = false;
        const int batch = 2, length = 7;
        double[] x = Compare.Random(batch * length * 3, 1), y = new double[batch * length * 2];
        model.Forward(x, y, batch, length);
        var state = model.CreateState(batch);
        double[] xt = new double[batch * 3], yt = new double[batch * 2];
        for (int t = 0; t < length; t++)
        {
            for (int b = 0; b < batch; b++) x.AsSpan((b * length + t) * 3, 3).CopyTo(xt.AsSpan(b * 3, 3));
            model.Step(xt, yt, state);
            for (int b = 0; b < batch; b++)
                for (int o = 0; o < 2; o++) Assert.Equal(y[(b * length + t) * 2 + o], yt[b * 2 + o], 1e-12);
        }
        Assert.Equal(length, state.Steps);
        state.Reset();
        Assert.Equal(0, state.Steps);
    }

    [Fact]
    public void AModuleThatCannotStream_IsNamedWhenTheModelIsAskedToStream()
    {
        var model = new Sequential<float>(("encoder", new Linear<float>(2, 4)), ("flip", new TimeReversal<float>(4)), ("decoder", new Linear<float>(4, 1)));
        Assert.False(model.CanStream);
        var e = Assert.Throws<InvalidOperationException>(() => model.CreateState(1));
        Assert.Equal("Sequential cannot stream: its module 'flip' (TimeReversal) does not declare that it can stream (CanStream is false). Use Forward on whole sequences.", e.Message);
    }

    /// <summary>Passes over the 10,000 training sequences of <see cref="CopyData"/> (157 steps of 64 each; the rate follows the copy recipe's 4-epoch schedule).</summary>
    private const int Epochs = 3;

    /// <summary>The copy task's per-step targets, trained with <see cref="BinaryCrossEntropy{T}"/>.</summary>
    private static (SequenceDataset<float> Train, SequenceDataset<float> Test) CopyData()
    {
        var task = BuiltInTasks.Get("copy");
        return task.CreateData(task.Defaults with { TrainCount = 10_000, TestCount = 500, Seed = 4 });
    }

    [Fact]
    public void AModelWithUserModules_TrainsWithTrainerAndAdamW_ToPerfectRecallOnTheCopyTask()
    {
        var (train, test) = CopyData();
        var model = Model<float>(train.Features, 64, 64, train.Outputs, PoolingMode.None, 1, postBatchNorm: false);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings
        {
            LearningRate = 4e-3, SsmLearningRate = 1e-3, WeightDecay = 0.01, Schedule = new LinearWarmupCosineSchedule(30, 4 * 157),
        });
        var trainer = new Trainer<float>(model, new BinaryCrossEntropy<float>(), optimizer, new TrainerOptions(Epochs, BatchSize: 64, Seed: 1, ClipNorm: 1));
        var result = trainer.Fit(train, test);
        double accuracy = result.Epochs[^1].Test!.Value.Accuracy;
        Assert.True(accuracy >= 0.99, $"bit accuracy {accuracy:P2} on the copy task after {Epochs} epochs");
        // The user's modules were trained too.
        Assert.NotEqual(1f, ((FeatureGain<float>)model[3]).Gain.Value[0]);
    }

    [Fact]
    public void AModelWithUserModules_TrainsWithAHandWrittenLoopOnTensors()
    {
        var (train, test) = CopyData();
        int length = train.Length, features = train.Features, outputs = train.Outputs, batch = 64;
        var model = Model<float>(features, 64, 64, outputs, PoolingMode.None, 1, postBatchNorm: false);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings
        {
            LearningRate = 4e-3, SsmLearningRate = 1e-3, WeightDecay = 0.01, Schedule = new LinearWarmupCosineSchedule(30, 4 * 157),
        });
        var loss = new BinaryCrossEntropy<float>();
        for (int epoch = 0; epoch < Epochs; epoch++)
        {
            for (int start = 0; start + batch <= train.Count; start += batch)
            {
                var x = Tensor.Create(train.Inputs.AsSpan(start * length * features, batch * length * features).ToArray(), [batch, length, features]);
                float[] targets = train.ValueTargets.AsSpan(start * length * outputs, batch * length * outputs).ToArray();

                model.ZeroGradients();
                Tensor<float> y = model.Forward(x);                        // (B, L, outputs)
                var gradY = Tensor.CreateFromShape<float>(y.Lengths);
                loss.Compute(y, new LossTargets<float>(batch * length, targets), gradY);
                model.Backward(gradY);
                optimizer.Step();
            }
        }

        model.IsTraining = false;
        var xt = Tensor.Create(test.Inputs!, [test.Count, length, features]);
        var metrics = loss.Compute(model.Forward(xt), new LossTargets<float>(test.Count * length, test.ValueTargets));
        Assert.True(metrics.Accuracy >= 0.99, $"bit accuracy {metrics.Accuracy:P2} on the copy task after {Epochs} epochs of a hand-written loop");
    }
}
