using System.Globalization;
using Lru.IO;
using Lru.Models;

namespace Lru.Data;

/// <summary>What a user's targets ask the model to do; <see cref="Auto"/> reads it from the targets' type and shape.</summary>
public enum Objective
{
    /// <summary>Integer targets are class ids, floating-point targets are regression values.</summary>
    Auto,

    /// <summary>Class ids (integers, or floating-point whole numbers), from 0.</summary>
    Classification,

    /// <summary>Real values (integers are read as values).</summary>
    Regression,
}

/// <summary>The job a data set defines: classification or regression, per sequence or per step, and its sizes.</summary>
/// <param name="Output">Classification or regression.</param>
/// <param name="PerStep">True for a target at every step (a causal model without pooling); false for one per sequence (pooled).</param>
/// <param name="Outputs">Classes (classification) or values per target (regression).</param>
/// <param name="Features">Features per step F.</param>
/// <param name="Length">The (padded) sequence length L.</param>
public sealed record DataSpec(OutputKind Output, bool PerStep, int Outputs, int Features, int Length)
{
    /// <summary>The test metric: <c>accuracy</c> or <c>mse</c>.</summary>
    public string MetricName => Output == OutputKind.Regression ? "mse" : "accuracy";

    /// <summary>"classification over 10 classes, one label per sequence", for messages.</summary>
    public string Description => Output == OutputKind.Classification
        ? $"classification over {Outputs} classes, one label per {(PerStep ? "step" : "sequence")}"
        : $"regression of {Outputs} value{(Outputs == 1 ? "" : "s")} per {(PerStep ? "step" : "sequence")}";
}

/// <summary>
/// Per-feature affine standardisation, <c>z = (x − Mean) / Scale</c>, with statistics taken over the valid steps of a
/// training split only, so that no statistic of validation or test data leaks into the model.
/// </summary>
/// <param name="Mean">The mean of every feature.</param>
/// <param name="Scale">The standard deviation of every feature (population), or 1 for a feature that is constant.</param>
public sealed record Standardization(double[] Mean, double[] Scale)
{
    /// <summary>The number of features.</summary>
    public int Features => Mean.Length;

    /// <summary>Statistics of the rows of <paramref name="values"/> that <paramref name="counts"/> says count.</summary>
    /// <param name="values">(rows, features), row-major.</param>
    /// <param name="features">Values per row, at least 1.</param>
    /// <param name="counts">Whether row r counts, or null for all rows.</param>
    /// <returns>The statistics (a feature with no counted row, or with a spread below 1e-12 of its scale, gets mean 0 or its mean and scale 1).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1 or does not divide the length.</exception>
    public static Standardization Fit(ReadOnlySpan<float> values, int features, Func<int, bool>? counts = null)
    {
        if (features < 1 || values.Length % features != 0)
            throw new ArgumentOutOfRangeException(nameof(features), features, $"features must be at least 1 and divide the {values.Length} values.");
        int rows = values.Length / features;
        var sum = new double[features];
        long n = 0;
        for (int r = 0; r < rows; r++)
        {
            if (counts is not null && !counts(r)) continue;
            n++;
            for (int f = 0; f < features; f++) sum[f] += values[r * features + f];
        }
        var mean = new double[features];
        for (int f = 0; f < features; f++) mean[f] = n == 0 ? 0 : sum[f] / n;
        // Two passes: the centred sum of squares does not cancel catastrophically for data far from 0.
        var squares = new double[features];
        for (int r = 0; r < rows; r++)
        {
            if (counts is not null && !counts(r)) continue;
            for (int f = 0; f < features; f++)
            {
                double d = values[r * features + f] - mean[f];
                squares[f] += d * d;
            }
        }
        var scale = new double[features];
        for (int f = 0; f < features; f++)
        {
            double sd = n == 0 ? 0 : Math.Sqrt(squares[f] / n);
            scale[f] = sd > 1e-12 * Math.Max(1, Math.Abs(mean[f])) ? sd : 1;
        }
        return new Standardization(mean, scale);
    }

    /// <summary>Standardises <paramref name="values"/> ((rows, Features)) in place.</summary>
    /// <param name="values">The values.</param>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Features"/>.</exception>
    /// <exception cref="InvalidOperationException"><see cref="Mean"/> and <see cref="Scale"/> differ in length or are empty.</exception>
    public void Apply(Span<float> values)
    {
        CheckWidth(values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            int f = i % Features;
            values[i] = (float)((values[i] - Mean[f]) / Scale[f]);
        }
    }

