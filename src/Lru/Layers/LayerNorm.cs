using System.Numerics;
using System.Numerics.Tensors;

namespace Lru.Layers;

/// <summary>
/// Layer normalisation over the features of every time step (LRU-MATH §2, <c>Norm</c>):
/// <c>y = (x − μ)·rstd ⊙ weight + bias</c> with <c>μ</c> the mean and <c>rstd = 1/√(σ² + ε)</c> from the
/// biased variance <c>σ²</c> of the row's H features. Input and output are (B, L, H). Matches PyTorch's
/// <c>nn.LayerNorm(H)</c>: <c>weight</c> starts at 1, <c>bias</c> at 0, <c>ε = 1e-5</c>.
/// </summary>
/// <remarks>
/// As in llm.c, the training forward keeps the input and each row's <c>μ</c> and <c>rstd</c>; the backward
/// rebuilds <c>x̂ = (x − μ)·rstd</c> from them. Parameter gradients are summed over rows in row order, so
/// results do not depend on the thread count. A layer instance must not be used from several threads at once.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class LayerNorm<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _input = [], _mean = [], _rstd = [];
    private readonly T[] _normRow, _gradNormRow;
    private int _cachedBatch = -1, _cachedLength = -1;

    /// <summary>Creates a layer with <c>weight = 1</c> and <c>bias = 0</c>.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="epsilon">ε added to the variance; positive (default 1e-5 as in PyTorch).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1 or <paramref name="epsilon"/> is not positive.</exception>
    public LayerNorm(int features, double epsilon = 1e-5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        if (!(epsilon > 0) || double.IsInfinity(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive and finite.");
        Features = features;
        Epsilon = epsilon;
        Weight = new Parameter<T>("weight", ParameterGroup.Default, features);
        Bias = new Parameter<T>("bias", ParameterGroup.Default, features);
        Weight.Value.AsSpan().Fill(T.One);
        _normRow = new T[features];
        _gradNormRow = new T[features];
    }

    /// <summary>H, the number of features normalised together.</summary>
    public int Features { get; }

    /// <summary>ε, added to the variance before the square root.</summary>
    public double Epsilon { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <summary><c>weight</c> (H): the elementwise scale, initially 1.</summary>
    public Parameter<T> Weight { get; }

    /// <summary><c>bias</c> (H): the elementwise offset, initially 0.</summary>
    public Parameter<T> Bias { get; }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
    {
        yield return ("weight", Weight);
        yield return ("bias", Bias);
    }

    /// <summary>Normalises every row of H features; in training mode keeps <c>x</c>, <c>μ</c> and <c>rstd</c>.</summary>
    /// <param name="input"><c>x</c>, (batch, length, H).</param>
    /// <param name="output">Receives <c>y</c>, (batch, length, H); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public override void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int h = Features, rows = checked(batch * length);
        Guard.Length(input.Length, nameof(input), "batch, length, H", batch, length, h);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        bool training = IsTraining;
        if (training)
        {
            if (_input.Length < input.Length) _input = new T[input.Length];
            if (_mean.Length < rows) { _mean = new T[rows]; _rstd = new T[rows]; }
            input.CopyTo(_input);
            _cachedBatch = batch;
            _cachedLength = length;
        }

        T count = T.CreateChecked(h), eps = T.CreateChecked(Epsilon);
        ReadOnlySpan<T> w = Weight.Value, b = Bias.Value;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> x = input.Slice(r * h, h);
            Span<T> y = output.Slice(r * h, h);
            // Two passes: μ = Σx/H, then σ² = Σ(x − μ)²/H on the centred row (kept in y).
            T mean = TensorPrimitives.Sum(x) / count;
            TensorPrimitives.Subtract(x, mean, y);
            T variance = TensorPrimitives.SumOfSquares<T>(y) / count;
            T rstd = T.One / T.Sqrt(variance + eps);
            TensorPrimitives.Multiply(y, rstd, y);
            TensorPrimitives.FusedMultiplyAdd(y, w, b, y);
            if (training)
            {
                _mean[r] = mean;
                _rstd[r] = rstd;
            }
        }
    }

    /// <summary>
    /// Back-propagates through the last training forward. With <c>x̂ = (x − μ)·rstd</c> and <c>ĝ = ∂y ⊙ weight</c>:
    /// <c>∂x = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂))</c>; adds <c>Σ ∂y ⊙ x̂</c> to the gradient of <c>weight</c>
    /// and <c>Σ ∂y</c> to that of <c>bias</c> (sums over all rows, in row order).
    /// </summary>
    /// <param name="gradOutput"><c>∂ℒ/∂y</c>, (batch, length, H).</param>
    /// <param name="gradInput">Receives <c>∂ℒ/∂x</c>, (batch, length, H); may be empty when not needed.</param>
    /// <param name="batch">The batch size of the last training forward.</param>
    /// <param name="length">The sequence length of the last training forward.</param>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public override void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length)
    {
        if (batch != _cachedBatch || length != _cachedLength)
            throw new InvalidOperationException(_cachedBatch < 0
                ? $"LayerNorm.Backward needs a training Forward first (batch {batch}, length {length})."
                : $"LayerNorm.Backward was called with batch {batch}, length {length}, but the last training Forward had batch {_cachedBatch}, length {_cachedLength}.");
        int h = Features, rows = batch * length;
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
        if (!gradInput.IsEmpty) Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, H", batch, length, h);

        T count = T.CreateChecked(h);
        ReadOnlySpan<T> w = Weight.Value;
        Span<T> gw = Weight.Gradient, gb = Bias.Gradient, norm = _normRow, gradNorm = _gradNormRow;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> dy = gradOutput.Slice(r * h, h);
            T rstd = _rstd[r];
            TensorPrimitives.Subtract(_input.AsSpan(r * h, h), _mean[r], norm);
            TensorPrimitives.Multiply(norm, rstd, norm);                 // x̂
            TensorPrimitives.Add(gb, dy, gb);                            // ∂bias += ∂y
            TensorPrimitives.FusedMultiplyAdd(dy, norm, gw, gw);         // ∂weight += ∂y ⊙ x̂
            if (gradInput.IsEmpty) continue;

            TensorPrimitives.Multiply(dy, w, gradNorm);                  // ĝ = ∂y ⊙ weight
            T meanGrad = TensorPrimitives.Sum<T>(gradNorm) / count;
            T meanGradNorm = TensorPrimitives.Dot<T>(gradNorm, norm) / count;
            Span<T> dx = gradInput.Slice(r * h, h);
            TensorPrimitives.Subtract(gradNorm, meanGrad, dx);
            TensorPrimitives.FusedMultiplyAdd(norm, -meanGradNorm, dx, dx);
            TensorPrimitives.Multiply(dx, rstd, dx);
        }
    }
}
