using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;

namespace Lru.IO;

/// <summary>
/// A safetensors file (the Hugging Face format), read completely into memory and validated.
/// </summary>
/// <remarks>
/// <para>
/// Layout: an 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON, then the data
/// section. The JSON is an object mapping each tensor's name to
/// <c>{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}</c>, with offsets relative to
/// the start of the data section, plus an optional <c>"__metadata__"</c> object of string values.
/// Tensor data is row-major and little-endian.
/// </para>
/// <para>
/// The whole file is checked before anything is returned, and every refusal is an
/// <see cref="InvalidDataException"/> whose message names the file, the tensor and the problem:
/// N is at least 2, at most <see cref="MaxHeaderBytes"/> and inside the file; the header is valid
/// UTF-8 and a JSON object starting with <c>{</c>, nested at most 16 levels deep, with no escaped lone
/// surrogate in any string; it has at most <see cref="MaxTensors"/> tensors, and names are unique; every
/// entry has exactly the keys
/// <c>dtype</c> (a string naming a supported <see cref="SafeTensorsDType"/>), <c>shape</c> (an array of at
/// most <see cref="MaxDimensions"/> integers from 0 to <see cref="int.MaxValue"/>) and
/// <c>data_offsets</c> (two integers, begin ≤ end); element count × element size equals end − begin
/// (computed without overflow) and is at most <see cref="MaxTensorBytes"/>; <c>__metadata__</c>, if
/// present and not null, is an object of at most <see cref="MaxMetadataEntries"/> unique keys with string
/// values. As in the reference
/// implementation, the tensors sorted by offset must tile the data section exactly: the first begins at
/// 0, each begins where the previous one ends (no gap, no overlap), and the last ends at the end of the
/// file (no trailing bytes).
/// </para>
/// <para>
/// Allocation is bounded by the bytes really present, never by what the header claims: the header length
/// and every tensor's offsets are compared with the file's length before anything is read into memory,
/// and a stream that cannot seek is read into a buffer that starts at 64 KiB and doubles only as data
/// arrives (at most 64 KiB plus four times the bytes that really arrived). The limits above bound the rest:
/// the bookkeeping of the tensors and the metadata entries a header may describe.
/// </para>
/// </remarks>
public sealed class SafeTensorsFile
{
    /// <summary>The largest header accepted, in bytes (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The largest tensor accepted, in bytes (<see cref="Array.MaxLength"/>: each tensor is read into one array).</summary>
    public const long MaxTensorBytes = BlockIO.MaxArrayBytes;

    /// <summary>The largest number of dimensions accepted for one tensor.</summary>
    public const int MaxDimensions = 64;

    /// <summary>
    /// The largest number of tensors accepted in one file (2^17). Checkpoints hold hundreds to a few tens of
    /// thousands of tensors per file; the limit bounds the memory a header of many tiny (or empty) tensors
    /// costs to describe, about a kilobyte each.
    /// </summary>
    public const int MaxTensors = 1 << 17;

    /// <summary>The largest number of <c>__metadata__</c> entries accepted (2^16); files in practice have a handful.</summary>
    public const int MaxMetadataEntries = 1 << 16;

    /// <summary>The key of the optional metadata object in the header.</summary>
    public const string MetadataKey = "__metadata__";

    private const string Kind = "safetensors file";

    private readonly SafeTensorInfo[] _tensors;
    private readonly Dictionary<string, (SafeTensorInfo Info, byte[] Data)> _byName;

    private SafeTensorsFile(string displayName, SafeTensorInfo[] tensors, Dictionary<string, (SafeTensorInfo, byte[])> byName, Dictionary<string, string> metadata)
    {
        DisplayName = displayName;
        _tensors = tensors;
        _byName = byName;
        Tensors = Array.AsReadOnly(tensors);
        Metadata = new ReadOnlyDictionary<string, string>(metadata);
    }

    /// <summary>The name used for this file in messages (its path when read from a file).</summary>
    public string DisplayName { get; }

