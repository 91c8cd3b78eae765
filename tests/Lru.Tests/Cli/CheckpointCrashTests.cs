using System.Diagnostics;
using System.Globalization;
using Lru.IO;
using Xunit.Abstractions;

namespace Lru.Tests.Cli;

/// <summary>Processes killed with SIGKILL (kill -9) while saving checkpoints lose nothing that was saved.</summary>
public class CheckpointCrashTests(ITestOutputHelper log) : IDisposable
{
    /// <summary>The metadata key in which <c>lru checkpoint-soak</c> numbers its saves.</summary>
    private const string SaveKey = "lru.soak_save";

    private readonly string _dir = Directory.CreateTempSubdirectory("lru-crash-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void KillMinus9_AtRandomMoments_NeverCorruptsTheCheckpoint_AndOrphansAreCleanedUp()
    {
        // A 1.6 M-parameter model: a save (19 MB with the optimiser state, SHA-256, fsync, rename, directory fsync)
        // takes tens of milliseconds and the tool does nothing else, so most random moments fall inside a save.
        string path = Path.Combine(_dir, "soak.safetensors");
        var random = new Random(20260407);
        // At least 8 kills, and more (up to 16) until two have landed while the temporary file was being written.
        const int MinKills = 8, MaxKills = 16, WantWhileWriting = 2;
        int kills = 0, insideSave = 0, whileTempExisted = 0, beforeFirstSave = 0, previous = 0;
        var mayRemain = new HashSet<int>(); // writers whose temporary file may still exist: no later process has saved since
        var clock = Stopwatch.StartNew();
        for (int cycle = 0; cycle < MaxKills && (cycle < MinKills || whileTempExisted < WantWhileWriting); cycle++)
        {
            kills++;
            var lines = new List<string>();
            using var process = CliRunner.Start($"checkpoint-soak --checkpoint {path} --first {1 + 1000 * cycle}", lines);
            // Three kinds of random moment: any time after the process's first save; inside a save (a random fraction of
            // the last save's duration after a "saving" line); any time from the start, which may fall before the process
            // has saved anything (the previous process's file must then survive).
            string mode = (cycle % 5) switch { 0 => "any time", 2 when previous > 0 => "from start", _ => "in a save" };
            if (mode == "from start")
            {
                Thread.Sleep(random.Next(100, 500));
            }
            else
            {
                WaitFor(process, lines, "saved ", 1);
                if (mode == "any time")
                {
                    Thread.Sleep(random.Next(0, 250));
                }
                else
                {
                    WaitFor(process, lines, "saved ", 2); // the first save includes compiling the code: time the second
                    double saveMs = LastSaveMilliseconds(lines);
                    WaitFor(process, lines, "saved ", 3); // the next save begins now
                    Thread.Sleep(TimeSpan.FromMilliseconds(saveMs * (0.4 + 0.6 * random.NextDouble()))); // the file is written in the second half
                }
            }
            process.Kill(); // SIGKILL on Unix: no handler, no finally block runs
            process.WaitForExit();

            int? saving = Last(lines, "saving "), saved = Last(lines, "saved ");
            var owners = Directory.GetFiles(_dir).Select(f => AtomicFile.TempOwner(Path.GetFileName(f), "soak.safetensors")).OfType<int>().ToArray();
            if (owners.Contains(process.Id)) whileTempExisted++;
            if (saving is not null && saving != saved) insideSave++;
            if (saved is null) beforeFirstSave++;
            if (saved is not null) mayRemain.Clear(); // its first save deleted the files of every earlier, dead writer
            mayRemain.Add(process.Id);
            Assert.True(owners.All(mayRemain.Contains), $"cycle {cycle}: temporary files of processes {string.Join(", ", owners)}; only {string.Join(", ", mayRemain)} may have one");
            Assert.True(owners.Count(o => o == process.Id) <= 1);

            // The file is one whole save (size and SHA-256 verified by Load, and every value is that save's number):
            // the last one this process finished, or the one it was in when killed if the rename had happened,
            // or, if it finished none, the previous process's.
            var loaded = ModelCheckpoint.Load(path);
            int k = int.Parse(loaded.Metadata[SaveKey], CultureInfo.InvariantCulture);
            foreach (var (name, parameter) in loaded.Model.NamedParameters())
                Assert.True(Array.TrueForAll(parameter.Values, v => v == k), $"cycle {cycle}: {name} mixes values of different saves (file says save {k})");
            Assert.True(k == (saved ?? previous) || k == saving,
                $"cycle {cycle}: the file holds save {k}; the process printed saving {saving}, saved {saved}; the previous file held {previous}");
            log.WriteLine($"cycle {cycle}: killed {mode}, last saving {saving}, saved {saved}, file {k}, temporary files {owners.Length}{(owners.Contains(process.Id) ? " (killed while writing it)" : "")}; {clock.Elapsed.TotalSeconds:F1} s");
            previous = k;
        }
        log.WriteLine($"{kills} kills: {insideSave} inside ModelCheckpoint.Save, {whileTempExisted} of them while the temporary file existed; {beforeFirstSave} before the process's first save finished");
        Assert.True(whileTempExisted >= 1, $"none of the {kills} kills landed while a temporary file was being written, so the test proved nothing about them");

        // One save that finishes removes the last orphan: nothing accumulates.
        var (code, _, error) = CliRunner.Run($"checkpoint-soak --checkpoint {path} --first 999999 --count 1");
        Assert.True(code == 0, error);
        Assert.Equal(["soak.safetensors"], Directory.GetFiles(_dir).Select(Path.GetFileName));
        Assert.Equal("999999", ModelCheckpoint.Load(path).Metadata[SaveKey]);
    }

    /// <summary>
    /// kill -9 certainly inside the atomic write: <c>lru checkpoint-soak --pause-in-save K</c> finishes one save, then
    /// stops inside save K with part of the temporary file written (before the fsync and the rename) and says so on
    /// stdout; the test checks the files at that moment and kills the process exactly there. Three moments: after the
    /// first bytes, half-way, and after the last byte. Each time the checkpoint must still load whole (size and
    /// SHA-256 checked by Load, every value equal) as the save before, the killed writer's temporary file stays behind,
    /// and the next writer's first finished save deletes it.
    /// </summary>
    [Fact]
    public void KillMinus9_WhilePausedInsideTheWrite_KeepsThePreviousSave_AndTheOrphanIsCleanedUp()
    {
        string path = Path.Combine(_dir, "soak.safetensors");
        var (code, _, error) = CliRunner.Run($"checkpoint-soak --checkpoint {path} --first 1 --count 1");
        Assert.True(code == 0, error);
        long size = new FileInfo(path).Length; // 19 MB; later saves differ only in the digits of the save number
        Assert.Equal(1, SaveIn(path));
        var clock = Stopwatch.StartNew();

        int previous = 1;
        foreach (var (after, moment) in new[] { (1L, "after the first bytes"), (size / 2, "half-way"), (1L << 40, "after the last byte") })
        {
            int first = previous + 100; // saved whole by this process, which then pauses in save first + 1
            var lines = new List<string>();
            using var process = CliRunner.Start(
                $"checkpoint-soak --checkpoint {path} --first {first} --pause-in-save {first + 1} --pause-after-bytes {after}", lines);
            WaitFor(process, lines, "paused in save ", 1);
            string paused;
            lock (lines) paused = lines.Single(l => l.StartsWith("paused in save ", StringComparison.Ordinal));
            // "paused in save K: NAME holds N bytes"
            string[] words = paused.Split(' ');
            Assert.Equal($"{first + 1}:", words[3]);
            string temp = words[4];
            long held = long.Parse(words[6], CultureInfo.InvariantCulture);

            // At the pause: this process's temporary file holds what it said, part or all of the content; the target is
            // still the save before; the previous writer's orphan went with this process's first save.
            Assert.Equal(process.Id, AtomicFile.TempOwner(temp, "soak.safetensors"));
            Assert.Equal(held, new FileInfo(Path.Combine(_dir, temp)).Length);
            Assert.True(held >= Math.Min(after, size - 64) && held <= size + 64, $"{moment}: the temporary file holds {held} of about {size} bytes");
            Assert.Equal(new[] { temp, "soak.safetensors" }.Order(StringComparer.Ordinal), Directory.GetFiles(_dir).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));
            Assert.Equal(first, SaveIn(path));

            process.Kill(); // SIGKILL
            process.WaitForExit();
            lock (lines) Assert.DoesNotContain(lines, l => l.StartsWith($"saved {first + 1} ", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(_dir, temp)), $"{moment}: the killed writer's temporary file is gone");
            Assert.Equal(first, SaveIn(path));
            log.WriteLine($"killed in save {first + 1} {moment}, with {held} of about {size} bytes in {temp}; the file holds save {first}; {clock.Elapsed.TotalSeconds:F1} s");
            previous = first;
        }

        // One save that finishes removes the last orphan.
        (code, _, error) = CliRunner.Run($"checkpoint-soak --checkpoint {path} --first 999999 --count 1");
        Assert.True(code == 0, error);
        Assert.Equal(["soak.safetensors"], Directory.GetFiles(_dir).Select(Path.GetFileName));
        Assert.Equal(999999, SaveIn(path));
    }

