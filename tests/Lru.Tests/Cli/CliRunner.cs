using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Lru.Tests.Cli;

/// <summary>Runs the built <c>lru</c> tool (Lru.Cli.dll next to the tests) as a child process.</summary>
internal static class CliRunner
{
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "Lru.Cli.dll");

    public static (int ExitCode, string Output, string Error) Run(string arguments, int timeoutSeconds = 120) =>
        Run(arguments, null, timeoutSeconds);

    /// <summary>Runs the tool; <paramref name="onLine"/> sees every stdout line as it arrives (with the process).</summary>
    public static (int ExitCode, string Output, string Error) Run(string arguments, Action<Process, string>? onLine, int timeoutSeconds = 120)
    {
        var info = new ProcessStartInfo("dotnet", $"\"{DllPath}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = new Process { StartInfo = info };
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            onLine?.Invoke(process, e.Data);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"lru {arguments} did not finish in {timeoutSeconds} s");
        }
        process.WaitForExit();
        return (process.ExitCode, output.ToString(), error.ToString());
    }

    /// <summary>Starts the tool and collects its stdout lines into <paramref name="lines"/> (lock it to read); the caller waits for or kills the process.</summary>
    public static Process Start(string arguments, List<string> lines)
    {
        var info = new ProcessStartInfo("dotnet", $"\"{DllPath}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add("stderr: " + e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The JSON object on the last line of the output.</summary>
    public static JsonElement LastJson(string output)
    {
        string last = output.TrimEnd().Split('\n')[^1];
        return JsonDocument.Parse(last).RootElement;
    }

    /// <summary>Sends SIGINT (Ctrl+C) to a process.</summary>
    public static void Interrupt(Process process)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-INT {process.Id}") { UseShellExecute = false })!;
        kill.WaitForExit();
    }
}
