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
        bool wasTraining = model.IsTraining;
        model.IsTraining = false;
        try
        {
            int inRow = length * model.InputFeatures, outRow = model.OutputSize(1, length);
            var output = new float[(long)count * outRow];
            for (int from = 0; from < count; from += batchSize)
            {
                int batch = Math.Min(batchSize, count - from);
                model.Forward(inputs.AsSpan(from * inRow, batch * inRow), output.AsSpan(from * outRow, batch * outRow), batch, length,
                    lengths is null ? default : lengths.AsSpan(from, batch));
            }
            return output;
        }
        finally
        {
            model.IsTraining = wasTraining;
        }
    }
}
