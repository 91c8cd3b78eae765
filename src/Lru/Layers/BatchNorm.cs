using System.Numerics;
using System.Numerics.Tensors;

namespace Lru.Layers;

/// <summary>
/// Batch normalisation per feature over batch and time (LRU-MATH §2, <c>Norm</c>): in training mode every
/// feature <c>f</c> is normalised with the mean <c>μ_f</c> and biased variance <c>σ²_f</c> of its
/// <c>M = B·L</c> values, <c>y = (x − μ)·rstd ⊙ weight + bias</c> with <c>rstd = 1/√(σ² + ε)</c>;
/// in evaluation mode the running statistics replace <c>μ</c> and <c>σ²</c>. Input and output are (B, L, H).
/// Matches PyTorch's <c>nn.BatchNorm1d(H)</c> applied to (B, H, L): <c>weight</c> starts at 1, <c>bias</c>
/// at 0, <c>ε = 1e-5</c>, momentum 0.1, and the running variance is updated with the unbiased
/// variance <c>σ²·M/(M − 1)</c>.
/// </summary>
/// <remarks>
/// Statistics are accumulated in double precision, feature by feature over the rows in row order, so
/// results do not depend on the thread count. The running statistics are buffers, not parameters; they
/// are reachable through <see cref="NamedBuffers"/> for checkpoints. A layer instance must not be used
/// from several threads at once.
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class BatchNorm<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _input = [];
    private readonly double[] _mean, _rstd, _sum, _sumNorm;
    private readonly T[] _shift, _scale;
    private int _cachedBatch = -1, _cachedLength = -1;

    /// <summary>Creates a layer with <c>weight = 1</c>, <c>bias = 0</c>, running mean 0 and running variance 1.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="momentum">The weight of a new batch in the running statistics, in (0, 1] (default 0.1 as in PyTorch).</param>
    /// <param name="epsilon">ε added to the variance; positive (default 1e-5).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1, or <paramref name="momentum"/> or <paramref name="epsilon"/> is out of range.</exception>
    public BatchNorm(int features, double momentum = 0.1, double epsilon = 1e-5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        if (!(momentum > 0 && momentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in (0, 1].");
        if (!(epsilon > 0) || double.IsInfinity(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive and finite.");
        Features = features;
        Momentum = momentum;
        Epsilon = epsilon;
        Weight = new Parameter<T>("weight", ParameterGroup.Default, features);
        Bias = new Parameter<T>("bias", ParameterGroup.Default, features);
        Weight.Value.AsSpan().Fill(T.One);
        RunningMean = new T[features];
        RunningVariance = new T[features];
        RunningVariance.AsSpan().Fill(T.One);
        _mean = new double[features];
        _rstd = new double[features];
        _sum = new double[features];
        _sumNorm = new double[features];
        _shift = new T[features];
        _scale = new T[features];
    }

    /// <summary>H, the number of features.</summary>
    public int Features { get; }

    /// <summary>The weight of a new batch in the running statistics.</summary>
    public double Momentum { get; }

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

    /// <summary><c>running_mean</c> (H): <c>(1 − momentum)·running_mean + momentum·μ</c> after each training forward; used in evaluation mode.</summary>
    public T[] RunningMean { get; }

    /// <summary><c>running_var</c> (H): <c>(1 − momentum)·running_var + momentum·σ²·M/(M − 1)</c> after each training forward; used in evaluation mode.</summary>
    public T[] RunningVariance { get; }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
    {
        yield return ("weight", Weight);
        yield return ("bias", Bias);
    }

    /// <summary>The non-trainable state for checkpoints, with PyTorch's names: <c>running_mean</c> and <c>running_var</c>, each (H).</summary>
    /// <returns>The buffers themselves (not copies), in that order.</returns>
    public IEnumerable<(string Name, T[] Values)> NamedBuffers()
    {
        yield return ("running_mean", RunningMean);
        yield return ("running_var", RunningVariance);
    }

    /// <summary>
    /// Normalises every feature. Training mode: with the statistics of this batch, which it keeps for the
    /// backward pass and blends into the running statistics. Evaluation mode: with the running statistics.
    /// </summary>
    /// <param name="input"><c>x</c>, (batch, length, H).</param>
    /// <param name="output">Receives <c>y</c>, (batch, length, H); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape, or in training mode <c>B·L</c> is less than 2 (the unbiased variance needs two values).</exception>
    public override void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int h = Features, rows = checked(batch * length);
        Guard.Length(input.Length, nameof(input), "batch, length, H", batch, length, h);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        ReadOnlySpan<T> w = Weight.Value, b = Bias.Value;

        if (IsTraining)
        {
            if (rows < 2)
                throw new ArgumentException($"BatchNorm in training mode needs at least 2 values per feature, but batch·length = {batch}·{length} = {rows}.", nameof(input));
            if (_input.Length < input.Length) _input = new T[input.Length];
            input.CopyTo(_input);
            _cachedBatch = batch;
            _cachedLength = length;

            // μ_f = Σ_r x[r, f] / M, then σ²_f = Σ_r (x[r, f] − μ_f)² / M, in double, rows in order.
            Span<double> mean = _mean, sq = _sum;
            mean.Clear();
            sq.Clear();
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<T> x = input.Slice(r * h, h);
                for (int f = 0; f < h; f++) mean[f] += double.CreateTruncating(x[f]);
            }
            for (int f = 0; f < h; f++) mean[f] /= rows;
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<T> x = input.Slice(r * h, h);
                for (int f = 0; f < h; f++)
                {
                    double d = double.CreateTruncating(x[f]) - mean[f];
                    sq[f] += d * d;
                }
            }
            double m = Momentum;
            for (int f = 0; f < h; f++)
            {
                double variance = sq[f] / rows;
                _rstd[f] = 1.0 / Math.Sqrt(variance + Epsilon);
                RunningMean[f] = T.CreateTruncating((1 - m) * double.CreateTruncating(RunningMean[f]) + m * mean[f]);
                RunningVariance[f] = T.CreateTruncating((1 - m) * double.CreateTruncating(RunningVariance[f]) + m * sq[f] / (rows - 1));
                double scale = _rstd[f] * double.CreateTruncating(w[f]);
                _scale[f] = T.CreateTruncating(scale);
                _shift[f] = T.CreateTruncating(double.CreateTruncating(b[f]) - mean[f] * scale);
            }
        }
        else
        {
            for (int f = 0; f < h; f++)
            {
                double scale = double.CreateTruncating(w[f]) / Math.Sqrt(double.CreateTruncating(RunningVariance[f]) + Epsilon);
                _scale[f] = T.CreateTruncating(scale);
                _shift[f] = T.CreateTruncating(double.CreateTruncating(b[f]) - double.CreateTruncating(RunningMean[f]) * scale);
            }
        }

        // y = x ⊙ scale + shift, with scale = weight·rstd and shift = bias − μ·scale.
        for (int r = 0; r < rows; r++)
            TensorPrimitives.FusedMultiplyAdd(input.Slice(r * h, h), _scale, _shift, output.Slice(r * h, h));
    }

    /// <summary>
    /// Back-propagates through the last training forward. Per feature, with <c>x̂ = (x − μ)·rstd</c> and sums
    /// over all M rows: <c>∂x = weight·rstd·(∂y − Σ∂y/M − x̂·Σ(∂y ⊙ x̂)/M)</c>; adds <c>Σ ∂y ⊙ x̂</c> to the
    /// gradient of <c>weight</c> and <c>Σ ∂y</c> to that of <c>bias</c>.
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
                ? $"BatchNorm.Backward needs a training Forward first (batch {batch}, length {length})."
                : $"BatchNorm.Backward was called with batch {batch}, length {length}, but the last training Forward had batch {_cachedBatch}, length {_cachedLength}.");
        int h = Features, rows = batch * length;
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, H", batch, length, h);
        if (!gradInput.IsEmpty) Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, H", batch, length, h);

        // Σ_r ∂y and Σ_r ∂y ⊙ x̂ per feature, in double, rows in order.
        Span<double> sum = _sum, sumNorm = _sumNorm;
        ReadOnlySpan<double> mean = _mean, rstd = _rstd;
        sum.Clear();
        sumNorm.Clear();
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> dy = gradOutput.Slice(r * h, h), x = _input.AsSpan(r * h, h);
            for (int f = 0; f < h; f++)
            {
                double g = double.CreateTruncating(dy[f]);
                sum[f] += g;
                sumNorm[f] += g * (double.CreateTruncating(x[f]) - mean[f]) * rstd[f];
            }
        }
        Span<T> gw = Weight.Gradient, gb = Bias.Gradient;
        for (int f = 0; f < h; f++)
        {
            gw[f] += T.CreateTruncating(sumNorm[f]);
            gb[f] += T.CreateTruncating(sum[f]);
        }
        if (gradInput.IsEmpty) return;

        ReadOnlySpan<T> w = Weight.Value;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> dy = gradOutput.Slice(r * h, h), x = _input.AsSpan(r * h, h);
            Span<T> dx = gradInput.Slice(r * h, h);
            for (int f = 0; f < h; f++)
            {
                double norm = (double.CreateTruncating(x[f]) - mean[f]) * rstd[f];
                double g = double.CreateTruncating(dy[f]) - sum[f] / rows - norm * sumNorm[f] / rows;
                dx[f] = T.CreateTruncating(double.CreateTruncating(w[f]) * rstd[f] * g);
            }
        }
    }
}