    /// <summary>Undoes <see cref="Apply"/> in place: <c>x = z·Scale + Mean</c>.</summary>
    /// <param name="values">(rows, Features) standardised values.</param>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Features"/>.</exception>
    /// <exception cref="InvalidOperationException"><see cref="Mean"/> and <see cref="Scale"/> differ in length or are empty.</exception>
    public void Invert(Span<float> values)
    {
        CheckWidth(values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            int f = i % Features;
            values[i] = (float)(values[i] * Scale[f] + Mean[f]);
        }
    }

    private void CheckWidth(int length)
    {
        if (Mean is null || Scale is null || Mean.Length != Scale.Length || Mean.Length == 0)
            throw new InvalidOperationException($"The statistics have {Mean?.Length ?? 0} means and {Scale?.Length ?? 0} scales; one of each per feature, at least one, is needed.");
        if (length % Features != 0) throw new ArgumentException($"values has {length} entries, not a multiple of {Features} features.", "values");
    }
}

/// <summary>
/// A user's labelled sequences, read from arrays such as numpy writes: inputs (N, L, F) (or (N, L) for F = 1) of any
/// numeric type, targets whose type and shape say the job (see <see cref="Describe"/>), and optional valid lengths of
/// sequences padded to L. Everything is checked on the way in; padded steps are ignored (their inputs and targets may
/// hold anything) and set to 0.
/// </summary>
public sealed class ArrayData
{
    private ArrayData(DataSpec spec, int count, float[] inputs, int[]? labels, float[]? values, int[]? lengths)
    {
        (Spec, Count, Inputs, Labels, Values, Lengths) = (spec, count, inputs, labels, values, lengths);
    }

    /// <summary>The job and sizes.</summary>
    public DataSpec Spec { get; }

    /// <summary>N, the number of sequences.</summary>
    public int Count { get; }

    /// <summary>(N, L, F) inputs, 0 at padded steps.</summary>
    public float[] Inputs { get; }

    /// <summary>Class ids (N) or (N, L) for classification (0 at padded steps), else null.</summary>
    public int[]? Labels { get; }

    /// <summary>Regression targets (N, O) or (N, L, O) (0 at padded steps), else null.</summary>
    public float[]? Values { get; }

    /// <summary>(N) valid lengths in [1, L], or null when every sequence has length L.</summary>
    public int[]? Lengths { get; }

    /// <summary>
    /// The job the targets define: (N) integers → classification per sequence; (N) or (N, O) floating-point → regression
    /// per sequence; (N, L) integers → classification per step; (N, L, O) floating-point → regression per step.
    /// <paramref name="objective"/> can read integers as values or whole floating-point numbers as class ids; the classes
    /// are 0 … the largest label found (or <paramref name="classes"/>).
    /// </summary>
    /// <param name="inputs">(N, L, F) or (N, L).</param>
    /// <param name="targets">The targets.</param>
    /// <param name="objective">Auto, or the job to force.</param>
    /// <param name="classes">For classification: the number of classes (a test set uses the training set's), or null to count them.</param>
    /// <param name="inputsName">How messages name the inputs (for example <c>--inputs x.npy</c>).</param>
    /// <param name="targetsName">How messages name the targets.</param>
    /// <param name="lengths">(N) valid lengths, or null: labels at padded steps are not counted.</param>
    /// <returns>The job and sizes (labels themselves are checked by <see cref="Create"/>).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> or <paramref name="targets"/> is null.</exception>
    /// <exception cref="ArgumentException">A shape does not fit, the lengths are invalid, or the largest label asks for more than <see cref="MaxClasses"/> classes; the message names the array, the expected and the actual shape or value.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is less than 1.</exception>
    public static DataSpec Describe(NpyArray inputs, NpyArray targets, Objective objective = Objective.Auto, int? classes = null,
        string inputsName = "inputs", string targetsName = "targets", NpyArray? lengths = null)
    {
        if (classes is < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"classes must be at least 1; got {classes}.");
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        var (n, l, f) = InputShape(inputs, inputsName);
        var shape = targets.Shape;
        if (shape.Count == 0 || shape[0] != n)
            throw new ArgumentException($"{targetsName} has shape ({Join(shape)}) but {inputsName} holds {n} sequences: the first dimension must be {n}.", nameof(targets));
        bool classify = objective switch
        {
            Objective.Classification => true,
            Objective.Regression => false,
            _ => targets.IsInteger,
        };
        if (classify)
        {
            bool perStep = shape.Count switch
            {
                1 => false,
                2 when shape[1] == l => true,
                _ => throw new ArgumentException($"{targetsName} has shape ({Join(shape)}); class ids are ({n}) (one per sequence) or ({n}, {l}) (one per step).", nameof(targets)),
            };
            int[]? valid = ReadLengths(lengths, n, l);
            long found = classes ?? LargestLabel(targets, perStep ? l : 1, valid) + 1;
            if (found > MaxClasses)
                throw new ArgumentException($"{targetsName} holds the label {found - 1}: {found} classes, more than the {MaxClasses} a classifier here takes. If these are values, pass --objective regression (Objective.Regression).", nameof(targets));
            return new DataSpec(OutputKind.Classification, perStep, (int)Math.Max(found, 1), f, l);
        }
        int outputs = shape.Count switch
        {
            1 => 1,
            2 => shape[1],
            3 when shape[1] == l => shape[2],
            _ => throw new ArgumentException($"{targetsName} has shape ({Join(shape)}); regression targets are ({n}), ({n}, O) (one per sequence) or ({n}, {l}, O) (one per step).", nameof(targets)),
        };
        if (outputs < 1) throw new ArgumentException($"{targetsName} has shape ({Join(shape)}): no values per target.", nameof(targets));
        return new DataSpec(OutputKind.Regression, shape.Count == 3, outputs, f, l);
    }

