using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using CsCheck;

namespace Lru.Tests.IO;

/// <summary>What a mutation does to a file's bytes.</summary>
internal enum EditKind
{
    /// <summary>Replace the byte at the position.</summary>
    SetByte,

    /// <summary>Flip one bit of the byte at the position.</summary>
    FlipBit,

    /// <summary>Insert bytes before the position.</summary>
    Insert,

    /// <summary>Delete up to <see cref="Edit.Length"/> bytes from the position.</summary>
    Delete,

    /// <summary>Cut the file at the position.</summary>
    Truncate,

    /// <summary>Copy up to <see cref="Edit.Length"/> bytes from the position and insert them again right after.</summary>
    Duplicate,

    /// <summary>Overwrite one of the format's integer fields (a header length, a dimension) with <see cref="Edit.Value"/>.</summary>
    SetField,

    /// <summary>Replace one decimal number in the format's text header with <see cref="Edit.Text"/>.</summary>
    SetNumber,
}

/// <summary>
/// One mutation. Positions and indices are raw generated integers, reduced modulo the size of what they
/// address when applied, so that shrinking works on them and every value is meaningful for any file.
/// </summary>
internal readonly record struct Edit(EditKind Kind, int Position, ulong Value, int Length, byte[] Bytes, string Text)
{
    public override string ToString() => Kind switch
    {
        EditKind.SetByte => $"SetByte(@{Position}, 0x{(byte)Value:X2})",
        EditKind.FlipBit => $"FlipBit(@{Position}, bit {Value % 8})",
        EditKind.Insert => $"Insert(@{Position}, {Convert.ToHexString(Bytes)})",
        EditKind.Delete => $"Delete(@{Position}, {Length})",
        EditKind.Truncate => $"Truncate(@{Position})",
        EditKind.Duplicate => $"Duplicate(@{Position}, {Length})",
        EditKind.SetField => $"SetField(#{Position}, {Value})",
        _ => $"SetNumber(#{Position}, \"{Text}\")",
    };
}

/// <summary>How many inputs a property's parses accepted and refused (thread-safe: CsCheck samples on several threads).</summary>
internal sealed class Tally
{
    private int _accepted, _refused;

    /// <summary>Inputs read successfully.</summary>
    public int Accepted => _accepted;

    /// <summary>Inputs refused with the documented exception.</summary>
    public int Refused => _refused;

    /// <summary>Counts one outcome and returns <paramref name="accepted"/>.</summary>
    public bool Count(bool accepted)
    {
        Interlocked.Increment(ref accepted ? ref _accepted : ref _refused);
        return accepted;
    }

    public override string ToString() => $"{Accepted} accepted, {Refused} refused";
}

/// <summary>An integer field of a file format: where it is, how wide, and its byte order.</summary>
internal readonly record struct Field(int Offset, int Width, bool BigEndian);

/// <summary>
/// The shared machinery of the parser property tests: generators of interesting integers and of
/// mutations, applying mutations, the "read or refuse" oracle and the overall time bound.
/// </summary>
internal static class ParserFuzz
{
    /// <summary>
    /// No property here may run longer than this: 120 s, times <c>LRU_FUZZ_SCALE</c> if set (see
    /// <see cref="Iterations"/>). Every property finishes in about a second on a loaded two-core machine,
    /// so reaching it means a parse hangs (or loops for far too long), not that the machine is slow.
    /// </summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(120 * Scale);

    /// <summary>The integer in the environment variable <c>LRU_FUZZ_SCALE</c>, or 1.</summary>
    private static int Scale =>
        Environment.GetEnvironmentVariable("LRU_FUZZ_SCALE") is { Length: > 0 } scale ? int.Parse(scale, CultureInfo.InvariantCulture) : 1;

