using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using CsCheck;
using Lru.IO;

namespace Lru.Tests.IO;

/// <summary>
/// Property-based tests of <see cref="IdxFile"/> (CsCheck; a failure prints the seed that reproduces it):
/// random arrays of every type round-trip raw and gzipped, and random, mutated and mutated-then-gzipped
/// inputs are either read completely or refused with the documented exception, from memory and from a
/// stream that cannot seek alike, within the hang limit and without allocating what a header merely claims.
/// </summary>
public class IdxPropertyTests
{
    private const string Name = "fuzz-idx3-ubyte";
    private const string Prefix = $"IDX file '{Name}'";

    private static readonly IdxDataType[] Types = Enum.GetValues<IdxDataType>();

    /// <summary>An array to store: its type, shape and values as big-endian bytes.</summary>
    public sealed record ArrayCase(IdxDataType Type, int[] Shape, byte[] Data)
    {
        /// <summary>The raw file: 00 00, type, rank, big-endian lengths, data.</summary>
        public byte[] Raw()
        {
            var bytes = new byte[4 + 4 * Shape.Length + Data.Length];
            bytes[2] = (byte)Type;
            bytes[3] = (byte)Shape.Length;
            for (int i = 0; i < Shape.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), Shape[i]);
            Data.CopyTo(bytes, 4 + 4 * Shape.Length);
            return bytes;
        }