    /// <summary>The most classes a classification job may have.</summary>
    public const int MaxClasses = 65_536;

    /// <summary>The largest finite label (whole part) at a valid step; Create checks every label properly.</summary>
    private static long LargestLabel(NpyArray targets, int per, int[]? lengths)
    {
        double largest = 0;
        double[] values = targets.ToFloat64();
        for (int i = 0; i < values.Length; i++)
            if (IsValid(lengths, i / per, i % per) && double.IsFinite(values[i]) && values[i] > largest) largest = values[i];
        return (long)Math.Min(long.MaxValue / 2, Math.Floor(largest));
    }

    /// <summary>Whether step <paramref name="step"/> of sequence <paramref name="sequence"/> is a valid (not padded) step.</summary>
    private static bool IsValid(int[]? lengths, int sequence, int step) => lengths is null || step < lengths[sequence];

    /// <summary>Sets the padded steps of (N, L, width) values to 0 (nothing without lengths).</summary>
    /// <param name="values">(N, L, width), row-major.</param>
    /// <param name="lengths">(N) valid lengths, or null.</param>
    /// <param name="length">L.</param>
    /// <param name="width">Values per step.</param>
    /// <exception cref="ArgumentException"><paramref name="values"/> is not (lengths.Length, L, width).</exception>
    public static void ClearPadding(Span<float> values, int[]? lengths, int length, int width)
    {
        if (lengths is null) return;
        if (values.Length != (long)lengths.Length * length * width)
            throw new ArgumentException($"values has {values.Length} entries; ({lengths.Length}, {length}, {width}) expected.", nameof(values));
        for (int s = 0; s < lengths.Length; s++) values.Slice((s * length + lengths[s]) * width, (length - lengths[s]) * width).Clear();
    }

    /// <summary>Reads and checks a data set for <paramref name="spec"/> (from <see cref="Describe"/>, possibly of another set).</summary>
    /// <param name="spec">The job and sizes; a test set must have the training set's.</param>
    /// <param name="inputs">(N, L, F) or (N, L), any numeric type.</param>
    /// <param name="targets">Targets of the shape <paramref name="spec"/> needs.</param>
    /// <param name="lengths">(N) valid lengths in [1, L] (integers), or null.</param>
    /// <param name="inputsName">How messages name the inputs.</param>
    /// <param name="targetsName">How messages name the targets.</param>
    /// <param name="lengthsName">How messages name the lengths.</param>
    /// <returns>The data.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/>, <paramref name="inputs"/> or <paramref name="targets"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// A shape does not fit <paramref name="spec"/>; an input or target at a valid step is NaN or infinite; a label is
    /// negative, not a whole number or not below the number of classes; a length is outside [1, L]. The message names the
    /// array, the first offending index and the value.
    /// </exception>
    public static ArrayData Create(DataSpec spec, NpyArray inputs, NpyArray targets, NpyArray? lengths = null,
        string inputsName = "inputs", string targetsName = "targets", string lengthsName = "lengths")
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        var (n, l, f) = InputShape(inputs, inputsName);
        if (l != spec.Length || f != spec.Features)
            throw new ArgumentException($"{inputsName} has shape ({Join(inputs.Shape)}) but the model reads sequences of length {spec.Length} with {spec.Features} features: ({n}, {spec.Length}, {spec.Features}) expected.", nameof(inputs));
        int[]? valid = ReadLengths(lengths, n, l, lengthsName);
        bool Valid(int sequence, int step) => IsValid(valid, sequence, step);