    /// <summary>
    /// Powers of two and their neighbours (0 to 2^64 − 1), uniform 64-bit values and small values:
    /// the lengths a hostile or damaged header is most likely to claim, and the edges of every check.
    /// </summary>
    public static readonly Gen<ulong> InterestingULong = Gen.Frequency(
        (4, Gen.Select(Gen.Int[0, 63], Gen.Int[-2, 2], (k, d) => unchecked((1UL << k) + (ulong)(long)d))),
        (2, Gen.ULong),
        (2, Gen.ULong[0, 300]),
        (1, Gen.OneOf(Gen.Const(1UL << 60), Gen.Const((ulong)int.MaxValue), Gen.Const(0x7FFFFFC7UL), Gen.Const(100_000_001UL))));

    /// <summary>Texts that may stand where a header has a decimal number: huge, negative, fractional, malformed.</summary>
    public static readonly Gen<string> InterestingNumber = Gen.OneOf(
        InterestingULong.Select(v => v.ToString(CultureInfo.InvariantCulture)),
        InterestingULong.Select(v => "-" + v.ToString(CultureInfo.InvariantCulture)),
        Gen.Int[1, 40].Select(n => new string('9', n)),
        Gen.OneOf(Gen.Const("1e308"), Gen.Const("1e400"), Gen.Const("2.5"), Gen.Const("-0"), Gen.Const("0x10"),
                  Gen.Const("1_000"), Gen.Const("+3"), Gen.Const(""), Gen.Const("NaN"), Gen.Const("None"), Gen.Const("True")));

    /// <summary>Bytes that keep a mutated text header syntactically interesting (JSON and Python literals).</summary>
    private const string Syntax = "{}[](),:'\" 0123456789-+eE.\\TFNtfnu_\n";

    private static readonly Gen<byte> SyntaxByte = Gen.Int[0, Syntax.Length - 1].Select(i => (byte)Syntax[i]);

    private static readonly Gen<byte> AnyByte = Gen.Frequency((3, Gen.Byte), (2, SyntaxByte));

    /// <summary>A mutation: random bytes anywhere, or a format field or header number set to an interesting value.</summary>
    public static readonly Gen<Edit> Edit = Gen.Frequency(
        (3, Gen.Select(Gen.Int.NonNegative, AnyByte, (p, b) => new Edit(EditKind.SetByte, p, b, 0, [], ""))),
        (2, Gen.Select(Gen.Int.NonNegative, Gen.Int[0, 7], (p, bit) => new Edit(EditKind.FlipBit, p, (ulong)bit, 0, [], ""))),
        (2, Gen.Select(Gen.Int.NonNegative, AnyByte.Array[1, 8], (p, b) => new Edit(EditKind.Insert, p, 0, 0, b, ""))),
        (2, Gen.Select(Gen.Int.NonNegative, Gen.Int[1, 16], (p, n) => new Edit(EditKind.Delete, p, 0, n, [], ""))),
        (2, Gen.Int.NonNegative.Select(p => new Edit(EditKind.Truncate, p, 0, 0, [], ""))),
        (1, Gen.Select(Gen.Int.NonNegative, Gen.Int[1, 64], (p, n) => new Edit(EditKind.Duplicate, p, 0, n, [], ""))),
        (3, Gen.Select(Gen.Int.NonNegative, InterestingULong, (i, v) => new Edit(EditKind.SetField, i, v, 0, [], ""))),
        (3, Gen.Select(Gen.Int.NonNegative, InterestingNumber, (i, t) => new Edit(EditKind.SetNumber, i, 0, 0, [], t))));

    /// <summary>One to four mutations.</summary>
    public static readonly Gen<Edit[]> Edits = Edit.Array[1, 4];

    /// <summary>A mutation that makes the file claim a huge size: a length field or a header number set to 2^20 or more.</summary>
    public static readonly Gen<Edit> HugeClaim = Gen.OneOf(
        Gen.Select(Gen.Int.NonNegative, Gen.Int[20, 63], Gen.Int[-1, 1],
            (i, k, d) => new Edit(EditKind.SetField, i, unchecked((1UL << k) + (ulong)(long)d), 0, [], "")),
        Gen.Select(Gen.Int.NonNegative, Gen.Int[20, 63], Gen.Int[-1, 1],
            (i, k, d) => new Edit(EditKind.SetNumber, i, 0, 0, [], unchecked((1UL << k) + (ulong)(long)d).ToString(CultureInfo.InvariantCulture))));

