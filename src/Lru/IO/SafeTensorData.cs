namespace Lru.IO;

/// <summary>
/// One tensor to write with <see cref="SafeTensorsWriter"/>: a name, a shape and the values, either
/// <see cref="float"/> (written as F32) or <see cref="double"/> (written as F64).
/// </summary>
/// <remarks>The values are not copied: do not change the array until it has been written.</remarks>
public sealed class SafeTensorData
{
    private readonly float[]? _single;
    private readonly double[]? _double;

    /// <summary>A tensor of <see cref="float"/> values, written as F32.</summary>
    /// <param name="name">The tensor's name; not <see cref="SafeTensorsFile.MetadataKey"/>.</param>
    /// <param name="data">The values, row-major; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension, each at least 0; empty for a scalar.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The name is reserved, a length is negative, or the shape does not match the data.</exception>
    public SafeTensorData(string name, float[] data, params int[] shape)
        : this(name, SafeTensorsDType.F32, data?.Length ?? throw new ArgumentNullException(nameof(data)), shape)
    {
        _single = data;
    }

    /// <summary>A tensor of <see cref="double"/> values, written as F64.</summary>
    /// <param name="name">The tensor's name; not <see cref="SafeTensorsFile.MetadataKey"/>.</param>
    /// <param name="data">The values, row-major; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension, each at least 0; empty for a scalar.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The name is reserved, a length is negative, or the shape does not match the data.</exception>
    public SafeTensorData(string name, double[] data, params int[] shape)
        : this(name, SafeTensorsDType.F64, data?.Length ?? throw new ArgumentNullException(nameof(data)), shape)
    {
        _double = data;
    }

    /// <summary>A tensor of <see cref="float"/> (F32) or <see cref="double"/> (F64) values.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="name">The tensor's name.</param>
    /// <param name="data">The values, row-major.</param>
    /// <param name="shape">The length of every dimension.</param>
    /// <returns>The tensor to write.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The name is reserved, a length is negative, or the shape does not match the data.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither float nor double.</exception>
    public static SafeTensorData Create<T>(string name, T[] data, params int[] shape) where T : unmanaged => data switch
    {
        float[] f => new SafeTensorData(name, f, shape),
        double[] d => new SafeTensorData(name, d, shape),
        null => throw new ArgumentNullException(nameof(data)),
        _ => throw new NotSupportedException($"safetensors are written from float or double, not {typeof(T).Name}."),
    };

    private SafeTensorData(string name, SafeTensorsDType dtype, int length, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == SafeTensorsFile.MetadataKey)
            throw new ArgumentException($"name '{name}' is reserved for the metadata.", nameof(name));
        if (shape.Length > SafeTensorsFile.MaxDimensions)
            throw new ArgumentException($"Tensor '{name}' has {shape.Length} dimensions, more than the limit of {SafeTensorsFile.MaxDimensions}.", nameof(shape));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor '{name}' has shape ({string.Join(", ", shape)}); every length must be at least 0.", nameof(shape));
            count = Math.Min(count * d, long.MaxValue / int.MaxValue);
        }
        if (count != length)
            throw new ArgumentException($"Tensor '{name}' has {length} values but shape ({string.Join(", ", shape)}) needs {count}.", nameof(shape));
        Name = name;
        DType = dtype;
        Shape = Array.AsReadOnly((int[])shape.Clone());
        ElementCount = length;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The dtype it is written as: <see cref="SafeTensorsDType.F32"/> or <see cref="SafeTensorsDType.F64"/>.</summary>
    public SafeTensorsDType DType { get; }

    /// <summary>The length of every dimension, row-major.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The number of values.</summary>
    public int ElementCount { get; }

    /// <summary>The size of the data in the file, in bytes.</summary>
    public long ByteLength => (long)ElementCount * SafeTensorsDTypes.Size(DType);

    /// <summary>Writes the values little-endian.</summary>
    internal void WriteTo(Stream stream)
    {
        if (_single is not null) BlockIO.WriteLittleEndian<float>(stream, _single);
        else BlockIO.WriteLittleEndian<double>(stream, _double!);
    }
}
