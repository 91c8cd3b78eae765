using System.Numerics;
using System.Numerics.Tensors;

namespace Lru.Training;

/// <summary>The outcome of <see cref="SoftmaxCrossEntropy.Compute{T}"/> (or <see cref="BinaryCrossEntropy.Compute{T}"/>) over a batch of rows.</summary>
/// <param name="Loss">The mean cross-entropy over what counts, in nats; 0 when nothing counts.</param>
/// <param name="Count">The number of counted rows (outputs, for the binary loss).</param>
/// <param name="Correct">How many of them were predicted right (the largest logit, the first on ties, at the target class).</param>
public readonly record struct CrossEntropyResult(double Loss, int Count, int Correct)
{
    /// <summary><see cref="Correct"/> / <see cref="Count"/>; 0 when nothing counts.</summary>
    public double Accuracy => Count == 0 ? 0 : (double)Correct / Count;
}

/// <summary>The argument checks every loss shares.</summary>
internal static class LossChecks
{
    /// <summary>
    /// rows ≥ 0, width ≥ 1, predictions and (unless empty) the gradient of (rows, width), targets of (rows) or
    /// (rows, width), and the mask empty or of (rows).
    /// </summary>
    /// <remarks><c>dims</c> names the dimensions, for example <c>rows, classes</c>: a constant, so nothing is allocated.</remarks>
    public static void Shapes(int rows, int width, string widthName, string dims, int predictions, string predictionsName, int targets, bool targetPerRow,
        int gradient, string gradientName, int mask)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1, widthName);
        Guard.Length(predictions, predictionsName, dims, rows, width);
        if (targetPerRow) Guard.Length(targets, "targets", "rows", rows);
        else Guard.Length(targets, "targets", dims, rows, width);
        if (gradient != 0) Guard.Length(gradient, gradientName, dims, rows, width);
        if (mask != 0) Guard.Length(mask, "mask", "rows", rows);
    }
}

/// <summary>
/// Softmax cross-entropy for classification: per row, <c>ℓ = log Σ_j exp(z_j) − z_target</c>, averaged over the
/// rows that count. Use rows = B for one label per sequence, or rows = B·L with a (B·L) mask for one label per
/// time step (the mask excludes padded steps).
/// </summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>
    /// Computes the mean loss over the counted rows and, if asked, its gradient
    /// <c>∂ℒ/∂z = (softmax(z) − onehot(target)) / count</c> (zero on rows that do not count). Stable for any
    /// finite logits: each row is shifted by its maximum before exponentiation (log-sum-exp).
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="logits"><c>z</c>, (rows, classes).</param>
    /// <param name="targets">The target class of each row, (rows), in [0, classes). Targets of rows that do not count are not read, so padding may hold any value (for example −1).</param>
    /// <param name="gradLogits">Receives <c>∂ℒ/∂z</c>, (rows, classes), already divided by the count; may be empty to compute only the loss. Must not overlap <paramref name="logits"/> unless it is the same span.</param>
    /// <param name="rows">The number of rows, for example B or B·L.</param>
    /// <param name="classes">The number of classes, at least 1.</param>
    /// <param name="mask">Empty when every row counts; otherwise (rows): true for the rows that count.</param>
    /// <returns>The mean loss (0 when no row counts), the number of counted rows and the number of correct arg-max predictions among them.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is negative, <paramref name="classes"/> is less than 1, or a counted row's target is outside [0, classes) (the message gives the row and the value).</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public static CrossEntropyResult Compute<T>(
        ReadOnlySpan<T> logits, ReadOnlySpan<int> targets, Span<T> gradLogits, int rows, int classes, ReadOnlySpan<bool> mask = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossChecks.Shapes(rows, classes, nameof(classes), "rows, classes", logits.Length, nameof(logits), targets.Length, targetPerRow: true, gradLogits.Length, nameof(gradLogits), mask.Length);

        int count = 0;
        for (int r = 0; r < rows; r++)
        {
            if (!mask.IsEmpty && !mask[r]) continue;
            int target = targets[r];
            if ((uint)target >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(targets), target, $"targets[{r}] is {target}, outside the classes [0, {classes}).");
            count++;
        }

        double loss = 0;
        int correct = 0;
        double inverseCount = count == 0 ? 0 : 1.0 / count;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> z = logits.Slice(r * classes, classes);
            Span<T> g = gradLogits.IsEmpty ? default : gradLogits.Slice(r * classes, classes);
            if (!mask.IsEmpty && !mask[r])
            {
                g.Clear();
                continue;
            }
            int target = targets[r];
            T max = TensorPrimitives.Max(z);
            double shiftedTarget = double.CreateTruncating(max) - double.CreateTruncating(z[target]);
            if (TensorPrimitives.IndexOfMax(z) == target) correct++;
            double sum;
            if (g.IsEmpty)
            {
                sum = 0;
                double m = double.CreateTruncating(max);
                foreach (T value in z) sum += Math.Exp(double.CreateTruncating(value) - m);
            }
            else
            {
                // g = exp(z − max); then softmax/count − onehot/count (z is read before g is written, so they may be one span).
                TensorPrimitives.Subtract(z, max, g);
                TensorPrimitives.Exp<T>(g, g);
                sum = double.CreateTruncating(TensorPrimitives.Sum<T>(g));
                TensorPrimitives.Multiply(g, T.CreateTruncating(inverseCount / sum), g);
                g[target] -= T.CreateTruncating(inverseCount);
            }
            // ℓ = log Σ exp(z) − z_target = (max − z_target) + log Σ exp(z − max).
            loss += shiftedTarget + Math.Log(sum);
        }
        return new CrossEntropyResult(loss * inverseCount, count, correct);
    }
}

