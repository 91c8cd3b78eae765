using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Lru.IO;

/// <summary>
/// Reading and writing whole arrays of primitive values for the file readers, with two guarantees:
/// a short stream is reported as <see cref="InvalidDataException"/> naming the file and what was being
/// read, and a size claimed by a file never causes an allocation much larger than the data that is
/// really there (seekable streams are checked against their length first; other streams are read into
/// a buffer that starts at 64 KiB and doubles as data arrives, so that at most 64 KiB or four times the
/// bytes that really arrived is allocated).
/// </summary>
internal static class BlockIO
{
    /// <summary>The largest array, in bytes, any reader here allocates: <see cref="Array.MaxLength"/>.</summary>
    public const int MaxArrayBytes = 0x7FFFFFC7;

    /// <summary>The first buffer for a stream of unknown length; it doubles as data arrives.</summary>
    private const int FirstChunkBytes = 1 << 16;

    /// <summary>
    /// Reads exactly <paramref name="count"/> values of <typeparamref name="T"/>, raw, in the stream's
    /// byte order.
    /// </summary>
    /// <param name="stream">The source, positioned at the first value.</param>
    /// <param name="count">How many values; <c>count × sizeof(T)</c> must not exceed <see cref="MaxArrayBytes"/>.</param>
    /// <param name="fileKind">For messages, for example "safetensors file".</param>
    /// <param name="displayName">For messages, the file's name.</param>
    /// <param name="what">For messages, what is being read, for example "tensor 'w'".</param>
    /// <exception cref="InvalidDataException">The stream ends before <paramref name="count"/> values.</exception>
    public static T[] ReadArray<T>(Stream stream, long count, string fileKind, string displayName, string what) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        if (count < 0 || count > MaxArrayBytes / size)
            throw new InvalidDataException($"{fileKind} '{displayName}': {what} has {count} elements, more than the limit of {MaxArrayBytes / size}.");
        long needed = count * size;
        if (count == 0) return [];

        if (stream.CanSeek)
        {
            long remaining = Math.Max(0, stream.Length - stream.Position);
            if (remaining < needed) throw Truncated(fileKind, displayName, what, needed, remaining);
            var result = new T[count];
            int got = stream.ReadAtLeast(MemoryMarshal.AsBytes(result.AsSpan()), (int)needed, throwOnEndOfStream: false);
            if (got < needed) throw Truncated(fileKind, displayName, what, needed, got);
            return result;
        }

        // Unknown length: grow the buffer with the data, so a header that lies about the size costs at
        // most FirstChunkBytes, or four times the bytes that really arrived (the buffers double, and each
        // is allocated only once the previous one is full).
        var buffer = new T[Math.Min(count, Math.Max(1, FirstChunkBytes / size))];
        long filled = 0;
        while (true)
        {
            Span<byte> bytes = MemoryMarshal.AsBytes(buffer.AsSpan());
            int want = bytes.Length - (int)filled;
            int got = stream.ReadAtLeast(bytes[(int)filled..], want, throwOnEndOfStream: false);
            filled += got;
            if (got < want) throw Truncated(fileKind, displayName, what, needed, filled);
            if (buffer.Length == count) return buffer;
            Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
        }
    }

    /// <summary>Refuses a stream that cannot be read (write-only, or disposed) before any read is tried.</summary>
    /// <exception cref="ArgumentException"><paramref name="stream"/> cannot be read.</exception>
    public static void RequireReadable(Stream stream, [CallerArgumentExpression(nameof(stream))] string? paramName = null)
    {
        if (!stream.CanRead)
            throw new ArgumentException($"{paramName} must be readable, but CanRead is false (is it write-only or disposed?).", paramName);
    }

    /// <summary>Checks that <paramref name="stream"/> has nothing after the data that was read.</summary>
    /// <exception cref="InvalidDataException">There are more bytes.</exception>
    public static void ExpectEnd(Stream stream, string fileKind, string displayName, string after)
    {
        if (stream.CanSeek)
        {
            long extra = stream.Length - stream.Position;
            if (extra > 0)
                throw new InvalidDataException($"{fileKind} '{displayName}' has {extra} unexpected trailing bytes after {after}.");
        }
        else if (stream.ReadByte() >= 0)
        {
            throw new InvalidDataException($"{fileKind} '{displayName}' has unexpected trailing bytes after {after}.");
        }
    }

    /// <summary>Reverses the byte order of every element in place (for 2-, 4- and 8-byte types).</summary>
    public static void ReverseEndianness<T>(Span<T> values) where T : unmanaged
    {
        switch (Unsafe.SizeOf<T>())
        {
            case 1:
                break;
            case 2:
                var u16 = MemoryMarshal.Cast<T, ushort>(values);
                BinaryPrimitives.ReverseEndianness(u16, u16);
                break;
            case 4:
                var u32 = MemoryMarshal.Cast<T, uint>(values);
                BinaryPrimitives.ReverseEndianness(u32, u32);
                break;
            case 8:
                var u64 = MemoryMarshal.Cast<T, ulong>(values);
                BinaryPrimitives.ReverseEndianness(u64, u64);
                break;
            default:
                throw new NotSupportedException($"No byte-order reversal for {typeof(T).Name} ({Unsafe.SizeOf<T>()} bytes).");
        }
    }

    /// <summary>Writes <paramref name="values"/> in little-endian byte order, whatever the host's order.</summary>
    public static void WriteLittleEndian<T>(Stream stream, ReadOnlySpan<T> values) where T : unmanaged
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        // Big-endian host: swap a chunk at a time into a scratch buffer.
        const int Chunk = 8192;
        var scratch = new T[Math.Min(values.Length, Chunk)];
        for (int start = 0; start < values.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, values.Length - start);
            values.Slice(start, n).CopyTo(scratch);
            ReverseEndianness(scratch.AsSpan(0, n));
            stream.Write(MemoryMarshal.AsBytes(scratch.AsSpan(0, n)));
        }
    }

    /// <summary>The product of <paramref name="shape"/>, or -1 if it exceeds <paramref name="limit"/> (a zero length makes it 0 regardless).</summary>
    public static long ElementCount(ReadOnlySpan<long> shape, long limit)
    {
        foreach (long d in shape)
            if (d == 0) return 0;
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0 || d > limit / count) return -1;
            count *= d;
        }
        return count;
    }

    private static InvalidDataException Truncated(string fileKind, string displayName, string what, long needed, long available) =>
        new($"{fileKind} '{displayName}' is truncated: {what} needs {needed} bytes but only {available} remain.");
}
