using Lru.Tensors;

namespace Lru.Data;

/// <summary>
/// The adding problem (Hochreiter and Schmidhuber, 1997): two input channels over L steps — a value drawn
/// uniformly from [0, 1) and a marker that is 1 at exactly two steps, one in each half of the sequence.
/// The target is the sum of the two marked values (regression). Predicting the mean, 1, gives an MSE of 1/6.
/// </summary>
public static class AddingTask
{
    /// <summary>The MSE of always predicting 1, the expected value of the target.</summary>
    public const double BaselineMse = 1.0 / 6.0;

    /// <summary>Generates <paramref name="count"/> sequences of length <paramref name="length"/>.</summary>
    /// <param name="count">The number of sequences, at least 1.</param>
    /// <param name="length">The sequence length L, at least 2.</param>
    /// <param name="seed">The seed; the same seed gives the same data.</param>
    /// <returns>Inputs (count, L, 2) and targets (count, 1).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> or <paramref name="length"/> is out of range.</exception>
    public static SequenceDataset<float> Generate(int count, int length, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 2);
        var random = new SeededRandom(seed);
        float[] inputs = new float[count * length * 2], targets = new float[count];
        int half = length / 2;
        for (int i = 0; i < count; i++)
        {
            for (int t = 0; t < length; t++) inputs[(i * length + t) * 2] = (float)random.NextOpenUnit();
            int first = random.NextInt(half), second = half + random.NextInt(length - half);
            inputs[(i * length + first) * 2 + 1] = 1;
            inputs[(i * length + second) * 2 + 1] = 1;
            targets[i] = inputs[(i * length + first) * 2] + inputs[(i * length + second) * 2];
        }
        return new SequenceDataset<float>(count, length, 2, inputs, null, null, targets, outputs: 1);
    }
}
