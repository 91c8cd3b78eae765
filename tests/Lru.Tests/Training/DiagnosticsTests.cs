using Lru.Data;
using Lru.Layers;
using Lru.Models;
using Lru.Modules;
using Lru.Training;

namespace Lru.Tests.Training;

/// <summary>
/// <see cref="Diagnostics"/> and <see cref="Trainer{T}.GradientsComputed"/>: values against direct computations, the
/// effective memory against models whose memory is known from their ring, and proof that nothing is changed.
/// </summary>
public class DiagnosticsTests
{
    private static SequenceModel<float> Model(double rMin, double rMax, NormKind norm = NormKind.BatchNorm, PoolingMode pooling = PoolingMode.Last, long seed = 3) =>
        new(new SequenceModelConfig(2, 0, 1, Layers: 2, new LruBlockConfig(new LruConfig(16, 16, RMin: rMin, RMax: rMax, MaxPhase: Math.PI / 10), Norm: norm),
            pooling, OutputKind.Regression), seed);

    [Fact]
    public void GradientNorm_AndLambdaModuli_EqualTheirDefinitions()
    {
        var model = Model(0.5, 0.99);
        var parameter = model.NamedParameters().First(p => p.Name.EndsWith("lru.B_re")).Parameter;
        var rng = new Random(1);
        for (int i = 0; i < parameter.Gradient.Length; i++) parameter.Gradient[i] = (float)(rng.NextDouble() - 0.5);
        double expected = Math.Sqrt(parameter.Gradient.ToArray().Sum(g => (double)g * g));
        Assert.Equal(expected, Diagnostics.GradientNorm(parameter), 12);

        var moduli = Diagnostics.LambdaModuli(model);
        Assert.Equal(["blocks.0.lru", "blocks.1.lru"], moduli.Select(m => m.Name));
        var nu = model.NamedParameters().First(p => p.Name == "blocks.1.lru.nu_log").Parameter.Value.ToArray();
        for (int j = 0; j < nu.Length; j++)
        {
            Assert.Equal(Math.Exp(-Math.Exp(nu[j])), moduli[1].Moduli[j], 15);
            Assert.InRange(moduli[1].Moduli[j], 0.5 - 1e-6, 0.99 + 1e-6); // the ring it was initialised on
        }
    }

    [Fact]
    public void InputSensitivity_EqualsTwoForwardPassesDoneByHand()
    {
        var model = Model(0.9, 0.999);
        var data = AddingTask.Generate(6, 40, seed: 4);
        int[] distances = [0, 5, 39];
        double[] actual = Diagnostics.InputSensitivity(model, data, 6, distances, 1e-2);

        float[] baseline = new float[6], perturbed = new float[6];
        model.Forward(data.Inputs!, baseline, new SequenceShape(6, 40), training: false);
        for (int i = 0; i < distances.Length; i++)
        {
            float[] x = (float[])data.Inputs!.Clone();
            int t = 39 - distances[i];
            for (int b = 0; b < 6; b++)
                for (int f = 0; f < 2; f++) x[(b * 40 + t) * 2 + f] += 0.01f;
            model.Forward(x, perturbed, new SequenceShape(6, 40), training: false);
            double expected = Enumerable.Range(0, 6).Sum(b => Math.Abs((double)(perturbed[b] - baseline[b]))) / 6 / 1e-2;
            // The library sums the six float differences in float: a relative 1e-5 covers that rounding.
            Assert.True(Math.Abs(actual[i] - expected) <= 1e-5 * expected + 1e-9, $"d={distances[i]}: {actual[i]} vs {expected}");
            Assert.True(expected > 0);
        }
    }

    [Fact]
    public void InputSensitivity_FollowsTheRing_ShortMemoryForgetsAndLongMemoryRemembers()
    {
        var data = AddingTask.Generate(16, 64, seed: 5);
        // |λ| ≤ 0.05: after 20 steps an input is scaled by at most 0.05^20 in each of the two layers.
        double[] shortMemory = Diagnostics.InputSensitivity(Model(0.0, 0.05), data, 16, [0, 20], 1e-2);
        // |λ| ≥ 0.999: 20 steps keep ≥ 98 % of it.
        double[] longMemory = Diagnostics.InputSensitivity(Model(0.999, 0.9999), data, 16, [0, 20], 1e-2);
        Assert.True(shortMemory[0] > 0, "the last step always matters");
        Assert.True(shortMemory[1] < 1e-4 * shortMemory[0], $"short memory: d=20 gives {shortMemory[1]:G3}, d=0 {shortMemory[0]:G3}");
        Assert.True(longMemory[1] > 1e-2 * longMemory[0], $"long memory: d=20 gives {longMemory[1]:G3}, d=0 {longMemory[0]:G3}");
    }

