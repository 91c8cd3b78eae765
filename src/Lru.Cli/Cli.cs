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
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException or NotSupportedException)
        {
            Console.Error.WriteLine($"lru: error: {e.Message}");
            return 2;
        }
    }
}
