using Lru.Checkpoints;
using Lru.IO;

namespace Lru.Tests.Cli;

/// <summary>
/// <c>lru train --inputs … --targets …</c> and <c>lru predict</c> end to end, on small data sets written as numpy writes
/// them (int64 labels, float64 or uint8 inputs), with rules simple enough to learn in seconds.
/// </summary>
public class UserDataCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lru-data-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, NpyArray array)
    {
        string path = Path.Combine(_dir, name + ".npy");
        NpyFile.Write(path, array);
        return path;
    }

    /// <summary>(N, L, 3) normal inputs; the class is the feature with the largest sum over the sequence (3 classes).</summary>
    private (NpyArray X, NpyArray Y) ArgmaxOfSums(int n, int l, int seed)
    {
        var random = new Random(seed);
        var x = new double[n * l * 3];
        var y = new long[n];
        for (int i = 0; i < n; i++)
        {
            var sums = new double[3];
            for (int t = 0; t < l; t++)
                for (int f = 0; f < 3; f++)
                    sums[f] += x[(i * l + t) * 3 + f] = 10 + 3 * NextNormal(random); // far from 0: standardisation matters
            y[i] = Array.IndexOf(sums, sums.Max());
        }
        return (new NpyArray(x, n, l, 3), NpyArray.Create(y, n));
    }

    private static double NextNormal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static System.Text.Json.JsonElement Ok((int ExitCode, string Output, string Error) run)
    {
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}\n{run.Output}");
        return CliRunner.LastJson(run.Output);
    }

    [Fact]
    public void Classification_TrainsFromNumpyArrays_AndPredictAgreesWithTheReportedAccuracy()
    {
        var (x, y) = ArgmaxOfSums(600, 10, 1);
        var (tx, ty) = ArgmaxOfSums(200, 10, 2);
        string checkpoint = Path.Combine(_dir, "m.safetensors");
        var json = Ok(CliRunner.Run($"train --inputs {Write("x", x)} --targets {Write("y", y)} --test-inputs {Write("tx", tx)} --test-targets {Write("ty", ty)} "
            + $"--epochs 6 --threads 2 --checkpoint {checkpoint} --json", timeoutSeconds: 300));
        Assert.Equal("user-data", json.GetProperty("task").GetString());
        Assert.Equal(6, json.GetProperty("epochs").GetInt32());
        Assert.True(json.GetProperty("seconds").GetDouble() > 0);
        Assert.True(json.GetProperty("train_loss").GetDouble() > 0);
        Assert.Equal(3, json.GetProperty("classes").GetInt32());
        double accuracy = json.GetProperty("test_accuracy").GetDouble(), baseline = json.GetProperty("baseline_accuracy").GetDouble();
        Assert.InRange(baseline, 0.2, 0.5);   // three balanced classes
        Assert.True(accuracy >= 0.85, $"test accuracy {accuracy} (baseline {baseline})");
        int best = json.GetProperty("best_epoch").GetInt32();
        Assert.Equal(json.GetProperty("epoch_validation").EnumerateArray().Select(e => e.GetDouble()).Max(),
            json.GetProperty("epoch_validation")[best - 1].GetDouble());

        // predict applies the training standardisation: its class ids score exactly the reported accuracy.
        string probabilities = Path.Combine(_dir, "p.npy"), classes = Path.Combine(_dir, "c.npy");
        Assert.Equal(0, CliRunner.Run($"predict --checkpoint {checkpoint} --input {Path.Combine(_dir, "tx.npy")} --output {probabilities}").ExitCode);
        Assert.Equal(0, CliRunner.Run($"predict --checkpoint {checkpoint} --input {Path.Combine(_dir, "tx.npy")} --output {classes} --classes").ExitCode);
        var p = NpyFile.Read(probabilities);
        var c = NpyFile.Read(classes);
        Assert.Equal([200, 3], p.Shape);
        Assert.Equal(NpyDType.Int64, c.DType);
        float[] pv = p.ToFloat32();
        long[] cv = c.ToInt64(), truth = ty.ToInt64();
        for (int i = 0; i < 200; i++)
        {
            var row = pv.AsSpan(i * 3, 3);
            Assert.Equal(1.0, row[0] + row[1] + row[2], 5);
            Assert.Equal(System.Numerics.Tensors.TensorPrimitives.IndexOfMax<float>(row), cv[i]);
        }
        Assert.Equal(accuracy, cv.Zip(truth).Count(z => z.First == z.Second) / 200.0, 12);
    }

    /// <summary>
    /// Regression per sequence of padded sequences: the target is the mean of the valid steps (the padding holds NaN, to
    /// show it is never read). The reported MSE is in the targets' units, and equals the MSE of lru predict's values.
    /// </summary>
    [Fact]
    public void Regression_WithLengths_ReportsMseInTheTargetsUnits_AsPredictGivesThem()
    {
        (NpyArray X, NpyArray Y, NpyArray Lengths) Make(int n, int seed)
        {
            var random = new Random(seed);
            const int l = 12;
            var x = new float[n * l];
            var y = new float[n];
            var lengths = new long[n];
            for (int i = 0; i < n; i++)
            {
                int valid = random.Next(3, l + 1);
                lengths[i] = valid;
                double sum = 0;
                for (int t = 0; t < l; t++)
                {
                    float v = t < valid ? (float)(100 + 20 * NextNormal(random)) : float.NaN;
                    x[i * l + t] = v;
                    if (t < valid) sum += v;
                }
                y[i] = (float)(sum / valid);
            }
            return (new NpyArray(x, n, l), new NpyArray(y, n), NpyArray.Create(lengths, n));
        }
        var (x, y, lengths) = Make(800, 3);
        var (tx, ty, tl) = Make(200, 4);
        string checkpoint = Path.Combine(_dir, "r.safetensors");
        var json = Ok(CliRunner.Run($"train --inputs {Write("x", x)} --targets {Write("y", y)} --lengths {Write("l", lengths)} --test-inputs {Write("tx", tx)} "
            + $"--test-targets {Write("ty", ty)} --test-lengths {Write("tl", tl)} --epochs 6 --threads 2 --checkpoint {checkpoint} --json", timeoutSeconds: 300));
        double mse = json.GetProperty("test_mse").GetDouble(), baseline = json.GetProperty("baseline_mse").GetDouble();
        Assert.True(baseline > 20, $"baseline {baseline}"); // the mean of 3 to 12 values of spread 20 varies by ~8
        Assert.True(mse < baseline / 5, $"test mse {mse} against the mean predictor's {baseline}");

        string predicted = Path.Combine(_dir, "py.npy");
        Assert.Equal(0, CliRunner.Run($"predict --checkpoint {checkpoint} --input {Path.Combine(_dir, "tx.npy")} --lengths {Path.Combine(_dir, "tl.npy")} --output {predicted}").ExitCode);
        var values = NpyFile.Read(predicted);
        Assert.Equal([200, 1], values.Shape);
        double ownMse = values.ToFloat64().Zip(ty.ToFloat64()).Average(z => (z.First - z.Second) * (z.First - z.Second));
        Assert.Equal(mse, ownMse, mse * 1e-4);
    }

    /// <summary>A label per step, (N, L) uint8: is the input above its sequence's running start? Padding is −1 in the class ids.</summary>
    [Fact]
    public void PerStepClassification_PredictsEveryValidStep()
    {
        var random = new Random(5);
        const int n = 300, l = 8;
        var x = new double[n * l];
        var y = new byte[n * l];
        var lengths = new long[n];
        for (int i = 0; i < n; i++)
        {
            lengths[i] = random.Next(2, l + 1);
            for (int t = 0; t < l; t++)
            {
                x[i * l + t] = NextNormal(random);
                y[i * l + t] = (byte)(x[i * l + t] > 0 ? 1 : 0);
            }
        }
        string checkpoint = Path.Combine(_dir, "s.safetensors"), xs = Write("x", new NpyArray(x, n, l, 1)), ls = Write("l", NpyArray.Create(lengths, n));
        var json = Ok(CliRunner.Run($"train --inputs {xs} --targets {Write("y", NpyArray.Create(y, n, l))} --lengths {ls} --epochs 4 --threads 2 --checkpoint {checkpoint} --json", timeoutSeconds: 300));
        Assert.True(json.GetProperty("test_accuracy").GetDouble() > 0.9, json.ToString());
        string classes = Path.Combine(_dir, "c.npy");
        Assert.Equal(0, CliRunner.Run($"predict --checkpoint {checkpoint} --input {xs} --lengths {ls} --output {classes} --classes").ExitCode);
        var c = NpyFile.Read(classes);
        Assert.Equal([n, l], c.Shape);
        long[] ids = c.ToInt64();
        for (int i = 0; i < n; i++)
            for (int t = 0; t < l; t++)
                Assert.True(t < lengths[i] ? ids[i * l + t] is 0 or 1 : ids[i * l + t] == -1, $"[{i}, {t}] = {ids[i * l + t]} with length {lengths[i]}");
    }

    /// <summary>
    /// The best validation epoch is restored: with a learning rate high enough that validation accuracy falls after its
    /// peak (deterministic: seeded, and thread-count independent), the figure reported on the validation split is exactly
    /// that epoch's, not the last one's, and the checkpoint predicts it.
    /// </summary>
    [Fact]
    public void TheBestValidationEpoch_IsRestored_ReportedAndSaved()
    {
        var (x, y) = ArgmaxOfSums(600, 10, 1);
        string checkpoint = Path.Combine(_dir, "best.safetensors");
        var json = Ok(CliRunner.Run($"train --inputs {Write("x", x)} --targets {Write("y", y)} --epochs 6 --lr 0.05 --threads 2 --checkpoint {checkpoint} --json", timeoutSeconds: 300));
        Assert.Equal("validation", json.GetProperty("reported_on").GetString());
        double[] epochs = json.GetProperty("epoch_validation").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        int best = json.GetProperty("best_epoch").GetInt32();
        Assert.True(best < epochs.Length && epochs[^1] < epochs[best - 1], $"the run must peak before its end to test the restore: [{string.Join(", ", epochs)}], best {best}");
        Assert.Equal(epochs[best - 1], json.GetProperty("test_accuracy").GetDouble(), 12);
        var saved = ModelCheckpoint.Load(checkpoint);
        Assert.Contains($"\"BestEpoch\":{best}", saved.Metadata["lru.data"], StringComparison.Ordinal);
    }

    /// <summary>
    /// A value per step, (N, L, 1): y_t = x_t + x_{t−1} (x_{−1} = 0), padded, no validation split, a test set; the
    /// prediction is NaN at padded steps and the reported MSE is lru predict's.
    /// </summary>
    [Fact]
    public void PerStepRegression_WithoutAValidationSplit_PredictsInTheTargetsUnits()
    {
        (NpyArray X, NpyArray Y, NpyArray Lengths) Make(int n, int seed)
        {
            var random = new Random(seed);
            const int l = 10;
            var x = new float[n * l];
            var y = new float[n * l];
            var lengths = new long[n];
            for (int i = 0; i < n; i++)
            {
                lengths[i] = random.Next(3, l + 1);
                for (int t = 0; t < l; t++)
                {
                    x[i * l + t] = (float)NextNormal(random);
                    y[i * l + t] = 5 * (x[i * l + t] + (t > 0 ? x[i * l + t - 1] : 0)) + 50;
                }
            }
            return (new NpyArray(x, n, l, 1), new NpyArray(y, n, l, 1), NpyArray.Create(lengths, n));
        }
        var (x, y, lengths) = Make(400, 6);
        var (tx, ty, tl) = Make(100, 7);
        string checkpoint = Path.Combine(_dir, "ps.safetensors");
        var json = Ok(CliRunner.Run($"train --inputs {Write("x", x)} --targets {Write("y", y)} --lengths {Write("l", lengths)} --test-inputs {Write("tx", tx)} "
            + $"--test-targets {Write("ty", ty)} --test-lengths {Write("tl", tl)} --validation-split 0 --epochs 5 --threads 2 --checkpoint {checkpoint} --json", timeoutSeconds: 300));
        Assert.Equal("test", json.GetProperty("reported_on").GetString());
        Assert.False(json.TryGetProperty("best_epoch", out _));
        double mse = json.GetProperty("test_mse").GetDouble(), baseline = json.GetProperty("baseline_mse").GetDouble();
        Assert.True(mse < baseline / 10, $"test mse {mse}, mean predictor {baseline}");

        string predicted = Path.Combine(_dir, "p.npy");
        Assert.Equal(0, CliRunner.Run($"predict --checkpoint {checkpoint} --input {Path.Combine(_dir, "tx.npy")} --lengths {Path.Combine(_dir, "tl.npy")} --output {predicted}").ExitCode);
        var p = NpyFile.Read(predicted);
        Assert.Equal([100, 10, 1], p.Shape);
        float[] pv = p.ToFloat32(), tv = ty.ToFloat32();
        long[] lv = tl.ToInt64();
        double sum = 0;
        int count = 0;
        for (int i = 0; i < 100; i++)
            for (int t = 0; t < 10; t++)
            {
                if (t >= lv[i]) { Assert.True(float.IsNaN(pv[i * 10 + t])); continue; }
                sum += (pv[i * 10 + t] - tv[i * 10 + t]) * (double)(pv[i * 10 + t] - tv[i * 10 + t]);
                count++;
            }
        Assert.Equal(mse, sum / count, mse * 1e-4);
        var refused = CliRunner.Run($"predict --checkpoint {checkpoint} --input {Path.Combine(_dir, "tx.npy")} --output {predicted} --classes");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("is a regression model", refused.Error);
    }

    /// <summary>
    /// A classification model trained on your data exports to minimal-LRU and comes back giving the log of the
    /// probabilities lru predict gives (standardisation applied by hand, since the JAX side never sees it); --pooling last.
    /// </summary>
    [Fact]
    public void AModelTrainedOnYourData_ExportsToMinimalLru()
    {
        var (x, y) = ArgmaxOfSums(300, 8, 3);
        string checkpoint = Path.Combine(_dir, "e.safetensors"), exported = Path.Combine(_dir, "jax.safetensors"), back = Path.Combine(_dir, "back.safetensors");
        Ok(CliRunner.Run($"train --inputs {Write("x", x)} --targets {Write("y", y)} --pooling last --norm batch --epochs 2 --threads 2 --checkpoint {checkpoint} --json", timeoutSeconds: 300));
        var export = CliRunner.Run($"export --to minimal-lru --checkpoint {checkpoint} --output {exported}");
        Assert.True(export.ExitCode == 0, export.Error);
        Assert.Contains("pooling last and prenorm=True", export.Output);
        var import = CliRunner.Run($"import --from minimal-lru --params {exported} --output {back}");
        Assert.True(import.ExitCode == 0, import.Error);
        Assert.Contains("BatchNorm (pre-norm), last pooling", import.Output);
        var original = ModelCheckpoint.Load(checkpoint);
        var reimported = ModelCheckpoint.Load(back).Model;
        foreach (var (name, tensor) in original.Model.StateDictionary()) Assert.Equal(tensor.ToArray(), reimported.StateDictionary()[name].ToArray());
    }

    [Theory]
    [InlineData("train --task copy --lengths l.npy", "--lengths is for your own data")]
    [InlineData("train --task copy --validation-split 0.2", "--validation-split is for your own data")]
    [InlineData("train --inputs x.npy --targets y.npy --task copy", "either --task or --inputs")]
    [InlineData("train --inputs x.npy", "--inputs needs --targets")]
    [InlineData("train --inputs x.npy --targets y.npy --resume --checkpoint c.safetensors", "--resume continues built-in tasks only")]
    public void OptionsThatDoNotGoTogether_AreRefused(string arguments, string fragment)
    {
        var (x, y) = ArgmaxOfSums(10, 4, 1);
        Write("x", x);
        Write("y", y);
        var (code, _, error) = CliRunner.Run(arguments.Replace("x.npy", Path.Combine(_dir, "x.npy")).Replace("y.npy", Path.Combine(_dir, "y.npy"))
            .Replace("c.safetensors", Path.Combine(_dir, "c.safetensors")).Replace("l.npy", Path.Combine(_dir, "l.npy")));
        Assert.Equal(2, code);
        Assert.Contains(fragment, error);
    }

    public static TheoryData<string, string> BadData => new()
    {
        { "nan", "holds NaN at [1, 2, 0]" },
        { "not-integers", "2.5 at [3] is not a whole number" },
        { "test-label", "the label 5 at [0]; labels must be in [0, 2]" },
        { "rows", "has shape (9) but" },
        { "length-0", "[2] is 0; every length must be in [1, 10]" },
        { "length-too-long", "is 11; every length must be in [1, 10]" },
        { "empty-train", "leaves the training split empty" },
    };

    /// <summary>Every kind of bad data: exit code 2, one line on stderr naming the problem, and no checkpoint written.</summary>
    [Theory]
    [MemberData(nameof(BadData))]
    public void BadData_GetsOneClearLine_AndNoOutput(string kind, string fragment)
    {
        var (x, y) = ArgmaxOfSums(10, 10, 1);
        double[] xv = x.ToFloat64();
        NpyArray targets = y, inputs = x;
        string extra = "";
        switch (kind)
        {
            case "nan": xv[(1 * 10 + 2) * 3] = double.NaN; inputs = new NpyArray(xv, 10, 10, 3); break;
            case "not-integers": targets = new NpyArray([0, 1, 2, 2.5, 0, 1, 2, 0, 1, 2], 10); extra = "--objective classification"; break;
            case "test-label":
                extra = $"--test-inputs {Write("tx", x)} --test-targets {Write("ty", NpyArray.Create(new long[] { 5, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 10))}";
                targets = NpyArray.Create(Enumerable.Range(0, 10).Select(i => (long)(i % 3)).ToArray(), 10);
                break;
            case "rows": targets = NpyArray.Create(new long[9], 9); break;
            case "length-0": extra = $"--lengths {Write("l", NpyArray.Create(new long[] { 10, 10, 0, 10, 10, 10, 10, 10, 10, 10 }, 10))}"; break;
            case "length-too-long": extra = $"--lengths {Write("l", NpyArray.Create(new long[] { 10, 10, 11, 10, 10, 10, 10, 10, 10, 10 }, 10))}"; break;
            case "empty-train": extra = "--validation-split 0.99"; break;
        }
        string checkpoint = Path.Combine(_dir, "never.safetensors");
        var (code, output, error) = CliRunner.Run($"train --inputs {Write("x", inputs)} --targets {Write("y", targets)} {extra} --epochs 1 --checkpoint {checkpoint}");
        Assert.True(code == 2, $"exit {code}: {error}\n{output}");
        string line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("lru: error: ", line);
        Assert.Contains(fragment, line);
        Assert.False(File.Exists(checkpoint));
    }

    [Fact]
    public void TheToolCallsItselfLru()
    {
        var (code, output, _) = CliRunner.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("lru [command] [options]", output);
        Assert.DoesNotContain("Lru.Cli", output);
        var train = CliRunner.Run("train --help");
        Assert.Contains("lru train [options]", train.Output);
        Assert.Contains("--inputs", train.Output);
    }
}
