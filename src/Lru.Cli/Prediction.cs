using Lru.Data;
using Lru.Models;

namespace Lru.Cli;

/// <summary>Runs a model in evaluation mode over a whole data set, a batch at a time.</summary>
internal static class Prediction
{
    /// <summary>The model's outputs for every sequence: (N, outputs) pooled, (N, L, outputs) per step.</summary>
    public static float[] Run(SequenceModel<float> model, SequenceDataset<float> data, int batchSize) =>
        Run(model, data.Inputs!, data.Count, data.Length, data.Lengths, batchSize);

    /// <summary>The model's outputs for (N, L, F) inputs with optional valid lengths.</summary>
    public static float[] Run(SequenceModel<float> model, float[] inputs, int count, int length, int[]? lengths, int batchSize)
    {
        int inRow = length * model.InputFeatures;
        return Batched(model, count, length, lengths, batchSize,
            (from, batch, output, valid) => model.Forward(inputs.AsSpan(from * inRow, batch * inRow), output, batch, length, valid));
    }

    /// <summary>The model's outputs for (N, L) token ids with optional valid lengths.</summary>
    public static float[] RunTokens(SequenceModel<float> model, int[] tokens, int count, int length, int[]? lengths, int batchSize) =>
        Batched(model, count, length, lengths, batchSize,
            (from, batch, output, valid) => model.ForwardTokens(tokens.AsSpan(from * length, batch * length), output, batch, length, valid));

    private delegate void BatchForward(int from, int batch, Span<float> output, ReadOnlySpan<int> lengths);

    /// <summary>Evaluation mode, batches of <paramref name="batchSize"/> sequences, each written to its rows of the result.</summary>
    private static float[] Batched(SequenceModel<float> model, int count, int length, int[]? lengths, int batchSize, BatchForward forward)
    {
        bool wasTraining = model.IsTraining;
        model.IsTraining = false;
        try
        {
            int outRow = model.OutputSize(1, length);
            var output = new float[(long)count * outRow];
            for (int from = 0; from < count; from += batchSize)
            {
                int batch = Math.Min(batchSize, count - from);
                forward(from, batch, output.AsSpan(from * outRow, batch * outRow), lengths is null ? default : lengths.AsSpan(from, batch));
            }
            return output;
        }
        finally
        {
            model.IsTraining = wasTraining;
        }
    }
}
