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
    internal sealed class Options
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
        public readonly Option<string?> Direction = new("--direction") { Description = "causal (one LRU per block, can stream) or bidirectional (a second LRU reads the sequence backwards; the two outputs are summed; cannot stream)." };
        public readonly Option<string?> Batching = new("--batching") { Description = "shuffled (batches drawn at random) or bucketed (padded data: batches of sequences of similar length, so little of each batch is padding). Default: the task's (listops: bucketed; your data: shuffled)." };
        public readonly Option<double?> Clip = new("--clip") { Description = "Global gradient-norm clipping (0: off)." };
        public readonly Option<long?> Seed = new("--seed") { Description = "Seed of data, initialisation, dropout and shuffling." };
        public readonly Option<int?> TrainCount = new("--train-count") { Description = "Training sequences (generated tasks; fashion-mnist, pfashion-mnist: first N images, 0 = all)." };
        public readonly Option<int?> TestCount = new("--test-count") { Description = "Test sequences (generated tasks; fashion-mnist, pfashion-mnist: first N images, 0 = all)." };
        public readonly Option<int?> Length = new("--length") { Description = "Sequence length (adding) or longest expression (listops)." };
        public readonly Option<int> Threads = Cli.ThreadsOption();
        public readonly Option<string?> Data = new("--data") { Description = "Folder with the data files (fashion-mnist, pfashion-mnist)." };
        public readonly Option<string?> Checkpoint = new("--checkpoint") { Description = "Checkpoint file: written after every epoch and on Ctrl+C (train), read (eval)." };
        public readonly Option<bool> Resume = new("--resume") { Description = "Continue the run saved in --checkpoint." };
        public readonly Option<bool> Json = new("--json") { Description = "End with one line holding a JSON object of the results." };
        public readonly Option<string?> Log = new("--log") { Description = "Append one JSON line per finished epoch to this file (for training curves)." };
        public readonly Option<string?> Inputs = new("--inputs") { Description = "Your data: (N, L, F) or (N, L) .npy inputs, any numeric type (instead of --task)." };
        public readonly Option<string?> Targets = new("--targets") { Description = "Your data: .npy targets. (N) integers: classes; (N) or (N, O) floats: regression; (N, L) integers or (N, L, O) floats: a target per step." };
        public readonly Option<string?> Lengths = new("--lengths") { Description = "Your data: (N) integer valid lengths of sequences padded to L; padding is left out of pooling, losses and metrics." };
        public readonly Option<string?> TestInputs = new("--test-inputs") { Description = "Your data: test inputs, reported at the end (default: the validation split is reported)." };
        public readonly Option<string?> TestTargets = new("--test-targets") { Description = "Your data: test targets." };
        public readonly Option<string?> TestLengths = new("--test-lengths") { Description = "Your data: test valid lengths." };
        public readonly Option<double?> ValidationSplit = new("--validation-split") { Description = $"Your data: share of the training sequences held out to keep the best epoch (default {DataDefaults.ValidationSplit}; 0: keep the last epoch)." };
        public readonly Option<string> Objective = new("--objective") { Description = "Your data: auto (integer targets are classes, floats are values), classification or regression.", DefaultValueFactory = _ => "auto" };
        public readonly Option<string?> Pooling = new("--pooling") { Description = "Your data, one target per sequence: mean (over the valid steps, the default) or last." };
        public readonly Option<string?> Diagnose = new("--diagnose") { Description = "Append diagnostics to this JSON-lines file: gradient norms per parameter about 25 times an epoch, and at the start and after every epoch the |λ| of every LRU layer and the effective memory (output sensitivity to an input d steps before the end; for pooled, unpadded, real-valued data only)." };
        public readonly Option<bool> NoCheckFinite = new("--no-check-finite") { Description = "Skip the check of every gradient and weight for NaN and infinity after each step (a NaN or infinite loss still stops the run)." };
    }

    public static Command Create()
    {
        var o = new Options();
        o.Norm.AcceptOnlyFromAmong("layer", "batch");
        o.Direction.AcceptOnlyFromAmong("causal", "bidirectional");
        o.Batching.AcceptOnlyFromAmong("shuffled", "bucketed");
        o.Objective.AcceptOnlyFromAmong("auto", "classification", "regression");
        o.Pooling.AcceptOnlyFromAmong("mean", "last");
        var command = new Command("train", "Train a deep LRU on a built-in task (--task) or on your own .npy arrays (--inputs, --targets), with a live progress bar, checkpoints (--checkpoint, --resume) and Ctrl+C that stops cleanly.")
        {
            o.Task, o.Inputs, o.Targets, o.Lengths, o.TestInputs, o.TestTargets, o.TestLengths, o.ValidationSplit, o.Objective, o.Pooling,
            o.Layers, o.Hidden, o.State, o.RMin, o.RMax, o.MaxPhase, o.Batch, o.Epochs, o.Lr, o.SsmLr, o.WeightDecay, o.Dropout,
            o.Norm, o.Direction, o.Batching, o.Clip, o.Seed, o.TrainCount, o.TestCount, o.Length, o.Threads, o.Data, o.Checkpoint, o.Resume, o.Json, o.Log, o.Diagnose, o.NoCheckFinite,
        };
        command.SetAction(result => Cli.Run(() => Train(result, o)));
        return command;
    }

    public static Command CreateEval()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The checkpoint to evaluate.", Required = true };
        var task = new Option<string?>("--task") { Description = "The task (default: the one the checkpoint was trained on)." };
        var data = new Option<string?>("--data") { Description = "Folder with the data files (fashion-mnist, pfashion-mnist)." };
        var threads = Cli.ThreadsOption();
        var json = new Option<bool>("--json") { Description = "End with one line holding a JSON object of the results." };
        var command = new Command("eval", "Report the test metric of a saved model.") { checkpoint, task, data, threads, json };
        command.SetAction(result => Cli.Run(() =>
        {
            Cli.UseThreads(result, threads);
            var loaded = ModelCheckpoint.Load(result.GetValue(checkpoint)!);
            var settings = TrainingRun.SettingsFrom(loaded.Metadata);
            string taskName = result.GetValue(task) ?? TrainingRun.TaskFrom(loaded.Metadata);
            if (taskName == TrainingRun.UserDataTask)
                throw new ArgumentException($"{result.GetValue(checkpoint)} was trained on your own data: score it with lru predict on your test inputs (or pass --task for a built-in task's data).");
            var builtIn = BuiltInTasks.Get(taskName);
            var (_, test) = builtIn.CreateData(settings, result.GetValue(data));
            var trainer = new Trainer<float>(loaded.Model, new AdamW<float>(loaded.Model.NamedParameters(), new AdamWSettings()), settings.Trainer() with { Epochs = 1 }); // evaluates as the run did (by length when bucketed)
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

    /// <summary>Everything a run needs, from a built-in task or from the user's arrays.</summary>
    /// <param name="Name">The task's name (user data: <c>user-data</c>).</param>
    /// <param name="Header">The first line printed.</param>
    /// <param name="MetricName">accuracy or mse.</param>
    /// <param name="Settings">Model and optimisation settings.</param>
    /// <param name="Train">The training set.</param>
    /// <param name="Evaluation">The set evaluated after every epoch (the test set of a built-in task, the validation split of user data).</param>
    /// <param name="EvaluationName">What <paramref name="Evaluation"/> is called in the output: test or validation.</param>
    /// <param name="Model">The model (restored when resuming).</param>
    /// <param name="Saved">The checkpoint resumed from, or null.</param>
    /// <param name="Metadata">What checkpoints record about the run.</param>
    /// <param name="KeepBest">Restore the epoch with the best <paramref name="Evaluation"/> metric at the end.</param>
    /// <param name="Final">The final report: metric, loss and extra JSON fields, from the model as it ends.</param>
    /// <param name="EpochUnits">Said after an epoch's MSE when it is not in the targets' units (user data: " (standardised)").</param>
    internal sealed record Plan(string Name, string Header, string MetricName, TrainingSettings Settings,
        SequenceDataset<float> Train, SequenceDataset<float>? Evaluation, string EvaluationName, SequenceModel<float> Model, CheckpointData<float>? Saved,
        Func<int?, Dictionary<string, string>> Metadata, bool KeepBest, Func<Trainer<float>, EpochResult?, FinalReport> Final, string EpochUnits = "");

    /// <summary>The test figures a run ends with, and the set they were measured on (test, or the validation split).</summary>
    internal sealed record FinalReport(double Metric, double Loss, int Count, Dictionary<string, object?> Extra, string Set = "test");

    private static int Train(ParseResult r, Options o)
    {
        Cli.UseThreads(r, o.Threads);
        string? checkpoint = r.GetValue(o.Checkpoint);
        bool resume = r.GetValue(o.Resume);
        if (resume && checkpoint is null) throw new ArgumentException("--resume needs --checkpoint PATH.");
        // Refuse paths that cannot be written now, not after the first epoch.
        if (checkpoint is not null) Cli.CheckWritable(checkpoint, "--checkpoint");
        if (r.GetValue(o.Log) is { } logPath) Cli.CheckWritable(logPath, "--log");
        if (r.GetValue(o.Diagnose) is { } diagnosePath) Cli.CheckWritable(diagnosePath, "--diagnose");
        bool userData = r.GetValue(o.Inputs) is not null || r.GetValue(o.Targets) is not null;
        if (!userData)
            foreach (var option in new Option[] { o.Lengths, o.TestInputs, o.TestTargets, o.TestLengths, o.ValidationSplit, o.Objective, o.Pooling })
                if (r.GetResult(option) is { Implicit: false })
                    throw new ArgumentException($"{option.Name} is for your own data; give --inputs and --targets with it.");
        var plan = userData ? UserDataRun.Plan(r, o) : BuiltInPlan(r, o, checkpoint, resume);
        return Run(plan, r, o, checkpoint);
    }

    private static Plan BuiltInPlan(ParseResult r, Options o, string? checkpoint, bool resume)
    {
        BuiltInTask task;
        TrainingSettings settings;
        CheckpointData<float>? saved = null;
        if (resume)
        {
            if (!File.Exists(checkpoint)) throw new FileNotFoundException($"--resume: checkpoint {checkpoint} does not exist.");
            saved = ModelCheckpoint.Load(checkpoint!);
            string name = TrainingRun.TaskFrom(saved.Metadata);
            if (name == TrainingRun.UserDataTask)
                throw new ArgumentException($"--resume: {checkpoint} was trained on your own data; --resume continues built-in tasks only (train again with more --epochs).");
            task = BuiltInTasks.Get(name);
            settings = TrainingRun.SettingsFrom(saved.Metadata);
            if (r.GetValue(o.Epochs) is int more) settings = settings with { Epochs = more };
        }
        else
        {
            task = BuiltInTasks.Get(r.GetValue(o.Task)!);
            settings = Override(task.Defaults, r, o);
        }

        var (train, test) = CheckedData(() => task.CreateData(settings, r.GetValue(o.Data)), settings);
        var model = saved?.Model ?? new SequenceModel<float>(task.ModelConfig(settings), settings.Seed);
        string metric = task.MetricName;
        return new Plan(task.Name, $"lru train --task {task.Name}: {task.Description}", metric, settings, train, test, "test", model, saved,
            _ => TrainingRun.Metadata(task.Name, settings), KeepBest: false, (trainer, last) =>
            {
                var m = last?.Test ?? trainer.Evaluate(test);
                return new FinalReport(metric == "mse" ? m.Loss : m.Accuracy, m.Loss, test.Count, []);
            });
    }

    /// <summary>Validates the settings, then makes the data; a bad setting is reported with the option that sets it.</summary>
    internal static TData CheckedData<TData>(Func<TData> create, TrainingSettings settings)
    {
        try
        {
            settings.Validate();
            return create();
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName is { } name && OptionOf.TryGetValue(name, out string? option))
        {
            throw new ArgumentOutOfRangeException(option, e.ActualValue, $"{option}: {Cli.OneLine(e)}");
        }
    }

    private static int Run(Plan plan, ParseResult r, Options o, string? checkpoint)
    {
        var (settings, train, evaluation, model) = (plan.Settings, plan.Train, plan.Evaluation, plan.Model);
        int stepsPerEpoch = (train.Count + settings.BatchSize - 1) / settings.BatchSize;
        var optimizer = new AdamW<float>(model.NamedParameters(), settings.Optimizer((long)stepsPerEpoch * settings.Epochs));
        if (plan.Saved is not null) optimizer.LoadState(plan.Saved.OptimizerState);
        var trainer = new Trainer<float>(model, optimizer, settings.Trainer(checkFinite: !r.GetValue(o.NoCheckFinite)));
        long done = optimizer.StepCount;
        int startEpoch = (int)(done / stepsPerEpoch) + 1, startStep = (int)(done % stepsPerEpoch);

        long parameters = model.ParameterCount;
        Console.WriteLine(plan.Header);
        Console.WriteLine($"  model: {settings.Layers} {(settings.Block.Bidirectional ? "bidirectional " : "")}blocks, H={settings.Block.Hidden}, N={settings.Block.State}, {parameters:N0} parameters; data: {train.Count:N0} train / {evaluation?.Count ?? 0:N0} {plan.EvaluationName} sequences of length {train.Length}");
        Console.WriteLine($"  training: {settings.Epochs} epochs × {stepsPerEpoch} steps, batch {settings.BatchSize}, lr {settings.LearningRate:G3} (SSM {settings.SsmLearningRate:G3}), wd {settings.WeightDecay:G3}, dropout {settings.Block.DropoutRate:G3}, {(settings.BucketByLength && train.Lengths is not null ? "batches bucketed by length, " : "")}threads {Parallelism.MaxThreads}, seed {settings.Seed}"
            + (plan.Saved is not null ? $"; resuming at epoch {startEpoch}, step {startStep}" : ""));

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
        var diagnose = r.GetValue(o.Diagnose) is { } diagnosePath ? new DiagnosticsLog(diagnosePath, model, trainer, evaluation, stepsPerEpoch) : null;
        diagnose?.Snapshot(optimizer.StepCount);
        long? savedStep = plan.Saved is null ? null : optimizer.StepCount; // the optimiser step the file at --checkpoint holds
        string metric = plan.MetricName;
        double Value(Metrics m) => metric == "mse" ? m.Loss : m.Accuracy;
        int? bestEpoch = null;
        double bestValue = double.NaN;
        Dictionary<string, System.Numerics.Tensors.Tensor<float>>? best = null;
        void Save(EpochResult? epoch)
        {
            if (plan.KeepBest && epoch?.Test is { } v && (bestEpoch is null || (metric == "mse" ? Value(v) < bestValue : Value(v) > bestValue)))
            {
                (bestEpoch, bestValue, best) = (epoch.Epoch, Value(v), model.StateDictionary());
            }
            if (checkpoint is not null)
            {
                ModelCheckpoint.Save(checkpoint, model, optimizer, plan.Metadata(null));
                savedStep = optimizer.StepCount;
            }
            if (epoch is not null) diagnose?.Snapshot(optimizer.StepCount);
            if (log is not null && epoch is not null)
                File.AppendAllText(log, JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["task"] = plan.Name, ["epoch"] = epoch.Epoch, ["seconds"] = Math.Round(epoch.Elapsed.TotalSeconds, 2),
                    ["train_loss"] = epoch.Train.Loss, ["train_accuracy"] = Nullable(epoch.Train.Accuracy),
                    [plan.EvaluationName + "_loss"] = epoch.Test?.Loss, [plan.EvaluationName + "_accuracy"] = epoch.Test is { } t ? Nullable(t.Accuracy) : null,
                }) + Environment.NewLine);
        }
        // When the best epoch is kept and one exists: restores it and writes it to --checkpoint; its number, or null.
        int? SaveBest()
        {
            if (!plan.KeepBest || best is null) return null;
            model.LoadStateDictionary(best);
            if (checkpoint is not null) ModelCheckpoint.Save(checkpoint, model, null, plan.Metadata(bestEpoch));
            return bestEpoch;
        }
        try
        {
            if (startEpoch > settings.Epochs)
                result = new TrainingResult([], false, 0);
            else if (!Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive)
                result = RunWithProgressBar(trainer, train, evaluation, startEpoch, startStep, cancel.Token, Save, plan);
            else
                result = RunWithLogLines(trainer, train, evaluation, startEpoch, startStep, cancel.Token, Save, plan);
        }
        catch (NonFiniteException e)
        {
            // Nothing of the failed state is saved: the checkpoint keeps the last good state, or the best epoch when one is kept.
            string kept = checkpoint is null ? "no --checkpoint was given"
                : SaveBest() is int bestKept ? $"{checkpoint} holds the best {plan.EvaluationName} epoch, {bestKept}"
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
            string held;
            if (SaveBest() is int bestKept) held = checkpoint is null ? $"; the best {plan.EvaluationName} epoch was {bestKept}" : $"; {checkpoint} holds the best {plan.EvaluationName} epoch, {bestKept}";
            else
            {
                Save(null);
                held = checkpoint is null ? "" : plan.Name == TrainingRun.UserDataTask ? $"; {checkpoint} holds the model as it stopped"
                    : $"; checkpoint {checkpoint} holds the run: continue with --checkpoint {checkpoint} --resume";
            }
            Console.WriteLine($"stopped after {optimizer.StepCount} steps{held}");
            return 130;
        }

        var last = result.Epochs.Count > 0 ? result.Epochs[^1] : null;
        if (best is not null && bestEpoch != last?.Epoch)
        {
            model.LoadStateDictionary(best);
            last = null; // the final figures are of the restored epoch, not the last one
        }
        if (plan.KeepBest && checkpoint is not null) ModelCheckpoint.Save(checkpoint, model, null, plan.Metadata(bestEpoch));
        var final = plan.Final(trainer, last);
        Console.WriteLine($"done: {final.Set} {metric} {Format(metric, final.Metric)} on {final.Count:N0} sequences, {final.Set} loss {final.Loss:F4}"
            + (bestEpoch is int b ? $", best {plan.EvaluationName} epoch {b}" : "") + $", {clock.Elapsed.TotalSeconds:F1} s");
        // The training figures of the epoch whose weights the run ends with.
        var reported = bestEpoch is int keptEpoch ? result.Epochs.FirstOrDefault(e => e.Epoch == keptEpoch) : result.Epochs.Count > 0 ? result.Epochs[^1] : null;
        if (r.GetValue(o.Json))
        {
            var json = new Dictionary<string, object?>
            {
                ["task"] = plan.Name, ["epochs"] = settings.Epochs, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2),
                ["train_loss"] = reported?.Train.Loss,
                ["train_" + metric] = reported is null ? null : Value(reported.Train),
                ["test_loss"] = final.Loss, ["test_" + metric] = final.Metric, ["steps"] = optimizer.StepCount, ["parameters"] = parameters,
                ["epoch_" + plan.EvaluationName] = result.Epochs.Select(e => e.Test is { } t ? Value(t) : double.NaN).ToArray(),
            };
            if (bestEpoch is int be) json["best_epoch"] = be;
            foreach (var (key, value) in final.Extra) json[key] = value;
            Console.WriteLine(JsonSerializer.Serialize(json));
        }
        return 0;
    }

    private static TrainingResult RunWithLogLines(Trainer<float> trainer, SequenceDataset<float> train, SequenceDataset<float>? test,
        int startEpoch, int startStep, CancellationToken token, Action<EpochResult?> save, Plan plan)
    {
        int every = Math.Max(1, trainer.StepsPerEpoch(train) / 10);
        return trainer.Fit(train, test, p =>
        {
            if (p.Step % every == 0 || p.Step == p.StepsPerEpoch)
                Console.WriteLine($"epoch {p.Epoch}/{p.Epochs} step {p.Step}/{p.StepsPerEpoch}  loss {p.Loss:F4}{Accuracy(p.Accuracy)}  {p.TokensPerSecond:N0} tok/s  elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {p.Remaining:hh\\:mm\\:ss}");
        }, token, startEpoch, startStep, e =>
        {
            save(e);
            Console.WriteLine($"epoch {e.Epoch} done: train loss {e.Train.Loss:F4}{Accuracy(e.Train.Accuracy)}; {plan.EvaluationName} {Describe(plan, e.Test)}  ({e.Elapsed.TotalSeconds:F1} s)");
        });
    }

    private static TrainingResult RunWithProgressBar(Trainer<float> trainer, SequenceDataset<float> train, SequenceDataset<float>? test,
        int startEpoch, int startStep, CancellationToken token, Action<EpochResult?> save, Plan plan)
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
                    AnsiConsole.MarkupLine(Markup.Escape($"epoch {e.Epoch} done: train loss {e.Train.Loss:F4}{Accuracy(e.Train.Accuracy)}; {plan.EvaluationName} {Describe(plan, e.Test)}"));
                });
            });
        return result!;
    }

    internal static TrainingSettings Override(TrainingSettings s, ParseResult r, Options o) => s with
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
            Bidirectional = r.GetValue(o.Direction) switch { "bidirectional" => true, "causal" => false, _ => s.Block.Bidirectional },
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
        BucketByLength = r.GetValue(o.Batching) switch { "bucketed" => true, "shuffled" => false, _ => s.BucketByLength },
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

    private static double? Nullable(double value) => double.IsNaN(value) ? null : value;

    private static string Accuracy(double accuracy) => double.IsNaN(accuracy) ? "" : $" acc {accuracy:P2}";

    internal static string Format(string metric, double value) => metric == "mse" ? value.ToString("F5") : value.ToString("P2");

    private static string Describe(Plan plan, Metrics? m) => m is not { } t ? "-" :
        plan.MetricName == "mse" ? $"mse{plan.EpochUnits} {t.Loss:F5}" : $"loss {t.Loss:F4} accuracy {t.Accuracy:P2}";
}
