// A module of your own between two LRU blocks, trained on the copy task from Tensor<float> batches with a
// hand-written loop, against the Lru NuGet package. Exit code 0 when it recalls at least 99 % of the bits.
using System.Numerics.Tensors;
using Lru.Data;
using Lru.Layers;
using Lru.Models;
using Lru.Modules;
using Lru.Training;

var (train, test) = (CopyTask.Generate(10_000, seed: 1), CopyTask.Generate(500, seed: 2));
int length = train.Length, features = train.Features, outputs = train.Outputs, batch = 64, epochs = 3;
int steps = epochs * (train.Count / batch); // full batches only
var block = new LruBlockConfig(new LruConfig(Hidden: 64, State: 64));
var model = new Sequential<float>(
    ("encoder", new Linear<float>(features, 64, seed: 1)),
    ("block0", new LruBlock<float>(block, seed: 2)),
    ("gain", new FeatureGain(64)),
    ("block1", new LruBlock<float>(block, seed: 3)),
    ("decoder", new Linear<float>(64, outputs, seed: 4)));
var optimizer = new AdamW<float>(model.NamedParameters(), new AdamWSettings
{
    LearningRate = 4e-3, SsmLearningRate = 1e-3, WeightDecay = 0.01, Schedule = new LinearWarmupCosineSchedule(30, steps),
});
var loss = new BinaryCrossEntropy<float>();

for (int epoch = 1; epoch <= epochs; epoch++)
{
    for (int start = 0; start + batch <= train.Count; start += batch)
    {
        var x = Tensor.Create(train.Inputs.AsSpan(start * length * features, batch * length * features).ToArray(), [batch, length, features]);
        var targets = new LossTargets<float>(batch * length, train.ValueTargets.AsSpan(start * length * outputs, batch * length * outputs));

        model.ZeroGradients();
        Tensor<float> y = model.Forward(x);                    // (B, L, outputs) logits
        var gradY = Tensor.CreateFromShape<float>(y.Lengths);
        loss.Compute(y, targets, gradY);
        model.Backward(gradY);                                  // adds to every parameter's gradient
        optimizer.Step();
    }
    Console.WriteLine($"epoch {epoch}: gain[0] = {((FeatureGain)model[2]).Gain.Value[0]:F3}");
}

model.IsTraining = false;
var metrics = loss.Compute(model.Forward(Tensor.Create(test.Inputs!, [test.Count, length, features])),
    new LossTargets<float>(test.Count * length, test.ValueTargets));
Console.WriteLine($"test bit accuracy {metrics.Accuracy:P2} ({model.ParameterCount:N0} parameters, Lru {typeof(Module<>).Assembly.GetName().Version})");
return metrics.Accuracy >= 0.99 ? 0 : 1;

/// <summary>A learned per-feature gain, y = g ⊙ x: a module of your own, with its forward and backward math.</summary>
sealed class FeatureGain : Module<float>
{
    private float[] _input = [];

    public FeatureGain(int features)
    {
        Gain = RegisterParameter(new Parameter<float>("gain", features));
        Gain.Assign(Enumerable.Repeat(1f, features).ToArray());
    }

    public Parameter<float> Gain { get; }
    public override int InputFeatures => Gain.Length;
    public override int OutputFeatures => Gain.Length;
    public override bool CanStream => true; // each output step depends only on the same input step

    protected override void ForwardCore(ReadOnlySpan<float> input, Span<float> output, in SequenceShape shape, bool training)
    {
        if (training) input.CopyTo(Grow(ref _input, input.Length)); // kept for the backward pass
        ReadOnlySpan<float> g = Gain.Value;
        for (int i = 0; i < input.Length; i++) output[i] = g[i % g.Length] * input[i];
    }

    protected override void BackwardCore(ReadOnlySpan<float> gradOutput, Span<float> gradInput, in SequenceShape shape)
    {
        ReadOnlySpan<float> g = Gain.Value;
        Span<float> dg = Gain.Gradient;
        for (int i = 0; i < gradOutput.Length; i++)
        {
            dg[i % g.Length] += gradOutput[i] * _input[i];                          // ∂ℒ/∂g += ∂y ⊙ x
            if (!gradInput.IsEmpty) gradInput[i] += gradOutput[i] * g[i % g.Length]; // ∂ℒ/∂x += ∂y ⊙ g
        }
    }
}
