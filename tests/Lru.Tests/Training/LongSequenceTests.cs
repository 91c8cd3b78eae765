using System.Diagnostics;
using Lru.Data;
using Lru.Layers;
using Lru.Models;
using Lru.Scans;
using Lru.Training;
using Xunit.Abstractions;

namespace Lru.Tests.Training;

/// <summary>Numerics over long sequences: training steps on the copy task at L = 10,000.</summary>
public class LongSequenceTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(ScanMode.Sequential)]
    [InlineData(ScanMode.Chunked)]
    [InlineData(ScanMode.Tree)]
    public void CopyTask_AtLength10000_HasFiniteLossAndGradients_AndTheWeightsChange(ScanMode scan)
    {
        // 10 pattern steps, 9,979 blank steps, the go step, 10 recall steps: L = 10,000. Eigenvalues up to
        // |λ| = 0.9999 keep about e^-1 of the pattern over the delay, so the recall's gradient reaches it.
        var options = new CopyTaskOptions(PatternLength: 10, Bits: 7, Delay: 9_979);
        Assert.Equal(10_000, options.Length);
        var data = CopyTask.Generate(4, seed: 11, options);
        var config = new SequenceModelConfig(options.InputFeatures, 0, options.Bits, Layers: 2,
            new LruBlockConfig(new LruConfig(16, 16, RMin: 0.99, RMax: 0.9999)), PoolingMode.None, OutputKind.MultiLabel);
        var model = new SequenceModel<float>(config, seed: 5);
        foreach (var block in model.Blocks) ((LruLayer<float>)block.Lru).Scan = scan;
        var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings { LearningRate = 1e-3 });
        // The trainer's own guard is off so that this test is what checks the gradients.
        var trainer = new Trainer<float>(model, optimizer, new TrainerOptions(BatchSize: 2, Seed: 3, CheckFinite: false));
        var named = model.NamedParameters().ToArray();
        float[][] initial = named.Select(p => p.Parameter.Values.ToArray()).ToArray();

        var clock = Stopwatch.StartNew();
        for (int step = 0; step < 3; step++)
        {
            var metrics = trainer.TrainStep(data, step % 2 == 0 ? [0, 1] : [2, 3]);
            Assert.True(double.IsFinite(metrics.Loss) && metrics.Loss > 0, $"step {step}: loss {metrics.Loss}");
            Assert.Equal(2 * 10 * options.Bits, metrics.Count); // only the recall steps count
            foreach (var (name, parameter) in named)
            {
                int bad = Array.FindIndex(parameter.GradientArray, v => !float.IsFinite(v));
                Assert.True(bad < 0, $"step {step}: gradient of {name} is {(bad < 0 ? 0 : parameter.GradientArray[bad])} at element {bad}");
                Assert.True(Array.TrueForAll(parameter.Values, float.IsFinite), $"step {step}: {name} has a non-finite value");
            }
            // The recall's error reaches the recurrence: the eigenvalues of the first block get a gradient.
            Assert.Contains(named.Single(p => p.Name == "blocks.0.lru.nu_log").Parameter.GradientArray, g => g != 0);
            log.WriteLine($"{scan} step {step}: loss {metrics.Loss:F5}, {clock.Elapsed.TotalSeconds:F2} s");
        }
        for (int i = 0; i < named.Length; i++)
            Assert.False(initial[i].AsSpan().SequenceEqual(named[i].Parameter.Values), $"{named[i].Name} did not change in 3 steps");
    }
}
