using System.CommandLine;
using Lru.Checkpoints;
using Lru.Data;
using Lru.IO;
using Lru.Tensors;

namespace Lru.Cli;

/// <summary><c>lru forward</c>: runs a saved model, or a single LRU layer in the JAX reference layout, on a .npy array.</summary>
internal static class ForwardCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "A model checkpoint (lru train --checkpoint), or a single LRU layer in the JAX reference layout (nu_log, theta_log, gamma_log, B_re, B_im, C_re, C_im, D) or the LRU-pytorch layout (complex B, C as (…, 2); matrix D).", Required = true };
        var input = new Option<string>("--input") { Description = "A (B, L, features) float32 or float64 .npy array.", Required = true };
        var output = new Option<string>("--output") { Description = "Where to write the result as float32 .npy: (B, L, H) for a layer; (B, outputs) or (B, L, outputs) for a model.", Required = true };
        var threads = Cli.ThreadsOption();
        var allowNonFinite = new Option<bool>("--allow-non-finite") { Description = "Accept NaN or infinite input values (refused by default)." };
        var command = new Command("forward", "Run a saved model or LRU layer on an input array and write the outputs.") { checkpoint, input, output, threads, allowNonFinite };
        command.SetAction(r => Cli.Run(() =>
        {
            Cli.UseThreads(r, threads);
            string inPath = r.GetValue(input)!, outPath = r.GetValue(output)!, path = r.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"--checkpoint: {path} does not exist.");
            if (!File.Exists(inPath)) throw new FileNotFoundException($"--input: {inPath} does not exist.");
            Cli.CheckWritable(outPath, "--output");
            var array = NpyFile.Read(inPath);
            if (array.Shape.Count != 3)
                throw new ArgumentException($"--input {inPath} has shape ({string.Join(", ", array.Shape)}); a (batch, length, features) array is needed.");
            int batch = array.Shape[0], length = array.Shape[1], features = array.Shape[2];
            if (batch < 1 || length < 1) throw new ArgumentException($"--input {inPath} has shape ({batch}, {length}, {features}); batch and length must be at least 1.");
            float[] x = r.GetValue(allowNonFinite) ? array.ToFloat32()
                : ArrayData.ReadInputs(array, null, $"--input {inPath}", "pass --allow-non-finite to run it anyway");

            var file = SafeTensorsFile.Read(path);
            float[] y;
            int[] shape;
            bool pytorchLayout = LruLayerFile.IsPyTorchLayout(file);
            if (pytorchLayout || LruLayerFile.IsLayerFile(file))
            {
                var layer = pytorchLayout ? LruLayerFile.LoadPyTorchLayout<float>(file) : LruLayerFile.Load<float>(file);
                layer.IsTraining = false;
                if (features != layer.Hidden)
                    throw new ArgumentException($"--input has {features} features per step but the layer has H = {layer.Hidden}.");
                y = new float[x.Length];
                layer.Forward(x, y, batch, length);
                shape = [batch, length, layer.Hidden];
            }
            else
            {
                var model = ModelCheckpoint.Load(path).Model;
                model.IsTraining = false;
                if (model.Config.UsesTokens) throw new ArgumentException("This model reads token ids; lru forward takes real-valued inputs only.");
                if (features != model.Config.InputFeatures)
                    throw new ArgumentException($"--input has {features} features per step but the model reads {model.Config.InputFeatures}.");
                y = new float[model.OutputSize(batch, length)];
                model.Forward(x, y, batch, length);
                shape = model.Config.Pooling == Models.PoolingMode.None ? [batch, length, model.Config.Outputs] : [batch, model.Config.Outputs];
            }
            NpyFile.Write(outPath, y, shape);
            Console.WriteLine($"wrote {outPath}: ({string.Join(", ", shape)}) float32");
            return 0;
        }));
        return command;
    }
}
