using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Lru.Tests.Samples;

/// <summary>
/// Packs the library as a NuGet package and builds and runs samples/CustomModule against it (not against the project):
/// a module of the user's own between two LRU blocks, trained on the copy task from <c>Tensor&lt;float&gt;</c> batches.
/// Everything happens in a temporary folder (copies of the sources, a package version of its own, a packages folder of its
/// own that falls back on the machine's NuGet cache), so the repository's build output is not touched.
/// </summary>
public class PackageTests(ITestOutputHelper log)
{
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LRU.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No LRU.sln above {AppContext.BaseDirectory}.");
    }

    private static void CopySources(string from, string to)
    {
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file);
            string first = relative.Split(Path.DirectorySeparatorChar)[0];
            if (first is "bin" or "obj") continue;
            string target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private (int Code, string Output) Dotnet(string arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {arguments} did not finish in 8 minutes:\n{output}");
        }
        process.WaitForExit();
        log.WriteLine($"$ dotnet {arguments}\n{output}");
        return (process.ExitCode, output.ToString());
    }

    [Fact]
    public void ThePackedPackage_BuildsAndTrainsTheCustomModuleSample()
    {
        string root = RepositoryRoot(), work = Directory.CreateTempSubdirectory("lru-package-").FullName;
        try
        {
            CopySources(Path.Combine(root, "src", "Lru"), Path.Combine(work, "src", "Lru"));
            File.Copy(Path.Combine(root, "Directory.Build.props"), Path.Combine(work, "Directory.Build.props"));
            CopySources(Path.Combine(root, "samples", "CustomModule"), Path.Combine(work, "sample"));
            string version = "0.0.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
            string packages = Path.Combine(work, "packages"), feed = Path.Combine(work, "feed");
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

            var (packed, packOutput) = Dotnet($"pack src/Lru/Lru.csproj -c Release -o \"{feed}\" -p:Version={version}", work);
            Assert.True(packed == 0, packOutput);
            Assert.True(File.Exists(Path.Combine(feed, $"Lru.{version}.nupkg")), $"no Lru.{version}.nupkg in {feed}");

            // The sample restores Lru from the new package only; its dependencies from the machine's cache when they are there.
            string sources = Directory.Exists(cache) ? $"{feed}%3B{cache}" : feed; // %3B: a semicolon inside an MSBuild property
            var (ran, runOutput) = Dotnet(
                $"run -c Release -p:LruVersion={version} \"-p:RestoreAdditionalProjectSources={sources}\" \"-p:RestorePackagesPath={packages}\"",
                Path.Combine(work, "sample"));
            Assert.True(ran == 0, runOutput);
            Assert.Contains("test bit accuracy", runOutput);
            Assert.True(Directory.Exists(Path.Combine(packages, "lru", version)), "the sample did not restore the packed package");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
