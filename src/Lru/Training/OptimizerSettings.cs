using Lru.Layers;
using Lru.Modules;

namespace Lru.Training;

/// <summary>
/// The learning rates and weight decay of an <see cref="Optimizer{T}"/>, from which it forms its
/// parameter groups (LRU-MATH §2, training recipe).
/// </summary>
/// <remarks>
/// <para>Every parameter goes to exactly one of three groups (see <see cref="ParameterGroupSettings"/>):</para>
/// <list type="bullet">
/// <item><see cref="ParameterGroupSettings.SsmGroupName"/>: parameters chosen by <see cref="RecurrentParameters"/> (by
/// default the LRU's <c>nu_log, theta_log, gamma_log, B_re, B_im</c>), with <see cref="EffectiveSsmLearningRate"/> and no
/// weight decay;</item>
/// <item><see cref="ParameterGroupSettings.NoDecayGroupName"/>: the remaining parameters for which
/// <see cref="ExcludeFromWeightDecay"/> returns true, with <see cref="LearningRate"/> and no weight decay;</item>
/// <item><see cref="ParameterGroupSettings.DecayGroupName"/>: all others, with <see cref="LearningRate"/> and
/// <see cref="WeightDecay"/>.</item>
/// </list>
/// <para>The <see cref="Schedule"/> multiplies both learning rates at every step.</para>
/// </remarks>
public record OptimizerSettings
{
    /// <summary>The base learning rate of the ordinary weights, finite and at least 0. Default 1e-3.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>
    /// The decoupled weight decay <c>wd</c> of the decay group (each step <c>p ← p·(1 − lr·wd)</c>), finite and
    /// at least 0. Default 0.01, as <c>torch.optim.AdamW</c>; 0 turns AdamW into Adam.
    /// </summary>
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>
    /// The SSM learning rate as a multiple of <see cref="LearningRate"/>, used when <see cref="SsmLearningRate"/>
    /// is null; finite and at least 0. Default 0.5 (the paper uses 0.25–0.5).
    /// </summary>
    public double SsmLearningRateFactor { get; init; } = 0.5;

    /// <summary>An explicit learning rate for the SSM group, finite and at least 0; overrides <see cref="SsmLearningRateFactor"/>. Default null.</summary>
    public double? SsmLearningRate { get; init; }

    /// <summary>
    /// An optional rule excluding further parameters outside the SSM group from weight decay, given the name passed to
    /// the optimiser and the shape; for example <see cref="WeightDecayExclusions.Vectors"/> for biases and normalisation
    /// weights. Default null: every parameter outside the SSM group is decayed, as in the reference code.
    /// </summary>
    public Func<string, IReadOnlyList<int>, bool>? ExcludeFromWeightDecay { get; init; }

    /// <summary>
    /// Which parameters form the SSM group (their own learning rate, no weight decay; LRU-MATH §2), given the name passed
    /// to the optimiser and the shape. Default null: <see cref="IsLruRecurrent"/>, the LRU's recurrent parameters, chosen
    /// by name as the JAX reference does (so a parameter of your own module named, say, <c>B_re</c> joins them too; give a
    /// rule of your own to decide otherwise).
    /// </summary>
    public Func<string, IReadOnlyList<int>, bool>? RecurrentParameters { get; init; }

    /// <summary>
    /// True when the last segment of a hierarchical name is one of <see cref="LruLayer{T}.RecurrentParameterNames"/>
    /// (<c>nu_log, theta_log, gamma_log, B_re, B_im</c>): <c>blocks.0.lru.nu_log</c> is, <c>blocks.0.lru.C_re</c> is not.
    /// </summary>
    /// <param name="name">A hierarchical parameter name.</param>
    /// <param name="shape">The parameter's shape (not used).</param>
    /// <returns>Whether the parameter belongs to the SSM group by default.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public static bool IsLruRecurrent(string name, IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        string last = name[(name.LastIndexOf('.') + 1)..];
        foreach (string recurrent in LruLayer<float>.RecurrentParameterNames)
        {
            if (last == recurrent) return true;
        }
        return false;
    }

    /// <summary>Whether a parameter joins the SSM group under these settings.</summary>
    internal bool IsRecurrentParameter(string name, IReadOnlyList<int> shape) => (RecurrentParameters ?? IsLruRecurrent)(name, shape);

    /// <summary>The learning-rate schedule applied to every group. Default <see cref="ConstantSchedule.One"/>.</summary>
    public ILearningRateSchedule Schedule { get; init; } = ConstantSchedule.One;

    /// <summary>The unscheduled SSM learning rate: <see cref="SsmLearningRate"/> if set, else <see cref="LearningRate"/> · <see cref="SsmLearningRateFactor"/>.</summary>
    public double EffectiveSsmLearningRate => SsmLearningRate ?? LearningRate * SsmLearningRateFactor;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is outside its range; the parameter name is the setting's name and the message gives the value.</exception>
    /// <exception cref="ArgumentNullException"><see cref="Schedule"/> is null.</exception>
    public virtual void Validate()
    {
        NonNegative(LearningRate, nameof(LearningRate));
        NonNegative(WeightDecay, nameof(WeightDecay));
        NonNegative(SsmLearningRateFactor, nameof(SsmLearningRateFactor));
        if (SsmLearningRate is double ssm) NonNegative(ssm, nameof(SsmLearningRate));
        if (Schedule is null) throw new ArgumentNullException(nameof(Schedule), "Schedule must not be null; use ConstantSchedule.One for none.");
    }

    private static void NonNegative(double value, string name)
    {
        if (!double.IsFinite(value) || value < 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be finite and at least 0; got {value}.");
    }
}

