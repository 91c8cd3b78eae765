using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Lru.Checkpoints;
using Lru.Data;
using Lru.Layers;
using Lru.Models;
using Lru.Tasks;
using Lru.Tensors;
using Lru.Training;
using Spectre.Console;

namespace Lru.Cli;

/// <summary><c>lru train</c> and <c>lru eval</c>: train a built-in task with progress and checkpoints, or evaluate a checkpoint.</summary>
internal static class TrainCommand
{
    private sealed class Options
    {
        public readonly Option<string> Task = new("--task") { Description = "The task: " + string.Join(", ", BuiltInTasks.All.Select(t => t.Name)) + ".", DefaultValueFactory = _ => "copy" };
        public readonly Option<int?> Layers = new("--layers") { Description = "Blocks K." };
        public readonly Option<int?> Hidden = new("--hidden") { Description = "Model width H." };
        public readonly Option<int?> State = new("--state") { Description = "LRU state size N." };
        public readonly Option<double?> RMin = new("--r-min") { Description = "Ring initialisation: smallest |λ|." };
        public readonly Option<double?> RMax = new("--r-max") { Description = "Ring initialisation: largest |λ|." };
        public readonly Option<double?> MaxPhase = new("--max-phase") { Description = "Ring initialisation: largest arg λ (radians)." };
        public readonly Option<int?> Batch = new("--batch") { Description = "Sequences per step." };
        public readonly Option<int?> Epochs = new("--epochs") { Description = "Passes over the training data." };
        public readonly Option<double?> Lr = new("--lr") { Description = "Peak learning rate (AdamW, warm-up then cosine)." };
        public readonly Option<double?> SsmLr = new("--ssm-lr") { Description = "Peak learning rate of nu_log, theta_log, gamma_log, B_re, B_im." };
        public readonly Option<double?> WeightDecay = new("--weight-decay") { Description = "AdamW weight decay of the ordinary weights." };
        public readonly Option<double?> Dropout = new("--dropout") { Description = "Dropout rate in every block." };
        public readonly Option<string?> Norm = new("--norm") { Description = "layer or batch." };
        public readonly Option<double?> Clip = new("--clip") { Description = "Global gradient-norm clipping (0: off)." };
        public readonly Option<long?> Seed = new("--seed") { Description = "Seed of data, initialisation, dropout and shuffling." };
        public readonly Option<int?> TrainCount = new("--train-count") { Description = "Training sequences (generated tasks; fashion-mnist: first N images, 0 = all)." };
        public readonly Option<int?> TestCount = new("--test-count") { Description = "Test sequences (generated tasks; fashion-mnist: first N images, 0 = all)." };
        public readonly Option<int?> Length = new("--length") { Description = "Sequence length (adding) or longest expression (listops)." };
        public readonly Option<int> Threads = new("--threads", "-t") { Description = "Threads for the kernels.", DefaultValueFactory = _ => Environment.ProcessorCount };
        public readonly Option<string?> Data = new("--data") { Description = "Folder with the data files (fashion-mnist)." };
        public readonly Option<string?> Checkpoint = new("--checkpoint") { Description = "Checkpoint file: written after every epoch and on Ctrl+C (train), read (eval)." };
        public readonly Option<bool> Resume = new("--resume") { Description = "Continue the run saved in --checkpoint." };
        public readonly Option<bool> Json = new("--json") { Description = "End with one line holding a JSON object of the results." };
        public readonly Option<string?> Log = new("--log") { Description = "Append one JSON line per finished epoch to this file (for training curves)." };
        public readonly Option<bool> NoCheckFinite = new("--no-check-finite") { Description = "Skip the check of every gradient and weight for NaN and infinity after each step (a NaN or infinite loss still stops the run)." };
    }