        float[] x = ReadInputs(inputs, valid, inputsName);

        var expected = TargetShape(spec, n);
        if (!targets.Shape.SequenceEqual(expected) && !(spec.Output == OutputKind.Regression && !spec.PerStep && spec.Outputs == 1 && targets.Shape.SequenceEqual([n])))
            throw new ArgumentException($"{targetsName} has shape ({Join(targets.Shape)}); ({Join(expected)}) expected for {spec.Description}.", nameof(targets));
        int per = spec.PerStep ? l : 1;
        if (spec.Output == OutputKind.Classification)
        {
            long[] raw;
            try
            {
                raw = targets.IsInteger ? targets.ToInt64() : WholeNumbersAtValidSteps(targets, per, Valid);
            }
            catch (InvalidDataException e)
            {
                throw new ArgumentException($"{targetsName}: {e.Message} Class ids must be whole numbers (or pass --objective regression).", nameof(targets), e);
            }
            var labels = new int[raw.Length];
            for (int i = 0; i < raw.Length; i++)
            {
                if (!Valid(i / per, i % per)) continue;
                if (raw[i] < 0 || raw[i] >= spec.Outputs)
                    throw new ArgumentException($"{targetsName} holds the label {raw[i]} at {targets.IndexText(i)}; labels must be in [0, {spec.Outputs - 1}] (the classes of the training data).", nameof(targets));
                labels[i] = (int)raw[i];
            }
            return new ArrayData(spec, n, x, labels, null, valid);
        }
        float[] y = targets.ToFloat32();
        int o = spec.Outputs;
        for (int i = 0; i < y.Length; i++)
        {
            if (!Valid(i / (per * o), i / o % per))
            {
                y[i] = 0;
                continue;
            }
            if (!float.IsFinite(y[i]))
                throw new ArgumentException($"{targetsName} holds {y[i].ToString(CultureInfo.InvariantCulture)} at {targets.IndexText(i)}; every target must be finite.", nameof(targets));
        }
        return new ArrayData(spec, n, x, null, y, valid);
    }

    /// <summary>The sequences at <paramref name="indices"/>, in that order (copies).</summary>
    /// <param name="indices">Indices in [0, <see cref="Count"/>), at least one.</param>
    /// <returns>The subset.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="indices"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="indices"/> is empty or holds an index out of range.</exception>
    public ArrayData Subset(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Count == 0) throw new ArgumentException("A subset needs at least one sequence.", nameof(indices));
        int l = Spec.Length, xRow = l * Spec.Features, per = Spec.PerStep ? l : 1, yRow = per * (Labels is null ? Spec.Outputs : 1);
        var x = new float[indices.Count * xRow];
        var labels = Labels is null ? null : new int[indices.Count * yRow];
        var values = Values is null ? null : new float[indices.Count * yRow];
        var lengths = Lengths is null ? null : new int[indices.Count];
        for (int j = 0; j < indices.Count; j++)
        {
            int i = indices[j];
            if ((uint)i >= (uint)Count) throw new ArgumentException($"indices[{j}] is {i}; it must be in [0, {Count}).", nameof(indices));
            Inputs.AsSpan(i * xRow, xRow).CopyTo(x.AsSpan(j * xRow));
            Labels?.AsSpan(i * yRow, yRow).CopyTo(labels.AsSpan(j * yRow));
            Values?.AsSpan(i * yRow, yRow).CopyTo(values.AsSpan(j * yRow));
            if (lengths is not null) lengths[j] = Lengths![i];
        }
        return new ArrayData(Spec, indices.Count, x, labels, values, lengths);
    }

    /// <summary>
    /// Holds out <paramref name="fraction"/> of the sequences (rounded, chosen by a seeded shuffle) as a validation split.
    /// </summary>
    /// <param name="fraction">In [0, 1); 0 gives no validation split.</param>
    /// <param name="seed">Seeds the shuffle.</param>
    /// <returns>The training split and the validation split (null when <paramref name="fraction"/> rounds to no sequence).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is outside [0, 1), or leaves no training sequence.</exception>
    public (ArrayData Train, ArrayData? Validation) Split(double fraction, long seed)
    {
        if (!(fraction >= 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, $"The validation split must be in [0, 1); got {fraction}.");
        int held = (int)Math.Round(fraction * Count);
        if (held == 0) return (this, null);
        if (Count - held < 1)
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, $"A validation split of {fraction} holds out {held} of {Count} sequences and leaves the training split empty.");
        int[] order = Enumerable.Range(0, Count).ToArray();
        new Random(unchecked((int)(seed * 7919 + 17))).Shuffle(order);
        int[] validation = order[..held], train = order[held..];
        Array.Sort(validation);
        Array.Sort(train);
        return (Subset(train), Subset(validation));
    }

    /// <summary>Statistics of the inputs over the valid steps (see <see cref="Standardization.Fit"/>).</summary>
    /// <returns>One mean and scale per feature.</returns>
    public Standardization InputStatistics()
    {
        int l = Spec.Length;
        return Standardization.Fit(Inputs, Spec.Features, Lengths is null ? null : r => IsValid(Lengths, r / l, r % l));
    }

    /// <summary>Statistics of the regression targets over the valid steps; null for classification.</summary>
    /// <returns>One mean and scale per output, or null.</returns>
    public Standardization? TargetStatistics()
    {
        if (Values is null) return null;
        int l = Spec.Length;
        return Standardization.Fit(Values, Spec.Outputs, Spec.PerStep && Lengths is not null ? r => IsValid(Lengths, r / l, r % l) : null);
    }

    /// <summary>The data as a training set: inputs (and regression targets) standardised with the given statistics (copies).</summary>
    /// <param name="inputs">Input statistics (of the training split), or null to keep the inputs as they are.</param>
    /// <param name="targets">Target statistics (of the training split), or null.</param>
    /// <returns>The data set.</returns>
    /// <exception cref="ArgumentException">A statistic's width is not the data's (<see cref="DataSpec.Features"/> or <see cref="DataSpec.Outputs"/>).</exception>
    public SequenceDataset<float> ToDataset(Standardization? inputs, Standardization? targets)
    {
        if (inputs is not null && inputs.Features != Spec.Features)
            throw new ArgumentException($"inputs holds statistics of {inputs.Features} features; the data has {Spec.Features}.", nameof(inputs));
        if (targets is not null && (Values is null || targets.Features != Spec.Outputs))
            throw new ArgumentException($"targets holds statistics of {targets.Features} outputs; the data has {(Values is null ? "class labels" : $"{Spec.Outputs} values per target")}.", nameof(targets));
        float[] x = (float[])Inputs.Clone();
        inputs?.Apply(x);
        ClearPadding(x, Lengths, Spec.Length, Spec.Features);
        float[]? y = null;
        if (Values is not null)
        {
            y = (float[])Values.Clone();
            targets?.Apply(y);
            if (Spec.PerStep) ClearPadding(y, Lengths, Spec.Length, Spec.Outputs);
        }
        return new SequenceDataset<float>(Count, Spec.Length, Spec.Features, x, null, Labels is null ? null : (int[])Labels.Clone(), y,
            Spec.Outputs, Spec.PerStep, null, Lengths is null ? null : (int[])Lengths.Clone());
    }

    /// <summary>
    /// The inputs as float32 (N, L, F), checked: every value at a valid step finite (the message gives the first other one
    /// with its index); padded steps set to 0.
    /// </summary>
    /// <param name="inputs">(N, L, F) or (N, L), any numeric type.</param>
    /// <param name="lengths">(N) valid lengths from <see cref="ReadLengths"/>, or null.</param>
    /// <param name="name">How messages name the inputs.</param>
    /// <param name="remedy">What the message of a non-finite value ends with (default: every input must be finite).</param>
    /// <returns>The values, row-major (N, L, F).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape is not a sequence batch, or a value at a valid step is NaN, infinite or beyond the float32 range.</exception>
    public static float[] ReadInputs(NpyArray inputs, int[]? lengths, string name = "inputs", string remedy = "every input must be finite")
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var (_, l, f) = InputShape(inputs, name);
        float[] x = inputs.ToFloat32();
        double[]? wide = inputs.DType == NpyDType.Float64 ? inputs.ToFloat64() : null;
        for (int i = 0; i < x.Length; i++)
        {
            int s = i / (l * f), t = i / f % l;
            if (!IsValid(lengths, s, t))
            {
                x[i] = 0;
                continue;
            }
            if (!float.IsFinite(x[i]))
            {
                double original = wide?[i] ?? x[i];
                string what = double.IsFinite(original) ? $"{original.ToString("R", CultureInfo.InvariantCulture)}, beyond the float32 range," : original.ToString(CultureInfo.InvariantCulture);
                throw new ArgumentException($"{name} holds {what} at {inputs.IndexText(i)}; {remedy}.", nameof(inputs));
            }
        }
        return x;
    }

    /// <summary>Valid lengths, checked: (N) integers in [1, L].</summary>
    /// <param name="lengths">The lengths, or null for none.</param>
    /// <param name="count">N.</param>
    /// <param name="length">L, the padded length.</param>
    /// <param name="name">How messages name the lengths.</param>
    /// <returns>The lengths, or null.</returns>
    /// <exception cref="ArgumentException">The shape is not (N), the values are not integers, or a length is outside [1, L]; the message gives the first.</exception>
    public static int[]? ReadLengths(NpyArray? lengths, int count, int length, string name = "lengths")
    {
        if (lengths is null) return null;
        if (lengths.Shape.Count != 1 || lengths.Shape[0] != count)
            throw new ArgumentException($"{name} has shape ({Join(lengths.Shape)}); ({count}) expected, one length per sequence.", nameof(lengths));
        long[] raw = lengths.IsInteger ? lengths.ToInt64() : throw new ArgumentException($"{name} holds {NpyArray.NumpyName(lengths.DType)} values; lengths are integers.", nameof(lengths));
        var valid = new int[count];
        for (int i = 0; i < count; i++)
        {
            if (raw[i] < 1 || raw[i] > length)
                throw new ArgumentException($"{name}[{i}] is {raw[i]}; every length must be in [1, {length}] (the padded length).", nameof(lengths));
            valid[i] = (int)raw[i];
        }
        return valid;
    }

    /// <summary>The sizes of a sequence batch: (N, L, F) from a shape (N, L, F), or (N, L) for one feature.</summary>
    /// <param name="inputs">The inputs.</param>
    /// <param name="name">How messages name them.</param>
    /// <returns>N, L and F.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="inputs"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape has another rank, or N, L or F is 0.</exception>
    public static (int N, int L, int F) InputShape(NpyArray inputs, string name = "inputs")
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var s = inputs.Shape;
        var (n, l, f) = s.Count switch
        {
            3 => (s[0], s[1], s[2]),
            2 => (s[0], s[1], 1),
            _ => throw new ArgumentException($"{name} has shape ({Join(s)}); (N, L, F) sequences expected (or (N, L) for one feature).", nameof(inputs)),
        };
        if (n < 1 || l < 1 || f < 1)
            throw new ArgumentException($"{name} has shape ({Join(s)}); N, L and F must each be at least 1.", nameof(inputs));
        return (n, l, f);
    }

    private static int[] TargetShape(DataSpec spec, int n) => (spec.Output, spec.PerStep) switch
    {
        (OutputKind.Classification, false) => [n],
        (OutputKind.Classification, true) => [n, spec.Length],
        (_, false) => [n, spec.Outputs],
        _ => [n, spec.Length, spec.Outputs],
    };

    /// <summary>Floating-point class ids as integers, checked only where they count (padded steps may hold anything).</summary>
    private static long[] WholeNumbersAtValidSteps(NpyArray targets, int per, Func<int, int, bool> valid)
    {
        double[] v = targets.ToFloat64();
        var result = new long[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            if (!valid(i / per, i % per)) continue;
            if (!(Math.Floor(v[i]) == v[i] && Math.Abs(v[i]) < 1e15))
                throw new InvalidDataException($"The value {v[i].ToString("R", CultureInfo.InvariantCulture)} at {targets.IndexText(i)} is not a whole number.");
            result[i] = (long)v[i];
        }
        return result;
    }

    private static string Join(IEnumerable<int> shape) => string.Join(", ", shape);
}
