using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Tests.IO;
using Lru.Training;

namespace Lru.Tests.Checkpoints;

public class ModelCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lru-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void SaveThenLoad_IsBitExact_ForParametersBuffersOptimizerAndConfig()
    {
        var config = new SequenceModelConfig(3, 0, 4, 2, new LruBlockConfig(new LruConfig(8, 6), Norm: NormKind.BatchNorm, Mixer: MixerKind.Mlp, Bidirectional: true,
            Combine: BidirectionalCombine.ConcatProject), PoolingMode.Last);
        var model = new SequenceModel<float>(config, seed: 3);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings());
        var random = new Lru.Tensors.SeededRandom(1);
        float[] x = Enumerable.Range(0, 2 * 5 * 3).Select(_ => (float)random.NextNormal()).ToArray();
        float[] y = new float[model.OutputSize(2, 5)], g = y.Select((_, i) => (float)Math.Sin(i)).ToArray();
        model.Forward(x, y, 2, 5); // moves BatchNorm statistics
        model.Backward(g);
        optimizer.Step();

        string path = Path.Combine(_dir, "m.safetensors");
        ModelCheckpoint.Save(path, model, optimizer, new Dictionary<string, string> { ["note"] = "hello" });
        var loaded = ModelCheckpoint.Load(path);

        Assert.Equal(config, loaded.Model.Config with { Block = loaded.Model.Config.Block });
        Assert.Equal(config.Block, loaded.Model.Config.Block);
        Assert.Equal("hello", loaded.Metadata["note"]);
        var expected = model.NamedParameters().ToArray();
        var actual = loaded.Model.NamedParameters().ToArray();
        Assert.Equal(expected.Select(p => p.Name), actual.Select(p => p.Name));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i].Parameter.Values.AsSpan().SequenceEqual(actual[i].Parameter.Values), expected[i].Name);
        foreach (var ((name, a), (_, b)) in model.NamedBuffers().Zip(loaded.Model.NamedBuffers()))
            Assert.True(a.AsSpan().SequenceEqual(b), name);
        var state = optimizer.State().ToArray();
        Assert.Equal(state.Select(s => s.Name), loaded.OptimizerState.Select(s => s.Name));
        for (int i = 0; i < state.Length; i++) Assert.True(state[i].Values.AsSpan().SequenceEqual(loaded.OptimizerState[i].Values), state[i].Name);

        // Same outputs from the loaded model.
        model.IsTraining = loaded.Model.IsTraining = false;
        float[] y1 = new float[y.Length], y2 = new float[y.Length];
        model.Forward(x, y1, 2, 5);
        loaded.Model.Forward(x, y2, 2, 5);
        Assert.Equal(y1, y2);
    }

    [Fact]
    public void ForeignOrDamagedFiles_AreRefused()
    {
        string path = Path.Combine(_dir, "other.safetensors");
        SafeTensorsWriter.Write(path, [new SafeTensorData("w", new float[] { 1, 2 }, 2)]);
        Assert.Contains("not an LRU.NET model checkpoint", Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(path)).Message);

        var model = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 1, new LruBlockConfig(new LruConfig(4, 4))));
        string good = Path.Combine(_dir, "good.safetensors");
        ModelCheckpoint.Save(good, model);
        byte[] bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(path, bytes[..^3]);
        Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(path));
        Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.Load(Path.Combine(_dir, "missing.safetensors")));
    }

    private string SaveSmall(string name, out SequenceModel<float> model)
    {
        model = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 2, new LruBlockConfig(new LruConfig(8, 6))), seed: 5);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings());
        string path = Path.Combine(_dir, name);
        ModelCheckpoint.Save(path, model, optimizer);
        return path;
    }

    /// <summary>The data section as Python sees it: <c>data[8 + n:]</c>.</summary>
    private static byte[] DataSection(byte[] file) => file[(8 + (int)BitConverter.ToUInt64(file, 0))..];

    [Fact]
    public void Save_RecordsTheDataSectionsSizeAndSha256()
    {
        string path = SaveSmall("m.safetensors", out _);
        byte[] data = DataSection(File.ReadAllBytes(path));
        var metadata = SafeTensorsFile.Read(path).Metadata;
        Assert.Equal(data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), metadata[ModelCheckpoint.DataBytesKey]);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data)), metadata[ModelCheckpoint.DataSha256Key]);
        Assert.Equal(metadata[ModelCheckpoint.DataSha256Key], ModelCheckpoint.Load(path).Metadata[ModelCheckpoint.DataSha256Key]); // and it verifies

        var model = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 1, new LruBlockConfig(new LruConfig(4, 4))));
        var e = Assert.Throws<ArgumentException>(() => ModelCheckpoint.Save(path, model, null, new Dictionary<string, string> { [ModelCheckpoint.DataSha256Key] = "x" }));
        Assert.Contains(ModelCheckpoint.DataSha256Key, e.Message);
    }

    [Fact]
    public void AFlippedBitInTheData_IsRefused_NamingTheFileAndBothDigests()
    {
        string path = SaveSmall("m.safetensors", out _);
        byte[] bytes = File.ReadAllBytes(path);
        int dataStart = 8 + (int)BitConverter.ToUInt64(bytes, 0);
        bytes[dataStart + (bytes.Length - dataStart) / 2] ^= 0x01; // the lowest mantissa bit of some value
        string damaged = Path.Combine(_dir, "damaged.safetensors");
        File.WriteAllBytes(damaged, bytes);

        SafeTensorsFile.Read(damaged); // still a well-formed safetensors file: only the checksum can tell
        string expected = SafeTensorsFile.Read(path).Metadata[ModelCheckpoint.DataSha256Key];
        string actual = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(DataSection(bytes)));
        var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(damaged));
        Assert.Contains(damaged, e.Message);
        Assert.Contains($"SHA-256 is {actual}", e.Message);
        Assert.Contains($"records {expected}", e.Message);
    }

    [Fact]
    public void AWrongRecordedSize_OrOnlyOneOfTheTwoKeys_IsRefused()
    {
        string path = SaveSmall("m.safetensors", out _);
        var file = SafeTensorsFile.Read(path);
        string bytes = file.Metadata[ModelCheckpoint.DataBytesKey];

        string Rewrite(string name, Func<Dictionary<string, string>, Dictionary<string, string>> edit)
        {
            var metadata = edit(new Dictionary<string, string>(file.Metadata));
            string target = Path.Combine(_dir, name);
            SafeTensorsWriter.Write(target, file.Tensors.Select(t => new SafeTensorData(t.Name, file.ReadFloat32(t.Name), [.. t.Shape])), metadata);
            return target;
        }

        string wrongSize = Rewrite("size.safetensors", m => { m[ModelCheckpoint.DataBytesKey] = "12"; return m; });
        IoAssert.Refused(() => ModelCheckpoint.Load(wrongSize), wrongSize, $"has {bytes} bytes", "records 12");

        string garbage = Rewrite("garbage.safetensors", m => { m[ModelCheckpoint.DataBytesKey] = "-3"; return m; });
        IoAssert.Refused(() => ModelCheckpoint.Load(garbage), garbage, "non-negative decimal integer", "'-3'");

        string onlySize = Rewrite("only.safetensors", m => { m.Remove(ModelCheckpoint.DataSha256Key); return m; });
        IoAssert.Refused(() => ModelCheckpoint.Load(onlySize), onlySize, $"has '{ModelCheckpoint.DataBytesKey}' but not '{ModelCheckpoint.DataSha256Key}'");
    }

    [Fact]
    public void FilesWithoutTheChecksum_LoadAsBefore()
    {
        // As a Python tool writes them: the same tensors and LRU.NET's keys, but no size or digest.
        string path = SaveSmall("m.safetensors", out var model);
        var file = SafeTensorsFile.Read(path);
        var metadata = file.Metadata.Where(p => p.Key is not ModelCheckpoint.DataBytesKey and not ModelCheckpoint.DataSha256Key)
            .ToDictionary(p => p.Key, p => p.Value);
        string python = Path.Combine(_dir, "python.safetensors");
        SafeTensorsWriter.Write(python, file.Tensors.Reverse().Select(t => new SafeTensorData(t.Name, file.ReadFloat32(t.Name), [.. t.Shape])), metadata);

        var loaded = ModelCheckpoint.Load(python);
        Assert.False(loaded.Metadata.ContainsKey(ModelCheckpoint.DataSha256Key));
        foreach (var ((name, a), (_, b)) in model.NamedParameters().Zip(loaded.Model.NamedParameters()))
            Assert.True(a.Values.AsSpan().SequenceEqual(b.Value), name);
    }

    [Fact]
    public void LoadInto_RefusesASequenceModelOfAnotherConfiguration_ThatNamesAndShapesCannotTell()
    {
        var block = new LruBlockConfig(new LruConfig(6, 4));
        var model = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 1, block), seed: 1);
        string path = Path.Combine(_dir, "pre.safetensors");
        ModelCheckpoint.Save(path, model);
        var postNorm = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 1, block with { Placement = NormPlacement.Post }));
        Assert.Contains("holds a model of configuration", Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadInto(path, postNorm)).Message);
        var same = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 1, block), seed: 2);
        ModelCheckpoint.LoadInto(path, same);
        Assert.Equal(model.Decoder.Weight.Value.ToArray(), same.Decoder.Weight.Value.ToArray());
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void LruLayerFiles_KeepTheDirectionAndAMatrixD_InBothLayouts(bool reverse, bool matrixD)
    {
        var layer = new LruLayer<double>(new LruConfig(4, 3, MatrixD: matrixD, Reverse: reverse), seed: 2);
        string jax = Path.Combine(_dir, "layer.safetensors"), pytorch = Path.Combine(_dir, "layer-pt.safetensors");
        LruLayerFile.Save(jax, layer);
        LruLayerFile.SavePyTorchLayout(pytorch, layer);
        double[] u = Lru.Tests.Support.Compare.Random(2 * 5 * 4, 1), expected = new double[u.Length];
        layer.Forward(u, expected, 2, 5);
        foreach (var loaded in new[] { LruLayerFile.Load<double>(jax), LruLayerFile.LoadPyTorchLayout<double>(SafeTensorsFile.Read(pytorch)) })
        {
            Assert.Equal(reverse, loaded.Config.Reverse);
            double[] y = new double[u.Length];
            loaded.Forward(u, y, 2, 5);
            Lru.Tests.Support.Compare.Close<double>(y, expected, 1e-14, $"reverse {reverse}, matrix D {matrixD}");
        }
    }
}
