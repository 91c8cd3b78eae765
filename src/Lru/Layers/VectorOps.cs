using System.Numerics;
using System.Runtime.CompilerServices;

namespace Lru.Layers;

/// <summary>Small generic helpers for the <see cref="Vector{T}"/> loops of the elementwise layers.</summary>
internal static class VectorOps
{
    /// <summary>
    /// <c>a·b + c</c> with a single rounding for <see cref="float"/> and <see cref="double"/> (matching
    /// <c>T.FusedMultiplyAdd</c> in the scalar tails), and <c>a·b + c</c> otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> FusedMultiplyAdd<T>(Vector<T> a, Vector<T> b, Vector<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), c.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), c.As<T, double>()).As<double, T>();
        return a * b + c;
    }
}
