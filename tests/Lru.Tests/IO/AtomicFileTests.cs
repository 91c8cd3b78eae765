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

    /// <summary>
    /// The crash-test hook pauses once, inside the next write on this thread: the temporary file already holds the bytes
    /// written so far, the target is still the old file; when the pause returns the write completes as usual. A content
    /// shorter than the threshold pauses after its last byte; the hook does not carry over to later writes.
    /// </summary>
    [Theory]
    [InlineData(1L, 3L)]     // pauses after the first write, of 3 bytes
    [InlineData(4L, 6L)]     // after the second
    [InlineData(7L, 7L)]     // after the single byte
    [InlineData(8L, 10L)]    // after the last write
    [InlineData(1000L, 10L)] // the content is shorter: after the last byte, still before the rename
    public void PauseNextWrite_PausesOnceInsideTheWrite_WithThePartWrittenInTheTemporaryFile(long afterBytes, long expectedHeld)
    {
        using var dir = new TempDirectory();
        string path = dir.File("m.bin");
        File.WriteAllBytes(path, [9]);
        // The writer holds the temporary file exclusively (FileShare.None), so its size is what can be seen of it.
        var pauses = new List<(string Temp, long Held, long TempLength, byte[] InTarget)>();
        AtomicFile.PauseNextWrite(afterBytes, (temp, held) => pauses.Add((temp, held, new FileInfo(temp).Length, File.ReadAllBytes(path))));

        AtomicFile.Write(path, s =>
        {
            s.Write([1, 2, 3]);
            s.Write([4, 5, 6]);
            s.WriteByte(7);
            s.Write([8, 9, 10], 0, 3);
        });

        var pause = Assert.Single(pauses);
        Assert.Equal(Environment.ProcessId, AtomicFile.TempOwner(Path.GetFileName(pause.Temp), "m.bin"));
        Assert.Equal(dir.Path, Path.GetDirectoryName(pause.Temp));
        Assert.Equal(expectedHeld, pause.Held);
        Assert.Equal(expectedHeld, pause.TempLength);
        Assert.Equal([9], pause.InTarget);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (byte)i), File.ReadAllBytes(path));
        Assert.Equal(["m.bin"], dir.Names());

        AtomicFile.Write(path, s => s.Write([5]));
        Assert.Single(pauses);
        Assert.Equal([5], File.ReadAllBytes(path));
    }

    [Fact]
    public void PauseNextWrite_AppliesToTheCallingThreadOnly_AndAFailedWriteStillDeletesItsFile()
    {
        using var dir = new TempDirectory();
        int pauses = 0;
        AtomicFile.PauseNextWrite(1, (_, _) => pauses++);
        var other = new Thread(() => AtomicFile.Write(dir.File("other.bin"), s => s.Write([1, 2])));
        other.Start();
        other.Join();
        Assert.Equal(0, pauses);

        var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(dir.File("m.bin"), s =>
        {
            s.Write([1]);
            throw new InvalidOperationException("fails after the pause");
        }));
        Assert.Equal(1, pauses);
        Assert.Equal(["other.bin"], dir.Names());
        Assert.Throws<ArgumentOutOfRangeException>(() => AtomicFile.PauseNextWrite(0, (_, _) => { }));
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
