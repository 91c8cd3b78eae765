using System.Numerics;
using System.Numerics.Tensors;
using Lru.Layers;
using Lru.Models;
using Lru.Modules;
using Lru.Tensors;
using Lru.Tests.Support;
using Lru.Training;

namespace Lru.Tests.Training;

/// <summary>
/// Padded data in the <see cref="Trainer{T}"/>: a batch runs at the length of its longest sequence with the gradients of
/// the whole padded batch, and <see cref="TrainerOptions.BucketByLength"/> groups similar lengths into batches while
/// still visiting every sequence once per epoch, in an order fixed by the seed and the epoch.
/// </summary>
[Collection(nameof(ThreadCountSetting))]
public class PaddedBatchTests
{
    /// <summary>ListOps expressions of 5–24 tokens, padded to 48 (twice the longest), in double.</summary>
    private static SequenceDataset<double> ListOpsPaddedTo48(int count)
    {
        const int width = 48;
        var source = ListOps.Generate(count, seed: 5, new ListOpsOptions(MaxDepth: 3, MaxArgs: 4, MinLength: 5, MaxLength: 24));
        int[] tokens = new int[count * width];
        for (int i = 0; i < count; i++) source.Tokens!.AsSpan(i * source.Length, source.Length).CopyTo(tokens.AsSpan(i * width));
        return new SequenceDataset<double>(count, width, 0, null, tokens, source.ClassTargets!.ToArray(), null, lengths: source.Lengths!.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void APaddedBatch_HasTheGradientsOfTheWholePaddedLength(bool bidirectional)
    {
        // With BatchNorm (statistics over the valid steps), mean pooling over the valid steps and, bidirectionally, a
        // backward direction that starts at each sequence's last valid step, the padding contributes nothing.
        var data = ListOpsPaddedTo48(12);
        var block = new LruBlockConfig(new LruConfig(8, 6, RMin: 0.5, RMax: 0.95), Norm: NormKind.BatchNorm, Bidirectional: bidirectional);
        var config = new SequenceModelConfig(0, ListOps.Vocabulary, ListOps.Classes, Layers: 2, block, PoolingMode.Mean);
        AssertTrainerMatchesTheWholePaddedBatch(config, data, [7, 2, 11, 0, 5, 9]);
    }

    [Theory]
    [InlineData(OutputKind.Regression)]
    [InlineData(OutputKind.Classification)]
    public void APaddedBatchWithATargetPerStep_HasTheGradientsOfTheWholePaddedLength(OutputKind output)
    {
        // Three features per step, a target at every step (two values, or a class of four) and a step mask: every array the
        // trainer copies at the data's stride and the batch's length. Padded steps hold noise, never read.
        const int count = 10, width = 30, features = 3, values = 2, classes = 4;
        var random = new SeededRandom(23);
        int[] lengths = Enumerable.Range(0, count).Select(_ => 3 + random.NextInt(13)).ToArray(); // 3–15 of 30
        double[] x = Compare.Random(count * width * features, 4);
        bool[] stepMask = Enumerable.Range(0, count * width).Select(_ => random.NextOpenUnit() < 0.8).ToArray();
        var data = output == OutputKind.Regression
            ? new SequenceDataset<double>(count, width, features, x, null, null, Compare.Random(count * width * values, 5), values, perStep: true, stepMask, lengths)
            : new SequenceDataset<double>(count, width, features, x, null, Enumerable.Range(0, count * width).Select(_ => random.NextInt(classes)).ToArray(), null,
                perStep: true, stepMask: stepMask, lengths: lengths);
        var block = new LruBlockConfig(new LruConfig(8, 6, RMin: 0.5, RMax: 0.95), Norm: NormKind.BatchNorm);
        var config = new SequenceModelConfig(features, 0, output == OutputKind.Regression ? values : classes, Layers: 2, block, PoolingMode.None, output);
        AssertTrainerMatchesTheWholePaddedBatch(config, data, [4, 9, 1, 6]);
    }

    /// <summary>
    /// One <see cref="Trainer{T}.TrainStep"/>, which runs the batch at its longest valid length, against a hand-written step
    /// over all L steps of the padded batch: the same loss and, in double, gradients within 1e-10 of each parameter's
    /// largest (room for sums over different numbers of zero terms; a padded step that leaked in would be of order 1).
    /// </summary>
    private static void AssertTrainerMatchesTheWholePaddedBatch(SequenceModelConfig config, SequenceDataset<double> data, int[] batch)
    {
        int[] lengths = batch.Select(i => data.Lengths![i]).ToArray();
        Assert.True(lengths.Distinct().Count() > 1 && lengths.Max() < data.Length, "the batch must mix lengths and end before the padding does");
        var model = new SequenceModel<double>(config, seed: 3);
        var reference = new SequenceModel<double>(config, seed: 3);
        var trainer = new Trainer<double>(model, new AdamW<double>(model.NamedParameters(), new AdamWSettings()), new TrainerOptions(BatchSize: batch.Length));
        double[][]? trained = null;
        trainer.GradientsComputed = (_, named) => trained = named.Select(p => p.Parameter.Gradient.ToArray()).ToArray();
        var metrics = trainer.TrainStep(data, batch);

        // The reference: all L steps, the loss over the rows that count, backward by hand.
        int length = data.Length, features = data.Features == 0 ? 1 : data.Features, per = data.PerStep ? length : 1;
        reference.IsTraining = true;
        reference.ZeroGradients();
        double[] x = new double[batch.Length * length * features];
        for (int b = 0; b < batch.Length; b++)
            for (int k = 0; k < length * features; k++)
                x[b * length * features + k] = data.Inputs is not null ? data.Inputs[batch[b] * length * features + k] : data.Tokens![batch[b] * length + k];
        double[] y = new double[reference.OutputSize(batch.Length, length)], grad = new double[y.Length];
        reference.Forward(x, y, batch.Length, length, lengths);
        bool[] mask = new bool[batch.Length * per];
        for (int b = 0; b < batch.Length; b++)
            for (int t = 0; t < per; t++)
                mask[b * per + t] = !data.PerStep || (t < lengths[b] && (data.StepMask is null || data.StepMask[batch[b] * length + t]));
        var loss = Losses.For<double>(config.Output);
        var expectedMetrics = data.ClassTargets is not null
            ? loss.Compute(y, new LossTargets<double>(batch.SelectMany(i => data.ClassTargets!.AsSpan(i * per, per).ToArray()).ToArray(), mask), grad)
            : loss.Compute(y, new LossTargets<double>(batch.Length * per, batch.SelectMany(i => data.ValueTargets!.AsSpan(i * per * data.Outputs, per * data.Outputs).ToArray()).ToArray(), mask), grad);
        reference.Backward(grad, default);

        Assert.Equal(expectedMetrics.Count, metrics.Count);
        Assert.Equal(expectedMetrics.Loss, metrics.Loss, 1e-12);
        var expected = reference.NamedParameters().ToArray();
        Assert.Equal(expected.Length, trained!.Length);
        for (int p = 0; p < expected.Length; p++)
        {
            double[] want = expected[p].Parameter.Gradient.ToArray(), got = trained[p];
            double scale = Math.Max(TensorPrimitives.MaxMagnitude<double>(want), 1e-300);
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(got[i] - want[i]) <= 1e-10 * scale,
                    $"{expected[p].Name}[{i}]: trainer {got[i]:R}, whole padded batch {want[i]:R}");
        }
    }

    /// <summary>
    /// 1,029 sequences padded to 40 with valid lengths drawn from [1, 40]; every valid step holds the sequence's index / 1024
    /// (exact in double), so a module can tell which sequences a batch holds.
    /// </summary>
    private static SequenceDataset<double> IndexedPadded(int count, int width)
    {
        var random = new SeededRandom(17);
        double[] x = new double[count * width];
        int[] lengths = new int[count], labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            lengths[i] = 1 + random.NextInt(width);
            labels[i] = i % 3;
            for (int t = 0; t < lengths[i]; t++) x[i * width + t] = i / 1024.0;
        }
        return new SequenceDataset<double>(count, width, 1, x, null, labels, null, lengths: lengths);
    }