    public static Command Create()
    {
        var o = new Options();
        o.Norm.AcceptOnlyFromAmong("layer", "batch");
        var command = new Command("train", "Train a deep LRU on a built-in task, with a live progress bar, checkpoints (--checkpoint, --resume) and Ctrl+C that stops cleanly.")
        {
            o.Task, o.Layers, o.Hidden, o.State, o.RMin, o.RMax, o.MaxPhase, o.Batch, o.Epochs, o.Lr, o.SsmLr, o.WeightDecay, o.Dropout,
            o.Norm, o.Clip, o.Seed, o.TrainCount, o.TestCount, o.Length, o.Threads, o.Data, o.Checkpoint, o.Resume, o.Json, o.Log, o.NoCheckFinite,
        };
        command.SetAction(result => Cli.Run(() => Train(result, o)));
        return command;
    }

    public static Command CreateEval()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The checkpoint to evaluate.", Required = true };
        var task = new Option<string?>("--task") { Description = "The task (default: the one the checkpoint was trained on)." };
        var data = new Option<string?>("--data") { Description = "Folder with the data files (fashion-mnist)." };
        var threads = new Option<int>("--threads", "-t") { Description = "Threads for the kernels.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<bool>("--json") { Description = "End with one line holding a JSON object of the results." };
        var command = new Command("eval", "Report the test metric of a saved model.") { checkpoint, task, data, threads, json };
        command.SetAction(result => Cli.Run(() =>
        {
            Parallelism.MaxThreads = CheckThreads(result.GetValue(threads));
            var loaded = ModelCheckpoint.Load(result.GetValue(checkpoint)!);
            var settings = TrainingRun.SettingsFrom(loaded.Metadata);
            string taskName = result.GetValue(task) ?? TrainingRun.TaskFrom(loaded.Metadata);
            var builtIn = BuiltInTasks.Get(taskName);
            var (_, test) = builtIn.CreateData(settings, result.GetValue(data));
            var trainer = new Trainer<float>(loaded.Model, new AdamW<float>(loaded.Model.NamedParameters(), new AdamWSettings()), new TrainerOptions(1, settings.BatchSize));
            var clock = Stopwatch.StartNew();
            var metrics = trainer.Evaluate(test);
            string metric = builtIn.MetricName;
            double value = metric == "mse" ? metrics.Loss : metrics.Accuracy;
            Console.WriteLine($"{taskName}: test {metric} {Format(metric, value)} on {test.Count} sequences (loss {metrics.Loss:F4}, {clock.Elapsed.TotalSeconds:F1} s)");
            if (result.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["task"] = taskName, ["test_loss"] = metrics.Loss, ["test_" + metric] = value, ["count"] = test.Count }));
            return 0;
        }));
        return command;
    }

    private static int Train(ParseResult r, Options o)
    {
        Parallelism.MaxThreads = CheckThreads(r.GetValue(o.Threads));
        string? checkpoint = r.GetValue(o.Checkpoint);
        bool resume = r.GetValue(o.Resume);
        if (resume && checkpoint is null) throw new ArgumentException("--resume needs --checkpoint PATH.");
        // Refuse paths that cannot be written now, not after the first epoch.
        if (checkpoint is not null) Cli.CheckWritable(checkpoint, "--checkpoint");
        if (r.GetValue(o.Log) is { } logPath) Cli.CheckWritable(logPath, "--log");

        BuiltInTask task;
        TrainingSettings settings;
        CheckpointData<float>? saved = null;
        if (resume)
        {
            if (!File.Exists(checkpoint)) throw new FileNotFoundException($"--resume: checkpoint {checkpoint} does not exist.");
            saved = ModelCheckpoint.Load(checkpoint!);
            task = BuiltInTasks.Get(TrainingRun.TaskFrom(saved.Metadata));
            settings = TrainingRun.SettingsFrom(saved.Metadata);
            if (r.GetValue(o.Epochs) is int more) settings = settings with { Epochs = more };
        }
        else
        {
            task = BuiltInTasks.Get(r.GetValue(o.Task)!);
            settings = Override(task.Defaults, r, o);
        }

        // Every setting is checked before any data is made; a bad one is reported with the option that sets it.
        SequenceDataset<float> train, test;
        try
        {
            settings.Validate();
            (train, test) = task.CreateData(settings, r.GetValue(o.Data));
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName is { } name && OptionOf.TryGetValue(name, out string? option))
        {
            throw new ArgumentOutOfRangeException(option, e.ActualValue, $"{option}: {Cli.OneLine(e)}");
        }
        var model = saved?.Model ?? new SequenceModel<float>(task.ModelConfig(settings), settings.Seed);
        int stepsPerEpoch = (train.Count + settings.BatchSize - 1) / settings.BatchSize;
        var optimizer = new AdamW<float>(model.NamedParameters(), settings.Optimizer((long)stepsPerEpoch * settings.Epochs));
        if (saved is not null) optimizer.LoadState(saved.OptimizerState);
        var trainer = new Trainer<float>(model, optimizer, new TrainerOptions(settings.Epochs, settings.BatchSize, settings.Seed, settings.ClipNorm, CheckFinite: !r.GetValue(o.NoCheckFinite)));
        long done = optimizer.StepCount;
        int startEpoch = (int)(done / stepsPerEpoch) + 1, startStep = (int)(done % stepsPerEpoch);

        long parameters = model.ParameterCount;
        Console.WriteLine($"lru train --task {task.Name}: {task.Description}");
        Console.WriteLine($"  model: {settings.Layers} blocks, H={settings.Block.Hidden}, N={settings.Block.State}, {parameters:N0} parameters; data: {train.Count:N0} train / {test.Count:N0} test sequences of length {train.Length}");
        Console.WriteLine($"  training: {settings.Epochs} epochs × {stepsPerEpoch} steps, batch {settings.BatchSize}, lr {settings.LearningRate:G3} (SSM {settings.SsmLearningRate:G3}), wd {settings.WeightDecay:G3}, dropout {settings.Block.DropoutRate:G3}, threads {Parallelism.MaxThreads}, seed {settings.Seed}"
            + (resume ? $"; resuming at epoch {startEpoch}, step {startStep}" : ""));

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
            Console.Error.WriteLine("lru: stopping after the current step…");
        };
        Console.CancelKeyPress += onCancel;
        var clock = Stopwatch.StartNew();
        TrainingResult result;
        string? log = r.GetValue(o.Log);
        long? savedStep = saved is null ? null : optimizer.StepCount; // the optimiser step the file at --checkpoint holds
        void Save(EpochResult? epoch)
        {
            if (checkpoint is not null)
            {
                ModelCheckpoint.Save(checkpoint, model, optimizer, TrainingRun.Metadata(task.Name, settings));
                savedStep = optimizer.StepCount;
            }
            if (log is not null && epoch is not null)
                File.AppendAllText(log, JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["task"] = task.Name, ["epoch"] = epoch.Epoch, ["seconds"] = Math.Round(epoch.Elapsed.TotalSeconds, 2),
                    ["train_loss"] = epoch.Train.Loss, ["train_accuracy"] = Nullable(epoch.Train.Accuracy),
                    ["test_loss"] = epoch.Test?.Loss, ["test_accuracy"] = epoch.Test is { } t ? Nullable(t.Accuracy) : null,
                }) + Environment.NewLine);
        }
        try
        {
            if (startEpoch > settings.Epochs)
                result = new TrainingResult([], false, 0);
            else if (!Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive)
                result = RunWithProgressBar(trainer, train, test, startEpoch, startStep, cancel.Token, Save, task);
            else
                result = RunWithLogLines(trainer, train, test, startEpoch, startStep, cancel.Token, Save, task);
        }
        catch (NonFiniteException e)
        {
            // Nothing is saved after a non-finite value: the checkpoint keeps the last good state.
            string kept = checkpoint is null ? "no --checkpoint was given"
                : savedStep is long s ? $"{checkpoint} is unchanged and holds the run after optimiser step {s}"
                : $"no checkpoint was written to {checkpoint}";
            Console.Error.WriteLine($"lru: error: {e.Message} Stopped; {kept}.");
            return 3;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        if (result.Cancelled)
        {
            Save(null);
            Console.WriteLine($"stopped after {optimizer.StepCount} steps{(checkpoint is null ? "" : $"; checkpoint {checkpoint} holds the run: continue with --checkpoint {checkpoint} --resume")}");
            return 130;
        }

        var last = result.Epochs.Count > 0 ? result.Epochs[^1] : null;
        var finalTest = last?.Test ?? trainer.Evaluate(test);
        string metric = task.MetricName;
        double value = metric == "mse" ? finalTest.Loss : finalTest.Accuracy;
        Console.WriteLine($"done: test {metric} {Format(metric, value)}, test loss {finalTest.Loss:F4}, {clock.Elapsed.TotalSeconds:F1} s");
        if (r.GetValue(o.Json))
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["task"] = task.Name, ["epochs"] = settings.Epochs, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2),
                ["train_loss"] = last?.Train.Loss, ["train_" + metric] = last is null ? null : metric == "mse" ? last.Train.Loss : last.Train.Accuracy,
                ["test_loss"] = finalTest.Loss, ["test_" + metric] = value, ["steps"] = optimizer.StepCount, ["parameters"] = parameters,
                ["epoch_test"] = result.Epochs.Select(e => e.Test is { } t ? (metric == "mse" ? t.Loss : t.Accuracy) : double.NaN).ToArray(),
            }));
        }
        return 0;
    }

    private static TrainingResult RunWithLogLines(Trainer<float> trainer, SequenceDataset<float> train, SequenceDataset<float> test,
        int startEpoch, int startStep, CancellationToken token, Action<EpochResult?> save, BuiltInTask task)
    {
        int every = Math.Max(1, trainer.StepsPerEpoch(train) / 10);
        return trainer.Fit(train, test, p =>
        {
            if (p.Step % every == 0 || p.Step == p.StepsPerEpoch)
                Console.WriteLine($"epoch {p.Epoch}/{p.Epochs} step {p.Step}/{p.StepsPerEpoch}  loss {p.Loss:F4}{Accuracy(p.Accuracy)}  {p.TokensPerSecond:N0} tok/s  elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {p.Remaining:hh\\:mm\\:ss}");
        }, token, startEpoch, startStep, e =>
        {
            save(e);
            Console.WriteLine($"epoch {e.Epoch} done: train loss {e.Train.Loss:F4}{Accuracy(e.Train.Accuracy)}; test {Describe(task, e.Test)}  ({e.Elapsed.TotalSeconds:F1} s)");
        });
    }

    private static TrainingResult RunWithProgressBar(Trainer<float> trainer, SequenceDataset<float> train, SequenceDataset<float> test,
        int startEpoch, int startStep, CancellationToken token, Action<EpochResult?> save, BuiltInTask task)
    {
        TrainingResult? result = null;
        int steps = trainer.StepsPerEpoch(train);
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("training", maxValue: (double)steps * (trainer.Options.Epochs - startEpoch + 1) - startStep);
                result = trainer.Fit(train, test, p =>
                {
                    bar.Increment(1);
                    bar.Description = $"epoch {p.Epoch}/{p.Epochs} step {p.Step}/{p.StepsPerEpoch} loss {p.Loss:F4}{Accuracy(p.Accuracy)} {p.TokensPerSecond:N0} tok/s";
                }, token, startEpoch, startStep, e =>
                {
                    save(e);
                    AnsiConsole.MarkupLine(Markup.Escape($"epoch {e.Epoch} done: train loss {e.Train.Loss:F4}{Accuracy(e.Train.Accuracy)}; test {Describe(task, e.Test)}"));
                });
            });
        return result!;
    }

    private static TrainingSettings Override(TrainingSettings s, ParseResult r, Options o) => s with
    {
        Layers = r.GetValue(o.Layers) ?? s.Layers,
        Block = s.Block with
        {
            Lru = s.Block.Lru with
            {
                Hidden = r.GetValue(o.Hidden) ?? s.Block.Lru.Hidden,
                State = r.GetValue(o.State) ?? s.Block.Lru.State,
                RMin = r.GetValue(o.RMin) ?? s.Block.Lru.RMin,
                RMax = r.GetValue(o.RMax) ?? s.Block.Lru.RMax,
                MaxPhase = r.GetValue(o.MaxPhase) ?? s.Block.Lru.MaxPhase,
            },
            DropoutRate = r.GetValue(o.Dropout) ?? s.Block.DropoutRate,
            Norm = r.GetValue(o.Norm) switch { "batch" => NormKind.BatchNorm, "layer" => NormKind.LayerNorm, _ => s.Block.Norm },
        },
        BatchSize = r.GetValue(o.Batch) ?? s.BatchSize,
        Epochs = r.GetValue(o.Epochs) ?? s.Epochs,
        LearningRate = r.GetValue(o.Lr) ?? s.LearningRate,
        SsmLearningRate = r.GetValue(o.SsmLr) ?? s.SsmLearningRate,
        WeightDecay = r.GetValue(o.WeightDecay) ?? s.WeightDecay,
        ClipNorm = r.GetValue(o.Clip) ?? s.ClipNorm,
        Seed = r.GetValue(o.Seed) ?? s.Seed,
        TrainCount = r.GetValue(o.TrainCount) ?? s.TrainCount,
        TestCount = r.GetValue(o.TestCount) ?? s.TestCount,
        Length = r.GetValue(o.Length) ?? s.Length,
    };

    /// <summary>The option that sets each <see cref="TrainingSettings"/> field (and the block settings checked with it).</summary>
    private static readonly Dictionary<string, string> OptionOf = new(StringComparer.Ordinal)
    {
        [nameof(TrainingSettings.Layers)] = "--layers", [nameof(LruConfig.Hidden)] = "--hidden", [nameof(LruConfig.State)] = "--state",
        [nameof(LruConfig.RMin)] = "--r-min", [nameof(LruConfig.RMax)] = "--r-max", [nameof(LruConfig.MaxPhase)] = "--max-phase",
        [nameof(TrainingSettings.BatchSize)] = "--batch", [nameof(TrainingSettings.Epochs)] = "--epochs", [nameof(TrainingSettings.LearningRate)] = "--lr",
        [nameof(TrainingSettings.SsmLearningRate)] = "--ssm-lr", [nameof(TrainingSettings.WeightDecay)] = "--weight-decay",
        [nameof(LruBlockConfig.DropoutRate)] = "--dropout", [nameof(TrainingSettings.ClipNorm)] = "--clip",
        [nameof(TrainingSettings.TrainCount)] = "--train-count", [nameof(TrainingSettings.TestCount)] = "--test-count", [nameof(TrainingSettings.Length)] = "--length",
    };

    private static int CheckThreads(int threads) =>
        threads >= 1 ? threads : throw new ArgumentOutOfRangeException("--threads", threads, $"--threads must be at least 1; got {threads}.");

    private static double? Nullable(double value) => double.IsNaN(value) ? null : value;

    private static string Accuracy(double accuracy) => double.IsNaN(accuracy) ? "" : $" acc {accuracy:P2}";

    private static string Format(string metric, double value) => metric == "mse" ? value.ToString("F5") : value.ToString("P2");

    private static string Describe(BuiltInTask task, Metrics? m) => m is not { } t ? "-" :
        task.MetricName == "mse" ? $"mse {t.Loss:F5}" : $"loss {t.Loss:F4} accuracy {t.Accuracy:P2}";
}
