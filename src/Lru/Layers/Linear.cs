using System.Numerics;
using System.Numerics.Tensors;
using Lru.Modules;
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
/// built once under a lock); training is single-threaded (see <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Linear<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Up to this many rows the forward pass uses dot products instead of a packed GEMM.</summary>
    private const int SmallRows = 4;

    private T[] _input = [];

    // Wᵀ in column panels for the few-rows path (streaming steps); built on first use, rebuilt when W changes.
    private readonly object _panelLock = new();
    private PanelMatrix<T>? _panel;
    private long _panelVersion = -1;

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
        Weight = RegisterParameter(new Parameter<T>("weight", outputFeatures, inputFeatures));
        Bias = useBias ? RegisterParameter(new Parameter<T>("bias", outputFeatures)) : null;
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
        FillUniform(random, Weight.Values, bound);
        Weight.MarkModified();
        if (Bias is not null)
        {
            FillUniform(random, Bias.Values, bound);
            Bias.MarkModified();
        }
    }

    /// <summary>True: every output step depends only on the same input step.</summary>
    public override bool CanStream => true;

    /// <summary>True: every output row is its input row times Wᵀ plus the bias, by the same kernels at any row count above the few-rows path (see <see cref="Modules.ChunkedEvaluation"/>).</summary>
    internal override bool EvaluatesInChunks(int batch, int length) => true;

    /// <summary><c>y = x Wᵀ + b</c>: one GEMM over all B·L rows (Wᵀ in panels for a few rows); a training pass keeps a copy of <c>x</c>.</summary>
    protected override void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        int rows = shape.Rows, n = InputFeatures, m = OutputFeatures;
        if (training) Elementwise.Copy(input, Grow(ref _input, input.Length), Parallelism.MaxThreads);

        // y = b (broadcast over rows), then y += x · Wᵀ  (rows × In)·(In × Out).
        if (Bias is not null)
        {
            Elementwise.BroadcastRows(Bias.Value, output[..(rows * m)], rows, Parallelism.MaxThreads);
        }

        // A few rows (a streaming step): Wᵀ kept in panels; packing a GEMM would cost more than the product.
        if (rows <= SmallRows)
        {
            Panel().MultiplyRows(input, output, rows, accumulate: Bias is not null);
            return;
        }
        Gemm.Multiply<T>(input, Weight.Value, output, rows, m, n, transposeB: true, accumulate: Bias is not null);
    }

    /// <summary><c>∂x += ∂y·W</c>, <c>∂W += ∂yᵀ·x</c>, <c>∂b += Σ_rows ∂y</c>.</summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: true);

    /// <summary>As <see cref="BackwardCore"/>, writing <c>∂x = ∂y·W</c>.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Backprop(gradOutput, gradInput, shape, accumulate: false);

    private void Backprop(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape, bool accumulate)
    {
        int rows = shape.Rows, n = InputFeatures, m = OutputFeatures;

        // ∂x (+)= ∂y · W  (rows × Out)·(Out × In).
        if (!gradInput.IsEmpty)
            Gemm.Multiply<T>(gradOutput, Weight.Value, gradInput, rows, n, m, accumulate: accumulate);

        // ∂W += ∂yᵀ · x  (Out × rows)·(rows × In).
        Gemm.Multiply<T>(gradOutput, _input.AsSpan(0, rows * n), Weight.Gradient, m, n, rows, transposeA: true, accumulate: true);

        // ∂b += Σ_rows ∂y, in row order (columns split over threads).
        if (Bias is not null)
            Elementwise.AddColumnSums(gradOutput[..(rows * m)], Bias.Gradient, rows, Parallelism.MaxThreads);
    }

    /// <summary>Wᵀ (In × Out) in panels, rebuilt under a lock when <see cref="Weight"/> changed since the last build.</summary>
    private PanelMatrix<T> Panel()
    {
        long version = Weight.Version;
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

    private static void FillUniform(SeededRandom random, T[] values, double bound)
    {
        for (int i = 0; i < values.Length; i++) values[i] = T.CreateChecked(bound * (2 * random.NextOpenUnit() - 1));
    }
}
