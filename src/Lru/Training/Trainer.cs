using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Lru.Data;
using Lru.Models;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Training;

/// <summary>Settings of a <see cref="Trainer{T}"/>.</summary>
/// <param name="Epochs">Passes over the training data, at least 1.</param>
/// <param name="BatchSize">Sequences per optimiser step, at least 1 (the last batch of an epoch may be smaller).</param>
/// <param name="Seed">Seeds the shuffling; with the model's and the dropout seeds it fixes the whole run.</param>
/// <param name="ClipNorm">Global gradient-norm clipping threshold, or 0 for none.</param>
/// <param name="Shuffle">Whether each epoch visits the data in a new seeded order.</param>
/// <param name="CheckFinite">
/// Whether every step checks, in the model's parameter order, each gradient after the backward pass (before
/// clipping and the optimiser step, so a NaN never reaches the weights) and each parameter's value after the
/// optimiser step, and throws <see cref="NonFiniteException"/> naming the first parameter with a NaN or infinite
/// element. The check reads every gradient and value once (vectorised, allocation-free). A non-finite loss is
/// refused whatever this setting.
/// </param>
/// <param name="BucketByLength">
/// Whether batches of padded data (data with valid lengths) group sequences of similar length, so that little of each
/// batch is padding: each epoch's order (shuffled as usual) is cut into runs of <see cref="BucketBatches"/> batches,
/// each run is sorted by valid length, and the full batches are then shuffled (seeded by the seed and the epoch, so a
/// resumed run still continues exactly); evaluation visits the sequences by length. Every batch already runs at the
/// length of its longest sequence, so this is what makes widely varying lengths cheap (Long Range Arena's ListOps:
/// 20–2,000 tokens). It changes which sequences share a batch, and so what depends on the batch (BatchNorm's training
/// statistics, the gradient's mix); sequences of equal length keep their shuffled order. No effect on data without lengths.
/// </param>
public sealed record TrainerOptions(int Epochs = 1, int BatchSize = 32, long Seed = 0, double ClipNorm = 0, bool Shuffle = true, bool CheckFinite = true,
    bool BucketByLength = false)
{
    /// <summary>The batches in one run that <see cref="BucketByLength"/> sorts by length.</summary>
    public const int BucketBatches = 64;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 1.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        if (!(ClipNorm >= 0) || double.IsInfinity(ClipNorm)) throw new ArgumentOutOfRangeException(nameof(ClipNorm), ClipNorm, "ClipNorm must be 0 (off) or a positive finite number.");
    }
}

/// <summary>Where a training run is, for progress bars and logs.</summary>
/// <param name="Epoch">The current epoch, from 1.</param>
/// <param name="Epochs">The number of epochs.</param>
/// <param name="Step">The step within the epoch, from 1.</param>
/// <param name="StepsPerEpoch">Steps per epoch.</param>
/// <param name="Loss">The mean training loss of the epoch so far.</param>
/// <param name="Accuracy">The training accuracy of the epoch so far (NaN for regression).</param>
/// <param name="TokensPerSecond">Time steps run per second in this epoch: B·L per batch, where L is the length of the batch's longest sequence for padded data.</param>
/// <param name="Elapsed">Time since the run started.</param>
/// <param name="Remaining">Estimated time to the end of the run.</param>
public readonly record struct TrainingProgress(
    int Epoch, int Epochs, int Step, int StepsPerEpoch, double Loss, double Accuracy, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining);

/// <summary>A loss and accuracy over a data set.</summary>
/// <param name="Loss">Mean loss per counted target.</param>
/// <param name="Accuracy">Fraction of counted targets predicted right (NaN for regression).</param>
/// <param name="Count">Counted targets (sequences, or unmasked steps).</param>
public readonly record struct Metrics(double Loss, double Accuracy, long Count);

/// <summary>The metrics of one finished epoch.</summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="Train">Training metrics over the epoch (with dropout, weights changing as it goes).</param>
/// <param name="Test">Evaluation metrics after the epoch, or null when no test data was given.</param>
/// <param name="Elapsed">Time since the run started.</param>
public sealed record EpochResult(int Epoch, Metrics Train, Metrics? Test, TimeSpan Elapsed);

