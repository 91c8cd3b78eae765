using Lru.Checkpoints;
using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Tests.Cli;
using Lru.Tests.Support;

namespace Lru.Tests.Checkpoints;

/// <summary>
/// Whole models of the JAX reference (minimal-LRU) in and out. The fixtures in Fixtures/minimal_lru come from
/// make_minimal_lru_fixtures.py: random float32 parameters in the flattened flax layout, an input, and the
/// log-probabilities of a float64 PyTorch re-implementation of the reference's ClassificationModel inference.
/// </summary>
public class MinimalLruTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "minimal_lru", name);

    /// <summary>Variant, pooling, placement: layer or batch norm, pre or post, mean, last or none.</summary>
    public static TheoryData<string, PoolingMode, NormPlacement> Variants => new()
    {
        { "layer_pre_mean", PoolingMode.Mean, NormPlacement.Pre },
        { "batch_pre_mean", PoolingMode.Mean, NormPlacement.Pre },
        { "layer_post_last", PoolingMode.Last, NormPlacement.Post },
        { "batch_post_none", PoolingMode.None, NormPlacement.Post },
        { "layer_pre_none", PoolingMode.None, NormPlacement.Pre },
        { "batch_pre_last", PoolingMode.Last, NormPlacement.Pre },
    };

    private static double[] Run<T>(SequenceModel<T> model, NpyArray input) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int batch = input.Shape[0], length = input.Shape[1];
        T[] x = input.ToFloat64().Select(T.CreateTruncating).ToArray();
        var y = new T[model.OutputSize(batch, length)];
        model.Forward(x, y, batch, length);
        return y.Select(double.CreateTruncating).ToArray();
    }

    /// <summary>
    /// In float64 the imported model gives the reference's log-probabilities to 1e-9. The reference is float64 too, from
    /// the same float32 parameters, so only rounding separates them (~1e-14); the mistakes the fixtures are built to catch
    /// move the output by 4e-6 (a swapped norm ε) to 8 (a missing term), and exact instead of tanh GELU by ≥ 3e-5.
    /// </summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void ImportedModel_GivesTheReferenceLogProbabilities_InDouble(string variant, PoolingMode pooling, NormPlacement placement)
    {
        var model = MinimalLruFile.Load<double>(Fixture(variant + ".safetensors"), new MinimalLruOptions(pooling, placement));
        var expected = NpyFile.Read(Fixture(variant + ".expected.npy"));
        double[] y = Run(model, NpyFile.Read(Fixture(variant + ".input.npy")));
        Assert.Equal(expected.Length, y.Length);
        double[] e = expected.ToFloat64();
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - e[i]) < 1e-9, $"{variant}[{expected.IndexText(i)}]: {y[i]} vs {e[i]}");
        Assert.Equal(variant.StartsWith("batch", StringComparison.Ordinal) ? NormKind.BatchNorm : NormKind.LayerNorm, model.Config.Block.Norm);
        Assert.False(model.IsTraining);
    }

    /// <summary>The same through the tool, in float32: lru import, then lru forward, within 1e-4 of the reference (float32 rounding gives ≤ 3e-6).</summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void ToolImport_ThenForward_MatchesTheReference(string variant, PoolingMode pooling, NormPlacement placement)
    {
        string dir = Directory.CreateTempSubdirectory("lru-import-").FullName;
        try
        {
            string model = Path.Combine(dir, "m.safetensors"), output = Path.Combine(dir, "y.npy");
            string options = $"--pooling {pooling.ToString().ToLowerInvariant()}{(placement == NormPlacement.Pre ? " --prenorm" : "")}";
            var import = CliRunner.Run($"import --from minimal-lru --params \"{Fixture(variant + ".safetensors")}\" --output \"{model}\" {options}");
            Assert.True(import.ExitCode == 0, import.Error);
            var forward = CliRunner.Run($"forward --checkpoint \"{model}\" --input \"{Fixture(variant + ".input.npy")}\" --output \"{output}\"");
            Assert.True(forward.ExitCode == 0, forward.Error);
            var expected = NpyFile.Read(Fixture(variant + ".expected.npy"));
            var actual = NpyFile.Read(output);
            Assert.Equal(expected.Shape, actual.Shape);
            double[] e = expected.ToFloat64(), a = actual.ToFloat64();
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - e[i]) < 1e-4, $"{variant}[{expected.IndexText(i)}]: {a[i]} vs {e[i]}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TheNpzFile_GivesTheSameModelAsTheSafetensorsFile()
    {
        var options = new MinimalLruOptions(PoolingMode.Mean, NormPlacement.Pre);
        var fromNpz = MinimalLruFile.Load<float>(Fixture("layer_pre_mean.npz"), options).StateDictionary();
        var fromSafetensors = MinimalLruFile.Load<float>(Fixture("layer_pre_mean.safetensors"), options).StateDictionary();
        Assert.Equal(fromSafetensors.Keys.Order(), fromNpz.Keys.Order());
        foreach (var (name, tensor) in fromSafetensors) Assert.Equal(tensor.ToArray(), fromNpz[name].ToArray());
    }

    /// <summary>export(import(file)) is the file's tensors, bit for bit, in both formats; the safetensors copy records the options.</summary>
    [Theory]
    [InlineData("batch_post_none", PoolingMode.None, NormPlacement.Post, ".safetensors")]
    [InlineData("layer_pre_mean", PoolingMode.Mean, NormPlacement.Pre, ".npz")]
    public void ExportOfAnImport_IsTheFileBitForBit(string variant, PoolingMode pooling, NormPlacement placement, string extension)
    {
        var original = SafeTensorsFile.Read(Fixture(variant + ".safetensors"));
        var model = MinimalLruFile.Load<float>(Fixture(variant + ".safetensors"), new MinimalLruOptions(pooling, placement));
        string path = Path.Combine(Path.GetTempPath(), $"lru-export-{Guid.NewGuid():N}{extension}");
        try
        {
            MinimalLruFile.Save(path, model);
            var exported = MinimalLruFile.Export(model);
            Assert.Equal(original.Tensors.Select(t => t.Name).Order(), exported.Select(t => t.Name).Order());
            foreach (var (name, array) in exported)
            {
                Assert.Equal(NpyDType.Float32, array.DType);
                Assert.Equal(original.GetInfo(name).Shape, array.Shape);
                Assert.Equal(original.ReadFloat32(name), array.ToFloat32());
            }
            // Reading the written file back gives the same model; a safetensors file brings its options along.
            var again = MinimalLruFile.Load<float>(path, extension == ".npz" ? new MinimalLruOptions(pooling, placement) : null);
            Assert.Equal(model.Config, again.Config);
            foreach (var (name, tensor) in model.StateDictionary()) Assert.Equal(tensor.ToArray(), again.StateDictionary()[name].ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A model trained here (a few AdamW steps, BatchNorm statistics moved) goes out and comes back bit-exact, outputs included.</summary>
    [Fact]
    public void ImportOfAnExport_IsTheModelBitForBit()
    {
        var block = new LruBlockConfig(new LruConfig(8, 6), NormKind.BatchNorm, NormPlacement.Pre, MinimalLruFile.BatchNormEpsilon, Gelu: GeluApproximation.Tanh, DropoutRate: 0.1);
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 5, 2, block, PoolingMode.Last), seed: 7);
        var x = Compare.Cast<float>(Compare.Random(4 * 9 * 3, 1));
        var y = new float[model.OutputSize(4, 9)];
        var optimizer = new Lru.Training.AdamW<float>(model.NamedParameters(), new Lru.Training.AdamWSettings { LearningRate = 0.05 });
        for (int step = 0; step < 3; step++)
        {
            model.ZeroGradients();
            model.Forward(x, y, 4, 9);
            model.Backward(Compare.Cast<float>(Compare.Random(y.Length, 10 + step)));
            optimizer.Step();
        }
        model.IsTraining = false;
        float[] before = new float[y.Length];
        model.Forward(x, before, 4, 9);

        string path = Path.Combine(Path.GetTempPath(), $"lru-export-{Guid.NewGuid():N}.safetensors");
        try
        {
            MinimalLruFile.Save(path, model);
            var back = MinimalLruFile.Load<float>(path);
            Assert.True(back.Config.LogSoftmax);
            Assert.Equal(model.Config with { LogSoftmax = true, Block = block with { DropoutRate = 0 } }, back.Config);
            foreach (var (name, tensor) in model.StateDictionary()) Assert.Equal(tensor.ToArray(), back.StateDictionary()[name].ToArray());
            float[] after = new float[y.Length];
            back.Forward(x, after, 4, 9);
            // The import ends in log_softmax: its outputs are the logits shifted per row by the log-sum-exp, computed here in double.
            for (int b = 0; b < 4; b++)
            {
                var row = before.AsSpan(b * 5, 5).ToArray();
                double max = row.Max(), lse = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
                for (int j = 0; j < 5; j++) Assert.Equal(row[j] - lse, after[b * 5 + j], 5e-6);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static Dictionary<string, NpyArray> Tensors(string variant)
    {
        var file = SafeTensorsFile.Read(Fixture(variant + ".safetensors"));
        return file.Tensors.ToDictionary(t => t.Name, t => new NpyArray(file.ReadFloat32(t.Name), [.. t.Shape]));
    }

    private static string Refusal(Dictionary<string, NpyArray> tensors) =>
        Assert.Throws<InvalidDataException>(() => MinimalLruFile.Import<float>(tensors, new MinimalLruOptions(), "test.safetensors")).Message;

    [Fact]
    public void Mismatches_AreRefused_NamingTheTensor()
    {
        var missing = Tensors("batch_pre_mean");
        missing.Remove("params/encoder/layers_1/out2/bias");
        Assert.Contains("params/encoder/layers_1/out2/bias is missing", Refusal(missing));

        var missingStats = Tensors("batch_pre_mean");
        missingStats.Remove("batch_stats/encoder/layers_0/normalization/var");
        Assert.Contains("batch_stats/encoder/layers_0/normalization/var is missing", Refusal(missingStats));

        var extra = Tensors("layer_pre_mean");
        extra["params/encoder/layers_0/seq/extra"] = new NpyArray(new float[8], 8);
        Assert.Contains("params/encoder/layers_0/seq/extra is not part of", Refusal(extra));

        var gap = Tensors("layer_pre_mean");
        foreach (string name in gap.Keys.Where(k => k.Contains("layers_1/", StringComparison.Ordinal)).ToList())
        {
            gap[name.Replace("layers_1/", "layers_2/", StringComparison.Ordinal)] = gap[name];
            gap.Remove(name);
        }
        Assert.Contains("layers_2/", Refusal(gap)); // layers 0 and 2 but no 1
        Assert.Contains("1-layer", Refusal(gap));

        var shape = Tensors("layer_pre_mean");
        shape["params/encoder/layers_1/seq/C_re"] = new NpyArray(new float[6 * 8], 6, 8);
        Assert.Contains("params/encoder/layers_1/seq/C_re has shape (6, 8); (8, 6) expected", Refusal(shape));

        var nan = Tensors("layer_pre_mean");
        float[] d = nan["params/encoder/layers_0/seq/D"].ToFloat32();
        d[3] = float.NaN;
        nan["params/encoder/layers_0/seq/D"] = new NpyArray(d, 8);
        Assert.Contains("params/encoder/layers_0/seq/D holds NaN at [3]", Refusal(nan));

        var variance = Tensors("batch_pre_mean");
        float[] v = variance["batch_stats/encoder/layers_1/normalization/var"].ToFloat32();
        v[2] = -0.5f;
        variance["batch_stats/encoder/layers_1/normalization/var"] = new NpyArray(v, 8);
        Assert.Contains("negative variance -0.5 at [2]", Refusal(variance));

        var integer = Tensors("layer_pre_mean");
        integer["params/decoder/bias"] = NpyArray.Create(new long[4], 4);
        Assert.Contains("params/decoder/bias holds int64 values", Refusal(integer));
    }

    [Fact]
    public void ATruncatedFile_IsRefused()
    {
        foreach (string name in new[] { "layer_pre_mean.safetensors", "layer_pre_mean.npz" })
        {
            byte[] bytes = File.ReadAllBytes(Fixture(name));
            string path = Path.Combine(Path.GetTempPath(), $"lru-truncated-{Guid.NewGuid():N}-{name}");
            try
            {
                File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
                Assert.Throws<InvalidDataException>(() => MinimalLruFile.Load<float>(path, new MinimalLruOptions()));
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    [Fact]
    public void AModelMinimalLruCannotExpress_IsRefusedByName()
    {
        var block = new LruBlockConfig(new LruConfig(8, 6), Gelu: GeluApproximation.Tanh, NormEpsilon: MinimalLruFile.LayerNormEpsilon);
        MinimalLruFile.CheckExportable(new SequenceModelConfig(3, 0, 5, 1, block));
        void Refused(SequenceModelConfig config, string fragment) =>
            Assert.Contains(fragment, Assert.Throws<ArgumentException>(() => MinimalLruFile.Export(new SequenceModel<float>(config))).Message);
        Refused(new SequenceModelConfig(3, 0, 5, 1, block with { Gelu = GeluApproximation.None }), "exact GELU");
        Refused(new SequenceModelConfig(3, 0, 5, 1, block with { NormEpsilon = 1e-5 }), "LayerNorm ε = 1E-05");
        Refused(new SequenceModelConfig(3, 0, 5, 1, block with { Mixer = MixerKind.Mlp }), "Mlp mixer");
        Refused(new SequenceModelConfig(0, 7, 5, 1, block), "token ids");
        Refused(new SequenceModelConfig(3, 0, 1, 1, block, Output: OutputKind.Regression), "Regression model");
        Refused(new SequenceModelConfig(3, 0, 5, 1, block with { Lru = block.Lru with { MatrixD = true } }), "matrix D");
    }
}
