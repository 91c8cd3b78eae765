namespace Lru.IO;

/// <summary>A C-order (row-major) array of <see cref="float"/> or <see cref="double"/> values as stored in a .npy file.</summary>
public sealed class NpyArray
{
    private readonly float[]? _single;
    private readonly double[]? _double;

    /// <summary>Wraps <see cref="float"/> values (no copy) as an array of the given shape.</summary>
    /// <param name="data">The values, row-major; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension, each at least 0; empty for a scalar (one value).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A length is negative, there are more than <see cref="NpyFile.MaxDimensions"/>, or the shape does not match the data.</exception>
    public NpyArray(float[] data, params int[] shape)
        : this(NpyDType.Float32, data?.Length ?? throw new ArgumentNullException(nameof(data)), shape)
    {
        _single = data;
    }

    /// <summary>Wraps <see cref="double"/> values (no copy) as an array of the given shape.</summary>
    /// <param name="data">The values, row-major; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension, each at least 0; empty for a scalar (one value).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A length is negative, there are more than <see cref="NpyFile.MaxDimensions"/>, or the shape does not match the data.</exception>
    public NpyArray(double[] data, params int[] shape)
        : this(NpyDType.Float64, data?.Length ?? throw new ArgumentNullException(nameof(data)), shape)
    {
        _double = data;
    }

    private NpyArray(NpyDType dtype, int length, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length > NpyFile.MaxDimensions)
            throw new ArgumentException($"shape has {shape.Length} dimensions, more than the limit of {NpyFile.MaxDimensions}.", nameof(shape));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape ({string.Join(", ", shape)}) has a negative length.", nameof(shape));
            count = Math.Min(count * d, long.MaxValue / int.MaxValue);
        }
        if (count != length)
            throw new ArgumentException($"data has {length} values but shape ({string.Join(", ", shape)}) needs {count}.", nameof(shape));
        DType = dtype;
        Shape = Array.AsReadOnly((int[])shape.Clone());
    }

    /// <summary>The element type.</summary>
    public NpyDType DType { get; }

    /// <summary>The length of every dimension, row-major; empty for a scalar.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The number of values (the product of <see cref="Shape"/>).</summary>
    public int Length => _single?.Length ?? _double!.Length;

    /// <summary>The values as a new <see cref="float"/> array; <see cref="NpyDType.Float64"/> values are rounded to the nearest float.</summary>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    public float[] ToFloat32()
    {
        if (_single is not null) return (float[])_single.Clone();
        var result = new float[_double!.Length];
        for (int i = 0; i < result.Length; i++) result[i] = (float)_double[i];
        return result;
    }

    /// <summary>The values as a new <see cref="double"/> array (<see cref="NpyDType.Float32"/> widens exactly).</summary>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    public double[] ToFloat64()
    {
        if (_double is not null) return (double[])_double.Clone();
        var result = new double[_single!.Length];
        for (int i = 0; i < result.Length; i++) result[i] = _single[i];
        return result;
    }

    /// <summary>Writes the values little-endian.</summary>
    internal void WriteData(Stream stream)
    {
        if (_single is not null) BlockIO.WriteLittleEndian<float>(stream, _single);
        else BlockIO.WriteLittleEndian<double>(stream, _double!);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{(DType == NpyDType.Float32 ? "float32" : "float64")} ({string.Join(", ", Shape)})";
}
