using Lru.Tensors;

namespace Lru.Data;

/// <summary>Sizes of the <see cref="CopyTask"/>.</summary>
/// <param name="PatternLength">Steps of the random pattern (and of its recall), at least 1.</param>
/// <param name="Bits">Bits per pattern step, at least 1.</param>
/// <param name="Delay">Blank steps between the pattern and the go signal, at least 0.</param>
public sealed record CopyTaskOptions(int PatternLength = 10, int Bits = 7, int Delay = 7)
{
    /// <summary>Input channels: the pattern bits plus the go channel.</summary>
    public int InputFeatures => Bits + 1;

    /// <summary>The sequence length: pattern, delay, the go step, then the recall.</summary>
    public int Length => PatternLength + Delay + 1 + PatternLength;

    /// <summary>The first recall step.</summary>
    public int RecallStart => PatternLength + Delay + 1;

    /// <summary>Checks the sizes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is out of range.</exception>
    public void Validate()
    {
        if (PatternLength < 1) throw new ArgumentOutOfRangeException(nameof(PatternLength), PatternLength, "PatternLength must be at least 1.");
        if (Bits < 1) throw new ArgumentOutOfRangeException(nameof(Bits), Bits, "Bits must be at least 1.");
        if (Delay < 0) throw new ArgumentOutOfRangeException(nameof(Delay), Delay, "Delay must be at least 0.");
    }
}

/// <summary>
/// The copy (memory) task: a random pattern of <c>Bits</c>-bit vectors over <c>PatternLength</c> steps, then
/// <c>Delay</c> blank steps, then one step with a go signal on the extra input channel; over the next
/// <c>PatternLength</c> steps the model must reproduce the pattern, one multi-label prediction of <c>Bits</c>
/// outputs per step. Only the recall steps count in the loss and the accuracy (a step mask).
/// </summary>
/// <remarks>With the defaults: 10 pattern steps of 7 bits, 7 blank steps, the go step, 10 recall steps (L = 28, 8 input channels).</remarks>
public static class CopyTask
{
    /// <summary>Generates <paramref name="count"/> sequences.</summary>
    /// <param name="count">The number of sequences, at least 1.</param>
    /// <param name="seed">The seed; the same seed gives the same data.</param>
    /// <param name="options">Sizes, or null for the defaults.</param>
    /// <returns>Inputs (count, L, Bits + 1), per-step 0/1 targets (count, L, Bits) and the recall mask (count, L).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> or a size is out of range.</exception>
    public static SequenceDataset<float> Generate(int count, long seed, CopyTaskOptions? options = null)
    {
        options ??= new CopyTaskOptions();
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        int length = options.Length, features = options.InputFeatures, bits = options.Bits, recall = options.RecallStart;
        var random = new SeededRandom(seed);
        float[] inputs = new float[count * length * features], targets = new float[count * length * bits];
        bool[] mask = new bool[count * length];
        for (int i = 0; i < count; i++)
        {
            for (int t = 0; t < options.PatternLength; t++)
                for (int k = 0; k < bits; k++)
                {
                    float bit = random.NextInt(2);
                    inputs[(i * length + t) * features + k] = bit;
                    targets[(i * length + recall + t) * bits + k] = bit;
                }
            inputs[(i * length + recall - 1) * features + bits] = 1; // the go signal
            for (int t = recall; t < length; t++) mask[i * length + t] = true;
        }
        return new SequenceDataset<float>(count, length, features, inputs, null, null, targets, outputs: bits, perStep: true, stepMask: mask);
    }
}
