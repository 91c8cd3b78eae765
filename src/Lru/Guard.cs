namespace Lru;

/// <summary>Argument checks with messages that name the argument and give the expected and actual values.</summary>
internal static class Guard
{
    /// <summary>
    /// Checks that a flat span of length <paramref name="actual"/> holds a tensor of the named shape.
    /// Allocates nothing unless it throws.
    /// </summary>
    /// <param name="actual">The span's length.</param>
    /// <param name="paramName">The argument's name.</param>
    /// <param name="dimNames">The dimensions' names, for example "batch, length, H".</param>
    /// <param name="dims">The dimensions' lengths.</param>
    public static void Length(long actual, string paramName, string dimNames, params ReadOnlySpan<long> dims)
    {
        long expected = 1;
        foreach (long d in dims) expected *= d;
        if (actual != expected) ThrowLength(actual, expected, paramName, dimNames, dims.ToArray());
    }

    /// <summary>
    /// Checks the arguments of a sequence-to-sequence call: <paramref name="batch"/> and <paramref name="length"/>
    /// are not negative and the spans <c>input</c> and <c>output</c> both hold (batch, length, H) values.
    /// </summary>
    /// <param name="inputLength">The length of the span named <c>input</c>.</param>
    /// <param name="outputLength">The length of the span named <c>output</c>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <param name="h">The features per step H.</param>
    public static void SequencePair(long inputLength, long outputLength, int batch, int length, int h)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length(inputLength, "input", "batch, length, H", batch, length, h);
        Length(outputLength, "output", "batch, length, H", batch, length, h);
    }

    private static void ThrowLength(long actual, long expected, string paramName, string dimNames, long[] dims) =>
        throw new ArgumentException(
            $"{paramName} has length {actual} but shape ({dimNames}) = ({string.Join(", ", dims)}) needs {expected}.", paramName);

    /// <summary>Checks a (B, L, H) shape and returns (B, L).</summary>
    public static (int Batch, int Length) SequenceShape(ReadOnlySpan<nint> lengths, int hidden, string paramName)
    {
        if (lengths.Length != 3 || lengths[2] != hidden || lengths[0] > int.MaxValue || lengths[1] > int.MaxValue)
            throw new ArgumentException($"{paramName} has shape ({string.Join(", ", lengths.ToArray())}) but (batch, length, {hidden}) is required.", paramName);
        return ((int)lengths[0], (int)lengths[1]);
    }

    /// <summary>Checks that a tensor's lengths are exactly <paramref name="expected"/>; allocates nothing unless it throws.</summary>
    /// <param name="actual">The tensor's lengths.</param>
    /// <param name="paramName">The argument's name.</param>
    /// <param name="dimNames">The dimensions' names, for example "batch, 2N".</param>
    /// <param name="expected">The lengths required.</param>
    public static void TensorShape(ReadOnlySpan<nint> actual, string paramName, string dimNames, params ReadOnlySpan<long> expected)
    {
        bool same = actual.Length == expected.Length;
        for (int d = 0; same && d < expected.Length; d++) same = actual[d] == expected[d];
        if (!same)
            throw new ArgumentException(
                $"{paramName} has shape ({string.Join(", ", actual.ToArray())}) but ({dimNames}) = ({string.Join(", ", expected.ToArray())}) is required.", paramName);
    }

    /// <summary>Checks a (B, L, H) shape and returns (B, L).</summary>
    public static (int Batch, int Length) SequenceShape(ReadOnlySpan<int> lengths, int hidden, string paramName)
    {
        if (lengths.Length != 3 || lengths[2] != hidden)
            throw new ArgumentException($"{paramName} has shape ({string.Join(", ", lengths.ToArray())}) but (batch, length, {hidden}) is required.", paramName);
        return (lengths[0], lengths[1]);
    }
}
