using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Lru.IO;

/// <summary>
/// A C-order (row-major) array as stored in a .npy file: floating-point (<see cref="float"/>, <see cref="double"/>),
/// signed or unsigned integers of 8 to 64 bits, or booleans (<see cref="NpyDType"/>).
/// </summary>
public sealed class NpyArray
{
    /// <summary>
    /// The values: a float[], double[], sbyte[], short[], int[], long[], byte[], ushort[], uint[], ulong[] or bool[], as
    /// <see cref="DType"/> says. Code that takes the array apart switches on <see cref="DType"/> (or uses <see cref="As{T}"/>),
    /// never on <c>_data is T[]</c>: the runtime lets a uint[] pass as an int[] (and ulong[] as long[], byte[] as sbyte[]).
    /// </summary>
    private readonly Array _data;

    /// <summary>Wraps <see cref="float"/> values (no copy) as an array of the given shape.</summary>
    /// <param name="data">The values, row-major; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension, each at least 0; empty for a scalar (one value).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A length is negative, there are more than <see cref="NpyFile.MaxDimensions"/>, or the shape does not match the data.</exception>
    public NpyArray(float[] data, params int[] shape) : this((Array)data, shape)
    {
    }

    /// <summary>Wraps <see cref="double"/> values (no copy) as an array of the given shape.</summary>
    /// <param name="data">The values, row-major; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension, each at least 0; empty for a scalar (one value).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A length is negative, there are more than <see cref="NpyFile.MaxDimensions"/>, or the shape does not match the data.</exception>
    public NpyArray(double[] data, params int[] shape) : this((Array)data, shape)
    {
    }

