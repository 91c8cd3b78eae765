using System.Numerics;
using Lru.Tensors;

namespace Lru.Tests.Modules;

// Modules a user writes outside the library, with its public API only (Module<T>, Parameter<T>, SequenceShape,
// StreamState<T>); the tests in ModuleContractTests put them between LRU blocks, check their gradients and train them.

/// <summary>
/// A causal depth-wise 1-D convolution over time: <c>y[b, t, f] = bias[f] + Σ_{k &lt; K} weight[f, k]·x[b, t − k, f]</c>,
/// with <c>x</c> zero before the first step. (B, L, H) in and out; streams with the last K − 1 inputs as its state.
/// </summary>
public sealed class CausalDepthwiseConv<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _features, _kernel;
    private T[] _input = [];

    public CausalDepthwiseConv(int features, int kernel, long seed)
    {
        _features = features;
        _kernel = kernel;
        Weight = RegisterParameter(new Parameter<T>("weight", features, kernel));
        Bias = RegisterParameter(new Parameter<T>("bias", features));
        var random = new SeededRandom(seed);
        Weight.Assign(Enumerable.Range(0, features * kernel).Select(_ => T.CreateChecked(random.NextNormal() / Math.Sqrt(kernel))).ToArray());
    }

    public Parameter<T> Weight { get; }

    public Parameter<T> Bias { get; }

    public override int InputFeatures => _features;

    public override int OutputFeatures => _features;

    public override bool CanStream => true;

    // y[b, t, f] = bias[f] + Σ_k w[f, k]·x[b, t − k, f]; a training pass keeps x.
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        if (training) input.CopyTo(Grow(ref _input, input.Length));
        ReadOnlySpan<T> w = Weight.Value, bias = Bias.Value;
        int h = _features, length = shape.Length;
        for (int b = 0; b < shape.Batch; b++)
            for (int t = 0; t < length; t++)
                for (int f = 0; f < h; f++)
                {
                    T sum = bias[f];
                    for (int k = 0; k < _kernel && k <= t; k++) sum += w[f * _kernel + k] * input[((b * length) + t - k) * h + f];
                    output[((b * length) + t) * h + f] = sum;
                }
    }

    // ∂x[b, t − k, f] += w[f, k]·∂y[b, t, f];  ∂w[f, k] += Σ ∂y[b, t, f]·x[b, t − k, f];  ∂bias[f] += Σ ∂y[b, t, f].
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        ReadOnlySpan<T> w = Weight.Value;
        Span<T> gw = Weight.Gradient, gb = Bias.Gradient;
        int h = _features, length = shape.Length;
        for (int b = 0; b < shape.Batch; b++)
            for (int t = 0; t < length; t++)
                for (int f = 0; f < h; f++)
                {
                    T g = gradOutput[((b * length) + t) * h + f];
                    gb[f] += g;
                    for (int k = 0; k < _kernel && k <= t; k++)
                    {
                        int source = ((b * length) + t - k) * h + f;
                        gw[f * _kernel + k] += g * _input[source];
                        if (!gradInput.IsEmpty) gradInput[source] += w[f * _kernel + k] * g;
                    }
                }
    }

    protected override StreamState<T> CreateStateCore(int batch) => new History(batch, _features, _kernel);

    // One step: the state holds the last K − 1 inputs of every stream, newest first.
    protected override void StepCore(ReadOnlySpan<T> input, Span<T> output, StreamState<T> state)
    {
        var history = (History)state;
        ReadOnlySpan<T> w = Weight.Value, bias = Bias.Value;
        int h = _features, past = _kernel - 1;
        for (int b = 0; b < state.Batch; b++)
        {
            Span<T> last = history.Inputs.AsSpan(b * past * h, past * h);
            for (int f = 0; f < h; f++)
            {
                T sum = bias[f] + w[f * _kernel] * input[b * h + f];
                for (int k = 1; k < _kernel; k++) sum += w[f * _kernel + k] * last[(k - 1) * h + f];
                output[b * h + f] = sum;
            }
            if (past > 0)
            {
                last[..((past - 1) * h)].CopyTo(last[h..]);
                input.Slice(b * h, h).CopyTo(last);
            }
        }
    }

    private sealed class History(int batch, int features, int kernel) : StreamState<T>(batch)
    {
        public T[] Inputs { get; } = new T[batch * (kernel - 1) * features];

        protected override void ResetCore() => Array.Clear(Inputs);
    }
}

/// <summary>A learned per-feature gain, <c>y = g ⊙ x</c> (g starts at 1): the shortest useful module.</summary>
public sealed class FeatureGain<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _input = [];

    public FeatureGain(int features)
    {
        Gain = RegisterParameter(new Parameter<T>("gain", features));
        Gain.Assign(Enumerable.Repeat(T.One, features).ToArray());
    }

    public Parameter<T> Gain { get; }

    public override int InputFeatures => Gain.Length;

    public override int OutputFeatures => Gain.Length;

    public override bool CanStream => true;

    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        if (training) input.CopyTo(Grow(ref _input, input.Length));
        ReadOnlySpan<T> g = Gain.Value;
        for (int i = 0; i < input.Length; i++) output[i] = g[i % g.Length] * input[i];
    }

    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        ReadOnlySpan<T> g = Gain.Value;
        Span<T> dg = Gain.Gradient;
        for (int i = 0; i < gradOutput.Length; i++)
        {
            dg[i % g.Length] += gradOutput[i] * _input[i];
            if (!gradInput.IsEmpty) gradInput[i] += gradOutput[i] * g[i % g.Length];
        }
    }
}

/// <summary>A module that looks at the whole sequence (a reversal in time) and so does not declare that it can stream.</summary>
public sealed class TimeReversal<T>(int features) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public override int InputFeatures => features;

    public override int OutputFeatures => features;

    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int h = features, length = shape.Length;
        for (int b = 0; b < shape.Batch; b++)
            for (int t = 0; t < length; t++)
                input.Slice((b * length + t) * h, h).CopyTo(output.Slice((b * length + length - 1 - t) * h, h));
    }

    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (gradInput.IsEmpty) return;
        int h = features, length = shape.Length;
        for (int b = 0; b < shape.Batch; b++)
            for (int t = 0; t < length; t++)
                for (int f = 0; f < h; f++)
                    gradInput[(b * length + length - 1 - t) * h + f] += gradOutput[(b * length + t) * h + f];
    }
}