    [Fact]
    public void InputSensitivity_ChangesNothing_InTheModelOrTheData()
    {
        var model = Model(0.9, 0.999);
        var data = AddingTask.Generate(8, 30, seed: 6);
        // Move the BatchNorm running statistics away from their initial values first.
        model.Forward(data.Inputs!, new float[8], new SequenceShape(8, 30), training: true);
        var before = model.StateDictionary().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        float[] inputs = (float[])data.Inputs!.Clone();
        Diagnostics.InputSensitivity(model, data, 8, [0, 10, 29], 1e-2);
        foreach (var (name, tensor) in model.StateDictionary()) Assert.Equal(before[name], tensor.ToArray());
        Assert.Equal(inputs, data.Inputs);
    }

    [Fact]
    public void InputSensitivity_RefusesWhatItCannotMeasure_ByName()
    {
        var data = AddingTask.Generate(4, 10, seed: 7);
        Assert.Equal("distances", Assert.Throws<ArgumentOutOfRangeException>(() => Diagnostics.InputSensitivity(Model(0.9, 0.99), data, 4, [10], 1e-2)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => Diagnostics.InputSensitivity(Model(0.9, 0.99), data, 5, [0], 1e-2)).ParamName);
        Assert.Equal("epsilon", Assert.Throws<ArgumentOutOfRangeException>(() => Diagnostics.InputSensitivity(Model(0.9, 0.99), data, 4, [0], 0)).ParamName);
        var perStep = Assert.Throws<ArgumentException>(() => Diagnostics.InputSensitivity(Model(0.9, 0.99, pooling: PoolingMode.None), data, 4, [0], 1e-2));
        Assert.Equal("model", perStep.ParamName);
        var padded = new SequenceDataset<float>(4, 10, 2, data.Inputs, null, null, data.ValueTargets, lengths: [10, 9, 10, 5]);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => Diagnostics.InputSensitivity(Model(0.9, 0.99), padded, 4, [0], 1e-2)).ParamName);
        var threeFeatures = new SequenceDataset<float>(2, 10, 3, new float[60], null, null, new float[2]);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => Diagnostics.InputSensitivity(Model(0.9, 0.99), threeFeatures, 2, [0], 1e-2)).ParamName);
        var tokens = new SequenceDataset<float>(2, 3, 0, null, new int[6], [0, 1], null);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => Diagnostics.InputSensitivity(Model(0.9, 0.99), tokens, 2, [0], 1e-2)).ParamName);
    }

    [Fact]
    public void GradientsComputed_SeesEveryStepsUnclippedGradients_UnderTheModelsNames()
    {
        var model = Model(0.9, 0.999, NormKind.LayerNorm);
        var data = AddingTask.Generate(64, 20, seed: 8);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings { LearningRate = 1e-3 });
        const double clip = 1e-4;
        var trainer = new Trainer<float>(model, optimizer, new TrainerOptions(Epochs: 2, BatchSize: 16, Seed: 1, ClipNorm: clip));
        var steps = new List<long>();
        var seenNorms = new List<double>();
        string[]? names = null;
        trainer.GradientsComputed = (step, parameters) =>
        {
            steps.Add(step);
            names ??= parameters.Select(p => p.Name).ToArray();
            seenNorms.Add(Math.Sqrt(parameters.Sum(p => Diagnostics.GradientNorm(p.Parameter) * Diagnostics.GradientNorm(p.Parameter))));
        };
        trainer.Fit(data);

        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), steps);
        Assert.Equal(model.NamedParameters().Select(p => p.Name), names);
        // The callback ran before clipping: what it saw is far above the clip, what the optimiser got is the clip.
        Assert.All(seenNorms, n => Assert.True(n > 100 * clip, $"norm {n:G3} seen by the callback"));
        double after = Math.Sqrt(model.NamedParameters().Sum(p => Diagnostics.GradientNorm(p.Parameter) * Diagnostics.GradientNorm(p.Parameter)));
        Assert.Equal(clip, after, 1e-9);
    }
}