    /// <summary>Loads the checkpoint (size and SHA-256 verified) and returns its save number, checking that every value is that number.</summary>
    private static int SaveIn(string path)
    {
        var loaded = ModelCheckpoint.Load(path);
        int k = int.Parse(loaded.Metadata[SaveKey], CultureInfo.InvariantCulture);
        foreach (var (name, parameter) in loaded.Model.NamedParameters())
            Assert.True(Array.TrueForAll(parameter.Values, v => v == k), $"{name} mixes values of different saves (file says save {k})");
        return k;
    }

    [Fact]
    public void KillMinus9_DuringTraining_ThenResume_EqualsAnUninterruptedRun()
    {
        // Epochs long enough (256 steps) that the run is still going when the test, on a loaded machine, reads "epoch 1 done".
        const string Run = "train --task copy --train-count 8192 --test-count 64 --hidden 16 --state 16 --batch 32 --epochs 3 --dropout 0.1 --threads 2";
        string whole = Path.Combine(_dir, "whole.safetensors"), split = Path.Combine(_dir, "split.safetensors");
        var (code, _, error) = CliRunner.Run($"{Run} --checkpoint {whole}");
        Assert.True(code == 0, error);

        // Killed at a random moment after the first epoch's checkpoint: in epoch 2, or while saving its checkpoint.
        var lines = new List<string>();
        using (var process = CliRunner.Start($"{Run} --checkpoint {split}", lines))
        {
            WaitFor(process, lines, "epoch 1 done", 1);
            double epochSeconds;
            lock (lines) epochSeconds = double.Parse(lines.Last(l => l.StartsWith("epoch 1 done", StringComparison.Ordinal)).Split('(')[^1].Split(' ')[0], CultureInfo.InvariantCulture);
            Thread.Sleep(TimeSpan.FromSeconds(epochSeconds * new Random(7).NextDouble()));
            process.Kill();
            process.WaitForExit();
        }
        var killed = ModelCheckpoint.Load(split);
        long step = (long)killed.OptimizerState.Single(s => s.Name == "step").Values[1];
        log.WriteLine($"killed with the checkpoint at optimiser step {step}; the output ended with: {lines[^1]}");
        Assert.Contains(step, new long[] { 256, 512, 768 }); // a whole epoch's checkpoint

        var (resumed, output, resumeError) = CliRunner.Run($"train --checkpoint {split} --resume --threads 1");
        Assert.True(resumed == 0, resumeError + output);
        var a = SafeTensorsFile.Read(whole);
        var b = SafeTensorsFile.Read(split);
        Assert.Equal(a.Tensors.Select(t => t.Name), b.Tensors.Select(t => t.Name));
        foreach (var t in a.Tensors)
            Assert.True(a.ReadFloat32(t.Name).AsSpan().SequenceEqual(b.ReadFloat32(t.Name)), $"tensor {t.Name} differs after kill -9 and resume");
    }

