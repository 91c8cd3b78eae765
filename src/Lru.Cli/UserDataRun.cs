using System.CommandLine;
using System.Text.Json;
using Lru.Data;
using Lru.IO;
using Lru.Models;
using Lru.Tasks;
using Lru.Training;

namespace Lru.Cli;

/// <summary>
/// <c>lru train --inputs X.npy --targets Y.npy</c>: the user's own arrays. The targets say the job (<see cref="ArrayData.Describe"/>),
/// the model and optimiser start from <see cref="DataDefaults"/>, inputs (and regression targets) are standardised with
/// statistics of the training split only, and the epoch with the best validation metric is kept.
/// </summary>
internal static class UserDataRun
{
    public static TrainCommand.Plan Plan(ParseResult r, TrainCommand.Options o)
    {
        if (r.GetValue(o.Resume)) throw new ArgumentException("--resume continues built-in tasks only; train your data again with more --epochs.");
        if (r.GetValue(o.Data) is not null) throw new ArgumentException("--data is the folder of a built-in task's files; your data comes with --inputs and --targets.");
        foreach (var (option, name) in new (Option, string)[] { (o.TrainCount, "--train-count"), (o.TestCount, "--test-count"), (o.Length, "--length") })
            if (r.GetResult(option) is { Implicit: false }) throw new ArgumentException($"{name} is a setting of the generated built-in tasks; it does not apply to --inputs.");
        if (r.GetResult(o.Task) is { Implicit: false }) throw new ArgumentException("Give either --task or --inputs and --targets, not both.");
        string inputs = r.GetValue(o.Inputs) ?? throw new ArgumentException("--targets needs --inputs (the sequences the targets belong to).");
        string targets = r.GetValue(o.Targets) ?? throw new ArgumentException("--inputs needs --targets (what to learn from them).");
        string? testInputs = r.GetValue(o.TestInputs), testTargets = r.GetValue(o.TestTargets);
        if ((testInputs is null) != (testTargets is null))
            throw new ArgumentException("--test-inputs and --test-targets go together.");
        if (r.GetValue(o.TestLengths) is not null && testInputs is null) throw new ArgumentException("--test-lengths needs --test-inputs and --test-targets.");
        var objective = r.GetValue(o.Objective) switch { "classification" => Objective.Classification, "regression" => Objective.Regression, _ => Objective.Auto };

        var x = Read(inputs, "--inputs");
        var y = Read(targets, "--targets");
        var lengths = r.GetValue(o.Lengths) is { } lp ? Read(lp, "--lengths") : null;
        var spec = ArrayData.Describe(x, y, objective, null, $"--inputs {inputs}", $"--targets {targets}", lengths);
        if (spec.PerStep && r.GetValue(o.Pooling) is not null)
            throw new ArgumentException($"--pooling: the targets give {spec.Description}, so the model does not pool.");
        var all = ArrayData.Create(spec, x, y, lengths, $"--inputs {inputs}", $"--targets {targets}", $"--lengths {r.GetValue(o.Lengths)}");
        ArrayData? test = null;
        if (testInputs is not null)
        {
            var tx = Read(testInputs, "--test-inputs");
            var ty = Read(testTargets!, "--test-targets");
            var tl = r.GetValue(o.TestLengths) is { } tlp ? Read(tlp, "--test-lengths") : null;
            // The test set is read with the training set's job and classes: a label the training data never had is refused.
            test = ArrayData.Create(spec, tx, ty, tl, $"--test-inputs {testInputs}", $"--test-targets {testTargets}", $"--test-lengths {r.GetValue(o.TestLengths)}");
        }

        double split = r.GetValue(o.ValidationSplit) ?? DataDefaults.ValidationSplit;
        long seed = r.GetValue(o.Seed) ?? 0;
        ArrayData train;
        ArrayData? validation;
        try
        {
            (train, validation) = all.Split(split, seed);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentOutOfRangeException("--validation-split", split, $"--validation-split: {Cli.OneLine(e)}");
        }
        if (validation is null && test is null)
            throw new ArgumentException("Nothing to evaluate on: give --test-inputs and --test-targets, or a --validation-split above 0.");

        var settings = DataDefaults.WithNormEpsilon(TrainCommand.Override(DataDefaults.For(spec, train.Count), r, o) with { Seed = seed });
        var pooling = r.GetValue(o.Pooling) switch { "last" => PoolingMode.Last, "mean" => PoolingMode.Mean, _ => (PoolingMode?)null };
        var record = new DataRecord(spec, train.InputStatistics(), train.TargetStatistics(), Path.GetFileName(inputs), null);
        var (trainSet, validationSet, testSet) = TrainCommand.CheckedData(() => (
            train.ToDataset(record.Inputs, record.Targets),
            validation?.ToDataset(record.Inputs, record.Targets),
            test?.ToDataset(record.Inputs, record.Targets)), settings);
        var model = new SequenceModel<float>(DataDefaults.ModelConfig(spec, settings, pooling), settings.Seed);

        var reported = test ?? validation!;
        var reportedSet = testSet ?? validationSet!;
        string header = $"lru train --inputs {inputs}: {spec.Description}; {all.Count:N0} sequences of {spec.Length} steps × {spec.Features} features"
            + (all.Lengths is null ? "" : " (padded; lengths given)")
            + $"; {train.Count:N0} train, {validation?.Count ?? 0:N0} validation, " + (test is null ? "the validation split reported as test" : $"{test.Count:N0} test");
        return new TrainCommand.Plan(TrainingRun.UserDataTask, header, spec.MetricName, settings, trainSet, validationSet ?? testSet, validation is null ? "test" : "validation",
            model, null, best => new Dictionary<string, string>(TrainingRun.Metadata(TrainingRun.UserDataTask, settings))
            {
                [TrainingRun.DataKey] = JsonSerializer.Serialize(record with { BestEpoch = best }, ConfigJson.Options),
            },
            KeepBest: validation is not null,
            (trainer, _) => Report(trainer, model, record, train, reported, reportedSet, test is null ? "validation" : "test"),
            spec.Output == OutputKind.Regression ? " (standardised)" : "");
    }

