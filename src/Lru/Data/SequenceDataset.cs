using System.Numerics;

namespace Lru.Data;

/// <summary>
/// A labelled set of sequences of one length L, held in memory: real-valued inputs (count, L, features) or
/// token ids (count, L); optional valid lengths for padded sequences; targets that are class ids or real values,
/// one per sequence or one per time step (with a mask of the steps that count).
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class SequenceDataset<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a dataset; arrays are used as given (not copied).</summary>
    /// <param name="count">The number of sequences, at least 1.</param>
    /// <param name="length">The sequence length L, at least 1.</param>
    /// <param name="features">Real-valued features per step, or 0 for token inputs.</param>
    /// <param name="inputs">(count, L, features) when <paramref name="features"/> &gt; 0; otherwise null.</param>
    /// <param name="tokens">(count, L) token ids when <paramref name="features"/> is 0; otherwise null.</param>
    /// <param name="classTargets">Class ids: (count) per sequence or (count, L) per step; null for regression.</param>
    /// <param name="valueTargets">Regression or multi-label (0/1) targets: (count, outputs) or (count, L, outputs); null for classification.</param>
    /// <param name="outputs">Values per regression target (ignored for classification).</param>
    /// <param name="perStep">True when targets are per time step (a model without pooling).</param>
    /// <param name="stepMask">With <paramref name="perStep"/>: (count, L) flags of the steps that count in the loss; null for all.</param>
    /// <param name="lengths">(count) valid lengths in [1, L] for padded sequences; null when all are L.</param>
    /// <exception cref="ArgumentException">An array is missing or its length does not match the shape, or an input or value target is NaN or infinite (the message gives its position and value).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/>, <paramref name="length"/>, <paramref name="features"/> or <paramref name="outputs"/> is out of range, or a valid length is outside [1, L].</exception>
    public SequenceDataset(int count, int length, int features, T[]? inputs, int[]? tokens, int[]? classTargets, T[]? valueTargets,
        int outputs = 1, bool perStep = false, bool[]? stepMask = null, int[]? lengths = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(features);
        int targetRows = perStep ? count * length : count;
        if (features > 0)
        {
            if (inputs is null) throw new ArgumentException("Real-valued data needs inputs.", nameof(inputs));
            Guard.Length(inputs.Length, nameof(inputs), "count, length, features", count, length, features);
            CheckFinite(inputs, nameof(inputs));
        }
        else
        {
            if (tokens is null) throw new ArgumentException("Token data (features = 0) needs tokens.", nameof(tokens));
            Guard.Length(tokens.Length, nameof(tokens), "count, length", count, length);
        }
        if ((classTargets is null) == (valueTargets is null))
            throw new ArgumentException("Give exactly one of classTargets (classification) and valueTargets (regression).", nameof(classTargets));
        if (classTargets is not null) Guard.Length(classTargets.Length, nameof(classTargets), perStep ? "count, length" : "count", targetRows);
        if (valueTargets is not null)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
            Guard.Length(valueTargets.Length, nameof(valueTargets), perStep ? "count, length, outputs" : "count, outputs", targetRows, outputs);
            CheckFinite(valueTargets, nameof(valueTargets));
        }
        if (stepMask is not null)
        {
            if (!perStep) throw new ArgumentException("A step mask needs per-step targets.", nameof(stepMask));
            Guard.Length(stepMask.Length, nameof(stepMask), "count, length", count, length);
        }
        if (lengths is not null)
        {
            Guard.Length(lengths.Length, nameof(lengths), "count", count);
            for (int i = 0; i < count; i++)
                if (lengths[i] < 1 || lengths[i] > length)
                    throw new ArgumentOutOfRangeException(nameof(lengths), lengths[i], $"lengths[{i}] is {lengths[i]}; it must be in [1, {length}].");
        }
        (Count, Length, Features, Inputs, Tokens, ClassTargets, ValueTargets, Outputs, PerStep, StepMask, Lengths) =
            (count, length, features, inputs, tokens, classTargets, valueTargets, valueTargets is null ? 0 : outputs, perStep, stepMask, lengths);
    }

    private static void CheckFinite(T[] values, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i]))
                throw new ArgumentException($"{name}[{i}] (flat index) is {values[i]}; every value must be finite.", name);
        }
    }

    /// <summary>The number of sequences.</summary>
    public int Count { get; }

    /// <summary>The sequence length L.</summary>
    public int Length { get; }

    /// <summary>Real-valued features per step; 0 for token inputs.</summary>
    public int Features { get; }

    /// <summary>(Count, L, Features) real-valued inputs, or null.</summary>
    public T[]? Inputs { get; }

    /// <summary>(Count, L) token ids, or null.</summary>
    public int[]? Tokens { get; }

    /// <summary>Class ids per sequence or per step, or null for regression.</summary>
    public int[]? ClassTargets { get; }

    /// <summary>Regression targets, or null for classification.</summary>
    public T[]? ValueTargets { get; }

    /// <summary>Values per regression target; 0 for classification.</summary>
    public int Outputs { get; }

    /// <summary>True when targets are per time step.</summary>
    public bool PerStep { get; }

    /// <summary>(Count, L) flags of the steps that count, or null for all.</summary>
    public bool[]? StepMask { get; }

    /// <summary>(Count) valid lengths, or null when all are L.</summary>
    public int[]? Lengths { get; }
}
