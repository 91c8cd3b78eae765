using System.Numerics;
using System.Numerics.Tensors;
using Lru.Layers;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Models;

/// <summary>The settings of a <see cref="SequenceModel{T}"/>.</summary>
/// <param name="InputFeatures">Real-valued features per time step (a Linear encoder); 0 when the input is tokens.</param>
/// <param name="Vocabulary">The number of token ids (an Embedding encoder); 0 when the input is real-valued.</param>
/// <param name="Outputs">Classes (classification) or targets (regression) per prediction, at least 1.</param>
/// <param name="Layers">The number of blocks K, at least 1.</param>
/// <param name="Block">The settings shared by every block (width H, state N, norm, mixer, dropout, …).</param>
/// <param name="Pooling">Mean or last over time (one prediction per sequence), or none (one per time step).</param>
/// <param name="Output">Classification or regression.</param>
/// <param name="LogSoftmax">
/// True when the decoder's outputs pass through <see cref="LogSoftmax{T}"/> (log-probabilities, as the models of
/// minimal-LRU give); false for raw outputs (logits). Cross-entropy training is the same either way.
/// </param>
public sealed record SequenceModelConfig(
    int InputFeatures,
    int Vocabulary,
    int Outputs,
    int Layers,
    LruBlockConfig Block,
    PoolingMode Pooling = PoolingMode.Mean,
    OutputKind Output = OutputKind.Classification,
    bool LogSoftmax = false)
{
    /// <summary>True when the model reads token ids through an embedding.</summary>
    public bool UsesTokens => Vocabulary > 0;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and gives the value.</exception>
    /// <exception cref="ArgumentNullException"><see cref="Block"/> is null.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Block);
        Block.Validate();
        if (InputFeatures < 0 || Vocabulary < 0 || (InputFeatures > 0) == (Vocabulary > 0))
            throw new ArgumentOutOfRangeException(nameof(InputFeatures), InputFeatures,
                $"Exactly one of InputFeatures ({InputFeatures}) and Vocabulary ({Vocabulary}) must be positive.");
        if (Outputs < 1) throw new ArgumentOutOfRangeException(nameof(Outputs), Outputs, "Outputs must be at least 1.");
        if (Layers < 1) throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "Layers must be at least 1.");
        if (!Enum.IsDefined(Pooling)) throw new ArgumentOutOfRangeException(nameof(Pooling), Pooling, "Unknown pooling mode.");
        if (!Enum.IsDefined(Output)) throw new ArgumentOutOfRangeException(nameof(Output), Output, "Unknown output kind.");
        if (LogSoftmax && Output != OutputKind.Classification)
            throw new ArgumentOutOfRangeException(nameof(LogSoftmax), LogSoftmax, $"LogSoftmax is for classification models; this one's output is {Output}.");
    }
}

