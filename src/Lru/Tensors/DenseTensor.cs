using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Lru.Tensors;

/// <summary>
/// A dense, row-major tensor over one contiguous managed array, with a checked shape.
/// Use <c>float</c> for models and <c>double</c> for verification.
/// </summary>
/// <remarks>
/// Conversions are zero-copy: <see cref="AsTensor"/> and <see cref="AsTensorSpan"/> wrap the same
/// array in the <c>System.Numerics.Tensors</c> types, <see cref="Span"/> exposes it as a span, and
/// <see cref="DenseTensor{T}(T[], int[])"/> wraps an existing array.
/// </remarks>
/// <typeparam name="T">The element type.</typeparam>
public sealed class DenseTensor<T> where T : unmanaged
{
    private readonly int[] _shape;

    /// <summary>Allocates a zero-filled tensor of the given shape.</summary>
    /// <param name="shape">The length of every dimension; each at least 0.</param>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="shape"/> is empty, has a negative length, or has more than <see cref="Array.MaxLength"/> elements.</exception>
    public DenseTensor(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        _shape = (int[])shape.Clone();
        Data = new T[checked((int)ElementCount(_shape, nameof(shape)))];
    }

    /// <summary>Wraps <paramref name="data"/> (no copy) as a tensor of the given shape.</summary>
    /// <param name="data">The elements in row-major order; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension.</param>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">The shape is invalid or does not match <paramref name="data"/>'s length.</exception>
    public DenseTensor(T[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        _shape = (int[])shape.Clone();
        long n = ElementCount(_shape, nameof(shape));
        if (n != data.Length)
            throw new ArgumentException(
                $"data has {data.Length} elements but shape ({string.Join(", ", _shape)}) needs {n}.", nameof(data));
        Data = data;
    }

    /// <summary>The backing array, row-major. Writes through it are visible in the tensor.</summary>
    public T[] Data { get; }

    /// <summary>The length of every dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The total number of elements.</summary>
    public int Length => Data.Length;

    /// <summary>The elements as a span, row-major.</summary>
    public Span<T> Span => Data;

    /// <summary>Gets or sets the element at a rank-2 index.</summary>
    /// <param name="i">The index in dimension 0, in [0, Dim(0)).</param>
    /// <param name="j">The index in dimension 1, in [0, Dim(1)).</param>
    /// <exception cref="InvalidOperationException">The tensor is not rank 2.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside its dimension (the message gives the index and the shape).</exception>
    public ref T this[int i, int j] => ref Data[Offset(i, j)];

    /// <summary>Gets or sets the element at a rank-3 index.</summary>
    /// <param name="i">The index in dimension 0, in [0, Dim(0)).</param>
    /// <param name="j">The index in dimension 1, in [0, Dim(1)).</param>
    /// <param name="k">The index in dimension 2, in [0, Dim(2)).</param>
    /// <exception cref="InvalidOperationException">The tensor is not rank 3.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside its dimension (the message gives the index and the shape).</exception>
    public ref T this[int i, int j, int k] => ref Data[Offset(i, j, k)];

    /// <summary>The length of dimension <paramref name="dimension"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimension"/> is not in [0, Rank).</exception>
    public int Dim(int dimension)
    {
        if ((uint)dimension >= (uint)_shape.Length)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, $"The tensor has rank {_shape.Length}.");
        return _shape[dimension];
    }

    /// <summary>Wraps the same array as a <see cref="Tensor{T}"/> without copying.</summary>
    public Tensor<T> AsTensor() => Tensor.Create(Data, Lengths());

    /// <summary>Wraps the same array as a <see cref="TensorSpan{T}"/> without copying.</summary>
    public TensorSpan<T> AsTensorSpan() => new(Data, Lengths());

    /// <summary>Wraps the same array as a <see cref="ReadOnlyTensorSpan{T}"/> without copying.</summary>
    public ReadOnlyTensorSpan<T> AsReadOnlyTensorSpan() => new(Data, Lengths());

    /// <summary>Returns a view of the same array with another shape of equal element count (no copy).</summary>
    /// <param name="shape">The new shape.</param>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">The element counts differ or the shape is invalid.</exception>
    public DenseTensor<T> Reshape(params int[] shape) => new(Data, shape);

