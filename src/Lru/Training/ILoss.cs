using System.Numerics;
using System.Numerics.Tensors;
using Lru.Models;
using Lru.Tensors;

namespace Lru.Training;

/// <summary>
/// The targets of one batch for a loss: <see cref="Rows"/> predictions (sequences, or time steps for per-step
/// targets), each a class id (<see cref="Classes"/>) or <c>outputs</c> values (<see cref="Values"/>), and optionally a
/// mask of the rows that count.
/// </summary>
public readonly ref struct LossTargets<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Targets as class ids.</summary>
    /// <param name="classes">(rows) class ids.</param>
    /// <param name="mask">Empty, or (rows) flags of the rows that count.</param>
    public LossTargets(ReadOnlySpan<int> classes, ReadOnlySpan<bool> mask = default)
    {
        Rows = classes.Length;
        Classes = classes;
        Mask = mask;
    }

    /// <summary>Targets as values.</summary>
    /// <param name="rows">The number of predictions, at least 0.</param>
    /// <param name="values">(rows, outputs) target values.</param>
    /// <param name="mask">Empty, or (rows) flags of the rows that count.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is negative.</exception>
    public LossTargets(int rows, ReadOnlySpan<T> values, ReadOnlySpan<bool> mask = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        Rows = rows;
        Values = values;
        Mask = mask;
    }

    /// <summary>The number of predictions.</summary>
    public int Rows { get; }

    /// <summary>(Rows) class ids, or empty.</summary>
    public ReadOnlySpan<int> Classes { get; }

    /// <summary>(Rows, outputs) target values, or empty.</summary>
    public ReadOnlySpan<T> Values { get; }

    /// <summary>Empty, or (Rows) flags of the rows that count.</summary>
    public ReadOnlySpan<bool> Mask { get; }
}

/// <summary>
/// A loss over a batch of predictions: its mean value, an accuracy where that means something, and ∂ℒ/∂output.
/// <see cref="Trainer{T}"/> takes any implementation; <see cref="SoftmaxCrossEntropy{T}"/>,
/// <see cref="MeanSquaredError{T}"/> and <see cref="BinaryCrossEntropy{T}"/> come with the library.
/// </summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public interface ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>True when the loss reads class ids (<see cref="LossTargets{T}.Classes"/>), false when it reads values.</summary>
    bool UsesClassIds { get; }

    /// <summary>The loss of a batch; writes (not adds) ∂ℒ/∂output unless <paramref name="gradOutput"/> is empty.</summary>
    /// <param name="output">(targets.Rows, outputs) predictions.</param>
    /// <param name="targets">The targets of the same rows.</param>
    /// <param name="gradOutput">Empty, or receives ∂ℒ/∂output, shaped like <paramref name="output"/>.</param>
    /// <returns>Mean loss, accuracy (NaN where it means nothing) and the number of counted targets.</returns>
    /// <exception cref="ArgumentException">A span's length does not match, or the targets are of the other kind.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of range (a class id, a non-finite value, a binary target outside [0, 1]).</exception>
    Metrics Compute(ReadOnlySpan<T> output, in LossTargets<T> targets, Span<T> gradOutput);
}

/// <summary>Softmax cross-entropy over class logits, the mean over counted rows (see <see cref="SoftmaxCrossEntropy.Compute{T}"/>).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class SoftmaxCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public bool UsesClassIds => true;

    /// <inheritdoc/>
    public Metrics Compute(ReadOnlySpan<T> output, in LossTargets<T> targets, Span<T> gradOutput)
    {
        int classes = Losses.Columns(output.Length, targets.Rows, nameof(output));
        if (targets.Classes.Length != targets.Rows) throw Losses.WrongKind("class ids", "values");
        var r = SoftmaxCrossEntropy.Compute<T>(output, targets.Classes, gradOutput, targets.Rows, classes, targets.Mask);
        return new Metrics(r.Loss, r.Accuracy, r.Count);
    }
}

/// <summary>Mean squared error, the mean over counted rows × outputs (see <see cref="MeanSquaredError.Compute{T}"/>).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class MeanSquaredError<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public bool UsesClassIds => false;

    /// <inheritdoc/>
    public Metrics Compute(ReadOnlySpan<T> output, in LossTargets<T> targets, Span<T> gradOutput)
    {
        double loss = MeanSquaredError.Compute<T>(output, targets.Values, gradOutput, targets.Rows, Losses.ValueColumns(output, targets), targets.Mask);
        return new Metrics(loss, double.NaN, Losses.Counted(targets.Rows, targets.Mask));
    }
}