/// <summary>
/// A deep LRU sequence model (LRU-MATH §2; the reference's <c>StackedEncoderModel</c> with a head), built from its
/// configuration as a <see cref="Sequential{T}"/> of four children: <c>encoder</c> (a <see cref="Linear{T}"/> for real
/// inputs, an <see cref="Embedding{T}"/> for tokens) into width H, <c>blocks</c> (a <see cref="Sequential{T}"/> of K
/// <see cref="LruBlock{T}"/>s named 0 … K − 1), <c>pooling</c> over time, and a Linear <c>decoder</c> to the outputs.
/// </summary>
/// <remarks>
/// Shapes: real input (B, L, InputFeatures), or tokens (B, L) through <see cref="ForwardTokens(ReadOnlySpan{int}, Span{T}, int, int, ReadOnlySpan{int})"/> (or as values of
/// <typeparamref name="T"/>, (B, L, 1), through the module contract); output (B, Outputs) with mean or last pooling,
/// (B, L, Outputs) without. Optional per-sequence lengths (B) mask padding in the pooling.
/// Parameter names are hierarchical and stable (the same as before the module redesign, so checkpoints carry over):
/// <c>encoder.weight</c>, <c>blocks.0.lru.nu_log</c>, <c>blocks.0.glu.out1.weight</c>, <c>decoder.bias</c>, …
/// <para>A model is a module like any other: it trains with <c>Lru.Training.Trainer</c> or a hand-written loop, streams
/// with <see cref="Module{T}.Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/> when every block is causal, and may run
/// evaluation calls on several threads at once (see <see cref="Module{T}"/>). To put modules of your own between the
/// blocks, build a <see cref="Sequential{T}"/> of the same parts instead.</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class SequenceModel<T> : Sequential<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>True: the backward pass is <see cref="Sequential{T}"/>'s.</summary>
    private protected override bool BackwardIsSequential => true;

    /// <summary>True: the forward pass is <see cref="Sequential{T}"/>'s.</summary>
    private protected override bool ForwardIsSequential => true;

    private readonly LruBlock<T>[] _blocks;

    /// <summary>Builds the model; every layer draws from a seed derived from <paramref name="seed"/>.</summary>
    /// <param name="config">The model's settings.</param>
    /// <param name="seed">The seed of the initialisation and of the dropout masks.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range (see <see cref="SequenceModelConfig.Validate"/>), or the vocabulary exceeds 2²⁴ for a float model (token ids travel as values of T).</exception>
    public SequenceModel(SequenceModelConfig config, long seed = 0) : base(Parts(config, seed))
    {
        Config = config;
        var blocks = (Sequential<T>)this[1];
        _blocks = blocks.Modules.Cast<LruBlock<T>>().ToArray();
        FixModules(); // the configuration describes the model and its checkpoint names
        blocks.FixModules();
    }

    private static (string, Module<T>)[] Parts(SequenceModelConfig config, long seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (typeof(T) == typeof(float) && config.Vocabulary > 1 << 24)
            throw new ArgumentOutOfRangeException(nameof(config), config.Vocabulary, $"Vocabulary {config.Vocabulary} exceeds 2^24: token ids would not be exact as float values.");
        int h = config.Block.Hidden;
        Module<T> encoder = config.UsesTokens
            ? new Embedding<T>(config.Vocabulary, h, seed * 1024 + 1)
            : new Linear<T>(config.InputFeatures, h, seed * 1024 + 1);
        var blocks = new Sequential<T>(Enumerable.Range(0, config.Layers)
            .Select(i => (Module<T>)new LruBlock<T>(config.Block, seed * 1024 + 16 + i)).ToArray());
        (string, Module<T>)[] parts = [("encoder", encoder), ("blocks", blocks), ("pooling", new Pooling<T>(config.Pooling, h)), ("decoder", new Linear<T>(h, config.Outputs, seed * 1024 + 2))];
        return config.LogSoftmax ? [.. parts, ("log_softmax", new LogSoftmax<T>(config.Outputs))] : parts;
    }

    /// <summary>The model's settings.</summary>
    public SequenceModelConfig Config { get; }

    /// <summary>The Linear encoder for real-valued inputs, or null for token inputs.</summary>
    public Linear<T>? Encoder => this[0] as Linear<T>;

    /// <summary>The embedding for token inputs, or null for real-valued inputs.</summary>
    public Embedding<T>? Embedding => this[0] as Embedding<T>;

    /// <summary>The K blocks, in order.</summary>
    public IReadOnlyList<LruBlock<T>> Blocks => _blocks;

    /// <summary>The pooling over time.</summary>
    public Pooling<T> Pooling => (Pooling<T>)this[2];

    /// <summary>The Linear decoder H → Outputs.</summary>
    public Linear<T> Decoder => (Linear<T>)this[3];

    /// <summary>Runs the model on token ids.</summary>
    /// <param name="tokens">(batch, length) ids in [0, Vocabulary).</param>
    /// <param name="output">(batch, Outputs), or (batch, length, Outputs) without pooling.</param>
    /// <param name="batch">B, at least 0.</param>
    /// <param name="length">L, at least 1 with pooling.</param>
    /// <param name="lengths">Empty, or (batch) valid lengths in [1, L] that mask padding in the pooling.</param>
    /// <exception cref="InvalidOperationException">The model reads real-valued inputs, or the call overlaps a call it must not overlap (see <see cref="Module{T}"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is out of range, a valid length is outside [1, L], or a token id is outside [0, Vocabulary) (the message gives its position).</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public void ForwardTokens(ReadOnlySpan<int> tokens, Span<T> output, int batch, int length, ReadOnlySpan<int> lengths = default)
    {
        var shape = new SequenceShape(batch, length, lengths);
        Guard.Length(tokens.Length, nameof(tokens), "batch, length", batch, length);
        using var ids = RentWorkspace(tokens.Length);
        ToValues(tokens, ids.Span, length);
        Forward(ids.Span, output, shape, IsTraining);
    }

    /// <summary>Runs the model on a (B, L) tensor of token ids and returns a new output tensor.</summary>
    /// <param name="tokens">A dense (B, L) tensor of ids in [0, Vocabulary).</param>
    /// <param name="lengths">Empty, or (B) valid lengths in [1, L] that mask padding in the pooling.</param>
    /// <returns>(B, Outputs), or (B, L, Outputs) without pooling.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tokens"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="tokens"/> is not dense or not of rank 2.</exception>
    /// <exception cref="InvalidOperationException">The model reads real-valued inputs, or the call overlaps a call it must not overlap.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside [0, Vocabulary), or a valid length is outside [1, L].</exception>
    public Tensor<T> ForwardTokens(Tensor<int> tokens, ReadOnlySpan<int> lengths = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ReadOnlySpan<nint> shape = tokens.Lengths;
        if (shape.Length != 2 || shape[0] > int.MaxValue || shape[1] > int.MaxValue)
            throw new ArgumentException($"tokens has shape ({string.Join(", ", shape.ToArray())}) but (batch, length) is required.", nameof(tokens));
        int batch = (int)shape[0], length = (int)shape[1];
        var output = Tensor.CreateFromShape<T>(ReducesTime ? [batch, OutputFeatures] : [batch, length, OutputFeatures]);
        ForwardTokens(tokens.AsReadOnlyTensorSpan().AsFlatSpan(nameof(tokens)), output.AsTensorSpan().AsFlatSpan(), batch, length, lengths);
        return output;
    }

    /// <summary>As <see cref="Module{T}.Step(ReadOnlySpan{T}, Span{T}, StreamState{T})"/>, for a model that reads token ids.</summary>
    /// <param name="tokens">(state.Batch): this step's token ids.</param>
    /// <param name="output">(state.Batch, Outputs).</param>
    /// <param name="state">The streams' state from <see cref="Module{T}.CreateState"/>.</param>
    /// <exception cref="InvalidOperationException">The model reads real-valued inputs, a training-mode call on it runs on another thread, or another thread is stepping <paramref name="state"/>.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside [0, Vocabulary).</exception>
    /// <exception cref="ArgumentException">A span's length does not match, or <paramref name="state"/> belongs to another module.</exception>
    public void StepTokens(ReadOnlySpan<int> tokens, Span<T> output, StreamState<T> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Guard.Length(tokens.Length, nameof(tokens), "batch", state.Batch);
        using var ids = RentWorkspace(tokens.Length);
        ToValues(tokens, ids.Span, 1);
        Step(ids.Span, output, state);
    }

    /// <summary>Token ids as exact values of T, after checking each against the vocabulary.</summary>
    private void ToValues(ReadOnlySpan<int> tokens, Span<T> values, int length)
    {
        var embedding = Embedding ?? throw new InvalidOperationException("This model reads real-valued inputs: use Forward (or Step).");
        int v = embedding.Vocabulary;
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)v)
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                    $"tokens[{i / Math.Max(1, length)}, {i % Math.Max(1, length)}] (flat index {i}) is {tokens[i]}, outside the vocabulary [0, {v}).");
            values[i] = T.CreateTruncating(tokens[i]);
        }
    }
}