    /// <summary>The tensors in the order of the header.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> entries; empty if the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Reads and validates the safetensors file at <paramref name="path"/>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The file's tensors and metadata.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read, or <paramref name="path"/> is a directory.</exception>
    /// <exception cref="InvalidDataException">The file is truncated or malformed, exceeds a limit (<see cref="MaxHeaderBytes"/>, <see cref="MaxTensors"/>, <see cref="MaxDimensions"/>, <see cref="MaxTensorBytes"/>, <see cref="MaxMetadataEntries"/>), or uses an unsupported dtype; the message names the file, the tensor and the problem. Bad content never raises another exception type.</exception>
    /// <exception cref="IOException">The file could not be read.</exception>
    public static SafeTensorsFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.SequentialScan);
        return Read(stream, path);
    }

    /// <summary>
    /// Reads and validates a safetensors file from <paramref name="stream"/>, from its current position
    /// to its end. A seekable stream must end where the file ends; a stream that cannot seek is read until
    /// it ends.
    /// </summary>
    /// <param name="stream">The source; it is read but not disposed.</param>
    /// <param name="displayName">The name to use in messages, for example the file's path.</param>
    /// <returns>The file's tensors and metadata.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="stream"/> cannot be read (for example, it is write-only or disposed).</exception>
    /// <exception cref="InvalidDataException">The data is truncated or malformed, exceeds a limit, or uses an unsupported dtype (as for <see cref="Read(string)"/>).</exception>
    /// <exception cref="IOException">The stream could not be read.</exception>
    public static SafeTensorsFile Read(Stream stream, string displayName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(displayName);
        BlockIO.RequireReadable(stream);
        return Parse(stream, displayName);
    }

    /// <summary>Reads and validates a safetensors file held in memory.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="displayName">The name to use in messages.</param>
    /// <returns>The file's tensors and metadata (copied; <paramref name="bytes"/> is not kept).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="displayName"/> is null.</exception>
    /// <exception cref="InvalidDataException">The data is truncated or malformed, exceeds a limit, or uses an unsupported dtype (as for <see cref="Read(string)"/>).</exception>
    public static SafeTensorsFile FromBytes(ReadOnlySpan<byte> bytes, string displayName = "(memory)")
    {
        ArgumentNullException.ThrowIfNull(displayName);
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return Parse(stream, displayName);
    }

    /// <summary>Whether the file has a tensor named <paramref name="name"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns><see langword="true"/> if it exists.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public bool Contains(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _byName.ContainsKey(name);
    }

    /// <summary>The header entry of the tensor named <paramref name="name"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>Its dtype, shape and offsets.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafeTensorInfo GetInfo(string name) => Find(name).Info;

    /// <summary>The tensor's bytes exactly as stored: row-major, little-endian, in its own dtype.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>A read-only view of <see cref="SafeTensorInfo.ByteLength"/> bytes.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public ReadOnlyMemory<byte> GetRawBytes(string name) => Find(name).Data;

    /// <summary>
    /// The tensor's values as a new <see cref="float"/> array, row-major. F32 is copied bit for bit (NaN
    /// payloads included); F16 and BF16 widen exactly; F64 is rounded to the nearest float.
    /// </summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns><see cref="SafeTensorInfo.ElementCount"/> values.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public float[] ReadFloat32(string name)
    {
        var (info, data) = Find(name);
        var result = new float[info.ElementCount];
        switch (info.DType)
        {
            case SafeTensorsDType.F32:
                CopyLittleEndian(data, result.AsSpan());
                break;
            case SafeTensorsDType.F64:
                for (int i = 0; i < result.Length; i++) result[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(data.AsSpan(8 * i));
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < result.Length; i++) result[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(data.AsSpan(2 * i));
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < result.Length; i++) result[i] = BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(2 * i)));
                break;
        }
        return result;
    }

    /// <summary>
    /// The tensor's values as a new <see cref="double"/> array, row-major. F64 is copied bit for bit; F32,
    /// F16 and BF16 widen exactly.
    /// </summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns><see cref="SafeTensorInfo.ElementCount"/> values.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public double[] ReadFloat64(string name)
    {
        var (info, data) = Find(name);
        var result = new double[info.ElementCount];
        switch (info.DType)
        {
            case SafeTensorsDType.F64:
                CopyLittleEndian(data, result.AsSpan());
                break;
            case SafeTensorsDType.F32:
                for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(4 * i));
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < result.Length; i++) result[i] = (double)BinaryPrimitives.ReadHalfLittleEndian(data.AsSpan(2 * i));
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < result.Length; i++) result[i] = BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(2 * i)));
                break;
        }
        return result;
    }

    /// <summary>The tensor's values as a new array of <typeparamref name="T"/>: <see cref="ReadFloat32"/> or <see cref="ReadFloat64"/>.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="name">The tensor's name.</param>
    /// <returns><see cref="SafeTensorInfo.ElementCount"/> values.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is neither float nor double.</exception>
    public T[] Read<T>(string name) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return (T[])(object)ReadFloat32(name);
        if (typeof(T) == typeof(double)) return (T[])(object)ReadFloat64(name);
        throw new NotSupportedException($"Tensors are read as float or double, not {typeof(T).Name}.");
    }

    /// <summary>bfloat16 is the upper half of a binary32, so widening is a shift.</summary>
    internal static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    private static void CopyLittleEndian<T>(byte[] data, Span<T> destination) where T : unmanaged
    {
        data.AsSpan().CopyTo(MemoryMarshal.AsBytes(destination));
        if (!BitConverter.IsLittleEndian) BlockIO.ReverseEndianness(destination);
    }

    private (SafeTensorInfo Info, byte[] Data) Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out var entry)) return entry;
        throw new KeyNotFoundException(
            $"{Kind} '{DisplayName}' has no tensor named '{name}'" +
            (_tensors.Length == 0 ? " (it has no tensors)." :
             _tensors.Length <= 10 ? $"; it has: {string.Join(", ", _tensors.Select(t => $"'{t.Name}'"))}." :
             $"; it has {_tensors.Length} tensors, for example '{_tensors[0].Name}'."));
    }

    // ------------------------------------------------------------------------------------------ parsing

    private static SafeTensorsFile Parse(Stream stream, string file)
    {
        long? length = stream.CanSeek ? stream.Length - stream.Position : null;

        byte[] prefix = BlockIO.ReadArray<byte>(stream, 8, Kind, file, "the 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n < 2)
            throw Error(file, $"header length is {n} but must be at least 2 (the shortest header is '{{}}').");
        if (n > MaxHeaderBytes)
            throw Error(file, $"header length is {n} bytes, more than the limit of {MaxHeaderBytes}.");
        if (length is long total && (long)n > total - 8)
            throw Error(file, $"header length is {n} bytes but the file has only {total - 8} bytes after the 8-byte length.");

        byte[] header = BlockIO.ReadArray<byte>(stream, (long)n, Kind, file, "the header");
        var (entries, metadata) = ParseHeader(header, file);

        long? dataLength = length - 8 - (long)n;
        CheckLayout(entries, dataLength, file);

        // Read the data section in file order; the layout check guarantees it is exactly covered.
        var byName = new Dictionary<string, (SafeTensorInfo, byte[])>(entries.Length, StringComparer.Ordinal);
        foreach (var info in entries.OrderBy(e => e.DataBegin).ThenBy(e => e.DataEnd))
        {
            byte[] data = BlockIO.ReadArray<byte>(stream, info.ByteLength, Kind, file, $"tensor '{info.Name}' (data bytes {info.DataBegin} to {info.DataEnd})");
            byName.Add(info.Name, (info, data));
        }
        long covered = entries.Length == 0 ? 0 : entries.Max(e => e.DataEnd);
        BlockIO.ExpectEnd(stream, Kind, file, $"the data section, which its tensors cover up to byte {covered}");
        return new SafeTensorsFile(file, entries, byName, metadata);
    }

    private static (SafeTensorInfo[] Entries, Dictionary<string, string> Metadata) ParseHeader(byte[] header, string file)
    {
        if (!Utf8.IsValid(header))
            throw Error(file, "header is not valid UTF-8.");
        if (header[0] != (byte)'{')
            throw Error(file, $"header must be a JSON object starting with '{{' but starts with byte 0x{header[0]:X2}.");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{Kind} '{file}': header is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Error(file, $"header must be a JSON object but is {Describe(root)}.");

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            try
            {
                // Count before describing any tensor: the count bounds what the description costs.
                int tensors = 0;
                foreach (var property in root.EnumerateObject())
                    if (!property.NameEquals(MetadataKey)) tensors++;
                if (tensors > MaxTensors)
                    throw Error(file, $"header has {tensors} tensors, more than the limit of {MaxTensors}.");

                foreach (var property in root.EnumerateObject())
                {
                    if (!seen.Add(property.Name))
                        throw Error(file, $"header has the key '{property.Name}' more than once.");
                    if (property.Name == MetadataKey)
                        ParseMetadata(property.Value, metadata, file);
                    else
                        entries.Add(ParseEntry(property.Name, property.Value, file));
                }
            }
            catch (InvalidOperationException e)
            {
                // System.Text.Json refuses to decode a "\ud800"-style escape of a lone surrogate only when
                // the string is read; the reference implementation refuses such a header outright.
                throw new InvalidDataException($"{Kind} '{file}': header has a string that is not valid Unicode ({e.Message}).", e);
            }
            return (entries.ToArray(), metadata);
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string file)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(file, $"'{MetadataKey}' must be an object of strings but is {Describe(value)}.");
        int count = value.EnumerateObject().Count();
        if (count > MaxMetadataEntries)
            throw Error(file, $"'{MetadataKey}' has {count} entries, more than the limit of {MaxMetadataEntries}.");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Error(file, $"'{MetadataKey}' value of '{item.Name}' must be a string but is {Describe(item.Value)}.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Error(file, $"'{MetadataKey}' has the key '{item.Name}' more than once.");
        }
    }

    private static SafeTensorInfo ParseEntry(string name, JsonElement value, string file)
    {
        string where = $"tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw Error(file, $"{where}: entry must be an object with dtype, shape and data_offsets but is {Describe(value)}.");

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype": Set(ref dtypeElement, field); break;
                case "shape": Set(ref shapeElement, field); break;
                case "data_offsets": Set(ref offsetsElement, field); break;
                default:
                    throw Error(file, $"{where}: unexpected key '{field.Name}'; an entry has exactly dtype, shape and data_offsets.");
            }
        }
        if (dtypeElement is not JsonElement dtypeValue) throw Error(file, $"{where}: 'dtype' is missing.");
        if (shapeElement is not JsonElement shapeValue) throw Error(file, $"{where}: 'shape' is missing.");
        if (offsetsElement is not JsonElement offsetsValue) throw Error(file, $"{where}: 'data_offsets' is missing.");

        // dtype
        if (dtypeValue.ValueKind != JsonValueKind.String)
            throw Error(file, $"{where}: 'dtype' must be a string but is {Describe(dtypeValue)}.");
        string dtypeName = dtypeValue.GetString()!;
        if (!SafeTensorsDTypes.TryParse(dtypeName, out var dtype))
            throw Error(file, $"{where}: dtype '{dtypeName}' is not supported; supported dtypes are {SafeTensorsDTypes.SupportedNames}.");

        // shape
        if (shapeValue.ValueKind != JsonValueKind.Array)
            throw Error(file, $"{where}: 'shape' must be an array of integers but is {Describe(shapeValue)}.");
        int rank = shapeValue.GetArrayLength();
        if (rank > MaxDimensions)
            throw Error(file, $"{where}: shape has {rank} dimensions, more than the limit of {MaxDimensions}.");
        var shape = new int[rank];
        var dims = new long[rank];
        int k = 0;
        foreach (var d in shapeValue.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                throw Error(file, $"{where}: shape element {k} is {Describe(d)}; every length must be an integer from 0 to {int.MaxValue}.");
            shape[k] = (int)dim;
            dims[k++] = dim;
        }

        // data_offsets
        if (offsetsValue.ValueKind != JsonValueKind.Array || offsetsValue.GetArrayLength() != 2)
            throw Error(file, $"{where}: 'data_offsets' must be an array of two integers [begin, end] but is {Describe(offsetsValue)}.");
        long begin = Offset(offsetsValue[0], "begin"), end = Offset(offsetsValue[1], "end");
        if (end < begin)
            throw Error(file, $"{where}: data_offsets [{begin}, {end}] end before they begin.");

        // size
        int size = SafeTensorsDTypes.Size(dtype);
        long count = BlockIO.ElementCount(dims, long.MaxValue / size);
        string shapeText = $"[{string.Join(", ", shape)}]";
        if (count < 0)
            throw Error(file, $"{where}: shape {shapeText} with dtype {dtypeName} has more bytes than fit in 64 bits.");
        long bytes = count * size;
        if (bytes != end - begin)
            throw Error(file, $"{where}: shape {shapeText} with dtype {dtypeName} needs {bytes} bytes but data_offsets [{begin}, {end}] span {end - begin}.");
        if (bytes > MaxTensorBytes)
            throw Error(file, $"{where}: {bytes} bytes, more than the limit of {MaxTensorBytes} for one tensor.");
        return new SafeTensorInfo(name, dtype, shape, count, begin, end);

        void Set(ref JsonElement? slot, JsonProperty field)
        {
            if (slot is not null) throw Error(file, $"{where}: key '{field.Name}' appears more than once.");
            slot = field.Value;
        }

        long Offset(JsonElement e, string which)
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v) || v < 0)
                throw Error(file, $"{where}: data_offsets {which} is {Describe(e)}; it must be an integer from 0 to {long.MaxValue}.");
            return v;
        }
    }

    /// <summary>Checks that the tensors, sorted by offset, tile the data section without gaps or overlaps.</summary>
    private static void CheckLayout(SafeTensorInfo[] entries, long? dataLength, string file)
    {
        if (dataLength is long limit)
            foreach (var e in entries)
                if (e.DataEnd > limit)
                    throw Error(file, $"tensor '{e.Name}': data_offsets [{e.DataBegin}, {e.DataEnd}] run past the end of the data section, which has {limit} bytes.");

        SafeTensorInfo? previous = null;
        long expected = 0;
        foreach (var e in entries.OrderBy(e => e.DataBegin).ThenBy(e => e.DataEnd))
        {
            if (e.DataBegin < expected)
                throw Error(file, $"tensor '{e.Name}': data_offsets [{e.DataBegin}, {e.DataEnd}] overlap tensor '{previous!.Name}' [{previous.DataBegin}, {previous.DataEnd}].");
            if (e.DataBegin > expected)
                throw Error(file, $"tensor '{e.Name}': data_offsets [{e.DataBegin}, {e.DataEnd}] leave a gap: bytes {expected} to {e.DataBegin} of the data section belong to no tensor.");
            expected = e.DataEnd;
            previous = e;
        }
        if (dataLength is long total && expected < total)
            throw Error(file, $"the data section has {total} bytes but its tensors cover only the first {expected}; {total - expected} bytes belong to no tensor.");
    }

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => $"an array of {e.GetArrayLength()} elements",
        JsonValueKind.String => $"the string {Clip(e.GetRawText())}",
        JsonValueKind.Number => $"the number {Clip(e.GetRawText())}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {e.GetRawText()}",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "...";

    private static InvalidDataException Error(string file, string message) => new($"{Kind} '{file}': {message}");
}
