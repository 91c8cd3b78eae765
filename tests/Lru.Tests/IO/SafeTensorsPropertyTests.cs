using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using CsCheck;
using Lru.IO;

namespace Lru.Tests.IO;

/// <summary>
/// Property-based tests of <see cref="SafeTensorsFile"/> (CsCheck; a failure prints the seed that
/// reproduces it): random files round-trip through the writer bit for bit, and random, structured and
/// mutated inputs are either read completely or refused with the documented exception, from memory and
/// from a stream that cannot seek alike, within the hang limit and without allocating what a header
/// merely claims.
/// </summary>
public class SafeTensorsPropertyTests
{
    private const string Name = "fuzz.safetensors";
    private const string Prefix = $"safetensors file '{Name}'";

    /// <summary>A tensor to write, keeping its values (which <see cref="SafeTensorData"/> does not expose).</summary>
    public sealed record TensorCase(string Name, int[] Shape, float[]? Single, double[]? Double)
    {
        public SafeTensorData ToData() => Single is not null ? new SafeTensorData(Name, Single, Shape) : new SafeTensorData(Name, Double!, Shape);

        public ReadOnlySpan<byte> Bytes => Single is not null ? MemoryMarshal.AsBytes(Single.AsSpan()) : MemoryMarshal.AsBytes(Double.AsSpan());

        public override string ToString() => $"'{Name}' {(Single is null ? "F64" : "F32")} [{string.Join(", ", Shape)}]";
    }

    /// <summary>A file to write: tensors and metadata.</summary>
    public sealed record FileCase(TensorCase[] Tensors, Dictionary<string, string> Metadata)
    {
        public byte[] Write()
        {
            var stream = new MemoryStream();
            SafeTensorsWriter.Write(stream, Tensors.Select(t => t.ToData()), Metadata);
            return stream.ToArray();
        }

        public override string ToString() =>
            $"tensors [{string.Join("; ", Tensors)}], metadata {{{string.Join(", ", Metadata.Select(p => $"'{p.Key}': '{p.Value}'"))}}}";
    }

    private static readonly Gen<TensorCase> Tensor =
        from name in ParserFuzz.Text(0, 8)
        from isDouble in Gen.Bool
        from shape in ParserFuzz.Shape(0, 4)
        from single in ParserFuzz.AnyFloat.Array[isDouble ? 0 : ParserFuzz.Count(shape)]
        from dbl in ParserFuzz.AnyDouble.Array[isDouble ? ParserFuzz.Count(shape) : 0]
        select new TensorCase(name, shape, isDouble ? null : single, isDouble ? dbl : null);

