using System.Numerics;
using System.Numerics.Tensors;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// A token embedding, the encoder for token inputs (LRU-MATH §2): row <c>tokens[b, t]</c> of
/// <c>weight</c> (Vocabulary × H) becomes output step (b, t). Tokens (B, L) in, features (B, L, H) out.
/// Named and initialised like PyTorch's <c>nn.Embedding</c>: <c>weight</c> ~ Normal(0, 1).
/// </summary>
/// <remarks>
/// Not a <see cref="Layer{T}"/>, since its input is integers, but it follows the same pattern: a training
/// <see cref="Forward"/> keeps the tokens; <see cref="Backward"/> adds every output row's gradient to the
/// gradient row of its token, in row order, on one thread (deterministic even when tokens repeat).
/// Evaluation-mode forward passes may run on several threads at once; a training-mode <see cref="Forward"/> or a
/// <see cref="Backward"/> that overlaps another call on the same instance throws <see cref="InvalidOperationException"/>
/// (as for <see cref="Layer{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Embedding<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly CallGuard _calls = new("Embedding");
    private int[] _tokens = [];
    private int _cachedBatch = -1, _cachedLength = -1;

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
        Weight = new Parameter<T>("weight", ParameterGroup.Default, vocabulary, features);
        Initialize(random);
    }

    /// <summary>The number of distinct tokens; valid token ids are 0 … Vocabulary − 1.</summary>
    public int Vocabulary => Weight.Shape[0];

    /// <summary>H, the features per token.</summary>
    public int Features => Weight.Shape[1];

    /// <summary><c>weight</c> (Vocabulary × H): one row per token.</summary>
    public Parameter<T> Weight { get; }

    /// <summary>True (the default) in training mode; false for evaluation (the forward pass then keeps nothing).</summary>
    public bool IsTraining { get; set; } = true;

    /// <summary>Re-draws <c>weight</c> row-major from Normal(0, 1), as PyTorch does.</summary>
    /// <param name="random">The generator.</param>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public void Initialize(SeededRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        T[] w = Weight.Value;
        for (int i = 0; i < w.Length; i++) w[i] = T.CreateChecked(random.NextNormal());
        Weight.MarkModified();
    }

    /// <summary>The parameters with their local names: just <c>weight</c>.</summary>
    /// <returns>One pair.</returns>
    public IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
    {
        yield return ("weight", Weight);
    }

    /// <summary>Looks up every token; in training mode keeps the tokens for <see cref="Backward"/>.</summary>
    /// <param name="tokens">Token ids, (batch, length), each in [0, Vocabulary).</param>
    /// <param name="output">Receives the embeddings, (batch, length, H).</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative, or a token id is outside [0, Vocabulary) (the message gives its position and value; nothing is written then).</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer.</exception>
    public void Forward(ReadOnlySpan<int> tokens, Span<T> output, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int h = Features, v = Vocabulary;
        Guard.Length(tokens.Length, nameof(tokens), "batch, length", batch, length);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)v) ThrowToken(tokens[i], i, length, v);
        }

        bool training = IsTraining;
        using var scope = _calls.Enter(training, nameof(Forward));
        ReadOnlySpan<T> w = Weight.Value;
        for (int i = 0; i < tokens.Length; i++) w.Slice(tokens[i] * h, h).CopyTo(output.Slice(i * h, h));
        if (training)
        {
            if (_tokens.Length < tokens.Length) _tokens = new int[tokens.Length];
            tokens.CopyTo(_tokens);
            _cachedBatch = batch;
            _cachedLength = length;
        }
    }

    /// <summary>Adds the gradient of every output step to the gradient row of its token (the tokens of the last training forward).</summary>
    /// <param name="gradOutput"><c>∂ℒ/∂output</c>, (batch, length, H).</param>
    /// <param name="batch">The batch size of the last training forward.</param>
    /// <param name="length">The sequence length of the last training forward.</param>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call, or the call overlaps another call on this layer.</exception>
    /// <exception cref="ArgumentException"><paramref name="gradOutput"/>'s length does not match the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    public void Backward(ReadOnlySpan<T> gradOutput, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using var scope = _calls.Enter(training: true, nameof(Backward));
        if (batch != _cachedBatch || length != _cachedLength)
            throw new InvalidOperationException(_cachedBatch < 0
                ? $"Embedding.Backward needs a training Forward first (batch {batch}, length {length})."
                : $"Embedding.Backward was called with batch {batch}, length {length}, but the last training Forward had batch {_cachedBatch}, length {_cachedLength}.");
        int h = Features, rows = batch * length;
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
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
