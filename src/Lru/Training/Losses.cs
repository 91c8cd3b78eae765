using System.Numerics;
using System.Numerics.Tensors;

namespace Lru.Training;

/// <summary>The outcome of <see cref="SoftmaxCrossEntropy.Compute{T}"/> over a batch of rows.</summary>
public readonly struct CrossEntropyResult
{
    /// <summary>Creates a result.</summary>
    /// <param name="loss">The mean loss over the counted rows.</param>
    /// <param name="count">The number of counted (unmasked) rows.</param>
    /// <param name="correct">The number of counted rows whose arg-max equals the target.</param>
    public CrossEntropyResult(double loss, int count, int correct)
    {
        Loss = loss;
        Count = count;
        Correct = correct;
    }

    /// <summary>The mean cross-entropy over the counted rows, in nats; 0 when no row counts.</summary>
    public double Loss { get; }

    /// <summary>The number of rows that count (all rows, or those whose mask is true).</summary>
    public int Count { get; }

    /// <summary>The number of counted rows whose largest logit (the first, on ties) is at the target class.</summary>
    public int Correct { get; }

    /// <summary><see cref="Correct"/> / <see cref="Count"/>; 0 when no row counts.</summary>
    public double Accuracy => Count == 0 ? 0 : (double)Correct / Count;
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
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        Guard.Length(logits.Length, nameof(logits), "rows, classes", rows, classes);
        Guard.Length(targets.Length, nameof(targets), "rows", rows);
        if (!gradLogits.IsEmpty) Guard.Length(gradLogits.Length, nameof(gradLogits), "rows, classes", rows, classes);
        if (!mask.IsEmpty) Guard.Length(mask.Length, nameof(mask), "rows", rows);

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
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        Guard.Length(predictions.Length, nameof(predictions), "rows, features", rows, features);
        Guard.Length(targets.Length, nameof(targets), "rows, features", rows, features);
        if (!gradPredictions.IsEmpty) Guard.Length(gradPredictions.Length, nameof(gradPredictions), "rows, features", rows, features);
        if (!mask.IsEmpty) Guard.Length(mask.Length, nameof(mask), "rows", rows);

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