    /// <summary>Zero to five tensors with unique names (incl. the empty name, escapes and astral characters), and up to four metadata entries.</summary>
    private static readonly Gen<FileCase> Files =
        from tensors in Tensor.Array[0, 5]
        from metadata in Gen.Select(ParserFuzz.Text(0, 6), ParserFuzz.Text(0, 12)).Array[0, 4]
        select new FileCase(
            tensors.Where(t => t.Name != SafeTensorsFile.MetadataKey).DistinctBy(t => t.Name).ToArray(),
            metadata.DistinctBy(p => p.Item1).ToDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal));

    /// <summary>A valid file with its bytes.</summary>
    private static readonly Gen<(FileCase Case, byte[] Bytes)> ValidFiles = Files.Select(f => (f, f.Write()));

    /// <summary>A tensor of any of the four dtypes, with raw little-endian bytes, for files built here rather than by the writer.</summary>
    public sealed record RawTensor(string Name, SafeTensorsDType DType, int[] Shape, byte[] Data)
    {
        public override string ToString() => $"'{Name}' {DType} [{string.Join(", ", Shape)}]";
    }

    /// <summary>
    /// A file the writer cannot make: F16 and BF16 tensors too, names escaped as \uXXXX (what
    /// <see cref="Utf8JsonWriter"/> does with non-ASCII), the data in another order than the header's
    /// entries, and 0 to 8 spaces of padding.
    /// </summary>
    public sealed record RawFile(RawTensor[] Tensors, int[] DataOrder, int Padding)
    {
        public byte[] Build()
        {
            var offsets = new long[Tensors.Length];
            long offset = 0;
            foreach (int i in DataOrder)
            {
                offsets[i] = offset;
                offset += Tensors[i].Data.Length;
            }
            var json = new ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(json))
            {
                w.WriteStartObject();
                for (int i = 0; i < Tensors.Length; i++)
                {
                    w.WriteStartObject(Tensors[i].Name);
                    w.WriteString("dtype", Tensors[i].DType.ToString());
                    w.WriteStartArray("shape");
                    foreach (int d in Tensors[i].Shape) w.WriteNumberValue(d);
                    w.WriteEndArray();
                    w.WriteStartArray("data_offsets");
                    w.WriteNumberValue(offsets[i]);
                    w.WriteNumberValue(offsets[i] + Tensors[i].Data.Length);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            byte[] header = [.. json.WrittenSpan, .. Enumerable.Repeat((byte)' ', Padding)];
            return [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. DataOrder.SelectMany(i => Tensors[i].Data)];
        }

        public override string ToString() => $"tensors [{string.Join("; ", Tensors.AsEnumerable())}], data in order [{string.Join(", ", DataOrder)}]";
    }

    private static readonly Gen<RawTensor> AnyRawTensor =
        from name in ParserFuzz.Text(0, 8)
        from dtype in Gen.Enum<SafeTensorsDType>()
        from shape in ParserFuzz.Shape(0, 4)
        from data in Gen.Byte.Array[ParserFuzz.Count(shape) * Size(dtype)]
        select new RawTensor(name, dtype, shape, data);

    private static readonly Gen<RawFile> RawFiles =
        from all in AnyRawTensor.Array[0, 5]
        let tensors = all.Where(t => t.Name != SafeTensorsFile.MetadataKey).DistinctBy(t => t.Name).ToArray()
        from keys in Gen.Int.Array[tensors.Length]
        from padding in Gen.Int[0, 8]
        select new RawFile(tensors, Enumerable.Range(0, tensors.Length).OrderBy(i => keys[i]).ToArray(), padding);

    /// <summary>Valid files of both kinds, described for failure reports.</summary>
    private static readonly Gen<(string Case, byte[] Bytes)> AnyValidFiles = Gen.OneOf(
        ValidFiles.Select(v => (v.Case.ToString(), v.Bytes)),
        RawFiles.Select(r => (r.ToString(), r.Build())));

    private static int Size(SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.F32 => 4,
        _ => 8,
    };

    /// <summary>The 8-byte header length, and the header's text (for number replacements).</summary>
    private static byte[] Mutate(byte[] valid, Edit[] edits)
    {
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        return ParserFuzz.Apply(valid, edits, [new Field(0, 8, BigEndian: false)], 8, 8 + (int)n);
    }

    // ---------------------------------------------------------------- (a) round trip

    [Fact]
    public void RandomTensorsAndMetadata_RoundTripBitExact_FromMemoryAndFromAPipe() => ParserFuzz.WithinHangLimit(() =>
        ValidFiles.Sample(c =>
        {
            var (file, bytes) = c;
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0UL, (8 + n) % 8); // the data section is 8-byte aligned
            foreach (var read in new[] { SafeTensorsFile.FromBytes(bytes, Name), SafeTensorsFile.Read(new NonSeekableStream(bytes), Name) })
            {
                Assert.Equal(file.Tensors.Select(t => t.Name), read.Tensors.Select(t => t.Name));
                foreach (var t in file.Tensors)
                {
                    var info = read.GetInfo(t.Name);
                    Assert.Equal(t.Single is null ? SafeTensorsDType.F64 : SafeTensorsDType.F32, info.DType);
                    Assert.Equal(t.Shape, info.Shape);
                    Assert.Equal(ParserFuzz.Count(t.Shape), info.ElementCount);
                    Assert.True(t.Bytes.SequenceEqual(read.GetRawBytes(t.Name).Span), $"tensor '{t.Name}': bytes differ");
                    if (t.Single is not null)
                        Assert.Equal(t.Single.Select(BitConverter.SingleToUInt32Bits), read.ReadFloat32(t.Name).Select(BitConverter.SingleToUInt32Bits));
                    else
                        Assert.Equal(t.Double!.Select(BitConverter.DoubleToUInt64Bits), read.ReadFloat64(t.Name).Select(BitConverter.DoubleToUInt64Bits));
                }
                Assert.Equal(file.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal), read.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
            }
        }, iter: ParserFuzz.Iterations(300), print: c => c.Case.ToString()));

    /// <summary>
    /// Files of all four dtypes, with the data in another order than the entries, read back as the
    /// values of their bytes: F16 and BF16 widened exactly, F64 rounded to float by ReadFloat32.
    /// </summary>
    [Fact]
    public void HandBuiltFilesOfEveryDType_ReadAsTheValuesOfTheirBytes() => ParserFuzz.WithinHangLimit(() =>
        RawFiles.Sample(file =>
        {
            byte[] bytes = file.Build();
            Assert.True(ReadOrRefuse(bytes, file.ToString()), $"{file} was refused");
            var read = SafeTensorsFile.FromBytes(bytes, Name);
            Assert.Equal(file.Tensors.Select(t => t.Name), read.Tensors.Select(t => t.Name));
            foreach (var t in file.Tensors)
            {
                Assert.Equal(t.DType, read.GetInfo(t.Name).DType);
                Assert.Equal(t.Shape, read.GetInfo(t.Name).Shape);
                int n = ParserFuzz.Count(t.Shape), size = Size(t.DType);
                var expected64 = new double[n];
                var expected32 = new float[n];
                for (int i = 0; i < n; i++)
                {
                    var at = t.Data.AsSpan(i * size, size);
                    // Each widening is done once, from the stored type (a float that went through double
                    // would lose a signalling NaN's quiet bit, which ReadFloat32 keeps).
                    (expected64[i], expected32[i]) = t.DType switch
                    {
                        SafeTensorsDType.F16 => ((double)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(at)), (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(at))),
                        SafeTensorsDType.BF16 => (BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(at) << 16), BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(at) << 16)),
                        SafeTensorsDType.F32 => (BinaryPrimitives.ReadSingleLittleEndian(at), BinaryPrimitives.ReadSingleLittleEndian(at)),
                        _ => (BinaryPrimitives.ReadDoubleLittleEndian(at), (float)BinaryPrimitives.ReadDoubleLittleEndian(at)),
                    };
                }
                Assert.Equal(expected64.Select(BitConverter.DoubleToUInt64Bits), read.ReadFloat64(t.Name).Select(BitConverter.DoubleToUInt64Bits));
                Assert.Equal(expected32.Select(BitConverter.SingleToUInt32Bits), read.ReadFloat32(t.Name).Select(BitConverter.SingleToUInt32Bits));
            }
        }, iter: ParserFuzz.Iterations(300), print: f => f.ToString()));

    // ---------------------------------------------------------------- (b), (c), (d) read or refuse

    [Fact]
    public void RandomBytes_AreReadOrRefused_WithTheDocumentedException() => ParserFuzz.WithinHangLimit(() =>
        Gen.OneOf(
            Gen.Byte.Array[0, 64],
            // A plausible header length followed by header-like bytes.
            from n in Gen.Frequency((3, Gen.ULong[0, 80]), (1, ParserFuzz.InterestingULong))
            from rest in Gen.Frequency((3, Gen.Int[0, 36].Select(i => (byte)"{}[]\":,0123456789 FBdtypeshapedata_offsets"[i])), (1, Gen.Byte)).Array[0, 96]
            select (byte[])[.. BitConverter.GetBytes(n), .. rest])
        .Sample(bytes => { ReadOrRefuse(bytes, ParserFuzz.Describe(bytes)); }, iter: ParserFuzz.Iterations(5000), print: b => ParserFuzz.Describe(b)));

    /// <summary>Headers built from valid and invalid pieces, to reach every check of an entry and of the layout.</summary>
    [Fact]
    public void StructuredRandomHeaders_AreReadOrRefused_WithTheDocumentedException()
    {
        var dtype = Gen.OneOf(Gen.Const("\"F32\""), Gen.Const("\"F64\""), Gen.Const("\"F16\""), Gen.Const("\"BF16\""), Gen.Const("\"I8\""), Gen.Const("\"f32\""), Gen.Const("32"), Gen.Const("null"));
        var number = Gen.Frequency((6, Gen.Int[0, 24].Select(i => i.ToString(CultureInfo.InvariantCulture))), (1, ParserFuzz.InterestingNumber));
        var list = number.Array[0, 4].Select(a => "[" + string.Join(",", a) + "]");
        var entry =
            from d in dtype
            from shape in Gen.Frequency((6, list), (1, Gen.Const("{}")), (1, Gen.Const("\"x\"")),
                                        (1, Gen.Int[1, 100_000].Select(k => new string('[', k) + new string(']', k))))
            from offsets in Gen.Frequency((6, number.Array[2].Select(a => $"[{a[0]},{a[1]}]")), (1, list))
            from extra in Gen.Frequency((8, Gen.Const("")), (1, Gen.Const(",\"x\":1")), (1, Gen.Const(",\"dtype\":\"F32\"")))
            from order in Gen.Int[0, 2]
            select order switch
            {
                0 => $"{{\"dtype\":{d},\"shape\":{shape},\"data_offsets\":{offsets}{extra}}}",
                1 => $"{{\"data_offsets\":{offsets},\"shape\":{shape},\"dtype\":{d}{extra}}}",
                _ => $"{{\"shape\":{shape},\"dtype\":{d}{extra}}}",
            };
        // Plain names, an escaped duplicate of one, an escaped lone surrogate, the metadata key itself.
        var names = Gen.Frequency((8, Gen.Int[0, 3].Select(i => $"t{i}")), (1, Gen.Const("\\u0074\\u0030")), (1, Gen.Const("\\ud800")), (1, Gen.Const("__metadata__")));
        var metadata = Gen.OneOf(Gen.Const(""), Gen.Const("\"__metadata__\":null,"), Gen.Const("\"__metadata__\":{\"k\":\"v\"},"), Gen.Const("\"__metadata__\":{\"k\":1},"), Gen.Const("\"__metadata__\":[],"));
        var files =
            from meta in metadata
            from entries in Gen.Select(names, entry).Array[0, 4]
            // No data bytes now and then: random offsets rarely cover the data exactly, and without this
            // about one file in 1,000 was valid, so the tally below could see none.
            from data in Gen.Frequency((4, Gen.Int[0, 120]), (1, Gen.Const(0)))
            from pad in Gen.Int[0, 9]
            let json = "{" + meta + string.Join(",", entries.Select(e => $"\"{e.Item1}\":{e.Item2}")) + "}"
            let header = Encoding.UTF8.GetBytes(json.Replace(",}", "}", StringComparison.Ordinal) + new string(' ', pad))
            select (byte[])[.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[data]];
        var tally = new Tally();
        ParserFuzz.WithinHangLimit(() => files.Sample(
            bytes => { tally.Count(ReadOrRefuse(bytes, ParserFuzz.Describe(bytes))); },
            iter: ParserFuzz.Iterations(2000), print: b => ParserFuzz.Clip(Encoding.UTF8.GetString(b))));
        Assert.True(tally.Accepted > 0 && tally.Refused > 0, tally.ToString());
    }

    [Fact]
    public void MutatedValidFiles_AreReadOrRefused_WithTheDocumentedException() => ParserFuzz.WithinHangLimit(() =>
    {
        var tally = new Tally();
        Gen.Select(AnyValidFiles, ParserFuzz.Edits).Sample((valid, edits) =>
        {
            byte[] bytes = Mutate(valid.Bytes, edits);
            tally.Count(ReadOrRefuse(bytes, ParserFuzz.Describe(bytes, edits)));
        }, iter: ParserFuzz.Iterations(4000), print: c => $"{c.Item1.Case} mutated by [{string.Join(", ", c.Item2)}]");
        // Both outcomes occur (mutations of the data bytes keep a file valid), or the generator is broken.
        Assert.True(tally.Accepted > 0 && tally.Refused > tally.Accepted, tally.ToString());
    });

    // ---------------------------------------------------------------- (e) allocation

    /// <summary>
    /// A valid file whose header length or one header number is set to 2^20 or more (up to 2^63) is read
    /// or refused allocating at most 4 × its length + 256 KiB. The file is copied once (FromBytes) and
    /// its header is held as bytes and parsed into a <see cref="System.Text.Json.JsonDocument"/>, and a
    /// stream that cannot seek is read into a buffer that starts at 64 KiB and doubles only as data
    /// arrives. The files are at most ~10 KB, so the bound is below the smallest claim (1 MiB): honouring a
    /// claim before checking it against the data would fail the test.
    /// </summary>
    [Fact]
    public void HugeClaims_AllocateNoMoreThanTheFileWarrants()
    {
        // Warm-up: first-use costs (static tables, pools) are not the parse's.
        ReadOrRefuse(new FileCase([new TensorCase("w", [2], [1, 2], null)], new() { ["k"] = "v" }).Write(), "warm-up");
        ParserFuzz.WithinHangLimit(() => Gen.Select(AnyValidFiles, ParserFuzz.HugeClaim).Sample((valid, claim) =>
        {
            byte[] bytes = Mutate(valid.Bytes, [claim]);
            long bound = 4L * bytes.Length + 256 * 1024;
            long fromMemory = ParserFuzz.Allocated(() => ParserFuzz.ReadOrRefuse(() => SafeTensorsFile.FromBytes(bytes, Name), Prefix, "from memory"));
            long fromPipe = ParserFuzz.Allocated(() => ParserFuzz.ReadOrRefuse(() => SafeTensorsFile.Read(new NonSeekableStream(bytes), Name), Prefix, "from a pipe"));
            Assert.True(fromMemory <= bound && fromPipe <= bound,
                $"{claim} on a {bytes.Length}-byte file allocated {fromMemory} bytes from memory and {fromPipe} from a pipe; the bound is {bound}.");
        }, iter: ParserFuzz.Iterations(500), print: c => $"{c.Item1.Case} with {c.Item2}"));
    }

    // ---------------------------------------------------------------- oracle

    /// <summary>
    /// Reads <paramref name="bytes"/> from memory and from a stream that cannot seek. Both must be
    /// refused with <see cref="InvalidDataException"/>, or both accepted with the same content, and an
    /// accepted file must have been read whole: its header and tensors account for every byte, and each
    /// tensor's bytes are the ones at its offsets.
    /// </summary>
    /// <returns>Whether the input was accepted.</returns>
    private static bool ReadOrRefuse(byte[] bytes, string input)
    {
        var fromMemory = ParserFuzz.ReadOrRefuse(() => SafeTensorsFile.FromBytes(bytes, Name), Prefix, input);
        var fromPipe = ParserFuzz.ReadOrRefuse(() => SafeTensorsFile.Read(new NonSeekableStream(bytes), Name), Prefix, input + " (not seekable)");
        Assert.True((fromMemory is null) == (fromPipe is null), $"{input}: from memory {(fromMemory is null ? "refused" : "read")}, from a pipe {(fromPipe is null ? "refused" : "read")}.");
        if (fromMemory is null || fromPipe is null) return false;

        long dataStart = 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(bytes.Length, dataStart + fromMemory.Tensors.Sum(t => t.ByteLength));
        Assert.Equal(fromMemory.Metadata, fromPipe.Metadata);
        Assert.Equal(fromMemory.Tensors.Select(t => t.ToString()), fromPipe.Tensors.Select(t => t.ToString()));
        foreach (var t in fromMemory.Tensors)
        {
            int size = t.DType switch { SafeTensorsDType.F64 => 8, SafeTensorsDType.F32 => 4, _ => 2 };
            Assert.Equal(t.Shape.Aggregate(1L, (p, d) => p * d), t.ElementCount);
            Assert.Equal(t.ElementCount * size, t.ByteLength);
            var stored = bytes.AsSpan((int)(dataStart + t.DataBegin), (int)t.ByteLength);
            Assert.True(stored.SequenceEqual(fromMemory.GetRawBytes(t.Name).Span), $"{input}: tensor '{t.Name}' bytes differ from the file");
            Assert.True(stored.SequenceEqual(fromPipe.GetRawBytes(t.Name).Span), $"{input}: tensor '{t.Name}' bytes differ from the file (pipe)");
            Assert.Equal(t.ElementCount, fromMemory.ReadFloat32(t.Name).Length);
            Assert.Equal(t.ElementCount, fromMemory.ReadFloat64(t.Name).Length);
        }
        return true;
    }
}