    private NpyArray(Array data, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        DType = DTypeOf(data.GetType().GetElementType()!) ?? throw new ArgumentException(
            $"data is a {data.GetType().Name}; the element type must be float, double, sbyte, short, int, long, byte, ushort, uint, ulong or bool.", nameof(data));
        if (shape.Length > NpyFile.MaxDimensions)
            throw new ArgumentException($"shape has {shape.Length} dimensions, more than the limit of {NpyFile.MaxDimensions}.", nameof(shape));
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape ({string.Join(", ", shape)}) has a negative length.", nameof(shape));
            count = Math.Min(count * d, long.MaxValue / int.MaxValue);
        }
        if (count != data.Length)
            throw new ArgumentException($"data has {data.Length} values but shape ({string.Join(", ", shape)}) needs {count}.", nameof(shape));
        _data = data;
        Shape = Array.AsReadOnly((int[])shape.Clone());
    }

    /// <summary>Wraps values of any supported element type (no copy) as an array of the given shape.</summary>
    /// <typeparam name="T"><see cref="float"/>, <see cref="double"/>, <see cref="sbyte"/>, <see cref="short"/>, <see cref="int"/>, <see cref="long"/>, <see cref="byte"/>, <see cref="ushort"/>, <see cref="uint"/>, <see cref="ulong"/> or <see cref="bool"/>.</typeparam>
    /// <param name="data">The values, row-major; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The length of every dimension, each at least 0; empty for a scalar (one value).</param>
    /// <returns>The array, of the <see cref="NpyDType"/> that matches <typeparamref name="T"/>.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> is not supported, a length is negative, there are more than <see cref="NpyFile.MaxDimensions"/>, or the shape does not match the data.</exception>
    public static NpyArray Create<T>(T[] data, params int[] shape) where T : unmanaged => new(data, shape);

    /// <summary>The element type.</summary>
    public NpyDType DType { get; }

    /// <summary>The length of every dimension, row-major; empty for a scalar.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The number of values (the product of <see cref="Shape"/>).</summary>
    public int Length => _data.Length;

    /// <summary>True for the integer and boolean element types (labels, class indices, lengths, masks).</summary>
    public bool IsInteger => DType is not (NpyDType.Float32 or NpyDType.Float64);

    /// <summary>The values as a new <see cref="float"/> array: floating-point values rounded to the nearest float, integers converted (exactly up to 2^24), booleans as 0 and 1.</summary>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    public float[] ToFloat32() => DType == NpyDType.Float32 ? (float[])_data.Clone() : Convert<float>();

    /// <summary>The values as a new <see cref="double"/> array: float32 widens exactly, integers convert exactly up to 2^53, booleans as 0 and 1.</summary>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    public double[] ToFloat64() => DType == NpyDType.Float64 ? (double[])_data.Clone() : Convert<double>();

    /// <summary>
    /// The values as a new <see cref="long"/> array: integers exactly, booleans as 0 and 1, floating-point values only when
    /// every one is a whole number in the range of <see cref="long"/>.
    /// </summary>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    /// <exception cref="InvalidDataException">A value is not a whole number, is NaN or infinite, or is outside the range of <see cref="long"/>; the message gives the first such value and its index.</exception>
    public long[] ToInt64()
    {
        switch (DType)
        {
            case NpyDType.UInt64:
                ulong[] u = As<ulong>();
                for (int i = 0; i < u.Length; i++)
                    if (u[i] > long.MaxValue) throw new InvalidDataException($"The value {u[i]} at {IndexText(i)} is beyond the range of a 64-bit signed integer.");
                return Convert<long>();
            case NpyDType.Float32 or NpyDType.Float64:
                double[] values = ToFloat64();
                var result = new long[values.Length];
                for (int i = 0; i < values.Length; i++)
                {
                    double v = values[i];
                    // 2^63 is exactly representable; the largest long is not, so the upper bound is strict.
                    if (!(Math.Floor(v) == v && v >= -9223372036854775808.0 && v < 9223372036854775808.0))
                        throw new InvalidDataException($"The value {v.ToString("R", CultureInfo.InvariantCulture)} at {IndexText(i)} is not a whole number in the range of a 64-bit integer.");
                    result[i] = (long)v;
                }
                return result;
            default:
                return Convert<long>();
        }
    }

    /// <summary>A copy of the values in their own element type.</summary>
    /// <typeparam name="T">The element type of <see cref="DType"/> (for example <see cref="long"/> for <see cref="NpyDType.Int64"/>).</typeparam>
    /// <returns><see cref="Length"/> values, row-major.</returns>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not the element type of <see cref="DType"/>.</exception>
    public T[] ToArray<T>() where T : unmanaged => (T[])As<T>().Clone();

    /// <summary>The stored array itself, if its element type is exactly <typeparamref name="T"/>.</summary>
    private T[] As<T>() => _data.GetType() == typeof(T[]) ? (T[])_data
        : throw new InvalidOperationException($"The array holds {NumpyName(DType)} values, not {typeof(T).Name}.");

    /// <summary>"[i, j, k]" for a flat index into this array's shape.</summary>
    /// <param name="flat">A flat (row-major) index in [0, <see cref="Length"/>).</param>
    /// <returns>The multi-dimensional index, for messages.</returns>
    public string IndexText(long flat)
    {
        if (Shape.Count == 0) return "[]";
        var index = new long[Shape.Count];
        for (int d = Shape.Count - 1; d >= 0; d--)
        {
            index[d] = Shape[d] == 0 ? 0 : flat % Shape[d];
            flat = Shape[d] == 0 ? 0 : flat / Shape[d];
        }
        return "[" + string.Join(", ", index) + "]";
    }

    /// <summary>NumPy's name of an element type: float32, int64, uint8, bool, ….</summary>
    /// <param name="dtype">The element type.</param>
    /// <returns>The name.</returns>
    public static string NumpyName(NpyDType dtype) => dtype == NpyDType.Bool ? "bool" : dtype.ToString().ToLowerInvariant();

    /// <summary>The bytes per element.</summary>
    internal static int SizeOf(NpyDType dtype) => dtype switch
    {
        NpyDType.Float64 or NpyDType.Int64 or NpyDType.UInt64 => 8,
        NpyDType.Float32 or NpyDType.Int32 or NpyDType.UInt32 => 4,
        NpyDType.Int16 or NpyDType.UInt16 => 2,
        _ => 1,
    };

    /// <summary>Reads <paramref name="count"/> elements of <paramref name="dtype"/> (little-endian) into a new array.</summary>
    internal static NpyArray ReadData(Stream stream, NpyDType dtype, long count, int[] shape, string kind, string file)
    {
        string what = $"the data of shape ({string.Join(", ", shape)})";
        Array data = dtype switch
        {
            NpyDType.Float32 => Read<float>(),
            NpyDType.Float64 => Read<double>(),
            NpyDType.Int8 => Read<sbyte>(),
            NpyDType.Int16 => Read<short>(),
            NpyDType.Int32 => Read<int>(),
            NpyDType.Int64 => Read<long>(),
            NpyDType.UInt8 => Read<byte>(),
            NpyDType.UInt16 => Read<ushort>(),
            NpyDType.UInt32 => Read<uint>(),
            NpyDType.UInt64 => Read<ulong>(),
            _ => ReadBool(),
        };
        return new NpyArray(data, shape);

        T[] Read<T>() where T : unmanaged
        {
            T[] values = BlockIO.ReadArray<T>(stream, count, kind, file, what);
            if (!BitConverter.IsLittleEndian) BlockIO.ReverseEndianness<T>(values);
            return values;
        }

        bool[] ReadBool()
        {
            byte[] bytes = BlockIO.ReadArray<byte>(stream, count, kind, file, what);
            int bad = bytes.AsSpan().IndexOfAnyExcept((byte)0, (byte)1);
            if (bad >= 0) throw new InvalidDataException($"{kind} '{file}': boolean element {bad} is the byte {bytes[bad]}; a NumPy bool is 0 or 1.");
            var values = new bool[bytes.Length];
            bytes.AsSpan().CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }
    }

    /// <summary>Writes the values little-endian.</summary>
    internal void WriteData(Stream stream)
    {
        switch (SizeOf(DType))
        {
            case 8: BlockIO.WriteLittleEndian(stream, MemoryMarshal.Cast<byte, ulong>(RawBytes)); break;
            case 4: BlockIO.WriteLittleEndian(stream, MemoryMarshal.Cast<byte, uint>(RawBytes)); break;
            case 2: BlockIO.WriteLittleEndian(stream, MemoryMarshal.Cast<byte, ushort>(RawBytes)); break;
            default: stream.Write(RawBytes); break;
        }
    }

    /// <summary>The values' bytes in the host's order (an element's byte order only matters by its size).</summary>
    private ReadOnlySpan<byte> RawBytes => MemoryMarshal.CreateReadOnlySpan(
        ref MemoryMarshal.GetArrayDataReference(_data), checked(_data.Length * SizeOf(DType)));

    private static NpyDType? DTypeOf(Type element) =>
        element == typeof(float) ? NpyDType.Float32 : element == typeof(double) ? NpyDType.Float64
        : element == typeof(sbyte) ? NpyDType.Int8 : element == typeof(short) ? NpyDType.Int16
        : element == typeof(int) ? NpyDType.Int32 : element == typeof(long) ? NpyDType.Int64
        : element == typeof(byte) ? NpyDType.UInt8 : element == typeof(ushort) ? NpyDType.UInt16
        : element == typeof(uint) ? NpyDType.UInt32 : element == typeof(ulong) ? NpyDType.UInt64
        : element == typeof(bool) ? NpyDType.Bool : null;

    private TTo[] Convert<TTo>() where TTo : INumberBase<TTo> => DType switch
    {
        NpyDType.Float32 => Convert<float, TTo>(As<float>()),
        NpyDType.Float64 => Convert<double, TTo>(As<double>()),
        NpyDType.Int8 => Convert<sbyte, TTo>(As<sbyte>()),
        NpyDType.Int16 => Convert<short, TTo>(As<short>()),
        NpyDType.Int32 => Convert<int, TTo>(As<int>()),
        NpyDType.Int64 => Convert<long, TTo>(As<long>()),
        NpyDType.UInt8 => Convert<byte, TTo>(As<byte>()),
        NpyDType.UInt16 => Convert<ushort, TTo>(As<ushort>()),
        NpyDType.UInt32 => Convert<uint, TTo>(As<uint>()),
        NpyDType.UInt64 => Convert<ulong, TTo>(As<ulong>()),
        _ => Array.ConvertAll(As<bool>(), b => b ? TTo.One : TTo.Zero),
    };

    /// <summary>Element-wise conversion: rounding to nearest between floating types, exact or nearest from integers.</summary>
    private static TTo[] Convert<TFrom, TTo>(TFrom[] values) where TFrom : INumberBase<TFrom> where TTo : INumberBase<TTo>
    {
        var result = new TTo[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = TTo.CreateTruncating(values[i]);
        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{NumpyName(DType)} ({string.Join(", ", Shape)})";
}
