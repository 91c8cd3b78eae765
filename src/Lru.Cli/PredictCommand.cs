using System.CommandLine;
using Lru.Checkpoints;
using Lru.Data;
using Lru.IO;
using Lru.Models;
using Lru.Tensors;

namespace Lru.Cli;

/// <summary>
/// <c>lru predict</c>: what a user wants from a trained model — class probabilities (or class ids) or regression values in
/// the targets' units, per sequence or per step as trained, with the training run's input standardisation applied.
/// </summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "A model checkpoint (lru train --checkpoint, or lru import).", Required = true };
        var input = new Option<string>("--input") { Description = "(N, L, F) or (N, L) .npy inputs, any numeric type (integer token ids for a token model).", Required = true };
        var lengths = new Option<string?>("--lengths") { Description = "(N) integer valid lengths of sequences padded to L." };
        var output = new Option<string>("--output") { Description = "Where to write the predictions (.npy).", Required = true };
        var classes = new Option<bool>("--classes") { Description = "Write class ids (int64; per-step padding −1) instead of probabilities (classification and multi-label models)." };
        var batch = new Option<int>("--batch") { Description = "Sequences per forward pass.", DefaultValueFactory = _ => 64 };
        var threads = Cli.ThreadsOption();
        var command = new Command("predict", "Predict with a trained model: class probabilities (--classes: ids) or regression values, per sequence or per step.")
        {
            checkpoint, input, lengths, output, classes, batch, threads,
        };
        command.SetAction(r => Cli.Run(() =>
        {
            Cli.UseThreads(r, threads);
            int b = r.GetValue(batch);
            if (b < 1) throw new ArgumentOutOfRangeException("--batch", b, $"--batch must be at least 1; got {b}.");
            string path = r.GetValue(checkpoint)!, inPath = r.GetValue(input)!, outPath = r.GetValue(output)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"--checkpoint: {path} does not exist.");
            var x = UserDataRun.Read(inPath, "--input");
            Cli.CheckWritable(outPath, "--output");
            var loaded = ModelCheckpoint.Load(path);
            var model = loaded.Model;
            var record = DataRecord.From(loaded.Metadata);
            var config = model.Config;
            if (r.GetValue(classes) && config.Output == OutputKind.Regression)
                throw new ArgumentException($"--classes: {path} is a regression model; it predicts values, not classes.");

            var (n, l, f) = config.UsesTokens ? (x.Shape.Count == 2 ? (x.Shape[0], x.Shape[1], 1) : throw new ArgumentException($"--input {inPath} has shape ({string.Join(", ", x.Shape)}); this model reads (N, L) token ids."))
                : ArrayData.InputShape(x, $"--input {inPath}");
            if (!config.UsesTokens && f != config.InputFeatures)
                throw new ArgumentException($"--input {inPath} has {f} features per step (shape ({string.Join(", ", x.Shape)})) but the model reads {config.InputFeatures}.");
            var valid = ArrayData.ReadLengths(r.GetValue(lengths) is { } lp ? UserDataRun.Read(lp, "--lengths") : null, n, l, $"--lengths {r.GetValue(lengths)}");
            float[] y;
            if (config.UsesTokens)
            {
                if (!x.IsInteger) throw new ArgumentException($"--input {inPath} holds {NpyArray.NumpyName(x.DType)} values; this model reads integer token ids.");
                long[] ids = x.ToInt64();
                var tokens = new int[ids.Length];
                for (int i = 0; i < ids.Length; i++)
                {
                    bool padded = valid is not null && i % l >= valid[i / l];
                    if (!padded && (ids[i] < 0 || ids[i] >= config.Vocabulary))
                        throw new ArgumentException($"--input {inPath} holds the token {ids[i]} at {x.IndexText(i)}; the model's vocabulary is [0, {config.Vocabulary}).");
                    tokens[i] = padded ? 0 : (int)ids[i];
                }
                y = Prediction.RunTokens(model, tokens, n, l, valid, b);
            }
            else
            {
                float[] inputs = ArrayData.ReadInputs(x, valid, $"--input {inPath}");
                if (record is not null)
                {
                    record.Inputs.Apply(inputs);
                    ArrayData.ClearPadding(inputs, valid, l, f); // standardising moved the zeros of the padding
                }
                y = Prediction.Run(model, inputs, n, l, valid, b);
            }

            bool perStep = config.Pooling == PoolingMode.None;
            int o = config.Outputs;
            int[] shape = perStep ? [n, l, o] : [n, o];
            bool Padded(int row) => perStep && valid is not null && row % l >= valid[row / l];
            int rows = y.Length / o;
            string what;
            if (config.Output == OutputKind.Regression)
            {
                record?.Targets?.Invert(y);
                for (int row = 0; row < rows; row++) if (Padded(row)) y.AsSpan(row * o, o).Fill(float.NaN);
                NpyFile.Write(outPath, y, shape);
                what = $"regression values{(record?.Targets is null ? "" : " in the targets' units")}";
            }
            else if (r.GetValue(classes))
            {
                long[] ids;
                if (config.Output == OutputKind.Classification)
                {
                    ids = new long[rows];
                    for (int row = 0; row < rows; row++) ids[row] = Padded(row) ? -1 : System.Numerics.Tensors.TensorPrimitives.IndexOfMax<float>(y.AsSpan(row * o, o));
                    shape = perStep ? [n, l] : [n];
                }
                else
                {
                    ids = new long[y.Length];
                    for (int i = 0; i < y.Length; i++) ids[i] = Padded(i / o) ? -1 : y[i] > 0 ? 1 : 0;
                }
                NpyFile.Write(outPath, NpyArray.Create(ids, shape));
                what = config.Output == OutputKind.Classification ? "class ids (int64)" : "0/1 labels (int64)";
            }
            else
            {
                for (int row = 0; row < rows; row++)
                {
                    var v = y.AsSpan(row * o, o);
                    if (Padded(row)) v.Clear();
                    else if (config.Output == OutputKind.Classification) System.Numerics.Tensors.TensorPrimitives.SoftMax<float>(v, v);
                    else System.Numerics.Tensors.TensorPrimitives.Sigmoid<float>(v, v);
                }
                NpyFile.Write(outPath, y, shape);
                what = config.Output == OutputKind.Classification ? "class probabilities" : "label probabilities";
            }
            Console.WriteLine($"wrote {outPath}: ({string.Join(", ", shape)}) {what}{(perStep ? ", per step" : "")}" + (record is null ? "" : ", inputs standardised as in training"));
            return 0;
        }));
        return command;
    }
}
