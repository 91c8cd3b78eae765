using System.Buffers.Binary;
using System.IO.Compression;
using Lru.IO;

namespace Lru.Tests.IO;

public class IdxTests
{
    private const string Name = "bad-idx3-ubyte";

    /// <summary>An IDX file: 00 00, the type code, the rank, big-endian lengths, then <paramref name="data"/> as given.</summary>
    internal static byte[] Build(byte type, uint[] shape, byte[] data)
    {
        var bytes = new List<byte> { 0, 0, type, (byte)shape.Length };
        foreach (uint d in shape)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, d);
            bytes.AddRange(b);
        }
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    internal static byte[] Gzip(byte[] raw)
    {
        var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(raw);
        return output.ToArray();
    }

    private static IdxArray Read(byte[] bytes) => IdxFile.Read(new MemoryStream(bytes), Name);

    private static InvalidDataException Refused(byte[] bytes, params string[] fragments) =>
        IoAssert.Refused(() => Read(bytes), [Name, .. fragments]);

    /// <summary>Three 2×2 "images" of unsigned bytes, like a tiny MNIST.</summary>
    private static readonly byte[] Images = Build(0x08, [3, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7, 128, 200, 254, 255]);

    // ---------------------------------------------------------------- reading

    [Fact]
    public void ReadsUnsignedBytes_RawAndGzipped_FromFiles()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("images-idx3-ubyte"), Images);
        File.WriteAllBytes(dir.File("images-idx3-ubyte.gz"), Gzip(Images));
        foreach (string name in new[] { "images-idx3-ubyte", "images-idx3-ubyte.gz" })
        {
            var a = IdxFile.Read(dir.File(name));
            Assert.Equal(IdxDataType.UInt8, a.DataType);
            Assert.Equal([3, 2, 2], a.Shape);
            Assert.Equal(12, a.Length);
            Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 5, 6, 7, 128, 200, 254, 255 }, a.AsBytes());
            Assert.Same(a.Data, a.AsBytes());
            float[] scaled = a.ToFloat32(1.0 / 255);
            Assert.Equal(0f, scaled[0]);
            Assert.Equal(1f, scaled[11]);
            Assert.Equal((float)(128 / 255.0), scaled[8]);
            Assert.Equal([0f, 1f, 2f], a.ToFloat32()[..3]);
            Assert.Equal(255.0, a.ToFloat64()[11]);
        }
        // The same through a stream that cannot seek (the gzip magic is sniffed without seeking).
        Assert.Equal([3, 2, 2], IdxFile.Read(new NonSeekableStream(Gzip(Images)), "pipe").Shape);
        Assert.Equal([3, 2, 2], IdxFile.Read(new NonSeekableStream(Images), "pipe").Shape);
    }

    [Fact]
    public void ReadsEveryType_BigEndian_BitExact()
    {
        var i8 = Read(Build(0x09, [3], [0x80, 0xFF, 0x7F]));
        Assert.Equal(IdxDataType.Int8, i8.DataType);
        Assert.IsType<sbyte[]>(i8.Data);
        Assert.Equal([-128, -1, 127], ((sbyte[])i8.Data).Select(x => (int)x));
        Assert.Equal([-128f, -1f, 127f], i8.ToFloat32());
        Assert.Equal([-128.0, -1.0, 127.0], i8.ToFloat64());
        Assert.Throws<InvalidOperationException>(() => i8.AsBytes());

        var i16 = Read(Build(0x0B, [2], [0x80, 0x00, 0x01, 0x02]));
        Assert.Equal(new short[] { -32768, 0x0102 }, (short[])i16.Data);

        var i32 = Read(Build(0x0C, [1, 2], [0x80, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04]));
        Assert.Equal([1, 2], i32.Shape);
        Assert.Equal(new[] { int.MinValue, 0x01020304 }, (int[])i32.Data);
        Assert.Equal([(double)int.MinValue, 0x01020304], i32.ToFloat64());

        var f32 = Read(Build(0x0D, [4], [0x7F, 0xC1, 0x23, 0x45, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x3F, 0xC0, 0x00, 0x00]));
        Assert.Equal([0x7FC12345u, 0x80000000u, 0x00000001u, 0x3FC00000u], ((float[])f32.Data).Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal([0x7FC12345u, 0x80000000u, 0x00000001u, 0x3FC00000u], f32.ToFloat32().Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal([3f], f32.ToFloat32(2)[3..]);

        var f64 = Read(Build(0x0E, [2], [0x7F, 0xF8, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, 0x80, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Equal([0x7FF8_0000_DEAD_BEEFul, 0x8000_0000_0000_0000ul], f64.ToFloat64().Select(BitConverter.DoubleToUInt64Bits));

        var empty = Read(Build(0x08, [0, 28, 28], []));
        Assert.Equal([0, 28, 28], empty.Shape);
        Assert.Empty(empty.ToFloat32());
    }

    // The installed Fashion-MNIST files are read by Data/FashionMnistTests.Load_ReadsTheInstalledDataSet, which is
    // reported as skipped where they are absent; the loader itself is tested there on synthetic files on every machine.

    // ---------------------------------------------------------------- refusals

    [Fact]
    public void RefusesMalformedHeaders_NamingTheProblem()
    {
        Refused([0x01, 0x00, 0x08, 0x01, 0, 0, 0, 0], "magic number must start with 00 00 but starts with 01 00");
        Refused([0x1F, 0x00, 0x08, 0x01, 0, 0, 0, 0], "starts with 1F 00");
        Refused(Build(0x0A, [1], [0]), "type code 0x0A is unknown");
        Refused(Build(0x07, [1], [0]), "type code 0x07 is unknown");
        Refused(Build(0x08, [], []), "has zero dimensions");
        Refused(Build(0x08, Enumerable.Repeat(1u, 17).ToArray(), [0]), "has 17 dimensions, more than the limit of 16");
        Refused(Build(0x08, [0x80000000u], []), "dimension 0 has length 2147483648");
        Refused(Build(0x0E, [65536, 65536, 65536], []), "needs more than the limit of 2147483591 bytes");
        Refused(Build(0x08, [2147483647, 2147483647, 2147483647, 2147483647, 2147483647], []), "needs more than the limit");
        Refused(Build(0x0D, [1073741824], []), "needs more than the limit");
        Refused(Build(0x08, [3, 2, 2], new byte[11]), "is truncated: the data of shape (3, 2, 2) needs 12 bytes but only 11 remain");
        Refused(Build(0x08, [3, 2, 2], new byte[13]), "has 1 unexpected trailing bytes after the data");
        Refused([0, 0, 0x08], "is truncated: the magic number needs 2 bytes but only 1 remain");
        Refused(Build(0x08, [3, 2], [])[..9], "is truncated: the 2 dimension lengths needs 8 bytes but only 5 remain");

        // Zero lengths make an empty array even when another length is huge.
        Assert.Equal([0, 2147483647], Read(Build(0x0E, [0, 2147483647], [])).Shape);
    }

    [Fact]
    public void RefusesBadGzipContent_NamingTheFile()
    {
        Refused(Gzip(Build(0x08, [3, 2, 2], new byte[11])), "is truncated", "(after gzip decompression)");
        Refused(Gzip(Build(0x08, [3, 2, 2], new byte[13])), "unexpected trailing bytes after the data (after gzip decompression)");
        Refused(Gzip([1, 2, 3, 4]), "magic number must start with 00 00 but starts with 01 02 (after gzip decompression)");

        byte[] gz = Gzip(Images);
        byte[] badCrc = (byte[])gz.Clone();
        badCrc[^6] ^= 0xFF; // CRC32 of the trailer
        Refused(badCrc, "the gzip data is corrupt");
        byte[] badBlock = (byte[])gz.Clone();
        badBlock[10] = 0xFF; // first deflate block header: reserved block type
        Refused(badBlock);
        IoAssert.EveryTruncationRefused(gz, s => IdxFile.Read(s, Name));
        Refused(gz[..^1], "the gzip data is truncated or corrupt");
        Refused([.. gz, 0], "the gzip data is truncated or corrupt");
        Refused([.. gz, .. gz], "unexpected trailing bytes after the data (after gzip decompression)");
        // Two members that together hold one valid file: GZipStream joins them, the trailer check refuses.
        byte[] raw = Images;
        Refused([.. Gzip(raw[..10]), .. Gzip(raw[10..])], "several concatenated gzip members are not supported");
    }

    /// <summary>Every prefix, raw and gzipped; random mutations are in <see cref="IdxPropertyTests"/>.</summary>
    [Fact]
    public void EveryTruncation_IsRefused()
    {
        IoAssert.EveryTruncationRefused(Images, s => IdxFile.Read(s, Name));
        IoAssert.EveryTruncationRefused(Gzip(Images), s => IdxFile.Read(s, Name));
    }

    [Fact]
    public void UnreadableStreamsAndDirectories_AreRefusedWithTheDocumentedExceptions()
    {
        var disposed = new MemoryStream(Images);
        disposed.Dispose();
        var e = Assert.Throws<ArgumentException>(() => IdxFile.Read(disposed, Name));
        Assert.Equal("stream", e.ParamName);
        using var dir = new TempDirectory();
        Assert.Throws<UnauthorizedAccessException>(() => IdxFile.Read(dir.Path));
    }

    [Fact]
    public void HugeShapeClaims_AreRefused_WithoutLargeAllocations()
    {
        // 60000 × 28 × 28 bytes claimed (47 MB), 12 bytes present.
        byte[] claim = Build(0x08, [60000, 28, 28], new byte[12]);
        using var dir = new TempDirectory();
        string path = dir.File("claim-idx3-ubyte");
        File.WriteAllBytes(path, claim);
        long raw = IoAssert.AllocatedBy(() => IoAssert.Refused(() => IdxFile.Read(path), "needs 47040000 bytes but only 12 remain"));
        byte[] gz = Gzip(claim);
        long gzipped = IoAssert.AllocatedBy(() => IoAssert.Refused(() => IdxFile.Read(new MemoryStream(gz), "claim.gz"), "needs 47040000 bytes but only 12 remain"));
        Assert.True(raw < 150_000, $"raw: allocated {raw} bytes");
        Assert.True(gzipped < 600_000, $"gzip: allocated {gzipped} bytes");
    }
}