    [Fact]
    public void Eval_OfADamagedCheckpoint_SaysSoInOneLine()
    {
        string path = Path.Combine(_dir, "c.safetensors");
        Assert.Equal(0, CliRunner.Run($"checkpoint-soak --checkpoint {path} --layers 1 --hidden 8 --state 8 --count 1").ExitCode);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^5] ^= 0x10;
        File.WriteAllBytes(path, bytes);

        var (code, _, error) = CliRunner.Run($"eval --checkpoint {path}");
        Assert.NotEqual(0, code);
        Assert.Contains($"lru: error: {path}: the data section's SHA-256 is", error);
        Assert.DoesNotContain("   at ", error);
    }

    /// <summary>Waits until the process has printed <paramref name="count"/> lines starting with <paramref name="prefix"/>.</summary>
    private static void WaitFor(Process process, List<string> lines, string prefix, int count)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            lock (lines)
                if (lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal)) >= count) return;
            if (process.HasExited)
            {
                // Output arrives on another thread: drain it (WaitForExit() waits for the asynchronous readers) before judging.
                process.WaitForExit();
                lock (lines)
                    if (lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal)) >= count) return;
                Assert.Fail($"the tool exited with {process.ExitCode} before printing '{prefix}' {count} times");
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) Assert.Fail($"fewer than {count} '{prefix}' lines within 60 s");
            Thread.Sleep(1);
        }
    }

    /// <summary>The duration of the last finished save, from its "saved K in X ms" line.</summary>
    private static double LastSaveMilliseconds(List<string> lines)
    {
        lock (lines)
        {
            string line = lines.Last(l => l.StartsWith("saved ", StringComparison.Ordinal));
            return double.Parse(line.Split(' ')[3], CultureInfo.InvariantCulture);
        }
    }

    private static int? Last(List<string> lines, string prefix)
    {
        lock (lines)
        {
            for (int i = lines.Count - 1; i >= 0; i--)
                if (lines[i].StartsWith(prefix, StringComparison.Ordinal))
                    return int.Parse(lines[i].AsSpan(prefix.Length).TrimEnd().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
            return null;
        }
    }
}
