using System.Buffers.Binary;
using System.Text;
using Lru.IO;

namespace Lru.Tests.IO;

public class NpyTests
{
    private const string Name = "bad.npy";

    /// <summary>
    /// Files written by NumPy 1.24.2 (<c>numpy.save</c>, or <c>numpy.lib.format.write_array</c> with an
    /// explicit version), base64-encoded. Generated once with Debian's python3-numpy; the tests do not need Python.
    /// </summary>
    private static class Numpy
    {
        /// <summary>float32 (2, 3): [[NaN (bits 7FC12345), -0, 1e-45 (subnormal)], [inf, -2.25, 3]].</summary>
        public const string F32_2x3 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIApFI8F/AAAAgAEAAAAAAIB/AAAQwAAAQEA=";

        /// <summary>float64 (5,): [0.1, -0, 5e-324, -inf, 1e300].</summary>
        public const string F64_5 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDUsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqamZmZmZm5PwAAAAAAAACAAQAAAAAAAAAAAAAAAADw/5x1AIg85Dd+";

        /// <summary>float32 scalar 7.25, shape ().</summary>
        public const string F32_Scalar = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAOhA";

        /// <summary>float64, shape (0,).</summary>
        public const string F64_Empty = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDAsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=";

        /// <summary>float32 (2, 1, 2): 0, 1, 2, 3.</summary>
        public const string F32_2x1x2 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDEsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBA";

        /// <summary>float32, shape (12345, 0): a five-digit first axis changes NumPy's spare header space.</summary>
        public const string F32_12345x0 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEyMzQ1LCAwKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=";

        /// <summary>Big-endian float32 (3,).</summary>
        public const string F32_BigEndian = "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAP4AAAEAAAAA=";

        /// <summary>float32 (2, 3) in Fortran order.</summary>
        public const string F32_Fortran = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA=";

        /// <summary>int32 (3,).</summary>
        public const string I4 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAQAAAAIAAAA=";

        /// <summary>int8 (3,): -128, 0, 127.</summary>
        public const string I1 = "k05VTVBZAQB2AHsnZGVzY3InOiAnfGkxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqAAH8=";

        /// <summary>int16 (3,): -32768, 1, 32767.</summary>
        public const string I2 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGkyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAgAEA/38=";

        /// <summary>int32 (2, 2): int.MinValue, 1, 2, int.MaxValue.</summary>
        public const string I4_2x2 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAACAAQAAAAIAAAD///9/";

        /// <summary>int64 (3,): long.MinValue, 3, long.MaxValue.</summary>
        public const string I8 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAgAMAAAAAAAAA/////////38=";

        /// <summary>uint8 (3,): 0, 7, 255.</summary>
        public const string U1 = "k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAB/8=";

        /// <summary>uint16 (2,): 0, 65535.</summary>
        public const string U2 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPHUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAP//";

        /// <summary>uint32 (2,): 0, uint.MaxValue.</summary>
        public const string U4 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPHU0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAA/////w==";

        /// <summary>uint64 (2,): 0, ulong.MaxValue.</summary>
        public const string U8 = "k05VTVBZAQB2AHsnZGVzY3InOiAnPHU4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAP//////////";

        /// <summary>bool (3,): True, False, True.</summary>
        public const string B1 = "k05VTVBZAQB2AHsnZGVzY3InOiAnfGIxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE=";

        /// <summary><c>numpy.save(f, numpy.array([3, 1, 4, 1, 5]))</c>: NumPy's default integer, int64 on Linux.</summary>
        public const string DefaultInt = "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDUsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoDAAAAAAAAAAEAAAAAAAAABAAAAAAAAAABAAAAAAAAAAUAAAAAAAAA";

