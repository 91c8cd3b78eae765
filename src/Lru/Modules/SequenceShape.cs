namespace Lru.Modules;

/// <summary>
/// The shape of the sequences of one call: <see cref="Batch"/> sequences of <see cref="Length"/> time steps, and
/// optionally the valid length of each (sequences padded to a common length). A module's input is
/// (Batch, Length, InputFeatures), row-major; its <see cref="Rows"/> = Batch·Length time steps are the rows of every
/// matrix product.
/// </summary>
/// <remarks>
/// Padding is a property of the data, not of a module: most modules treat every step alike and ignore
/// <see cref="Lengths"/>; pooling uses it to leave padded steps out, and losses take a mask. The constructor checks
/// every value, so a shape that exists is valid.
/// </remarks>
public readonly ref struct SequenceShape
{
    /// <summary>Creates and checks a shape.</summary>
    /// <param name="batch">B, at least 0.</param>
    /// <param name="length">L, at least 0.</param>
    /// <param name="lengths">Empty when every sequence has all L steps; otherwise (B) valid lengths, each in [1, L].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative, B·L exceeds <see cref="int.MaxValue"/>, or a valid length is outside [1, L] (the message gives its index and value).</exception>
    /// <exception cref="ArgumentException"><paramref name="lengths"/> is neither empty nor of length B.</exception>
    public SequenceShape(int batch, int length, ReadOnlySpan<int> lengths = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if ((long)batch * length > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"batch·length = {batch}·{length} exceeds {int.MaxValue} time steps.");
        if (!lengths.IsEmpty)
        {
            Guard.Length(lengths.Length, nameof(lengths), "batch", batch);
            for (int b = 0; b < batch; b++)
            {
                if (lengths[b] < 1 || lengths[b] > length)
                    throw new ArgumentOutOfRangeException(nameof(lengths), lengths[b], $"lengths[{b}] is {lengths[b]}; every valid length must be in [1, {length}].");
            }
        }
        Batch = batch;
        Length = length;
        Lengths = lengths;
    }

    /// <summary>B, the number of sequences.</summary>
    public int Batch { get; }

    /// <summary>L, the (padded) number of time steps of every sequence.</summary>
    public int Length { get; }

    /// <summary>Empty, or (B) valid lengths in [1, L].</summary>
    public ReadOnlySpan<int> Lengths { get; }

    /// <summary>B·L, the number of time steps.</summary>
    public int Rows => Batch * Length;

    /// <summary>The valid length of sequence <paramref name="b"/>: <c>Lengths[b]</c>, or L without lengths.</summary>
    /// <param name="b">A sequence index in [0, B).</param>
    /// <returns>The number of valid steps.</returns>
    public int ValidLength(int b) => Lengths.IsEmpty ? Length : Lengths[b];

    /// <summary>The shape after a module that reduces every sequence to one step: (B, 1), without lengths.</summary>
    public SequenceShape Pooled => new(Batch, 1);

    /// <inheritdoc/>
    public override string ToString() => Lengths.IsEmpty ? $"({Batch}, {Length})" : $"({Batch}, {Length}) with lengths";
}
