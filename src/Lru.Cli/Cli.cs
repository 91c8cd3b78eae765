using System.CommandLine;
using Lru.Tensors;

namespace Lru.Cli;

/// <summary>Turns the library's argument, state, file and data exceptions into one clear line on stderr and a non-zero exit code.</summary>
internal static class Cli
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException
            or UnauthorizedAccessException or NotSupportedException or FormatException or OverflowException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"lru: error: {OneLine(e)}");
            return 2;
        }
    }

    /// <summary>
    /// The message on one line: without the " (Parameter 'x')" suffix of argument exceptions (every message names
    /// what it is about), with an out-of-range exception's actual value appended when the text does not give it.
    /// </summary>
    internal static string OneLine(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } name })
        {
            string suffix = $" (Parameter '{name}')";
            int at = message.IndexOf(suffix, StringComparison.Ordinal);
            if (at >= 0) message = message.Remove(at, suffix.Length);
            if (e is ArgumentOutOfRangeException { ActualValue: { } actual })
            {
                int line = message.IndexOf('\n');
                if (line >= 0) message = message[..line]; // the runtime's "Actual value was …" line
                string value = Convert.ToString(actual, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                if (!message.Contains(value, StringComparison.Ordinal)) message = $"{message.TrimEnd()} (got {value})";
            }
        }
        return string.Join(" ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>The <c>--threads</c> (<c>-t</c>) option every command that runs kernels has: default the processor count.</summary>
    public static Option<int> ThreadsOption(string description = "Threads for the kernels.") =>
        new("--threads", "-t") { Description = description, DefaultValueFactory = _ => Environment.ProcessorCount };

    /// <summary>Sets the kernels' thread count from <paramref name="option"/>, refusing a count below 1.</summary>
    /// <returns>The count.</returns>
    public static int UseThreads(ParseResult result, Option<int> option)
    {
        int threads = result.GetValue(option);
        if (threads < 1) throw new ArgumentOutOfRangeException("--threads", threads, $"--threads must be at least 1; got {threads}.");
        Parallelism.MaxThreads = threads;
        return threads;
    }

    /// <summary>Refuses an output path whose directory does not exist or that is a directory, before any work is done.</summary>
    /// <param name="path">The file to be written.</param>
    /// <param name="option">The option that gave it, for the message.</param>
    public static void CheckWritable(string path, string option)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new ArgumentException($"{option} {path} is a directory; a file path is needed.");
        string? directory = Path.GetDirectoryName(full);
        if (directory is null || !Directory.Exists(directory))
            throw new DirectoryNotFoundException($"{option} {path}: the directory {directory} does not exist.");
    }
}
