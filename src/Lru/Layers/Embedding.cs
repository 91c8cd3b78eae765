using System.Numerics;
using System.Numerics.Tensors;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// A token embedding, the encoder for token inputs (LRU-MATH §2): row <c>tokens[b, t]</c> of
/// <c>weight</c> (Vocabulary × H) becomes output step (b, t). Tokens (B, L) in, features (B, L, H) out.
/// Named and initialised like PyTorch's <c>nn.Embedding</c>: <c>weight</c> ~ Normal(0, 1).
/// </summary>
/// <remarks>
/// Tokens come as int ids (<see cref="Forward(ReadOnlySpan{int}, Span{T}, int, int)"/>) or, so that an embedding
/// sits in a module tree like any other module, as exact integer values of <typeparamref name="T"/> with one feature
/// per step. A training forward keeps the tokens; the backward pass adds every output row's gradient to the gradient
/// row of its token. Evaluation-mode forward passes may run on several threads at once; training is single-threaded
/// (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Embedding<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int[] _tokens = [];

    /// <summary>Creates an embedding initialised like PyTorch from a seed.</summary>
    /// <param name="vocabulary">The number of distinct tokens, at least 1.</param>
    /// <param name="features">H, at least 1.</param>
    /// <param name="seed">The seed of the initialisation.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="vocabulary"/> or <paramref name="features"/> is less than 1.</exception>
    public Embedding(int vocabulary, int features, long seed = 0) : this(vocabulary, features, new SeededRandom(seed))
    {
    }

    /// <summary>Creates an embedding initialised like PyTorch, drawing from <paramref name="random"/>.</summary>
    /// <param name="vocabulary">The number of distinct tokens, at least 1.</param>
    /// <param name="features">H, at least 1.</param>
    /// <param name="random">The generator; <see cref="Initialize"/> documents the order of draws.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="vocabulary"/> or <paramref name="features"/> is less than 1.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public Embedding(int vocabulary, int features, SeededRandom random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabulary, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        ArgumentNullException.ThrowIfNull(random);
        Weight = RegisterParameter(new Parameter<T>("weight", vocabulary, features));
        Initialize(random);
    }

    /// <summary>The number of distinct tokens; valid token ids are 0 … Vocabulary − 1.</summary>
    public int Vocabulary => Weight.Shape[0];

    /// <summary>H, the features per token.</summary>
    public int Features => Weight.Shape[1];

    /// <summary><c>weight</c> (Vocabulary × H): one row per token.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>1: the input is one token id per step (as a value of <typeparamref name="T"/>).</summary>
    public override int InputFeatures => 1;

    /// <summary>H.</summary>
    public override int OutputFeatures => Features;

    /// <summary>Re-draws <c>weight</c> row-major from Normal(0, 1), as PyTorch does.</summary>
    /// <param name="random">The generator.</param>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public void Initialize(SeededRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        T[] w = Weight.Values;
        for (int i = 0; i < w.Length; i++) w[i] = T.CreateChecked(random.NextNormal());
        Weight.MarkModified();
    }

    /// <summary>True: every output step is the embedding of the same input step's token.</summary>
    public override bool CanStream => true;

    /// <summary>Looks up every token given as int ids; in training mode keeps the tokens for the backward pass.</summary>
    /// <param name="tokens">Token ids, (batch, length), each in [0, Vocabulary).</param>
    /// <param name="output">Receives the embeddings, (batch, length, H).</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative, or a token id is outside [0, Vocabulary) (the message gives its position and value; nothing is written then).</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer.</exception>
    public void Forward(ReadOnlySpan<int> tokens, Span<T> output, int batch, int length)
    {
        var shape = new SequenceShape(batch, length);
        Guard.Length(tokens.Length, nameof(tokens), "batch, length", batch, length);
        bool training = IsTraining;
        using var scope = BeginForward(tokens.Length, output.Length, shape, training);
        int v = Vocabulary;
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)v) ThrowToken(tokens[i], i, length, v);
        }
        ReadOnlySpan<T> w = Weight.Value;
        int h = Features;
        for (int i = 0; i < tokens.Length; i++) w.Slice(tokens[i] * h, h).CopyTo(output.Slice(i * h, h));
        if (training) tokens.CopyTo(Grow(ref _tokens, tokens.Length));
        scope.Complete();
    }

    /// <summary>
    /// Looks up tokens given as values of <typeparamref name="T"/> (the module tree's input type; <see cref="Module{T}.InputFeatures"/>
    /// is 1): every value must be an exact integer id in [0, Vocabulary), which for float means ids below 2²⁴ (use the
    /// int overload for larger vocabularies). Nothing is written when a value is refused.
    /// </summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int v = Vocabulary, h = Features;
        T limit = T.CreateTruncating(v);
        for (int i = 0; i < input.Length; i++)
        {
            T id = input[i];
            if (!T.IsInteger(id) || id < T.Zero || id >= limit)
                throw new ArgumentOutOfRangeException("input", id,
                    $"input[{i / shape.Length}, {i % shape.Length}] (flat index {i}) is {id}; an embedding reads exact integer token ids in [0, {v}).");
        }
        ReadOnlySpan<T> w = Weight.Value;
        Span<int> kept = training ? Grow(ref _tokens, input.Length) : default;
        for (int i = 0; i < input.Length; i++)
        {
            int token = int.CreateTruncating(input[i]);
            w.Slice(token * h, h).CopyTo(output.Slice(i * h, h));
            if (training) kept[i] = token;
        }
    }

    /// <summary>
    /// Adds the gradient of every output step to the gradient row of its token (the tokens of the last training forward), in
    /// row order on one thread, so the result is deterministic even when tokens repeat. Token ids have no gradient:
    /// <paramref name="gradInput"/> is left as it is.
    /// </summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        int h = Features, rows = shape.Rows;
        Span<T> gw = Weight.Gradient;
        for (int i = 0; i < rows; i++)
        {
            Span<T> row = gw.Slice(_tokens[i] * h, h);
            TensorPrimitives.Add(row, gradOutput.Slice(i * h, h), row);
        }
    }

    private static void ThrowToken(int token, int index, int length, int vocabulary) =>
        throw new ArgumentOutOfRangeException("tokens", token,
            $"tokens[{index / length}, {index % length}] (flat index {index}) is {token}, outside the vocabulary [0, {vocabulary}).");
}
