using System.Diagnostics;
using Lru.IO;

namespace Lru.Tests.IO;

public class AtomicFileTests
{
    [Fact]
    public void TempNames_CarryTheWritersProcessId_AndParseBack()
    {
        string temp = AtomicFile.TempName("model.safetensors", 4321);
        Assert.StartsWith(".model.safetensors.4321.", temp, StringComparison.Ordinal);
        Assert.Equal(4321, AtomicFile.TempOwner(temp, "model.safetensors"));

        Assert.Null(AtomicFile.TempOwner(temp, "model"));                  // another target's temporary file
        Assert.Null(AtomicFile.TempOwner(temp, "other.safetensors"));
        Assert.Null(AtomicFile.TempOwner(".model.safetensors.tmp", "model.safetensors"));
        Assert.Null(AtomicFile.TempOwner(".model.safetensors.12.nothex.tmp", "model.safetensors"));
        Assert.Null(AtomicFile.TempOwner($".model.safetensors.{Guid.NewGuid():N}.tmp", "model.safetensors")); // no process id
        Assert.Null(AtomicFile.TempOwner($".model.safetensors.-5.{Guid.NewGuid():N}.tmp", "model.safetensors"));
        Assert.Null(AtomicFile.TempOwner("model.safetensors", "model.safetensors"));
    }

    [Fact]
    public void Write_DeletesTheTemporaryFilesOfDeadWriters_AndNothingElse()
    {
        using var dir = new TempDirectory();
        string path = dir.File("m.bin");
        int dead = DeadProcessId();
        string orphan = AtomicFile.TempName("m.bin", dead);
        string ours = AtomicFile.TempName("m.bin", Environment.ProcessId);       // another thread of this process may be writing it
        string otherTarget = AtomicFile.TempName("n.bin", dead);                 // belongs to another file
        string unrelated = ".m.bin.notes.tmp";
        foreach (string name in new[] { orphan, ours, otherTarget, unrelated }) File.WriteAllBytes(dir.File(name), [1]);

        AtomicFile.Write(path, s => s.Write([7, 8]));

        Assert.Equal([7, 8], File.ReadAllBytes(path));
        Assert.Equal(new[] { ours, otherTarget, unrelated, "m.bin" }.Order(StringComparer.Ordinal), dir.Names());
    }

    /// <summary>The id of a process that has exited (and been reaped).</summary>
    private static int DeadProcessId()
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.Id;
    }
}