        /// <summary>An object array [1, 'a'] (pickled).</summary>
        public const string Object = "k05VTVBZAQB2AHsnZGVzY3InOiAnfE8nLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqAA2NudW1weS5jb3JlLm11bHRpYXJyYXkKX3JlY29uc3RydWN0CnEAY251bXB5Cm5kYXJyYXkKcQFLAIVxAkMBYnEDh3EEUnEFKEsBSwKFcQZjbnVtcHkKZHR5cGUKcQdYAgAAAE84cQiJiIdxCVJxCihLA1gBAAAAfHELTk5OSv////9K/////0s/dHEMYoldcQ0oSwFYAQAAAGFxDmV0cQ9iLg==";

        /// <summary>A structured array of (x: float32, y: int32), shape (2,).</summary>
        public const string Structured = "k05VTVBZAQB2AHsnZGVzY3InOiBbKCd4JywgJzxmNCcpLCAoJ3knLCAnPGk0JyldLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAAAA";

        /// <summary>Format version 2.0, float64 (3,): 0, 1, 2.</summary>
        public const string V2 = "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAPA/AAAAAAAAAEA=";

        /// <summary>Format version 3.0, float32 (3,): 0, 1, 2.</summary>
        public const string V3 = "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEA=";
    }

    private static NpyArray Load(string base64) => NpyFile.Read(new MemoryStream(Convert.FromBase64String(base64)), "numpy.npy");

    private static byte[] Save(NpyArray array)
    {
        var stream = new MemoryStream();
        NpyFile.Write(stream, array);
        return stream.ToArray();
    }

