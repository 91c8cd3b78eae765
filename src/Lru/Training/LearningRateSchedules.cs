namespace Lru.Training;

/// <summary>
/// A learning-rate schedule: a factor, applied by <see cref="Optimizer{T}.Step"/> to the learning rate
/// of every parameter group (LRU-MATH §2, training recipe: linear warm-up then cosine decay).
/// </summary>
/// <remarks>
/// The step argument is the number of optimiser steps already taken, so the first
/// <see cref="Optimizer{T}.Step"/> uses <c>Factor(0)</c>, the second <c>Factor(1)</c>, and so on
/// (as optax evaluates a schedule at the update count, and as PyTorch's <c>LambdaLR</c> stepped after
/// each optimiser step). Implementations must be pure functions of the step and must not allocate,
/// because <see cref="Optimizer{T}.Step"/> calls them on every step.
/// </remarks>
public interface ILearningRateSchedule
{
    /// <summary>The factor by which the base learning rates are multiplied at <paramref name="step"/>.</summary>
    /// <param name="step">The number of optimiser steps already taken, at least 0.</param>
    /// <returns>A finite factor, at least 0.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    double Factor(long step);

    /// <summary>The learning rate at <paramref name="step"/>: <c>baseRate · Factor(step)</c>.</summary>
    /// <param name="step">The number of optimiser steps already taken, at least 0.</param>
    /// <param name="baseRate">The unscheduled learning rate.</param>
    /// <returns><c>baseRate · Factor(step)</c>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    double LearningRate(long step, double baseRate) => baseRate * Factor(step);
}

/// <summary>A schedule with the same factor at every step.</summary>
public sealed class ConstantSchedule : ILearningRateSchedule
{
    /// <summary>The schedule with factor 1: the base learning rates unchanged (the optimiser default).</summary>
    public static ConstantSchedule One { get; } = new(1.0);

    /// <summary>Creates a constant schedule.</summary>
    /// <param name="factor">The factor at every step, finite and at least 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="factor"/> is negative or not finite.</exception>
    public ConstantSchedule(double factor = 1.0)
    {
        if (!double.IsFinite(factor) || factor < 0)
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"factor must be finite and at least 0; got {factor}.");
        ConstantFactor = factor;
    }

    /// <summary>The factor returned at every step.</summary>
    public double ConstantFactor { get; }

    /// <inheritdoc/>
    public double Factor(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        return ConstantFactor;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Constant({ConstantFactor})";
}

/// <summary>
/// Linear warm-up followed by cosine decay (LRU-MATH §2): with <c>W</c> = <see cref="WarmupSteps"/>,
/// <c>S</c> = <see cref="TotalSteps"/>, <c>f₀</c> = <see cref="StartFactor"/> and <c>f_min</c> = <see cref="MinFactor"/>,
/// <list type="bullet">
/// <item><c>step &lt; W</c>: <c>f₀ + (1 − f₀) · step / W</c>, rising linearly from <c>f₀</c> to 1;</item>
/// <item><c>W ≤ step &lt; S</c>: <c>f_min + (1 − f_min) · ½ (1 + cos(π (step − W) / (S − W)))</c>, falling from 1 to <c>f_min</c>;</item>
/// <item><c>step ≥ S</c>: <c>f_min</c>.</item>
/// </list>
/// </summary>
/// <remarks>
/// With <c>f₀ = 0</c> the first optimiser step has learning rate 0 (as optax's
/// <c>warmup_cosine_decay_schedule</c> with <c>init_value = 0</c>).
/// </remarks>
public sealed class LinearWarmupCosineSchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="warmupSteps">The length <c>W</c> of the linear warm-up, in [0, <paramref name="totalSteps"/>]; 0 starts the cosine at once.</param>
    /// <param name="totalSteps">The step <c>S</c> at which the cosine reaches <paramref name="minFactor"/>, at least 1.</param>
    /// <param name="minFactor">The final factor <c>f_min</c>, in [0, 1].</param>
    /// <param name="startFactor">The factor <c>f₀</c> at step 0 of the warm-up, in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="totalSteps"/> is less than 1, <paramref name="warmupSteps"/> is negative or greater than
    /// <paramref name="totalSteps"/>, or a factor is outside [0, 1]; the message gives the value.
    /// </exception>
    public LinearWarmupCosineSchedule(long warmupSteps, long totalSteps, double minFactor = 0.0, double startFactor = 0.0)
    {
        if (totalSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"totalSteps must be at least 1; got {totalSteps}.");
        if (warmupSteps < 0 || warmupSteps > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"warmupSteps must be in [0, totalSteps = {totalSteps}]; got {warmupSteps}.");
        if (!(minFactor >= 0 && minFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(minFactor), minFactor, $"minFactor must be in [0, 1]; got {minFactor}.");
        if (!(startFactor >= 0 && startFactor <= 1))
            throw new ArgumentOutOfRangeException(nameof(startFactor), startFactor, $"startFactor must be in [0, 1]; got {startFactor}.");
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        MinFactor = minFactor;
        StartFactor = startFactor;
    }

    /// <summary>The length <c>W</c> of the linear warm-up.</summary>
    public long WarmupSteps { get; }

    /// <summary>The step <c>S</c> at which the cosine decay ends.</summary>
    public long TotalSteps { get; }

    /// <summary>The factor <c>f_min</c> at and after <see cref="TotalSteps"/>.</summary>
    public double MinFactor { get; }

    /// <summary>The factor <c>f₀</c> at step 0 (when <see cref="WarmupSteps"/> is positive).</summary>
    public double StartFactor { get; }

    /// <inheritdoc/>
    public double Factor(long step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (step < WarmupSteps)
            return StartFactor + (1.0 - StartFactor) * ((double)step / WarmupSteps);
        if (step >= TotalSteps)
            return MinFactor;
        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        return MinFactor + (1.0 - MinFactor) * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"LinearWarmupCosine(warmup {WarmupSteps}, total {TotalSteps}, start {StartFactor}, min {MinFactor})";
}
