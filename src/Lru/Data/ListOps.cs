using System.Text;
using Lru.Tensors;

namespace Lru.Data;

/// <summary>Generation settings of <see cref="ListOps"/>.</summary>
/// <param name="MaxDepth">The deepest nesting of operators, at least 1 (Long Range Arena: 10).</param>
/// <param name="MaxArgs">The most arguments of one operator, at least 2 (Long Range Arena: 10).</param>
/// <param name="MinLength">The fewest tokens of an expression, at least 1.</param>
/// <param name="MaxLength">The most tokens of an expression (sequences are padded to it), at least <paramref name="MinLength"/> (Long Range Arena: 2000).</param>
/// <param name="OperatorProbability">The chance that a node above the deepest level is an operator rather than a digit (Long Range Arena: 0.25).</param>
public sealed record ListOpsOptions(int MaxDepth = 10, int MaxArgs = 10, int MinLength = 20, int MaxLength = 256, double OperatorProbability = 0.25)
{
    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public void Validate()
    {
        if (MaxDepth < 1) throw new ArgumentOutOfRangeException(nameof(MaxDepth), MaxDepth, "MaxDepth must be at least 1.");
        if (MaxArgs < 2) throw new ArgumentOutOfRangeException(nameof(MaxArgs), MaxArgs, "MaxArgs must be at least 2.");
        if (MinLength < 1) throw new ArgumentOutOfRangeException(nameof(MinLength), MinLength, "MinLength must be at least 1.");
        if (MaxLength < MinLength) throw new ArgumentOutOfRangeException(nameof(MaxLength), MaxLength, $"MaxLength must be at least MinLength ({MinLength}).");
        if (!(OperatorProbability > 0 && OperatorProbability < 1)) throw new ArgumentOutOfRangeException(nameof(OperatorProbability), OperatorProbability, "OperatorProbability must be in (0, 1).");
    }
}

/// <summary>
/// Long Range Arena style ListOps: nested expressions over the digits 0–9 with the operators
/// <c>MAX</c>, <c>MIN</c>, <c>MED</c> (median, rounded down for an even count) and <c>SM</c> (sum modulo 10),
/// such as <c>[MAX 2 9 [MIN 4 7 ] 0 ]</c> = 9. The label is the value, one of 10 classes.
/// </summary>
/// <remarks>
/// Tokens: 0 padding, 1–10 the digits 0–9, 11 <c>[MAX</c>, 12 <c>[MIN</c>, 13 <c>[MED</c>, 14 <c>[SM</c>, 15 <c>]</c>.
/// </remarks>
public static class ListOps
{
    /// <summary>The padding token.</summary>
    public const int Pad = 0;

    /// <summary>The number of token ids.</summary>
    public const int Vocabulary = 16;

    /// <summary>The number of classes (the values 0–9).</summary>
    public const int Classes = 10;

    private const int DigitBase = 1, Max = 11, Min = 12, Median = 13, SumMod = 14, Close = 15;
    private static readonly string[] Names = ["[MAX", "[MIN", "[MED", "[SM"];

    /// <summary>Generates <paramref name="count"/> expressions, padded to <see cref="ListOpsOptions.MaxLength"/>.</summary>
    /// <param name="count">The number of sequences, at least 1.</param>
    /// <param name="seed">The seed; the same seed gives the same data.</param>
    /// <param name="options">Settings, or null for the defaults.</param>
    /// <returns>Tokens (count, MaxLength), valid lengths (count) and labels (count).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> or a setting is out of range.</exception>
    public static SequenceDataset<float> Generate(int count, long seed, ListOpsOptions? options = null)
    {
        options ??= new ListOpsOptions();
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var random = new SeededRandom(seed);
        int width = options.MaxLength;
        int[] tokens = new int[count * width], labels = new int[count], lengths = new int[count];
        var expression = new List<int>(width);
        for (int i = 0; i < count; i++)
        {
            do
            {
                expression.Clear();
            }
            while (!TryGenerate(random, options, 1, expression) || expression.Count < options.MinLength);
            expression.CopyTo(tokens, i * width);
            lengths[i] = expression.Count;
            labels[i] = Evaluate(tokens.AsSpan(i * width, expression.Count));
        }
        return new SequenceDataset<float>(count, width, 0, null, tokens, labels, null, lengths: lengths);
    }

