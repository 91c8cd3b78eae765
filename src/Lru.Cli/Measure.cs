using System.Diagnostics;

namespace Lru.Cli;

/// <summary>Wall-clock timing for the bench command: warm up, then the best of repeated runs.</summary>
internal static class Measure
{
    /// <summary>Runs <paramref name="action"/> once to warm up, then repeatedly for at least <paramref name="seconds"/> (and at least <paramref name="minRuns"/> times); returns the fastest run in seconds.</summary>
    public static double BestSeconds(Action action, double seconds, int minRuns = 3)
    {
        action();
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        for (int run = 0; run < minRuns || total.Elapsed.TotalSeconds < seconds; run++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }
}