/// <summary>
/// Mean squared error for regression: <c>ℒ = Σ (p − y)² / (count·features)</c> over the rows that count, the mean
/// over all their elements as PyTorch's <c>MSELoss</c>.
/// </summary>
public static class MeanSquaredError
{
    /// <summary>Computes the mean squared error and, if asked, its gradient <c>∂ℒ/∂p = 2(p − y)/(count·features)</c> (zero on rows that do not count).</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="predictions"><c>p</c>, (rows, features).</param>
    /// <param name="targets"><c>y</c>, (rows, features).</param>
    /// <param name="gradPredictions">Receives <c>∂ℒ/∂p</c>, (rows, features); may be empty to compute only the loss. Must not overlap the inputs unless it is the same span as <paramref name="predictions"/>.</param>
    /// <param name="rows">The number of rows, for example B or B·L.</param>
    /// <param name="features">The values per row, at least 1.</param>
    /// <param name="mask">Empty when every row counts; otherwise (rows): true for the rows that count.</param>
    /// <returns>The mean loss; 0 when no row counts.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is negative, <paramref name="features"/> is less than 1, or a counted target is NaN or infinite (the message gives row, feature and value).</exception>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    public static double Compute<T>(
        ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> gradPredictions, int rows, int features, ReadOnlySpan<bool> mask = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossChecks.Shapes(rows, features, nameof(features), "rows, features", predictions.Length, nameof(predictions), targets.Length, targetPerRow: false, gradPredictions.Length, nameof(gradPredictions), mask.Length);

        int count = 0;
        for (int r = 0; r < rows; r++)
        {
            if (!mask.IsEmpty && !mask[r]) continue;
            count++;
            for (int f = 0; f < features; f++)
            {
                T y = targets[r * features + f];
                if (!T.IsFinite(y))
                    throw new ArgumentOutOfRangeException(nameof(targets), y, $"targets[{r}, {f}] is {y}; regression targets must be finite.");
            }
        }
        double inverse = count == 0 ? 0 : 1.0 / ((double)count * features);
        T gradScale = T.CreateTruncating(2 * inverse);
        double loss = 0;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> p = predictions.Slice(r * features, features), y = targets.Slice(r * features, features);
            Span<T> g = gradPredictions.IsEmpty ? default : gradPredictions.Slice(r * features, features);
            if (!mask.IsEmpty && !mask[r])
            {
                g.Clear();
                continue;
            }
            if (g.IsEmpty)
            {
                for (int f = 0; f < features; f++)
                {
                    double d = double.CreateTruncating(p[f]) - double.CreateTruncating(y[f]);
                    loss += d * d;
                }
            }
            else
            {
                TensorPrimitives.Subtract(p, y, g);
                loss += double.CreateTruncating(TensorPrimitives.SumOfSquares<T>(g));
                TensorPrimitives.Multiply(g, gradScale, g);
            }
        }
        return loss * inverse;
    }
}
