namespace Lru.IO;

/// <summary>The .npy element types this library reads and writes.</summary>
public enum NpyDType
{
    /// <summary>Little-endian IEEE 754 binary32, NumPy descr <c>'&lt;f4'</c>.</summary>
    Float32,

    /// <summary>Little-endian IEEE 754 binary64, NumPy descr <c>'&lt;f8'</c>.</summary>
    Float64,
}
