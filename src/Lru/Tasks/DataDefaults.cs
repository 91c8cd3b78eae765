using Lru.Data;
using Lru.Layers;
using Lru.Models;

namespace Lru.Tasks;

/// <summary>
/// The settings <c>lru train --inputs … --targets …</c> starts from for a user's own data, sized from the data
/// (docs/your-data.md gives the experiments behind them). Every field can be overridden like a built-in task's defaults.
/// </summary>
public static class DataDefaults
{
    /// <summary>The share of the training sequences held out to pick the best epoch when no other split is given.</summary>
    public const double ValidationSplit = 0.1;

    /// <summary>The settings for <paramref name="spec"/> with <paramref name="trainCount"/> training sequences.</summary>
    /// <param name="spec">The job and sizes of the data.</param>
    /// <param name="trainCount">Training sequences (after the validation split), at least 1; it sets the batch size.</param>
    /// <returns>
    /// 4 blocks of width H = state N = 64; batch 32 below 10,000 training sequences, else 64; AdamW at 4e-3 (SSM parameters
    /// 2e-3) with 10 % warm-up and cosine decay, weight decay 0.05, clipping at 1, dropout 0.1; pre-LayerNorm blocks with
    /// tanh GELU and flax's ε (so the model exports to minimal-LRU); the ring initialisation r ∈ [0.9, 0.999], phase ∈
    /// [0, 2π]; 10 epochs. (docs/your-data.md: a 32-wide 2-block model for small sets reached 70.6 % on digits against
    /// 98.3 % for this one; 128 wide gained 0.7 points on Fashion-MNIST rows for 2.6× the time.)
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="trainCount"/> is less than 1.</exception>
    public static TrainingSettings For(DataSpec spec, int trainCount)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(trainCount, 1);
        const int hidden = 64, layers = 4;
        int batch = trainCount < 10_000 ? 32 : 64;
        var block = new LruBlockConfig(new LruConfig(hidden, hidden, RMin: 0.9, RMax: 0.999, MaxPhase: 2 * Math.PI),
            NormKind.LayerNorm, NormPlacement.Pre, NormEpsilon: 1e-6, DropoutRate: 0.1, Gelu: GeluApproximation.Tanh);
        return new TrainingSettings(layers, block, BatchSize: batch, Epochs: 10, LearningRate: 4e-3, SsmLearningRate: 2e-3,
            WeightDecay: 0.05, WarmupFraction: 0.1, ClipNorm: 1.0);
    }

    /// <summary>
    /// The settings with flax's norm ε for their norm kind (LayerNorm 1e-6, BatchNorm 1e-5), so that a model trained with
    /// <c>--norm batch</c> exports to minimal-LRU like one with the default LayerNorm.
    /// </summary>
    /// <param name="settings">The settings.</param>
    /// <returns>The settings with <see cref="LruBlockConfig.NormEpsilon"/> set.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="settings"/> is null.</exception>
    public static TrainingSettings WithNormEpsilon(TrainingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings with { Block = settings.Block with { NormEpsilon = settings.Block.Norm == NormKind.BatchNorm ? 1e-5 : 1e-6 } };
    }

    /// <summary>The model for <paramref name="spec"/>: mean pooling (over the valid steps) for one prediction per sequence, none per step.</summary>
    /// <param name="spec">The job and sizes.</param>
    /// <param name="settings">Layers and block settings.</param>
    /// <param name="pooling">Overrides the pooling of a per-sequence job (mean or last); ignored for a per-step job.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static SequenceModelConfig ModelConfig(DataSpec spec, TrainingSettings settings, PoolingMode? pooling = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(settings);
        return new SequenceModelConfig(spec.Features, 0, spec.Outputs, settings.Layers, settings.Block,
            spec.PerStep ? PoolingMode.None : pooling ?? PoolingMode.Mean, spec.Output);
    }
}