    /// <summary>Appends one random expression; false when it would exceed the maximum length.</summary>
    private static bool TryGenerate(SeededRandom random, ListOpsOptions options, int depth, List<int> output)
    {
        if (output.Count >= options.MaxLength) return false;
        bool isOperator = depth == 1 || (depth <= options.MaxDepth && random.NextOpenUnit() < options.OperatorProbability);
        if (!isOperator)
        {
            output.Add(DigitBase + random.NextInt(10));
            return true;
        }
        output.Add(Max + random.NextInt(4));
        int args = 2 + random.NextInt(options.MaxArgs - 1);
        for (int a = 0; a < args; a++)
            if (!TryGenerate(random, options, depth + 1, output)) return false;
        if (output.Count >= options.MaxLength) return false;
        output.Add(Close);
        return true;
    }

    /// <summary>Computes the value of a tokenised expression.</summary>
    /// <param name="tokens">One complete expression (no padding).</param>
    /// <returns>The value, 0–9.</returns>
    /// <exception cref="FormatException">The tokens are not one well-formed expression (the message gives the position).</exception>
    public static int Evaluate(ReadOnlySpan<int> tokens)
    {
        var operators = new Stack<(int Op, List<int> Args)>();
        int? result = null;
        for (int i = 0; i < tokens.Length; i++)
        {
            int token = tokens[i];
            if (result is not null) throw new FormatException($"Token {i} follows a complete expression.");
            if (token >= DigitBase && token < DigitBase + 10)
            {
                int digit = token - DigitBase;
                if (operators.Count == 0) result = digit; else operators.Peek().Args.Add(digit);
            }
            else if (token is >= Max and <= SumMod)
            {
                operators.Push((token, new List<int>()));
            }
            else if (token == Close)
            {
                if (operators.Count == 0) throw new FormatException($"Token {i} closes a bracket that was never opened.");
                var (op, args) = operators.Pop();
                if (args.Count == 0) throw new FormatException($"Token {i} closes an operator without arguments.");
                int value = Apply(op, args);
                if (operators.Count == 0) result = value; else operators.Peek().Args.Add(value);
            }
            else
            {
                throw new FormatException($"Token {i} is {token}, not a ListOps token (1–15).");
            }
        }
        if (operators.Count > 0) throw new FormatException($"{operators.Count} bracket(s) are not closed.");
        return result ?? throw new FormatException("The expression is empty.");
    }

    /// <summary>Tokenises text such as <c>[MAX 2 9 [MIN 4 7 ] 0 ]</c> (tokens separated by spaces).</summary>
    /// <param name="text">The expression.</param>
    /// <returns>The token ids.</returns>
    /// <exception cref="FormatException">A word is not a ListOps token.</exception>
    public static int[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<int>();
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int op = Array.IndexOf(Names, word);
            if (op >= 0) tokens.Add(Max + op);
            else if (word == "]") tokens.Add(Close);
            else if (word.Length == 1 && char.IsAsciiDigit(word[0])) tokens.Add(DigitBase + word[0] - '0');
            else throw new FormatException($"'{word}' is not a ListOps token.");
        }
        return [.. tokens];
    }

    /// <summary>The text of tokenised expression (padding skipped).</summary>
    /// <param name="tokens">Token ids.</param>
    /// <returns>Words separated by spaces.</returns>
    public static string ToText(ReadOnlySpan<int> tokens)
    {
        var text = new StringBuilder();
        foreach (int token in tokens)
        {
            if (token == Pad) continue;
            if (text.Length > 0) text.Append(' ');
            text.Append(token switch
            {
                >= DigitBase and < DigitBase + 10 => ((char)('0' + token - DigitBase)).ToString(),
                >= Max and <= SumMod => Names[token - Max],
                Close => "]",
                _ => "?",
            });
        }
        return text.ToString();
    }

    private static int Apply(int op, List<int> args)
    {
        switch (op)
        {
            case Max: return args.Max();
            case Min: return args.Min();
            case SumMod: return args.Sum() % 10;
            default:
                args.Sort();
                int mid = args.Count / 2;
                return args.Count % 2 == 1 ? args[mid] : (args[mid - 1] + args[mid]) / 2;
        }
    }
}
