using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Lru.Checkpoints;
using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Training;

namespace Lru.Cli;

/// <summary>
/// <c>lru checkpoint-soak</c>, a hidden diagnostic for crash-safety tests: saves a model's checkpoint to one path
/// over and over until it is killed (or <c>--count</c> saves are done). Before save K every parameter value is set
/// to K and the metadata entry <see cref="SaveKey"/> to K, so a reader can tell that the file holds one whole save;
/// the tool prints <c>saving K</c> before and <c>saved K</c> after each save. With <c>--pause-in-save K</c> it stops
/// inside save K, once <c>--pause-after-bytes</c> bytes are in the temporary file and before the rename, prints
/// <c>paused in save K: NAME holds N bytes</c> (NAME the temporary file's name) and waits <see cref="PauseSeconds"/>
/// seconds before finishing the save, so that a crash test can kill it exactly there.
/// </summary>
internal static class CheckpointSoakCommand
{
    /// <summary>The metadata key holding the number of the save.</summary>
    public const string SaveKey = "lru.soak_save";

    /// <summary>How long <c>--pause-in-save</c> waits before the save goes on.</summary>
    public const int PauseSeconds = 60;

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The file to save to, again and again.", Required = true };
        var layers = new Option<int>("--layers") { Description = "Blocks K.", DefaultValueFactory = _ => 4 };
        var hidden = new Option<int>("--hidden") { Description = "Model width H.", DefaultValueFactory = _ => 256 };
        var state = new Option<int>("--state") { Description = "LRU state size N.", DefaultValueFactory = _ => 256 };
        var first = new Option<int>("--first") { Description = "The number of the first save (at least 1, below 2^24 with --count).", DefaultValueFactory = _ => 1 };
        var count = new Option<int>("--count") { Description = "Saves to make; 0 saves until the process is killed.", DefaultValueFactory = _ => 0 };
        var pauseIn = new Option<int>("--pause-in-save") { Description = $"Pause inside this save (0: never) for {PauseSeconds} s, with part of the temporary file written, before the rename.", DefaultValueFactory = _ => 0 };
        var pauseAfter = new Option<long>("--pause-after-bytes") { Description = "With --pause-in-save: bytes in the temporary file when the pause starts.", DefaultValueFactory = _ => 1 };
        var command = new Command("checkpoint-soak", "Diagnostic: save a model's checkpoint to one path repeatedly, for crash-safety tests.")
        {
            checkpoint, layers, hidden, state, first, count, pauseIn, pauseAfter,
        };
        command.Hidden = true;
        command.SetAction(r => Cli.Run(() =>
        {
            int from = r.GetValue(first), saves = r.GetValue(count);
            if (from < 1) throw new ArgumentOutOfRangeException("--first", from, $"--first must be at least 1; got {from}.");
            if (saves < 0) throw new ArgumentOutOfRangeException("--count", saves, $"--count must be at least 0; got {saves}.");
            int pauseSave = r.GetValue(pauseIn);
            long pauseBytes = r.GetValue(pauseAfter);
            if (pauseSave < 0) throw new ArgumentOutOfRangeException("--pause-in-save", pauseSave, $"--pause-in-save must be at least 0; got {pauseSave}.");
            if (pauseBytes < 1) throw new ArgumentOutOfRangeException("--pause-after-bytes", pauseBytes, $"--pause-after-bytes must be at least 1; got {pauseBytes}.");
            var config = new SequenceModelConfig(8, 0, 7, r.GetValue(layers), new LruBlockConfig(new LruConfig(r.GetValue(hidden), r.GetValue(state))), PoolingMode.None);
            config.Validate();
            var model = new SequenceModel<float>(config);
            var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings());
            string path = r.GetValue(checkpoint)!;
            var clock = new Stopwatch();
            for (int k = from; saves == 0 || k < from + saves; k++)
            {
                // Exact in float below 2^24; beyond that consecutive saves may share values, which a reader still sees as one save.
                foreach (var (_, parameter) in model.NamedParameters())
                {
                    var values = new float[parameter.Length];
                    Array.Fill(values, (float)k);
                    parameter.Assign(values);
                }
                string number = k.ToString(CultureInfo.InvariantCulture);
                Console.WriteLine($"saving {number}");
                if (k == pauseSave)
                {
                    AtomicFile.PauseNextWrite(pauseBytes, (temp, written) =>
                    {
                        Console.WriteLine($"paused in save {number}: {Path.GetFileName(temp)} holds {written.ToString(CultureInfo.InvariantCulture)} bytes");
                        Console.Out.Flush();
                        Thread.Sleep(TimeSpan.FromSeconds(PauseSeconds));
                    });
                }
                clock.Restart();
                ModelCheckpoint.Save(path, model, optimizer, new Dictionary<string, string> { [SaveKey] = number });
                Console.WriteLine($"saved {number} in {clock.Elapsed.TotalMilliseconds:F1} ms");
                if (k == int.MaxValue) break;
            }
            return 0;
        }));
        return command;
    }
}