    private const int Batch = 8, Count = Batch * TrainerOptions.BucketBatches * 2 + 5, Width = 40;

    private static (BatchRecorder<double> Recorder, Trainer<double> Trainer) Build(bool bucketed, int epochs)
    {
        var recorder = new BatchRecorder<double>(1);
        var model = new Sequential<double>(
            ("recorder", recorder), ("encoder", new Linear<double>(1, 4, 1)), ("pooling", new Pooling<double>(PoolingMode.Mean, 4)), ("decoder", new Linear<double>(4, 3, 2)));
        var optimizer = new AdamW<double>(model.NamedParameters(), new AdamWSettings { LearningRate = 1e-4 });
        return (recorder, new Trainer<double>(model, new SoftmaxCrossEntropy<double>(), optimizer, new TrainerOptions(epochs, Batch, Seed: 9, BucketByLength: bucketed)));
    }

    /// <summary>Steps run over steps that were valid: sum of B·L over the batches, divided by the valid steps, minus 1.</summary>
    private static double Waste(IEnumerable<BatchRecorder<double>.Batch> batches) =>
        batches.Sum(b => (double)b.Ids.Length * b.Length) / batches.Sum(b => (double)b.Lengths.Sum()) - 1;

    [Fact]
    public void BucketByLength_VisitsEverySequenceOncePerEpoch_InBatchesOfSimilarLength()
    {
        var data = IndexedPadded(Count, Width);
        var (recorder, trainer) = Build(bucketed: true, epochs: 2);
        trainer.Fit(data);
        int steps = trainer.StepsPerEpoch(data);
        Assert.Equal(2 * steps, recorder.Batches.Count);
        var epochs = new[] { recorder.Batches.Take(steps).ToArray(), recorder.Batches.Skip(steps).ToArray() };
        foreach (var epoch in epochs)
        {
            Assert.Equal(Enumerable.Range(0, Count), epoch.SelectMany(b => b.Ids).Order());
            Assert.Equal(Count % Batch, epoch[^1].Ids.Length); // the partial batch stays last
            foreach (var b in epoch)
            {
                Assert.Equal(b.Ids.Select(i => data.Lengths![i]), b.Lengths); // the lengths travel with their sequences
                Assert.Equal(b.Lengths.Max(), b.Length);                      // and the batch runs at its longest
            }
        }
        // A new order every epoch, not one rising run of lengths after another.
        Assert.NotEqual(epochs[0].SelectMany(b => b.Ids), epochs[1].SelectMany(b => b.Ids));
        Assert.False(epochs[0].Zip(epochs[0].Skip(1)).All(p => p.First.Length <= p.Second.Length));

        // Lengths uniform on [1, 40]: a random batch of 8 runs at about 36 steps for about 20.5 valid ones (≈ 75 % waste);
        // runs of 512 sorted by length hold about 13 sequences per length, so most batches share one length.
        var (shuffledRecorder, shuffled) = Build(bucketed: false, epochs: 2);
        shuffled.Fit(data);
        double bucketedWaste = Waste(recorder.Batches), shuffledWaste = Waste(shuffledRecorder.Batches);
        Assert.True(bucketedWaste < 0.10, $"bucketed batches ran {bucketedWaste:P1} more steps than were valid");
        Assert.True(shuffledWaste > 0.50, $"shuffled batches ran {shuffledWaste:P1} more steps than were valid");
    }