    /// <summary>The test figures, in the targets' own units, with the trivial baseline beside them.</summary>
    private static TrainCommand.FinalReport Report(Trainer<float> trainer, SequenceModel<float> model, DataRecord record, ArrayData train, ArrayData test, SequenceDataset<float> testSet, string reportedOn)
    {
        var spec = record.Spec;
        var metrics = trainer.Evaluate(testSet);
        if (spec.Output == OutputKind.Classification)
        {
            // The majority class of the training labels (over the valid steps), scored on the test set.
            var counts = new long[spec.Outputs];
            ForValid(train, (i, _) => counts[train.Labels![i]]++);
            int majority = Array.IndexOf(counts, counts.Max());
            long right = 0, all = 0;
            ForValid(test, (i, _) => { all++; if (test.Labels![i] == majority) right++; });
            return new(metrics.Accuracy, metrics.Loss, test.Count, new()
            {
                ["baseline_accuracy"] = (double)right / all, ["baseline"] = "majority class of the training labels",
                ["classes"] = spec.Outputs, ["reported_on"] = reportedOn,
            }, reportedOn);
        }
        // Regression: mean squared error in the targets' units (the loss is in standardised units), and the mean predictor.
        float[] predicted = Prediction.Run(model, testSet, trainer.Options.BatchSize);
        record.Targets!.Invert(predicted);
        int o = spec.Outputs;
        var sum = new double[o];
        var baseline = new double[o];
        long rows = 0;
        ForValid(test, (row, _) =>
        {
            rows++;
            for (int k = 0; k < o; k++)
            {
                double target = test.Values![row * o + k], d = predicted[row * o + k] - target, b = record.Targets.Mean[k] - target;
                sum[k] += d * d;
                baseline[k] += b * b;
            }
        });
        var extra = new Dictionary<string, object?>
        {
            ["baseline_mse"] = baseline.Sum() / (rows * o), ["baseline"] = "the mean of the training targets",
            // The training loss is in standardised units; the test figures are in the targets' own.
            ["train_mse"] = null, ["train_loss_units"] = "standardised", ["reported_on"] = reportedOn,
        };
        if (o > 1)
        {
            extra["test_mse_per_output"] = sum.Select(v => v / rows).ToArray();
            extra["baseline_mse_per_output"] = baseline.Select(v => v / rows).ToArray();
        }
        return new(sum.Sum() / (rows * o), metrics.Loss, test.Count, extra, reportedOn);
    }

    /// <summary>Calls <paramref name="action"/>(target row, sequence) for every target row that counts (per step: the valid steps).</summary>
    private static void ForValid(ArrayData data, Action<int, int> action)
    {
        int l = data.Spec.Length;
        for (int s = 0; s < data.Count; s++)
        {
            if (!data.Spec.PerStep)
            {
                action(s, s);
                continue;
            }
            int valid = data.Lengths?[s] ?? l;
            for (int t = 0; t < valid; t++) action(s * l + t, s);
        }
    }

    /// <summary>Reads a .npy file named by an option, saying which option when it is missing.</summary>
    internal static NpyArray Read(string path, string option) =>
        File.Exists(path) ? NpyFile.Read(path) : throw new FileNotFoundException($"{option}: {path} does not exist.");
}

/// <summary>What a checkpoint of a user-data run records about its data, so <c>lru predict</c> treats new inputs the same way.</summary>
/// <param name="Spec">The job and sizes.</param>
/// <param name="Inputs">The input standardisation (statistics of the training split).</param>
/// <param name="Targets">The regression target standardisation, or null for classification.</param>
/// <param name="Source">The training inputs' file name, for the record.</param>
/// <param name="BestEpoch">The epoch whose weights the file holds, when the best validation epoch was kept.</param>
internal sealed record DataRecord(DataSpec Spec, Standardization Inputs, Standardization? Targets, string Source, int? BestEpoch)
{
    /// <summary>The record in a checkpoint's metadata, or null for a checkpoint of a built-in task.</summary>
    public static DataRecord? From(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(TrainingRun.DataKey, out string? json)) return null;
        try
        {
            var record = JsonSerializer.Deserialize<DataRecord>(json, ConfigJson.Options) ?? throw new JsonException("empty");
            if (record.Spec is null || record.Inputs?.Mean is null || record.Inputs.Scale is null || record.Inputs.Mean.Length != record.Spec.Features
                || record.Inputs.Scale.Length != record.Spec.Features || (record.Spec.Output == OutputKind.Regression
                    && (record.Targets?.Mean is null || record.Targets.Scale is null || record.Targets.Mean.Length != record.Spec.Outputs || record.Targets.Scale.Length != record.Spec.Outputs)))
                throw new JsonException("the sizes of the statistics do not match the data's");
            return record;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The checkpoint's '{TrainingRun.DataKey}' entry is not valid: {e.Message}", e);
        }
    }
}
