namespace Lru.IO;

/// <summary>One tensor's entry in a safetensors header: name, element type, shape and where its bytes are.</summary>
public sealed class SafeTensorInfo
{
    internal SafeTensorInfo(string name, SafeTensorsDType dtype, int[] shape, long elementCount, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        Shape = Array.AsReadOnly(shape);
        ElementCount = elementCount;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's name (its key in the header).</summary>
    public string Name { get; }

    /// <summary>The element type as stored in the file.</summary>
    public SafeTensorsDType DType { get; }

    /// <summary>The length of every dimension, row-major; empty for a scalar.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>The first byte of the tensor's data, relative to the start of the data section.</summary>
    public long DataBegin { get; }

    /// <summary>One past the last byte of the tensor's data, relative to the start of the data section.</summary>
    public long DataEnd { get; }

    /// <summary>The size of the tensor's data in bytes: <see cref="DataEnd"/> − <see cref="DataBegin"/>.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {SafeTensorsDTypes.Name(DType)} [{string.Join(", ", Shape)}]";
}