        public override string ToString() => $"{Type} ({string.Join(", ", Shape)})";
    }

    private static readonly Gen<ArrayCase> Arrays =
        from type in Gen.OneOf(Types.Select(Gen.Const).ToArray())
        from shape in ParserFuzz.Shape(1, 4)
        from data in Gen.Byte.Array[ParserFuzz.Count(shape) * Size(type)]
        select new ArrayCase(type, shape, data);

    private static readonly Gen<CompressionLevel> Levels =
        Gen.OneOf(Gen.Const(CompressionLevel.NoCompression), Gen.Const(CompressionLevel.Fastest), Gen.Const(CompressionLevel.Optimal), Gen.Const(CompressionLevel.SmallestSize));

    private static int Size(IdxDataType type) => type switch
    {
        IdxDataType.UInt8 or IdxDataType.Int8 => 1,
        IdxDataType.Int16 => 2,
        IdxDataType.Int32 or IdxDataType.Float32 => 4,
        _ => 8,
    };

    private static byte[] Gzip(byte[] raw, CompressionLevel level = CompressionLevel.Optimal)
    {
        var output = new MemoryStream();
        using (var gz = new GZipStream(output, level, leaveOpen: true)) gz.Write(raw);
        return output.ToArray();
    }

    /// <summary>The type and rank bytes and every dimension length (4 bytes, big-endian).</summary>
    private static Field[] RawFields(byte[] raw) =>
        [new Field(2, 1, false), new Field(3, 1, false), .. Enumerable.Range(0, raw[3]).Select(i => new Field(4 + 4 * i, 4, BigEndian: true))];

    /// <summary>The gzip header's method and flag bytes, and the trailer's CRC-32 and length.</summary>
    private static Field[] GzipFields(byte[] gz) =>
        [new Field(2, 1, false), new Field(3, 1, false), new Field(gz.Length - 8, 4, false), new Field(gz.Length - 4, 4, false)];

    /// <summary>The values of <paramref name="array"/> as big-endian bytes, as they are stored in a file.</summary>
    private static byte[] BigEndianData(IdxArray array)
    {
        byte[] bytes = array.DataType switch
        {
            IdxDataType.UInt8 => (byte[])((byte[])array.Data).Clone(),
            IdxDataType.Int8 => MemoryMarshal.AsBytes(((sbyte[])array.Data).AsSpan()).ToArray(),
            IdxDataType.Int16 => MemoryMarshal.AsBytes(((short[])array.Data).AsSpan()).ToArray(),
            IdxDataType.Int32 => MemoryMarshal.AsBytes(((int[])array.Data).AsSpan()).ToArray(),
            IdxDataType.Float32 => MemoryMarshal.AsBytes(((float[])array.Data).AsSpan()).ToArray(),
            _ => MemoryMarshal.AsBytes(((double[])array.Data).AsSpan()).ToArray(),
        };
        int size = Size(array.DataType);
        if (BitConverter.IsLittleEndian)
            for (int i = 0; i < bytes.Length; i += size) bytes.AsSpan(i, size).Reverse();
        return bytes;
    }

    // ---------------------------------------------------------------- (a) round trip

    [Fact]
    public void RandomArraysOfEveryType_RoundTripBitExact_RawAndGzipped() => ParserFuzz.WithinHangLimit(() =>
        Gen.Select(Arrays, Levels).Sample((array, level) =>
        {
            byte[] raw = array.Raw();
            byte[] gz = Gzip(raw, level);
            foreach (var source in new Func<Stream>[] { () => new MemoryStream(raw), () => new NonSeekableStream(raw), () => new MemoryStream(gz), () => new NonSeekableStream(gz) })
            {
                var read = IdxFile.Read(source(), Name);
                Assert.Equal(array.Type, read.DataType);
                Assert.Equal(array.Shape, read.Shape);
                Assert.Equal(ParserFuzz.Count(array.Shape), read.Length);
                Assert.Equal(array.Data, BigEndianData(read));
                Assert.Equal(read.Length, read.ToFloat32().Length);
                Assert.Equal(read.Length, read.ToFloat64().Length);
            }
        }, iter: ParserFuzz.Iterations(300), print: c => $"{c.Item1} at {c.Item2}"));

    // ---------------------------------------------------------------- (b), (c), (d) read or refuse

    [Fact]
    public void RandomBytes_AreReadOrRefused_WithTheDocumentedException() => ParserFuzz.WithinHangLimit(() =>
        Gen.OneOf(
            Gen.Byte.Array[0, 64],
            // 00 00, a type code and a rank (mostly plausible), then random bytes.
            from type in Gen.Frequency((3, Gen.OneOf(Types.Select(t => Gen.Const((byte)t)).ToArray())), (1, Gen.Byte))
            from rank in Gen.Frequency((3, Gen.Byte[0, 4]), (1, Gen.Byte))
            from rest in Gen.Byte.Array[0, 64]
            select (byte[])[0, 0, type, rank, .. rest],
            // The gzip magic, then random bytes: the decompressor's refusals must come out as InvalidDataException.
            Gen.Byte.Array[0, 64].Select(rest => (byte[])[0x1F, 0x8B, .. rest]),
            Gen.Byte.Array[0, 64].Select(rest => (byte[])[0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0xFF, .. rest]),
            // Well-formed gzip around random bytes.
            Gen.Byte.Array[0, 64].Select(content => Gzip(content)))
        .Sample(bytes => { ReadOrRefuse(bytes, ParserFuzz.Describe(bytes)); }, iter: ParserFuzz.Iterations(5000), print: b => ParserFuzz.Describe(b)));

    [Fact]
    public void MutatedRawFiles_AreReadOrRefused_AndGzippingThemChangesNothing() => ParserFuzz.WithinHangLimit(() =>
    {
        var tally = new Tally();
        Gen.Select(Arrays, ParserFuzz.Edits).Sample((array, edits) =>
        {
            byte[] valid = array.Raw();
            byte[] bytes = ParserFuzz.Apply(valid, edits, RawFields(valid));
            string input = ParserFuzz.Describe(bytes, edits);
            var raw = ReadOrRefuse(bytes, input);
            tally.Count(raw is not null);
            // The same bytes, well gzipped: the same outcome and the same array.
            var gzipped = ReadOrRefuse(Gzip(bytes), input + " (gzipped)");
            Assert.True((raw is null) == (gzipped is null), $"{input}: raw {(raw is null ? "refused" : "read")}, gzipped {(gzipped is null ? "refused" : "read")}.");
            if (raw is not null && gzipped is not null) Assert.Equal(BigEndianData(raw), BigEndianData(gzipped));
        }, iter: ParserFuzz.Iterations(3000), print: c => $"{c.Item1} mutated by [{string.Join(", ", c.Item2)}]");
        Assert.True(tally.Accepted > 0 && tally.Refused > tally.Accepted, tally.ToString());
    });

    [Fact]
    public void MutatedGzipFiles_AreReadOrRefused_AndAcceptedOnesHoldTheirDecompressedContent() => ParserFuzz.WithinHangLimit(() =>
    {
        var tally = new Tally();
        Gen.Select(Arrays, Levels, ParserFuzz.Edits).Sample((array, level, edits) =>
        {
            byte[] valid = Gzip(array.Raw(), level);
            byte[] bytes = ParserFuzz.Apply(valid, edits, GzipFields(valid));
            string input = ParserFuzz.Describe(bytes, edits);
            var read = ReadOrRefuse(bytes, input);
            if (!tally.Count(read is not null)) return;
            // Accepted: .NET's own decompressor agrees on the content, which is a valid raw file.
            var plain = new MemoryStream();
            using (var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress)) gz.CopyTo(plain);
            var raw = ReadOrRefuse(plain.ToArray(), input + " (decompressed)");
            Assert.NotNull(raw);
            Assert.Equal(raw.ToString(), read!.ToString());
            Assert.Equal(BigEndianData(raw), BigEndianData(read));
        }, iter: ParserFuzz.Iterations(3000), print: c => $"{c.Item1} at {c.Item2} mutated by [{string.Join(", ", c.Item3)}]");
        Assert.True(tally.Accepted > 0 && tally.Refused > tally.Accepted, tally.ToString());
    });

    // ---------------------------------------------------------------- (e) allocation

    /// <summary>
    /// A valid file one of whose dimension lengths is set to 2^20 or more (up to 2^32 − 1) is read or
    /// refused allocating at most 4 × its uncompressed length + 256 KiB, raw from memory, raw from a stream
    /// that cannot seek, and gzipped (whose decompressed length is never known in advance). A stream of
    /// unknown length is read into a buffer that starts at 64 KiB and doubles only as data arrives;
    /// the decompressor adds its own small buffers. The files are at most ~2 KB, so the bound is below the
    /// smallest claim (1 MiB): honouring a claim before checking it against the data would fail the test.
    /// </summary>
    [Fact]
    public void HugeClaims_AllocateNoMoreThanTheFileWarrants()
    {
        var claims = Gen.Select(Gen.Int.NonNegative, Gen.UInt[1u << 20, uint.MaxValue], (i, v) => new Edit(EditKind.SetField, i, v, 0, [], ""));
        // Warm-up: first-use costs (static tables, the decompressor) are not the parse's.
        byte[] warm = new ArrayCase(IdxDataType.UInt8, [2], [1, 2]).Raw();
        ReadOrRefuse(warm, "warm-up");
        ReadOrRefuse(Gzip(warm), "warm-up");
        ParserFuzz.WithinHangLimit(() => Gen.Select(Arrays, claims).Sample((array, claim) =>
        {
            byte[] valid = array.Raw();
            Field[] dims = RawFields(valid)[2..];
            byte[] bytes = ParserFuzz.Apply(valid, [claim], dims);
            byte[] gz = Gzip(bytes);
            long bound = 4L * bytes.Length + 256 * 1024;
            long fromMemory = ParserFuzz.Allocated(() => ParserFuzz.ReadOrRefuse(() => IdxFile.Read(new MemoryStream(bytes), Name), Prefix, "from memory"));
            long fromPipe = ParserFuzz.Allocated(() => ParserFuzz.ReadOrRefuse(() => IdxFile.Read(new NonSeekableStream(bytes), Name), Prefix, "from a pipe"));
            long gzipped = ParserFuzz.Allocated(() => ParserFuzz.ReadOrRefuse(() => IdxFile.Read(new MemoryStream(gz), Name), Prefix, "gzipped"));
            Assert.True(fromMemory <= bound && fromPipe <= bound && gzipped <= bound,
                $"{claim} on a {bytes.Length}-byte file allocated {fromMemory} bytes from memory, {fromPipe} from a pipe and {gzipped} gzipped; the bound is {bound}.");
        }, iter: ParserFuzz.Iterations(500), print: c => $"{c.Item1} with {c.Item2}"));
    }

    // ---------------------------------------------------------------- oracle

    /// <summary>
    /// Reads <paramref name="bytes"/> from memory and from a stream that cannot seek. Both must be
    /// refused with <see cref="InvalidDataException"/>, or both accepted with the same content; an
    /// accepted raw file must have been read whole (header and data account for every byte, and the
    /// values are the data bytes).
    /// </summary>
    /// <returns>The array, or null if refused.</returns>
    private static IdxArray? ReadOrRefuse(byte[] bytes, string input)
    {
        var fromMemory = ParserFuzz.ReadOrRefuse(() => IdxFile.Read(new MemoryStream(bytes, writable: false), Name), Prefix, input);
        var fromPipe = ParserFuzz.ReadOrRefuse(() => IdxFile.Read(new NonSeekableStream(bytes), Name), Prefix, input + " (not seekable)");
        Assert.True((fromMemory is null) == (fromPipe is null), $"{input}: from memory {(fromMemory is null ? "refused" : "read")}, from a pipe {(fromPipe is null ? "refused" : "read")}.");
        if (fromMemory is null || fromPipe is null) return null;

        Assert.Equal(fromMemory.ToString(), fromPipe.ToString());
        Assert.Equal(fromMemory.Shape.Aggregate(1L, (p, d) => p * d), fromMemory.Length);
        byte[] data = BigEndianData(fromMemory);
        Assert.Equal(data, BigEndianData(fromPipe));
        Assert.Equal(fromMemory.Length, fromMemory.ToFloat64().Length);
        if (bytes[0] != 0x1F)
        {
            Assert.Equal(bytes.Length, 4 + 4 * fromMemory.Shape.Count + data.Length);
            Assert.Equal(bytes.AsSpan(bytes.Length - data.Length).ToArray(), data);
        }
        return fromMemory;
    }
}
