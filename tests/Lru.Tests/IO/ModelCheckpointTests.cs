using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Training;

namespace Lru.Tests.IO;

public class ModelCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lru-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void SaveThenLoad_IsBitExact_ForParametersBuffersOptimizerAndConfig()
    {
        var config = new SequenceModelConfig(3, 0, 4, 2, new LruBlockConfig(8, 6, Norm: NormKind.BatchNorm, Mixer: MixerKind.Mlp, Bidirectional: true,
            Combine: BidirectionalCombine.ConcatProject), PoolingMode.Last);
        var model = new SequenceModel<float>(config, seed: 3);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings());
        var random = new Lru.Tensors.SeededRandom(1);
        float[] x = Enumerable.Range(0, 2 * 5 * 3).Select(_ => (float)random.NextNormal()).ToArray();
        float[] y = new float[model.OutputLength(2, 5)], g = y.Select((_, i) => (float)Math.Sin(i)).ToArray();
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
            Assert.True(expected[i].Parameter.Value.AsSpan().SequenceEqual(actual[i].Parameter.Value), expected[i].Name);
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

        var model = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 1, new LruBlockConfig(4, 4)));
        string good = Path.Combine(_dir, "good.safetensors");
        ModelCheckpoint.Save(good, model);
        byte[] bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(path, bytes[..^3]);
        Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(path));
        Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.Load(Path.Combine(_dir, "missing.safetensors")));
    }
}
