using Lru.IO;
using Lru.Layers;
using Lru.Models;

namespace Lru.Tests.Cli;

public class ForwardCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lru-fwd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static float[] Input(int count, int seed)
    {
        var random = new Lru.Tensors.SeededRandom(seed);
        return Enumerable.Range(0, count).Select(_ => (float)random.NextNormal()).ToArray();
    }

    [Fact]
    public void SingleLayer_InJaxLayout_MatchesForward()
    {
        var layer = new LruLayer<float>(new LruConfig(5, 7), seed: 2) { IsTraining = false };
        string weights = Path.Combine(_dir, "layer.safetensors"), input = Path.Combine(_dir, "x.npy"), output = Path.Combine(_dir, "y.npy");
        LruLayerFile.Save(weights, layer);
        float[] x = Input(2 * 9 * 5, 1);
        NpyFile.Write(input, x, [2, 9, 5]);

        var (code, _, error) = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output}");
        Assert.True(code == 0, error);
        var y = NpyFile.Read(output);
        Assert.Equal([2, 9, 5], y.Shape);
        float[] expected = new float[x.Length];
        layer.Forward(x, expected, 2, 9);
        Assert.Equal(expected, y.ToFloat32());
    }

    [Fact]
    public void LayerFile_WrittenInDouble_WithoutMetadata_Loads()
    {
        // As the JAX reference's parameter dictionary would be saved: plain names, F64, no metadata.
        var layer = new LruLayer<float>(new LruConfig(3, 4), seed: 5);
        string path = Path.Combine(_dir, "jax.safetensors");
        SafeTensorsWriter.Write(path, layer.Parameters.Select(p => new SafeTensorData(p.Name, p.Values.Select(v => (double)v).ToArray(), p.Shape.ToArray())));
        var loaded = LruLayerFile.Load<float>(path);
        Assert.Equal(3, loaded.Hidden);
        Assert.Equal(4, loaded.StateSize);
        for (int i = 0; i < 8; i++) Assert.Equal(layer.Parameters[i].Value, loaded.Parameters[i].Value);

        SafeTensorsWriter.Write(path, layer.Parameters.Where(p => p.Name != "C_im").Select(p => new SafeTensorData(p.Name, p.Values, p.Shape.ToArray())));
        Assert.Contains("'C_im'", Assert.Throws<InvalidDataException>(() => LruLayerFile.Load<float>(path)).Message);
    }

    [Fact]
    public void ModelCheckpoint_MatchesForward()
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(3, 0, 2, 2, new LruBlockConfig(new LruConfig(8, 8)), PoolingMode.None), seed: 1) { IsTraining = false };
        string weights = Path.Combine(_dir, "model.safetensors"), input = Path.Combine(_dir, "x.npy"), output = Path.Combine(_dir, "y.npy");
        ModelCheckpoint.Save(weights, model);
        float[] x = Input(2 * 6 * 3, 2);
        NpyFile.Write(input, x, [2, 6, 3]);
        var (code, _, error) = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output}");
        Assert.True(code == 0, error);
        float[] expected = new float[2 * 6 * 2];
        model.Forward(x, expected, 2, 6);
        var y = NpyFile.Read(output);
        Assert.Equal([2, 6, 2], y.Shape);
        Assert.Equal(expected, y.ToFloat32());
    }

    [Fact]
    public void NonFiniteInput_IsRefused_AndNoOutputIsWritten()
    {
        var layer = new LruLayer<float>(new LruConfig(2, 2));
        string weights = Path.Combine(_dir, "layer.safetensors"), input = Path.Combine(_dir, "x.npy"), output = Path.Combine(_dir, "y.npy");
        LruLayerFile.Save(weights, layer);
        NpyFile.Write(input, [1, float.NaN, 0, 0], [1, 2, 2]);
        var (code, _, error) = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output}");
        Assert.NotEqual(0, code);
        Assert.Contains("NaN", error);
        Assert.Contains("--allow-non-finite", error);
        Assert.False(File.Exists(output));

        NpyFile.Write(input, [1f, 2, 3], [1, 1, 3]);
        var wrongWidth = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output}");
        Assert.Contains("3 features per step but the layer has H = 2", wrongWidth.Error);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void InfiniteInput_IsRefused_UnlessAllowNonFiniteIsGiven()
    {
        var layer = new LruLayer<float>(new LruConfig(2, 2));
        string weights = Path.Combine(_dir, "layer.safetensors"), input = Path.Combine(_dir, "x.npy"), output = Path.Combine(_dir, "y.npy");
        LruLayerFile.Save(weights, layer);
        NpyFile.Write(input, [1, 0, 0, float.NegativeInfinity], [1, 2, 2]);

        var (code, _, error) = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output}");
        Assert.NotEqual(0, code);
        Assert.Contains("holds -Infinity at [0, 1, 1]; pass --allow-non-finite", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(File.Exists(output));

        var allowed = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output} --allow-non-finite");
        Assert.True(allowed.ExitCode == 0, allowed.Error);
        Assert.Equal([1, 2, 2], NpyFile.Read(output).Shape);
    }

    [Fact]
    public void Float64Input_BeyondTheFloat32Range_IsRefused()
    {
        var layer = new LruLayer<float>(new LruConfig(2, 2));
        string weights = Path.Combine(_dir, "layer.safetensors"), input = Path.Combine(_dir, "x.npy"), output = Path.Combine(_dir, "y.npy");
        LruLayerFile.Save(weights, layer);
        NpyFile.Write(input, [1, 1e300, 0, 0], [1, 2, 2]);
        var (code, _, error) = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output}");
        Assert.NotEqual(0, code);
        Assert.Contains("holds 1E+300, beyond the float32 range, at [0, 0, 1]", error);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void MalformedInput_AndAMissingOutputDirectory_GiveOneLine_AndWriteNothing()
    {
        var layer = new LruLayer<float>(new LruConfig(2, 2));
        string weights = Path.Combine(_dir, "layer.safetensors"), input = Path.Combine(_dir, "x.npy"), output = Path.Combine(_dir, "y.npy");
        LruLayerFile.Save(weights, layer);
        File.WriteAllBytes(input, [0x93, (byte)'N', (byte)'U']);
        var malformed = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {output}");
        Assert.NotEqual(0, malformed.ExitCode);
        Assert.Contains($".npy file '{input}' is truncated", malformed.Error);
        Assert.Single(malformed.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(File.Exists(output));

        NpyFile.Write(input, [1f, 2, 3, 4], [1, 2, 2]);
        string nowhere = Path.Combine(_dir, "missing", "y.npy");
        var noDirectory = CliRunner.Run($"forward --checkpoint {weights} --input {input} --output {nowhere}");
        Assert.NotEqual(0, noDirectory.ExitCode);
        Assert.Contains($"--output {nowhere}: the directory {Path.Combine(_dir, "missing")} does not exist.", noDirectory.Error);
        Assert.Single(noDirectory.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
