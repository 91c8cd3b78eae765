using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Lru.IO;

/// <summary>Writes safetensors files that <see cref="SafeTensorsFile"/> and the reference implementation read.</summary>
/// <remarks>
/// The header is compact JSON as the reference writes it — <c>__metadata__</c> first (keys in ordinal
/// order), then one entry per tensor in the order given, <c>{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}</c>
/// — padded with spaces so that the data section starts at a multiple of 8 bytes. The tensors' data
/// follows in the same order, back to back, little-endian, so the values read back are bit-identical.
/// </remarks>
public static class SafeTensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically: the file is written to a
    /// temporary file in the same directory, flushed to disk and renamed over <paramref name="path"/>.
    /// If anything fails, the temporary file is deleted and any previous file at <paramref name="path"/>
    /// is left as it was.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="tensors">The tensors, written in this order; names must be unique.</param>
    /// <param name="metadata">Optional string-to-string metadata, stored as <c>__metadata__</c>.</param>
    /// <exception cref="ArgumentNullException">An argument, a tensor, or a metadata key or value is null.</exception>
    /// <exception cref="ArgumentException">Two tensors share a name, a name is not valid UTF-16, there are more than <see cref="SafeTensorsFile.MaxTensors"/> tensors or <see cref="SafeTensorsFile.MaxMetadataEntries"/> metadata entries, a tensor is larger than <see cref="SafeTensorsFile.MaxTensorBytes"/>, or the header would exceed <see cref="SafeTensorsFile.MaxHeaderBytes"/>: the limits under which <see cref="SafeTensorsFile"/> reads the file back.</exception>
    /// <exception cref="IOException">The file could not be written.</exception>
    public static void Write(string path, IEnumerable<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var (list, header) = Prepare(tensors, metadata);
        AtomicFile.Write(path, stream => WriteBody(stream, list, header));
    }

    /// <summary>Writes <paramref name="tensors"/> as a safetensors file to <paramref name="stream"/> at its current position.</summary>
    /// <param name="stream">The destination; it is written but not flushed or disposed.</param>
    /// <param name="tensors">The tensors, written in this order; names must be unique.</param>
    /// <param name="metadata">Optional string-to-string metadata, stored as <c>__metadata__</c>.</param>
    /// <exception cref="ArgumentNullException">An argument, a tensor, or a metadata key or value is null.</exception>
    /// <exception cref="ArgumentException">As for <see cref="Write(string, IEnumerable{SafeTensorData}, IReadOnlyDictionary{string, string}?)"/>.</exception>
    /// <exception cref="IOException">The stream could not be written.</exception>
    public static void Write(Stream stream, IEnumerable<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (list, header) = Prepare(tensors, metadata);
        WriteBody(stream, list, header);
    }

    private static void WriteBody(Stream stream, List<SafeTensorData> tensors, byte[] header)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var t in tensors) t.WriteTo(stream);
    }

    /// <summary>Checks the arguments and builds the padded header.</summary>
    private static (List<SafeTensorData> Tensors, byte[] Header) Prepare(IEnumerable<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = new List<SafeTensorData>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (t is null) throw new ArgumentNullException(nameof(tensors), $"tensors has a null element at index {list.Count}.");
            if (!names.Add(t.Name)) throw new ArgumentException($"tensors has two tensors named '{t.Name}'.", nameof(tensors));
            if (t.ByteLength > SafeTensorsFile.MaxTensorBytes)
                throw new ArgumentException($"Tensor '{t.Name}' has {t.ByteLength} bytes, more than the limit of {SafeTensorsFile.MaxTensorBytes}.", nameof(tensors));
            list.Add(t);
        }
        if (list.Count > SafeTensorsFile.MaxTensors)
            throw new ArgumentException($"tensors has {list.Count} tensors, more than the limit of {SafeTensorsFile.MaxTensors}.", nameof(tensors));
        if (metadata is not null && metadata.Count > SafeTensorsFile.MaxMetadataEntries)
            throw new ArgumentException($"metadata has {metadata.Count} entries, more than the limit of {SafeTensorsFile.MaxMetadataEntries}.", nameof(metadata));

        var json = new StringBuilder();
        json.Append('{');
        if (metadata is not null && metadata.Count > 0)
        {
            json.Append('"').Append(SafeTensorsFile.MetadataKey).Append("\":{");
            bool first = true;
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (key is null || value is null)
                    throw new ArgumentNullException(nameof(metadata), $"metadata has a null {(key is null ? "key" : $"value for key '{key}'")}.");
                if (!first) json.Append(',');
                AppendString(json, key, nameof(metadata));
                json.Append(':');
                AppendString(json, value, nameof(metadata));
                first = false;
            }
            json.Append('}');
            if (list.Count > 0) json.Append(',');
        }

        long offset = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var t = list[i];
            if (i > 0) json.Append(',');
            AppendString(json, t.Name, nameof(tensors));
            json.Append(":{\"dtype\":\"").Append(SafeTensorsDTypes.Name(t.DType)).Append("\",\"shape\":[");
            for (int k = 0; k < t.Shape.Count; k++)
            {
                if (k > 0) json.Append(',');
                json.Append(t.Shape[k].ToString(CultureInfo.InvariantCulture));
            }
            long end = offset + t.ByteLength;
            json.Append("],\"data_offsets\":[")
                .Append(offset.ToString(CultureInfo.InvariantCulture)).Append(',')
                .Append(end.ToString(CultureInfo.InvariantCulture)).Append("]}");
            offset = end;
        }
        json.Append('}');

        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        int size = utf8.GetByteCount(json.ToString());
        int padded = (size + 7) & ~7;
        if (padded > SafeTensorsFile.MaxHeaderBytes)
            throw new ArgumentException($"The header would have {padded} bytes, more than the limit of {SafeTensorsFile.MaxHeaderBytes}.", nameof(tensors));
        var header = new byte[padded];
        utf8.GetBytes(json.ToString(), header);
        header.AsSpan(size).Fill((byte)' ');
        return (list, header);
    }

    /// <summary>Appends a JSON string the way serde_json writes it: UTF-8 as is, escaping only quotes, backslashes and control characters.</summary>
    private static void AppendString(StringBuilder json, string s, string paramName)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i]))
                throw new ArgumentException($"The string '{s}' has an unpaired surrogate at index {i}, which UTF-8 cannot encode.", paramName);
        }
        json.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                default:
                    if (c < 0x20) json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else json.Append(c);
                    break;
            }
        }
        json.Append('"');
    }
}
