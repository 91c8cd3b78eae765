using System.Numerics;
using System.Numerics.Tensors;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// A fully connected layer applied at every time step: <c>y = x Wᵀ + b</c>, with
/// <c>x</c> (B, L, In), <c>W</c> (Out × In), <c>b</c> (Out) and <c>y</c> (B, L, Out).
/// Parameter names and initialisation follow PyTorch's <c>nn.Linear</c>, so checkpoints map one to one.
/// </summary>
/// <remarks>
/// Forward is one GEMM over all <c>B·L</c> rows; backward is two (<c>∂x = ∂y·W</c>, <c>∂W += ∂yᵀ·x</c>)
/// plus a column sum for <c>∂b</c>. The training forward keeps a copy of <c>x</c> in a buffer the layer
/// owns. Evaluation-mode forward passes may run on several threads at once (the panels of Wᵀ for few rows are
/// built once under a lock); training is single-threaded (see <see cref="Layer{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Linear<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Up to this many rows the forward pass uses dot products instead of a packed GEMM.</summary>
    private const int SmallRows = 4;

    private T[] _input = [];
    private int _cachedBatch = -1, _cachedLength = -1;

    // Wᵀ in column panels for the few-rows path (streaming steps); built on first use, rebuilt when W changes.
    private readonly object _panelLock = new();
    private PanelMatrix<T>? _panel;
    private int _panelVersion = -1;

    /// <summary>Creates a layer initialised like PyTorch from a seed.</summary>
    /// <param name="inputFeatures">In, at least 1.</param>
    /// <param name="outputFeatures">Out, at least 1.</param>
    /// <param name="seed">The seed of the initialisation; the same seed gives identical parameters.</param>
    /// <param name="useBias">Whether the layer has the bias <c>b</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A feature count is less than 1.</exception>
    public Linear(int inputFeatures, int outputFeatures, long seed = 0, bool useBias = true)
        : this(inputFeatures, outputFeatures, new SeededRandom(seed), useBias)
    {
    }

    /// <summary>Creates a layer initialised like PyTorch, drawing from <paramref name="random"/>.</summary>
    /// <param name="inputFeatures">In, at least 1.</param>
    /// <param name="outputFeatures">Out, at least 1.</param>
    /// <param name="random">The generator; <see cref="Initialize"/> documents the order of draws.</param>
    /// <param name="useBias">Whether the layer has the bias <c>b</c>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A feature count is less than 1.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public Linear(int inputFeatures, int outputFeatures, SeededRandom random, bool useBias = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputFeatures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputFeatures, 1);
        ArgumentNullException.ThrowIfNull(random);
        Weight = new Parameter<T>("weight", ParameterGroup.Default, outputFeatures, inputFeatures);
        Bias = useBias ? new Parameter<T>("bias", ParameterGroup.Default, outputFeatures) : null;
        Initialize(random);
    }

    /// <inheritdoc/>
    public override int InputFeatures => Weight.Shape[1];

    /// <inheritdoc/>
    public override int OutputFeatures => Weight.Shape[0];

    /// <summary><c>weight</c> (Out × In): the matrix <c>W</c>.</summary>
    public Parameter<T> Weight { get; }

    /// <summary><c>bias</c> (Out): the offset <c>b</c>, or null for a layer without bias.</summary>
    public Parameter<T>? Bias { get; }

    /// <summary>
    /// Re-draws the parameters as PyTorch does: every element of <c>W</c> (row-major), then of <c>b</c>,
    /// uniform on <c>[−1/√In, 1/√In]</c>.
    /// </summary>
    /// <param name="random">The generator.</param>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public void Initialize(SeededRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        double bound = 1.0 / Math.Sqrt(InputFeatures);
        FillUniform(random, Weight.Value, bound);
        Weight.MarkModified();
        if (Bias is not null)
        {
            FillUniform(random, Bias.Value, bound);
            Bias.MarkModified();
        }
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Name, Parameter<T> Parameter)> NamedParameters()
    {
        yield return ("weight", Weight);
        if (Bias is not null) yield return ("bias", Bias);
    }

    /// <summary>Computes <c>y = x Wᵀ + b</c>; in training mode keeps a copy of <c>x</c>.</summary>
    /// <param name="input"><c>x</c>, (batch, length, In).</param>
    /// <param name="output">Receives <c>y</c>, (batch, length, Out); must not overlap <paramref name="input"/>.</param>
    /// <param name="batch">The batch size B.</param>
    /// <param name="length">The sequence length L.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="InvalidOperationException">A training-mode call overlaps another call on this layer (see <see cref="Layer{T}"/>).</exception>
    public override void Forward(ReadOnlySpan<T> input, Span<T> output, int batch, int length)
    {
        int rows = CheckRows(batch, length);
        int n = InputFeatures, m = OutputFeatures;
        Guard.Length(input.Length, nameof(input), "batch, length, In", batch, length, n);
        Guard.Length(output.Length, nameof(output), "batch, length, Out", batch, length, m);
        bool training = IsTraining;
        using var scope = Calls.Enter(training, nameof(Forward));

        if (training)
        {
            if (_input.Length < input.Length) _input = new T[input.Length];
            input.CopyTo(_input);
            _cachedBatch = batch;
            _cachedLength = length;
        }
        if (rows == 0) return;

        // y = b (broadcast over rows), then y += x · Wᵀ  (rows × In)·(In × Out).
        if (Bias is not null)
        {
            ReadOnlySpan<T> b = Bias.Value;
            for (int r = 0; r < rows; r++) b.CopyTo(output.Slice(r * m, m));
        }

        // A few rows (a streaming step): Wᵀ kept in panels; packing a GEMM would cost more than the product.
        if (rows <= SmallRows)
        {
            Panel().MultiplyRows(input, output, rows, accumulate: Bias is not null);
            return;
        }
        Gemm.Multiply<T>(input, Weight.Value, output, rows, m, n, transposeB: true, accumulate: Bias is not null);
    }

    /// <summary>
    /// Back-propagates through the last training forward: <c>∂x = ∂y·W</c>; adds <c>∂yᵀ·x</c> to the
    /// gradient of <c>weight</c> and the column sums of <c>∂y</c> to the gradient of <c>bias</c>.
    /// </summary>
    /// <param name="gradOutput"><c>∂ℒ/∂y</c>, (batch, length, Out).</param>
    /// <param name="gradInput">Receives <c>∂ℒ/∂x</c>, (batch, length, In); may be empty when not needed.</param>
    /// <param name="batch">The batch size of the last training forward.</param>
    /// <param name="length">The sequence length of the last training forward.</param>
    /// <exception cref="InvalidOperationException">No training forward of this shape precedes the call, or the call overlaps another call on this layer.</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> or <paramref name="length"/> is negative.</exception>
    public override void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length) =>
        Backward(gradOutput, gradInput, batch, length, accumulateInput: false);

    /// <summary>As <see cref="Backward(ReadOnlySpan{T}, Span{T}, int, int)"/>, optionally adding <c>∂ℒ/∂x</c> to <paramref name="gradInput"/> instead of overwriting it.</summary>
    internal void Backward(ReadOnlySpan<T> gradOutput, Span<T> gradInput, int batch, int length, bool accumulateInput)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int n = InputFeatures, m = OutputFeatures;
        using var scope = Calls.Enter(training: true, nameof(Backward));
        CheckCached(batch, length);
        Guard.Length(gradOutput.Length, nameof(gradOutput), "batch, length, Out", batch, length, m);
        if (!gradInput.IsEmpty) Guard.Length(gradInput.Length, nameof(gradInput), "batch, length, In", batch, length, n);
        int rows = batch * length;
        if (rows == 0) return;

        // ∂x = ∂y · W  (rows × Out)·(Out × In).
        if (!gradInput.IsEmpty)
            Gemm.Multiply<T>(gradOutput, Weight.Value, gradInput, rows, n, m, accumulate: accumulateInput);

        // ∂W += ∂yᵀ · x  (Out × rows)·(rows × In).
        Gemm.Multiply<T>(gradOutput, _input.AsSpan(0, rows * n), Weight.Gradient, m, n, rows, transposeA: true, accumulate: true);

        // ∂b += Σ_rows ∂y, in row order.
        if (Bias is not null)
        {
            Span<T> gb = Bias.Gradient;
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(gb, gradOutput.Slice(r * m, m), gb);
        }
    }

    /// <summary>Wᵀ (In × Out) in panels, rebuilt under a lock when <see cref="Weight"/> changed since the last build.</summary>
    private PanelMatrix<T> Panel()
    {
        int version = Weight.Version;
        if (Volatile.Read(ref _panelVersion) == version) return _panel!;
        lock (_panelLock)
        {
            if (_panelVersion != version)
            {
                _panel ??= new PanelMatrix<T>(InputFeatures, OutputFeatures);
                _panel.Pack(Weight.Value, transposed: true);
                Volatile.Write(ref _panelVersion, version);
            }
            return _panel!;
        }
    }

    private void CheckCached(int batch, int length)
    {
        if (batch != _cachedBatch || length != _cachedLength)
            throw new InvalidOperationException(_cachedBatch < 0
                ? $"Linear.Backward needs a training Forward first (batch {batch}, length {length})."
                : $"Linear.Backward was called with batch {batch}, length {length}, but the last training Forward had batch {_cachedBatch}, length {_cachedLength}.");
    }

    private static int CheckRows(int batch, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return checked(batch * length);
    }

    private static void FillUniform(SeededRandom random, T[] values, double bound)
    {
        for (int i = 0; i < values.Length; i++) values[i] = T.CreateChecked(bound * (2 * random.NextOpenUnit() - 1));
    }
}