    /// <summary>
    /// Applies <paramref name="edits"/> in order. <paramref name="fields"/> are the format's integer
    /// fields and <paramref name="textStart"/>..<paramref name="textEnd"/> its text header, both located
    /// in the original file (earlier edits may shift them, which only makes the input stranger).
    /// </summary>
    public static byte[] Apply(byte[] valid, IReadOnlyList<Edit> edits, IReadOnlyList<Field> fields, int textStart = 0, int textEnd = 0)
    {
        var bytes = new List<byte>(valid);
        Span<byte> value = stackalloc byte[8];
        foreach (var e in edits)
        {
            int at = bytes.Count == 0 ? 0 : e.Position % bytes.Count;
            switch (e.Kind)
            {
                case EditKind.SetByte when bytes.Count > 0: bytes[at] = (byte)e.Value; break;
                case EditKind.FlipBit when bytes.Count > 0: bytes[at] ^= (byte)(1 << (int)(e.Value % 8)); break;
                case EditKind.Insert: bytes.InsertRange(e.Position % (bytes.Count + 1), e.Bytes); break;
                case EditKind.Delete when bytes.Count > 0: bytes.RemoveRange(at, Math.Min(e.Length, bytes.Count - at)); break;
                case EditKind.Truncate: bytes.RemoveRange(at, bytes.Count - at); break;
                case EditKind.Duplicate when bytes.Count > 0: bytes.InsertRange(at, bytes.GetRange(at, Math.Min(e.Length, bytes.Count - at))); break;
                case EditKind.SetField when fields.Count > 0:
                    var f = fields[e.Position % fields.Count];
                    if (f.Offset + f.Width > bytes.Count) break;
                    if (f.BigEndian) BinaryPrimitives.WriteUInt64BigEndian(value, e.Value);
                    else BinaryPrimitives.WriteUInt64LittleEndian(value, e.Value);
                    var slice = f.BigEndian ? value[(8 - f.Width)..] : value[..f.Width];
                    for (int i = 0; i < f.Width; i++) bytes[f.Offset + i] = slice[i];
                    break;
                case EditKind.SetNumber:
                    var numbers = DigitRuns(bytes, textStart, Math.Min(textEnd, bytes.Count));
                    if (numbers.Count == 0) break;
                    var (start, length) = numbers[e.Position % numbers.Count];
                    bytes.RemoveRange(start, length);
                    bytes.InsertRange(start, Encoding.ASCII.GetBytes(e.Text));
                    break;
            }
        }
        return bytes.ToArray();
    }

    /// <summary>The runs of ASCII digits in <paramref name="bytes"/>[<paramref name="start"/>..<paramref name="end"/>].</summary>
    private static List<(int Start, int Length)> DigitRuns(List<byte> bytes, int start, int end)
    {
        var runs = new List<(int, int)>();
        for (int i = start; i < end; i++)
        {
            if (!char.IsAsciiDigit((char)bytes[i])) continue;
            int first = i;
            while (i < end && char.IsAsciiDigit((char)bytes[i])) i++;
            runs.Add((first, i - first));
        }
        return runs;
    }

