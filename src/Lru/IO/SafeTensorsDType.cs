namespace Lru.IO;

/// <summary>
/// The safetensors element types this library reads (all four) and writes (<see cref="F32"/> and
/// <see cref="F64"/>). Each member is named exactly as the <c>dtype</c> string in a file's header.
/// Every other dtype (<c>BOOL</c>, <c>U8</c>, <c>I8</c>, <c>I16</c>, <c>I32</c>, <c>I64</c>, the 8-bit
/// floats, ...) is refused by <see cref="SafeTensorsFile"/> with a message that names it.
/// </summary>
public enum SafeTensorsDType
{
    /// <summary>IEEE 754 binary16 (<see cref="Half"/>), 2 bytes little-endian.</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of an IEEE 754 binary32, 2 bytes little-endian.</summary>
    BF16,

    /// <summary>IEEE 754 binary32 (<see cref="float"/>), 4 bytes little-endian.</summary>
    F32,

    /// <summary>IEEE 754 binary64 (<see cref="double"/>), 8 bytes little-endian.</summary>
    F64,
}

/// <summary>Sizes and names of <see cref="SafeTensorsDType"/>.</summary>
internal static class SafeTensorsDTypes
{
    /// <summary>The supported names as they appear in a header, for messages.</summary>
    public const string SupportedNames = "F16, BF16, F32, F64";

    /// <summary>Bytes per element.</summary>
    public static int Size(SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.F32 => 4,
        SafeTensorsDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>The header string for <paramref name="dtype"/>.</summary>
    public static string Name(SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F16 => "F16",
        SafeTensorsDType.BF16 => "BF16",
        SafeTensorsDType.F32 => "F32",
        SafeTensorsDType.F64 => "F64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>Parses a header dtype string (case-sensitive, as the format requires).</summary>
    public static bool TryParse(string name, out SafeTensorsDType dtype)
    {
        switch (name)
        {
            case "F16": dtype = SafeTensorsDType.F16; return true;
            case "BF16": dtype = SafeTensorsDType.BF16; return true;
            case "F32": dtype = SafeTensorsDType.F32; return true;
            case "F64": dtype = SafeTensorsDType.F64; return true;
            default: dtype = default; return false;
        }
    }
}