/// <summary>Binary cross-entropy on logits for multi-label outputs (see <see cref="BinaryCrossEntropy.Compute{T}"/>).</summary>
/// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
public sealed class BinaryCrossEntropy<T> : ILoss<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc/>
    public bool UsesClassIds => false;

    /// <inheritdoc/>
    public Metrics Compute(ReadOnlySpan<T> output, in LossTargets<T> targets, Span<T> gradOutput)
    {
        var r = BinaryCrossEntropy.Compute<T>(output, targets.Values, gradOutput, targets.Rows, Losses.ValueColumns(output, targets), targets.Mask);
        return new Metrics(r.Loss, r.Accuracy, r.Count);
    }
}

/// <summary>The loss that goes with a model's output kind, and helpers of the loss objects.</summary>
public static class Losses
{
    /// <summary>The loss the library trains an <see cref="OutputKind"/> with: softmax cross-entropy, MSE or binary cross-entropy.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="output">The kind of prediction.</param>
    /// <returns>A loss object.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="output"/> is not defined.</exception>
    public static ILoss<T> For<T>(OutputKind output) where T : unmanaged, IFloatingPointIeee754<T> => output switch
    {
        OutputKind.Classification => new SoftmaxCrossEntropy<T>(),
        OutputKind.Regression => new MeanSquaredError<T>(),
        OutputKind.MultiLabel => new BinaryCrossEntropy<T>(),
        _ => throw new ArgumentOutOfRangeException(nameof(output), output, "Unknown output kind."),
    };

    /// <summary>The loss of predictions held in a tensor; writes ∂ℒ/∂output into <paramref name="gradOutput"/> when given.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="loss">The loss.</param>
    /// <param name="output">Dense predictions: (B, outputs), or (B, L, outputs) for per-step targets.</param>
    /// <param name="targets">The targets of the B (or B·L) rows.</param>
    /// <param name="gradOutput">Null, or a dense tensor of <paramref name="output"/>'s shape that receives ∂ℒ/∂output.</param>
    /// <returns>Mean loss, accuracy and the number of counted targets.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="loss"/> or <paramref name="output"/> is null.</exception>
    /// <exception cref="ArgumentException">A tensor is not dense, the shapes differ, or the targets do not fit (see <see cref="ILoss{T}.Compute"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of range.</exception>
    public static Metrics Compute<T>(this ILoss<T> loss, Tensor<T> output, in LossTargets<T> targets, Tensor<T>? gradOutput = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(output);
        if (gradOutput is not null && !gradOutput.Lengths.SequenceEqual(output.Lengths))
            throw new ArgumentException($"gradOutput has shape ({string.Join(", ", gradOutput.Lengths.ToArray())}) but output has shape ({string.Join(", ", output.Lengths.ToArray())}).", nameof(gradOutput));
        ReadOnlyTensorSpan<T> values = output.AsReadOnlyTensorSpan();
        if (gradOutput is null) return loss.Compute(values.AsFlatSpan(nameof(output)), targets, default);
        TensorSpan<T> grad = gradOutput.AsTensorSpan();
        return loss.Compute(values.AsFlatSpan(nameof(output)), targets, grad.AsFlatSpan(nameof(gradOutput)));
    }

    internal static int Columns(int length, int rows, string paramName)
    {
        if (rows == 0 ? length != 0 : length % rows != 0 || length == 0)
            throw new ArgumentException($"{paramName} has {length} values, which is not a positive multiple of the {rows} target rows.", paramName);
        return rows == 0 ? 1 : length / rows;
    }

    /// <summary>The values per row of a loss that reads target values, after checking that the targets are values.</summary>
    internal static int ValueColumns<T>(ReadOnlySpan<T> output, in LossTargets<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!targets.Classes.IsEmpty) throw WrongKind("values", "class ids");
        return Columns(output.Length, targets.Rows, "output");
    }

    internal static ArgumentException WrongKind(string needed, string given) =>
        new($"This loss reads {needed} but the targets are {given}.", "targets");

    internal static long Counted(int rows, ReadOnlySpan<bool> mask)
    {
        if (mask.IsEmpty) return rows;
        long counted = 0;
        foreach (bool b in mask) if (b) counted++;
        return counted;
    }
}
