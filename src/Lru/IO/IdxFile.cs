using System.Buffers.Binary;
using System.IO.Compression;

namespace Lru.IO;

/// <summary>
/// Reads IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.
/// </summary>
/// <remarks>
/// <para>
/// Layout: two zero bytes, a type code (<see cref="IdxDataType"/>), the number of dimensions, one
/// 4-byte big-endian length per dimension, then the values, row-major and big-endian. A file starting
/// with the gzip magic 1F 8B is decompressed first (<see cref="GZipStream"/>), and its trailer — the
/// CRC-32 and length of the decompressed bytes — is checked, so a gzip file cut short anywhere is
/// refused. Only single-member gzip files are read (as gzip and zlib tools write them).
/// </para>
/// <para>
/// Refused with an <see cref="InvalidDataException"/> that names the file and the problem: a magic
/// that does not start with 00 00; an unknown type code; zero dimensions or more than
/// <see cref="MaxDimensions"/>; a length above <see cref="int.MaxValue"/>; data larger than
/// <see cref="MaxDataBytes"/>; data shorter than the shape needs; corrupt or truncated gzip data; and any byte after
/// the data (the format has no trailer, so extra bytes mean a damaged or mislabelled file). Lengths of 0
/// are allowed (an empty array).
/// </para>
/// <para>
/// Allocation is bounded by the bytes really present, never by what the header claims: the data size is
/// compared with the file's length before it is read into memory, and a stream of unknown length — a
/// gzip file's decompressed content, or a stream that cannot seek — is read into a buffer that starts at
/// 64 KiB and doubles only as data arrives (at most 64 KiB plus four times the bytes that really arrived).
/// Nothing is decompressed beyond the first byte after the data the header describes.
/// </para>
/// </remarks>
public static class IdxFile
{
    /// <summary>The largest number of dimensions accepted.</summary>
    public const int MaxDimensions = 16;

    /// <summary>The largest data section accepted, in bytes (<see cref="Array.MaxLength"/>: it is read into one array).</summary>
    public const long MaxDataBytes = BlockIO.MaxArrayBytes;

    private const string Kind = "IDX file";

    /// <summary>Reads the IDX file at <paramref name="path"/>, raw or gzip-compressed.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The array.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read, or <paramref name="path"/> is a directory.</exception>
    /// <exception cref="InvalidDataException">The file is truncated, malformed, corrupt (gzip data included) or exceeds a limit (<see cref="MaxDimensions"/>, <see cref="MaxDataBytes"/>); the message names the file and the problem. Bad content never raises another exception type.</exception>
    /// <exception cref="IOException">The file could not be read.</exception>
    public static IdxArray Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Read(stream, path);
    }

    /// <summary>Reads an IDX file, raw or gzip-compressed, from <paramref name="stream"/>'s current position to its end.</summary>
    /// <param name="stream">The source; it is read but not disposed.</param>
    /// <param name="displayName">The name to use in messages, for example the file's path.</param>
    /// <returns>The array.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="stream"/> cannot be read (for example, it is write-only or disposed).</exception>
    /// <exception cref="InvalidDataException">The data is truncated, malformed, corrupt or exceeds a limit (as for <see cref="Read(string)"/>).</exception>
    /// <exception cref="IOException">The stream could not be read.</exception>
    public static IdxArray Read(Stream stream, string displayName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(displayName);
        BlockIO.RequireReadable(stream);
        string file = displayName;

        byte[] first = BlockIO.ReadArray<byte>(stream, 2, Kind, file, "the magic number");
        if (first[0] != 0x1F || first[1] != 0x8B) return Parse(stream, first, file, "");

        // gzip: decompress (the two sniffed bytes first), checking the trailer at the end.
        using var plain = new GzipReadStream(stream, first, $"{Kind} '{file}'");
        byte[] inner = BlockIO.ReadArray<byte>(plain, 2, Kind, file, "the magic number (after gzip decompression)");
        return Parse(plain, inner, file, " (after gzip decompression)");
    }

    private static IdxArray Parse(Stream stream, byte[] first, string file, string where)
    {
        if (first[0] != 0 || first[1] != 0)
            throw Error(file, $"magic number must start with 00 00 but starts with {first[0]:X2} {first[1]:X2}{where}.");
        byte[] rest = BlockIO.ReadArray<byte>(stream, 2, Kind, file, "the magic number");
        byte code = rest[0], rank = rest[1];
        if (!Enum.IsDefined((IdxDataType)code))
            throw Error(file, $"type code 0x{code:X2} is unknown; known codes are 08 (u8), 09 (i8), 0B (i16), 0C (i32), 0D (f32), 0E (f64).");
        var type = (IdxDataType)code;
        if (rank == 0)
            throw Error(file, "has zero dimensions; an IDX array needs at least one.");
        if (rank > MaxDimensions)
            throw Error(file, $"has {rank} dimensions, more than the limit of {MaxDimensions}.");

        byte[] lengths = BlockIO.ReadArray<byte>(stream, 4L * rank, Kind, file, $"the {rank} dimension lengths");
        var shape = new int[rank];
        var dims = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(lengths.AsSpan(4 * i));
            if (d > int.MaxValue)
                throw Error(file, $"dimension {i} has length {d}, more than {int.MaxValue}.");
            shape[i] = (int)d;
            dims[i] = d;
        }
        int size = type switch
        {
            IdxDataType.UInt8 or IdxDataType.Int8 => 1,
            IdxDataType.Int16 => 2,
            IdxDataType.Int32 or IdxDataType.Float32 => 4,
            _ => 8,
        };
        long count = BlockIO.ElementCount(dims, MaxDataBytes / size);
        if (count < 0)
            throw Error(file, $"shape ({string.Join(", ", shape)}) of {type} needs more than the limit of {MaxDataBytes} bytes.");

        string what = $"the data of shape ({string.Join(", ", shape)}){where}";
        Array data = type switch
        {
            IdxDataType.UInt8 => BlockIO.ReadArray<byte>(stream, count, Kind, file, what),
            IdxDataType.Int8 => BlockIO.ReadArray<sbyte>(stream, count, Kind, file, what),
            IdxDataType.Int16 => FromBigEndian(BlockIO.ReadArray<short>(stream, count, Kind, file, what)),
            IdxDataType.Int32 => FromBigEndian(BlockIO.ReadArray<int>(stream, count, Kind, file, what)),
            IdxDataType.Float32 => FromBigEndian(BlockIO.ReadArray<float>(stream, count, Kind, file, what)),
            _ => FromBigEndian(BlockIO.ReadArray<double>(stream, count, Kind, file, what)),
        };
        BlockIO.ExpectEnd(stream, Kind, file, $"the data{where}");
        return new IdxArray(type, shape, data);
    }

    private static T[] FromBigEndian<T>(T[] values) where T : unmanaged
    {
        if (BitConverter.IsLittleEndian) BlockIO.ReverseEndianness<T>(values);
        return values;
    }

    private static InvalidDataException Error(string file, string message) => new($"{Kind} '{file}': {message}");
}
