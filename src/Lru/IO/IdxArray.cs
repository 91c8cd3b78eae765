using System.Numerics;

namespace Lru.IO;

/// <summary>An array read from an IDX file: its element type, its shape and its values in row-major order.</summary>
public sealed class IdxArray
{
    internal IdxArray(IdxDataType dataType, int[] shape, Array data)
    {
        DataType = dataType;
        Shape = Array.AsReadOnly(shape);
        Data = data;
    }

    /// <summary>The element type stored in the file.</summary>
    public IdxDataType DataType { get; }

    /// <summary>The length of every dimension, row-major (for MNIST images: count, 28, 28).</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The number of elements (the product of <see cref="Shape"/>).</summary>
    public int Length => Data.Length;

    /// <summary>
    /// The values in host byte order, as an array of the element type: <see cref="byte"/>[] for
    /// <see cref="IdxDataType.UInt8"/>, <see cref="sbyte"/>[] for <see cref="IdxDataType.Int8"/>,
    /// <see cref="short"/>[], <see cref="int"/>[], <see cref="float"/>[] or <see cref="double"/>[]
    /// for the others. Not copied: changes are visible to later conversions.
    /// </summary>
    public Array Data { get; }

    /// <summary>The values of an <see cref="IdxDataType.UInt8"/> array (not copied).</summary>
    /// <returns>The bytes, row-major.</returns>
    /// <exception cref="InvalidOperationException">The array holds another type.</exception>
    public byte[] AsBytes() => DataType == IdxDataType.UInt8
        ? (byte[])Data
        : throw new InvalidOperationException($"The IDX array holds {DataType} values, not UInt8; use Data or ToFloat32.");

    /// <summary>
    /// The values as a new <see cref="float"/> array: each value times <paramref name="scale"/>, computed in
    /// <see cref="double"/> and rounded to <see cref="float"/> (so with scale 1, Float32 data is copied
    /// exactly). For example, <c>ToFloat32(1.0 / 255)</c> maps MNIST pixels to [0, 1].
    /// </summary>
    /// <param name="scale">The factor applied to every value.</param>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is not finite.</exception>
    public float[] ToFloat32(double scale = 1)
    {
        CheckScale(scale);
        var result = new float[Length];
        // Dispatch on DataType, not on the array's runtime type: the CLR lets an sbyte[] pass a byte[] test.
        switch (DataType)
        {
            case IdxDataType.UInt8: Scale((byte[])Data, result, scale); break;
            case IdxDataType.Int8: Scale((sbyte[])Data, result, scale); break;
            case IdxDataType.Int16: Scale((short[])Data, result, scale); break;
            case IdxDataType.Int32: Scale((int[])Data, result, scale); break;
            case IdxDataType.Float32 when scale == 1: ((float[])Data).CopyTo(result, 0); break; // bit for bit, NaN payloads included
            case IdxDataType.Float32: Scale((float[])Data, result, scale); break;
            default: Scale((double[])Data, result, scale); break;
        }
        return result;
    }

    /// <summary>The values as a new <see cref="double"/> array: each value times <paramref name="scale"/>.</summary>
    /// <param name="scale">The factor applied to every value.</param>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is not finite.</exception>
    public double[] ToFloat64(double scale = 1)
    {
        CheckScale(scale);
        var result = new double[Length];
        switch (DataType)
        {
            case IdxDataType.UInt8: Scale((byte[])Data, result, scale); break;
            case IdxDataType.Int8: Scale((sbyte[])Data, result, scale); break;
            case IdxDataType.Int16: Scale((short[])Data, result, scale); break;
            case IdxDataType.Int32: Scale((int[])Data, result, scale); break;
            case IdxDataType.Float32: Scale((float[])Data, result, scale); break;
            case IdxDataType.Float64 when scale == 1: ((double[])Data).CopyTo(result, 0); break;
            default: Scale((double[])Data, result, scale); break;
        }
        return result;
    }

    private static void CheckScale(double scale)
    {
        if (!double.IsFinite(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, $"scale is {scale}; it must be finite.");
    }

    private static void Scale<T>(T[] source, float[] result, double scale) where T : INumberBase<T>
    {
        for (int i = 0; i < source.Length; i++) result[i] = (float)(double.CreateTruncating(source[i]) * scale);
    }

    private static void Scale<T>(T[] source, double[] result, double scale) where T : INumberBase<T>
    {
        for (int i = 0; i < source.Length; i++) result[i] = double.CreateTruncating(source[i]) * scale;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{DataType} ({string.Join(", ", Shape)})";
}
