using Lru.Layers;
using Lru.Models;
using Lru.Tensors;
using Lru.Training;
using Lru.Tests.Support;

namespace Lru.Tests.Training;

[Collection(nameof(ThreadCountSetting))]
public class TrainerTests
{
    /// <summary>
    /// "Remember the first sign": a sequence of Gaussian noise, labelled by whether its first value is
    /// positive. With last-step pooling the answer must be carried through the recurrence for L − 1 steps.
    /// </summary>
    internal static SequenceDataset<float> FirstSign(int count, int length, int seed)
    {
        var random = new SeededRandom(seed);
        float[] x = new float[count * length];
        int[] y = new int[count];
        for (int i = 0; i < count; i++)
        {
            for (int t = 0; t < length; t++) x[i * length + t] = (float)random.NextNormal();
            y[i] = x[i * length] > 0 ? 1 : 0;
        }
        return new SequenceDataset<float>(count, length, 1, x, null, y, null);
    }

    private static (SequenceModel<float> Model, Trainer<float> Trainer) Build(int hidden, int state, int epochs, int batchSize, long seed = 1)
    {
        var block = new LruBlockConfig(new LruConfig(hidden, state, RMin: 0.9, RMax: 0.999, MaxPhase: 2 * Math.PI), DropoutRate: 0.1);
        var model = new SequenceModel<float>(new SequenceModelConfig(1, 0, 2, Layers: 2, block, PoolingMode.Last), seed);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings { LearningRate = 3e-3, WeightDecay = 0.01 });
        return (model, new Trainer<float>(model, optimizer, new TrainerOptions(epochs, batchSize, Seed: seed)));
    }

    [Fact]
    public void SmallModel_LearnsTheFirstSignTask_ToAtLeast95Percent()
    {
        var train = FirstSign(1024, 20, seed: 1);
        var test = FirstSign(512, 20, seed: 2);
        var (_, trainer) = Build(hidden: 16, state: 16, epochs: 6, batchSize: 32);
        var progress = new List<TrainingProgress>();
        var result = trainer.Fit(train, test, progress.Add);

        Assert.False(result.Cancelled);
        Assert.Equal(6, result.Epochs.Count);
        Assert.Equal(6 * 32, progress.Count);
        double accuracy = result.Epochs[^1].Test!.Value.Accuracy;
        Assert.True(accuracy >= 0.95, $"test accuracy {accuracy:P1} after 6 epochs");
        Assert.True(result.Epochs[^1].Train.Loss < result.Epochs[0].Train.Loss);
    }

    [Fact]
    public void SameSeed_GivesBitIdenticalWeights_WithOneAndTwoThreads()
    {
        // Large enough that GEMM and the scans really run on two threads.
        var train = FirstSign(96, 64, seed: 3);
        float[] Run(int threads)
        {
            int previous = Parallelism.MaxThreads;
            Parallelism.MaxThreads = threads;
            try
            {
                var (model, trainer) = Build(hidden: 64, state: 64, epochs: 2, batchSize: 32, seed: 4);
                trainer.Fit(train);
                return model.NamedParameters().SelectMany(p => p.Parameter.Values).ToArray();
            }
            finally
            {
                Parallelism.MaxThreads = previous;
            }
        }
        float[] one = Run(1);
        TwoThreads.Prove(() => Run(2), two => Assert.Equal(one, two), "training with MaxThreads = 2");
        Assert.Equal(one, Run(1));
    }

    [Fact]
    public void Cancellation_StopsAfterTheCurrentStep()
    {
        var train = FirstSign(256, 10, seed: 5);
        var (_, trainer) = Build(hidden: 8, state: 8, epochs: 3, batchSize: 16);
        using var cts = new CancellationTokenSource();
        int steps = 0;
        var result = trainer.Fit(train, null, p => { if (++steps == 5) cts.Cancel(); }, cts.Token);
        Assert.True(result.Cancelled);
        Assert.Equal(5, result.Steps);
        Assert.Equal(5, trainer.Optimizer.StepCount);
    }

    [Fact]
    public void Resume_FromAnEpochBoundary_GivesTheSameWeights()
    {
        var train = FirstSign(128, 12, seed: 6);
        var (whole, wholeTrainer) = Build(8, 8, epochs: 2, batchSize: 32);
        wholeTrainer.Fit(train);

        // Same run in two calls: epoch 1, then epoch 2 only. Dropout generators continue in the same
        // objects, so this checks that the shuffle of an epoch depends only on the seed and the epoch.
        var (split, splitTrainer) = Build(8, 8, epochs: 1, batchSize: 32);
        splitTrainer.Fit(train);
        var second = new Trainer<float>(split, splitTrainer.Optimizer, splitTrainer.Options with { Epochs = 2 });
        second.Fit(train, startEpoch: 2);
        Assert.Equal(whole.NamedParameters().SelectMany(p => p.Parameter.Values), split.NamedParameters().SelectMany(p => p.Parameter.Values));
    }

    [Fact]
    public void PerStepRegression_WithMask_Trains()
    {
        // Target at step t: the input at step t − 1 (a one-step delay); only steps t ≥ 1 count.
        const int count = 128, length = 10;
        var random = new SeededRandom(7);
        float[] x = new float[count * length], y = new float[count * length];
        bool[] mask = new bool[count * length];
        for (int i = 0; i < count; i++)
            for (int t = 0; t < length; t++)
            {
                x[i * length + t] = (float)random.NextNormal();
                if (t > 0) { y[i * length + t] = x[i * length + t - 1]; mask[i * length + t] = true; }
            }
        var data = new SequenceDataset<float>(count, length, 1, x, null, null, y, outputs: 1, perStep: true, stepMask: mask);
        var model = new SequenceModel<float>(new SequenceModelConfig(1, 0, 1, 1, new LruBlockConfig(new LruConfig(16, 16, RMin: 0.0, RMax: 0.9)), PoolingMode.None, OutputKind.Regression), 2);
        var trainer = new Trainer<float>(model, new AdamW<float>(model.NamedParameters(), new AdamWSettings { LearningRate = 1e-2 }), new TrainerOptions(30, 32, ClipNorm: 1.0));
        double before = trainer.Evaluate(data).Loss;
        trainer.Fit(data);
        double after = trainer.Evaluate(data).Loss;
        Assert.True(after < 0.1 * before, $"MSE {before:F4} → {after:F4}");
    }

    [Fact]
    public void MismatchedData_IsRefused()
    {
        var (_, trainer) = Build(8, 8, 1, 8);
        var tokens = new SequenceDataset<float>(2, 3, 0, null, [1, 2, 3, 4, 5, 6], [0, 1], null);
        Assert.Throws<ArgumentException>(() => trainer.Fit(tokens));
        Assert.Equal("BatchSize", Assert.Throws<ArgumentOutOfRangeException>(() => new TrainerOptions(1, 0).Validate()).ParamName);
    }
}