/// <summary>The settings of <see cref="AdamW{T}"/>: the group settings of <see cref="OptimizerSettings"/> plus Adam's moment coefficients.</summary>
/// <remarks>Defaults as <c>torch.optim.AdamW</c>: β₁ = 0.9, β₂ = 0.999, ε = 1e-8, weight decay 0.01, learning rate 1e-3.</remarks>
public sealed record AdamWSettings : OptimizerSettings
{
    /// <summary>The decay β₁ of the first-moment average, in [0, 1). Default 0.9.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>The decay β₂ of the second-moment average, in [0, 1). Default 0.999.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>The ε added to <c>sqrt(v̂)</c> in the denominator, finite and greater than 0. Default 1e-8.</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Settings for plain Adam: AdamW with weight decay 0.</summary>
    /// <param name="learningRate">The base learning rate.</param>
    /// <returns>Default settings with <see cref="OptimizerSettings.LearningRate"/> = <paramref name="learningRate"/> and <see cref="OptimizerSettings.WeightDecay"/> = 0.</returns>
    public static AdamWSettings Adam(double learningRate = 1e-3) => new() { LearningRate = learningRate, WeightDecay = 0.0 };

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (!(Beta1 >= 0 && Beta1 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, $"Beta1 must be in [0, 1); got {Beta1}.");
        if (!(Beta2 >= 0 && Beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, $"Beta2 must be in [0, 1); got {Beta2}.");
        if (!double.IsFinite(Epsilon) || Epsilon <= 0)
            throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, $"Epsilon must be finite and greater than 0; got {Epsilon}.");
    }
}

/// <summary>
/// One parameter group of an optimiser as formed from its <see cref="OptimizerSettings"/>: the unscheduled
/// learning rate, the weight decay and the names of its parameters.
/// </summary>
/// <param name="Name">The group's name: <see cref="DecayGroupName"/>, <see cref="NoDecayGroupName"/> or <see cref="SsmGroupName"/>.</param>
/// <param name="LearningRate">The learning rate before the schedule's factor.</param>
/// <param name="WeightDecay">The decoupled weight decay (0 for the no-decay and SSM groups).</param>
/// <param name="ParameterNames">The names (as passed to the optimiser) of the group's parameters, in the optimiser's order; may be empty.</param>
public sealed record ParameterGroupSettings(string Name, double LearningRate, double WeightDecay, IReadOnlyList<string> ParameterNames)
{
    /// <summary>The group of ordinary weights: base learning rate and weight decay.</summary>
    public const string DecayGroupName = "decay";

    /// <summary>The group of ordinary weights excluded by <see cref="OptimizerSettings.ExcludeFromWeightDecay"/>: base learning rate, no weight decay.</summary>
    public const string NoDecayGroupName = "no_decay";

    /// <summary>The group of recurrent SSM parameters (<c>nu_log, theta_log, gamma_log, B_re, B_im</c>): SSM learning rate, no weight decay.</summary>
    public const string SsmGroupName = "ssm";

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name}: lr {LearningRate}, weight decay {WeightDecay}, {ParameterNames.Count} parameter(s) [{string.Join(", ", ParameterNames)}]";
}

/// <summary>Ready-made rules for <see cref="OptimizerSettings.ExcludeFromWeightDecay"/>.</summary>
public static class WeightDecayExclusions
{
    /// <summary>
    /// Excludes every parameter of rank 0 or 1 (biases, normalisation scales and shifts, and also the LRU's
    /// <c>D</c>): the common practice of decaying only matrices.
    /// </summary>
    public static Func<string, IReadOnlyList<int>, bool> Vectors { get; } = static (_, shape) => shape.Count <= 1;

    /// <summary>Excludes parameters whose name ends with one of <paramref name="suffixes"/> (ordinal comparison).</summary>
    /// <param name="suffixes">The name endings, for example <c>"bias"</c> and <c>"norm.weight"</c>; none empty.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="suffixes"/> is null.</exception>
    /// <exception cref="ArgumentException">A suffix is null or empty.</exception>
    public static Func<string, IReadOnlyList<int>, bool> NameEndsWith(params string[] suffixes)
    {
        ArgumentNullException.ThrowIfNull(suffixes);
        string[] copy = (string[])suffixes.Clone();
        for (int i = 0; i < copy.Length; i++)
        {
            if (string.IsNullOrEmpty(copy[i]))
                throw new ArgumentException($"suffixes[{i}] is null or empty.", nameof(suffixes));
        }
        return (name, _) =>
        {
            foreach (string s in copy)
            {
                if (name.EndsWith(s, StringComparison.Ordinal)) return true;
            }
            return false;
        };
    }
}
