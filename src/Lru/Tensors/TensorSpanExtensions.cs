using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Lru.Tensors;

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
