using System.Buffers.Binary;
using System.Text;
using Lru.IO;

namespace Lru.Tests.IO;

public class SafeTensorsTests
{
    private const string Name = "bad.safetensors";

    // ---------------------------------------------------------------- helpers

    /// <summary>A file from a header string and a data section, the header padded with spaces to a multiple of 8 as the reference does.</summary>
    private static byte[] Build(string json, byte[] data, bool pad = true)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        int n = pad ? (header.Length + 7) & ~7 : header.Length;
        var bytes = new byte[8 + n + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)n);
        header.CopyTo(bytes, 8);
        bytes.AsSpan(8 + header.Length, n - header.Length).Fill((byte)' ');
        data.CopyTo(bytes, 8 + n);
        return bytes;
    }

    private static byte[] Build(string json, int dataLength) => Build(json, new byte[dataLength]);

    private static byte[] LittleEndian16(params ushort[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), values[i]);
        return bytes;
    }

    private static InvalidDataException Refused(byte[] bytes, params string[] fragments) =>
        IoAssert.Refused(() => SafeTensorsFile.FromBytes(bytes, Name), [Name, .. fragments]);

    /// <summary>A small valid file: metadata, an F32 (2, 2), an F64 scalar and an F16 (3).</summary>
    private static byte[] SmallValidFile() => Build(
        """{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"s":{"dtype":"F64","shape":[],"data_offsets":[16,24]},"h":{"dtype":"F16","shape":[3],"data_offsets":[24,30]}}""",
        [.. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(-2f), .. BitConverter.GetBytes(0.5f), .. BitConverter.GetBytes(3f),
         .. BitConverter.GetBytes(Math.PI), .. LittleEndian16(0x3C00, 0xC000, 0x7BFF)]);

    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    private static double D(ulong bits) => BitConverter.UInt64BitsToDouble(bits);

    // ---------------------------------------------------------------- round trips

    [Fact]
    public void RoundTrip_IsBitExact_ForSpecialValues_AndKeepsNamesShapesOrderAndMetadata()
    {
        float[] singles = [F(0x7FC12345), F(0x7F800001), F(0xFFC00000), -0f, float.Epsilon, F(0x00123456), float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, 1.1f, -3.5e-20f, 0f];
        double[] doubles = [D(0x7FF8_0000_DEAD_BEEF), D(0x7FF0_0000_0000_0001), -0d, double.Epsilon, D(0x000F_FFFF_FFFF_FFFF), double.NegativeInfinity, Math.E];
        double[] empty = [];
        float[] scalar = [F(0x7FA00001)];
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quote \" backslash \\ newline \n tab \t bell \a ünïcødé 🚀", ["empty"] = "" };
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");

        SafeTensorsWriter.Write(path,
        [
            new SafeTensorData("layer.0/weight \"q\" ✓", singles, 3, 4),
            new SafeTensorData("b", doubles, 7),
            new SafeTensorData("empty", empty, 0, 3),
            new SafeTensorData("scalar", scalar),
        ], metadata);

        var file = SafeTensorsFile.Read(path);
        Assert.Equal(path, file.DisplayName);
        Assert.Equal(["layer.0/weight \"q\" ✓", "b", "empty", "scalar"], file.Tensors.Select(t => t.Name));
        Assert.Equal(metadata.OrderBy(p => p.Key), file.Metadata.OrderBy(p => p.Key));

        var w = file.GetInfo("layer.0/weight \"q\" ✓");
        Assert.Equal(SafeTensorsDType.F32, w.DType);
        Assert.Equal([3, 4], w.Shape);
        Assert.Equal(12, w.ElementCount);
        Assert.Equal((0L, 48L, 48L), (w.DataBegin, w.DataEnd, w.ByteLength));
        Assert.Equal(singles.Select(BitConverter.SingleToUInt32Bits), file.ReadFloat32(w.Name).Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal(doubles.Select(BitConverter.DoubleToUInt64Bits), file.ReadFloat64("b").Select(BitConverter.DoubleToUInt64Bits));
        Assert.Equal(SafeTensorsDType.F64, file.GetInfo("b").DType);
        Assert.Empty(file.ReadFloat64("empty"));
        Assert.Equal([0, 3], file.GetInfo("empty").Shape);
        Assert.Empty(file.GetInfo("scalar").Shape);
        Assert.Equal(1, file.GetInfo("scalar").ElementCount);
        Assert.Equal(0x7FA00001u, BitConverter.SingleToUInt32Bits(file.ReadFloat32("scalar")[0]));

        // The data section starts at a multiple of 8, and the header is padded with spaces.
        byte[] bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + n) % 8);
        Assert.Equal((byte)'}', bytes[8..(int)(8 + n)].Reverse().First(b => b != ' '));
        Assert.Equal(8 + n + 48 + 56 + 0 + 4, bytes.Length);

        // Widening and narrowing conversions.
        Assert.Equal(singles.Select(x => (double)x).Select(BitConverter.DoubleToUInt64Bits).Skip(3), file.ReadFloat64(w.Name).Select(BitConverter.DoubleToUInt64Bits).Skip(3));
        Assert.Equal(doubles.Skip(2).Select(x => (float)x), file.ReadFloat32("b").Skip(2));

        Assert.Equal(["model.safetensors"], dir.Names());
    }

    [Fact]
    public void Writer_ProducesTheReferenceHeaderBytes()
    {
        var stream = new MemoryStream();
        SafeTensorsWriter.Write(stream, [new SafeTensorData("w", new float[] { 1, 2 }, 2)], new Dictionary<string, string> { ["format"] = "pt" });
        const string json = """{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        Assert.Equal(Build(json, [.. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(2f)]), stream.ToArray());

        // No metadata: no __metadata__ key; no tensors: "{}" padded.
        stream.SetLength(0);
        SafeTensorsWriter.Write(stream, []);
        Assert.Equal(Build("{}", []), stream.ToArray());
        var empty = SafeTensorsFile.FromBytes(stream.ToArray());
        Assert.Empty(empty.Tensors);
        Assert.Empty(empty.Metadata);
    }

    [Fact]
    public void Reads_HandBuiltReferenceShapedFile_WithF16AndBF16()
    {
        // As the reference serializer lays it out: __metadata__ first, tensors sorted by dtype (descending)
        // then name, data back to back in the same order, header padded with spaces to a multiple of 8.
        const string json =
            """{"__metadata__":{"format":"pt"},"c":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""" +
            ""","b":{"dtype":"BF16","shape":[5],"data_offsets":[8,18]},"a":{"dtype":"F16","shape":[2,4],"data_offsets":[18,34]}}""";
        byte[] f32 = [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0x80];                           // 1.5, -0
        byte[] bf16 = LittleEndian16(0x3F80, 0xC000, 0x4049, 0x0001, 0x7F80);                    // 1, -2, 3.140625, 2^-133, +inf
        byte[] f16 = LittleEndian16(0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0x7E00); // 1, -2, 0.5, 65504, 2^-24, -0, +inf, NaN
        byte[] bytes = Build(json, [.. f32, .. bf16, .. f16]);
        Assert.Equal(0, (bytes.Length - 34) % 8);

        var file = SafeTensorsFile.FromBytes(bytes, "reference.safetensors");
        Assert.Equal(["c", "b", "a"], file.Tensors.Select(t => t.Name));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal([SafeTensorsDType.F32, SafeTensorsDType.BF16, SafeTensorsDType.F16], file.Tensors.Select(t => t.DType));
        Assert.Equal([2, 4], file.GetInfo("a").Shape);
        Assert.Equal(8, file.GetInfo("a").ElementCount);
        Assert.Equal((18L, 34L), (file.GetInfo("a").DataBegin, file.GetInfo("a").DataEnd));

        Assert.Equal([1.5f, -0f], file.ReadFloat32("c"));
        Assert.True(float.IsNegative(file.ReadFloat32("c")[1]));
        Assert.Equal([1f, -2f, 3.140625f, MathF.Pow(2, -133), float.PositiveInfinity], file.ReadFloat32("b"));
        Assert.Equal([1d, -2d, 3.140625d, Math.Pow(2, -133), double.PositiveInfinity], file.ReadFloat64("b"));
        float[] a = file.ReadFloat32("a");
        Assert.Equal([1f, -2f, 0.5f, 65504f, MathF.Pow(2, -24), -0f, float.PositiveInfinity], a[..7]);
        Assert.True(float.IsNegative(a[5]));
        Assert.True(float.IsNaN(a[7]));
        double[] a64 = file.ReadFloat64("a");
        Assert.Equal(Math.Pow(2, -24), a64[4]);
        Assert.True(double.IsNaN(a64[7]));
        Assert.Equal(f16, file.GetRawBytes("a").ToArray());

        // The same file without padding (allowed by the format) and from a stream that cannot seek.
        var unpadded = SafeTensorsFile.FromBytes(Build(json, [.. f32, .. bf16, .. f16], pad: false));
        Assert.Equal(file.ReadFloat32("b"), unpadded.ReadFloat32("b"));
        var streamed = SafeTensorsFile.Read(new NonSeekableStream(bytes), "pipe");
        Assert.Equal(a[..7], streamed.ReadFloat32("a")[..7]);
    }

    [Fact]
    public void Reads_NullMetadata_AndEscapedNames()
    {
        var file = SafeTensorsFile.FromBytes(Build("""{"__metadata__":null,"a\u00e9\"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4));
        Assert.Empty(file.Metadata);
        Assert.True(file.Contains("aé\""));
    }

    [Fact]
    public void MissingTensor_ThrowsKeyNotFound_NamingIt()
    {
        var file = SafeTensorsFile.FromBytes(SmallValidFile(), "small.safetensors");
        Assert.True(file.Contains("w"));
        Assert.False(file.Contains("nope"));
        var e = Assert.Throws<KeyNotFoundException>(() => file.ReadFloat32("nope"));
        Assert.Contains("'nope'", e.Message);
        Assert.Contains("small.safetensors", e.Message);
        Assert.Contains("'w'", e.Message);
        Assert.Throws<KeyNotFoundException>(() => file.ReadFloat64("nope"));
        Assert.Throws<KeyNotFoundException>(() => file.GetInfo("nope"));
        Assert.Equal(Math.PI, file.ReadFloat64("s")[0]);
        Assert.Equal([1f, -2f, 65504f], file.ReadFloat32("h"));
    }

    // ---------------------------------------------------------------- refusals

    public static TheoryData<string, int, string> BadHeaders() => new()
    {
        { """{"a":1}""", 0, "tensor 'a': entry must be an object" },
        { """{"a":{"shape":[1],"data_offsets":[0,4]}}""", 4, "tensor 'a': 'dtype' is missing" },
        { """{"a":{"dtype":"F32","data_offsets":[0,4]}}""", 4, "tensor 'a': 'shape' is missing" },
        { """{"a":{"dtype":"F32","shape":[1]}}""", 4, "tensor 'a': 'data_offsets' is missing" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}""", 4, "unexpected key 'extra'" },
        { """{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4, "key 'dtype' appears more than once" },
        { """{"a":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}""", 4, "'dtype' must be a string but is the number 5" },
        { """{"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}""", 4, "dtype 'I8' is not supported" },
        { """{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}""", 4, "dtype 'U8' is not supported" },
        { """{"a":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}}""", 4, "dtype 'BOOL' is not supported" },
        { """{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}""", 4, "dtype 'I32' is not supported" },
        { """{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4, "dtype 'F8_E4M3' is not supported" },
        { """{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}""", 4, "dtype 'f32' is not supported" },
        { """{"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}""", 4, "'shape' must be an array of integers" },
        { """{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "shape element 0 is the number -1" },
        { """{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", 4, "shape element 0 is the number 1.5" },
        { """{"a":{"dtype":"F32","shape":[1,1e0],"data_offsets":[0,4]}}""", 4, "shape element 1 is the number 1e0" },
        { """{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}""", 4, "shape element 0 is the string" },
        { """{"a":{"dtype":"F32","shape":[2147483648],"data_offsets":[0,4]}}""", 4, "shape element 0 is the number 2147483648" },
        { """{"a":{"dtype":"F32","shape":[""" + string.Join(",", Enumerable.Repeat(1, 65)) + """],"data_offsets":[0,4]}}""", 4, "shape has 65 dimensions" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":4}}""", 4, "'data_offsets' must be an array of two integers" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", 4, "'data_offsets' must be an array of two integers [begin, end] but is an array of 1" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}""", 4, "but is an array of 3 elements" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[-1,4]}}""", 4, "data_offsets begin is the number -1" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}""", 4, "data_offsets end is the number 4.0" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}}""", 4, "data_offsets end is the number 18446744073709551615" },
        { """{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", 4, "data_offsets [4, 0] end before they begin" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", 4, "tensor 'a': shape [2] with dtype F32 needs 8 bytes but data_offsets [0, 4] span 4" },
        { """{"a":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}""", 8, "more bytes than fit in 64 bits" },
        { """{"a":{"dtype":"F32","shape":[1073741824,4],"data_offsets":[0,17179869184]}}""", 8, "17179869184 bytes, more than the limit" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, "tensor 'a': data_offsets [0, 8] run past the end of the data section, which has 4 bytes" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}""", 8, "tensor 'e': data_offsets [4, 4] overlap tensor 'a'" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12, "tensor 'b': data_offsets [8, 12] leave a gap: bytes 4 to 8" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "leave a gap: bytes 0 to 4" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8, "the data section has 8 bytes but its tensors cover only the first 4; 4 bytes belong to no tensor" },
        { """{}""", 4, "cover only the first 0" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "header has the key 'a' more than once" },
        { """{"__metadata__":{},"__metadata__":{}}""", 0, "header has the key '__metadata__' more than once" },
        { """{"__metadata__":[1]}""", 0, "'__metadata__' must be an object of strings but is an array" },
        { """{"__metadata__":"x"}""", 0, "'__metadata__' must be an object of strings" },
        { """{"__metadata__":{"k":1}}""", 0, "'__metadata__' value of 'k' must be a string but is the number 1" },
        { """{"__metadata__":{"k":null}}""", 0, "value of 'k' must be a string but is null" },
        { """{"__metadata__":{"k":{"x":"y"}}}""", 0, "value of 'k' must be a string but is an object" },
        { """{"__metadata__":{"k":"a","k":"b"}}""", 0, "'__metadata__' has the key 'k' more than once" },
        { """{"a":}""", 0, "header is not valid JSON" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}""", 4, "header is not valid JSON" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x""", 4, "header is not valid JSON" },
        { """{"__metadata__":{"k":""" + new string('[', 40) + new string(']', 40) + "}}", 0, "header is not valid JSON" },
        { """{"a":{"dtype":"F32"/*c*/,"shape":[1],"data_offsets":[0,4]}}""", 4, "header is not valid JSON" },
        { """ {}""", 0, "must be a JSON object starting with '{' but starts with byte 0x20" },
        { """[]""", 0, "starts with byte 0x5B" },
        { "\"{}\"", 0, "starts with byte 0x22" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void RefusesMalformedHeader(string json, int dataLength, string fragment)
    {
        Refused(Build(json, dataLength), fragment);
        // The same verdict from a stream that cannot seek (where the layout is checked as the data arrives).
        Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(new NonSeekableStream(Build(json, dataLength)), Name));
    }

    [Fact]
    public void RefusesBadHeaderLengths_AndEncoding()
    {
        static byte[] Raw(ulong n, byte[] rest) => [.. BitConverter.GetBytes(n), .. rest];
        Refused(Raw(0, []), "header length is 0 but must be at least 2");
        Refused(Raw(1, "{"u8.ToArray()), "header length is 1 but must be at least 2");
        Refused(Raw(100_000_001, new byte[16]), "header length is 100000001 bytes, more than the limit of 100000000");
        Refused(Raw(ulong.MaxValue, new byte[16]), "header length is 18446744073709551615");
        Refused(Raw(20, "{}"u8.ToArray()), "header length is 20 bytes but the file has only 2 bytes after the 8-byte length");
        Refused(Raw(4, [(byte)'{', (byte)'"', 0xFF, (byte)'}']), "header is not valid UTF-8");
        Refused(Raw(6, [(byte)'{', (byte)'"', 0xED, 0xA0, 0x80, (byte)'}']), "header is not valid UTF-8"); // encoded surrogate
        Refused([1, 2, 3], "is truncated: the 8-byte header length needs 8 bytes but only 3 remain");
        // Through a stream that cannot seek, the length is discovered by reading.
        IoAssert.Refused(() => SafeTensorsFile.Read(new NonSeekableStream(Raw(20, "{}"u8.ToArray())), Name), Name, "is truncated: the header needs 20 bytes but only 2 remain");
    }

    [Fact]
    public void RefusesEscapedLoneSurrogates_AsTheReferenceDoes()
    {
        Refused(Build("""{"\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4), "header has a string that is not valid Unicode");
        Refused(Build("""{"__metadata__":{"k":"\udc00x"}}""", 0), "header has a string that is not valid Unicode");
        // A correctly escaped pair is fine.
        Assert.True(SafeTensorsFile.FromBytes(Build("""{"\ud83d\ude80":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4)).Contains("🚀"));
    }

    [Fact]
    public void RefusesTruncatedTensorData_NamingTheTensor()
    {
        byte[] valid = SmallValidFile();
        // Through a stream that cannot seek, the layout cannot be compared with the length in advance.
        IoAssert.Refused(() => SafeTensorsFile.Read(new NonSeekableStream(valid[..^3]), Name), Name, "is truncated: tensor 'h'", "needs 6 bytes but only 3 remain");
        IoAssert.Refused(() => SafeTensorsFile.Read(new NonSeekableStream([.. valid, 0]), Name), Name, "unexpected trailing bytes after the data section");
        Refused(valid[..^3], "tensor 'h': data_offsets [24, 30] run past the end of the data section, which has 27 bytes");
    }

    [Fact]
    public void EveryTruncation_OfASmallValidFile_IsRefused()
    {
        byte[] valid = SmallValidFile();
        Assert.Equal(3, SafeTensorsFile.FromBytes(valid).Tensors.Count);
        IoAssert.EveryTruncationRefused(valid, s => SafeTensorsFile.Read(s, Name));
    }

    [Fact]
    public void HugeClaims_AreRefused_WithoutLargeAllocations()
    {
        using var dir = new TempDirectory();
        string path = dir.File("huge.safetensors");
        byte[] claim = [.. BitConverter.GetBytes(1UL << 60), .. "{}      "u8.ToArray()];
        File.WriteAllBytes(path, claim);

        long fromFile = IoAssert.AllocatedBy(() => Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(path)));
        long fromMemory = IoAssert.AllocatedBy(() => Assert.Throws<InvalidDataException>(() => SafeTensorsFile.FromBytes(claim)));
        long fromPipe = IoAssert.AllocatedBy(() => Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(new NonSeekableStream(claim), "pipe")));
        // A header length just under the limit, from a stream that cannot seek: read as it arrives.
        byte[] almost = [.. BitConverter.GetBytes(99_000_000UL), .. "{}      "u8.ToArray()];
        long header = IoAssert.AllocatedBy(() => Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(new NonSeekableStream(almost), "pipe")));
        // A valid header whose tensor claims 2 GB that never arrives.
        byte[] bigTensor = Build("""{"a":{"dtype":"F32","shape":[536870000],"data_offsets":[0,2147480000]}}""", 16);
        long tensorFromPipe = IoAssert.AllocatedBy(() => Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Read(new NonSeekableStream(bigTensor), "pipe")));
        long tensorFromMemory = IoAssert.AllocatedBy(() => Assert.Throws<InvalidDataException>(() => SafeTensorsFile.FromBytes(bigTensor)));

        Assert.True(fromFile < 100_000, $"reading a file claiming a 2^60-byte header allocated {fromFile} bytes");
        Assert.True(fromMemory < 100_000, $"FromBytes allocated {fromMemory} bytes");
        Assert.True(fromPipe < 100_000, $"a non-seekable stream allocated {fromPipe} bytes");
        Assert.True(header < 400_000, $"a 99 MB header claim allocated {header} bytes");
        Assert.True(tensorFromPipe < 400_000, $"a 2 GB tensor claim allocated {tensorFromPipe} bytes");
        Assert.True(tensorFromMemory < 100_000, $"a 2 GB tensor claim in memory allocated {tensorFromMemory} bytes");
    }

    [Fact]
    public void TensorAndMetadataCounts_AreLimited_BeforeAnyEntryIsDescribed()
    {
        const int Tensors = SafeTensorsFile.MaxTensors + 1;
        byte[] many = Build("{" + string.Join(",", Enumerable.Range(0, Tensors).Select(i => $"\"{i}\":{{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}")) + "}", 0);
        // Parsing the JSON costs about twice the file (the copy and the header); describing 2^17 tensors would cost about 16 times.
        long allocated = IoAssert.AllocatedBy(() => Refused(many, $"header has {Tensors} tensors, more than the limit of {SafeTensorsFile.MaxTensors}."));
        Assert.True(allocated < 3L * many.Length, $"allocated {allocated} bytes for a {many.Length}-byte file");

        const int Entries = SafeTensorsFile.MaxMetadataEntries + 1;
        byte[] metadata = Build("{\"__metadata__\":{" + string.Join(",", Enumerable.Range(0, Entries).Select(i => $"\"{i}\":\"\"")) + "}}", 0);
        Refused(metadata, $"'__metadata__' has {Entries} entries, more than the limit of {SafeTensorsFile.MaxMetadataEntries}.");

        // The writer refuses what the reader would.
        var tensors = Enumerable.Range(0, Tensors).Select(i => new SafeTensorData($"t{i}", Array.Empty<float>(), 0));
        var e1 = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(Stream.Null, tensors));
        Assert.Equal("tensors", e1.ParamName);
        Assert.Contains($"tensors has {Tensors} tensors, more than the limit of {SafeTensorsFile.MaxTensors}.", e1.Message);
        var entries = Enumerable.Range(0, Entries).ToDictionary(i => $"{i}", _ => "");
        var e2 = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(Stream.Null, [], entries));
        Assert.Equal("metadata", e2.ParamName);
        Assert.Contains($"metadata has {Entries} entries, more than the limit of {SafeTensorsFile.MaxMetadataEntries}.", e2.Message);
    }

    [Fact]
    public void UnreadableStreamsAndDirectories_AreRefusedWithTheDocumentedExceptions()
    {
        var disposed = new MemoryStream(SmallValidFile());
        disposed.Dispose();
        var e = Assert.Throws<ArgumentException>(() => SafeTensorsFile.Read(disposed, Name));
        Assert.Equal("stream", e.ParamName);
        Assert.Contains("stream must be readable, but CanRead is false", e.Message);
        using var dir = new TempDirectory();
        Assert.Throws<UnauthorizedAccessException>(() => SafeTensorsFile.Read(dir.Path));
        Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Read(dir.File("missing.safetensors")));
        Assert.Throws<ArgumentNullException>(() => SafeTensorsFile.FromBytes(SmallValidFile()).GetInfo(null!));
    }

    // ---------------------------------------------------------------- writer

    [Fact]
    public void Writer_RefusesBadArguments_Clearly()
    {
        var e1 = Assert.Throws<ArgumentException>(() => new SafeTensorData("w", new float[5], 2, 3));
        Assert.Contains("'w' has 5 values but shape (2, 3) needs 6", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => new SafeTensorData("w", new double[0], 2, -1));
        Assert.Contains("every length must be at least 0", e2.Message);
        Assert.Throws<ArgumentException>(() => new SafeTensorData("__metadata__", new float[1], 1));
        Assert.Throws<ArgumentNullException>(() => new SafeTensorData("w", (float[])null!, 1));
        Assert.Throws<ArgumentNullException>(() => new SafeTensorData(null!, new float[1], 1));

        var stream = new MemoryStream();
        var e3 = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(stream, [new SafeTensorData("a", new float[1], 1), new SafeTensorData("a", new float[1], 1)]));
        Assert.Contains("two tensors named 'a'", e3.Message);
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(stream, [new SafeTensorData("bad\ud800", new float[1], 1)]));
        Assert.Throws<ArgumentNullException>(() => SafeTensorsWriter.Write(stream, [null!]));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void AtomicWrite_EnumerationFailure_LeavesOldFileIntact_AndNoTempFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("model.safetensors");
        SafeTensorsWriter.Write(path, [new SafeTensorData("old", new float[] { 1, 2, 3 }, 3)]);
        byte[] before = File.ReadAllBytes(path);

        static IEnumerable<SafeTensorData> Failing()
        {
            yield return new SafeTensorData("new", new float[1000], 1000);
            throw new InvalidOperationException("enumeration failed");
        }
        var e = Assert.Throws<InvalidOperationException>(() => SafeTensorsWriter.Write(path, Failing()));
        Assert.Equal("enumeration failed", e.Message);

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], dir.Names());
        Assert.Equal([1f, 2f, 3f], SafeTensorsFile.Read(path).ReadFloat32("old"));
    }

    [Fact]
    public void AtomicWrite_FailureHalfwayThroughTheBytes_LeavesOldFileIntact_AndNoTempFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("target.bin");
        File.WriteAllBytes(path, [1, 2, 3]);

        var e = Assert.Throws<IOException>(() => Lru.IO.AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[100_000]);
            stream.Flush();
            Assert.Equal(2, dir.Names().Length); // the temporary file exists next to the target meanwhile
            throw new IOException("disk full (simulated)");
        }));
        Assert.Equal("disk full (simulated)", e.Message);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(["target.bin"], dir.Names());

        // Success replaces the file and leaves nothing else behind.
        Lru.IO.AtomicFile.Write(path, stream => stream.Write([9]));
        Assert.Equal([9], File.ReadAllBytes(path));
        Assert.Equal(["target.bin"], dir.Names());

        Assert.Throws<DirectoryNotFoundException>(() => SafeTensorsWriter.Write(Path.Combine(dir.Path, "missing", "x.safetensors"), []));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(dir.Path, []));
        Assert.Equal(["target.bin"], dir.Names());
    }
}
