using Lru.Tests.Support;
using System.Globalization;
using System.Text.Json;
using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Tests.Cli;
using Lru.Training;

namespace Lru.Tests.Checkpoints;

/// <summary>
/// Checkpoints written by the library before the module redesign (format 1, committed in Fixtures/v1 with the outputs
/// their models gave then) load, compute the same outputs (to within float GELU's rounding, see OutputTolerance), carry
/// their optimiser state, and continue training in the tool.
/// </summary>
public class LegacyCheckpointTests
{
    /// <summary>
    /// How far a model's outputs may move from those of the build that wrote the file, relative to the largest output:
    /// that build computed float GELU in double and rounded once; GELU now computes float data in float, within 5.1 float
    /// ulps (3e-7 relative) of the exact value, and these one- and two-block models pass such a change on with gains near
    /// one (measured 6e-8 and 8e-8). A tensor read into the wrong place moves outputs by orders of magnitude more.
    /// </summary>
    private const double OutputTolerance = 1e-6;

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "v1", name + ".safetensors");

    [Theory]
    [InlineData("v1_real_batchnorm")]
    [InlineData("v1_tokens_layernorm")]
    [InlineData("v1_perstep_regression")]
    public void AFormat1Checkpoint_Loads_AndItsModelGivesTheOutputsItGaveThen(string name)
    {
        var loaded = ModelCheckpoint.Load(Fixture(name));
        Assert.Equal(ModelCheckpoint.FormatVersion1, loaded.Metadata[ModelCheckpoint.FormatKey]);
        Assert.Equal("written before the module redesign", loaded.Metadata["note"]);
        var expected = SafeTensorsFile.Read(Fixture(name + ".expected"));
        int batch = int.Parse(expected.Metadata["batch"], CultureInfo.InvariantCulture), length = int.Parse(expected.Metadata["length"], CultureInfo.InvariantCulture);
        int[] lengths = expected.ReadFloat32("lengths").Select(v => (int)v).ToArray();
        var model = loaded.Model;
        model.IsTraining = false;
        float[] y = new float[model.OutputSize(batch, length)];
        if (model.Config.UsesTokens)
            model.ForwardTokens(expected.ReadFloat32("tokens").Select(v => (int)v).ToArray(), y, batch, length, lengths);
        else
            model.Forward(expected.ReadFloat32("input"), y, batch, length, lengths);
        float[] then = expected.ReadFloat32("output");
        if (!model.Config.Block.Bidirectional)
        {
            Compare.Close<float>(y, Compare.ToDouble<float>(then), OutputTolerance, name);
        }
        else
        {
            // A bidirectional block used to let the padded steps of a shorter sequence reach its valid steps through the
            // backward direction; it no longer does. Full-length sequences give what they gave then, bit for bit, and a
            // padded one now gives what the same sequence gives on its own, without padding.
            int per = y.Length / batch, features = model.InputFeatures;
            float[] input = expected.ReadFloat32("input");
            for (int b = 0; b < batch; b++)
            {
                if (lengths[b] == length)
                {
                    Compare.Close<float>(y.AsSpan(b * per, per), Compare.ToDouble<float>(then.AsSpan(b * per, per)), OutputTolerance, $"{name}, sequence {b}");
                    continue;
                }
                float[] alone = new float[per];
                model.Forward(input.AsSpan(b * length * features, lengths[b] * features), alone, 1, lengths[b]);
                Assert.Equal(alone, y.AsSpan(b * per, per).ToArray());
                Assert.NotEqual(then.AsSpan(b * per, per).ToArray(), alone);
            }
        }

        // The optimiser state of three AdamW steps restores into a new optimiser over the same names.
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings());
        optimizer.LoadState(loaded.OptimizerState);
        Assert.Equal(3, optimizer.StepCount);
    }

    [Fact]
    public void AFormat1ConfigurationWithTheLruSettingsInTheBlock_IsRead()
    {
        var config = ModelCheckpoint.Load(Fixture("v1_real_batchnorm")).Model.Config;
        Assert.Equal(new LruConfig(8, 6, RMin: 0.5, RMax: 0.95, MaxPhase: 2 * Math.PI), config.Block.Lru);
        Assert.Equal(1e-5, config.Block.NormEpsilon); // not in format 1: the value models had then
        Assert.True(config.Block is { Norm: NormKind.BatchNorm, Placement: NormPlacement.Post, Mixer: MixerKind.Mlp, Bidirectional: true });
    }

    [Fact]
    public void TheToolEvaluatesAndResumesAFormat1Run_AsTheBuildThatWroteItDid()
    {
        string dir = Directory.CreateTempSubdirectory("lru-v1-").FullName;
        try
        {
            // Figures of the build that wrote the file (Fixtures/v1/README.md).
            string path = Path.Combine(dir, "run.safetensors");
            File.Copy(Fixture("v1_cli_copy"), path);
            var (code, output, error) = CliRunner.Run($"eval --checkpoint {path} --json");
            Assert.True(code == 0, error);
            var eval = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
            Assert.Equal(0.6940513317246084, eval.GetProperty("test_loss").GetDouble(), OutputTolerance); // see OutputTolerance
            Assert.Equal(0.5075892857142857, eval.GetProperty("test_accuracy").GetDouble(), 1e-12);

            (code, output, error) = CliRunner.Run($"train --checkpoint {path} --resume --epochs 3 --json");
            Assert.True(code == 0, error);
            var resumed = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
            Assert.Equal(24, resumed.GetProperty("steps").GetInt64());
            Assert.Equal(0.6937644248917609, resumed.GetProperty("test_loss").GetDouble(), 1e-9);
            Assert.Equal(ModelCheckpoint.Format, ModelCheckpoint.Load(path).Metadata[ModelCheckpoint.FormatKey]); // saved again in the new format
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
