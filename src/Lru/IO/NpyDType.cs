namespace Lru.IO;

/// <summary>The .npy element types this library reads and writes (all little-endian, C order).</summary>
public enum NpyDType
{
    /// <summary>IEEE 754 binary32, NumPy descr <c>'&lt;f4'</c>.</summary>
    Float32,

    /// <summary>IEEE 754 binary64, NumPy descr <c>'&lt;f8'</c>.</summary>
    Float64,

    /// <summary>Signed 8-bit integer, NumPy descr <c>'|i1'</c>.</summary>
    Int8,

    /// <summary>Signed 16-bit integer, NumPy descr <c>'&lt;i2'</c>.</summary>
    Int16,

    /// <summary>Signed 32-bit integer, NumPy descr <c>'&lt;i4'</c>.</summary>
    Int32,

    /// <summary>Signed 64-bit integer, NumPy descr <c>'&lt;i8'</c> (NumPy's default integer on Linux).</summary>
    Int64,

    /// <summary>Unsigned 8-bit integer, NumPy descr <c>'|u1'</c>.</summary>
    UInt8,

    /// <summary>Unsigned 16-bit integer, NumPy descr <c>'&lt;u2'</c>.</summary>
    UInt16,

    /// <summary>Unsigned 32-bit integer, NumPy descr <c>'&lt;u4'</c>.</summary>
    UInt32,

    /// <summary>Unsigned 64-bit integer, NumPy descr <c>'&lt;u8'</c>.</summary>
    UInt64,

    /// <summary>Boolean stored as one byte that is 0 or 1, NumPy descr <c>'|b1'</c>.</summary>
    Bool,
}
