using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Lru.IO;

/// <summary>
/// Reads and writes NumPy .npy files (format versions 1.0, 2.0 and 3.0) holding C-order little-endian arrays of
/// float32, float64, signed and unsigned 8-, 16-, 32- and 64-bit integers, or bool (see <see cref="NpyDType"/>):
/// whatever <c>numpy.save</c> writes for those types by default.
/// </summary>
/// <remarks>
/// <para>
/// Layout: the magic <c>\x93NUMPY</c>, a major and a minor version byte, the header length (2 bytes
/// little-endian in version 1, 4 bytes in versions 2 and 3), the header — a Python dict literal such as
/// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }</c>, Latin-1 in versions 1 and 2,
/// UTF-8 in version 3, padded with spaces and a final newline — and then the data.
/// </para>
/// <para>
/// The reader parses the dict itself (no evaluation) and refuses, with an
/// <see cref="InvalidDataException"/> naming the file and the problem: a wrong magic or version; a
/// header longer than <see cref="MaxHeaderBytes"/> or than the rest of the file, holding more than
/// <see cref="MaxHeaderValues"/> values or nested more than 16 levels deep, or not a dict literal with exactly the keys
/// <c>descr</c>, <c>fortran_order</c> and <c>shape</c>; any descr other than those of <see cref="NpyDType"/>
/// (big-endian, object, string, complex and structured dtypes are named in the message); a bool byte other than 0 or 1;
/// <c>fortran_order: True</c>; a shape that is not a tuple of at most <see cref="MaxDimensions"/>
/// integers from 0 to <see cref="int.MaxValue"/>; data larger than <see cref="MaxDataBytes"/>; data
/// shorter than the shape needs; and bytes after the data (NumPy ignores them; this reader treats them as
/// a sign of a damaged file).
/// </para>
/// <para>
/// Allocation is bounded by the bytes really present, never by what the header claims: the header length
/// and the data size are compared with the file's length before they are read into memory, and a stream
/// that cannot seek is read into a buffer that starts at 64 KiB and doubles only as data arrives (at most
/// 64 KiB plus four times the bytes that really arrived). Parsing the header costs a few times its length.
/// </para>
/// <para>
/// The writer produces exactly the bytes NumPy 1.24's <c>numpy.save</c> writes for the same array:
/// version 1.0, keys in sorted order, the spare
/// space NumPy reserves after the shape, and padding so that the data starts at a multiple of 64 bytes.
/// </para>
/// </remarks>
public static class NpyFile
{
    /// <summary>The largest header accepted, in bytes.</summary>
    public const int MaxHeaderBytes = 1 << 20;

    /// <summary>
    /// The most values (the dict, its keys, and every tuple, list, string, number or name inside) the
    /// header may hold. The header of a float array holds at most 7 + <see cref="MaxDimensions"/>; the
    /// limit keeps a header of many tiny values from costing many times its length to parse.
    /// </summary>
    public const int MaxHeaderValues = 1024;

    /// <summary>The largest number of dimensions accepted (NumPy's own limit is 64).</summary>
    public const int MaxDimensions = 64;

    /// <summary>The largest data section accepted, in bytes (<see cref="Array.MaxLength"/>: it is read into one array).</summary>
    public const long MaxDataBytes = BlockIO.MaxArrayBytes;

    private const string Kind = ".npy file";
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Alignment of the data section in the files NumPy writes.</summary>
    private const int ArrayAlign = 64;

    /// <summary>NumPy leaves room after the header for the first axis to grow to this many digits.</summary>
    private const int GrowthAxisMaxDigits = 21;