    /// <summary>Copies a dense <see cref="ReadOnlyTensorSpan{T}"/> (for example from a <see cref="Tensor{T}"/>) into a new tensor.</summary>
    /// <param name="source">The source; any strides are honoured.</param>
    /// <exception cref="ArgumentException">A dimension of <paramref name="source"/> exceeds <see cref="int.MaxValue"/>.</exception>
    public static DenseTensor<T> CopyFrom(in ReadOnlyTensorSpan<T> source)
    {
        var shape = new int[source.Rank];
        for (int d = 0; d < shape.Length; d++) shape[d] = checked((int)source.Lengths[d]);
        var result = new DenseTensor<T>(shape);
        source.FlattenTo(result.Data);
        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => $"DenseTensor<{typeof(T).Name}>({string.Join(", ", _shape)})";

    private nint[] Lengths()
    {
        var lengths = new nint[_shape.Length];
        for (int d = 0; d < lengths.Length; d++) lengths[d] = _shape[d];
        return lengths;
    }

    private int Offset(int i, int j)
    {
        if (_shape.Length != 2) throw new InvalidOperationException($"The tensor has rank {_shape.Length}, not 2.");
        CheckIndex(i, 0, nameof(i));
        CheckIndex(j, 1, nameof(j));
        return i * _shape[1] + j;
    }

    private int Offset(int i, int j, int k)
    {
        if (_shape.Length != 3) throw new InvalidOperationException($"The tensor has rank {_shape.Length}, not 3.");
        CheckIndex(i, 0, nameof(i));
        CheckIndex(j, 1, nameof(j));
        CheckIndex(k, 2, nameof(k));
        return (i * _shape[1] + j) * _shape[2] + k;
    }

    private void CheckIndex(int index, int dimension, string name)
    {
        if ((uint)index >= (uint)_shape[dimension])
            throw new ArgumentOutOfRangeException(name, index,
                $"{name} is {index} but dimension {dimension} of shape ({string.Join(", ", _shape)}) needs an index in [0, {_shape[dimension]}).");
    }

    private static long ElementCount(int[] shape, string paramName)
    {
        if (shape.Length == 0) throw new ArgumentException("A tensor needs at least one dimension.", paramName);
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Dimension lengths must be non-negative; got ({string.Join(", ", shape)}).", paramName);
            n *= d;
            if (n > Array.MaxLength)
                throw new ArgumentException($"Shape ({string.Join(", ", shape)}) has more than {Array.MaxLength} elements.", paramName);
        }
        return n;
    }
}

/// <summary>Zero-copy access to the memory behind <c>System.Numerics.Tensors</c> spans.</summary>
public static class TensorSpanExtensions
{
    /// <summary>The elements of a dense tensor span as a flat row-major span (no copy).</summary>
    /// <param name="tensor">A dense tensor span.</param>
    /// <param name="paramName">The argument name used in exception messages.</param>
    /// <exception cref="ArgumentException"><paramref name="tensor"/> is not dense (it has gaps or broadcast strides).</exception>
    public static ReadOnlySpan<T> AsFlatSpan<T>(this in ReadOnlyTensorSpan<T> tensor, string paramName = "tensor")
    {
        if (!tensor.IsDense)
            throw new ArgumentException("The tensor span must be dense (contiguous, row-major, no broadcast strides).", paramName);
        return MemoryMarshal.CreateReadOnlySpan(ref System.Runtime.CompilerServices.Unsafe.AsRef(in tensor.GetPinnableReference()), checked((int)tensor.FlattenedLength));
    }

    /// <summary>The elements of a dense tensor span as a flat writable row-major span (no copy).</summary>
    /// <param name="tensor">A dense tensor span.</param>
    /// <param name="paramName">The argument name used in exception messages.</param>
    /// <exception cref="ArgumentException"><paramref name="tensor"/> is not dense.</exception>
    public static Span<T> AsFlatSpan<T>(this in TensorSpan<T> tensor, string paramName = "tensor")
    {
        if (!tensor.IsDense)
            throw new ArgumentException("The tensor span must be dense (contiguous, row-major, no broadcast strides).", paramName);
        return MemoryMarshal.CreateSpan(ref tensor.GetPinnableReference(), checked((int)tensor.FlattenedLength));
    }
}
