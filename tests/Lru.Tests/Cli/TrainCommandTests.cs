using Lru.IO;
using Lru.Training;

namespace Lru.Tests.Cli;

/// <summary>End-to-end runs of the <c>lru</c> tool at small sizes.</summary>
public class TrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lru-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string SmallCopy = "train --task copy --train-count 1024 --test-count 128 --hidden 32 --state 32 --batch 32 --threads 2";

    [Fact]
    public void Train_Copy_EndToEnd_PrintsJsonSummary_AndEvalAgrees()
    {
        string checkpoint = Path.Combine(_dir, "copy.safetensors"), log = Path.Combine(_dir, "log.jsonl");
        var (code, output, error) = CliRunner.Run($"{SmallCopy} --epochs 2 --checkpoint {checkpoint} --log {log} --json");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        var json = CliRunner.LastJson(output);
        Assert.Equal("copy", json.GetProperty("task").GetString());
        Assert.Equal(2, json.GetProperty("epochs").GetInt32());
        Assert.True(json.GetProperty("seconds").GetDouble() > 0);
        double accuracy = json.GetProperty("test_accuracy").GetDouble();
        Assert.InRange(accuracy, 0.5, 1.0);
        Assert.True(json.GetProperty("train_loss").GetDouble() > 0);
        Assert.Equal(2, File.ReadAllLines(log).Length);
        Assert.True(File.Exists(checkpoint));

        var (evalCode, evalOutput, evalError) = CliRunner.Run($"eval --checkpoint {checkpoint} --json");
        Assert.True(evalCode == 0, evalError);
        Assert.Equal(accuracy, CliRunner.LastJson(evalOutput).GetProperty("test_accuracy").GetDouble(), 12);
    }

    [Fact]
    public void Diagnose_WritesGradientNormsLambdaQuantilesAndTheEffectiveMemory_AtTheStartAndAfterEveryEpoch()
    {
        string file = Path.Combine(_dir, "diagnose.jsonl");
        var (code, output, error) = CliRunner.Run(
            $"train --task adding --length 50 --train-count 256 --test-count 32 --hidden 16 --state 16 --batch 32 --epochs 2 --diagnose {file}");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        var lines = File.ReadAllLines(file).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToArray();
        string Kind(System.Text.Json.JsonElement e) => e.GetProperty("kind").GetString()!;

        // |λ| and memory at step 0 and after each epoch (8 steps an epoch).
        var lambda = lines.Where(e => Kind(e) == "lambda").ToArray();
        Assert.Equal([0L, 8, 16], lambda.Select(e => e.GetProperty("step").GetInt64()));
        var block1 = lambda[0].GetProperty("layers").GetProperty("blocks.1.lru");
        Assert.InRange(block1.GetProperty("max").GetDouble(), 0.99, 0.9999); // the adding task's ring
        var memory = lines.Where(e => Kind(e) == "memory").ToArray();
        Assert.Equal(3, memory.Length);
        Assert.Equal([0, 1, 3, 10, 30], memory[0].GetProperty("distances").EnumerateArray().Select(d => d.GetInt32()));
        Assert.All(memory[^1].GetProperty("sensitivity").EnumerateArray(), s => Assert.True(double.IsFinite(s.GetDouble()) && s.GetDouble() >= 0));

        // Gradients at every step here (8 steps an epoch < 25), each with per-block groups.
        var gradients = lines.Where(e => Kind(e) == "gradients").ToArray();
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (long)i), gradients.Select(e => e.GetProperty("step").GetInt64()));
        var groups = gradients[0].GetProperty("groups");
        foreach (string g in new[] { "encoder", "blocks.0", "blocks.1", "decoder" })
            Assert.True(groups.GetProperty(g).GetDouble() > 0, g);
        Assert.True(gradients[0].GetProperty("parameters").GetProperty("blocks.0.lru.nu_log").GetDouble() > 0);
    }

    [Fact]
    public void CtrlC_LeavesAValidCheckpoint_AndResumeEqualsAnUninterruptedRun()
    {
        // Long enough (2 × 2048 steps, about 3 s an epoch) that Ctrl+C, sent at the first progress line (step 204), lands in
        // the first epoch even on a loaded machine; at 2 × 512 steps the first epoch took under a second once training got
        // faster, and a Ctrl+C delayed by other tests sometimes landed in the second.
        const string run = "train --task copy --train-count 65536 --test-count 64 --hidden 16 --state 16 --batch 32 --epochs 2 --dropout 0.1 --threads 2";
        string whole = Path.Combine(_dir, "whole.safetensors"), split = Path.Combine(_dir, "split.safetensors");
        Assert.Equal(0, CliRunner.Run($"{run} --checkpoint {whole}").ExitCode);

        bool sent = false;
        var (code, output, stderr) = CliRunner.Run($"{run} --checkpoint {split}", (process, line) =>
        {
            if (!sent && line.StartsWith("epoch 1/2 step", StringComparison.Ordinal)) { sent = true; CliRunner.Interrupt(process); }
        });
        Assert.True(code == 130, $"exit {code} (expected 130 after Ctrl+C):\n{output}\n{stderr}");
        Assert.Contains("--resume", output);
        var partial = ModelCheckpoint.Load(split);           // valid, loadable
        Assert.NotEmpty(partial.OptimizerState);

        var (resumed, resumeOutput, resumeError) = CliRunner.Run($"train --checkpoint {split} --resume --threads 1");
        Assert.True(resumed == 0, resumeError + resumeOutput);
        Assert.Contains("resuming at epoch 1", resumeOutput);

        var a = SafeTensorsFile.Read(whole);
        var b = SafeTensorsFile.Read(split);
        Assert.Equal(a.Tensors.Select(t => t.Name), b.Tensors.Select(t => t.Name));
        foreach (var t in a.Tensors)
            Assert.True(a.ReadFloat32(t.Name).AsSpan().SequenceEqual(b.ReadFloat32(t.Name)), $"tensor {t.Name} differs after resume");
    }

    [Fact]
    public void ANaNGradient_StopsTheRunWithOneLineNamingTheParameter_AndTheCheckpointStaysIntact()
    {
        // One epoch trains normally; then a copy of its checkpoint gets nu_log = 100 in block 1 (finite, but its
        // gradient is ∞·0 = NaN) and the run is resumed from that copy for a second epoch.
        string good = Path.Combine(_dir, "good.safetensors"), poisoned = Path.Combine(_dir, "poisoned.safetensors");
        var (code, _, error) = CliRunner.Run($"{SmallCopy} --epochs 1 --checkpoint {good}");
        Assert.True(code == 0, error);
        var saved = ModelCheckpoint.Load(good);
        var nuLog = saved.Model.NamedParameters().Single(p => p.Name == "blocks.1.lru.nu_log").Parameter;
        nuLog.Values[0] = 100f;
        var optimizer = new AdamW<float>(saved.Model.NamedParameters(), new AdamWSettings());
        optimizer.LoadState(saved.OptimizerState);
        ModelCheckpoint.Save(poisoned, saved.Model, optimizer, saved.Metadata.Where(m => m.Key is "lru.task" or "lru.training_settings").ToDictionary());
        byte[] before = File.ReadAllBytes(poisoned);

        var (stopped, output, stderr) = CliRunner.Run($"train --checkpoint {poisoned} --resume --epochs 2 --threads 2");
        Assert.True(stopped == 3, $"exit {stopped} (expected 3):\n{output}\n{stderr}");
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("lru: error: gradient of blocks.1.lru.nu_log is NaN (element 0; 1 of ", line, StringComparison.Ordinal);
        Assert.Contains("at epoch 2, step 1 (optimiser step 33); the step was not taken", line);
        Assert.Contains($"{poisoned} is unchanged and holds the run after optimiser step 32", line);
        Assert.Equal(before, File.ReadAllBytes(poisoned));
        var kept = ModelCheckpoint.Load(poisoned); // still passes the integrity check, with the weights it had
        foreach (var ((name, a), (_, b)) in saved.Model.NamedParameters().Zip(kept.Model.NamedParameters()))
            Assert.True(a.Values.AsSpan().SequenceEqual(b.Value), name);

        // With the check off the NaN reaches the weights, and the next step's loss stops the run instead.
        var (unchecked_, _, uncheckedError) = CliRunner.Run($"train --checkpoint {poisoned} --resume --epochs 2 --threads 2 --no-check-finite");
        Assert.Equal(3, unchecked_);
        Assert.Contains("lru: error: training loss is NaN at epoch 2, step 2 (optimiser step 34)", uncheckedError);
        Assert.Equal(before, File.ReadAllBytes(poisoned));
    }

    [Fact]
    public void Direction_Bidirectional_TrainsBidirectionalBlocks_AndTheCheckpointKeepsThem()
    {
        string checkpoint = Path.Combine(_dir, "bi.safetensors");
        var (code, output, error) = CliRunner.Run($"{SmallCopy} --epochs 1 --direction bidirectional --checkpoint {checkpoint} --json");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains("2 bidirectional blocks", output);
        var saved = ModelCheckpoint.Load(checkpoint);
        Assert.All(saved.Model.Blocks, b => Assert.IsType<Lru.Layers.BidirectionalLru<float>>(b.Lru));
        Assert.False(saved.Model.CanStream);

        var (evalCode, evalOutput, evalError) = CliRunner.Run($"eval --checkpoint {checkpoint} --json");
        Assert.True(evalCode == 0, evalError);
        Assert.Equal(CliRunner.LastJson(output).GetProperty("test_accuracy").GetDouble(), CliRunner.LastJson(evalOutput).GetProperty("test_accuracy").GetDouble(), 12);

        var (badCode, _, badError) = CliRunner.Run("train --task copy --direction sideways");
        Assert.NotEqual(0, badCode);
        Assert.Contains("'sideways' not recognized", badError);
        Assert.Contains("bidirectional", badError);
    }

    [Fact]
    public void ListOps_BucketsItsBatchesByLength_AndTheCheckpointKeepsTheSetting()
    {
        string checkpoint = Path.Combine(_dir, "listops.safetensors");
        const string small = "train --task listops --train-count 256 --test-count 64 --length 64 --layers 1 --hidden 8 --state 8 --epochs 1 --threads 2";
        var (code, output, error) = CliRunner.Run($"{small} --checkpoint {checkpoint} --json");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains("batches bucketed by length", output);
        Assert.Contains("\"BucketByLength\":true", ModelCheckpoint.Load(checkpoint).Metadata["lru.training_settings"], StringComparison.Ordinal);
        var (evalCode, evalOutput, evalError) = CliRunner.Run($"eval --checkpoint {checkpoint} --json"); // by length, as training evaluated
        Assert.True(evalCode == 0, evalError);
        Assert.Equal(CliRunner.LastJson(output).GetProperty("test_accuracy").GetDouble(), CliRunner.LastJson(evalOutput).GetProperty("test_accuracy").GetDouble(), 12);

        var (shuffledCode, shuffledOutput, shuffledError) = CliRunner.Run($"{small} --batching shuffled --json");
        Assert.True(shuffledCode == 0, shuffledError);
        Assert.DoesNotContain("bucketed", shuffledOutput);

        var (badCode, _, badError) = CliRunner.Run("train --task listops --batching sorted");
        Assert.NotEqual(0, badCode);
        Assert.Contains("'sorted' not recognized", badError);
    }

    [Theory]
    [InlineData("train --task nope", "Unknown task 'nope'")]
    [InlineData("train --task copy --threads 0", "--threads must be at least 1")]
    [InlineData("train --task copy --epochs 0", "--epochs: Epochs must be at least 1; got 0.")]
    [InlineData("train --task copy --batch 0", "--batch: BatchSize must be at least 1; got 0.")]
    [InlineData("train --task copy --lr -1", "--lr: LearningRate must be finite and at least 0; got -1.")]
    [InlineData("train --task copy --dropout 1", "--dropout: DropoutRate must be in [0, 1); got 1.")]
    [InlineData("train --task copy --r-max 0.5 --r-min 0.6", "--r-max: r_max must satisfy r_min (0.6) < r_max < 1; got 0.5.")]
    [InlineData("train --task copy --train-count 0", "--train-count: TrainCount must be at least 1 for a generated task; got 0.")]
    [InlineData("train --task adding --length 1", "--length: Length must be at least 2 for this task; got 1.")]
    [InlineData("train --task copy --checkpoint /nonexistent/dir/x.safetensors", "--checkpoint /nonexistent/dir/x.safetensors: the directory /nonexistent/dir does not exist.")]
    [InlineData("train --resume", "--resume needs --checkpoint")]
    [InlineData("eval --checkpoint /nonexistent/x.safetensors", "does not exist")]
    [InlineData("bench --batch 0", "--batch and --length must be at least 1")]
    public void BadArguments_GiveOneClearLine_AndANonZeroExit(string arguments, string message)
    {
        var (code, _, error) = CliRunner.Run(arguments);
        Assert.NotEqual(0, code);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)); // one line, so no stack trace either
    }

    [Fact]
    public void BadSetting_WithACheckpointPath_WritesNoCheckpoint()
    {
        string checkpoint = Path.Combine(_dir, "run.safetensors"), log = Path.Combine(_dir, "run.jsonl");
        var (code, _, error) = CliRunner.Run($"{SmallCopy} --weight-decay NaN --checkpoint {checkpoint} --log {log}");
        Assert.NotEqual(0, code);
        Assert.Contains("--weight-decay: WeightDecay must be finite and at least 0; got NaN.", error);
        Assert.False(File.Exists(checkpoint));
        Assert.False(File.Exists(log));
        Assert.Empty(Directory.GetFiles(_dir)); // no temporary file either
    }

    [Fact]
    public void Eval_OfACorruptCheckpoint_GivesOneLine_WithoutAStackTrace()
    {
        string path = Path.Combine(_dir, "corrupt.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var (code, _, error) = CliRunner.Run($"eval --checkpoint {path}");
        Assert.NotEqual(0, code);
        Assert.Contains($"safetensors file '{path}' is truncated", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void FashionMnist_WithoutData_SaysHowToGetIt()
    {
        var (code, _, error) = CliRunner.Run($"train --task fashion-mnist --data {_dir}");
        Assert.NotEqual(0, code);
        Assert.Contains("dataset-fashion-mnist", error);
    }

    [Fact]
    public void Bench_Json_HasTheDocumentedFields()
    {
        var (code, output, error) = CliRunner.Run("bench --mode train --batch 2 --length 64 --hidden 16 --state 16 --seconds 0.1 --json");
        Assert.True(code == 0, error);
        var json = CliRunner.LastJson(output);
        foreach (string field in new[] { "mode", "batch", "length", "hidden", "state", "threads", "scan", "lru_tokens_per_s", "naive_rnn_tokens_per_s", "block_tokens_per_s" })
            Assert.True(json.TryGetProperty(field, out _), $"missing {field}");
        Assert.True(json.GetProperty("lru_tokens_per_s").GetDouble() > 0);
    }

    /// <summary>
    /// Every bench mode's JSON carries gflops and peak_fraction beside its rate, the fraction being gflops over the FMA
    /// peak measured in the same process; the peak mode reports the machine's bounds, and the model mode times a whole
    /// training step. Nothing here asserts a speed (the suite runs tests in parallel).
    /// </summary>
    [Fact]
    public void Bench_EveryMode_ReportsGflopsAndItsFractionOfTheMeasuredPeak()
    {
        foreach (string arguments in new[]
        {
            "bench --mode forward --batch 2 --length 64 --hidden 16 --state 16 --seconds 0 --no-naive",
            "bench --mode train --batch 2 --length 64 --hidden 16 --state 16 --seconds 0 --no-naive",
            "bench --mode gemm --m 64 --n 64 --k 64 --seconds 0",
            "bench --mode model --batch 2 --length 32 --hidden 16 --state 16 --layers 1 --seconds 0",
            "bench --mode step --batch 1 --hidden 16 --state 16 --seconds 0",
            "bench --mode scan --batch 1 --length 256 --state 16 --seconds 0",
            "bench --mode peak --seconds 0 --threads 2",
        })
        {
            var (code, output, error) = CliRunner.Run(arguments + " --json");
            Assert.True(code == 0, $"{arguments}: {error}");
            var json = CliRunner.LastJson(output);
            double gflops = json.GetProperty("gflops").GetDouble(), fraction = json.GetProperty("peak_fraction").GetDouble();
            Assert.True(gflops > 0 && fraction > 0, $"{arguments}: gflops {gflops}, peak_fraction {fraction}");
            // The fraction is the rate over the peak of the same process (rounded: gflops to 0.01, the fraction to 1e-4).
            if (json.TryGetProperty("peak_gflops", out var peakGflops))
                Assert.Equal(gflops / peakGflops.GetDouble(), fraction, 1e-4 + 0.01 / peakGflops.GetDouble() + fraction * 0.06 / peakGflops.GetDouble());
        }
        var peak = CliRunner.LastJson(CliRunner.Run("bench --mode peak --seconds 0 --threads 2 --json").Output);
        foreach (string field in new[] { "fma_gflops", "fma_gflops_1_thread", "memory_copy_gbytes_per_s", "memory_triad_gbytes_per_s", "l2_read_gbytes_per_s" })
            Assert.True(peak.GetProperty(field).GetDouble() > 0, field);
        var model = CliRunner.LastJson(CliRunner.Run("bench --mode model --batch 2 --length 32 --hidden 16 --state 16 --layers 1 --seconds 0 --json").Output);
        Assert.True(model.GetProperty("model_tokens_per_s").GetDouble() > 0 && model.GetProperty("eval_tokens_per_s").GetDouble() > 0);
    }

    [Fact]
    public void BenchStep_ReportsLayerAndModelStepLatency()
    {
        var (code, output, error) = CliRunner.Run("bench --mode step --batch 1 --hidden 16 --state 16 --seconds 0.05 --json");
        Assert.True(code == 0, error);
        var json = CliRunner.LastJson(output);
        Assert.True(json.GetProperty("step_us").GetDouble() > 0);
        Assert.True(json.GetProperty("model_step_us").GetDouble() > 0);
    }
}
