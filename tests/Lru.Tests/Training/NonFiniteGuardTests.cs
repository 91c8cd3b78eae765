using Lru.Layers;
using Lru.Models;
using Lru.Tensors;
using Lru.Training;

namespace Lru.Tests.Training;

/// <summary>The trainer's NaN/∞ guard: the loss, then every gradient before the step, then every value after it.</summary>
public class NonFiniteGuardTests
{
    private static SequenceDataset<float> Noise(int count, int length, int seed)
    {
        var random = new SeededRandom(seed);
        float[] x = new float[count * length * 2];
        for (int i = 0; i < x.Length; i++) x[i] = (float)random.NextNormal();
        int[] y = Enumerable.Range(0, count).Select(i => i % 2).ToArray();
        return new SequenceDataset<float>(count, length, 2, x, null, y, null);
    }

    private static Trainer<float> Build(int epochs = 1, bool checkFinite = true, double learningRate = 1e-3, int batch = 8)
    {
        var model = new SequenceModel<float>(new SequenceModelConfig(2, 0, 2, 2, new LruBlockConfig(new LruConfig(8, 6))), seed: 3);
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings { LearningRate = learningRate });
        return new Trainer<float>(model, optimizer, new TrainerOptions(epochs, batch, Seed: 1, CheckFinite: checkFinite));
    }

    /// <summary>
    /// nu_log = 100 is a valid, finite weight: |λ| = exp(−exp(100)) is 0 and the forward pass stays finite, but its
    /// gradient −exp(nu_log)·Re(conj(G)·λ) is ∞·0 = NaN in float.
    /// </summary>
    private static void Poison(Module<float> model, string name, int element, float value)
    {
        var parameter = model.NamedParameters().Single(p => p.Name == name).Parameter;
        parameter.Values[element] = value;
        parameter.MarkModified();
    }

    private static float[] Weights(Module<float> model) => model.NamedParameters().SelectMany(p => p.Parameter.Values).ToArray();

    [Fact]
    public void ANaNGradient_IsReportedByTheFirstParameterInModelOrder_BeforeTheStep_SoTheWeightsAreUnchanged()
    {
        var trainer = Build();
        Poison(trainer.Model, "blocks.1.lru.nu_log", 4, 100f);
        float[] before = Weights(trainer.Model);

        var e = Assert.Throws<NonFiniteException>(() => trainer.TrainStep(Noise(8, 12, 1), [0, 1, 2, 3, 4, 5, 6, 7]));

        var bad = trainer.Model.NamedParameters().Where(p => !Array.TrueForAll(p.Parameter.GradientArray, float.IsFinite)).Select(p => p.Name).ToArray();
        Assert.Equal(["blocks.1.lru.nu_log"], bad); // the poisoned parameter and nothing else, found independently
        Assert.Equal(NonFiniteKind.Gradient, e.Kind);
        Assert.Equal("blocks.1.lru.nu_log", e.ParameterName);
        Assert.Equal(4, e.Element);
        Assert.True(double.IsNaN(e.Value));
        Assert.Equal((0, 0, 1L, 1), (e.Epoch, e.Step, e.OptimizerStep, e.NonFiniteParameters));
        Assert.StartsWith("gradient of blocks.1.lru.nu_log is NaN (element 4; 1 of ", e.Message, StringComparison.Ordinal);
        Assert.Contains("at optimiser step 1; the step was not taken", e.Message);
        Assert.Equal(before, Weights(trainer.Model));
        Assert.Equal(0, trainer.Optimizer.StepCount);
    }

    [Fact]
    public void Fit_NamesTheEpochAndStep_AndStopsBeforeAnyLaterCallback()
    {
        var data = Noise(32, 10, 2);                 // 4 steps per epoch
        var trainer = Build(epochs: 3);
        var epochs = new List<int>();
        var e = Assert.Throws<NonFiniteException>(() => trainer.Fit(data, null,
            p => { if (p.Epoch == 2 && p.Step == 2) Poison(trainer.Model, "blocks.0.lru.nu_log", 0, 100f); },
            onEpoch: r => epochs.Add(r.Epoch)));

        Assert.Equal((2, 3, 7L), (e.Epoch, e.Step, e.OptimizerStep));
        Assert.Contains("gradient of blocks.0.lru.nu_log is NaN (element 0; 1 of ", e.Message);
        Assert.Contains("at epoch 2, step 3 (optimiser step 7)", e.Message);
        Assert.Equal([1], epochs);
        Assert.Equal(6, trainer.Optimizer.StepCount);
    }

    [Fact]
    public void WithTheCheckOff_TheNaNReachesTheWeights_AndTheNextLossIsRefused()
    {
        var trainer = Build(checkFinite: false);
        Poison(trainer.Model, "blocks.1.lru.nu_log", 4, 100f);
        var data = Noise(8, 12, 1);
        int[] all = [0, 1, 2, 3, 4, 5, 6, 7];

        trainer.TrainStep(data, all); // no check: AdamW turns the NaN gradient into a NaN weight
        Assert.True(float.IsNaN(trainer.Model.NamedParameters().Single(p => p.Name == "blocks.1.lru.nu_log").Parameter.Values[4]));

        var e = Assert.Throws<NonFiniteException>(() => trainer.TrainStep(data, all));
        Assert.Equal(NonFiniteKind.Loss, e.Kind);
        Assert.Null(e.ParameterName);
        Assert.Equal(2, e.OptimizerStep);
        Assert.Equal("training loss is NaN at optimiser step 2; the step was not taken.", e.Message);
    }

    [Fact]
    public void AHugeLearningRate_IsReportedAsANonFiniteValue_AfterTheStep()
    {
        // Finite gradients, but lr = 1e39 overflows float: the value check after the step names the first parameter.
        var trainer = Build(learningRate: 1e39);
        var e = Assert.Throws<NonFiniteException>(() => trainer.TrainStep(Noise(8, 12, 1), [0, 1, 2, 3, 4, 5, 6, 7]));

        var named = trainer.Model.NamedParameters().ToArray();
        Assert.All(named, p => Assert.True(Array.TrueForAll(p.Parameter.GradientArray, float.IsFinite), p.Name));
        var bad = named.Where(p => !Array.TrueForAll(p.Parameter.Values, float.IsFinite)).ToArray();
        Assert.Equal(NonFiniteKind.Value, e.Kind);
        Assert.Equal(bad[0].Name, e.ParameterName);
        Assert.Equal(Array.FindIndex(bad[0].Parameter.Values, v => !float.IsFinite(v)), e.Element);
        Assert.Equal(bad.Length, e.NonFiniteParameters);
        Assert.Contains($"value of {bad[0].Name} became ", e.Message);
        Assert.Contains("after optimiser step 1; the gradients were finite, so the learning rate is too large", e.Message);
    }

    [Fact]
    public void TheExceptionRefusesContradictoryArguments()
    {
        Assert.Equal("value", Assert.Throws<ArgumentException>(() => new NonFiniteException(NonFiniteKind.Loss, null, -1, 1.0, 0, 3, 0, 0, 1)).ParamName);
        Assert.Equal("parameterName", Assert.Throws<ArgumentException>(() => new NonFiniteException(NonFiniteKind.Loss, "a", -1, double.NaN, 0, 3, 0, 0, 1)).ParamName);
        Assert.Equal("parameterName", Assert.Throws<ArgumentException>(() => new NonFiniteException(NonFiniteKind.Gradient, null, 0, double.NaN, 1, 3, 0, 0, 1)).ParamName);
        Assert.Contains("is -Infinity", new NonFiniteException(NonFiniteKind.Gradient, "w", 2, double.NegativeInfinity, 1, 3, 1, 1, 1).Message);
    }
}
