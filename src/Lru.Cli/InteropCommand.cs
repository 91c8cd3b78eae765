using System.CommandLine;
using Lru.Checkpoints;
using Lru.Models;

namespace Lru.Cli;

/// <summary><c>lru import</c> and <c>lru export</c>: whole models to and from the JAX reference (minimal-LRU).</summary>
internal static class InteropCommand
{
    public static Command CreateImport()
    {
        var from = new Option<string>("--from") { Description = "The source implementation: minimal-lru.", Required = true };
        from.AcceptOnlyFromAmong("minimal-lru");
        var parameters = new Option<string>("--params") { Description = "The flattened variables {\"params\": …, \"batch_stats\": …} (sep \"/\") as safetensors or .npz.", Required = true };
        var output = new Option<string>("--output") { Description = "The model checkpoint to write (safetensors), for lru forward and lru predict, or ModelCheckpoint.Load in code.", Required = true };
        var pooling = new Option<string?>("--pooling") { Description = "The model's pooling: mean, last or none (default: recorded in a file lru export wrote, else mean)." };
        pooling.AcceptOnlyFromAmong("mean", "last", "none");
        var prenorm = new Option<bool>("--prenorm") { Description = "The model was built with prenorm=True (the reference's run_train.py default); without it, post-norm (its modules' default) unless the file records otherwise." };
        var command = new Command("import", "Read a whole model trained with another implementation into an LRU.NET checkpoint.") { from, parameters, output, pooling, prenorm };
        command.SetAction(r => Cli.Run(() =>
        {
            string source = r.GetValue(parameters)!, target = r.GetValue(output)!;
            Cli.CheckWritable(target, "--output");
            var options = new MinimalLruOptions(MinimalLruFile.ParsePooling(r.GetValue(pooling)), r.GetValue(prenorm) ? NormPlacement.Pre : null);
            var model = MinimalLruFile.Load<float>(source, options);
            var c = model.Config;
            ModelCheckpoint.Save(target, model, null, new Dictionary<string, string> { ["lru.source"] = "minimal-lru" });
            Console.WriteLine($"imported {source}: {c.Layers} layers, F={c.InputFeatures}, H={c.Block.Hidden}, N={c.Block.State}, {c.Outputs} classes, "
                + $"{(c.Block.Norm == NormKind.BatchNorm ? "BatchNorm" : "LayerNorm")} ({(c.Block.Placement == NormPlacement.Pre ? "pre" : "post")}-norm), "
                + $"{c.Pooling.ToString().ToLowerInvariant()} pooling, log_softmax output; {model.ParameterCount:N0} parameters → {target}");
            return 0;
        }));
        return command;
    }

    public static Command CreateExport()
    {
        var to = new Option<string>("--to") { Description = "The target implementation: minimal-lru.", Required = true };
        to.AcceptOnlyFromAmong("minimal-lru");
        var checkpoint = new Option<string>("--checkpoint") { Description = "An LRU.NET model checkpoint.", Required = true };
        var output = new Option<string>("--output") { Description = "Where to write the flattened variables: safetensors, or .npz when the name ends in .npz.", Required = true };
        var command = new Command("export", "Write a model for another implementation (load it in JAX with safetensors.flax.load_file and flax.traverse_util.unflatten_dict(..., sep=\"/\")).") { to, checkpoint, output };
        command.SetAction(r => Cli.Run(() =>
        {
            string path = r.GetValue(checkpoint)!, target = r.GetValue(output)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"--checkpoint: {path} does not exist.");
            Cli.CheckWritable(target, "--output");
            var model = ModelCheckpoint.Load(path).Model;
            MinimalLruFile.Save(target, model);
            var c = model.Config;
            Console.WriteLine($"exported {path} → {target}: {c.Layers} layers, pooling {c.Pooling.ToString().ToLowerInvariant()} and prenorm={(c.Block.Placement == NormPlacement.Pre ? "True" : "False")} for the reference's ClassificationModel");
            return 0;
        }));
        return command;
    }
}