    /// <summary>Reads the .npy file at <paramref name="path"/>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The array.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read, or <paramref name="path"/> is a directory.</exception>
    /// <exception cref="InvalidDataException">The file is truncated, malformed, exceeds a limit (<see cref="MaxHeaderBytes"/>, <see cref="MaxHeaderValues"/>, <see cref="MaxDimensions"/>, <see cref="MaxDataBytes"/>) or is of an unsupported kind; the message names the file and the problem. Bad content never raises another exception type.</exception>
    /// <exception cref="IOException">The file could not be read.</exception>
    public static NpyArray Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.SequentialScan);
        return Read(stream, path);
    }

    /// <summary>Reads a .npy file from <paramref name="stream"/>, from its current position to its end.</summary>
    /// <param name="stream">The source; it is read but not disposed.</param>
    /// <param name="displayName">The name to use in messages, for example the file's path.</param>
    /// <returns>The array.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="stream"/> cannot be read (for example, it is write-only or disposed).</exception>
    /// <exception cref="InvalidDataException">The data is truncated, malformed, exceeds a limit or is of an unsupported kind (as for <see cref="Read(string)"/>).</exception>
    /// <exception cref="IOException">The stream could not be read.</exception>
    public static NpyArray Read(Stream stream, string displayName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(displayName);
        BlockIO.RequireReadable(stream);
        string file = displayName;

        byte[] start = BlockIO.ReadArray<byte>(stream, 8, Kind, file, "the magic string and version");
        if (!start.AsSpan(0, 6).SequenceEqual(Magic))
            throw Error(file, $"does not start with the magic string \\x93NUMPY (found {Convert.ToHexString(start, 0, 6)}).");
        byte major = start[6], minor = start[7];
        if (major is < 1 or > 3 || minor != 0)
            throw Error(file, $"has format version {major}.{minor}; only 1.0, 2.0 and 3.0 are supported.");

        byte[] lengthBytes = BlockIO.ReadArray<byte>(stream, major == 1 ? 2 : 4, Kind, file, "the header length");
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes) : BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
            throw Error(file, $"header length is {headerLength} bytes, more than the limit of {MaxHeaderBytes}.");
        byte[] headerBytes = BlockIO.ReadArray<byte>(stream, headerLength, Kind, file, "the header");
        string header;
        if (major == 3)
        {
            if (!Utf8.IsValid(headerBytes)) throw Error(file, "header is not valid UTF-8 (required by format version 3.0).");
            header = Encoding.UTF8.GetString(headerBytes);
        }
        else
        {
            header = Encoding.Latin1.GetString(headerBytes);
        }

        var (dtype, shape, count) = ParseHeader(header, file);
        NpyArray array = NpyArray.ReadData(stream, dtype, count, shape, Kind, file);
        BlockIO.ExpectEnd(stream, Kind, file, "the data");
        return array;
    }

    /// <summary>Writes <paramref name="data"/> as a float32 .npy file, atomically (see <see cref="Write(string, NpyArray)"/>).</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="data">The values, row-major.</param>
    /// <param name="shape">The length of every dimension; the product must equal <paramref name="data"/>'s length.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The shape is invalid or does not match the data.</exception>
    /// <exception cref="IOException">The file could not be written.</exception>
    public static void Write(string path, float[] data, int[] shape) => Write(path, new NpyArray(data, shape));

    /// <summary>Writes <paramref name="data"/> as a float64 .npy file, atomically (see <see cref="Write(string, NpyArray)"/>).</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="data">The values, row-major.</param>
    /// <param name="shape">The length of every dimension; the product must equal <paramref name="data"/>'s length.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The shape is invalid or does not match the data.</exception>
    /// <exception cref="IOException">The file could not be written.</exception>
    public static void Write(string path, double[] data, int[] shape) => Write(path, new NpyArray(data, shape));

    /// <summary>
    /// Writes <paramref name="array"/> to <paramref name="path"/> atomically: to a temporary file in the
    /// same directory, flushed to disk, then renamed over <paramref name="path"/>. If anything fails, the
    /// temporary file is deleted and any previous file is left as it was.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="array">The array.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or a directory.</exception>
    /// <exception cref="IOException">The file could not be written.</exception>
    public static void Write(string path, NpyArray array)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(array);
        byte[] header = BuildHeader(array);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            array.WriteData(stream);
        });
    }

    /// <summary>Writes <paramref name="array"/> in .npy format to <paramref name="stream"/> at its current position.</summary>
    /// <param name="stream">The destination; it is written but not flushed or disposed.</param>
    /// <param name="array">The array.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="IOException">The stream could not be written.</exception>
    public static void Write(Stream stream, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        stream.Write(BuildHeader(array));
        array.WriteData(stream);
    }

    /// <summary>Magic, version, length and padded header, as <c>numpy.lib.format.write_array_header</c> builds them.</summary>
    private static byte[] BuildHeader(NpyArray array)
    {
        var shape = array.Shape;
        string shapeText = shape.Count switch
        {
            0 => "()",
            1 => $"({shape[0].ToString(CultureInfo.InvariantCulture)},)",
            _ => "(" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
        };
        string descr = Descrs.First(d => d.DType == array.DType).Descr;
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeText}, }}";
        if (shape.Count > 0) dict += new string(' ', GrowthAxisMaxDigits - shape[0].ToString(CultureInfo.InvariantCulture).Length);

        // numpy: hlen = len(header) + 1 (the newline), padded so that magic, version, the 2-byte length and
        // the header fill a multiple of 64 bytes. With at most MaxDimensions lengths the header stays far
        // below the 65,535 bytes of version 1.0, so NumPy would never choose version 2.0 for these arrays.
        int withNewline = dict.Length + 1;
        int pad = ArrayAlign - (Magic.Length + 2 + 2 + withNewline) % ArrayAlign;
        int headerLength = withNewline + pad;

        var bytes = new byte[Magic.Length + 2 + 2 + headerLength];
        Magic.CopyTo(bytes, 0);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), checked((ushort)headerLength));
        int at = 10 + Encoding.ASCII.GetBytes(dict, bytes.AsSpan(10));
        bytes.AsSpan(at, pad).Fill((byte)' ');
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    // ------------------------------------------------------------------------------------------ header

    private static (NpyDType DType, int[] Shape, long Count) ParseHeader(string header, string file)
    {
        var parser = new LiteralParser(header, file);
        var dict = parser.ParseWhole() as PyDict
            ?? throw Error(file, $"header must be a Python dict literal but is {Clip(header)}.");

        object? descr = null, fortran = null, shapeValue = null;
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name)
                throw Error(file, $"header has a key that is not a string: {Describe(key)}.");
            ref object? slot = ref descr;
            switch (name)
            {
                case "descr": slot = ref descr; break;
                case "fortran_order": slot = ref fortran; break;
                case "shape": slot = ref shapeValue; break;
                default: throw Error(file, $"header has the unexpected key '{name}'; it must have exactly 'descr', 'fortran_order' and 'shape'.");
            }
            if (slot is not null) throw Error(file, $"header has the key '{name}' more than once.");
            slot = value;
        }
        if (descr is null) throw Error(file, "header has no 'descr' key.");
        if (fortran is null) throw Error(file, "header has no 'fortran_order' key.");
        if (shapeValue is null) throw Error(file, "header has no 'shape' key.");

        // descr
        const string Supported = "only little-endian float32, float64, int8-64, uint8-64 and bool ('<f4', '<f8', '|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8', '|b1') are";
        NpyDType dtype = descr switch
        {
            string text when Descrs.FirstOrDefault(d => d.Descr == text || d.Aliases.Contains(text)) is { Descr: not null } known => known.DType,
            string text when text.Length > 1 && text[0] == '>' && Descrs.Any(d => d.Descr[1..] == text[1..])
                => throw Error(file, $"dtype '{text}' is big-endian; {Supported}."),
            "|O" or "O" or "<O" or ">O" => throw Error(file, $"dtype '{descr}' is an object array (pickled Python objects), which is not supported; {Supported}."),
            string other => throw Error(file, $"dtype '{other}' is not supported; {Supported}."),
            PySequence { IsTuple: false } => throw Error(file, $"dtype is a structured (record) dtype, which is not supported; {Supported}."),
            _ => throw Error(file, $"'descr' must be a string but is {Describe(descr)}."),
        };

        // fortran_order
        if (fortran is not bool isFortran)
            throw Error(file, $"'fortran_order' must be True or False but is {Describe(fortran)}.");
        if (isFortran)
            throw Error(file, "fortran_order is True (column-major data), which is not supported; only C order (row-major) is.");

        // shape
        if (shapeValue is not PySequence { IsTuple: true } tuple)
            throw Error(file, $"'shape' must be a tuple of integers but is {Describe(shapeValue)}.");
        if (tuple.Items.Count > MaxDimensions)
            throw Error(file, $"shape has {tuple.Items.Count} dimensions, more than the limit of {MaxDimensions}.");
        var shape = new int[tuple.Items.Count];
        var dims = new long[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            if (tuple.Items[i] is not long d || d < 0 || d > int.MaxValue)
                throw Error(file, $"shape element {i} is {Describe(tuple.Items[i])}; every length must be an integer from 0 to {int.MaxValue}.");
            shape[i] = (int)d;
            dims[i] = d;
        }
        int size = NpyArray.SizeOf(dtype);
        long count = BlockIO.ElementCount(dims, MaxDataBytes / size);
        if (count < 0)
            throw Error(file, $"shape ({string.Join(", ", shape)}) needs more than the limit of {MaxDataBytes} bytes.");
        return (dtype, shape, count);
    }

    /// <summary>
    /// Every supported element type with the descr NumPy writes for it and the equivalent spelling NumPy also
    /// accepts (a 1-byte type has no byte order: NumPy writes '|', and '&lt;' or '&gt;' mean the same).
    /// </summary>
    private static readonly (NpyDType DType, string Descr, string[] Aliases)[] Descrs =
    [
        (NpyDType.Float32, "<f4", []), (NpyDType.Float64, "<f8", []),
        (NpyDType.Int8, "|i1", ["<i1", ">i1"]), (NpyDType.Int16, "<i2", []), (NpyDType.Int32, "<i4", []), (NpyDType.Int64, "<i8", []),
        (NpyDType.UInt8, "|u1", ["<u1", ">u1"]), (NpyDType.UInt16, "<u2", []), (NpyDType.UInt32, "<u4", []), (NpyDType.UInt64, "<u8", []),
        (NpyDType.Bool, "|b1", ["<b1", ">b1"]),
    ];

    private static string Describe(object? value) => value switch
    {
        string s => $"the string '{Clip(s)}'",
        bool b => b ? "True" : "False",
        long n => n.ToString(CultureInfo.InvariantCulture),
        PyNone => "None",
        PySequence { IsTuple: true } t => $"a tuple of {t.Items.Count} items",
        PySequence l => $"a list of {l.Items.Count} items",
        PyDict => "a dict",
        _ => "nothing",
    };

    private static string Clip(string text) => text.Length <= 60 ? text : text[..60] + "...";

    private static InvalidDataException Error(string file, string message) => new($"{Kind} '{file}': {message}");

    // ------------------------------------------------------------------------------------------ literal parser

    /// <summary>Python's None.</summary>
    private sealed class PyNone
    {
        public static readonly PyNone Value = new();
    }

    /// <summary>A tuple or a list.</summary>
    private sealed record PySequence(List<object> Items, bool IsTuple);

    /// <summary>A dict, keys in order of appearance (duplicates kept, so they can be refused).</summary>
    private sealed record PyDict(List<(object Key, object Value)> Items);

    /// <summary>
    /// A recursive-descent parser for the subset of Python literals a .npy header uses: dicts, tuples,
    /// lists, quoted strings, integers, True, False and None. Nesting is limited so hostile headers
    /// cannot exhaust the stack, and the number of values so they cannot cost many times their length.
    /// </summary>
    private sealed class LiteralParser(string text, string file)
    {
        private const int MaxDepth = 16;
        private int _pos;
        private int _values;

        /// <summary>Parses one value followed only by whitespace.</summary>
        public object ParseWhole()
        {
            object value = ParseValue(0);
            SkipSpace();
            if (_pos < text.Length) throw Fail($"unexpected text after the dict: {Clip(text[_pos..])}");
            return value;
        }

        private object ParseValue(int depth)
        {
            if (depth > MaxDepth) throw Fail($"nested more than {MaxDepth} levels deep");
            if (++_values > MaxHeaderValues) throw Fail($"more than the limit of {MaxHeaderValues} values (a float array's header has at most {7 + MaxDimensions})");
            SkipSpace();
            if (_pos >= text.Length) throw Fail("the header ends where a value was expected");
            char c = text[_pos];
            switch (c)
            {
                case '{': return ParseDict(depth);
                case '(': return ParseParenthesized(depth);
                case '[':
                    _pos++;
                    return new PySequence(ParseItems(']', depth), IsTuple: false);
                case '\'' or '"': return ParseString();
            }
            if (c is '-' or '+' || char.IsAsciiDigit(c)) return ParseInteger();
            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = _pos;
                while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] == '_')) _pos++;
                return text[start.._pos] switch
                {
                    "True" => true,
                    "False" => false,
                    "None" => PyNone.Value,
                    string name => throw Fail($"'{Clip(name)}' is not a literal", start),
                };
            }
            throw Fail($"unexpected character '{c}'");
        }

        private PyDict ParseDict(int depth)
        {
            _pos++; // '{'
            var items = new List<(object, object)>();
            while (true)
            {
                SkipSpace();
                if (Peek() == '}') { _pos++; return new PyDict(items); }
                object key = ParseValue(depth + 1);
                SkipSpace();
                if (Peek() != ':') throw Fail("expected ':' after a dict key");
                _pos++;
                object value = ParseValue(depth + 1);
                items.Add((key, value));
                SkipSpace();
                char next = Peek();
                if (next == ',') { _pos++; continue; }
                if (next == '}') { _pos++; return new PyDict(items); }
                throw Fail("expected ',' or '}' in the dict");
            }
        }

        /// <summary>'(' starts a tuple — <c>()</c>, <c>(a,)</c>, <c>(a, b)</c> — or just groups one value, <c>(a)</c>.</summary>
        private object ParseParenthesized(int depth)
        {
            _pos++; // '('
            SkipSpace();
            if (Peek() == ')') { _pos++; return new PySequence([], IsTuple: true); }
            object first = ParseValue(depth + 1);
            SkipSpace();
            if (Peek() == ')') { _pos++; return first; }
            if (Peek() != ',') throw Fail("expected ',' or ')' in the tuple");
            _pos++;
            var items = ParseItems(')', depth);
            items.Insert(0, first);
            return new PySequence(items, IsTuple: true);
        }

        /// <summary>Comma-separated values up to <paramref name="close"/>, a trailing comma allowed.</summary>
        private List<object> ParseItems(char close, int depth)
        {
            var items = new List<object>();
            while (true)
            {
                SkipSpace();
                if (Peek() == close) { _pos++; return items; }
                items.Add(ParseValue(depth + 1));
                SkipSpace();
                char next = Peek();
                if (next == ',') { _pos++; continue; }
                if (next == close) { _pos++; return items; }
                throw Fail($"expected ',' or '{close}'");
            }
        }

        private string ParseString()
        {
            char quote = text[_pos++];
            var sb = new StringBuilder();
            while (true)
            {
                if (_pos >= text.Length || text[_pos] == '\n') throw Fail("unterminated string");
                char c = text[_pos++];
                if (c == quote) return sb.ToString();
                if (c == '\\')
                {
                    if (_pos >= text.Length) throw Fail("unterminated string");
                    char e = text[_pos++];
                    if (e is '\\' or '\'' or '"') sb.Append(e);
                    else throw Fail($"unsupported escape '\\{e}' in a string", _pos - 2);
                }
                else
                {
                    sb.Append(c);
                }
            }
        }

        private long ParseInteger()
        {
            int start = _pos;
            bool negative = false;
            if (text[_pos] is '-' or '+')
            {
                negative = text[_pos] == '-';
                _pos++;
                SkipSpace();
            }
            int digits = _pos;
            while (_pos < text.Length && char.IsAsciiDigit(text[_pos])) _pos++;
            if (_pos == digits) throw Fail("expected digits", start);
            if (_pos < text.Length && (char.IsAsciiLetter(text[_pos]) || text[_pos] is '.' or '_'))
                throw Fail("only plain decimal integers are supported", start);
            if (_pos - digits > 18) throw Fail($"the integer {Clip(text[start.._pos])} is too large", start);
            long value = long.Parse(text.AsSpan(digits, _pos - digits), NumberStyles.None, CultureInfo.InvariantCulture);
            return negative ? -value : value;
        }

        private char Peek() => _pos < text.Length ? text[_pos] : '\0';

        private void SkipSpace()
        {
            while (_pos < text.Length && text[_pos] is ' ' or '\t' or '\n' or '\r' or '\f') _pos++;
        }

        private InvalidDataException Fail(string what, int? at = null) =>
            Error(file, $"header is not a valid dict literal: {what} at character {at ?? _pos} of {Clip(text)}");
    }
}
