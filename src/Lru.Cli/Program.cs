using System.CommandLine;
using System.CommandLine.Help;
using Lru.Cli;

// A command named "lru" (not RootCommand, which takes the name of the executable, Lru.Cli) so that help and usage say lru.
var root = new Command("lru", "lru: Linear Recurrent Units for .NET — train on built-in tasks or your own arrays, predict, evaluate, import and export models, and benchmark.");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(TrainCommand.CreateEval());
root.Subcommands.Add(PredictCommand.Create());
root.Subcommands.Add(ForwardCommand.Create());
root.Subcommands.Add(InteropCommand.CreateImport());
root.Subcommands.Add(InteropCommand.CreateExport());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(CheckpointSoakCommand.Create());
root.Options.Add(new HelpOption());
root.Options.Add(new VersionOption());
return root.Parse(args).Invoke();