    /// <summary>A version 1.0 file with the given header text (padded as NumPy does) and data bytes.</summary>
    private static byte[] Build(string dict, byte[] data, int major = 1)
    {
        int lengthField = major == 1 ? 2 : 4;
        int total = 8 + lengthField + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        string header = dict + new string(' ', pad) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        if (major == 1) bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        else bytes.AddRange(BitConverter.GetBytes((uint)header.Length));
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    private static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private static InvalidDataException Refused(byte[] bytes, params string[] fragments) =>
        IoAssert.Refused(() => NpyFile.Read(new MemoryStream(bytes), Name), [Name, .. fragments]);

    // ---------------------------------------------------------------- NumPy's own files

    [Fact]
    public void Reads_FilesWrittenByNumpy()
    {
        var a = Load(Numpy.F32_2x3);
        Assert.Equal(NpyDType.Float32, a.DType);
        Assert.Equal([2, 3], a.Shape);
        Assert.Equal(6, a.Length);
        float[] f = a.ToFloat32();
        Assert.Equal(0x7FC12345u, BitConverter.SingleToUInt32Bits(f[0]));
        Assert.Equal(0x80000000u, BitConverter.SingleToUInt32Bits(f[1]));
        Assert.Equal(float.Epsilon, f[2]);
        Assert.Equal([float.PositiveInfinity, -2.25f, 3f], f[3..]);
        Assert.Equal(f.Skip(1).Select(x => (double)x), a.ToFloat64().Skip(1));

        var b = Load(Numpy.F64_5);
        Assert.Equal(NpyDType.Float64, b.DType);
        Assert.Equal([5], b.Shape);
        Assert.Equal([0.1, -0.0, double.Epsilon, double.NegativeInfinity, 1e300], b.ToFloat64());
        Assert.True(double.IsNegative(b.ToFloat64()[1]));
        Assert.Equal([0.1f, -0f, 0f, float.NegativeInfinity, float.PositiveInfinity], b.ToFloat32());

        var scalar = Load(Numpy.F32_Scalar);
        Assert.Empty(scalar.Shape);
        Assert.Equal([7.25f], scalar.ToFloat32());

        var empty = Load(Numpy.F64_Empty);
        Assert.Equal([0], empty.Shape);
        Assert.Empty(empty.ToFloat64());

        Assert.Equal([0f, 1f, 2f, 3f], Load(Numpy.F32_2x1x2).ToFloat32());
        Assert.Equal([2, 1, 2], Load(Numpy.F32_2x1x2).Shape);
        Assert.Equal([12345, 0], Load(Numpy.F32_12345x0).Shape);
        Assert.Equal([0d, 1d, 2d], Load(Numpy.V2).ToFloat64());
        Assert.Equal([0f, 1f, 2f], Load(Numpy.V3).ToFloat32());
    }

    [Fact]
    public void Reads_IntegerAndBoolFilesWrittenByNumpy_Exactly()
    {
        Assert.Equal(NpyDType.Int8, Load(Numpy.I1).DType);
        Assert.Equal([(sbyte)-128, 0, 127], Load(Numpy.I1).ToArray<sbyte>());
        Assert.Equal([(short)-32768, 1, 32767], Load(Numpy.I2).ToArray<short>());
        var i4 = Load(Numpy.I4_2x2);
        Assert.Equal([2, 2], i4.Shape);
        Assert.Equal([int.MinValue, 1, 2, int.MaxValue], i4.ToArray<int>());
        Assert.Equal([long.MinValue, 3, long.MaxValue], Load(Numpy.I8).ToInt64());
        Assert.Equal([(byte)0, 7, 255], Load(Numpy.U1).ToArray<byte>());
        Assert.Equal([(ushort)0, 65535], Load(Numpy.U2).ToArray<ushort>());
        Assert.Equal([0u, uint.MaxValue], Load(Numpy.U4).ToArray<uint>());
        Assert.Equal([0ul, ulong.MaxValue], Load(Numpy.U8).ToArray<ulong>());
        Assert.Equal([true, false, true], Load(Numpy.B1).ToArray<bool>());
        var labels = Load(Numpy.DefaultInt);
        Assert.Equal(NpyDType.Int64, labels.DType);
        Assert.True(labels.IsInteger);
        Assert.Equal([3L, 1, 4, 1, 5], labels.ToInt64());
        Assert.Equal([3f, 1f, 4f, 1f, 5f], labels.ToFloat32());
        Assert.Equal([3d, 1d, 4d, 1d, 5d], labels.ToFloat64());
        Assert.Equal([1L, 0, 1], Load(Numpy.B1).ToInt64());
        Assert.Equal([-2147483648d, 1, 2, 2147483647], i4.ToFloat64());
        // float32 rounds to nearest: 2^63 - 1 becomes 2^63.
        Assert.Equal([-9.223372036854775808e18f, 3f, 9.223372036854775808e18f], Load(Numpy.I8).ToFloat32());
        Assert.Equal("int32 (2, 2)", i4.ToString());
        Assert.Equal("bool (3)", Load(Numpy.B1).ToString());
        Assert.Equal([0, 1, 2], Load(Numpy.I4).ToArray<int>());
    }

    [Fact]
    public void IntegerFiles_RoundTripByteForByte_AsNumpyWritesThem()
    {
        foreach (string file in new[] { Numpy.I1, Numpy.I2, Numpy.I4_2x2, Numpy.I8, Numpy.U1, Numpy.U2, Numpy.U4, Numpy.U8, Numpy.B1, Numpy.DefaultInt })
        {
            var read = Load(file);
            NpyArray copy = read.DType switch
            {
                NpyDType.Int8 => NpyArray.Create(read.ToArray<sbyte>(), [.. read.Shape]),
                NpyDType.Int16 => NpyArray.Create(read.ToArray<short>(), [.. read.Shape]),
                NpyDType.Int32 => NpyArray.Create(read.ToArray<int>(), [.. read.Shape]),
                NpyDType.Int64 => NpyArray.Create(read.ToArray<long>(), [.. read.Shape]),
                NpyDType.UInt8 => NpyArray.Create(read.ToArray<byte>(), [.. read.Shape]),
                NpyDType.UInt16 => NpyArray.Create(read.ToArray<ushort>(), [.. read.Shape]),
                NpyDType.UInt32 => NpyArray.Create(read.ToArray<uint>(), [.. read.Shape]),
                NpyDType.UInt64 => NpyArray.Create(read.ToArray<ulong>(), [.. read.Shape]),
                _ => NpyArray.Create(read.ToArray<bool>(), [.. read.Shape]),
            };
            Assert.Equal(Convert.FromBase64String(file), Save(copy));
        }
    }

    [Fact]
    public void ToInt64_RefusesWhatIsNotAWholeNumber_NamingTheIndex()
    {
        Assert.Equal([2L, -7, 0], new NpyArray([2.0, -7.0, -0.0], 3).ToInt64());
        Assert.Contains("2.5 at [1, 0]", Assert.Throws<InvalidDataException>(() => new NpyArray([1f, 2.5f], 2, 1).ToInt64()).Message);
        Assert.Contains("NaN at [0]", Assert.Throws<InvalidDataException>(() => new NpyArray([double.NaN], 1).ToInt64()).Message);
        Assert.Contains("9.223372036854776E+18 at [0]", Assert.Throws<InvalidDataException>(() => new NpyArray([9.223372036854775808e18], 1).ToInt64()).Message);
        Assert.Contains("18446744073709551615 at [1]", Assert.Throws<InvalidDataException>(() => Load(Numpy.U8).ToInt64()).Message);
        Assert.Contains("not Int32", Assert.Throws<InvalidOperationException>(() => Load(Numpy.I8).ToArray<int>()).Message);
        Assert.Contains("element type", Assert.Throws<ArgumentException>(() => NpyArray.Create(new char[1], 1)).Message);
    }

    [Fact]
    public void RefusesABoolByteOtherThanZeroOrOne()
    {
        byte[] valid = Convert.FromBase64String(Numpy.B1);
        byte[] bad = [.. valid];
        bad[^2] = 2;
        Refused(bad, "boolean element 1 is the byte 2");
    }

    [Fact]
    public void Writer_MatchesNumpyByteForByte()
    {
        var fromNumpy = Load(Numpy.F32_2x3);
        Assert.Equal(Convert.FromBase64String(Numpy.F32_2x3), Save(new NpyArray(fromNumpy.ToFloat32(), 2, 3)));
        Assert.Equal(Convert.FromBase64String(Numpy.F64_5), Save(new NpyArray(Load(Numpy.F64_5).ToFloat64(), 5)));
        Assert.Equal(Convert.FromBase64String(Numpy.F32_Scalar), Save(new NpyArray([7.25f])));
        Assert.Equal(Convert.FromBase64String(Numpy.F64_Empty), Save(new NpyArray(Array.Empty<double>(), 0)));
        Assert.Equal(Convert.FromBase64String(Numpy.F32_2x1x2), Save(new NpyArray([0f, 1f, 2f, 3f], 2, 1, 2)));
        Assert.Equal(Convert.FromBase64String(Numpy.F32_12345x0), Save(new NpyArray(Array.Empty<float>(), 12345, 0)));
    }

    [Fact]
    public void Writer_PadsTheHeaderTo64Bytes_EndingInNewline_ForAnyShape()
    {
        int[] many = Enumerable.Repeat(1, NpyFile.MaxDimensions).ToArray();
        foreach (int[] shape in new[] { new int[0], [1], [7, 11], many, [2147483647, 0], [0, 2147483647, 2147483647] })
        {
            long count = shape.Aggregate(1L, (p, d) => p * d);
            byte[] bytes = Save(new NpyArray(new float[count], shape));
            int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
            Assert.Equal(1, bytes[6]);
            Assert.Equal(0, (10 + headerLength) % 64);
            Assert.Equal((byte)'\n', bytes[10 + headerLength - 1]);
            Assert.Equal(shape, NpyFile.Read(new MemoryStream(bytes), "x").Shape);
        }
    }

    // ---------------------------------------------------------------- round trips

    [Fact]
    public void RoundTrip_ThroughFiles_IsBitExact_AndAtomic()
    {
        float[] singles = [BitConverter.UInt32BitsToSingle(0x7FC12345), BitConverter.UInt32BitsToSingle(0x7F800001), -0f, float.Epsilon, BitConverter.UInt32BitsToSingle(0x00400000), float.NegativeInfinity];
        double[] doubles = [BitConverter.UInt64BitsToDouble(0x7FF8_0000_DEAD_BEEF), BitConverter.UInt64BitsToDouble(0xFFF0_0000_0000_0001), -0d, double.Epsilon, BitConverter.UInt64BitsToDouble(0x0008_0000_0000_0000), Math.PI];
        using var dir = new TempDirectory();
        string p32 = dir.File("a.npy"), p64 = dir.File("b.npy");
        NpyFile.Write(p32, singles, [2, 3]);
        NpyFile.Write(p64, doubles, [3, 1, 2]);
        NpyFile.Write(p64, doubles, [6]); // replaces the previous file

        var a = NpyFile.Read(p32);
        Assert.Equal([2, 3], a.Shape);
        Assert.Equal(singles.Select(BitConverter.SingleToUInt32Bits), a.ToFloat32().Select(BitConverter.SingleToUInt32Bits));
        var b = NpyFile.Read(p64);
        Assert.Equal([6], b.Shape);
        Assert.Equal(doubles.Select(BitConverter.DoubleToUInt64Bits), b.ToFloat64().Select(BitConverter.DoubleToUInt64Bits));
        Assert.Equal(["a.npy", "b.npy"], dir.Names());

        // Arguments are checked before the file is touched.
        var e = Assert.Throws<ArgumentException>(() => NpyFile.Write(p32, new float[5], [2, 3]));
        Assert.Contains("data has 5 values but shape (2, 3) needs 6", e.Message);
        Assert.Throws<ArgumentException>(() => NpyFile.Write(p32, new float[0], [-1]));
        Assert.Throws<ArgumentException>(() => NpyFile.Write(dir.Path, new float[1], [1]));
        Assert.Equal(singles.Select(BitConverter.SingleToUInt32Bits), NpyFile.Read(p32).ToFloat32().Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal(["a.npy", "b.npy"], dir.Names());
    }

    [Fact]
    public void Reads_OtherValidSpellingsOfTheHeader()
    {
        byte[] data = Floats(1, 2, 3, 4, 5, 6);
        foreach (string dict in new[]
        {
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
            "{\"shape\":(2,3,),\"fortran_order\":False,\"descr\":\"<f4\"}",
            "{ 'fortran_order' : False ,\n 'descr' : '<f4', 'shape' : ( 2 , 3 ) , }",
        })
        {
            var a = NpyFile.Read(new MemoryStream(Build(dict, data)), "x");
            Assert.Equal([2, 3], a.Shape);
            Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], a.ToFloat32());
        }
        // Versions 2 and 3 with a hand-built header.
        Assert.Equal([1f], NpyFile.Read(new MemoryStream(Build("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Floats(1), 2)), "x").ToFloat32());
        Assert.Equal([1f], NpyFile.Read(new MemoryStream(Build("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Floats(1), 3)), "x").ToFloat32());
    }

    // ---------------------------------------------------------------- refusals

    [Fact]
    public void RefusesUnsupportedArrays_FromNumpy_NamingTheProblem()
    {
        Refused(Convert.FromBase64String(Numpy.F32_BigEndian), "dtype '>f4' is big-endian");
        Refused(Convert.FromBase64String(Numpy.F32_Fortran), "fortran_order is True");
        Refused(Convert.FromBase64String(Numpy.Object), "dtype '|O' is an object array");
        Refused(Convert.FromBase64String(Numpy.Structured), "structured (record) dtype");
    }

    public static TheoryData<string, int, string> BadHeaders() => new()
    {
        { "{'descr': '<f4', 'fortran_order': False}", 0, "header has no 'shape' key" },
        { "{'descr': '<f4', 'shape': (1,)}", 4, "header has no 'fortran_order' key" },
        { "{'fortran_order': False, 'shape': (1,)}", 4, "header has no 'descr' key" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4, "unexpected key 'extra'" },
        { "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4, "key 'descr' more than once" },
        { "{1: '<f4', 'fortran_order': False, 'shape': (1,)}", 4, "a key that is not a string: 1" },
        { "{'descr': '<f2', 'fortran_order': False, 'shape': (1,)}", 2, "dtype '<f2' is not supported" },
        { "{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", 8, "dtype '<c8' is not supported" },
        { "{'descr': '>i8', 'fortran_order': False, 'shape': (1,)}", 8, "dtype '>i8' is big-endian" },
        { "{'descr': '>u2', 'fortran_order': False, 'shape': (1,)}", 2, "dtype '>u2' is big-endian" },
        { "{'descr': '|S3', 'fortran_order': False, 'shape': (1,)}", 3, "dtype '|S3' is not supported" },
        { "{'descr': '>f8', 'fortran_order': False, 'shape': (1,)}", 8, "dtype '>f8' is big-endian" },
        { "{'descr': 5, 'fortran_order': False, 'shape': (1,)}", 4, "'descr' must be a string but is 5" },
        { "{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}", 4, "'fortran_order' must be True or False but is the string 'no'" },
        { "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4, "'fortran_order' must be True or False but is 0" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", 4, "'shape' must be a tuple of integers but is a list" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1)}", 4, "'shape' must be a tuple of integers but is 1" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 0, "shape element 0 is -1" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 'a')}", 4, "shape element 1 is the string 'a'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648,)}", 0, "shape element 0 is 2147483648" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1, None)}", 0, "shape element 1 is None" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647)}", 0, "needs more than the limit of 2147483591 bytes" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824,)}", 0, "needs more than the limit" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (" + string.Join(", ", Enumerable.Repeat(1, 65)) + ")}", 4, "shape has 65 dimensions" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, "header is not a valid dict literal: expected ',' or '}'" },
        { "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", 4, "header is not a valid dict literal" },
        { "{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}", 4, "'false' is not a literal" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,)}", 4, "only plain decimal integers" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (0x1,)}", 4, "only plain decimal integers" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 4, "is too large" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} extra", 4, "unexpected text after the dict" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}{}", 4, "unexpected text after the dict" },
        { "{'descr': '<\\x66', 'fortran_order': False, 'shape': (1,)}", 4, "unsupported escape" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': " + new string('(', 40) + new string(')', 40) + "}", 4, "nested more than 16 levels deep" },
        { "['descr', '<f4']", 4, "header must be a Python dict literal" },
        { "", 4, "header ends where a value was expected" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 4, "is truncated: the data of shape (2) needs 8 bytes but only 4 remain" },
        { "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", 12, "has 4 unexpected trailing bytes after the data" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void RefusesMalformedHeaders(string dict, int dataLength, string fragment)
    {
        Refused(Build(dict, new byte[dataLength]), fragment);
        Assert.Throws<InvalidDataException>(() => NpyFile.Read(new NonSeekableStream(Build(dict, new byte[dataLength])), Name));
    }

    [Fact]
    public void RefusesBadMagicVersionsAndHeaderLengths()
    {
        byte[] valid = Convert.FromBase64String(Numpy.F32_2x3);
        byte[] magic = (byte[])valid.Clone();
        magic[1] = (byte)'n';
        Refused(magic, "does not start with the magic string");
        byte[] v4 = (byte[])valid.Clone();
        v4[6] = 4;
        Refused(v4, "format version 4.0; only 1.0, 2.0 and 3.0 are supported");
        byte[] v11 = (byte[])valid.Clone();
        v11[7] = 1;
        Refused(v11, "format version 1.1");
        byte[] hugeHeader = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 0xFF, 0xFF, 0xFF, 0x7F, (byte)'{'];
        Refused(hugeHeader, "header length is 2147483647 bytes, more than the limit of 1048576");
        byte[] shortHeader = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0x00, 0x10, (byte)'{'];
        Refused(shortHeader, "is truncated: the header needs 4096 bytes but only 1 remain");
        byte[] v3Latin = Build("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x\u00e9': 1}", Floats(1), 3);
        Refused(v3Latin, "header is not valid UTF-8");
        Refused(valid[..5], "is truncated: the magic string and version needs 8 bytes but only 5 remain");
    }

    [Fact]
    public void HeadersOfManyTinyValues_AreRefused_AtAFewTimesTheirLength()
    {
        // 1024 values are accepted (where the keys are right), 1025 are not.
        string fill = string.Join(", ", Enumerable.Repeat("0", NpyFile.MaxHeaderValues - 7));
        Refused(Build($"{{'descr': '<f4', 'fortran_order': False, 'shape': [{fill}]}}", []), "'shape' must be a tuple of integers but is a list of 1017 items");
        Refused(Build($"{{'descr': '<f4', 'fortran_order': False, 'shape': [{fill}, 0]}}", []),
            "header is not a valid dict literal: more than the limit of 1024 values (a float array's header has at most 71) at character");

        // A 1 MiB header of empty lists: without the limit, parsing it cost 32 times its length.
        byte[] lists = Build("{'shape': [" + string.Join(",", Enumerable.Repeat("[]", NpyFile.MaxHeaderValues * 300)) + "]}", [], major: 2);
        long allocated = IoAssert.AllocatedBy(() => Refused(lists, "more than the limit of 1024 values"));
        Assert.True(allocated < 4L * lists.Length, $"allocated {allocated} bytes for a {lists.Length}-byte file");
    }

    [Fact]
    public void UnreadableStreamsAndDirectories_AreRefusedWithTheDocumentedExceptions()
    {
        var writeOnly = new FileStream(Path.GetTempFileName(), FileMode.Open, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        using (writeOnly)
        {
            var e = Assert.Throws<ArgumentException>(() => NpyFile.Read(writeOnly, Name));
            Assert.Equal("stream", e.ParamName);
        }
        using var dir = new TempDirectory();
        Assert.Throws<UnauthorizedAccessException>(() => NpyFile.Read(dir.Path));
    }

    /// <summary>Every prefix; random mutations are in <see cref="NpyPropertyTests"/>.</summary>
    [Fact]
    public void EveryTruncation_IsRefused()
    {
        byte[] valid = Convert.FromBase64String(Numpy.F32_2x3);
        IoAssert.EveryTruncationRefused(valid, s => NpyFile.Read(s, Name));
    }

    [Fact]
    public void HugeShapeClaims_AreRefused_WithoutLargeAllocations()
    {
        // (2^27,) float64 is 1 GiB, within the limit, but the file has only 8 bytes of data.
        byte[] claim = Build("{'descr': '<f8', 'fortran_order': False, 'shape': (134217728,), }", new byte[8]);
        using var dir = new TempDirectory();
        string path = dir.File("claim.npy");
        File.WriteAllBytes(path, claim);
        long fromFile = IoAssert.AllocatedBy(() => IoAssert.Refused(() => NpyFile.Read(path), "needs 1073741824 bytes but only 8 remain"));
        long fromPipe = IoAssert.AllocatedBy(() => Assert.Throws<InvalidDataException>(() => NpyFile.Read(new NonSeekableStream(claim), "pipe")));
        Assert.True(fromFile < 100_000, $"allocated {fromFile} bytes");
        Assert.True(fromPipe < 400_000, $"allocated {fromPipe} bytes");
    }
}