[Collection(nameof(ThreadCountSetting))]
public class TrainingAllocationTests
{
    [Fact]
    public void TrainStep_AllocatesNothing_AfterTheFirst_OnOneThread()
    {
        int previous = Parallelism.MaxThreads;
        Parallelism.MaxThreads = 1; // Parallel.For itself allocates; the library's own buffers are what is measured
        try
        {
            var random = new SeededRandom(1);
            const int count = 64, length = 32;
            float[] x = Enumerable.Range(0, count * length * 3).Select(_ => (float)random.NextNormal()).ToArray();
            int[] y = Enumerable.Range(0, count).Select(i => i % 4).ToArray();
            var data = new SequenceDataset<float>(count, length, 3, x, null, y, null);
            var block = new LruBlockConfig(new LruConfig(32, 32), Norm: NormKind.BatchNorm, Mixer: MixerKind.Mlp, DropoutRate: 0.1);
            var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 4, 2, block, PoolingMode.Mean), 1);
            var trainer = new Trainer<float>(model, new AdamW<float>(model.NamedParameters(), new AdamWSettings()), new TrainerOptions(1, 16, ClipNorm: 1));
            int[] indices = Enumerable.Range(0, 16).ToArray();
            for (int i = 0; i < 3; i++) trainer.TrainStep(data, indices);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) trainer.TrainStep(data, indices);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        finally
        {
            Parallelism.MaxThreads = previous;
        }
    }

    [Fact]
    public void AnOptimiserOverSomeParameters_TrainsThoseOnly_AndTheFrozenGradientsDoNotGrow()
    {
        var train = TrainerTests.FirstSign(64, 12, seed: 5);
        var block = new LruBlockConfig(new LruConfig(8, 8));
        var model = new SequenceModel<float>(new SequenceModelConfig(1, 0, 2, 1, block, PoolingMode.Last), 3);
        var optimizer = new AdamW<float>(model.NamedParameters().Where(p => !p.Name.StartsWith("encoder.", StringComparison.Ordinal)), new AdamWSettings());
        var trainer = new Trainer<float>(model, optimizer, new TrainerOptions(1, 16, ClipNorm: 1));
        float[] encoder = model.Encoder!.Weight.Value.ToArray();
        trainer.TrainStep(train, [0, 1, 2, 3]);
        float[] afterOne = model.Encoder.Weight.Gradient.ToArray();
        trainer.TrainStep(train, [0, 1, 2, 3]);
        Assert.Equal(encoder, model.Encoder.Weight.Value.ToArray());                     // frozen
        Assert.NotEqual(afterOne.Select(v => 2 * v), model.Encoder.Weight.Gradient.ToArray()); // cleared each step, not summed
        Assert.Contains(afterOne, v => v != 0);

        var stranger = new AdamW<float>(new SequenceModel<float>(new SequenceModelConfig(1, 0, 2, 1, block, PoolingMode.Last), 4).NamedParameters(), new AdamWSettings());
        var e = Assert.Throws<ArgumentException>(() => new Trainer<float>(model, stranger, new TrainerOptions()));
        Assert.Equal("optimizer", e.ParamName);
        Assert.Contains("'encoder.weight', which is not a parameter of this SequenceModel", e.Message);
    }
}