/// <summary>What <see cref="Trainer{T}.Fit"/> did.</summary>
/// <param name="Epochs">Every finished epoch.</param>
/// <param name="Cancelled">True when cancellation stopped the run after a step.</param>
/// <param name="Steps">Optimiser steps taken in this call.</param>
public sealed record TrainingResult(IReadOnlyList<EpochResult> Epochs, bool Cancelled, long Steps);

/// <summary>
/// The training loop for any module tree and loss: seeded shuffling, batches, forward, loss (with masks), backward,
/// a NaN/∞ guard (<see cref="TrainerOptions.CheckFinite"/>, <see cref="NonFiniteException"/>), optional clipping,
/// optimiser step; evaluation; progress; cancellation.
/// </summary>
/// <remarks>
/// Every kernel splits work over outputs and every random draw is seeded, so the same seeds give bitwise
/// identical weights after any number of steps with any thread count. The dropout masks of a step depend only
/// on the seed and the optimiser's step count, and the shuffle of an epoch only on the seed and the epoch, so a
/// run resumed from a checkpoint (weights, optimiser state, position) continues exactly as if uninterrupted. Batch buffers are allocated once
/// for the largest batch and the modules reuse theirs, and the parallel kernels run on an allocation-free worker pool,
/// so a steady-state step allocates nothing (a test checks this).
/// <para>A batch of padded sequences (data with valid lengths) runs at the length of its longest sequence: the
/// steps after it are left out. That changes no value for modules that treat steps past a sequence's valid length as
/// padding — the blocks and <see cref="SequenceModel{T}"/>: the causal recurrence never looks ahead, and
/// <see cref="Layers.BidirectionalLru{T}"/>, pooling, BatchNorm and the losses honour the lengths. A module that reads
/// padded steps sees fewer of them: a standalone <see cref="Layers.LruLayer{T}"/> with <see cref="Layers.LruConfig.Reverse"/>
/// (which does not mask; use <see cref="Layers.BidirectionalLru{T}"/>), and per-element dropout, whose masks are drawn
/// over the batch's (B, L, H). <see cref="TrainerOptions.BucketByLength"/> makes such batches short.</para>
/// <para>The data must fit the model: features per step (token data: one id per step), per-step targets exactly when the
/// model keeps the time axis (no pooling), class ids for a loss that reads them, and for value targets as many
/// values per prediction as the model has outputs.</para>
/// A trainer is used from one thread at a time: <see cref="Fit"/>, <see cref="TrainStep"/> or <see cref="Evaluate"/>
/// overlapping another of them throws <see cref="InvalidOperationException"/>.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class Trainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Parameter<T>[] _parameters;
    private readonly ILoss<T> _loss;
    private readonly string[] _names;
    private T[] _inputs = [], _outputs = [], _gradOutputs = [], _valueTargets = [];
    private int[] _classTargets = [], _lengths = [], _order = [], _batchOrder = [], _orderCopy = [];
    private long[] _bucketKeys = [];
    private int _batchLength;
    private bool[] _mask = [];
    private readonly CallGuard _calls = new("Trainer");
    private readonly IReadOnlyList<(string Name, Parameter<T> Parameter)> _named;

    /// <summary>Creates a trainer for any module tree and loss.</summary>
    /// <param name="model">The module to train: input (B, L, features), output (B, outputs) or (B, L, outputs).</param>
    /// <param name="loss">The loss of the model's output against the data's targets.</param>
    /// <param name="optimizer">
    /// An optimiser over the model's parameters: all of them (<c>model.NamedParameters()</c>), or some (the others stay
    /// frozen: their gradients are cleared every step but not clipped, checked or applied).
    /// </param>
    /// <param name="options">Epochs, batch size, seed, clipping.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The optimiser updates a parameter that is not part of the model (the message names it).</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public Trainer(Module<T> model, ILoss<T> loss, Optimizer<T> optimizer, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        (Model, _loss, Optimizer, Options) = (model, loss, optimizer, options);
        var trained = new HashSet<Parameter<T>>(optimizer.Parameters, ReferenceEqualityComparer.Instance);
        var named = model.NamedParameters().Where(p => trained.Contains(p.Parameter)).ToArray();
        if (named.Length != trained.Count)
        {
            var inModel = new HashSet<Parameter<T>>(model.NamedParameters().Select(p => p.Parameter), ReferenceEqualityComparer.Instance);
            int stranger = Enumerable.Range(0, optimizer.Parameters.Count).First(i => !inModel.Contains(optimizer.Parameters[i]));
            throw new ArgumentException(
                $"The optimiser updates '{optimizer.ParameterNames[stranger]}', which is not a parameter of this {model.TypeName}; build the optimiser over the model's NamedParameters().", nameof(optimizer));
        }
        // The trained parameters in the model's order, under the model's names (for messages).
        _parameters = named.Select(p => p.Parameter).ToArray();
        _names = named.Select(p => p.Name).ToArray();
        _named = Array.AsReadOnly(named);
    }

    /// <summary>
    /// Called in every training step after the backward pass and before the finite check, clipping and the optimiser step, with the
    /// optimiser's step count for this step (from 1) and the trained parameters under the model's names, their
    /// <see cref="Parameter{T}.Gradient"/> holding this batch's unclipped gradient. For diagnostics: gradient norms
    /// per layer or parameter group over training (what <c>lru train --diagnose</c> writes). The callback must not
    /// change gradients or values; null (the default) costs nothing.
    /// </summary>
    public Action<long, IReadOnlyList<(string Name, Parameter<T> Parameter)>>? GradientsComputed { get; set; }

    /// <summary>Creates a trainer for a <see cref="SequenceModel{T}"/> with the loss of its output kind (<see cref="Losses.For{T}"/>).</summary>
    /// <param name="model">The model to train.</param>
    /// <param name="optimizer">An optimiser built over <c>model.NamedParameters()</c>.</param>
    /// <param name="options">Epochs, batch size, seed, clipping.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public Trainer(SequenceModel<T> model, Optimizer<T> optimizer, TrainerOptions options)
        : this(model, Losses.For<T>((model ?? throw new ArgumentNullException(nameof(model))).Config.Output), optimizer, options)
    {
    }

    /// <summary>The model being trained.</summary>
    public Module<T> Model { get; }

    /// <summary>The loss.</summary>
    public ILoss<T> Loss => _loss;

    /// <summary>The optimiser.</summary>
    public Optimizer<T> Optimizer { get; }

    /// <summary>The settings.</summary>
    public TrainerOptions Options { get; }

    /// <summary>The number of optimiser steps in one epoch of <paramref name="data"/>.</summary>
    /// <param name="data">The training data.</param>
    /// <returns>⌈data.Count / BatchSize⌉.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    public int StepsPerEpoch(SequenceDataset<T> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return (data.Count + Options.BatchSize - 1) / Options.BatchSize;
    }

    /// <summary>
    /// Trains for <see cref="TrainerOptions.Epochs"/> epochs from <paramref name="startEpoch"/>, evaluating on
    /// <paramref name="test"/> after each epoch.
    /// </summary>
    /// <param name="train">The training data.</param>
    /// <param name="test">Evaluation data, or null.</param>
    /// <param name="progress">Called after every step (on the training thread).</param>
    /// <param name="cancellationToken">Stops the run after the current step; the result says so.</param>
    /// <param name="startEpoch">The first epoch to run, from 1 (to resume a run; the shuffling of each epoch depends only on the seed and the epoch).</param>
    /// <param name="startStep">Steps of <paramref name="startEpoch"/> already done (to resume in the middle of an epoch).</param>
    /// <param name="onEpoch">Called after every finished epoch (for example to save a checkpoint).</param>
    /// <returns>The finished epochs and whether the run was cancelled.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> is null.</exception>
    /// <exception cref="ArgumentException">The data does not fit the model.</exception>
    /// <exception cref="NonFiniteException">The loss, or (with <see cref="TrainerOptions.CheckFinite"/>) a gradient or an updated value, is NaN or infinite; the message names the parameter, the epoch and the step. The run stops at once: no later callback runs.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="startEpoch"/> is less than 1, or <paramref name="startStep"/> is outside [0, steps per epoch].</exception>
    /// <exception cref="InvalidOperationException">Another call on this trainer runs on another thread.</exception>
    public TrainingResult Fit(SequenceDataset<T> train, SequenceDataset<T>? test = null, Action<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default, int startEpoch = 1, int startStep = 0, Action<EpochResult>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckData(train, nameof(train));
        if (test is not null) CheckData(test, nameof(test));
        ArgumentOutOfRangeException.ThrowIfLessThan(startEpoch, 1);
        int steps = StepsPerEpoch(train);
        ArgumentOutOfRangeException.ThrowIfNegative(startStep);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(startStep, steps);
        using var scope = _calls.Enter(training: true, nameof(Fit));

        var epochs = new List<EpochResult>();
        var clock = Stopwatch.StartNew();
        long taken = 0, totalSteps = (long)(Options.Epochs - startEpoch + 1) * steps - startStep;
        for (int epoch = startEpoch; epoch <= Options.Epochs; epoch++)
        {
            int[] order = EpochOrder(train.Count, epoch);
            if (Options.BucketByLength && train.Lengths is not null) GroupByLength(order, train.Lengths, epoch);
            var sum = new MetricSum();
            long tokens = 0;
            var epochClock = Stopwatch.StartNew();
            for (int step = epoch == startEpoch ? startStep : 0; step < steps; step++)
            {
                if (cancellationToken.IsCancellationRequested)
                    return new TrainingResult(epochs, true, taken);
                int from = step * Options.BatchSize, batch = Math.Min(Options.BatchSize, train.Count - from);
                sum.Add(Step(train, order.AsSpan(from, batch), epoch, step + 1));
                tokens += (long)batch * _batchLength;
                taken++;
                if (progress is not null)
                {
                    var m = sum.Result;
                    double rate = tokens / Math.Max(epochClock.Elapsed.TotalSeconds, 1e-9);
                    var remaining = TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / taken * (totalSteps - taken));
                    progress(new TrainingProgress(epoch, Options.Epochs, step + 1, steps, m.Loss, m.Accuracy, rate, clock.Elapsed, remaining));
                }
            }
            var result = new EpochResult(epoch, sum.Result, test is null ? null : EvaluateCore(test), clock.Elapsed);
            epochs.Add(result);
            onEpoch?.Invoke(result);
        }
        return new TrainingResult(epochs, false, taken);
    }

    /// <summary>One optimiser step on the sequences <paramref name="indices"/> of <paramref name="data"/>.</summary>
    /// <param name="data">The data.</param>
    /// <param name="indices">The sequences of the batch: at least one, each in [0, data.Count).</param>
    /// <returns>The batch's metrics (before the step).</returns>
    /// <exception cref="NonFiniteException">
    /// The loss, or (with <see cref="TrainerOptions.CheckFinite"/>) a gradient or an updated value, is NaN or
    /// infinite. For the loss and the gradients the optimiser step is not taken and the weights are unchanged;
    /// <see cref="NonFiniteException.Epoch"/> and <see cref="NonFiniteException.Step"/> are 0 outside <see cref="Fit"/>.
    /// </exception>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException">The data does not fit the model, or <paramref name="indices"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside [0, data.Count) (the message gives its position and value).</exception>
    /// <exception cref="InvalidOperationException">Another call on this trainer runs on another thread.</exception>
    public Metrics TrainStep(SequenceDataset<T> data, ReadOnlySpan<int> indices)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckData(data, nameof(data));
        CheckIndices(indices, data.Count);
        using var scope = _calls.Enter(training: true, nameof(TrainStep));
        return Step(data, indices, 0, 0);
    }

    private Metrics Step(SequenceDataset<T> data, ReadOnlySpan<int> indices, int epoch, int step)
    {
        Model.IsTraining = true;
        Model.ReseedRandomness(SeededRandom.Combine(Options.Seed, Optimizer.StepCount));
        Model.ZeroGradients(); // every parameter, trained or frozen, so no gradient grows across steps
        var metrics = ForwardLoss(data, indices, withGradient: true);
        if (!double.IsFinite(metrics.Loss))
            throw new NonFiniteException(NonFiniteKind.Loss, null, -1, metrics.Loss, 0, _parameters.Length, epoch, step, Optimizer.StepCount + 1);
        int batch = indices.Length;
        Model.Backward(_gradOutputs.AsSpan(0, Model.OutputSize(batch, _batchLength)), default);
        GradientsComputed?.Invoke(Optimizer.StepCount + 1, _named); // before the check, so a failing step is seen too
        if (Options.CheckFinite) CheckFinite(NonFiniteKind.Gradient, epoch, step, Optimizer.StepCount + 1);
        if (Options.ClipNorm > 0) GradientClipping.ClipGlobalNorm(_parameters, Options.ClipNorm);
        Optimizer.Step();
        if (Options.CheckFinite) CheckFinite(NonFiniteKind.Value, epoch, step, Optimizer.StepCount);
        return metrics;
    }

    /// <summary>Throws if any parameter's gradient (or value) has a NaN or infinite element. Allocates nothing when all are finite.</summary>
    private void CheckFinite(NonFiniteKind kind, int epoch, int step, long optimizerStep)
    {
        foreach (var p in _parameters)
        {
            if (!TensorPrimitives.IsFiniteAll<T>(kind == NonFiniteKind.Gradient ? p.Gradient : p.Value))
                ThrowNonFinite(kind, epoch, step, optimizerStep);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNonFinite(NonFiniteKind kind, int epoch, int step, long optimizerStep)
    {
        int first = -1, element = -1, bad = 0;
        double value = double.NaN;
        for (int i = 0; i < _parameters.Length; i++)
        {
            T[] values = kind == NonFiniteKind.Gradient ? _parameters[i].GradientArray : _parameters[i].Values;
            if (TensorPrimitives.IsFiniteAll<T>(values)) continue;
            bad++;
            if (first >= 0) continue;
            first = i;
            element = Array.FindIndex(values, v => !T.IsFinite(v));
            value = double.CreateTruncating(values[element]);
        }
        throw new NonFiniteException(kind, _names[first], element, value, bad, _parameters.Length, epoch, step, optimizerStep);
    }

    /// <summary>The loss and accuracy of the model (in evaluation mode) on <paramref name="data"/>.</summary>
    /// <param name="data">The data.</param>
    /// <returns>Mean loss and accuracy over every counted target.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="ArgumentException">The data does not fit the model.</exception>
    /// <exception cref="InvalidOperationException">Another call on this trainer runs on another thread.</exception>
    public Metrics Evaluate(SequenceDataset<T> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        CheckData(data, nameof(data));
        using var scope = _calls.Enter(training: true, nameof(Evaluate));
        return EvaluateCore(data);
    }

    private static void CheckIndices(ReadOnlySpan<int> indices, int count)
    {
        if (indices.IsEmpty) throw new ArgumentException("indices is empty; a training step needs at least one sequence.", nameof(indices));
        for (int i = 0; i < indices.Length; i++)
        {
            if ((uint)indices[i] >= (uint)count)
                throw new ArgumentOutOfRangeException(nameof(indices), indices[i], $"indices[{i}] is {indices[i]}, outside the data's sequences [0, {count}).");
        }
    }

    private Metrics EvaluateCore(SequenceDataset<T> data)
    {
        bool wasTraining = Model.IsTraining;
        Model.IsTraining = false;
        try
        {
            var sum = new MetricSum();
            int[] all = Enumerable.Range(0, data.Count).ToArray();
            if (Options.BucketByLength && data.Lengths is { } lengths) all.AsSpan().Sort(ByLength(lengths));
            for (int from = 0; from < data.Count; from += Options.BatchSize)
                sum.Add(ForwardLoss(data, all.AsSpan(from, Math.Min(Options.BatchSize, data.Count - from)), withGradient: false));
            return sum.Result;
        }
        finally
        {
            Model.IsTraining = wasTraining;
        }
    }

    /// <summary>The visiting order of an epoch: a seeded shuffle that depends only on the seed and the epoch.</summary>
    private int[] EpochOrder(int count, int epoch)
    {
        if (_order.Length != count) _order = new int[count];
        for (int i = 0; i < count; i++) _order[i] = i;
        if (Options.Shuffle)
        {
            var random = new SeededRandom(Options.Seed * 1_000_003 + epoch);
            for (int i = count - 1; i > 0; i--)
            {
                int j = random.NextInt(i + 1);
                (_order[i], _order[j]) = (_order[j], _order[i]);
            }
        }
        return _order;
    }

    /// <summary>
    /// <see cref="TrainerOptions.BucketByLength"/>: sorts each run of <see cref="TrainerOptions.BucketBatches"/> batches of
    /// <paramref name="order"/> by valid length, then (when shuffling) shuffles the full batches; the last, partial batch stays last.
    /// </summary>
    private void GroupByLength(int[] order, int[] lengths, int epoch)
    {
        int size = Options.BatchSize, run = (int)Math.Min((long)size * TrainerOptions.BucketBatches, order.Length);
        // Sort keys: the length, then the position in the shuffled order (so sequences of equal length stay shuffled).
        for (int from = 0; from < order.Length; from += run)
        {
            Span<long> part = Buffers.Grow(ref _bucketKeys, Math.Min(run, order.Length - from));
            for (int k = 0; k < part.Length; k++) part[k] = (long)lengths[order[from + k]] << 32 | (uint)k;
            part.Sort();
            Span<int> sorted = Buffers.Grow(ref _orderCopy, part.Length);
            for (int k = 0; k < part.Length; k++) sorted[k] = order[from + (int)(uint)part[k]];
            sorted.CopyTo(order.AsSpan(from, part.Length));
        }
        if (!Options.Shuffle) return;
        int full = order.Length / size;
        Span<int> batches = Buffers.Grow(ref _batchOrder, full);
        for (int i = 0; i < full; i++) batches[i] = i;
        var random = new SeededRandom(SeededRandom.Combine(Options.Seed * 1_000_003 + epoch, 0x6275636B)); // "buck"
        for (int i = full - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (batches[i], batches[j]) = (batches[j], batches[i]);
        }
        Span<int> grouped = Buffers.Grow(ref _orderCopy, full * size);
        order.AsSpan(0, full * size).CopyTo(grouped);
        for (int i = 0; i < full; i++) grouped.Slice(batches[i] * size, size).CopyTo(order.AsSpan(i * size, size));
    }

    /// <summary>Orders sequence indices by valid length, ties by index (a total order, so every sort gives one result): evaluation's order.</summary>
    private static Comparison<int> ByLength(int[] lengths) =>
        (a, b) => lengths[a] != lengths[b] ? lengths[a].CompareTo(lengths[b]) : a.CompareTo(b);

    /// <summary>Checks that the data fits the model and the loss (see the remarks), naming what does not.</summary>
    private void CheckData(SequenceDataset<T> data, string paramName)
    {
        if (Model is SequenceModel<T> sequenceModel && sequenceModel.Config.UsesTokens != (data.Features == 0))
            throw new ArgumentException(
                $"The model reads {(sequenceModel.Config.UsesTokens ? "token ids" : "real-valued features")} but the data has {(data.Features == 0 ? "token ids" : "real-valued features")}.", paramName);
        int features = data.Features == 0 ? 1 : data.Features;
        if (Model.InputFeatures != features)
            throw new ArgumentException(
                $"The model reads {Model.InputFeatures} feature(s) per step but the data has {(data.Features == 0 ? "token ids (one per step)" : $"{data.Features} features")}.", paramName);
        if (data.PerStep == Model.ReducesTime)
            throw new ArgumentException(data.PerStep
                ? "The data has per-step targets but the model pools over time (one prediction per sequence)."
                : "The data has one target per sequence but the model keeps the time axis (one prediction per step): add pooling.", paramName);
        if ((data.ClassTargets is not null) != _loss.UsesClassIds)
            throw new ArgumentException(
                $"The data has {(data.ClassTargets is not null ? "class ids" : "target values")} but the loss ({_loss.GetType().Name.Split('`')[0]}) reads {(_loss.UsesClassIds ? "class ids" : "values")}.", paramName);
        if (data.ValueTargets is not null && data.Outputs != Model.OutputFeatures)
            throw new ArgumentException($"The data has {data.Outputs} target values per prediction but the model has {Model.OutputFeatures} outputs.", paramName);
    }

    private Metrics ForwardLoss(SequenceDataset<T> data, ReadOnlySpan<int> indices, bool withGradient)
    {
        // Padded data runs at the length of the batch's longest sequence (see the remarks); stride is the data's L.
        int batch = indices.Length, stride = data.Length, length = stride;
        ReadOnlySpan<int> lengths = default;
        if (data.Lengths is not null)
        {
            Span<int> l = Buffers.Grow(ref _lengths, batch);
            length = 0;
            for (int i = 0; i < batch; i++) length = Math.Max(length, l[i] = data.Lengths[indices[i]]);
            lengths = l;
        }
        _batchLength = length;
        int outLength = Model.OutputSize(batch, length);
        Span<T> output = Buffers.Grow(ref _outputs, outLength);
        Span<T> grad = withGradient ? Buffers.Grow(ref _gradOutputs, outLength) : default;

        // The batch's inputs as values of T: features, or token ids (exact integers).
        int row = length * Model.InputFeatures, dataRow = stride * Model.InputFeatures;
        Span<T> x = Buffers.Grow(ref _inputs, batch * row);
        for (int i = 0; i < batch; i++)
        {
            if (data.Inputs is not null) data.Inputs.AsSpan(indices[i] * dataRow, row).CopyTo(x.Slice(i * row, row));
            else
            {
                ReadOnlySpan<int> tokens = data.Tokens.AsSpan(indices[i] * stride, length);
                Span<T> ids = x.Slice(i * row, row);
                for (int t = 0; t < length; t++)
                {
                    // Token ids travel as values of T; float holds integers exactly only below 2^24.
                    if (typeof(T) == typeof(float) && tokens[t] >= 1 << 24) ThrowTokenTooLarge(tokens[t], indices[i], t);
                    ids[t] = T.CreateTruncating(tokens[t]);
                }
            }
        }
        Model.Forward(x, output, batch, length, lengths);

        // Targets and the mask of the rows that count (per step: the data's mask and the padding).
        int rows = data.PerStep ? batch * length : batch;
        ReadOnlySpan<bool> mask = default;
        if (data.PerStep && (data.StepMask is not null || data.Lengths is not null))
        {
            Span<bool> m = Buffers.Grow(ref _mask, rows);
            for (int i = 0; i < batch; i++)
                for (int t = 0; t < length; t++)
                    m[i * length + t] = (data.StepMask is null || data.StepMask[indices[i] * stride + t])
                        && (data.Lengths is null || t < data.Lengths[indices[i]]);
            mask = m;
        }
        int per = data.PerStep ? length : 1, dataPer = data.PerStep ? stride : 1;
        if (data.ClassTargets is not null)
        {
            Span<int> targets = Buffers.Grow(ref _classTargets, rows);
            for (int i = 0; i < batch; i++) data.ClassTargets.AsSpan(indices[i] * dataPer, per).CopyTo(targets.Slice(i * per, per));
            return _loss.Compute(output, new LossTargets<T>(targets, mask), grad);
        }
        int width = per * data.Outputs;
        Span<T> values = Buffers.Grow(ref _valueTargets, rows * data.Outputs);
        for (int i = 0; i < batch; i++) data.ValueTargets.AsSpan(indices[i] * dataPer * data.Outputs, width).CopyTo(values.Slice(i * width, width));
        return _loss.Compute(output, new LossTargets<T>(rows, values, mask), grad);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTokenTooLarge(int token, int sequence, int step) =>
        throw new ArgumentException($"Sequence {sequence} has the token id {token} at step {step}, which a float cannot hold exactly (2^24 and above); train in double.", "data");

    /// <summary>Count-weighted running means of loss and accuracy.</summary>
    private struct MetricSum
    {
        private double _loss, _correct;
        private long _count;
        private bool _regression;

        public void Add(Metrics m)
        {
            _loss += m.Loss * m.Count;
            if (double.IsNaN(m.Accuracy)) _regression = true; else _correct += m.Accuracy * m.Count;
            _count += m.Count;
        }

        public readonly Metrics Result => _count == 0
            ? new Metrics(0, double.NaN, 0)
            : new Metrics(_loss / _count, _regression ? double.NaN : _correct / _count, _count);
    }
}
