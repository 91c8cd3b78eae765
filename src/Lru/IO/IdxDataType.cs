namespace Lru.IO;

/// <summary>The element types of the IDX format; each value is the type code in the file's third byte.</summary>
public enum IdxDataType : byte
{
    /// <summary>Unsigned byte (code 0x08), read as <see cref="byte"/>; the type of MNIST images and labels.</summary>
    UInt8 = 0x08,

    /// <summary>Signed byte (code 0x09), read as <see cref="sbyte"/>.</summary>
    Int8 = 0x09,

    /// <summary>Big-endian 16-bit signed integer (code 0x0B), read as <see cref="short"/>.</summary>
    Int16 = 0x0B,

    /// <summary>Big-endian 32-bit signed integer (code 0x0C), read as <see cref="int"/>.</summary>
    Int32 = 0x0C,

    /// <summary>Big-endian IEEE 754 binary32 (code 0x0D), read as <see cref="float"/>.</summary>
    Float32 = 0x0D,

    /// <summary>Big-endian IEEE 754 binary64 (code 0x0E), read as <see cref="double"/>.</summary>
    Float64 = 0x0E,
}
