using System.Numerics;

namespace Lru.Training;

/// <summary>
/// Binary cross-entropy on logits for several independent yes/no outputs per row (multi-label):
/// <c>ℓ = softplus(z) − y·z = max(z, 0) − y·z + log(1 + exp(−|z|))</c>, the mean over every output of the
/// rows that count (as PyTorch's <c>BCEWithLogitsLoss</c>). A prediction is right when <c>z &gt; 0</c> matches <c>y &gt; ½</c>.
/// </summary>
public static class BinaryCrossEntropy
{
    /// <summary>
    /// Computes the mean loss and, if asked, its gradient <c>∂ℒ/∂z = (sigmoid(z) − y) / (count·outputs)</c>
    /// (zero on rows that do not count). Stable for any finite logits.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="logits"><c>z</c>, (rows, outputs).</param>
    /// <param name="targets"><c>y</c>, (rows, outputs), each in [0, 1].</param>
    /// <param name="gradLogits">Receives <c>∂ℒ/∂z</c>, (rows, outputs); may be empty.</param>
    /// <param name="rows">The number of rows.</param>
    /// <param name="outputs">Outputs per row, at least 1.</param>
    /// <param name="mask">Empty when every row counts; otherwise (rows): true for the rows that count.</param>
    /// <returns>The mean loss (0 when nothing counts), the number of counted outputs, and how many of them were predicted right.</returns>
    /// <exception cref="ArgumentException">A span's length does not match the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A counted target is outside [0, 1] (the message gives row, output and value).</exception>
    public static CrossEntropyResult Compute<T>(
        ReadOnlySpan<T> logits, ReadOnlySpan<T> targets, Span<T> gradLogits, int rows, int outputs, ReadOnlySpan<bool> mask = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        LossChecks.Shapes(rows, outputs, nameof(outputs), "rows, outputs", logits.Length, nameof(logits), targets.Length, targetPerRow: false, gradLogits.Length, nameof(gradLogits), mask.Length);

        int countedRows = 0;
        for (int r = 0; r < rows; r++)
        {
            if (!mask.IsEmpty && !mask[r]) continue;
            countedRows++;
            for (int o = 0; o < outputs; o++)
            {
                double y = double.CreateTruncating(targets[r * outputs + o]);
                if (!(y >= 0 && y <= 1))
                    throw new ArgumentOutOfRangeException(nameof(targets), y, $"targets[{r}, {o}] is {y}; binary targets must be in [0, 1].");
            }
        }

        int count = countedRows * outputs, correct = 0;
        double scale = count == 0 ? 0 : 1.0 / count, loss = 0;
        for (int r = 0; r < rows; r++)
        {
            bool counts = mask.IsEmpty || mask[r];
            for (int o = 0; o < outputs; o++)
            {
                int i = r * outputs + o;
                if (!counts)
                {
                    if (!gradLogits.IsEmpty) gradLogits[i] = T.Zero;
                    continue;
                }
                double z = double.CreateTruncating(logits[i]), y = double.CreateTruncating(targets[i]);
                loss += Math.Max(z, 0) - y * z + Math.Log(1 + Math.Exp(-Math.Abs(z)));
                if ((z > 0) == (y > 0.5)) correct++;
                if (!gradLogits.IsEmpty)
                {
                    double sigmoid = z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
                    gradLogits[i] = T.CreateTruncating((sigmoid - y) * scale);
                }
            }
        }
        return new CrossEntropyResult(loss * scale, count, correct);
    }
}
