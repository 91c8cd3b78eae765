using System.Numerics;
using Lru.Modules;

namespace Lru.Training;

/// <summary>
/// A first-order optimiser over a fixed list of named <see cref="Parameter{T}"/>s, split into the parameter
/// groups of LRU-MATH §2 (see <see cref="OptimizerSettings"/> and <see cref="Groups"/>).
/// </summary>
/// <remarks>
/// <para>Use: run forward and backward passes (which add to <see cref="Parameter{T}.Gradient"/>), optionally
/// <see cref="GradientClipping.ClipGlobalNorm{T}(IEnumerable{Parameter{T}}, double, bool)"/>, then
/// <see cref="Step"/>, then <see cref="ZeroGradients"/>.</para>
/// <para>All state (and every parameter's gradient array) is allocated by the constructor; <see cref="Step"/>
/// and <see cref="ZeroGradients"/> allocate nothing. Updates are single-threaded and elementwise, so results do
/// not depend on the number of threads.</para>
/// <para>An optimiser is used from one thread at a time: <see cref="Step"/>, <see cref="ZeroGradients"/> or
/// <see cref="LoadState"/> overlapping another of them throws <see cref="InvalidOperationException"/>. Stepping
/// while another thread runs the model is not allowed either (it changes the parameters the model reads) and is not
/// detected.</para>
/// <para>The state is exported by <see cref="State"/> and restored by <see cref="LoadState"/>; restoring it into
/// an optimiser built over the same parameter names and shapes continues training bit-identically.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The name of the step-count entry of <see cref="State"/>.</summary>
    public const string StepStateName = "step";

    /// <summary>The radix of the two-value encoding of the step count in <see cref="State"/> (2²⁴, exact in <see cref="float"/>).</summary>
    private const long StepRadix = 1L << 24;

    private readonly string[] _names;
    private readonly Parameter<T>[] _parameters;
    private readonly int[] _groupIndex;
    private readonly ParameterGroupSettings[] _groups;
    private readonly Dictionary<string, int> _indexByName;
    private readonly CallGuard _calls = new("Optimizer");

    /// <summary>Forms the parameter groups and allocates every gradient.</summary>
    /// <param name="parameters">The parameters with unique names (for example qualified names such as <c>blocks.0.lru.nu_log</c>); the order fixes the order of updates and of <see cref="State"/>.</param>
    /// <param name="settings">The learning rates, weight decay and schedule; checked with <see cref="OptimizerSettings.Validate"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> or <paramref name="settings"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="parameters"/> is empty, holds a null parameter or an empty name, repeats a name, or lists
    /// the same parameter object twice; the message names the entry.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (see <see cref="OptimizerSettings.Validate"/>).</exception>
    protected Optimizer(IEnumerable<(string Name, Parameter<T> Parameter)> parameters, OptimizerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Settings = settings;

        var names = new List<string>();
        var list = new List<Parameter<T>>();
        _indexByName = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new Dictionary<Parameter<T>, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, parameter) in parameters)
        {
            int index = list.Count;
            if (string.IsNullOrEmpty(name))
                throw new ArgumentException($"Parameter {index} has a null or empty name.", nameof(parameters));
            if (parameter is null)
                throw new ArgumentException($"Parameter {index} ('{name}') is null.", nameof(parameters));
            if (!_indexByName.TryAdd(name, index))
                throw new ArgumentException($"The parameter name '{name}' occurs more than once (entries {_indexByName[name]} and {index}).", nameof(parameters));
            if (!seen.TryAdd(parameter, name))
                throw new ArgumentException($"The same parameter object is listed twice, as '{seen[parameter]}' and '{name}'.", nameof(parameters));
            names.Add(name);
            list.Add(parameter);
        }
        if (list.Count == 0)
            throw new ArgumentException("The optimiser needs at least one parameter.", nameof(parameters));
        _names = [.. names];
        _parameters = [.. list];

        // Group assignment (LRU-MATH §2): recurrent → ssm; excluded default → no_decay; other default → decay.
        const int decay = 0, noDecay = 1, ssm = 2;
        _groupIndex = new int[_parameters.Length];
        var members = new[] { new List<string>(), new List<string>(), new List<string>() };
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            int g = settings.IsRecurrentParameter(_names[i], p.Shape.ToArray()) ? ssm
                : settings.ExcludeFromWeightDecay is { } exclude && exclude(_names[i], p.Shape.ToArray()) ? noDecay
                : decay;
            _groupIndex[i] = g;
            members[g].Add(_names[i]);
            _ = p.GradientArray; // allocate now, so that Step never does
        }
        _groups =
        [
            new ParameterGroupSettings(ParameterGroupSettings.DecayGroupName, settings.LearningRate, settings.WeightDecay, members[decay].AsReadOnly()),
            new ParameterGroupSettings(ParameterGroupSettings.NoDecayGroupName, settings.LearningRate, 0.0, members[noDecay].AsReadOnly()),
            new ParameterGroupSettings(ParameterGroupSettings.SsmGroupName, settings.EffectiveSsmLearningRate, 0.0, members[ssm].AsReadOnly()),
        ];
    }

    /// <summary>The settings the optimiser was created with.</summary>
    public OptimizerSettings Settings { get; }

    /// <summary>The parameters' names as passed to the constructor, in update order.</summary>
    public IReadOnlyList<string> ParameterNames => _names;

    /// <summary>The parameters, in the order of <see cref="ParameterNames"/>.</summary>
    public IReadOnlyList<Parameter<T>> Parameters => _parameters;

    /// <summary>
    /// The three parameter groups, always in the order <see cref="ParameterGroupSettings.DecayGroupName"/>,
    /// <see cref="ParameterGroupSettings.NoDecayGroupName"/>, <see cref="ParameterGroupSettings.SsmGroupName"/>
    /// (a group may have no parameters). Their learning rates are before the schedule's factor.
    /// </summary>
    public IReadOnlyList<ParameterGroupSettings> Groups => _groups;

    /// <summary>The number of <see cref="Step"/> calls so far (or as restored by <see cref="LoadState"/>).</summary>
    public long StepCount { get; private set; }

    /// <summary>The schedule's factor for the next <see cref="Step"/>: <c>Settings.Schedule.Factor(StepCount)</c>.</summary>
    public double CurrentScheduleFactor => Settings.Schedule.Factor(StepCount);

    /// <summary>The group of a parameter.</summary>
    /// <param name="parameterName">A name passed to the constructor.</param>
    /// <returns>The group's settings.</returns>
    /// <exception cref="ArgumentException"><paramref name="parameterName"/> is not one of <see cref="ParameterNames"/>.</exception>
    public ParameterGroupSettings GroupOf(string parameterName) => _groups[_groupIndex[IndexOf(parameterName)]];

    /// <summary>Which parameter went to which group, in the order of <see cref="ParameterNames"/>.</summary>
    /// <returns>One (parameter name, group name) pair per parameter.</returns>
    public IEnumerable<(string ParameterName, string GroupName)> Assignments()
    {
        for (int i = 0; i < _names.Length; i++) yield return (_names[i], _groups[_groupIndex[i]].Name);
    }

    /// <summary>The learning rate the next <see cref="Step"/> applies to a group: its rate times <see cref="CurrentScheduleFactor"/>.</summary>
    /// <param name="groupName">One of the names in <see cref="Groups"/>.</param>
    /// <returns>The scheduled learning rate.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="groupName"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="groupName"/> names no group.</exception>
    public double CurrentLearningRate(string groupName)
    {
        ArgumentNullException.ThrowIfNull(groupName);
        foreach (var g in _groups)
        {
            if (g.Name == groupName) return g.LearningRate * CurrentScheduleFactor;
        }
        throw new ArgumentException($"There is no parameter group '{groupName}'; the groups are {string.Join(", ", _groups.Select(g => g.Name))}.", nameof(groupName));
    }

    /// <summary>
    /// Updates every parameter in place from its <see cref="Parameter{T}.Gradient"/>, with its group's learning
    /// rate times the schedule's factor at <see cref="StepCount"/> and its group's weight decay; then calls
    /// increments every parameter's <see cref="Parameter{T}.Version"/> (so derived weights are rebuilt) and <see cref="StepCount"/>.
    /// Gradients are left unchanged (see <see cref="ZeroGradients"/>). Allocates nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The schedule returned a negative or non-finite factor, or another call on this optimiser runs on another thread.</exception>
    public void Step()
    {
        using var scope = _calls.Enter(training: true, nameof(Step));
        double factor = Settings.Schedule.Factor(StepCount);
        if (!double.IsFinite(factor) || factor < 0) ThrowBadFactor(factor);
        long step = StepCount + 1;
        for (int i = 0; i < _parameters.Length; i++)
        {
            var group = _groups[_groupIndex[i]];
            var parameter = _parameters[i];
            try
            {
                Update(i, parameter.Values, parameter.GradientArray, group.LearningRate * factor, group.WeightDecay, step);
            }
            finally
            {
                parameter.MarkModified(); // even a partial update must not leave derived weights stale
            }
        }
        StepCount = step;
    }

    /// <summary>Sets every parameter's gradient to zero. Allocates nothing.</summary>
    /// <exception cref="InvalidOperationException">Another call on this optimiser runs on another thread.</exception>
    public void ZeroGradients()
    {
        using var scope = _calls.Enter(training: true, nameof(ZeroGradients));
        foreach (var p in _parameters) p.ZeroGradient();
    }

    /// <summary>
    /// A copy of the optimiser state as named arrays: first <see cref="StepStateName"/>, then for each parameter
    /// (in the order of <see cref="ParameterNames"/>) its buffers named <c>&lt;parameter name&gt;.&lt;buffer&gt;</c>
    /// (for <see cref="AdamW{T}"/>: <c>.exp_avg</c> and <c>.exp_avg_sq</c>, each of the parameter's length).
    /// </summary>
    /// <remarks>
    /// The step count <c>t</c> is stored as two values <c>[t / 2²⁴, t mod 2²⁴]</c>, both integers exactly
    /// representable in <typeparamref name="T"/>, so that counts beyond 2²⁴ survive a <see cref="float"/> checkpoint.
    /// </remarks>
    /// <returns>Fresh arrays, independent of the optimiser.</returns>
    public IEnumerable<(string Name, T[] Values)> State()
    {
        yield return (StepStateName, [T.CreateChecked(StepCount / StepRadix), T.CreateChecked(StepCount % StepRadix)]);
        for (int i = 0; i < _parameters.Length; i++)
        {
            foreach (var (suffix, buffer) in StateBuffers(i))
                yield return ($"{_names[i]}.{suffix}", (T[])buffer.Clone());
        }
    }

    /// <summary>
    /// Restores state exported by <see cref="State"/> (possibly from another optimiser over parameters with the
    /// same names and lengths). Every entry is checked before anything is changed.
    /// </summary>
    /// <param name="state">Exactly the entries <see cref="State"/> returns, in any order; the arrays are copied.</param>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// An entry is missing, unknown, repeated, null or of the wrong length, or the step count is not a valid
    /// non-negative integer; the message names the entry.
    /// </exception>
    /// <exception cref="InvalidOperationException">Another call on this optimiser runs on another thread.</exception>
    public void LoadState(IEnumerable<(string Name, T[] Values)> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var scope = _calls.Enter(training: true, nameof(LoadState));
        var given = new Dictionary<string, T[]>(StringComparer.Ordinal);
        foreach (var (name, values) in state)
        {
            if (name is null) throw new ArgumentException("A state entry has a null name.", nameof(state));
            if (values is null) throw new ArgumentException($"State entry '{name}' is null.", nameof(state));
            if (!given.TryAdd(name, values)) throw new ArgumentException($"State entry '{name}' occurs more than once.", nameof(state));
        }

        long step = DecodeStep(given.TryGetValue(StepStateName, out var stepValues)
            ? stepValues
            : throw new ArgumentException($"State entry '{StepStateName}' is missing.", nameof(state)));
        int expected = 1;
        for (int i = 0; i < _parameters.Length; i++)
        {
            foreach (var (suffix, buffer) in StateBuffers(i))
            {
                string key = $"{_names[i]}.{suffix}";
                if (!given.TryGetValue(key, out var values))
                    throw new ArgumentException($"State entry '{key}' is missing.", nameof(state));
                if (values.Length != buffer.Length)
                    throw new ArgumentException($"State entry '{key}' has length {values.Length} but parameter '{_names[i]}' needs {buffer.Length}.", nameof(state));
                expected++;
            }
        }
        if (given.Count != expected)
        {
            var known = new HashSet<string>(StringComparer.Ordinal) { StepStateName };
            for (int i = 0; i < _parameters.Length; i++)
            {
                foreach (var (suffix, _) in StateBuffers(i)) known.Add($"{_names[i]}.{suffix}");
            }
            string unknown = string.Join(", ", given.Keys.Where(k => !known.Contains(k)).Select(k => $"'{k}'"));
            throw new ArgumentException($"Unknown state entries: {unknown}.", nameof(state));
        }

        for (int i = 0; i < _parameters.Length; i++)
        {
            foreach (var (suffix, buffer) in StateBuffers(i))
                given[$"{_names[i]}.{suffix}"].AsSpan().CopyTo(buffer);
        }
        StepCount = step;
    }

    /// <summary>
    /// Updates one parameter's values in place from its gradient. Must not allocate. The base class increments the
    /// parameter's <see cref="Parameter{T}.Version"/> afterwards (even if this throws), so derived weights are rebuilt.
    /// </summary>
    /// <param name="index">The parameter's position in <see cref="Parameters"/>.</param>
    /// <param name="values">The parameter's live values, to update.</param>
    /// <param name="gradient">The parameter's gradient.</param>
    /// <param name="learningRate">The group's learning rate times the schedule's factor.</param>
    /// <param name="weightDecay">The group's decoupled weight decay.</param>
    /// <param name="step">The 1-based number of this step (<c>t</c> in the bias corrections).</param>
    protected abstract void Update(int index, Span<T> values, ReadOnlySpan<T> gradient, double learningRate, double weightDecay, long step);

    /// <summary>The live state buffers of one parameter with their name suffixes, in a fixed order.</summary>
    /// <param name="index">The parameter's position in <see cref="Parameters"/>.</param>
    /// <returns>(suffix, buffer) pairs; the buffers belong to the optimiser.</returns>
    protected abstract IEnumerable<(string Suffix, T[] Buffer)> StateBuffers(int index);

    /// <summary>The position of a parameter in <see cref="Parameters"/>.</summary>
    /// <param name="parameterName">A name passed to the constructor.</param>
    /// <returns>The position.</returns>
    /// <exception cref="ArgumentException"><paramref name="parameterName"/> is not one of <see cref="ParameterNames"/>.</exception>
    protected int IndexOf(string parameterName) =>
        parameterName is not null && _indexByName.TryGetValue(parameterName, out int index)
            ? index
            : throw new ArgumentException($"The optimiser has no parameter named '{parameterName}'.", nameof(parameterName));

    private static long DecodeStep(T[] values)
    {
        if (values.Length != 2)
            throw new ArgumentException($"State entry '{StepStateName}' has length {values.Length} but 2 is needed ([t / 2^24, t mod 2^24]).", "state");
        double high = double.CreateChecked(values[0]), low = double.CreateChecked(values[1]);
        if (!(high >= 0 && high < StepRadix && high == Math.Floor(high)) || !(low >= 0 && low < StepRadix && low == Math.Floor(low)))
            throw new ArgumentException($"State entry '{StepStateName}' holds ({high}, {low}); both must be integers in [0, 2^24).", "state");
        return (long)high * StepRadix + (long)low;
    }

    private static void ThrowBadFactor(double factor) =>
        throw new InvalidOperationException($"The learning-rate schedule returned the factor {factor}; it must be finite and at least 0.");
}