    [Fact]
    public void BucketByLength_ResumedInTheMiddleOfAnEpoch_SeesTheSameBatches()
    {
        var data = IndexedPadded(Count, Width);
        var (whole, wholeTrainer) = Build(bucketed: true, epochs: 2);
        wholeTrainer.Fit(data);
        var (resumed, resumedTrainer) = Build(bucketed: true, epochs: 2);
        resumedTrainer.Fit(data, startEpoch: 2, startStep: 10);
        int steps = wholeTrainer.StepsPerEpoch(data);
        var expected = whole.Batches.Skip(steps + 10).ToArray();
        Assert.Equal(expected.Length, resumed.Batches.Count);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i].Ids, resumed.Batches[i].Ids);
    }

    [Fact]
    public void BucketByLength_EvaluatesByLength_WithTheSameMetrics()
    {
        var data = IndexedPadded(Count, Width);
        var (recorder, trainer) = Build(bucketed: true, epochs: 1);
        var bucketed = trainer.Evaluate(data);
        Assert.All(recorder.Batches, b => Assert.False(b.Training));
        int[] visited = recorder.Batches.SelectMany(b => b.Ids).ToArray();
        Assert.Equal(Enumerable.Range(0, Count), visited.Order());
        Assert.True(visited.Zip(visited.Skip(1)).All(p => data.Lengths![p.First] <= data.Lengths![p.Second]));

        var (_, plain) = Build(bucketed: false, epochs: 1); // the same initial weights, sequences in index order
        var reference = plain.Evaluate(data);
        Assert.Equal(reference.Count, bucketed.Count);
        Assert.Equal(reference.Accuracy, bucketed.Accuracy, 12);
        Assert.Equal(reference.Loss, bucketed.Loss, 12);
    }
}

/// <summary>An identity module that records, for every forward pass, the sequences (by the index the data encodes) and the shape it saw.</summary>
internal sealed class BatchRecorder<T>(int features) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public sealed record Batch(bool Training, int Length, int[] Ids, int[] Lengths);

    public List<Batch> Batches { get; } = [];

    public override int InputFeatures => features;

    public override int OutputFeatures => features;

    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        input.CopyTo(output);
        int[] ids = new int[shape.Batch];
        for (int b = 0; b < shape.Batch; b++) ids[b] = (int)Math.Round(double.CreateTruncating(input[b * shape.Length * features]) * 1024);
        Batches.Add(new Batch(training, shape.Length, ids, shape.Lengths.ToArray()));
    }

    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (!gradInput.IsEmpty) TensorPrimitives.Add(gradInput, gradOutput, gradInput);
    }
}