    /// <summary>
    /// The oracle of every fuzz property: <paramref name="read"/> either returns a value or throws exactly
    /// <see cref="InvalidDataException"/> (no subclass, no other type) whose message starts by naming the
    /// file as <c>{kind} '{name}'</c>. Returns the value, or null when refused.
    /// </summary>
    public static T? ReadOrRefuse<T>(Func<T> read, string prefix, string input) where T : class
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e.GetType() == typeof(InvalidDataException))
        {
            if (!e.Message.StartsWith(prefix, StringComparison.Ordinal))
                throw new Xunit.Sdk.XunitException($"refusal of {input} does not start with \"{prefix}\": {e.Message}");
            return null;
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{input} threw {e.GetType().FullName} (only InvalidDataException is documented): {e.Message}\n{e.StackTrace}");
        }
    }

    /// <summary>
    /// Runs <paramref name="property"/> (a whole CsCheck sample) on its own thread and fails if it has
    /// not finished within <see cref="HangLimit"/>. This is a hang detector, not a speed requirement.
    /// </summary>
    public static void WithinHangLimit(Action property)
    {
        var watch = Stopwatch.StartNew();
        var task = Task.Factory.StartNew(property, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(HangLimit))
            Assert.Fail($"the property did not finish within {HangLimit.TotalSeconds} s: a parse hangs.");
        task.GetAwaiter().GetResult(); // rethrows the property's own failure (with CsCheck's seed) unwrapped
        Assert.True(watch.Elapsed < HangLimit, $"the property took {watch.Elapsed}.");
    }

    /// <summary>
    /// Iterations for a property: <paramref name="standard"/> (sized so that all parser properties
    /// together take a few seconds), times the integer in the environment variable
    /// <c>LRU_FUZZ_SCALE</c> for a longer local fuzzing campaign.
    /// </summary>
    public static long Iterations(long standard) => standard * Scale;

    /// <summary>Bytes allocated on this thread by <paramref name="action"/> (nothing else runs on the thread meanwhile).</summary>
    public static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>
    /// How an input is named in a failure message: its size, its mutations and its first bytes (CsCheck
    /// prints the whole input besides). Built for every case, so kept short.
    /// </summary>
    public static string Describe(byte[] bytes, IEnumerable<Edit>? edits = null) =>
        $"{bytes.Length} bytes" +
        (edits is null ? "" : $" after [{string.Join(", ", edits)}]") +
        $": {Convert.ToHexString(bytes, 0, Math.Min(bytes.Length, 128))}{(bytes.Length > 128 ? "..." : "")}";

    /// <summary>The first 2,000 characters of <paramref name="text"/>, for printing a failing input.</summary>
    public static string Clip(string text) => text.Length <= 2000 ? text : text[..2000] + $"... ({text.Length} characters)";

    /// <summary>
    /// Strings of code points from every interesting class: ASCII letters, quotes, backslashes and
    /// control characters (escaped in JSON), Latin-1, CJK and astral characters (surrogate pairs in
    /// UTF-16); never lone surrogates, which UTF-8 cannot encode.
    /// </summary>
    public static Gen<string> Text(int minLength, int maxLength) =>
        Gen.Frequency(
            (6, Gen.Int['a', 'z']),
            (2, Gen.Int[0, 0x7F]),
            (1, Gen.OneOf(Gen.Const((int)'"'), Gen.Const((int)'\\'), Gen.Const((int)'/'), Gen.Const(0x7F))),
            (1, Gen.Int[0x80, 0xFF]),
            (1, Gen.Int[0x4E00, 0x9FFF]),
            (1, Gen.Int[0x10000, 0x10FFFF]))
        .Array[minLength, maxLength]
        .Select(cps => string.Concat(cps.Select(char.ConvertFromUtf32)));

    /// <summary>
    /// Floats of every class, bit patterns included: uniform bits (NaNs with payloads, subnormals,
    /// infinities, both zeros) and ordinary values.
    /// </summary>
    public static readonly Gen<float> AnyFloat = Gen.Frequency((1, Gen.UInt.Select(BitConverter.UInt32BitsToSingle)), (1, Gen.Float), (1, Gen.Float.Special));

    /// <summary>Doubles of every class, as <see cref="AnyFloat"/>.</summary>
    public static readonly Gen<double> AnyDouble = Gen.Frequency((1, Gen.ULong.Select(BitConverter.UInt64BitsToDouble)), (1, Gen.Double), (1, Gen.Double.Special));

    /// <summary>A shape of rank <paramref name="minRank"/> to <paramref name="maxRank"/>, lengths 0 to 4 (zero lengths are common).</summary>
    public static Gen<int[]> Shape(int minRank, int maxRank) =>
        Gen.Frequency((1, Gen.Const(0)), (4, Gen.Int[1, 4])).Array[minRank, maxRank];

    /// <summary>The number of elements of <paramref name="shape"/>.</summary>
    public static int Count(IReadOnlyList<int> shape) => shape.Aggregate(1, (p, d) => p * d);
}
